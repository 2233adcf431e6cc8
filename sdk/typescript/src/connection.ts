/**
 * One WebSocket to a gateway: one protobuf frame per binary message, requests
 * matched to their answers by `request_id`, each with a deadline. Knows
 * nothing of the device rules; {@link TidingsClient} drives it.
 *
 * @module
 */

import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  ClientFrameSchema,
  ServerFrameSchema,
  type ServerFrame,
} from "./gen/tidings/client/v1/client_pb.js";
import {
  ConnectionClosedError,
  ProtocolError,
  ServerError,
  TimeoutError,
} from "./errors.js";
import { OPEN, type WebSocketConstructor, type WebSocketLike } from "./websocket.js";

/** The `frame` oneof of a `ClientFrame`, as accepted by `create`. */
export type ClientFrameInit = NonNullable<MessageInitShape<typeof ClientFrameSchema>["frame"]>;

/** The cases of the `frame` oneof of a `ServerFrame`. */
export type ServerFrameCase = NonNullable<ServerFrame["frame"]["case"]>;

/** The value of the `ServerFrame` oneof case `C`. */
export type ServerFrameValue<C extends ServerFrameCase> = Extract<ServerFrame["frame"], { case: C }>["value"];

/** How a connection ended. */
export interface CloseInfo {
  /** The WebSocket close code (1006 when the stream broke without a Close frame). */
  readonly code: number;
  readonly reason: string;
  /**
   * The `Error` frame with request_id 0 and `connection_kept` false that the
   * server sent before closing, saying why (drain, too slow, token expired).
   */
  readonly error: ServerError | undefined;
  /** True when this side asked for the close. */
  readonly byClient: boolean;
}

interface Waiter {
  resolve(frame: ServerFrame): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** Callbacks of a {@link Connection}. */
export interface ConnectionHandlers {
  /** A frame no request waits for: pushes, room messages, errors with request_id 0. */
  onUnsolicited(frame: ServerFrame): void;
  /** The connection ended; called once. */
  onClose(info: CloseInfo): void;
}

/** A frame-level connection. Requests may be pipelined. */
export class Connection {
  private readonly waiters = new Map<bigint, Waiter>();
  private nextRequestId = 1n;
  private closed: CloseInfo | undefined;
  private closingByClient = false;
  private lastFatalError: ServerError | undefined;

  private constructor(
    private readonly socket: WebSocketLike,
    private readonly handlers: ConnectionHandlers,
  ) {}

  /**
   * Opens a WebSocket to `url` (e.g. `ws://127.0.0.1:7400/ws`) and resolves
   * once it is open; sends nothing.
   */
  static open(
    url: string,
    WebSocketImpl: WebSocketConstructor,
    timeoutMs: number,
    handlers: ConnectionHandlers,
  ): Promise<Connection> {
    return new Promise((resolve, reject) => {
      let socket: WebSocketLike;
      try {
        socket = new WebSocketImpl(url);
      } catch (e) {
        reject(new ConnectionClosedError(`cannot open ${url}: ${String(e)}`));
        return;
      }
      socket.binaryType = "arraybuffer";
      const connection = new Connection(socket, handlers);
      let opened = false;
      const timer = setTimeout(() => {
        if (opened) return;
        socket.onclose = null;
        socket.close();
        reject(new TimeoutError(`opening ${url}`, timeoutMs));
      }, timeoutMs);
      socket.onopen = () => {
        opened = true;
        clearTimeout(timer);
        resolve(connection);
      };
      socket.onerror = () => {
        // The close event follows and says the rest.
      };
      socket.onmessage = (event) => connection.receive(event.data);
      socket.onclose = (event) => {
        if (!opened) {
          clearTimeout(timer);
          reject(new ConnectionClosedError(`cannot open ${url} (close code ${event.code})`, event.code));
          return;
        }
        connection.ended(event.code, event.reason);
      };
    });
  }

  /** Whether the connection has ended. */
  get isClosed(): boolean {
    return this.closed !== undefined;
  }

