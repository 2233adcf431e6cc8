/**
 * Starts the real all-in-one `tidings` binary for a test: a temporary data
 * directory, development tokens, rate limits off, every port ephemeral on
 * loopback. It builds nothing: the binary comes from `cargo build --bin
 * tidings` (or TIDINGS_BIN).
 */

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import WebSocket from "ws";

import { TidingsClient, type TidingsClientOptions } from "../../src/index.js";

/** The binary: TIDINGS_BIN, else the workspace's debug build. */
export function tidingsBinary(): string {
  const path = process.env["TIDINGS_BIN"] ?? fileURLToPath(new URL("../../../../target/debug/tidings", import.meta.url));
  if (!existsSync(path)) {
    throw new Error(`the tidings binary is missing at ${path}: run \`cargo build --bin tidings\` at the repository root (or set TIDINGS_BIN)`);
  }
  return path;
}

/** Every `[listen]` key; each gets `127.0.0.1:0` and the process prints what it got. */
const LISTEN_KEYS = ["GATEWAY_WS", "GATEWAY_GRPC", "LOGIC", "SEQUENCE", "STORE", "SYNC", "METRICS", "SERVER_API"];

/** The `[gateway.limits]` keys; 0 turns each off, as the Rust tests' `test_config` does. */
const LIMIT_KEYS = [
  "CONNECTION_SENDS_PER_SEC",
  "CONNECTION_SEND_BURST",
  "USER_SENDS_PER_SEC",
  "USER_SEND_BURST",
  "CONNECTION_READS_PER_SEC",
  "CONNECTION_READ_BURST",
  "USER_READS_PER_SEC",
  "USER_READ_BURST",
  "CONNECTIONS_PER_USER",
];

const started = new Set<ChildProcess>();
// A test that fails half-way must not leave servers behind.
process.on("exit", () => {
  for (const child of started) child.kill("SIGKILL");
});

/** Options of {@link TestServer.start}. */
export interface TestServerOptions {
  /** More `TIDINGS__...` variables; they win over the defaults here. */
  readonly env?: Readonly<Record<string, string>>;
}

/** A running all-in-one process. */
export class TestServer {
  private child: ChildProcess | undefined;
  /** What the process said it listens on, e.g. `gateway_ws` -> `127.0.0.1:41233`. */
  listening: Record<string, string> = {};
  private stderr = "";

  private constructor(
    readonly dataDir: string,
    private readonly env: Readonly<Record<string, string>>,
  ) {}

  /** Starts a server on a fresh temporary data directory. */
  static async start(options: TestServerOptions = {}): Promise<TestServer> {
    const dataDir = await mkdtemp(join(tmpdir(), "tidings-sdk-test-"));
    const server = new TestServer(dataDir, options.env ?? {});
    await server.spawn({});
    return server;
  }

  /** The client WebSocket URL. */
  get url(): string {
    return `ws://${this.address("gateway_ws")}/ws`;
  }

  /** A printed address; throws if the process printed none for `name`. */
  address(name: string): string {
    const address = this.listening[name];
    if (address === undefined) throw new Error(`no ${name} address in ${JSON.stringify(this.listening)}`);
    return address;
  }

  /**
   * Stops the process (SIGTERM, a clean shutdown) and starts it again on the
   * same data directory. With `samePort` the gateway keeps its WebSocket
   * port, so connected clients find it again by reconnecting.
   */
  async restart(options: { samePort?: boolean; kill?: boolean } = {}): Promise<void> {
    const gateway = this.listening["gateway_ws"];
    await this.stop(options.kill === true ? "SIGKILL" : "SIGTERM");
    const env: Record<string, string> = {};
    if (options.samePort === true && gateway !== undefined) env["TIDINGS__LISTEN__GATEWAY_WS"] = gateway;
    await this.spawn(env);
  }

  /** Stops the process and waits for it to exit. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill(signal);
    await exited;
    started.delete(child);
  }

  /** Stops the process and removes its data directory. */
  async dispose(): Promise<void> {
    await this.stop("SIGKILL");
    await rm(this.dataDir, { recursive: true, force: true });
  }

  /**
   * A client of this server for `user` (a dev token) on Node's `ws`, with
   * short timeouts and fast reconnects so that tests do not wait.
   */
  client(user: string, deviceId: string, options: Partial<TidingsClientOptions> = {}): TidingsClient {
    return new TidingsClient({
      url: this.url,
      token: `dev:${user}`,
      deviceId,
      WebSocket,
      requestTimeoutMs: 5_000,
      reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
      gapRetryMs: 100,
      ...options,
    });
  }

  private async spawn(extra: Readonly<Record<string, string>>): Promise<void> {
    const env: Record<string, string> = { ...(process.env as Record<string, string>) };
    for (const key of LISTEN_KEYS) env[`TIDINGS__LISTEN__${key}`] = "127.0.0.1:0";
    for (const key of LIMIT_KEYS) env[`TIDINGS__GATEWAY__LIMITS__${key}`] = "0";
    Object.assign(env, {
      TIDINGS__DATA_DIR: this.dataDir,
      TIDINGS__GATEWAY__AUTH__SCHEME: "dev",
      TIDINGS__LOG__LEVEL: "warn",
      ...this.env,
      ...extra,
    });
    delete env["TIDINGS_CONFIG"];
    const child = spawn(tidingsBinary(), [], { env, stdio: ["ignore", "pipe", "pipe"] });
    started.add(child);
    this.child = child;
    this.stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      // Kept (bounded) to explain a start that fails.
      this.stderr = (this.stderr + chunk.toString()).slice(-8_000);
    });
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tidings printed no addresses within 60 s; stderr:\n${this.stderr}`)), 60_000);
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`tidings exited (code ${code}, signal ${signal}) before listening; stderr:\n${this.stderr}`));
      });
      // Reading every line keeps the pipe drained, so the child never blocks on it.
      createInterface({ input: child.stdout! }).on("line", (text) => {
        if (text.startsWith("tidings") && text.includes(" listening ")) {
          clearTimeout(timer);
          resolve(text);
        }
      });
    });
    this.listening = Object.fromEntries(
      line
        .split(/\s+/)
        .filter((part) => part.includes("="))
        .map((part) => part.split("=", 2) as [string, string]),
    );
  }
}
