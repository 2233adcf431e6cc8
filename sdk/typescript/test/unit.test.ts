/** The device rules, backoff and stores, without a server. */

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { create } from "@bufbuild/protobuf";
import { IDBFactory } from "fake-indexeddb";

import {
  DeviceState,
  ErrorCode,
  IndexedDbStore,
  MemoryStore,
  backoffDelay,
  dmConversationId,
  errorCodeName,
  type DeviceSnapshot,
  type DeviceStore,
  type InboxEntry,
} from "../src/index.js";
import { InboxEntrySchema, MessageSchema } from "../src/gen/tidings/common/v1/common_pb.js";
import { FileStore } from "../src/node.js";

function entry(seq: number, id = `m${seq}`): InboxEntry {
  return create(InboxEntrySchema, {
    seq: BigInt(seq),
    conversationId: "dm:a:b",
    convSeq: BigInt(seq),
    message: create(MessageSchema, { messageId: id, conversationId: "dm:a:b", convSeq: BigInt(seq) }),
  });
}

const seqs = (entries: readonly InboxEntry[]): number[] => entries.map((e) => Number(e.seq));

describe("device state", () => {
  it("applies a contiguous push and ignores a stale one", () => {
    const state = new DeviceState(4n);
    const outcome = state.handlePush(entry(5));
    assert.equal(outcome.kind, "applied");
    assert.equal(state.checkpoint, 5n);
    assert.equal(state.handlePush(entry(5)).kind, "stale");
    assert.equal(state.handlePush(entry(2)).kind, "stale");
  });

  it("holds pushes ahead of the checkpoint until the gap closes", () => {
    const state = new DeviceState(0n);
    assert.equal(state.handlePush(entry(3)).kind, "buffered");
    assert.equal(state.handlePush(entry(2)).kind, "buffered");
    assert.equal(state.checkpoint, 0n);
    assert.ok(state.hasGap);
    const outcome = state.handlePush(entry(1));
    assert.ok(outcome.kind === "applied");
    assert.deepEqual(seqs(outcome.entries), [1, 2, 3]);
    assert.equal(state.checkpoint, 3n);
    assert.ok(!state.hasGap);
  });

  it("a pull fills the gap and applies the buffered pushes above it", () => {
    const state = new DeviceState(10n);
    state.handlePush(entry(13));
    const applied = state.applyPage({ entries: [entry(11), entry(12)], head: 12n, hasMore: false });
    assert.deepEqual(seqs(applied), [11, 12, 13]);
    assert.equal(state.checkpoint, 13n);
  });

  it("moves to the head across empty seqs, or to the last entry when more follow", () => {
    const state = new DeviceState(0n);
    state.applyPage({ entries: [entry(1), entry(3)], head: 50n, hasMore: true });
    assert.equal(state.checkpoint, 3n);
    state.applyPage({ entries: [entry(5)], head: 9n, hasMore: false });
    assert.equal(state.checkpoint, 9n);
  });

  it("never moves the checkpoint backwards", () => {
    const state = new DeviceState(20n);
    assert.deepEqual(state.applyPage({ entries: [entry(3)], head: 7n, hasMore: false }), []);
    assert.equal(state.checkpoint, 20n);
  });

  it("drops buffered pushes a pull moved past (the pull is the truth)", () => {
    const state = new DeviceState(0n);
    state.handlePush(entry(2, "pushed"));
    state.handlePush(entry(6));
    const applied = state.applyPage({ entries: [entry(1), entry(3)], head: 4n, hasMore: false });
    assert.deepEqual(seqs(applied), [1, 3]);
    assert.deepEqual(state.bufferedSeqs(), [6n]);
  });
});

describe("backoff", () => {
  it("grows exponentially up to the cap, with jitter inside [d/2, d]", () => {
    const options = { initialDelayMs: 100, maxDelayMs: 1_000, multiplier: 2, jitter: 0.5 };
    assert.equal(backoffDelay(0, options, () => 1), 100);
    assert.equal(backoffDelay(0, options, () => 0), 50);
    assert.equal(backoffDelay(3, options, () => 1), 800);
    assert.equal(backoffDelay(10, options, () => 1), 1_000);
    assert.equal(backoffDelay(10, options, () => 0), 500);
  });
});

describe("helpers", () => {
  it("names 1:1 conversations with the ids in ascending byte order", () => {
    assert.equal(dmConversationId("bob", "alice"), "dm:alice:bob");
    assert.equal(dmConversationId("Zed", "adam"), "dm:Zed:adam", "upper case sorts first by byte");
  });

  it("names error codes as the docs do", () => {
    assert.equal(errorCodeName(ErrorCode.RATE_LIMITED), "rate_limited");
    assert.equal(errorCodeName(99 as ErrorCode), "unknown(99)");
  });
});

const snapshot: DeviceSnapshot = {
  version: 1,
  userId: "alice",
  checkpoint: "42",
  cursors: { "dm:alice:bob": "7" },
  readPositions: { "dm:alice:bob": "5" },
  recentMessageIds: ["m1", "m2"],
};

async function roundTrip(store: DeviceStore): Promise<void> {
  assert.equal(await store.load("phone"), undefined);
  await store.save("phone", snapshot);
  assert.deepEqual(await store.load("phone"), snapshot);
  await store.save("phone", { ...snapshot, checkpoint: "43" });
  assert.equal((await store.load("phone"))?.checkpoint, "43");
  assert.equal(await store.load("laptop"), undefined, "one snapshot per device");
}

describe("stores", () => {
  it("memory", async () => {
    await roundTrip(new MemoryStore());
  });

  it("file, ignoring a damaged file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tidings-file-store-"));
    try {
      await roundTrip(new FileStore(join(dir, "nested")));
      await writeFile(join(dir, "nested", "device-broken.json"), "{not json");
      assert.equal(await new FileStore(join(dir, "nested")).load("broken"), undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("IndexedDB", async () => {
    const store = new IndexedDbStore({ indexedDB: new IDBFactory() });
    await roundTrip(store);
    await store.close();
  });
});
