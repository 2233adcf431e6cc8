/** Truncated inboxes, large groups (read diffusion) and messages that arrive two ways. */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { MemoryStore, dmConversationId, type TruncatedRecovery } from "../src/index.js";
import { TestServer } from "./helpers/server.js";
import { Tap } from "./helpers/tapped-websocket.js";
import { collect, duplicateIds, inConversationOrder, texts, waitFor } from "./helpers/wait.js";

describe("truncated inbox", () => {
  let server: TestServer;
  before(async () => {
    // The inbox keeps five entries: a device further behind is told `truncated`.
    server = await TestServer.start({ env: { TIDINGS__SYNC__MAX_INBOX_ENTRIES: "5" } });
  });
  after(async () => {
    await server.dispose();
  });

  it("recovers what expired through history, each message once and in order", async () => {
    const dm = dmConversationId("alice", "bob");
    const alice = server.client("alice", "a");
    await alice.connect();
    for (let i = 0; i < 8; i++) await alice.send(dm, `early ${i}`);

    // A new device, eight behind an inbox that keeps five.
    const store = new MemoryStore();
    const bob = server.client("bob", "late", { store });
    const recoveries: TruncatedRecovery[] = [];
    bob.on("truncated", (r) => void recoveries.push(r));
    const got = collect(bob);
    await bob.connect();
    assert.equal(recoveries.length, 1, "told truncated once");
    assert.deepEqual(recoveries[0]!.conversationIds, [dm]);
    assert.deepEqual(
      texts(got, dm),
      Array.from({ length: 8 }, (_, i) => `early ${i}`),
    );
    // The history pages and the five inbox entries carried the same
    // messages: dropped by message id.
    assert.deepEqual(duplicateIds(got), []);
    await bob.close();

    // The same device falls behind again: recovery stops at its cursor.
    for (let i = 0; i < 10; i++) await alice.send(dm, `later ${i}`);
    const bobAgain = server.client("bob", "late", { store });
    const again = collect(bobAgain);
    let truncatedAgain = false;
    bobAgain.on("truncated", () => void (truncatedAgain = true));
    await bobAgain.connect();
    assert.ok(truncatedAgain);
    assert.deepEqual(
      texts(again, dm),
      Array.from({ length: 10 }, (_, i) => `later ${i}`),
    );
    assert.deepEqual(duplicateIds(again), []);
    await Promise.all([alice.close(), bobAgain.close()]);
  });
});

describe("large groups", () => {
  let server: TestServer;
  before(async () => {
    // Groups of more than two members use read diffusion.
    server = await TestServer.start({ env: { TIDINGS__LOGIC__LARGE_GROUP_THRESHOLD: "2" } });
  });
  after(async () => {
    await server.dispose();
  });

  it("are followed from their heads and pushes, pulled from the cursor", async () => {
    const owner = server.client("owner", "o");
    await owner.connect();
    const group = await owner.createGroup({ groupId: "big", name: "big", memberIds: ["gina", "hugo"] });
    assert.equal(group.large, true, "three members > threshold two");
    assert.equal(group.conversationId, "g:big");

    const tap = new Tap();
    const online = server.client("gina", "online", { WebSocket: tap.webSocket() });
    const onlineGot = collect(online);
    await online.connect();
    for (let i = 0; i < 12; i++) await owner.send("g:big", `big ${i}`);
    const expected = Array.from({ length: 12 }, (_, i) => `big ${i}`);
    await waitFor("the online device to get all twelve", () => texts(onlineGot, "g:big").length >= 12);
    assert.deepEqual(texts(onlineGot, "g:big"), expected);

    // A device that was away: its inbox holds none of these; the pull's
    // conversation heads lead it to the group's store timeline.
    const offlineTap = new Tap();
    const offline = server.client("gina", "offline", { WebSocket: offlineTap.webSocket(), pullLimit: 5 });
    const offlineGot = collect(offline);
    await offline.connect();
    assert.deepEqual(texts(offlineGot, "g:big"), expected);
    assert.ok(offlineTap.count("pullConversation") >= 3, "paged the group's timeline, five at a time");
    assert.ok(inConversationOrder(offlineGot));
    assert.deepEqual(duplicateIds(offlineGot), []);
    assert.ok(offline.conversationCursor("g:big") >= 13n, "the creation event and twelve messages");
    await Promise.all([owner.close(), online.close(), offline.close()]);
  });

  it("a group that grows large and small again reaches an away device once, in order", async () => {
    const owner = server.client("owner", "o2");
    await owner.connect();
    await owner.createGroup({ groupId: "edge", memberIds: ["ivan"] });
    const ivanStore = new MemoryStore();
    const ivan = server.client("ivan", "phone", { store: ivanStore });
    const first = collect(ivan);
    await ivan.connect();
    await owner.send("g:edge", "small 1");
    await waitFor("ivan to follow the group", () => texts(first, "g:edge").length === 1);
    await ivan.close();

    // While ivan is away: large (no inbox entries), then small again.
    await owner.addMembers("edge", ["x1"]);
    await owner.send("g:edge", "large 1");
    await owner.send("g:edge", "large 2");
    await owner.removeMembers("edge", ["x1"]);
    await owner.send("g:edge", "small 2");
    await owner.send("g:edge", "small 3");

    // Back, with its state: the first inbox entry after the gap pulls the
    // group from the cursor, which brings "small 2" and "small 3" too;
    // their inbox entries then come again and are dropped by message id.
    const fresh = server.client("ivan", "phone", { store: ivanStore });
    const got = collect(fresh);
    await fresh.connect();
    assert.deepEqual(texts(got, "g:edge"), ["large 1", "large 2", "small 2", "small 3"]);
    assert.deepEqual(duplicateIds(got), []);
    assert.ok(inConversationOrder(got));
    await Promise.all([owner.close(), fresh.close()]);
  });
});
