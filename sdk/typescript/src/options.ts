/**
 * The options, events and page types of {@link TidingsClient}.
 *
 * @module
 */

import type { BackoffOptions } from "./backoff.js";
import type { Member, PresenceEvent, RoomMessage, TypingEvent } from "./gen/tidings/client/v1/client_pb.js";
import type { Message } from "./gen/tidings/common/v1/common_pb.js";
import type { DeviceStore } from "./store.js";
import type { WebSocketConstructor } from "./websocket.js";

/** Where the client is in its life. */
export type ConnectionState =
  /** Created; {@link TidingsClient.connect} not called yet. */
  | "idle"
  /** Opening the WebSocket and saying hello. */
  | "connecting"
  /** Authenticated; pulling what arrived while away. Requests are served. */
  | "syncing"
  /** Caught up; pushes arrive as they happen. */
  | "online"
  /** The connection ended; waiting for the next attempt. */
  | "reconnecting"
  /** Closed for good (by {@link TidingsClient.close}, or a refusal that retrying cannot fix). */
  | "closed";

/** Payload of the `state` event. */
export interface StateChange {
  readonly state: ConnectionState;
  readonly previous: ConnectionState;
  /** Why the connection ended or an attempt failed, when it did. */
  readonly error?: Error;
  /** With `reconnecting`: when the next attempt starts, in ms from now. */
  readonly retryInMs?: number;
}

/** Payload of the `read` event. */
export interface ReadPositionChange {
  readonly conversationId: string;
  /** The user has read up to this conv seq, on some device. */
  readonly readSeq: bigint;
}

/** Payload of the `truncated` event. */
export interface TruncatedRecovery {
  /** The checkpoint the expired entries followed. */
  readonly checkpoint: bigint;
  /** Conversations whose newer messages were fetched through history. */
  readonly conversationIds: readonly string[];
}

/** The events of a {@link TidingsClient}. */
export interface TidingsEvents {
  /**
   * A message new to this device, in order: inbox order, with a large group's
   * messages in conv seq order. Each message comes once (duplicates are
   * dropped by message id). A listener may return a promise: the checkpoint
   * moves past the message only once every listener has resolved, so an
   * application that saves messages there never loses one. A listener that
   * throws stops the sync: the client reconnects and hands over the same
   * message again.
   */
  message: Message;
  /** The user's read position in a conversation moved (on this or another device). */
  read: ReadPositionChange;
  /** A message of the live room this connection is in. */
  roomMessage: RoomMessage;
  /**
   * Another member is typing in a conversation of this user: show it until
   * `expiresAtMs` unless a later event of the same user extends it.
   */
  typing: TypingEvent;
  /** A watched user's presence: its current state after {@link TidingsClient.watchPresence}, then each change. */
  presence: PresenceEvent;
  /** The connection state changed. */
  state: StateChange;
  /** Inbox entries had expired (the device was away too long) and were recovered through history. */
  truncated: TruncatedRecovery;
  /**
   * Something failed without stopping the client: a failed attempt, a
   * refused refresh, a failed ack, an error frame the server sent unasked.
   */
  error: Error;
}

/** Where tokens come from: a fixed one, or a callback asked on every connect and refresh. */
export type TokenSource = string | (() => string | Promise<string>);

/** Options of {@link TidingsClient}. */
export interface TidingsClientOptions {
  /** The gateway's WebSocket URL, e.g. `ws://127.0.0.1:7400/ws`. */
  readonly url: string;
  /**
   * The bearer token (a JWT, or `dev:<user>` when the server enables
   * development tokens), or a callback returning a fresh one: it is called on
   * every connect and before `Welcome.token_expires_at_ms` to refresh.
   */
  readonly token: TokenSource;
  /** Stable id of this device: 1 to 64 characters of `[A-Za-z0-9_.-]`. */
  readonly deviceId: string;
  /** Where the checkpoint and cursors persist; a {@link MemoryStore} by default. */
  readonly store?: DeviceStore;
  /** The WebSocket constructor; the global one by default (on Node 20 pass `WebSocket` from `ws`). */
  readonly WebSocket?: WebSocketConstructor;
  /** How long each request waits for its answer; 10,000 ms by default. */
  readonly requestTimeoutMs?: number;
  /** How long {@link TidingsClient.send} keeps resending a message that could not be confirmed; 30,000 ms by default. */
  readonly sendTimeoutMs?: number;
  /** Reconnect spacing, or `false` to stay closed after the connection ends. */
  readonly reconnect?: BackoffOptions | false;
  /** Page size of pulls and history; 0 (the default) lets the server choose. */
  readonly pullLimit?: number;
  /** While pushes wait above a gap, pull again this often; 200 ms by default. */
  readonly gapRetryMs?: number;
  /** Refresh the token this long before it expires (at most half its remaining life); 60,000 ms by default. */
  readonly refreshBeforeMs?: number;
  /** Ping this often to find dead connections; 0 turns it off; 25,000 ms by default. */
  readonly pingIntervalMs?: number;
  /** Acks of pushed entries wait this long so that a burst costs one ack; 250 ms by default. */
  readonly ackDelayMs?: number;
  /** Message ids kept in memory to drop duplicates; 10,000 by default. */
  readonly rememberedMessageIds?: number;
  /** Message ids saved with the checkpoint, so duplicates stay dropped across restarts; 1,000 by default. */
  readonly persistedMessageIds?: number;
  /**
   * After `truncated`, how many of the newest messages of a conversation this
   * device never saw are fetched; older ones remain in history. 50 by default.
   */
  readonly roamLimit?: number;
  /**
   * A zstd decompressor. Given one, the client asks for pull pages above
   * `compressAbove` bytes compressed (offline catch-up costs less); without
   * one, pages come plain.
   */
  readonly decompress?: (bytes: Uint8Array) => Uint8Array | Promise<Uint8Array>;
  /** Threshold for compressed pull pages when `decompress` is given; 8,192 bytes by default. */
  readonly compressAbove?: number;
}

/** Options of {@link TidingsClient.send}. */
export interface SendOptions {
  /** Application-defined kind; `"text"` by default. */
  readonly kind?: string;
  /**
   * The idempotency key (1 to 64 characters); a random one by default. A
   * resend with the same key is stored once; pass your own to resend across
   * restarts of the application.
   */
  readonly clientMsgId?: string;
}

/** One page of a conversation's history. */
export interface HistoryPage {
  /** Newest first. */
  readonly messages: readonly Message[];
  /** Older messages exist. */
  readonly hasMore: boolean;
  /** Pass as `before` to read the next (older) page; `undefined` when there is none. */
  readonly nextBefore: bigint | undefined;
}

/** One page of a group's members. */
export interface MembersPage {
  readonly members: readonly Member[];
  readonly hasMore: boolean;
  /** Pass as `after` to read the next page; `undefined` when there is none. */
  readonly nextAfter: string | undefined;
}

/** What {@link TidingsClient.createGroup} takes. */
export interface CreateGroupOptions {
  /** 1 to 64 characters of `[A-Za-z0-9_.-]`; empty or absent lets the server choose. */
  readonly groupId?: string;
  readonly name?: string;
  /** Members besides the caller, who becomes the owner. */
  readonly memberIds?: readonly string[];
}
