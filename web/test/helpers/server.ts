/**
 * Starts the real all-in-one `tidings` binary for the browser tests, serving
 * the built page (`gateway.web_dir` = web/dist): a temporary data directory,
 * development tokens, rate limits off, every port ephemeral on loopback (as
 * the SDK's tests do, sdk/typescript/test/helpers/server.ts). It builds
 * nothing: scripts/browser-test.sh builds the binary and the page first.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** The binary: TIDINGS_BIN, else the workspace's debug build. */
function tidingsBinary(): string {
  const path = process.env["TIDINGS_BIN"] ?? fileURLToPath(new URL("../../../target/debug/tidings", import.meta.url));
  if (!existsSync(path)) {
    throw new Error(`the tidings binary is missing at ${path}: run \`cargo build --bin tidings\` at the repository root (or set TIDINGS_BIN)`);
  }
  return path;
}

/** The built page. */
function webDir(): string {
  const path = fileURLToPath(new URL("../../dist", import.meta.url));
  if (!existsSync(join(path, "index.html"))) throw new Error(`the page is not built in ${path}: run \`npm run build\` in web/`);
  return path;
}

/** Every `[listen]` key; each gets `127.0.0.1:0` and the process prints what it got. */
const LISTEN_KEYS = ["GATEWAY_WS", "GATEWAY_GRPC", "LOGIC", "SEQUENCE", "STORE", "SYNC", "METRICS", "SERVER_API"];

/** The `[gateway.limits]` keys; 0 turns each off (many pages of one user share a gateway here). */
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

const running = new Set<ChildProcess>();
// A test that fails half-way must not leave servers behind.
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** A running all-in-one process serving the page. */
export class TestServer {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dataDir: string,
    /** The gateway's WebSocket port, which also serves the page. */
    readonly gateway: string,
  ) {}

  /** The page's URL, with `query` (e.g. `page=5`) when given. */
  url(query = ""): string {
    return `http://${this.gateway}/${query === "" ? "" : `?${query}`}`;
  }

  static async start(): Promise<TestServer> {
    const dataDir = await mkdtemp(join(tmpdir(), "tidings-browser-test-"));
    const env: Record<string, string> = { ...(process.env as Record<string, string>) };
    for (const key of LISTEN_KEYS) env[`TIDINGS__LISTEN__${key}`] = "127.0.0.1:0";
    for (const key of LIMIT_KEYS) env[`TIDINGS__GATEWAY__LIMITS__${key}`] = "0";
    Object.assign(env, {
      TIDINGS__DATA_DIR: dataDir,
      TIDINGS__GATEWAY__AUTH__SCHEME: "dev",
      TIDINGS__GATEWAY__WEB_DIR: webDir(),
      TIDINGS__LOG__LEVEL: "warn",
    });
    delete env["TIDINGS_CONFIG"];
    const child = spawn(tidingsBinary(), [], { env, stdio: ["ignore", "pipe", "pipe"] });
    running.add(child);
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-8_000);
    });
    const lines = createInterface({ input: child.stdout! });
    // The machine-readable line, then the human summary, which names the
    // page's URL when the gateway serves it.
    const webUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tidings printed no web chat URL within 60 s; stderr:\n${stderr}`)), 60_000);
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`tidings exited (code ${code}, signal ${signal}) before listening; stderr:\n${stderr}`));
      });
      // Reading every line keeps the pipe drained, so the child never blocks on it.
      lines.on("line", (text) => {
        const url = /^\s*web chat:\s+(http:\/\/\S+)/.exec(text)?.[1];
        if (url !== undefined) {
          clearTimeout(timer);
          resolve(url);
        }
      });
    });
    const gateway = new URL(webUrl).host;
    return new TestServer(child, dataDir, gateway);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
      this.child.kill("SIGKILL");
      await exited;
    }
    running.delete(this.child);
    await rm(this.dataDir, { recursive: true, force: true });
  }
}
