/**
 * The errors of the SDK. Every failure a caller can see is a
 * {@link TidingsError}; the server's own refusals are {@link ServerError}s
 * carrying the stable code of the protocol (`ErrorCode` in client.proto).
 *
 * @module
 */

import { ErrorCode, type Error as ErrorFrame } from "./gen/tidings/client/v1/client_pb.js";

export { ErrorCode };

/** Base class of every error the SDK raises. */
export class TidingsError extends Error {
  override name = "TidingsError";
}

/**
 * The server answered a request with an `Error` frame. `code` is one of the
 * stable numbers of `ErrorCode` (they never change; new ones are only added,
 * so an unknown number may arrive from a newer server and is kept as is).
 */
export class ServerError extends TidingsError {
  override name = "ServerError";
  /** The stable error code. */
  readonly code: ErrorCode;
  /** The server's explanation, naming what was wrong. For people, not for parsing. */
  readonly serverMessage: string;
  /** False when the server closes the connection right after this error. */
  readonly connectionKept: boolean;
  /**
   * With {@link ErrorCode.RATE_LIMITED}: milliseconds to wait before the same
   * request can pass; `undefined` when waiting will not help (a cap on
   * connections or groups) or for other codes.
   */
  readonly retryAfterMs: number | undefined;
  /** The request the error answers; 0 for errors the server sent unasked. */
  readonly requestId: bigint;

  /** Builds the error from the frame that carried it. */
  constructor(frame: ErrorFrame, requestId: bigint) {
    super(`server error ${errorCodeName(frame.code)}: ${frame.message}`);
    this.code = frame.code;
    this.serverMessage = frame.message;
    this.connectionKept = frame.connectionKept;
    this.retryAfterMs = frame.retryAfterMs > 0 ? frame.retryAfterMs : undefined;
    this.requestId = requestId;
  }

  /**
   * Whether resending the same request (a send with the same client message
   * id) may succeed: `RETRY` and `UNAVAILABLE`, as the protocol says.
   */
  get retryable(): boolean {
    return this.code === ErrorCode.RETRY || this.code === ErrorCode.UNAVAILABLE;
  }
}

/** No answer arrived in time. The request may still have been carried out. */
export class TimeoutError extends TidingsError {
  override name = "TimeoutError";
  /** How long the caller waited. */
  readonly timeoutMs: number;

  /** @param what - the request or step that timed out */
  constructor(what: string, timeoutMs: number) {
    super(`${what} timed out after ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The connection closed (or never opened) before the request was answered.
 * A send that fails this way may or may not have been stored: resend it with
 * the same client message id, which stores it once.
 */
export class ConnectionClosedError extends TidingsError {
  override name = "ConnectionClosedError";
  /** The WebSocket close code, when the connection had one (see client.proto, Closing). */
  readonly closeCode: number | undefined;

  constructor(message: string, closeCode?: number) {
    super(message);
    this.closeCode = closeCode;
  }
}

/**
 * The server broke a rule the device relies on (an answer of the wrong type,
 * a page that says `has_more` but does not move forward, a compressed page
 * without a decompressor).
 */
export class ProtocolError extends TidingsError {
  override name = "ProtocolError";
}

/** The client was closed with {@link TidingsClient.close}; nothing more can be sent. */
export class ClientClosedError extends TidingsError {
  override name = "ClientClosedError";
  constructor() {
    super("the client is closed");
  }
}

/**
 * The snake_case name of a code as the Rust SDK and the docs print it
 * (`rate_limited`, `not_member`...); `unknown(<n>)` for a number this SDK does
 * not know.
 */
export function errorCodeName(code: ErrorCode): string {
  const name = ErrorCode[code] as string | undefined;
  return name === undefined ? `unknown(${code})` : name.toLowerCase();
}
