/**
 * What the application has been given, per conversation: the cursor (the
 * highest conv seq applied, from the inbox or from the conversation's store
 * timeline, which is how large groups are followed), the user's read
 * positions, and the ids of recently applied messages, which make every
 * message reach the application once whatever path brought it.
 *
 * @module
 */

import { fromBinary } from "@bufbuild/protobuf";
import { ReadPositionSchema, type Message } from "./gen/tidings/common/v1/common_pb.js";

/** Kind of the inbox entries that carry read positions; not timeline messages. */
export const READ_KIND = "tidings.read";

/** Kind of the messages that carry a group's membership changes (`MembershipEvent` bodies). */
export const MEMBERS_KIND = "tidings.members";

/** What {@link Timeline.classify} found a message to be. */
export type Classified =
  /** A timeline message the application has not had. */
  | { readonly kind: "new" }
  /** A message already applied (same message id): dropped. */
  | { readonly kind: "duplicate" }
  /** A read position; `moved` when it is higher than the one known. */
  | { readonly kind: "read"; readonly conversationId: string; readonly readSeq: bigint; readonly moved: boolean };

/** Remembers the most recent ids, forgetting the oldest past `capacity`. */
export class RecentIds {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity: number) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    if (this.ids.has(id)) return;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next();
      if (oldest.done !== true) this.ids.delete(oldest.value);
    }
  }

  /** The `count` most recent ids, oldest first. */
  newest(count: number): string[] {
    const all = [...this.ids];
    return all.slice(Math.max(0, all.length - count));
  }
}

/** Cursors, read positions and applied message ids of one device. */
export class Timeline {
  private cursors = new Map<string, bigint>();
  private readPositions = new Map<string, bigint>();
  readonly applied: RecentIds;

  /** @param rememberedIds - how many message ids are kept for dropping duplicates */
  constructor(rememberedIds: number) {
    this.applied = new RecentIds(rememberedIds);
  }

  /** Highest conv seq applied in a conversation (0 if none). */
  cursor(conversationId: string): bigint {
    return this.cursors.get(conversationId) ?? 0n;
  }

  /** Every cursor, for the durable snapshot. */
  allCursors(): ReadonlyMap<string, bigint> {
    return this.cursors;
  }

  /** Replaces the cursors (loading a snapshot, or rolling back a failed step). */
  setCursors(cursors: ReadonlyMap<string, bigint>): void {
    this.cursors = new Map(cursors);
  }

  /** The read position known for a conversation (0 if none). */
  readPosition(conversationId: string): bigint {
    return this.readPositions.get(conversationId) ?? 0n;
  }

  /** Every read position, for the durable snapshot. */
  allReadPositions(): ReadonlyMap<string, bigint> {
    return this.readPositions;
  }

  /** Replaces the read positions (loading a snapshot). */
  setReadPositions(positions: ReadonlyMap<string, bigint>): void {
    this.readPositions = new Map(positions);
  }

  /**
   * Whether a group message arriving through the inbox skips messages of a
   * group this device follows: the group was large (read diffusion) for a
   * while, so the conversation is pulled from the cursor first.
   */
  hasGapBefore(message: Message): boolean {
    const cursor = this.cursor(message.conversationId);
    return message.conversationId.startsWith("g:") && cursor > 0n && message.convSeq > cursor + 1n;
  }

  /**
   * Says what a message is without recording it; read positions are
   * recorded at once (they only move forward, so applying one twice is
   * harmless).
   */
  classify(message: Message): Classified {
    if (message.kind === READ_KIND) {
      let position;
      try {
        position = fromBinary(ReadPositionSchema, message.body);
      } catch {
        return { kind: "duplicate" };
      }
      const known = this.readPosition(position.conversationId);
      const moved = position.readSeq > known;
      if (moved) this.readPositions.set(position.conversationId, position.readSeq);
      return { kind: "read", conversationId: position.conversationId, readSeq: position.readSeq, moved };
    }
    if (message.messageId !== "" && this.applied.has(message.messageId)) {
      this.advance(message);
      return { kind: "duplicate" };
    }
    return { kind: "new" };
  }

  /** Records a read position learnt another way (a `ReadAck` answer). */
  noteReadPosition(conversationId: string, readSeq: bigint): boolean {
    if (readSeq <= this.readPosition(conversationId)) return false;
    this.readPositions.set(conversationId, readSeq);
    return true;
  }

  /** Records a message as applied: its id, and the cursor of its conversation. */
  record(message: Message): void {
    if (message.messageId !== "") this.applied.add(message.messageId);
    this.advance(message);
  }

  private advance(message: Message): void {
    if (message.convSeq > this.cursor(message.conversationId)) {
      this.cursors.set(message.conversationId, message.convSeq);
    }
  }
}
