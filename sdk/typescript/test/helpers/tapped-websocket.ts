/**
 * A WebSocket (over `ws`) that lets a test see the client's frames and lose
 * some of the server's pushes on the way in, as a flaky network or a busy
 * gateway would: the device must notice the gap and pull.
 */

import { fromBinary } from "@bufbuild/protobuf";
import WebSocket from "ws";

import { proto, type WebSocketConstructor, type WebSocketLike } from "../../src/index.js";

/** What the tap does and what it saw. */
export class Tap {
  /** Pushes lost so far. */
  dropped = 0;
  /** Pushes seen so far (lost ones included). */
  pushes = 0;
  /** Client frames by case (`pull`, `send`, ...). */
  readonly sent = new Map<string, number>();

  /** @param dropPush - whether to lose push number `n` (1-based) */
  constructor(private readonly dropPush: (n: number) => boolean = () => false) {}

  /** How many frames of `kind` the client sent. */
  count(kind: string): number {
    return this.sent.get(kind) ?? 0;
  }

  /** A WebSocket constructor whose sockets go through this tap. */
  webSocket(): WebSocketConstructor {
    const tap = this;
    return class TappedWebSocket implements WebSocketLike {
      private readonly inner: WebSocket;
      onopen: WebSocketLike["onopen"] = null;
      onmessage: WebSocketLike["onmessage"] = null;
      onclose: WebSocketLike["onclose"] = null;
      onerror: WebSocketLike["onerror"] = null;

      constructor(url: string) {
        this.inner = new WebSocket(url);
        this.inner.binaryType = "arraybuffer";
        this.inner.onopen = (e) => this.onopen?.(e);
        this.inner.onclose = (e) => this.onclose?.(e);
        this.inner.onerror = (e) => this.onerror?.(e);
        this.inner.onmessage = (e) => {
          if (e.data instanceof ArrayBuffer) {
            const frame = fromBinary(proto.ServerFrameSchema, new Uint8Array(e.data));
            if (frame.frame.case === "push") {
              tap.pushes++;
              if (tap.dropPush(tap.pushes)) {
                tap.dropped++;
                return;
              }
            }
          }
          this.onmessage?.(e);
        };
      }

      get binaryType(): string {
        return this.inner.binaryType;
      }

      set binaryType(value: string) {
        this.inner.binaryType = value as WebSocket["binaryType"];
      }

      get readyState(): number {
        return this.inner.readyState;
      }

      send(data: Uint8Array): void {
        const frame = fromBinary(proto.ClientFrameSchema, data);
        const kind = frame.frame.case ?? "empty";
        tap.sent.set(kind, (tap.sent.get(kind) ?? 0) + 1);
        this.inner.send(data);
      }

      close(code?: number, reason?: string): void {
        this.inner.close(code, reason);
      }
    };
  }
}
