/**
 * The inbox rules of a device as a pure state machine (no I/O, so each rule
 * is tested without a server): the checkpoint, and the pushed entries
 * buffered above a gap. Which entries are new to the application is decided
 * later, by message id, in {@link Timeline}.
 *
 * @module
 */

import type { InboxEntry } from "./gen/tidings/common/v1/common_pb.js";

/** What became of a pushed entry. */
export type PushOutcome =
  /** `seq <= checkpoint`: already covered; ignored. */
  | { readonly kind: "stale" }
  /** `seq == checkpoint + 1`: applied, with every buffered entry it made contiguous. */
  | { readonly kind: "applied"; readonly entries: InboxEntry[] }
  /** `seq > checkpoint + 1`: buffered; there is a gap, so the device pulls. */
  | { readonly kind: "buffered" };

/** One pull page as the state machine needs it. */
export interface Page {
  readonly entries: readonly InboxEntry[];
  readonly head: bigint;
  readonly hasMore: boolean;
}

/** Checkpoint and push buffer of one device. */
export class DeviceState {
  private checkpointSeq: bigint;
  private readonly buffer = new Map<bigint, InboxEntry>();

  /** A device resuming from a durable checkpoint (0 for a new device). */
  constructor(checkpoint: bigint) {
    this.checkpointSeq = checkpoint;
  }

  /** The last inbox seq applied (or moved past as settled and empty). */
  get checkpoint(): bigint {
    return this.checkpointSeq;
  }

  /** True while pushed entries wait above a gap: only a pull closes it. */
  get hasGap(): boolean {
    return this.buffer.size > 0;
  }

  /** Seqs of the buffered entries, ascending. */
  bufferedSeqs(): bigint[] {
    return [...this.buffer.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Forgets buffered pushes (they are hints: a pull brings them again). */
  clearBuffer(): void {
    this.buffer.clear();
  }

  /** Moves back to a durable checkpoint after a step that failed half-way. */
  reset(checkpoint: bigint): void {
    this.checkpointSeq = checkpoint;
    this.buffer.clear();
  }

  /** Applies the push rules to one pushed entry. */
  handlePush(entry: InboxEntry): PushOutcome {
    if (entry.seq <= this.checkpointSeq) return { kind: "stale" };
    if (entry.seq > this.checkpointSeq + 1n) {
      this.buffer.set(entry.seq, entry);
      return { kind: "buffered" };
    }
    this.checkpointSeq = entry.seq;
    return { kind: "applied", entries: [entry, ...this.drainBuffer()] };
  }

  /**
   * Applies the answer to `Pull{after: checkpoint}`, then the buffered entries
   * it made contiguous; returns the entries to apply, in seq order. The
   * checkpoint becomes the last returned seq when `hasMore`, else the head
   * (every seq at or below it is settled), and never moves backwards.
   */
  applyPage(page: Page): InboxEntry[] {
    const applied: InboxEntry[] = [];
    let lastReturned: bigint | undefined;
    for (const entry of page.entries) {
      if (entry.seq <= this.checkpointSeq || (lastReturned !== undefined && entry.seq <= lastReturned)) continue;
      lastReturned = entry.seq;
      applied.push(entry);
    }
    const target = page.hasMore ? (lastReturned ?? this.checkpointSeq) : page.head;
    if (lastReturned !== undefined && lastReturned > this.checkpointSeq) this.checkpointSeq = lastReturned;
    if (target > this.checkpointSeq) this.checkpointSeq = target;
    applied.push(...this.drainBuffer());
    return applied;
  }

  /**
   * Drops buffered entries the checkpoint has passed (the pull that moved it
   * is the truth), then takes those that became contiguous.
   */
  private drainBuffer(): InboxEntry[] {
    for (const seq of [...this.buffer.keys()]) {
      if (seq <= this.checkpointSeq) this.buffer.delete(seq);
    }
    const applied: InboxEntry[] = [];
    for (;;) {
      const next = this.buffer.get(this.checkpointSeq + 1n);
      if (next === undefined) return applied;
      this.buffer.delete(next.seq);
      this.checkpointSeq = next.seq;
      applied.push(next);
    }
  }
}
