/**
 * Reads the client protocol's frames as the browser sends and receives them
 * (playwright's `websocket` events), enough to count pulls and history
 * pages: a few protobuf fields, read by number from
 * proto/tidings/client/v1/client.proto, with no generated code.
 */

import type { Page, WebSocket } from "playwright-core";

/** `ClientFrame` / `ServerFrame` oneof field numbers used here. */
const HELLO = 10;
const PULL = 12;
const HISTORY = 14;

export interface FrameCounts {
  /** `Hello.checkpoint` of each connection, in order. */
  readonly helloCheckpoints: bigint[];
  /** `Pull.after` of each pull. */
  readonly pullsAfter: bigint[];
  /** Entries in each `PullResult`. */
  readonly pulledEntries: number[];
  /** History requests sent. */
  history: number;
  /** Messages in each `HistoryResult`. */
  readonly historyMessages: number[];
}

/** Records the frames of every WebSocket `page` opens from now on (reloads included). */
export function countFrames(page: Page): FrameCounts {
  const counts: FrameCounts = { helloCheckpoints: [], pullsAfter: [], pulledEntries: [], history: 0, historyMessages: [] };
  page.on("websocket", (socket: WebSocket) => {
    socket.on("framesent", ({ payload }) => {
      if (typeof payload === "string") return;
      const frame = fieldsOf(payload);
      const hello = frame.get(HELLO)?.[0];
      if (hello instanceof Uint8Array) counts.helloCheckpoints.push(varintField(hello, 3));
      const pull = frame.get(PULL)?.[0];
      if (pull instanceof Uint8Array) counts.pullsAfter.push(varintField(pull, 1));
      if (frame.has(HISTORY)) counts.history++;
    });
    socket.on("framereceived", ({ payload }) => {
      if (typeof payload === "string") return;
      const frame = fieldsOf(payload);
      const pulled = frame.get(PULL)?.[0];
      if (pulled instanceof Uint8Array) counts.pulledEntries.push(fieldsOf(pulled).get(1)?.length ?? 0);
      const history = frame.get(HISTORY)?.[0];
      if (history instanceof Uint8Array) counts.historyMessages.push(fieldsOf(history).get(1)?.length ?? 0);
    });
  });
  return counts;
}

type Value = bigint | Uint8Array;

/** The fields of one protobuf message by number: varints as bigints, length-delimited ones as bytes. */
export function fieldsOf(bytes: Uint8Array): Map<number, Value[]> {
  const fields = new Map<number, Value[]>();
  let at = 0;
  const varint = (): bigint => {
    let value = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = bytes[at++];
      if (byte === undefined) throw new Error("truncated varint");
      value |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return value;
    }
  };
  while (at < bytes.length) {
    const key = varint();
    const number = Number(key >> 3n);
    let value: Value;
    switch (Number(key & 7n)) {
      case 0:
        value = varint();
        break;
      case 2: {
        const length = Number(varint());
        value = bytes.subarray(at, at + length);
        at += length;
        break;
      }
      case 1:
        value = bytes.subarray(at, (at += 8));
        break;
      case 5:
        value = bytes.subarray(at, (at += 4));
        break;
      default:
        throw new Error(`unexpected wire type in field ${number}`);
    }
    fields.set(number, [...(fields.get(number) ?? []), value]);
  }
  return fields;
}

/** A varint field of a message; 0 when absent (proto3's default). */
function varintField(message: Uint8Array, number: number): bigint {
  const value = fieldsOf(message).get(number)?.[0];
  return typeof value === "bigint" ? value : 0n;
}
