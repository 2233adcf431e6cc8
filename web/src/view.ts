/**
 * The DOM side: finds the elements of index.html and redraws them from the
 * model. It decides nothing; {@link ChatApp} calls it after each change.
 */

import type { Member } from "../../sdk/typescript/src/index.js";
import type { ChatMessage, ChatModel, Conversation } from "./model.js";

/** What the connection indicator says. */
export type Indicator = "online" | "connecting" | "offline";

/** Creates an element with attributes and children (strings become text: nothing is parsed as HTML). */
export function h(tag: string, attributes: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`index.html has no #${id}`);
  return element as T;
}

export class ChatView {
  readonly signIn = byId<HTMLElement>("sign-in");
  readonly signInForm = byId<HTMLFormElement>("sign-in-form");
  readonly chat = byId<HTMLElement>("chat");
  readonly signOut = byId<HTMLButtonElement>("sign-out");
  readonly newChat = byId<HTMLFormElement>("new-chat");
  readonly newGroup = byId<HTMLFormElement>("new-group");
  readonly conversations = byId<HTMLUListElement>("conversations");
  readonly older = byId<HTMLButtonElement>("older");
  readonly scroller = byId<HTMLElement>("messages-scroll");
  readonly compose = byId<HTMLFormElement>("compose");
  readonly membersToggle = byId<HTMLButtonElement>("show-members");
  readonly addMember = byId<HTMLFormElement>("add-member");
  private readonly messages = byId<HTMLOListElement>("messages");
  private renderedId: string | undefined;

  showSignIn(error = ""): void {
    this.chat.hidden = true;
    this.signIn.hidden = false;
    byId("sign-in-error").textContent = error;
    (this.signInForm.elements.namedItem("user") as HTMLInputElement).focus();
  }

  showChat(userId: string, deviceId: string): void {
    this.signIn.hidden = true;
    this.chat.hidden = false;
    byId("me").textContent = userId;
    byId("device").textContent = deviceId;
  }

  setStatus(indicator: Indicator, detail: string): void {
    const status = byId("status");
    status.dataset["state"] = indicator;
    byId("status-text").textContent = detail;
  }

  /** Shows a short message (an error from the server, say) for a few seconds. */
  notice(text: string): void {
    const notice = byId("notice");
    notice.textContent = text;
    notice.hidden = false;
    clearTimeout(Number(notice.dataset["timer"] ?? 0));
    notice.dataset["timer"] = String(setTimeout(() => (notice.hidden = true), 6_000));
  }

  renderList(model: ChatModel, openId: string | undefined, titleOf: (id: string) => string): void {
    const items = model.list().map((conversation) => {
      const latest = model.latest(conversation.id);
      const preview = latest === undefined ? "" : latest.system ? latest.text : `${latest.senderId}: ${latest.text}`;
      const item = h(
        "li",
        { "data-conversation": conversation.id, class: conversation.id === openId ? "open" : "" },
        h("span", { class: "title" }, titleOf(conversation.id)),
        h("span", { class: "preview" }, preview),
      );
      if (conversation.unread > 0) item.append(h("span", { class: "unread", title: "unread messages" }, String(conversation.unread)));
      return item;
    });
    this.conversations.replaceChildren(...items);
  }

  /**
   * Redraws the open conversation. Keeps the reader where they were: at the
   * bottom when they were at the bottom (new messages scroll in), else on
   * the message they were looking at (older pages grow above it).
   */
  renderConversation(model: ChatModel, conversation: Conversation | undefined, title: string, isGroup: boolean): void {
    byId("conversation").dataset["open"] = conversation?.id ?? "";
    byId("empty").hidden = conversation !== undefined;
    this.compose.hidden = conversation === undefined;
    this.scroller.hidden = conversation === undefined;
    byId("conversation-header").hidden = conversation === undefined;
    byId("title").textContent = title;
    this.membersToggle.hidden = !isGroup;
    if (!isGroup) byId("members-panel").hidden = true;
    if (conversation === undefined) {
      this.messages.replaceChildren();
      this.renderedId = undefined;
      return;
    }
    const scroller = this.scroller;
    const same = this.renderedId === conversation.id;
    const atBottom = !same || scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 48;
    const anchor = same ? (this.messages.firstElementChild as HTMLElement | null) : null;
    const anchorKey = anchor?.dataset["key"];
    const anchorOffset = anchor === null ? 0 : anchor.offsetTop - scroller.scrollTop;

    const items = model.ordered(conversation.id).map((m) => this.messageItem(m, model.userId));
    this.messages.replaceChildren(...items);
    this.older.hidden = !conversation.hasOlder;
    this.renderedId = conversation.id;

    // An older page arrived when the first message shown before is no
    // longer first: keep it where it was, the page grows above it.
    const again = anchorKey === undefined ? null : this.messages.querySelector<HTMLElement>(`[data-key="${CSS.escape(anchorKey)}"]`);
    if (again !== null && again !== this.messages.firstElementChild) scroller.scrollTop = again.offsetTop - anchorOffset;
    else if (atBottom) scroller.scrollTop = scroller.scrollHeight;
  }

  renderMembers(members: readonly Member[] | undefined): void {
    const list = byId<HTMLUListElement>("members");
    if (members === undefined) {
      list.replaceChildren(h("li", { class: "loading" }, "loading…"));
      return;
    }
    list.replaceChildren(...members.map((m) => h("li", { "data-user": m.userId }, m.userId, m.role === "owner" ? h("span", { class: "role" }, " owner") : "")));
  }

  toggleMembers(): boolean {
    const panel = byId("members-panel");
    panel.hidden = !panel.hidden;
    return !panel.hidden;
  }

  membersShown(): boolean {
    return !byId("members-panel").hidden;
  }

  private messageItem(message: ChatMessage, me: string): HTMLElement {
    if (message.system) return h("li", { class: "system", "data-key": message.key, "data-seq": String(message.convSeq) }, message.text);
    const classes = ["message", message.senderId === me ? "own" : "", message.status].filter((c) => c !== "").join(" ");
    const time = new Date(message.createdAtMs).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const meta = message.status === "pending" ? "sending…" : message.status === "failed" ? "not sent" : time;
    const item = h(
      "li",
      { class: classes, "data-key": message.key, "data-seq": String(message.convSeq), "data-client-msg-id": message.clientMsgId },
      h("span", { class: "sender" }, message.senderId),
      h("span", { class: "text" }, message.text),
      h("span", { class: "meta" }, meta),
    );
    if (message.status === "failed") item.append(h("button", { class: "retry", type: "button" }, "Retry"));
    return item;
  }
}
