/**
 * {@link TidingsClient}: one device of one user, connected to a gateway. It
 * keeps the connection up (token refresh, reconnect with backoff), follows
 * the device rules through {@link SyncEngine}, and offers one method per
 * request of the protocol.
 *
 * @module
 */

import { backoffDelay, type BackoffOptions } from "./backoff.js";
import { Connection, type ClientFrameInit, type CloseInfo, type ServerFrameCase, type ServerFrameValue } from "./connection.js";
import { Emitter, type Unsubscribe } from "./emitter.js";
import { ClientClosedError, ConnectionClosedError, ServerError, TidingsError, TimeoutError } from "./errors.js";
import type {
  ConversationSummary,
  GroupResult,
  Member,
  RoomMessage,
  SendAck,
  ServerFrame,
} from "./gen/tidings/client/v1/client_pb.js";
import type { Message } from "./gen/tidings/common/v1/common_pb.js";
import type { MessageTarget } from "./message-events.js";
import type {
  ConnectionState,
  CreateGroupOptions,
  HistoryPage,
  MembersPage,
  SendOptions,
  StateChange,
  TidingsClientOptions,
  TidingsEvents,
} from "./options.js";
import { MemoryStore } from "./store.js";
import { SyncEngine } from "./sync-engine.js";
import { globalWebSocket, type WebSocketConstructor } from "./websocket.js";

const encoder = new TextEncoder();

/** User ids per presence subscribe when watching again after a reconnect (the server's default limit). */
const PRESENCE_IDS_PER_FRAME = 100;

/**
 * One device of one user. Create it, subscribe to its events, then
 * {@link TidingsClient.connect}.
 *
 * @example
 * ```ts
 * const client = new TidingsClient({ url, token: "dev:alice", deviceId: "laptop" });
 * client.on("message", (m) => console.log(m.senderId, new TextDecoder().decode(m.body)));
 * await client.connect();
 * await client.send(dmConversationId("alice", "bob"), "hello");
 * ```
 */
export class TidingsClient extends Emitter<TidingsEvents> {
  private readonly options: TidingsClientOptions;
  private readonly WebSocketImpl: WebSocketConstructor | undefined;
  private readonly engine: SyncEngine;
  private readonly requestTimeoutMs: number;
  private stateValue: ConnectionState = "idle";
  private connection: Connection | undefined;
  private authenticated = false;
  private generation = 0;
  private attempt = 0;
  private stopped = false;
  private everOnline = false;
  private userIdValue: string | undefined;
  private maxFrameBytesValue = 0;
  private room: string | undefined;
  /** Users whose presence this client watches; watched again after a reconnect. */
  private readonly watched = new Set<string>();
  private loaded: Promise<void> | undefined;
  private connectWaiter: { resolve(): void; reject(e: Error): void } | undefined;
  private readyWaiters = new Set<() => void>();
  private timers: {
    reconnect?: ReturnType<typeof setTimeout>;
    refresh?: ReturnType<typeof setTimeout>;
    ping?: ReturnType<typeof setInterval>;
    gap?: ReturnType<typeof setTimeout>;
    ack?: ReturnType<typeof setTimeout>;
  } = {};

  /** Creates a client; nothing is sent before {@link TidingsClient.connect}. */
  constructor(options: TidingsClientOptions) {
    super();
    this.options = options;
    this.WebSocketImpl = options.WebSocket ?? globalWebSocket();
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.engine = new SyncEngine({
      deviceId: options.deviceId,
      store: options.store ?? new MemoryStore(),
      requestTimeoutMs: this.requestTimeoutMs,
      pullLimit: options.pullLimit ?? 0,
      rememberedMessageIds: options.rememberedMessageIds ?? 10_000,
      persistedMessageIds: options.persistedMessageIds ?? 1_000,
      roamLimit: options.roamLimit ?? 50,
      decompress: options.decompress,
      deliver: (message) => this.emitAndWait("message", message),
      onRead: (conversationId, readSeq) => this.emit("read", { conversationId, readSeq }),
      onTruncated: (checkpoint, conversationIds) => this.emit("truncated", { checkpoint, conversationIds }),
    });
  }

  /** The current connection state. */
  get state(): ConnectionState {
    return this.stateValue;
  }

  /** The user id the server derived from the token; `undefined` before the first `Welcome`. */
  get userId(): string | undefined {
    return this.userIdValue;
  }

