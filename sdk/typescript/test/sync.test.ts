/** The device rules over a real server: reconnects, restarts, gaps. */

import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { dmConversationId, type ConnectionState } from "../src/index.js";
import { FileStore } from "../src/node.js";
import { TestServer } from "./helpers/server.js";
import { Tap } from "./helpers/tapped-websocket.js";
import { collect, duplicateIds, inConversationOrder, texts, waitFor } from "./helpers/wait.js";

describe("sync", () => {
  let server: TestServer;
  let storeDir: string;
  before(async () => {
    server = await TestServer.start();
    storeDir = await mkdtemp(join(tmpdir(), "tidings-sdk-store-"));
  });
  after(async () => {
    await server.dispose();
    await rm(storeDir, { recursive: true, force: true });
  });

  it("a dropped socket reconnects and resumes from the checkpoint: nothing lost, nothing twice", async () => {
    const alice = server.client("alice", "sender");
    const bob = server.client("bob", "flaky");
    const states: ConnectionState[] = [];
    bob.on("state", (change) => void states.push(change.state));
    const got = collect(bob);
    await alice.connect();
    await bob.connect();
    const dm = dmConversationId("alice", "bob");
    const sent = Array.from({ length: 30 }, (_, i) => `flaky ${i}`);
    // Alice keeps sending while bob's socket is cut five times, each time
    // once he is back online.
    const sending = (async () => {
      for (const text of sent) {
        await alice.send(dm, text);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    for (let drop = 0; drop < 5; drop++) {
      await waitFor("bob to be online", () => bob.state === "online");
      await new Promise((resolve) => setTimeout(resolve, 40));
      bob.dropConnection();
    }
    await sending;
    await waitFor("bob to get all 30", () => texts(got, dm).length >= 30);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(texts(got, dm), sent);
    assert.deepEqual(duplicateIds(got), []);
    assert.ok(states.filter((s) => s === "reconnecting").length >= 5, `reconnected every drop: ${states.join(",")}`);
    await alice.close();
    await bob.close();
  });

  it("a device restarted against a restarted server resumes from its stored checkpoint", async () => {
    const dm = dmConversationId("alice", "carol");
    const store = new FileStore(storeDir);
    const alice = server.client("alice", "before-restart");
    await alice.connect();
    const carol = server.client("carol", "desk", { store });
    const first = collect(carol);
    await carol.connect();
    for (let i = 0; i < 5; i++) await alice.send(dm, `old ${i}`);
    await waitFor("carol to get the first five", () => texts(first, dm).length === 5);
    // The listener returned, so the checkpoint is durable once the step ends.
    await carol.close();
    const saved = JSON.parse(await readFile(join(storeDir, "device-desk.json"), "utf8")) as { checkpoint: string; userId: string };
    assert.equal(saved.userId, "carol");
    assert.ok(BigInt(saved.checkpoint) > 0n);
    await alice.close();

    // A device that stays online through the restart, on the same port.
    const dana = server.client("dana", "always-on");
    const danaGot = collect(dana);
    await dana.connect();
    await server.restart({ samePort: true });

    const alice2 = server.client("alice", "after-restart");
    await alice2.connect();
    for (let i = 0; i < 5; i++) await alice2.send(dm, `new ${i}`);
    await alice2.send(dmConversationId("alice", "dana"), "to dana after the restart");

    const carolAgain = server.client("carol", "desk", { store });
    const second = collect(carolAgain);
    await carolAgain.connect();
    await waitFor("carol to get the five new ones", () => texts(second, dm).length >= 5);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(texts(second, dm), ["new 0", "new 1", "new 2", "new 3", "new 4"], "only what came after the stored checkpoint");
    assert.ok(carolAgain.checkpoint > BigInt(saved.checkpoint));

    await waitFor("dana to reconnect and get the message", () => texts(danaGot).length === 1, 15_000);
    assert.deepEqual(texts(danaGot), ["to dana after the restart"]);
    await Promise.all([alice2.close(), carolAgain.close(), dana.close()]);
  });

  it("pushes lost on the way open gaps that a pull fills, in inbox order, without duplicates", async () => {
    // Every third push is lost: the next one arrives ahead of the checkpoint.
    const tap = new Tap((n) => n % 3 === 0);
    const erin = server.client("erin", "lossy", { WebSocket: tap.webSocket() });
    const got = collect(erin);
    await erin.connect();
    const pullsAtStart = tap.count("pull");
    const senders = ["s1", "s2", "s3", "s4"].map((user) => server.client(user, "burst"));
    await Promise.all(senders.map((s) => s.connect()));
    // Many senders at once, each with several sends in flight.
    await Promise.all(
      senders.flatMap((sender, s) =>
        Array.from({ length: 15 }, (_, i) => sender.send(dmConversationId(`s${s + 1}`, "erin"), `s${s + 1}-${i}`)),
      ),
    );
    await waitFor("erin to get all 60", () => texts(got).length >= 60);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(tap.dropped > 0, "pushes were lost");
    assert.ok(tap.count("pull") > pullsAtStart, "the gaps were filled by pulls");
    assert.equal(texts(got).length, 60);
    assert.deepEqual(duplicateIds(got), []);
    assert.ok(inConversationOrder(got), "each conversation in conv seq order");

    // The order applied is the inbox order: what a fresh device pulls.
    const fresh = server.client("erin", "fresh");
    const pulled = collect(fresh);
    await fresh.connect();
    assert.deepEqual(
      got.map((m) => m.messageId),
      pulled.filter((m) => !m.kind.startsWith("tidings.")).map((m) => m.messageId),
    );
    await Promise.all([erin.close(), fresh.close(), ...senders.map((s) => s.close())]);
  });

  it("a message listener that fails gets the same message again, and the checkpoint waits for it", async () => {
    const alice = server.client("alice", "listener-test");
    const frank = server.client("frank", "fragile");
    const got: string[] = [];
    let failures = 0;
    frank.on("message", (m) => {
      const text = new TextDecoder().decode(m.body);
      if (text === "poison" && failures === 0) {
        failures++;
        throw new Error("disk full");
      }
      got.push(text);
    });
    const errors: Error[] = [];
    frank.on("error", (e) => void errors.push(e));
    await alice.connect();
    await frank.connect();
    const dm = dmConversationId("alice", "frank");
    for (const text of ["one", "poison", "three"]) await alice.send(dm, text);
    await waitFor("frank to get all three", () => got.length >= 3);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(got, ["one", "poison", "three"]);
    assert.ok(errors.some((e) => e.message === "disk full"), "the failure was reported");
    await Promise.all([alice.close(), frank.close()]);
  });
});
