/**
 * The device side of DESIGN §5, driven over a {@link Connection}: pull until
 * done, pushes applied in order and buffered across gaps, large groups
 * followed from their heads, `truncated` recovered through history, and the
 * durable snapshot written after every applied batch.
 *
 * Every step (a pull, a push, a conversation push) runs alone, in arrival
 * order. A step either finishes (each new message handed to the application,
 * the snapshot saved) or is rolled back to the last saved checkpoint and
 * cursors; the ids of messages the application did take are kept, so a
 * retried step hands over only what it had not.
 *
 * @module
 */

import { fromBinary } from "@bufbuild/protobuf";
import type { Connection } from "./connection.js";
import { DeviceState } from "./device-state.js";
import { ProtocolError } from "./errors.js";
import { InboxEntriesSchema, type PullResult } from "./gen/tidings/client/v1/client_pb.js";
import type { InboxEntry, Message } from "./gen/tidings/common/v1/common_pb.js";
import type { DeviceSnapshot, DeviceStore } from "./store.js";
import { READ_KIND, Timeline } from "./timeline.js";

/** What the engine needs from its owner. */
export interface SyncEngineOptions {
  readonly deviceId: string;
  readonly store: DeviceStore;
  readonly requestTimeoutMs: number;
  /** Page size of pulls; 0 lets the server choose. */
  readonly pullLimit: number;
  /** Message ids kept in memory for dropping duplicates. */
  readonly rememberedMessageIds: number;
  /** Message ids written into each snapshot. */
  readonly persistedMessageIds: number;
  /** On `truncated`: newest messages fetched per conversation this device never saw. */
  readonly roamLimit: number;
  /** Decompresses zstd pull pages, when the owner asked for them. */
  readonly decompress: ((bytes: Uint8Array) => Uint8Array | Promise<Uint8Array>) | undefined;
  /** Hands a new message to the application; must resolve once it is applied. */
  readonly deliver: (message: Message) => Promise<void>;
  /** The user's read position in a conversation moved. */
  readonly onRead: (conversationId: string, readSeq: bigint) => void;
  /** Inbox entries had expired; the conversations listed were recovered through history. */
  readonly onTruncated: (checkpoint: bigint, conversationIds: string[]) => void;
}

interface Durable {
  readonly checkpoint: bigint;
  readonly cursors: ReadonlyMap<string, bigint>;
  readonly json: string;
}

/** The device's sync state and the steps that move it. */
export class SyncEngine {
  readonly device = new DeviceState(0n);
  readonly timeline: Timeline;
  private userId: string | undefined;
  private durable: Durable = { checkpoint: 0n, cursors: new Map(), json: "" };
  private queue: Promise<unknown> = Promise.resolve();
  private truncatedSeen = false;

  constructor(private readonly options: SyncEngineOptions) {
    this.timeline = new Timeline(options.rememberedMessageIds);
  }

  /** The checkpoint last saved to the store: what is acked. */
  get durableCheckpoint(): bigint {
    return this.durable.checkpoint;
  }

  /** Whether any pull so far said entries had expired. */
  get wasTruncated(): boolean {
    return this.truncatedSeen;
  }

  /** Loads the saved snapshot, if any. */
  async load(): Promise<void> {
    const snapshot = await this.options.store.load(this.options.deviceId);
    if (snapshot === undefined) return;
    this.userId = snapshot.userId;
    const cursors = new Map(Object.entries(snapshot.cursors).map(([k, v]) => [k, BigInt(v)] as const));
    this.device.reset(BigInt(snapshot.checkpoint));
    this.timeline.setCursors(cursors);
    this.timeline.setReadPositions(new Map(Object.entries(snapshot.readPositions).map(([k, v]) => [k, BigInt(v)])));
    for (const id of snapshot.recentMessageIds) this.timeline.applied.add(id);
    this.durable = { checkpoint: this.device.checkpoint, cursors, json: JSON.stringify(snapshot) };
  }