  /** This device's id. */
  get deviceId(): string {
    return this.options.deviceId;
  }

  /** The last inbox seq applied and saved. */
  get checkpoint(): bigint {
    return this.engine.durableCheckpoint;
  }

  /** Largest frame either way, from `Welcome` (0 before it). */
  get maxFrameBytes(): number {
    return this.maxFrameBytesValue;
  }

  /** Whether any pull so far said inbox entries had expired (see the `truncated` event). */
  get wasTruncated(): boolean {
    return this.engine.wasTruncated;
  }

  /** Highest conv seq this device has applied in a conversation (0 if none). */
  conversationCursor(conversationId: string): bigint {
    return this.engine.timeline.cursor(conversationId);
  }

  /** The user's read position in a conversation as far as this device heard (0 if none). */
  readPosition(conversationId: string): bigint {
    return this.engine.timeline.readPosition(conversationId);
  }

  /**
   * Loads the saved state, connects, says hello with the checkpoint and pulls
   * until caught up. Resolves once online. Rejects when the server refuses
   * the first hello (a bad token: a {@link ServerError} with code
   * `UNAUTHENTICATED`), or when the first attempt fails and `reconnect` is
   * `false`; otherwise failed attempts are retried with backoff.
   */
  connect(): Promise<void> {
    if (this.stopped) return Promise.reject(new ClientClosedError());
    if (this.stateValue !== "idle") return this.waitOnline();
    const online = this.waitOnline();
    this.loaded = this.engine.load();
    void this.startAttempt();
    return online;
  }

