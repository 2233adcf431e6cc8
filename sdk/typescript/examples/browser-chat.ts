/**
 * A minimal chat for a web page: the browser's WebSocket, the checkpoint in
 * IndexedDB, and a token from the product's backend. Bundle it with any
 * bundler, e.g.
 *
 *   npx esbuild examples/browser-chat.ts --bundle --format=esm --outfile=chat.js
 *
 * and load it from a page with `<ul id="log"></ul>`, `<form id="send"><input name="text"></form>`.
 */

import { IndexedDbStore, ServerError, TidingsClient, ErrorCode, textOf } from "../src/index.js";

/** Asks the product's backend for a fresh token (it mints them with the server API). */
async function fetchToken(): Promise<string> {
  const response = await fetch("/chat-token", { credentials: "include" });
  return response.text();
}

const client = new TidingsClient({
  url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`,
  token: fetchToken,
  deviceId: localStorage.getItem("tidings-device") ?? newDeviceId(),
  store: new IndexedDbStore(),
});

const log = document.getElementById("log") as HTMLUListElement;
const form = document.getElementById("send") as HTMLFormElement;
const conversationId = new URLSearchParams(location.search).get("c") ?? "g:lobby";

client.on("message", (message) => {
  if (message.conversationId !== conversationId || message.kind !== "text") return;
  const item = document.createElement("li");
  item.textContent = `${message.senderId}: ${textOf(message)}`;
  log.append(item);
});
client.on("state", ({ state }) => {
  document.title = state === "online" ? "chat" : `chat (${state})`;
});

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const input = form.elements.namedItem("text") as HTMLInputElement;
  const text = input.value;
  input.value = "";
  client.send(conversationId, text).catch((e: unknown) => {
    if (e instanceof ServerError && e.code === ErrorCode.RATE_LIMITED) {
      setTimeout(() => void client.send(conversationId, text), e.retryAfterMs ?? 1_000);
      return;
    }
    console.error("send failed", e);
  });
});

// The inbox brings what arrived since this device's checkpoint; older
// messages are a `client.history(conversationId, { before })` away.
await client.connect();

function newDeviceId(): string {
  const id = `web-${crypto.randomUUID().slice(0, 8)}`;
  localStorage.setItem("tidings-device", id);
  return id;
}
