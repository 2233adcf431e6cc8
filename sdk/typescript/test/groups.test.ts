/** Groups, read positions and the conversation list over a real server. */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { MembershipEvent_Action, decodeMembershipEvent, dmConversationId, type ReadPositionChange } from "../src/index.js";
import { TestServer } from "./helpers/server.js";
import { collect, texts, waitFor } from "./helpers/wait.js";

describe("groups and read positions", () => {
  let server: TestServer;
  before(async () => {
    server = await TestServer.start();
  });
  after(async () => {
    await server.dispose();
  });

  it("create, add, list, remove and leave, with membership events in the timeline", async () => {
    const owner = server.client("olga", "o");
    const pete = server.client("pete", "p");
    const quinn = server.client("quinn", "q");
    const peteGot = collect(pete);
    await Promise.all([owner.connect(), pete.connect(), quinn.connect()]);

    const created = await owner.createGroup({ groupId: "crew", name: "Crew", memberIds: ["pete"] });
    assert.equal(created.owner, "olga");
    assert.equal(created.memberCount, 2n);
    const added = await pete.addMembers("crew", ["quinn", "rosa"]);
    assert.equal(added.memberCount, 4n);

    const members = [];
    for await (const member of owner.members("crew", { limit: 2 })) members.push(member);
    assert.deepEqual(
      members.map((m) => [m.userId, m.role]),
      [
        ["olga", "owner"],
        ["pete", "member"],
        ["quinn", "member"],
        ["rosa", "member"],
      ],
    );
    const firstPage = await owner.listMembers("crew", { limit: 3 });
    assert.equal(firstPage.hasMore, true);
    assert.equal(firstPage.nextAfter, "quinn");

    await owner.send("g:crew", "welcome all");
    assert.deepEqual((await quinn.listGroups()).map((g) => g.groupId), ["crew"]);
    await quinn.leaveGroup("crew");
    assert.deepEqual(await quinn.listGroups(), []);
    await owner.removeMembers("crew", ["rosa"]);
    await assert.rejects(quinn.send("g:crew", "still here?"), { name: "ServerError" });

    await waitFor("pete to see the removals", () => peteGot.filter((m) => m.kind === "tidings.members").length >= 4);
    const events = peteGot.map(decodeMembershipEvent).filter((e) => e !== undefined);
    assert.deepEqual(
      events.map((e) => [e.action, e.actor, [...e.userIds]]),
      [
        [MembershipEvent_Action.CREATED, "olga", ["olga", "pete"]],
        [MembershipEvent_Action.ADDED, "pete", ["quinn", "rosa"]],
        [MembershipEvent_Action.REMOVED, "quinn", ["quinn"]],
        [MembershipEvent_Action.REMOVED, "olga", ["rosa"]],
      ],
    );
    assert.deepEqual(texts(peteGot, "g:crew"), ["welcome all"]);
    await Promise.all([owner.close(), pete.close(), quinn.close()]);
  });

  it("read positions reach every device and the conversation list counts unread messages", async () => {
    const sam = server.client("sam", "s");
    const phone = server.client("tina", "phone");
    const laptop = server.client("tina", "laptop");
    const laptopReads: ReadPositionChange[] = [];
    laptop.on("read", (r) => void laptopReads.push(r));
    const phoneGot = collect(phone);
    await Promise.all([sam.connect(), phone.connect(), laptop.connect()]);
    const dm = dmConversationId("sam", "tina");
    await sam.createGroup({ groupId: "book-club", memberIds: ["tina"] });
    for (let i = 0; i < 4; i++) await sam.send(dm, `dm ${i}`);
    await sam.send("g:book-club", "club 0");
    await phone.send(dm, "tina's own message");

    await waitFor("the phone to get everything", () => texts(phoneGot).length === 6);
    const unread = async (): Promise<Map<string, bigint>> =>
      new Map((await phone.conversationList()).map((c) => [c.conversationId, c.unread]));
    // Own messages never count.
    assert.deepEqual(await unread(), new Map([[dm, 4n], ["g:book-club", 2n]]));

    const second = phoneGot.find((m) => texts([m])[0] === "dm 1")!;
    const recorded = await phone.markRead(dm, second.convSeq);
    assert.equal(recorded, second.convSeq);
    assert.equal((await unread()).get(dm), 2n, "dm 2 and dm 3 are left");
    await waitFor("the laptop to hear of the read position", () => laptop.readPosition(dm) === second.convSeq);
    assert.deepEqual(laptopReads.at(-1), { conversationId: dm, readSeq: second.convSeq });

    // Positions only move forward: an older one changes nothing.
    assert.equal(await laptop.markRead(dm, 1n), second.convSeq);
    const list = await laptop.conversationList({ latest: 2 });
    const summary = list.find((c) => c.conversationId === dm)!;
    assert.equal(summary.readSeq, second.convSeq);
    assert.deepEqual(texts(summary.latest), ["tina's own message", "dm 3"]);
    assert.equal(list[0]!.conversationId, dm, "most recent first");

    await laptop.markRead("g:book-club", 1_000_000n);
    assert.equal((await unread()).get("g:book-club"), 0n);
    await Promise.all([sam.close(), phone.close(), laptop.close()]);
  });
});
