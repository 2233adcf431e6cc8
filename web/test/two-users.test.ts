/** Two users in two browsers (separate contexts: separate storage) chat both ways. */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import type { Browser } from "playwright-core";

import { Shots, launch, openChatWith, send, signIn, waitForTexts, waitForUnread } from "./helpers/browser.js";
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

test("two users chat both ways, in order, with unread counts", { timeout: 90_000 }, async () => {
  const shots = new Shots("two-users");
  const dm = "dm:alice:bob";
  const alice = await signIn(await browser.newContext(), server.url(), "alice");
  const bob = await signIn(await browser.newContext(), server.url(), "bob");

  await openChatWith(alice, "bob");
  await send(alice, "hi bob");
  await shots.take(alice, "alice-sent-hi");

  // Bob is looking at nothing: the conversation appears in his list, unread.
  await waitForUnread(bob, dm, 1);
  assert.equal(await bob.locator(`#conversations li[data-conversation="${dm}"] .title`).textContent(), "alice");
  await shots.take(bob, "bob-has-1-unread");

  // Opening it shows the message and reads it: the badge goes.
  await bob.locator(`#conversations li[data-conversation="${dm}"]`).click();
  await waitForTexts(bob, ["hi bob"]);
  await waitForUnread(bob, dm, 0);
  await send(bob, "hi alice");
  await waitForTexts(alice, ["hi bob", "hi alice"]);
  await shots.take(alice, "alice-sees-bobs-reply");

  const expected = ["hi bob", "hi alice"];
  for (let i = 1; i <= 4; i++) {
    await send(alice, `alice ${i}`);
    await send(bob, `bob ${i}`);
    expected.push(`alice ${i}`, `bob ${i}`);
  }
  await waitForTexts(alice, expected);
  await waitForTexts(bob, expected);
  // Each side shows its own messages as its own.
  assert.deepEqual(await alice.locator("#messages .message.own .text").allTextContents(), expected.filter((t) => t.startsWith("hi bob") || t.startsWith("alice")));
  assert.deepEqual(await bob.locator("#messages .message.own .text").allTextContents(), expected.filter((t) => t.startsWith("hi alice") || t.startsWith("bob")));
  await shots.take(alice, "alice-conversation");
  await shots.take(bob, "bob-conversation");

  // Bob looks away (another conversation): alice's next messages count as unread for him.
  await openChatWith(bob, "nobody");
  await send(alice, "are you there?");
  await send(alice, "hello?");
  await waitForUnread(bob, dm, 2);
  await shots.take(bob, "bob-has-2-unread-elsewhere");
  await bob.locator(`#conversations li[data-conversation="${dm}"]`).click();
  await waitForTexts(bob, [...expected, "are you there?", "hello?"]);
  await waitForUnread(bob, dm, 0);
  await shots.take(bob, "bob-read-them");
});