  /**
   * Sends `frame` under a fresh request id and resolves with the answer's
   * `expected` case. An `Error` answer rejects with {@link ServerError}, no
   * answer within `timeoutMs` with {@link TimeoutError}, a connection that
   * ends first with {@link ConnectionClosedError}.
   */
  async request<C extends ServerFrameCase>(
    frame: ClientFrameInit,
    expected: C,
    timeoutMs: number,
  ): Promise<ServerFrameValue<C>> {
    const answer = await this.requestRaw(frame, timeoutMs);
    const body: ServerFrame["frame"] = answer.frame;
    if (body.case === "error") throw new ServerError(body.value, answer.requestId);
    if (body.case !== expected) {
      throw new ProtocolError(`expected ${expected} from the server, got ${body.case ?? "an empty frame"}`);
    }
    return body.value as ServerFrameValue<C>;
  }

  /** Like {@link Connection.request}, resolving with the whole answer frame (errors included). */
  requestRaw(frame: ClientFrameInit, timeoutMs: number): Promise<ServerFrame> {
    if (this.closed !== undefined) {
      return Promise.reject(new ConnectionClosedError("connection closed", this.closed.code));
    }
    const requestId = this.nextRequestId++;
    return new Promise<ServerFrame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(requestId);
        reject(new TimeoutError(`request ${frame.case} (id ${requestId})`, timeoutMs));
      }, timeoutMs);
      this.waiters.set(requestId, { resolve, reject, timer });
      try {
        this.sendBytes(toBinary(ClientFrameSchema, create(ClientFrameSchema, { requestId, frame })));
      } catch (e) {
        clearTimeout(timer);
        this.waiters.delete(requestId);
        reject(e instanceof Error ? e : new ConnectionClosedError(String(e)));
      }
    });
  }

  /** Sends bytes as one binary message as they are: for testing how the server treats bad input. */
  sendBytes(bytes: Uint8Array): void {
    if (this.closed !== undefined || this.socket.readyState !== OPEN) {
      throw new ConnectionClosedError("connection closed", this.closed?.code);
    }
    this.socket.send(bytes);
  }

  /** Starts the close handshake; `onClose` follows. */
  close(code = 1000, reason = ""): void {
    if (this.closed !== undefined) return;
    this.closingByClient = true;
    try {
      this.socket.close(code, reason);
    } catch {
      this.ended(1006, "close failed");
    }
  }

  /**
   * Ends the connection at once, without waiting for the server's half of the
   * close handshake: for a socket that stopped answering.
   */
  abandon(reason: string): void {
    this.closingByClient = true;
    try {
      this.socket.close(1000, reason);
    } catch {
      // Already closing: the close event may still come, and is ignored.
    }
    this.ended(1006, reason);
  }

  private receive(data: unknown): void {
    if (!(data instanceof ArrayBuffer)) {
      // The protocol sends binary frames only; a text frame is not ours to read.
      return;
    }
    let frame: ServerFrame;
    try {
      frame = fromBinary(ServerFrameSchema, new Uint8Array(data));
    } catch {
      return;
    }
    if (frame.requestId !== 0n) {
      const waiter = this.waiters.get(frame.requestId);
      if (waiter !== undefined) {
        this.waiters.delete(frame.requestId);
        clearTimeout(waiter.timer);
        waiter.resolve(frame);
        return;
      }
    }
    if (frame.frame.case === "error" && !frame.frame.value.connectionKept) {
      this.lastFatalError = new ServerError(frame.frame.value, frame.requestId);
    }
    this.handlers.onUnsolicited(frame);
  }

  private ended(code: number, reason: string): void {
    if (this.closed !== undefined) return;
    this.closed = { code, reason, error: this.lastFatalError, byClient: this.closingByClient };
    this.socket.onmessage = null;
    this.socket.onclose = null;
    for (const [, waiter] of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new ConnectionClosedError(`connection closed (code ${code})`, code));
    }
    this.waiters.clear();
    this.handlers.onClose(this.closed);
  }
}
