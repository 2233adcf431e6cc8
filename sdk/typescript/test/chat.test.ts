/** Two users chatting, resends, history paging and rooms, over a real server. */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { dmConversationId, textOf, type RoomMessage } from "../src/index.js";
import { TestServer } from "./helpers/server.js";
import { collect, duplicateIds, inConversationOrder, texts, waitFor } from "./helpers/wait.js";

describe("chat", () => {
  let server: TestServer;
  before(async () => {
    server = await TestServer.start();
  });
  after(async () => {
    await server.dispose();
  });

  it("two users chat both ways, each message once and in order", async () => {
    const alice = server.client("alice", "a1");
    const bob = server.client("bob", "b1");
    const aliceGot = collect(alice);
    const bobGot = collect(bob);
    await alice.connect();
    await bob.connect();
    assert.equal(alice.userId, "alice");
    const dm = dmConversationId("bob", "alice");
    assert.equal(dm, "dm:alice:bob");
    for (let i = 0; i < 5; i++) {
      const ack = await alice.send(dm, `a->b ${i}`);
      assert.equal(ack.conversationId, dm);
      await bob.send(dm, `b->a ${i}`);
    }
    const expected = [0, 1, 2, 3, 4].flatMap((i) => [`a->b ${i}`, `b->a ${i}`]);
    await waitFor("both sides to have all ten", () => texts(aliceGot, dm).length === 10 && texts(bobGot, dm).length === 10);
    // Each device sees its own messages too (they are in the sender's inbox).
    assert.deepEqual(texts(bobGot, dm), expected);
    assert.deepEqual(texts(aliceGot, dm), expected);
    assert.ok(inConversationOrder(bobGot));
    assert.deepEqual(duplicateIds(bobGot), []);
    assert.ok(bob.checkpoint > 0n, "the checkpoint moved and was saved");
    await alice.close();
    await bob.close();
  });

  it("a resend with the same client message id is stored and delivered once", async () => {
    const alice = server.client("alice", "resend");
    const carol = server.client("carol", "c1");
    const carolGot = collect(carol);
    await alice.connect();
    await carol.connect();
    const dm = dmConversationId("alice", "carol");
    const first = await alice.send(dm, "only once", { clientMsgId: "fixed-id-1" });
    const again = await alice.send(dm, "only once", { clientMsgId: "fixed-id-1" });
    assert.equal(again.duplicate, true);
    assert.equal(again.messageId, first.messageId);
    await alice.send(dm, "after");
    await waitFor("carol to get the later message", () => texts(carolGot, dm).includes("after"));
    assert.deepEqual(texts(carolGot, dm), ["only once", "after"]);
    await alice.close();
    await carol.close();
  });

  it("pages history newest first, continuing from the last conv seq", async () => {
    const alice = server.client("alice", "history");
    await alice.connect();
    const dm = dmConversationId("alice", "dave");
    for (let i = 0; i < 25; i++) await alice.send(dm, `h${i}`);
    const pages = [];
    for await (const page of alice.historyPages(dm, { limit: 10 })) pages.push(page);
    assert.deepEqual(
      pages.map((p) => p.messages.length),
      [10, 10, 5],
    );
    assert.deepEqual(
      pages.map((p) => p.hasMore),
      [true, true, false],
    );
    const all = pages.flatMap((p) => p.messages.map(textOf));
    assert.deepEqual(all, Array.from({ length: 25 }, (_, i) => `h${24 - i}`));
    // Explicit paging from a `before`.
    const older = await alice.history(dm, { before: pages[0]!.nextBefore!, limit: 3 });
    assert.deepEqual(older.messages.map(textOf), ["h14", "h13", "h12"]);
    await alice.close();
  });

  it("room messages reach the room's members and nobody else", async () => {
    const alice = server.client("alice", "room-a");
    const bob = server.client("bob", "room-b");
    const eve = server.client("eve", "room-e");
    const bobRoom: RoomMessage[] = [];
    const eveRoom: RoomMessage[] = [];
    bob.on("roomMessage", (m) => void bobRoom.push(m));
    eve.on("roomMessage", (m) => void eveRoom.push(m));
    await Promise.all([alice.connect(), bob.connect(), eve.connect()]);
    assert.equal(await alice.joinRoom("lobby"), "lobby");
    await bob.joinRoom("lobby");
    await eve.joinRoom("elsewhere");
    await alice.sendToRoom("lobby", "hi room");
    await waitFor("bob's room message", () => bobRoom.length === 1);
    assert.equal(bobRoom[0]!.senderId, "alice");
    assert.equal(new TextDecoder().decode(bobRoom[0]!.body), "hi room");
    await bob.leaveRoom();
    await alice.sendToRoom("lobby", "second");
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(bobRoom.length, 1, "bob left the room");
    assert.equal(eveRoom.length, 0, "eve is in another room");
    await Promise.all([alice.close(), bob.close(), eve.close()]);
  });
});
