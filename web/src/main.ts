/**
 * The web chat page: sign in, then one {@link ChatApp} for this tab.
 *
 * The token is kept in sessionStorage (this tab only), so a reload signs in
 * again by itself and resumes this tab's device from its checkpoint in
 * IndexedDB.
 */

import { ErrorCode, IndexedDbStore, ServerError, TidingsClient } from "../../sdk/typescript/src/index.js";
import { ChatApp, type ChatDebug } from "./chat.js";
import { claimDeviceId } from "./device.js";
import { ChatView } from "./view.js";

const TOKEN_KEY = "tidings.token";
const USER_ID = /^[A-Za-z0-9_.-]{1,64}$/;

declare global {
  interface Window {
    tidings?: ChatDebug;
  }
}

const view = new ChatView();

view.signInForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const form = view.signInForm.elements;
  const user = (form.namedItem("user") as HTMLInputElement).value.trim();
  const pasted = (form.namedItem("token") as HTMLTextAreaElement).value.trim();
  if (pasted === "" && !USER_ID.test(user)) {
    view.showSignIn("A user id is 1 to 64 letters, digits, '_', '.' or '-'.");
    return;
  }
  const token = pasted !== "" ? pasted : `dev:${user}`;
  sessionStorage.setItem(TOKEN_KEY, token);
  void start(token);
});

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved === null) view.showSignIn();
else void start(saved);

async function start(token: string): Promise<void> {
  const userId = userOfToken(token);
  const deviceId = await claimDeviceId(userId);
  const client = new TidingsClient({
    url: gatewayUrl(),
    token,
    deviceId,
    store: new IndexedDbStore(),
    // A page is looked at: come back quickly after a network change rather
    // than after the SDK's default backoff.
    reconnect: { initialDelayMs: 250, maxDelayMs: 2_000 },
  });
  const app = new ChatApp(client, view, userId, () => sessionStorage.removeItem(TOKEN_KEY));
  window.tidings = app.debug;
  try {
    await app.start();
  } catch (e) {
    // Only a refused first hello (a bad or expired token) ends up here; a
    // server that cannot be reached is retried and shown as offline.
    await client.close();
    sessionStorage.removeItem(TOKEN_KEY);
    const unauthenticated = e instanceof ServerError && e.code === ErrorCode.UNAUTHENTICATED;
    view.showSignIn(unauthenticated ? `Sign-in refused: ${e.serverMessage}` : `Cannot connect: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The gateway's WebSocket: the page's own origin, or `?ws=<url>` when the page is served from elsewhere. */
function gatewayUrl(): string {
  const override = new URLSearchParams(location.search).get("ws");
  if (override !== null && override !== "") return override;
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
}

/**
 * The user a token is for, to pick this tab's device id before connecting:
 * `dev:<user>`, or a JWT's `sub` (read, not verified: the server verifies).
 * The server's `Welcome` has the last word.
 */
function userOfToken(token: string): string {
  if (token.startsWith("dev:")) return token.slice(4);
  try {
    const payload = token.split(".")[1] ?? "";
    const claims: unknown = JSON.parse(atob(payload.replaceAll("-", "+").replaceAll("_", "/")));
    const sub = (claims as { sub?: unknown }).sub;
    if (typeof sub === "string" && USER_ID.test(sub)) return sub;
  } catch {
    // Not a JWT: the server will say whether it is a token at all.
  }
  return "unknown";
}
