/** Typing and presence (ephemeral) through the SDK, over a real server. */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { dmConversationId, proto, type PresenceEvent, type TypingEvent } from "../src/index.js";
import { TestServer } from "./helpers/server.js";
import { waitFor } from "./helpers/wait.js";

describe("typing and presence", () => {
  let server: TestServer;
  before(async () => {
    server = await TestServer.start({ env: { TIDINGS__GATEWAY__PRESENCE_MAX_SUBSCRIPTIONS: "2" } });
  });
  after(async () => {
    await server.dispose();
  });

  it("typing reaches the other member, throttled, and a non-member is refused", async () => {
    const alice = server.client("alice", "t1");
    const bob = server.client("bob", "t1");
    const dave = server.client("dave", "t1");
    const bobGot: TypingEvent[] = [];
    const aliceGot: TypingEvent[] = [];
    bob.on("typing", (event) => void bobGot.push(event));
    alice.on("typing", (event) => void aliceGot.push(event));
    await Promise.all([alice.connect(), bob.connect(), dave.connect()]);
    const dm = dmConversationId("alice", "bob");

    const forwarded = [];
    for (let i = 0; i < 10; i++) forwarded.push(await alice.typing(dm));
    assert.deepEqual(
      forwarded,
      forwarded.map((_, i) => i === 0),
      "one of a burst is forwarded",
    );
    await waitFor("bob to see alice typing", () => bobGot.length === 1);
    assert.equal(bobGot[0]?.userId, "alice");
    assert.equal(bobGot[0]?.conversationId, dm);
    assert.ok((bobGot[0]?.expiresAtMs ?? 0n) > BigInt(Date.now()));

    await assert.rejects(dave.typing(dm), { name: "ServerError", code: proto.ErrorCode.NOT_MEMBER });
    await bob.ping();
    assert.equal(bobGot.length, 1, "throttled and refused signals never arrive");
    assert.equal(aliceGot.length, 0, "the typist's own devices get nothing");
    await Promise.all([alice.close(), bob.close(), dave.close()]);
  });

  it("presence: current state, then connect and disconnect; the cap is enforced", async () => {
    const walt = server.client("walt", "p1");
    const got: PresenceEvent[] = [];
    walt.on("presence", (event) => void got.push(event));
    await walt.connect();
    assert.equal(await walt.watchPresence(["carol"]), 1);
    await waitFor("carol's current state", () => got.length === 1);
    assert.equal(got[0]?.online, false);

    const carol = server.client("carol", "p1");
    await carol.connect();
    await waitFor("carol online", () => got.length === 2);
    assert.equal(got[1]?.online, true);
    await carol.close();
    await waitFor("carol offline", () => got.length === 3);
    assert.equal(got[2]?.online, false);
    assert.ok((got[2]?.lastSeenMs ?? 0n) > 0n, "offline carries last seen");

    assert.equal(await walt.watchPresence(["erin"]), 2);
    await assert.rejects(walt.watchPresence(["frank"]), { name: "ServerError", code: proto.ErrorCode.RATE_LIMITED });
    await assert.rejects(walt.watchPresence([]), { name: "ServerError", code: proto.ErrorCode.INVALID_ARGUMENT });
    assert.equal(await walt.unwatchPresence(["erin"]), 1);
    assert.equal(await walt.unwatchPresence(), 0);
    await walt.close();
  });
});
