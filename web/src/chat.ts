/**
 * {@link ChatApp}: wires one {@link TidingsClient} (this tab's device) to the
 * model and the view. The SDK does the device rules (checkpoint, gaps,
 * pulls, dedupe, reconnects); this file only turns its events into what the
 * page shows and the user's clicks into requests.
 */

import {
  MEMBERS_KIND,
  TidingsClient,
  dmConversationId,
  type ConnectionState,
  type GroupResult,
  type Member,
  type Message,
} from "../../sdk/typescript/src/index.js";
import { ChatModel } from "./model.js";
import { ChatView, type Indicator } from "./view.js";

/** Messages per history page; `?page=N` in the URL changes it (the browser tests page through a few). */
const PAGE_SIZE = Number(new URLSearchParams(location.search).get("page") ?? "30") || 30;

/** What the page exposes for tests and for a curious developer's console. */
export interface ChatDebug {
  readonly deviceId: string;
  readonly userId: () => string;
  readonly checkpoint: () => string;
  /** Messages the SDK handed over since the page loaded (inbox pulls and pushes, not history pages). */
  readonly delivered: () => number;
}

export class ChatApp {
  private readonly model: ChatModel;
  private openId: string | undefined;
  private readonly groups = new Map<string, GroupResult>();
  private members: Member[] | undefined;
  private loadingOlder = false;
  private delivered = 0;
  private renderTimer: ReturnType<typeof setTimeout> | undefined;
  private readTimer: ReturnType<typeof setTimeout> | undefined;
  private listTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly client: TidingsClient,
    private readonly view: ChatView,
    expectedUserId: string,
    /** Forgets the sign-in; the page then reloads to the sign-in form. */
    private readonly forgetSignIn: () => void,
  ) {
    this.model = new ChatModel(expectedUserId);
  }

  get debug(): ChatDebug {
    return {
      deviceId: this.client.deviceId,
      userId: () => this.model.userId,
      checkpoint: () => this.client.checkpoint.toString(),
      delivered: () => this.delivered,
    };
  }

  /** Shows the chat and connects; rejects when the server refuses the token. */
  async start(): Promise<void> {
    this.view.showChat(this.model.userId, this.client.deviceId);
    this.client.on("state", ({ state, retryInMs }) => this.onState(state, retryInMs));
    this.client.on("message", (message) => this.onMessage(message));
    this.client.on("read", ({ conversationId, readSeq }) => {
      if (!this.model.setRead(conversationId, readSeq)) this.refreshListSoon();
      this.render();
    });
    this.client.on("error", (e) => console.warn("tidings:", e.message));
    this.bindDom();
    // Before the first attempt, the browser may already know it is offline.
    this.onState(this.client.state);
    await this.client.connect();
    await Promise.all([this.refreshList(), this.refreshGroups()]);
    const fromHash = decodeURIComponent(location.hash.slice(1));
    if (fromHash !== "") await this.open(fromHash);
  }

  // --- events of the SDK -----------------------------------------------------

  private onState(state: ConnectionState, retryInMs?: number): void {
    const [indicator, detail] = describeState(state, retryInMs);
    this.view.setStatus(indicator, detail);
    const userId = this.client.userId;
    if (state === "syncing" && userId !== undefined && userId !== this.model.userId) {
      this.model.userId = userId;
      this.view.showChat(userId, this.client.deviceId);
    }
    // Back online: unread counts may have moved while away.
    if (state === "online") this.refreshListSoon();
  }

  private onMessage(message: Message): void {
    this.delivered++;
    const { isNew, unreadCandidate } = this.model.add(message);
    if (!isNew) return;
    if (unreadCandidate) {
      if (this.isViewing(message.conversationId)) this.markReadSoon();
      else this.model.get(message.conversationId).unread++;
    }
    if (message.kind === MEMBERS_KIND) {
      if (!this.groups.has(message.conversationId)) void this.refreshGroups();
      if (message.conversationId === this.openId && this.view.membersShown()) void this.loadMembers();
    }
    this.render();
  }

  // --- what the user does ----------------------------------------------------

  private bindDom(): void {
    const view = this.view;
    view.conversations.addEventListener("click", (event) => {
      const item = (event.target as HTMLElement).closest<HTMLElement>("[data-conversation]");
      if (item !== null) void this.open(item.dataset["conversation"] ?? "");
    });
    view.compose.addEventListener("submit", (event) => {
      event.preventDefault();
      const input = view.compose.elements.namedItem("text") as HTMLInputElement;
      const text = input.value.trim();
      if (text === "" || this.openId === undefined) return;
      input.value = "";
      const clientMsgId = crypto.randomUUID();
      this.model.addPending(this.openId, clientMsgId, text);
      this.render();
      this.send(this.openId, clientMsgId, text);
    });
    view.scroller.addEventListener("click", (event) => {
      const retry = (event.target as HTMLElement).closest<HTMLElement>(".retry");
      const key = retry?.closest<HTMLElement>("[data-client-msg-id]")?.dataset["clientMsgId"];
      if (key === undefined || this.openId === undefined) return;
      const message = this.model.retry(this.openId, key);
      if (message !== undefined) this.send(this.openId, key, message.text);
      this.render();
    });
    view.older.addEventListener("click", () => void this.loadOlder());
    // Near the top while scrolling up: the next older page. Only upwards,
    // so the page's own scrolling (to the bottom, or keeping the reader's
    // place when a page is added above) never asks for more.
    let lastScrollTop = 0;
    view.scroller.addEventListener("scroll", () => {
      const top = view.scroller.scrollTop;
      if (top < 40 && top < lastScrollTop) void this.loadOlder();
      lastScrollTop = top;
    });
    view.newChat.addEventListener("submit", (event) => {
      event.preventDefault();
      const input = view.newChat.elements.namedItem("user") as HTMLInputElement;
      const other = input.value.trim();
      if (other === "") return;
      input.value = "";
      const id = dmConversationId(this.model.userId, other);
      this.model.get(id).activityMs ||= Date.now();
      void this.open(id);
    });
    view.newGroup.addEventListener("submit", (event) => {
      event.preventDefault();
      const form = view.newGroup.elements;
      const name = (form.namedItem("name") as HTMLInputElement).value.trim();
      const memberIds = (form.namedItem("members") as HTMLInputElement).value.split(/[\s,]+/).filter((id) => id !== "");
      void this.attempt(async () => {
        const group = await this.client.createGroup({ name, memberIds });
        view.newGroup.reset();
        this.groups.set(group.conversationId, group);
        this.model.get(group.conversationId).activityMs ||= Date.now();
        await this.open(group.conversationId);
      });
    });
    view.membersToggle.addEventListener("click", () => {
      if (view.toggleMembers()) void this.loadMembers();
    });
    view.addMember.addEventListener("submit", (event) => {
      event.preventDefault();
      const input = view.addMember.elements.namedItem("user") as HTMLInputElement;
      const user = input.value.trim();
      const groupId = this.openId?.startsWith("g:") === true ? this.openId.slice(2) : undefined;
      if (user === "" || groupId === undefined) return;
      void this.attempt(async () => {
        await this.client.addMembers(groupId, [user]);
        input.value = "";
        await this.loadMembers();
      });
    });
    view.signOut.addEventListener("click", () => {
      this.forgetSignIn();
      void this.client.close().then(() => location.assign(location.pathname + location.search));
    });
    window.addEventListener("hashchange", () => void this.open(decodeURIComponent(location.hash.slice(1))));
    document.addEventListener("visibilitychange", () => this.markReadSoon());
    // The browser knows about a lost network before a ping would: reconnect
    // (and show it) at once; the SDK pulls what was missed once back.
    window.addEventListener("offline", () => {
      this.client.dropConnection();
      this.onState(this.client.state);
    });
  }

  private send(conversationId: string, clientMsgId: string, text: string): void {
    // The same client msg id on a retry: the server stores the message once.
    this.client
      .send(conversationId, text, { clientMsgId })
      .then((ack) => this.model.confirm(conversationId, clientMsgId, ack))
      .catch((e: unknown) => {
        this.model.fail(conversationId, clientMsgId);
        this.view.notice(`not sent: ${e instanceof Error ? e.message : String(e)}`);
      })
      .finally(() => this.render());
  }

  private async open(conversationId: string): Promise<void> {
    if (conversationId === "" || conversationId === this.openId) return;
    this.openId = conversationId;
    this.members = undefined;
    if (location.hash.slice(1) !== encodeURIComponent(conversationId)) location.hash = encodeURIComponent(conversationId);
    this.render();
    const conversation = this.model.get(conversationId);
    if (!conversation.historyLoaded) await this.attempt(() => this.loadPage(conversationId, 0n));
    if (this.view.membersShown() && conversationId.startsWith("g:")) await this.loadMembers();
    this.markReadSoon();
  }

  private async loadOlder(): Promise<void> {
    const id = this.openId;
    if (id === undefined || this.loadingOlder || !this.model.get(id).hasOlder) return;
    this.loadingOlder = true;
    try {
      await this.attempt(() => this.loadPage(id, this.model.get(id).oldestLoaded));
    } finally {
      this.loadingOlder = false;
    }
  }

  /** One history page: the newest (`before` 0) or the one before `before`. */
  private async loadPage(conversationId: string, before: bigint): Promise<void> {
    const page = await this.client.history(conversationId, { before, limit: PAGE_SIZE });
    const conversation = this.model.get(conversationId);
    for (const message of page.messages) this.model.add(message);
    const oldest = page.messages[page.messages.length - 1]?.convSeq;
    if (oldest !== undefined && (conversation.oldestLoaded === 0n || oldest < conversation.oldestLoaded)) conversation.oldestLoaded = oldest;
    conversation.historyLoaded = true;
    conversation.hasOlder = page.hasMore;
    this.render();
  }

  private async loadMembers(): Promise<void> {
    const id = this.openId;
    if (id === undefined || !id.startsWith("g:")) return;
    this.view.renderMembers(this.members);
    const members: Member[] = [];
    await this.attempt(async () => {
      for await (const member of this.client.members(id.slice(2))) members.push(member);
      if (this.openId === id) this.view.renderMembers((this.members = members));
    });
  }

  // --- read positions and the list -------------------------------------------

  private isViewing(conversationId: string): boolean {
    return conversationId === this.openId && document.visibilityState === "visible";
  }

  /** Moves the read position to the newest message of the open conversation, if the user can see it. */
  private markReadSoon(): void {
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(() => {
      const id = this.openId;
      if (id === undefined || !this.isViewing(id)) return;
      // Not for the user's own messages alone: each move is an inbox entry
      // for every device of the user.
      if (!this.model.hasUnread(id)) return;
      this.client
        .markRead(id, this.model.get(id).lastSeq)
        .then((readSeq) => {
          if (!this.model.setRead(id, readSeq)) this.refreshListSoon();
          this.render();
        })
        .catch((e: unknown) => console.warn("tidings: mark read failed", e));
    }, 150);
  }

  private refreshListSoon(): void {
    clearTimeout(this.listTimer);
    this.listTimer = setTimeout(() => void this.refreshList(), 200);
  }

  /** The server's conversation list: unread counts and a preview for every conversation. */
  private async refreshList(): Promise<void> {
    await this.attempt(async () => {
      for (const summary of await this.client.conversationList({ latest: 1 })) this.model.applySummary(summary);
      this.render();
    });
  }

  private async refreshGroups(): Promise<void> {
    await this.attempt(async () => {
      for (const group of await this.client.listGroups()) this.groups.set(group.conversationId, group);
      this.render();
    });
  }

  // --- drawing ---------------------------------------------------------------

  private titleOf(conversationId: string): string {
    if (conversationId.startsWith("dm:")) {
      const [, a = "", b = ""] = conversationId.split(":");
      return a === this.model.userId ? b : a;
    }
    const group = this.groups.get(conversationId);
    return group !== undefined && group.name !== "" ? group.name : conversationId.slice(2);
  }

  /** Redraws once for a burst of changes. */
  private render(): void {
    if (this.renderTimer !== undefined) return;
    this.renderTimer = setTimeout(() => {
      this.renderTimer = undefined;
      const open = this.openId === undefined ? undefined : this.model.get(this.openId);
      this.view.renderList(this.model, this.openId, (id) => this.titleOf(id));
      this.view.renderConversation(this.model, open, open === undefined ? "" : this.titleOf(open.id), open?.id.startsWith("g:") === true);
    }, 0);
  }

  /** Runs a request; a failure is shown, not thrown (the page stays usable). */
  private async attempt(request: () => Promise<void>): Promise<void> {
    try {
      await request();
    } catch (e) {
      this.view.notice(e instanceof Error ? e.message : String(e));
    }
  }
}

function describeState(state: ConnectionState, retryInMs?: number): [Indicator, string] {
  if (!navigator.onLine && state !== "online") return ["offline", "offline: no network"];
  switch (state) {
    case "online":
      return ["online", "online"];
    case "idle":
    case "connecting":
    case "syncing":
      return ["connecting", state === "syncing" ? "catching up…" : "connecting…"];
    case "reconnecting":
      return ["offline", retryInMs === undefined ? "offline: reconnecting…" : `offline: retrying in ${Math.ceil(retryInMs / 1000)} s`];
    case "closed":
      return ["offline", "offline"];
  }
}
