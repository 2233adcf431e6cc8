/** Edits, recalls and reactions over a real server: applied by the SDK's folder, equal to History. */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { ErrorCode, MessageFolder, ServerError, dmConversationId, isEventKind, textOf, type Message } from "../src/index.js";
import { TestServer } from "./helpers/server.js";
import { collect, waitFor } from "./helpers/wait.js";

describe("edit, recall, delete and reactions", () => {
  let server: TestServer;
  before(async () => {
    server = await TestServer.start();
  });
  after(async () => {
    await server.dispose();
  });

  it("the folded messages a device received equal History", async () => {
    const amy = server.client("amy", "a");
    const ben = server.client("ben", "b");
    const benGot = collect(ben);
    await Promise.all([amy.connect(), ben.connect()]);
    const conv = dmConversationId("amy", "ben");

    const typo = await amy.send(conv, "helo");
    const oops = await amy.send(conv, "oops");
    await amy.editMessage(conv, typo, "hello");
    await ben.react(conv, typo, "👍");
    await amy.recallMessage(conv, oops);
    await assert.rejects(
      ben.deleteMessage(conv, typo),
      (e: unknown) => e instanceof ServerError && e.code === ErrorCode.FORBIDDEN,
    );
    await waitFor("five messages", () => benGot.filter((m) => m.conversationId === conv).length === 5);

    const folder = new MessageFolder();
    for (const m of benGot) folder.note(m);
    const shown = (messages: readonly Message[]) =>
      messages
        .filter((m) => m.conversationId === conv && !isEventKind(m.kind))
        .sort((a, b) => (a.convSeq < b.convSeq ? -1 : 1))
        .map((m) => {
          const s = m.state;
          return [textOf(m), s?.edited ?? false, s?.recalled ?? false, (s?.reactions ?? []).map((r) => [r.emoji, r.count, r.reactedByMe])];
        });
    const device = shown(benGot.map((m) => folder.current(m, "ben")));
    const history = shown((await ben.history(conv)).messages);
    assert.deepEqual(device, history);
    assert.deepEqual(device, [
      ["hello", true, false, [["👍", 1n, true]]],
      ["", false, true, []],
    ]);
    await Promise.all([amy.close(), ben.close()]);
  });
});