  /**
   * Closes the connection for good. Resolves once the sync step under way
   * (if any) has ended, so nothing is handed over after it.
   */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimers();
    this.generation++;
    const connection = this.connection;
    this.connection = undefined;
    this.authenticated = false;
    connection?.close(1000, "client closed");
    this.connectWaiter?.reject(new ClientClosedError());
    this.connectWaiter = undefined;
    for (const wake of this.readyWaiters) wake();
    this.setState("closed");
    await this.engine.idle();
  }

  /**
   * Drops the current connection as if the network had failed: the client
   * reconnects with backoff and pulls. For tests and for applications that
   * know the network changed.
   */
  dropConnection(): void {
    this.connection?.abandon("dropped by the application");
  }

  /** Pulls now (the client also does on every push that reveals a gap and on reconnect). */
  async syncNow(): Promise<void> {
    const connection = await this.ready(Date.now() + this.requestTimeoutMs);
    await this.engine.run(() => this.engine.pullAll(connection));
    this.ackSoon(0);
  }

  /**
   * Sends a message and resolves with its `SendAck` once it is stored and in
   * every member's inbox. Resends with the same client message id while the
   * outcome is unknown (connection lost, `RETRY`, `UNAVAILABLE`, no answer)
   * until `sendTimeoutMs`; the server stores it once. Other refusals reject
   * with a {@link ServerError} (e.g. `RATE_LIMITED` with `retryAfterMs`:
   * nothing was stored).
   *
   * @param conversationId - `dm:<a>:<b>` (see {@link dmConversationId}) or `g:<group>`
   * @param body - bytes, or a string sent as UTF-8
   */
  async send(conversationId: string, body: Uint8Array | string, options: SendOptions = {}): Promise<SendAck> {
    const clientMsgId = options.clientMsgId ?? randomId();
    const frame: ClientFrameInit = {
      case: "send",
      value: {
        conversationId,
        clientMsgId,
        kind: options.kind ?? "text",
        body: typeof body === "string" ? encoder.encode(body) : body,
      },
    };
    return this.sendFrame(frame);
  }

  /**
   * Replaces the body of one of the caller's messages (within the server's
   * edit window): appends a `tidings.edit` event. A send: retried like
   * {@link TidingsClient.send}, stored once. Refusals reject with a
   * {@link ServerError} (`UNKNOWN_MESSAGE`, `EDIT_WINDOW_PASSED`,
   * `MESSAGE_REMOVED`, `FORBIDDEN`).
   */
  async editMessage(conversationId: string, target: MessageTarget, body: Uint8Array | string, options: { clientMsgId?: string } = {}): Promise<SendAck> {
    const bytes = typeof body === "string" ? encoder.encode(body) : body;
    const clientMsgId = options.clientMsgId ?? randomId();
    return this.sendFrame({ case: "editMessage", value: { conversationId, clientMsgId, target: refOf(target), body: bytes } });
  }

  /** Recalls one of the caller's messages (within the edit window): a `tidings.recall` event. */
  async recallMessage(conversationId: string, target: MessageTarget, options: { clientMsgId?: string } = {}): Promise<SendAck> {
    const clientMsgId = options.clientMsgId ?? randomId();
    return this.sendFrame({ case: "recallMessage", value: { conversationId, clientMsgId, target: refOf(target) } });
  }

  /** Deletes a message for everyone (a group's owner; in a 1:1 the sender): a `tidings.delete` event. */
  async deleteMessage(conversationId: string, target: MessageTarget, options: { clientMsgId?: string } = {}): Promise<SendAck> {
    const clientMsgId = options.clientMsgId ?? randomId();
    return this.sendFrame({ case: "deleteMessage", value: { conversationId, clientMsgId, target: refOf(target) } });
  }

  /**
   * Adds the caller's emoji reaction to a message, or takes it back with
   * `remove`: a `tidings.reaction` event (`TOO_MANY_REACTIONS` past the
   * server's limit of distinct emoji).
   */
  async react(conversationId: string, target: MessageTarget, emoji: string, options: { remove?: boolean; clientMsgId?: string } = {}): Promise<SendAck> {
    const clientMsgId = options.clientMsgId ?? randomId();
    return this.sendFrame({ case: "react", value: { conversationId, clientMsgId, target: refOf(target), emoji, remove: options.remove ?? false } });
  }

  /** Sends a send-like frame, resending it while the outcome is unknown (see {@link TidingsClient.send}). */
  private async sendFrame(frame: ClientFrameInit): Promise<SendAck> {
    const deadline = Date.now() + (this.options.sendTimeoutMs ?? 30_000);
    for (let attempt = 0; ; attempt++) {
      try {
        const connection = await this.ready(deadline);
        const left = Math.max(1, Math.min(this.requestTimeoutMs, deadline - Date.now()));
        return await connection.request(frame, "sendAck", left);
      } catch (e) {
        const unknownOutcome =
          e instanceof ConnectionClosedError || e instanceof TimeoutError || (e instanceof ServerError && e.retryable);
        if (!unknownOutcome || this.stopped || Date.now() >= deadline) throw e;
        await sleep(Math.min(backoffDelay(attempt, { initialDelayMs: 50, maxDelayMs: 2_000 }), Math.max(0, deadline - Date.now())));
      }
    }
  }

  /**
   * One page of a conversation's history, newest first (roaming).
   *
   * @param options.before - messages with `conv_seq < before`; absent or 0 for the newest
   * @param options.limit - page size; 0 or absent lets the server choose
   */
  async history(conversationId: string, options: { before?: bigint; limit?: number } = {}): Promise<HistoryPage> {
    const page = await this.call(
      { case: "history", value: { conversationId, before: options.before ?? 0n, limit: options.limit ?? this.options.pullLimit ?? 0 } },
      "historyResult",
    );
    const last = page.messages[page.messages.length - 1];
    return { messages: page.messages, hasMore: page.hasMore, nextBefore: page.hasMore && last !== undefined ? last.convSeq : undefined };
  }

  /** Every page of a conversation's history, newest first, fetched as the loop asks for them. */
  async *historyPages(conversationId: string, options: { limit?: number } = {}): AsyncGenerator<HistoryPage> {
    let before = 0n;
    for (;;) {
      const page = await this.history(conversationId, { before, limit: options.limit ?? 0 });
      yield page;
      if (page.nextBefore === undefined) return;
      before = page.nextBefore;
    }
  }

  /** Creates a group (conversation `g:<group_id>`) with the caller as owner. */
  createGroup(options: CreateGroupOptions = {}): Promise<GroupResult> {
    return this.call(
      { case: "createGroup", value: { groupId: options.groupId ?? "", name: options.name ?? "", memberIds: [...(options.memberIds ?? [])] } },
      "groupResult",
    );
  }

  /** Adds members to a group; a membership event goes into its timeline. */
  addMembers(groupId: string, userIds: readonly string[]): Promise<GroupResult> {
    return this.call({ case: "addMembers", value: { groupId, userIds: [...userIds] } }, "groupResult");
  }

  /** Removes members (the owner may remove anyone, a member only itself). */
  removeMembers(groupId: string, userIds: readonly string[]): Promise<GroupResult> {
    return this.call({ case: "removeMembers", value: { groupId, userIds: [...userIds] } }, "groupResult");
  }

  /** Leaves a group: removes the caller. */
  async leaveGroup(groupId: string): Promise<GroupResult> {
    await this.ready(Date.now() + this.requestTimeoutMs);
    return this.removeMembers(groupId, [this.userIdValue ?? ""]);
  }

  /** One page of a group's members, by user id. */
  async listMembers(groupId: string, options: { after?: string; limit?: number } = {}): Promise<MembersPage> {
    const page = await this.call({ case: "listMembers", value: { groupId, after: options.after ?? "", limit: options.limit ?? 0 } }, "membersResult");
    const last = page.members[page.members.length - 1];
    return { members: page.members, hasMore: page.hasMore, nextAfter: page.hasMore && last !== undefined ? last.userId : undefined };
  }

  /** Every member of a group, page after page. */
  async *members(groupId: string, options: { limit?: number } = {}): AsyncGenerator<Member> {
    let after = "";
    for (;;) {
      const page = await this.listMembers(groupId, { after, limit: options.limit ?? 0 });
      yield* page.members;
      if (page.nextAfter === undefined) return;
      after = page.nextAfter;
    }
  }

  /** The caller's groups. */
  async listGroups(): Promise<GroupResult[]> {
    return (await this.call({ case: "listGroups", value: {} }, "groupsResult")).groups;
  }

  /**
   * Moves the user's read position in a conversation forward (never back);
   * resolves with the position recorded, which may be higher than asked
   * (another device read further). Every device of the user hears of it.
   */
  async markRead(conversationId: string, readSeq: bigint): Promise<bigint> {
    const result = await this.call({ case: "readAck", value: { conversationId, readSeq } }, "readAckResult");
    if (this.engine.timeline.noteReadPosition(result.conversationId, result.readSeq)) {
      this.emit("read", { conversationId: result.conversationId, readSeq: result.readSeq });
    }
    return result.readSeq;
  }

  /**
   * The user's conversations, most recent first, each with its unread count
   * (messages from others after the read position) and `latest` newest
   * messages (0 to 50).
   */
  async conversationList(options: { latest?: number } = {}): Promise<ConversationSummary[]> {
    return (await this.call({ case: "conversationList", value: { latest: options.latest ?? 0 } }, "conversationListResult")).conversations;
  }

  /**
   * Joins a live room, leaving the one this connection was in. The client
   * joins it again after a reconnect. Room messages arrive as `roomMessage`
   * events and are never stored.
   */
  async joinRoom(roomId: string): Promise<string> {
    const result = await this.call({ case: "roomJoin", value: { roomId } }, "roomResult");
    this.room = result.roomId === "" ? undefined : result.roomId;
    return result.roomId;
  }

  /** Leaves the current room. */
  async leaveRoom(): Promise<void> {
    await this.call({ case: "roomLeave", value: {} }, "roomResult");
    this.room = undefined;
  }

  /**
   * Tells the conversation's other members' online devices that this user is
   * typing (a member only, else `NOT_MEMBER`). The server forwards at most one
   * per connection and conversation every few seconds; resolves whether this
   * one was forwarded. Call it again while the user keeps typing.
   */
  async typing(conversationId: string): Promise<boolean> {
    const result = await this.call({ case: "typing", value: { conversationId } }, "typingResult");
    return result.forwarded;
  }

  /**
   * Watches the presence of `userIds`: a `presence` event reports each newly
   * watched user's current state, then every change. The client watches them
   * again after a reconnect. Past the server's cap the call rejects with
   * `RATE_LIMITED` and the watches held stay. Resolves how many users are watched.
   */
  async watchPresence(userIds: string[]): Promise<number> {
    const result = await this.call({ case: "presenceSubscribe", value: { userIds } }, "presenceResult");
    for (const id of userIds) this.watched.add(id);
    return result.watching;
  }

  /** Stops watching `userIds` (every user when empty); resolves how many are still watched. */
  async unwatchPresence(userIds: string[] = []): Promise<number> {
    const result = await this.call({ case: "presenceUnsubscribe", value: { userIds } }, "presenceResult");
    if (userIds.length === 0) this.watched.clear();
    for (const id of userIds) this.watched.delete(id);
    return result.watching;
  }

  /** Sends an ephemeral message to everyone in a room this connection is in (else `NOT_MEMBER`). */
  async sendToRoom(roomId: string, body: Uint8Array | string, options: { kind?: string } = {}): Promise<void> {
    await this.call(
      { case: "roomSend", value: { roomId, kind: options.kind ?? "text", body: typeof body === "string" ? encoder.encode(body) : body } },
      "roomResult",
    );
  }

  /** A round trip to the gateway; resolves with its duration in ms. */
  async ping(): Promise<number> {
    const started = Date.now();
    await this.call({ case: "ping", value: { nonce: BigInt(started) } }, "pong");
    return Date.now() - started;
  }

  /** Adds a listener; returns a function that removes it. See {@link TidingsEvents}. */
  override on<K extends keyof TidingsEvents>(event: K, listener: (payload: TidingsEvents[K]) => void | Promise<void>): Unsubscribe {
    return super.on(event, listener);
  }

  protected override onListenerError(event: keyof TidingsEvents, error: unknown): void {
    if (event === "error") return;
    this.emit("error", error instanceof Error ? error : new Error(String(error)));
  }

  // --- connection life cycle -------------------------------------------------

  private waitOnline(): Promise<void> {
    if (this.stateValue === "online") return Promise.resolve();
    return new Promise((resolve, reject) => {
      const previous = this.connectWaiter;
      this.connectWaiter = {
        resolve: () => {
          previous?.resolve();
          resolve();
        },
        reject: (e) => {
          previous?.reject(e);
          reject(e);
        },
      };
    });
  }

  private async startAttempt(): Promise<void> {
    const generation = ++this.generation;
    this.authenticated = false;
    this.setState(this.everOnline ? "reconnecting" : "connecting");
    let connection: Connection | undefined;
    try {
      await this.loaded;
      const WebSocketImpl = this.WebSocketImpl;
      if (WebSocketImpl === undefined) {
        throw new ConnectionClosedError("no WebSocket here: pass options.WebSocket (on Node 20, WebSocket from the ws package)");
      }
      const token = await this.token();
      connection = await Connection.open(this.options.url, WebSocketImpl, this.requestTimeoutMs, {
        onUnsolicited: (frame) => this.onUnsolicited(generation, frame),
        onClose: (info) => this.onClosed(generation, info),
      });
      if (generation !== this.generation) {
        connection.close();
        return;
      }
      this.connection = connection;
      const welcome = await connection.request(
        {
          case: "hello",
          value: {
            token,
            deviceId: this.options.deviceId,
            checkpoint: this.engine.device.checkpoint,
            compressAbove: this.options.decompress === undefined ? 0 : (this.options.compressAbove ?? 8192),
          },
        },
        "welcome",
        this.requestTimeoutMs,
      );
      this.engine.adoptUser(welcome.userId);
      this.userIdValue = welcome.userId;
      this.maxFrameBytesValue = welcome.maxFrameBytes;
      this.authenticated = true;
      this.scheduleRefresh(generation, welcome.tokenExpiresAtMs);
      this.setState("syncing");
      for (const wake of this.readyWaiters) wake();
      await this.engine.run(() => this.engine.pullAll(connection as Connection));
      if (generation !== this.generation) return;
      this.ackSoon(0);
      if (this.room !== undefined) {
        await connection.request({ case: "roomJoin", value: { roomId: this.room } }, "roomResult", this.requestTimeoutMs);
      }
      if (this.watched.size > 0) {
        // Watches are per connection: the new one starts with none.
        const userIds = [...this.watched];
        for (let i = 0; i < userIds.length; i += PRESENCE_IDS_PER_FRAME) {
          const value = { userIds: userIds.slice(i, i + PRESENCE_IDS_PER_FRAME) };
          await connection.request({ case: "presenceSubscribe", value }, "presenceResult", this.requestTimeoutMs);
        }
      }
      this.attempt = 0;
      this.everOnline = true;
      this.startPing(generation);
      this.setState("online");
      this.connectWaiter?.resolve();
      this.connectWaiter = undefined;
    } catch (e) {
      if (generation !== this.generation) return;
      const error = e instanceof Error ? e : new Error(String(e));
      // A refused first hello is a configuration error (a bad token, a bad
      // device id): retrying cannot fix it, so connect() says so at once.
      const fatal = (!this.everOnline && error instanceof ServerError) || (this.options.reconnect === false && !this.everOnline);
      if (fatal) {
        this.stopped = true;
        this.connectWaiter?.reject(error);
        this.connectWaiter = undefined;
      }
      this.emit("error", error);
      // A connection that already ended was handled by onClosed.
      if (connection === undefined) this.afterDisconnect(error);
      else if (!connection.isClosed) connection.abandon("attempt failed");
    }
  }

  private onClosed(generation: number, info: CloseInfo): void {
    if (generation !== this.generation) return;
    const error =
      info.error ?? new ConnectionClosedError(`connection closed (code ${info.code}${info.reason === "" ? "" : `: ${info.reason}`})`, info.code);
    this.afterDisconnect(error);
  }

  private afterDisconnect(error: Error): void {
    this.clearTimers();
    this.connection = undefined;
    this.authenticated = false;
    if (this.stopped || this.options.reconnect === false) {
      this.stopped = true;
      this.connectWaiter?.reject(error);
      this.connectWaiter = undefined;
      for (const wake of this.readyWaiters) wake();
      this.setState("closed", error);
      return;
    }
    const delay = backoffDelay(this.attempt++, this.options.reconnect ?? {});
    this.setState("reconnecting", error, delay);
    this.timers.reconnect = setTimeout(() => void this.startAttempt(), delay);
  }

  private async token(): Promise<string> {
    const source = this.options.token;
    return typeof source === "string" ? source : await source();
  }

  /** Sends `Refresh` before the token expires, with the callback's new token. */
  private scheduleRefresh(generation: number, expiresAtMs: bigint): void {
    clearTimeout(this.timers.refresh);
    if (expiresAtMs === 0n) return;
    const left = Number(expiresAtMs) - Date.now();
    const margin = Math.min(this.options.refreshBeforeMs ?? 60_000, left / 2);
    this.timers.refresh = setTimeout(() => void this.refresh(generation, expiresAtMs), Math.max(0, left - margin));
  }

  private async refresh(generation: number, expiresAtMs: bigint): Promise<void> {
    const connection = this.connection;
    if (generation !== this.generation || connection === undefined) return;
    try {
      const token = await this.token();
      const refreshed = await connection.request({ case: "refresh", value: { token } }, "refreshed", this.requestTimeoutMs);
      this.scheduleRefresh(generation, refreshed.expiresAtMs);
    } catch (e) {
      this.emit("error", e instanceof Error ? e : new Error(String(e)));
      // The old expiry stands: try again while there is time; past it the
      // server closes the connection and the reconnect brings a new token.
      const left = Number(expiresAtMs) - Date.now();
      if (left > 2_000 && generation === this.generation) {
        this.timers.refresh = setTimeout(() => void this.refresh(generation, expiresAtMs), Math.min(5_000, left / 2));
      }
    }
  }

  private startPing(generation: number): void {
    const interval = this.options.pingIntervalMs ?? 25_000;
    if (interval <= 0) return;
    this.timers.ping = setInterval(() => {
      const connection = this.connection;
      if (generation !== this.generation || connection === undefined) return;
      connection.request({ case: "ping", value: { nonce: 0n } }, "pong", this.requestTimeoutMs).catch((e: unknown) => {
        // No pong in time: the socket is half-open (a vanished peer); only a
        // new connection finds out what was missed.
        if (e instanceof TimeoutError && generation === this.generation) connection.abandon("no pong");
      });
    }, interval);
  }

  private clearTimers(): void {
    clearTimeout(this.timers.reconnect);
    clearTimeout(this.timers.refresh);
    clearInterval(this.timers.ping);
    clearTimeout(this.timers.gap);
    clearTimeout(this.timers.ack);
    this.timers = {};
  }

  private setState(state: ConnectionState, error?: Error, retryInMs?: number): void {
    const previous = this.stateValue;
    if (previous === state && error === undefined) return;
    this.stateValue = state;
    const change: StateChange = { state, previous, ...(error === undefined ? {} : { error }), ...(retryInMs === undefined ? {} : { retryInMs }) };
    this.emit("state", change);
  }

  // --- frames the server sends unasked --------------------------------------

  private onUnsolicited(generation: number, frame: ServerFrame): void {
    const body = frame.frame;
    switch (body.case) {
      case "push": {
        const entry = body.value.entry;
        if (entry !== undefined) this.syncStep(generation, (c) => this.engine.handlePush(c, entry));
        return;
      }
      case "conversationPush": {
        const message = body.value.message;
        if (message !== undefined) this.syncStep(generation, (c) => this.engine.handleConversationPush(c, message));
        return;
      }
      case "roomMessage":
        this.emit("roomMessage", body.value);
        return;
      case "typingEvent":
        this.emit("typing", body.value);
        return;
      case "presenceEvent":
        this.emit("presence", body.value);
        return;
      case "error":
        this.emit("error", new ServerError(body.value, frame.requestId));
        return;
      default:
        // Late answers to requests that gave up, and frames of newer servers.
        return;
    }
  }

  /**
   * Runs a sync step for a frame of connection `generation`. A step that
   * fails drops the connection: the reconnect pulls from the saved
   * checkpoint, which is what the failed step would have needed anyway.
   */
  private syncStep(generation: number, step: (connection: Connection) => Promise<void>): void {
    this.engine
      .run(async () => {
        const connection = this.connection;
        if (generation !== this.generation || connection === undefined || !this.authenticated) return;
        await step(connection);
      })
      .then(() => {
        if (generation !== this.generation) return;
        this.ackSoon(this.options.ackDelayMs ?? 250);
        this.scheduleGapRetry(generation);
      })
      .catch((e: unknown) => {
        if (generation !== this.generation) return;
        // A lost connection is reported by the state change that follows it.
        if (!(e instanceof ConnectionClosedError)) this.emit("error", e instanceof Error ? e : new Error(String(e)));
        this.connection?.abandon("sync step failed");
      });
  }

  /** While pushes wait above a gap, pulls again now and then: the gap may close without a push (an abandoned seq). */
  private scheduleGapRetry(generation: number): void {
    if (!this.engine.device.hasGap || this.timers.gap !== undefined) return;
    this.timers.gap = setTimeout(() => {
      this.timers.gap = undefined;
      this.syncStep(generation, (c) => this.engine.pullAll(c));
    }, this.options.gapRetryMs ?? 200);
  }

  /** Acks the saved checkpoint after `delayMs`, one ack for a burst. */
  private ackSoon(delayMs: number): void {
    if (this.timers.ack !== undefined) return;
    this.timers.ack = setTimeout(() => {
      this.timers.ack = undefined;
      const connection = this.connection;
      if (connection === undefined || !this.authenticated) return;
      connection
        .request({ case: "ack", value: { checkpoint: this.engine.durableCheckpoint } }, "ackResult", this.requestTimeoutMs)
        .catch((e: unknown) => {
          // The server's record of the checkpoint is informational; a lost
          // connection takes the ack with it and the next one says the same.
          if (!(e instanceof ConnectionClosedError)) this.emit("error", e instanceof Error ? e : new Error(String(e)));
        });
    }, delayMs);
  }

  // --- requests ---------------------------------------------------------------

  /** Waits (until `deadline`) for an authenticated connection. */
  private async ready(deadline: number): Promise<Connection> {
    for (;;) {
      if (this.stopped) throw new ClientClosedError();
      // Not a ConnectionClosedError: send() would take that for a lost
      // connection and keep trying.
      if (this.stateValue === "idle") throw new TidingsError("not connected: call connect() first");
      const connection = this.connection;
      if (connection !== undefined && this.authenticated && !connection.isClosed) return connection;
      const left = deadline - Date.now();
      if (left <= 0) throw new TimeoutError("waiting for the connection", this.requestTimeoutMs);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.readyWaiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.readyWaiters.add(wake);
      });
    }
  }

  private async call<C extends ServerFrameCase>(frame: ClientFrameInit, expected: C): Promise<ServerFrameValue<C>> {
    const connection = await this.ready(Date.now() + this.requestTimeoutMs);
    return connection.request(frame, expected, this.requestTimeoutMs);
  }
}

/** Only the two fields that name a message, whatever object carried them (a `Message`, a `SendAck`). */
function refOf(target: MessageTarget): { messageId: string; convSeq: bigint } {
  return { messageId: target.messageId, convSeq: target.convSeq };
}

/** A random client message id (UUID v4 shape), from the platform's secure random source. */
function randomId(): string {
  const cryptoApi = (globalThis as { crypto?: Crypto }).crypto;
  if (cryptoApi !== undefined && typeof cryptoApi.randomUUID === "function") return cryptoApi.randomUUID();
  const bytes = new Uint8Array(16);
  if (cryptoApi !== undefined) cryptoApi.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
