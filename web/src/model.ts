/**
 * What the page shows, independent of the DOM: the conversations with their
 * messages (from the SDK's `message` events, history pages and the
 * conversation list), read positions, unread counts and sends waiting for
 * their ack.
 */

import {
  MembershipEvent_Action,
  decodeMembershipEvent,
  textOf,
  type ConversationSummary,
  type Message,
  type SendAck,
} from "../../sdk/typescript/src/index.js";

export type MessageStatus = "sent" | "pending" | "failed";

export interface ChatMessage {
  /** Unique in its conversation: the message id, or `pending:<client msg id>` until the ack. */
  readonly key: string;
  readonly clientMsgId: string;
  /** 0 while pending. */
  readonly convSeq: bigint;
  readonly senderId: string;
  /** A membership change (shown as a line of its own), not something someone wrote. */
  readonly system: boolean;
  readonly text: string;
  readonly createdAtMs: number;
  readonly status: MessageStatus;
}

export interface Conversation {
  readonly id: string;
  /** Highest conv seq known in it. */
  lastSeq: bigint;
  /** The user's read position, shared by the user's devices. */
  readSeq: bigint;
  /** Messages from others after the read position. */
  unread: number;
  /** Sent and received messages by key; pending ones by `pending:<client msg id>`. */
  readonly messages: Map<string, ChatMessage>;
  /** Whether the newest history page was fetched. */
  historyLoaded: boolean;
  /** Lowest conv seq fetched through history: the next page is before it. */
  oldestLoaded: bigint;
  /** Whether history has messages before `oldestLoaded`. */
  hasOlder: boolean;
  /** When something last happened, for the list order. */
  activityMs: number;
}

export class ChatModel {
  private readonly conversations = new Map<string, Conversation>();

  /** Whose page this is; known for sure once the server's `Welcome` names it. */
  constructor(public userId: string) {}

  get(conversationId: string): Conversation {
    let conversation = this.conversations.get(conversationId);
    if (conversation === undefined) {
      conversation = {
        id: conversationId,
        lastSeq: 0n,
        readSeq: 0n,
        unread: 0,
        messages: new Map(),
        historyLoaded: false,
        oldestLoaded: 0n,
        hasOlder: false,
        activityMs: 0,
      };
      this.conversations.set(conversationId, conversation);
    }
    return conversation;
  }

  /** Conversations, most recent first. */
  list(): Conversation[] {
    return [...this.conversations.values()].sort((a, b) => b.activityMs - a.activityMs || a.id.localeCompare(b.id));
  }

  /**
   * Adds a message from any source. Returns whether it is new and written
   * by someone else after the read position (the caller counts it unread
   * unless the user is looking at it).
   */
  add(message: Message): { isNew: boolean; unreadCandidate: boolean } {
    const conversation = this.get(message.conversationId);
    if (conversation.messages.has(message.messageId)) return { isNew: false, unreadCandidate: false };
    // The ack or this copy, whichever comes first, replaces the pending line.
    conversation.messages.delete(`pending:${message.clientMsgId}`);
    conversation.messages.set(message.messageId, toChatMessage(message));
    if (message.convSeq > conversation.lastSeq) conversation.lastSeq = message.convSeq;
    conversation.activityMs = Math.max(conversation.activityMs, Number(message.createdAtMs));
    // Counted as the server counts (every message another user sent,
    // membership changes included), so the two agree.
    const fromOther = message.senderId !== this.userId;
    return { isNew: true, unreadCandidate: fromOther && message.convSeq > conversation.readSeq };
  }

  /** A send under way: shown at once, marked pending until its ack. */
  addPending(conversationId: string, clientMsgId: string, text: string): void {
    const conversation = this.get(conversationId);
    conversation.messages.set(`pending:${clientMsgId}`, {
      key: `pending:${clientMsgId}`,
      clientMsgId,
      convSeq: 0n,
      senderId: this.userId,
      system: false,
      text,
      createdAtMs: Date.now(),
      status: "pending",
    });
    conversation.activityMs = Date.now();
  }

  /** The ack of a send: the pending line becomes the stored message. */
  confirm(conversationId: string, clientMsgId: string, ack: SendAck): void {
    const conversation = this.get(conversationId);
    const pending = conversation.messages.get(`pending:${clientMsgId}`);
    conversation.messages.delete(`pending:${clientMsgId}`);
    if (pending !== undefined && !conversation.messages.has(ack.messageId)) {
      conversation.messages.set(ack.messageId, {
        ...pending,
        key: ack.messageId,
        convSeq: ack.convSeq,
        createdAtMs: Number(ack.createdAtMs),
        status: "sent",
      });
    }
    if (ack.convSeq > conversation.lastSeq) conversation.lastSeq = ack.convSeq;
  }

