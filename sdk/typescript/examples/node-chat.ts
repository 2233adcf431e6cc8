/**
 * Two users chat on Node 20+ against a server started with `make run`
 * (development tokens on loopback):
 *
 *   npx tsx examples/node-chat.ts [ws://127.0.0.1:7400/ws]
 *
 * Bob's device keeps its checkpoint in ./.tidings-example, so a second run
 * gets only what is new.
 */

import WebSocket from "ws";

import { TidingsClient, devToken, dmConversationId, textOf } from "../src/index.js";
import { FileStore } from "../src/node.js";

const url = process.argv[2] ?? "ws://127.0.0.1:7400/ws";

const alice = new TidingsClient({ url, token: devToken("alice"), deviceId: "example-laptop", WebSocket });
const bob = new TidingsClient({
  url,
  token: devToken("bob"),
  deviceId: "example-phone",
  WebSocket,
  store: new FileStore(".tidings-example"),
});

bob.on("state", ({ state, error }) => console.log(`bob is ${state}${error === undefined ? "" : ` (${error.message})`}`));
bob.on("message", async (message) => {
  // A real app saves the message here; the checkpoint moves past it only
  // once this returns.
  console.log(`bob got #${message.convSeq} from ${message.senderId}: ${textOf(message)}`);
});

await alice.connect();
await bob.connect();

const dm = dmConversationId("alice", "bob");
const ack = await alice.send(dm, `hello at ${new Date().toISOString()}`);
console.log(`alice's message is stored as #${ack.convSeq}`);
await bob.send(dm, "hi alice");

await new Promise((resolve) => setTimeout(resolve, 500));
for (const summary of await bob.conversationList({ latest: 1 })) {
  console.log(`${summary.conversationId}: ${summary.unread} unread`);
}
const latest = await bob.history(dm, { limit: 1 });
if (latest.messages[0] !== undefined) await bob.markRead(dm, latest.messages[0].convSeq);

await alice.close();
await bob.close();
