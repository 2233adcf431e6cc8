/**
 * Edits, recalls, deletes and reactions: messages of their own that name a
 * stored message (`target`: its id and conv seq). {@link MessageFolder}
 * applies them to the messages they name, in conv seq order whatever order
 * they arrived in, giving the same `state` and body History shows.
 *
 * @module
 */

import { create, fromBinary } from "@bufbuild/protobuf";
import {
  MessageEditSchema,
  MessageRemovalSchema,
  MessageStateSchema,
  ReactionCountSchema,
  ReactionSchema,
  type Message,
  type MessageRef,
} from "./gen/tidings/common/v1/common_pb.js";

/** Kind of an edit event (`MessageEdit` body). */
export const EDIT_KIND = "tidings.edit";
/** Kind of a recall by the sender (`MessageRemoval` body). */
export const RECALL_KIND = "tidings.recall";
/** Kind of a delete for everyone (`MessageRemoval` body). */
export const DELETE_KIND = "tidings.delete";
/** Kind of a reaction added or taken back (`Reaction` body). */
export const REACTION_KIND = "tidings.reaction";

/** An event, decoded from its message. */
export type MessageEvent =
  | { readonly kind: "edit"; readonly target: MessageRef; readonly body: Uint8Array }
  | { readonly kind: "recall"; readonly target: MessageRef }
  | { readonly kind: "delete"; readonly target: MessageRef }
  | { readonly kind: "reaction"; readonly target: MessageRef; readonly emoji: string; readonly remove: boolean };

/** Names the message an event applies to: a received `Message` or `SendAck` fits. */
export interface MessageTarget {
  readonly messageId: string;
  readonly convSeq: bigint;
}

/** Whether messages of `kind` are events on another message. */
export function isEventKind(kind: string): boolean {
  return kind === EDIT_KIND || kind === RECALL_KIND || kind === DELETE_KIND || kind === REACTION_KIND;
}

/** The event a message carries; `undefined` for other messages and bodies that do not decode. */
export function decodeMessageEvent(message: Message): MessageEvent | undefined {
  try {
    switch (message.kind) {
      case EDIT_KIND: {
        const edit = fromBinary(MessageEditSchema, message.body);
        return edit.target === undefined ? undefined : { kind: "edit", target: edit.target, body: edit.body };
      }
      case RECALL_KIND:
      case DELETE_KIND: {
        const removal = fromBinary(MessageRemovalSchema, message.body);
        if (removal.target === undefined) return undefined;
        return { kind: message.kind === RECALL_KIND ? "recall" : "delete", target: removal.target };
      }
      case REACTION_KIND: {
        const r = fromBinary(ReactionSchema, message.body);
        return r.target === undefined ? undefined : { kind: "reaction", target: r.target, emoji: r.emoji, remove: r.remove };
      }
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

/**
 * Keeps the events a device has applied, by the message they name, and
 * folds them into messages. An event may arrive before its target (a device
 * catching up): it is kept until asked for.
 */
export class MessageFolder {
  private readonly events = new Map<string, Map<bigint, { message: Message; event: MessageEvent }>>();

  /** Records `message` if it is an event; returns whether it was one. */
  note(message: Message): boolean {
    const event = decodeMessageEvent(message);
    if (event === undefined) return false;
    let byTarget = this.events.get(event.target.messageId);
    if (byTarget === undefined) {
      byTarget = new Map();
      this.events.set(event.target.messageId, byTarget);
    }
    byTarget.set(message.convSeq, { message, event });
    return true;
  }

  /**
   * `message` as `reader` sees it now: `state` set when an event changed it,
   * `body` the latest edit's, or empty once recalled or deleted. A message
   * without events is returned as is.
   */
  current(message: Message, reader: string): Message {
    const events = this.events.get(message.messageId);
    if (events === undefined) return message;
    const ordered = [...events.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    let edit: { body: Uint8Array; at: bigint } | undefined;
    let recalled = false;
    let deleted = false;
    let removedBy = "";
    const reactions = new Map<string, Set<string>>();
    for (const [, { message: eventMessage, event }] of ordered) {
      if (event.target.convSeq !== message.convSeq) continue;
      // Nothing changes a removed message back.
      if (recalled || deleted) break;
      switch (event.kind) {
        case "edit":
          edit = { body: event.body, at: eventMessage.createdAtMs };
          break;
        case "recall":
        case "delete":
          if (event.kind === "recall") recalled = true;
          else deleted = true;
          removedBy = eventMessage.senderId;
          break;
        case "reaction": {
          const users = reactions.get(event.emoji) ?? new Set<string>();
          if (event.remove) users.delete(eventMessage.senderId);
          else users.add(eventMessage.senderId);
          if (users.size === 0) reactions.delete(event.emoji);
          else reactions.set(event.emoji, users);
          break;
        }
      }
    }
    const emoji = [...reactions.keys()].sort(byBytes);
    const state = create(MessageStateSchema, {
      edited: edit !== undefined,
      editedAtMs: edit?.at ?? 0n,
      recalled,
      deleted,
      removedBy,
      reactions: emoji.map((e) => {
        const users = reactions.get(e) ?? new Set<string>();
        return create(ReactionCountSchema, { emoji: e, count: BigInt(users.size), reactedByMe: users.has(reader) });
      }),
    });
    const body = recalled || deleted ? new Uint8Array() : (edit?.body ?? message.body);
    return { ...message, body, state };
  }
}

const encoder = new TextEncoder();

/** Byte order of UTF-8, as the server orders reactions. */
function byBytes(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}
