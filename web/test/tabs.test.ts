/**
 * Tabs of one user are devices of their own: a second tab shows the same
 * conversations and read positions, and a reload is the same device again,
 * resuming from its checkpoint in IndexedDB instead of pulling everything.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import type { Browser, Page } from "playwright-core";

import { Shots, launch, openChatWith, send, signIn, texts, waitForTexts, waitForUnread, waitOnline } from "./helpers/browser.js";
import { countFrames } from "./helpers/frames.js";
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

function deviceOf(page: Page): Promise<string | null> {
  return page.locator("#device").textContent();
}

test("a second tab of the same user shows the same conversation", { timeout: 90_000 }, async () => {
  const shots = new Shots("second-tab");
  const dm = "dm:carol:dave";
  const dave = await signIn(await browser.newContext(), server.url(), "dave");
  await openChatWith(dave, "carol");
  await send(dave, "one");
  await send(dave, "two");

  const carolContext = await browser.newContext();
  const first = await signIn(carolContext, server.url(), "carol");
  const second = await signIn(carolContext, server.url(), "carol");
  assert.notEqual(await deviceOf(first), await deviceOf(second), "two tabs must be two devices");
  await waitForUnread(first, dm, 2);
  await waitForUnread(second, dm, 2);
  await shots.take(second, "second-tab-has-2-unread");

  // Reading in the first tab moves the read position for every device.
  await first.locator(`#conversations li[data-conversation="${dm}"]`).click();
  await waitForTexts(first, ["one", "two"]);
  await waitForUnread(second, dm, 0);
  await shots.take(second, "second-tab-unread-dropped-after-first-tab-read");

  await second.locator(`#conversations li[data-conversation="${dm}"]`).click();
  await waitForTexts(second, ["one", "two"]);

  // A message sent from one tab appears in the other as carol's own.
  await send(first, "three from the first tab");
  await waitForTexts(second, ["one", "two", "three from the first tab"]);
  assert.deepEqual(await second.locator("#messages .message.own .text").allTextContents(), ["three from the first tab"]);
  await waitForTexts(dave, ["one", "two", "three from the first tab"]);
  await send(dave, "four");
  await waitForTexts(first, ["one", "two", "three from the first tab", "four"]);
  await waitForTexts(second, ["one", "two", "three from the first tab", "four"]);
  await shots.take(first, "first-tab");
  await shots.take(second, "second-tab-same-conversation");
});

test("a reload resumes from the stored checkpoint and pages history upwards", { timeout: 90_000 }, async () => {
  const shots = new Shots("reload");
  const dm = "dm:erin:frank";
  const all = Array.from({ length: 12 }, (_, i) => `message ${i + 1}`);
  const frank = await signIn(await browser.newContext(), server.url(), "frank");
  await openChatWith(frank, "erin");
  for (const text of all) await send(frank, text);

  // Erin's first tab is a new device: its first pull brings the whole inbox.
  // Short enough that two pages of history overflow and can be scrolled.
  const erin = await (await browser.newContext({ viewport: { width: 1000, height: 480 } })).newPage();
  const frames = countFrames(erin);
  await erin.goto(server.url("page=5"));
  await erin.locator("#sign-in-form input[name=user]").fill("erin");
  await erin.locator("#sign-in-form button[type=submit]").click();
  await waitOnline(erin);
  assert.deepEqual(frames.helloCheckpoints, [0n]);
  assert.ok(sum(frames.pulledEntries) >= all.length, `a new device pulls everything: ${frames.pulledEntries}`);
  await erin.locator(`#conversations li[data-conversation="${dm}"]`).click();
  await waitForTexts(erin, all);
  await waitForUnread(erin, dm, 0);
  const device = await deviceOf(erin);
  const checkpoint = await settledCheckpoint(erin);
  assert.ok(checkpoint > 0n);
  await shots.take(erin, "before-reload-all-12");

  const seen = { pulls: frames.pullsAfter.length, pulled: frames.pulledEntries.length, history: frames.history, pages: frames.historyMessages.length };
  await erin.reload();
  await waitOnline(erin);
  assert.equal(await deviceOf(erin), device, "a reload is the same device");
  // Hello says the saved checkpoint and nothing is pulled again.
  assert.equal(frames.helloCheckpoints.at(-1), checkpoint);
  assert.ok(frames.pullsAfter.slice(seen.pulls).every((after) => after >= checkpoint), `pulls after the reload: ${frames.pullsAfter}`);
  assert.equal(sum(frames.pulledEntries.slice(seen.pulled)), 0, "entries pulled again after the reload");

  // The open conversation comes back (from the URL) with one history page;
  // older pages come on demand, oldest at the top.
  await waitForTexts(erin, all.slice(-5));
  assert.equal(frames.history - seen.history, 1, "one history page after the reload");
  assert.deepEqual(frames.historyMessages.slice(seen.pages), [5]);
  await shots.take(erin, "after-reload-newest-page-of-5");
  await erin.locator("#older").click();
  await waitForTexts(erin, all.slice(-10));
  // The reader stays on the message they were reading; the page grew above it.
  assert.ok(await erin.locator("#messages-scroll").evaluate((element) => element.scrollTop > 40), "kept the reader's place");
  await shots.take(erin, "older-button-10-reader-kept-in-place");
  await erin.locator("#messages-scroll").evaluate((element) => element.scrollTo(0, 0));
  await waitForTexts(erin, all);
  assert.equal(await erin.locator("#older").isHidden(), true, "no older page left");
  await erin.locator("#messages-scroll").evaluate((element) => element.scrollTo(0, 0));
  await shots.take(erin, "scrolled-up-all-12");
  assert.deepEqual(await texts(erin), all);
});

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** The page's checkpoint once it has stopped moving (read positions land in the inbox too). */
async function settledCheckpoint(page: Page): Promise<bigint> {
  let last = "";
  for (let stable = 0; stable < 5; ) {
    await page.waitForTimeout(100);
    const now = await page.evaluate(() => window.tidings?.checkpoint() ?? "");
    stable = now === last ? stable + 1 : 0;
    last = now;
  }
  return BigInt(last);
}
