/**
 * The part of the WebSocket API the SDK uses, so that the browser's
 * `WebSocket`, Node ≥ 22's global one and the `ws` package all fit.
 *
 * @module
 */

/** The events the SDK reads from a WebSocket. */
export interface WebSocketMessageEventLike {
  /** `ArrayBuffer` for binary frames (with `binaryType = "arraybuffer"`), a string for text ones. */
  readonly data: unknown;
}

/** The close event of a WebSocket. */
export interface WebSocketCloseEventLike {
  readonly code: number;
  readonly reason: string;
}

/**
 * An event handler slot. Declared through a method so that its parameter is
 * checked both ways: the handler types of the browser's WebSocket and of `ws`
 * (which take their own event classes) then fit without casts.
 */
export type EventHandler<E> = { bivarianceHack(event: E): void }["bivarianceHack"];

/** A WebSocket as the SDK uses it (browser API shape). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: EventHandler<unknown> | null;
  onmessage: EventHandler<WebSocketMessageEventLike> | null;
  onclose: EventHandler<WebSocketCloseEventLike> | null;
  onerror: EventHandler<unknown> | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/**
 * A WebSocket constructor: the browser's `WebSocket`, or `WebSocket` from the
 * `ws` package on Node 20 (which has no global one).
 */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** `WebSocket.OPEN`. */
export const OPEN = 1;

/** The global WebSocket constructor when the platform has one. */
export function globalWebSocket(): WebSocketConstructor | undefined {
  const candidate = (globalThis as { WebSocket?: unknown }).WebSocket;
  return typeof candidate === "function" ? (candidate as WebSocketConstructor) : undefined;
}