  /**
   * Takes the user id the server derived from the token. State saved for
   * another user is dropped: its checkpoint means nothing in this inbox.
   */
  adoptUser(userId: string): void {
    if (this.userId !== undefined && this.userId !== userId) {
      this.device.reset(0n);
      this.timeline.setCursors(new Map());
      this.timeline.setReadPositions(new Map());
      this.durable = { checkpoint: 0n, cursors: new Map(), json: "" };
    }
    this.userId = userId;
  }

  /** Runs `step` after every step before it; on failure rolls back to the saved state and rethrows. */
  run(step: () => Promise<void>): Promise<void> {
    const guarded = async (): Promise<void> => {
      try {
        await step();
        await this.persist();
      } catch (e) {
        this.rollback();
        throw e;
      }
    };
    const result = this.queue.then(guarded, guarded);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Resolves once every step queued so far has ended. */
  idle(): Promise<void> {
    return this.queue.then(() => undefined);
  }

  /**
   * Pulls after the checkpoint until `has_more` is false, applying and saving
   * page by page, then pulls the large groups whose heads are above their
   * cursors. Call inside {@link SyncEngine.run}.
   */
  async pullAll(connection: Connection): Promise<void> {
    let heads: PullResult["conversationHeads"] = [];
    for (;;) {
      const before = this.device.checkpoint;
      const page = await this.pull(connection, before);
      if (page.truncated) {
        this.truncatedSeen = true;
        const recovered = await this.recoverThroughHistory(connection);
        this.options.onTruncated(before, recovered);
      }
      heads = page.conversationHeads;
      await this.follow(connection, this.device.applyPage({ entries: await this.entriesOf(page), head: page.head, hasMore: page.hasMore }));
      await this.persist();
      if (!page.hasMore) break;
      if (this.device.checkpoint === before) {
        throw new ProtocolError(`pull after ${before} said has_more but returned nothing newer`);
      }
    }
    // Large groups (read diffusion) write nothing to the inbox: follow them
    // from the heads the pull reports.
    for (const head of heads) {
      if (head.head > this.timeline.cursor(head.conversationId)) {
        await this.pullConversation(connection, head.conversationId);
      }
    }
  }

  /** Applies one pushed inbox entry, pulling when it reveals a gap. Call inside {@link SyncEngine.run}. */
  async handlePush(connection: Connection, entry: InboxEntry): Promise<void> {
    const outcome = this.device.handlePush(entry);
    if (outcome.kind === "applied") await this.follow(connection, outcome.entries);
    if (this.device.hasGap) await this.pullAll(connection);
  }

  /**
   * Applies a large group's pushed message when it is next in its
   * conversation, else pulls the conversation from the cursor. Call inside
   * {@link SyncEngine.run}.
   */
  async handleConversationPush(connection: Connection, message: Message): Promise<void> {
    const cursor = this.timeline.cursor(message.conversationId);
    if (message.convSeq <= cursor) return;
    if (message.convSeq === cursor + 1n) {
      await this.offer(message);
      return;
    }
    await this.pullConversation(connection, message.conversationId);
  }

  /**
   * Pulls a conversation's store timeline from this device's cursor up to
   * its visible head, handing over every new message.
   */
  async pullConversation(connection: Connection, conversationId: string): Promise<void> {
    for (;;) {
      const after = this.timeline.cursor(conversationId);
      const page = await connection.request(
        { case: "pullConversation", value: { conversationId, after, limit: this.options.pullLimit } },
        "pullConversationResult",
        this.options.requestTimeoutMs,
      );
      for (const message of page.messages) await this.offer(message);
      if (!page.hasMore || page.messages.length === 0) return;
      if (this.timeline.cursor(conversationId) === after) {
        throw new ProtocolError(`pull of ${conversationId} after ${after} said has_more but returned nothing newer`);
      }
    }
  }

  /** Writes the snapshot when it changed; resolves once the store has it. */
  async persist(): Promise<void> {
    if (this.userId === undefined) return;
    const snapshot: DeviceSnapshot = {
      version: 1,
      userId: this.userId,
      checkpoint: this.device.checkpoint.toString(),
      cursors: Object.fromEntries([...this.timeline.allCursors()].map(([k, v]) => [k, v.toString()])),
      readPositions: Object.fromEntries([...this.timeline.allReadPositions()].map(([k, v]) => [k, v.toString()])),
      recentMessageIds: this.timeline.applied.newest(this.options.persistedMessageIds),
    };
    const json = JSON.stringify(snapshot);
    if (json === this.durable.json) return;
    await this.options.store.save(this.options.deviceId, snapshot);
    this.durable = { checkpoint: this.device.checkpoint, cursors: new Map(this.timeline.allCursors()), json };
  }

  /** Back to the saved checkpoint and cursors; buffered pushes are forgotten (a pull brings them again). */
  private rollback(): void {
    this.device.reset(this.durable.checkpoint);
    this.timeline.setCursors(this.durable.cursors);
  }

  private async pull(connection: Connection, after: bigint): Promise<PullResult> {
    return connection.request({ case: "pull", value: { after, limit: this.options.pullLimit } }, "pullResult", this.options.requestTimeoutMs);
  }

  private async entriesOf(page: PullResult): Promise<InboxEntry[]> {
    if (page.compressedEntries.length === 0) return page.entries;
    const decompress = this.options.decompress;
    if (decompress === undefined) throw new ProtocolError("a compressed pull page arrived, but no decompressor was given");
    return fromBinary(InboxEntriesSchema, await decompress(page.compressedEntries)).entries;
  }

  /** Hands over the messages of applied inbox entries, filling group gaps first. */
  private async follow(connection: Connection, entries: readonly InboxEntry[]): Promise<void> {
    for (const entry of entries) {
      const message = entry.message;
      if (message === undefined) continue;
      if (message.kind !== READ_KIND && this.timeline.hasGapBefore(message)) {
        await this.pullConversation(connection, message.conversationId);
      }
      await this.offer(message);
    }
  }

  /** Hands a message to the application unless it is a duplicate or a read position. */
  private async offer(message: Message): Promise<void> {
    const classified = this.timeline.classify(message);
    if (classified.kind === "read") {
      if (classified.moved) this.options.onRead(classified.conversationId, classified.readSeq);
      return;
    }
    if (classified.kind === "duplicate") return;
    await this.options.deliver(message);
    this.timeline.record(message);
  }

  /**
   * Entries between the checkpoint and the page expired: fetch, per
   * conversation, what is newer than this device's cursor through History
   * (at most `roamLimit` messages for a conversation it never saw; older
   * ones stay reachable by paging history), oldest first.
   */
  private async recoverThroughHistory(connection: Connection): Promise<string[]> {
    const list = await connection.request({ case: "conversationList", value: { latest: 0 } }, "conversationListResult", this.options.requestTimeoutMs);
    const recovered: string[] = [];
    for (const summary of list.conversations) {
      const cursor = this.timeline.cursor(summary.conversationId);
      if (summary.lastConvSeq <= cursor) continue;
      const missing: Message[] = [];
      let before = 0n;
      paging: for (;;) {
        const page = await connection.request(
          { case: "history", value: { conversationId: summary.conversationId, before, limit: this.options.pullLimit } },
          "historyResult",
          this.options.requestTimeoutMs,
        );
        for (const message of page.messages) {
          if (message.convSeq <= cursor) break paging;
          missing.push(message);
          if (cursor === 0n && missing.length >= this.options.roamLimit) break paging;
        }
        const last = page.messages[page.messages.length - 1];
        if (!page.hasMore || last === undefined) break;
        before = last.convSeq;
      }
      for (const message of missing.reverse()) await this.offer(message);
      recovered.push(summary.conversationId);
    }
    return recovered;
  }
}