  /** A send that could not be confirmed: kept, marked failed, for a retry with the same id. */
  fail(conversationId: string, clientMsgId: string): void {
    const conversation = this.get(conversationId);
    const pending = conversation.messages.get(`pending:${clientMsgId}`);
    if (pending !== undefined) conversation.messages.set(pending.key, { ...pending, status: "failed" });
  }

  /** A retried send is pending again. */
  retry(conversationId: string, clientMsgId: string): ChatMessage | undefined {
    const conversation = this.get(conversationId);
    const failed = conversation.messages.get(`pending:${clientMsgId}`);
    if (failed === undefined) return undefined;
    conversation.messages.set(failed.key, { ...failed, status: "pending" });
    return failed;
  }

  /**
   * The read position moved (this device or another). Returns false when
   * the unread count cannot be known here (some unread messages are not
   * loaded): the caller asks the server's conversation list.
   */
  setRead(conversationId: string, readSeq: bigint): boolean {
    const conversation = this.get(conversationId);
    if (readSeq > conversation.readSeq) conversation.readSeq = readSeq;
    if (conversation.readSeq >= conversation.lastSeq) {
      conversation.unread = 0;
      return true;
    }
    return false;
  }

  /**
   * The server's view of a conversation. Its unread count stands, plus the
   * messages that reached this page after the server counted (above its
   * `lastConvSeq`), so a message arriving meanwhile is not lost from the
   * count.
   */
  applySummary(summary: ConversationSummary): void {
    for (const message of summary.latest) this.add(message);
    const conversation = this.get(summary.conversationId);
    if (summary.readSeq > conversation.readSeq) conversation.readSeq = summary.readSeq;
    if (summary.lastConvSeq > conversation.lastSeq) conversation.lastSeq = summary.lastConvSeq;
    let newer = 0;
    for (const message of conversation.messages.values()) {
      const counted = message.convSeq > summary.lastConvSeq && message.convSeq > conversation.readSeq;
      if (counted && message.senderId !== this.userId) newer++;
    }
    conversation.unread = Number(summary.unread) + newer;
  }

  /** Whether the user has something to read there: a count from the server, or a newer message from someone else. */
  hasUnread(conversationId: string): boolean {
    const conversation = this.get(conversationId);
    if (conversation.unread > 0) return true;
    for (const message of conversation.messages.values()) {
      if (message.convSeq > conversation.readSeq && message.senderId !== this.userId) return true;
    }
    return false;
  }

  /** Messages in timeline order: stored ones by conv seq, then pending ones as sent. */
  ordered(conversationId: string): ChatMessage[] {
    const messages = [...this.get(conversationId).messages.values()];
    const stored = messages.filter((m) => m.convSeq > 0n).sort((a, b) => (a.convSeq < b.convSeq ? -1 : a.convSeq > b.convSeq ? 1 : 0));
    const waiting = messages.filter((m) => m.convSeq === 0n).sort((a, b) => a.createdAtMs - b.createdAtMs);
    return [...stored, ...waiting];
  }

  /** The newest stored message, for the list's preview line. */
  latest(conversationId: string): ChatMessage | undefined {
    const ordered = this.ordered(conversationId);
    return ordered[ordered.length - 1];
  }
}

function toChatMessage(message: Message): ChatMessage {
  const event = decodeMembershipEvent(message);
  return {
    key: message.messageId,
    clientMsgId: message.clientMsgId,
    convSeq: message.convSeq,
    senderId: message.senderId,
    system: event !== undefined,
    text: event === undefined ? textOf(message) : describeMembership(event.action, event.actor, event.userIds),
    createdAtMs: Number(message.createdAtMs),
    status: "sent",
  };
}

function describeMembership(action: MembershipEvent_Action, actor: string, userIds: readonly string[]): string {
  const who = userIds.join(", ");
  switch (action) {
    case MembershipEvent_Action.CREATED: {
      // The creator is among the members it lists.
      const others = userIds.filter((id) => id !== actor).join(", ");
      return others === "" ? `${actor} created the group` : `${actor} created the group with ${others}`;
    }
    case MembershipEvent_Action.ADDED:
      return `${actor} added ${who}`;
    case MembershipEvent_Action.REMOVED:
      return userIds.length === 1 && userIds[0] === actor ? `${actor} left` : `${actor} removed ${who}`;
    default:
      return `${actor} changed the members`;
  }
}
