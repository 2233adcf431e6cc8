/** Typed errors with stable codes, rate limits, JWT refresh before expiry. */

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, it } from "node:test";

import { ErrorCode, ServerError, dmConversationId, type ConnectionState } from "../src/index.js";
import { TestServer } from "./helpers/server.js";
import { collect, texts, waitFor } from "./helpers/wait.js";

/** Rejects with a ServerError of `code`, and returns it. */
async function serverError(promise: Promise<unknown>, code: ErrorCode): Promise<ServerError> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof ServerError, `expected a ServerError, got ${String(e)}`);
    assert.equal(ErrorCode[e.code], ErrorCode[code], e.message);
    return e;
  }
  assert.fail(`expected ${ErrorCode[code]}, the request succeeded`);
}

describe("bad input", () => {
  let server: TestServer;
  before(async () => {
    server = await TestServer.start();
  });
  after(async () => {
    await server.dispose();
  });

  it("is refused with stable codes and the connection stays usable", async () => {
    const alice = server.client("alice", "a");
    await alice.connect();
    const unknown = await serverError(alice.send("no-such-conversation", "x"), ErrorCode.UNKNOWN_CONVERSATION);
    assert.equal(unknown.connectionKept, true);
    assert.equal(unknown.retryable, false);
    await serverError(alice.send(dmConversationId("bob", "carol"), "not mine"), ErrorCode.NOT_MEMBER);
    await serverError(alice.send(dmConversationId("alice", "bob"), new Uint8Array(40_000)), ErrorCode.BODY_TOO_LARGE);
    await serverError(alice.addMembers("no-such-group", ["bob"]), ErrorCode.UNKNOWN_GROUP);
    await serverError(alice.createGroup({ groupId: "bad id with spaces" }), ErrorCode.INVALID_ARGUMENT);
    await alice.createGroup({ groupId: "taken" });
    await serverError(alice.createGroup({ groupId: "taken" }), ErrorCode.ALREADY_EXISTS);
    // Nothing of the above broke the connection.
    const ack = await alice.send(dmConversationId("alice", "bob"), "fine");
    assert.ok(ack.convSeq > 0n);
    await alice.close();
  });

  it("a refused device id fails connect with its code instead of retrying", async () => {
    const client = server.client("alice", "not a valid device id!");
    await serverError(client.connect(), ErrorCode.INVALID_ARGUMENT);
    assert.equal(client.state, "closed");
  });
});

describe("rate limits", () => {
  let server: TestServer;
  before(async () => {
    server = await TestServer.start({
      env: {
        TIDINGS__GATEWAY__LIMITS__CONNECTION_SENDS_PER_SEC: "1",
        TIDINGS__GATEWAY__LIMITS__CONNECTION_SEND_BURST: "2",
      },
    });
  });
  after(async () => {
    await server.dispose();
  });

  it("say when to retry, and nothing was stored", async () => {
    const alice = server.client("alice", "hasty");
    await alice.connect();
    const dm = dmConversationId("alice", "bob");
    await alice.send(dm, "1");
    await alice.send(dm, "2");
    const limited = await serverError(alice.send(dm, "3", { clientMsgId: "third" }), ErrorCode.RATE_LIMITED);
    assert.ok(limited.retryAfterMs !== undefined && limited.retryAfterMs > 0 && limited.retryAfterMs <= 1_000, `retry after ${limited.retryAfterMs}`);
    await new Promise((resolve) => setTimeout(resolve, limited.retryAfterMs));
    const ack = await alice.send(dm, "3", { clientMsgId: "third" });
    assert.equal(ack.duplicate, false, "the limited send had stored nothing");
    await alice.close();
  });
});

const SECRET = "a-test-secret-of-at-least-32-bytes-long";

function jwt(sub: string, expiresInSecs: number): string {
  const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${encode({ alg: "HS256", typ: "JWT" })}.${encode({ sub, exp: Math.floor(Date.now() / 1000) + expiresInSecs })}`;
  return `${unsigned}.${createHmac("sha256", SECRET).update(unsigned).digest("base64url")}`;
}

describe("tokens", () => {
  let server: TestServer;
  before(async () => {
    server = await TestServer.start({
      env: {
        TIDINGS__GATEWAY__AUTH__SCHEME: "jwt",
        TIDINGS__GATEWAY__AUTH__JWT__HS_SECRET: SECRET,
        TIDINGS__GATEWAY__AUTH__JWT__LEEWAY_SECS: "0",
      },
    });
  });
  after(async () => {
    await server.dispose();
  });

  it("are refreshed before they expire, so the connection outlives its first token", async () => {
    let issued = 0;
    const uma = server.client("uma", "refreshing", {
      token: () => {
        issued++;
        return jwt("uma", 3);
      },
      refreshBeforeMs: 1_500,
    });
    const states: ConnectionState[] = [];
    uma.on("state", (change) => void states.push(change.state));
    const got = collect(uma);
    await uma.connect();
    // Past the first token's expiry (3 s, no leeway) the connection lives on.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    assert.ok(issued >= 3, `the callback gave ${issued} tokens`);
    assert.deepEqual(states, ["connecting", "syncing", "online"], "never reconnected");

    const vic = server.client("vic", "sender", { token: jwt("vic", 60) });
    await vic.connect();
    await vic.send(dmConversationId("uma", "vic"), "still there?");
    await waitFor("uma to get the message", () => texts(got).length === 1);
    await Promise.all([uma.close(), vic.close()]);
  });

  it("a bad token fails connect with UNAUTHENTICATED", async () => {
    const mallory = server.client("mallory", "m", { token: "dev:mallory" });
    const error = await serverError(mallory.connect(), ErrorCode.UNAUTHENTICATED);
    assert.match(error.serverMessage, /token/);
  });
});
