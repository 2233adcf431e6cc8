/** A group of three, made and grown through the page: members, messages, one order for all. */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import type { Browser, Page } from "playwright-core";

import { Shots, launch, send, signIn, waitForTexts, waitForUnread } from "./helpers/browser.js";
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

async function members(page: Page): Promise<string[]> {
  const shown = page.locator("#members li[data-user]");
  return (await shown.evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset["user"] ?? ""))).sort();
}

async function waitForMembers(page: Page, expected: readonly string[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  let shown: string[] = [];
  while (Date.now() < deadline) {
    shown = await members(page);
    if (JSON.stringify(shown) === JSON.stringify(expected)) return;
    await page.waitForTimeout(50);
  }
  throw new Error(`members shown: ${JSON.stringify(shown)}, not ${JSON.stringify(expected)}`);
}

test("a group of three: create, add a member, everyone sees the same conversation", { timeout: 90_000 }, async () => {
  const shots = new Shots("group");
  const ivy = await signIn(await browser.newContext(), server.url(), "ivy");
  const jon = await signIn(await browser.newContext(), server.url(), "jon");
  const kim = await signIn(await browser.newContext(), server.url(), "kim");

  await ivy.locator("#new-group input[name=name]").fill("Weekend trip");
  await ivy.locator("#new-group input[name=members]").fill("jon");
  await ivy.locator("#new-group button[type=submit]").click();
  await ivy.locator("#title", { hasText: "Weekend trip" }).waitFor();
  const conversationId = await ivy.locator("#conversation").getAttribute("data-open");
  assert.ok(conversationId?.startsWith("g:"), `opened ${conversationId}`);
  await ivy.locator("#messages .system", { hasText: "ivy created the group with jon" }).waitFor();

  await ivy.locator("#show-members").click();
  await waitForMembers(ivy, ["ivy", "jon"]);
  await ivy.locator("#add-member input[name=user]").fill("kim");
  await ivy.locator("#add-member button[type=submit]").click();
  await waitForMembers(ivy, ["ivy", "jon", "kim"]);
  assert.equal(await ivy.locator('#members li[data-user="ivy"] .role').textContent(), " owner");
  await ivy.locator("#messages .system", { hasText: "ivy added kim" }).waitFor();
  await shots.take(ivy, "created-and-added-kim");

  // The new members find it in their lists, by name.
  for (const page of [jon, kim]) {
    const item = page.locator(`#conversations li[data-conversation="${conversationId}"]`);
    await item.locator(".title", { hasText: "Weekend trip" }).waitFor();
    await item.click();
    await page.locator("#show-members").click();
    await waitForMembers(page, ["ivy", "jon", "kim"]);
    await waitForUnread(page, conversationId ?? "", 0);
  }
  await shots.take(kim, "kim-sees-the-group-and-its-members");

  await send(ivy, "where shall we go?");
  await waitForTexts(jon, ["where shall we go?"]);
  await send(jon, "the mountains");
  await waitForTexts(kim, ["where shall we go?", "the mountains"]);
  await send(kim, "the sea!");
  const conversation = ["where shall we go?", "the mountains", "the sea!"];
  for (const page of [ivy, jon, kim]) await waitForTexts(page, conversation);
  // Every member sees the same messages with the same conv seqs.
  const seqsOf = (page: Page) => page.locator("#messages .message").evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset["seq"]));
  const seqs = await seqsOf(ivy);
  assert.deepEqual(await seqsOf(jon), seqs);
  assert.deepEqual(await seqsOf(kim), seqs);
  await shots.take(ivy, "ivy-view");
  await shots.take(jon, "jon-view");
  await shots.take(kim, "kim-view");
});
