/**
 * The network goes away (Chromium's offline mode: no new connections, the
 * page told `offline`) and comes back: the page says so, keeps what the user
 * sends as pending, and catches up with what was sent meanwhile, in order.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import type { Browser } from "playwright-core";

import { Shots, exactly, launch, openChatWith, send, signIn, waitForTexts, waitOnline } from "./helpers/browser.js";
import { TestServer } from "./helpers/server.js";

let server: TestServer;
let browser: Browser;

before(async () => {
  server = await TestServer.start();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("after a network cut the page catches up, in order", { timeout: 90_000 }, async () => {
  const shots = new Shots("network-cut");
  const gina = await signIn(await browser.newContext(), server.url(), "gina");
  const hankContext = await browser.newContext();
  const hank = await signIn(hankContext, server.url(), "hank");
  await openChatWith(gina, "hank");
  await openChatWith(hank, "gina");
  await send(gina, "before the cut");
  await waitForTexts(hank, ["before the cut"]);
  await shots.take(hank, "online");

  await hankContext.setOffline(true);
  await hank.locator('#status[data-state="offline"]').waitFor({ timeout: 10_000 });
  const away = ["while away 1", "while away 2", "while away 3"];
  for (const text of away) await send(gina, text);
  // What hank writes meanwhile waits, marked as sending.
  await hank.locator("#compose input[name=text]").fill("written offline");
  await hank.locator("#compose button[type=submit]").click();
  const pending = hank.locator("#messages .message.pending", { has: hank.locator(".text", { hasText: exactly("written offline") }) });
  await pending.waitFor();
  assert.equal(await pending.locator(".meta").textContent(), "sending…");
  await hank.waitForTimeout(1_000);
  // Nothing of gina's arrives while cut off.
  await waitForTexts(hank, ["before the cut", "written offline"]);
  await shots.take(hank, "offline-with-a-pending-message");

  await hankContext.setOffline(false);
  await waitOnline(hank);
  const everything = ["before the cut", ...away, "written offline"];
  await waitForTexts(hank, everything);
  await hank.locator("#messages .message.sent .text", { hasText: exactly("written offline") }).waitFor();
  assert.equal(await hank.locator("#messages .message.pending").count(), 0);
  await shots.take(hank, "back-online-caught-up");
  await waitForTexts(gina, everything);
  await shots.take(gina, "sender-sees-the-same-order");

  // Conv seqs on the page go up top to bottom: the order is the timeline's.
  const seqs = (await hank.locator("#messages .message").evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset["seq"] ?? ""))).map(BigInt);
  assert.deepEqual([...seqs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), seqs);
  assert.equal(new Set(seqs).size, seqs.length);
});
