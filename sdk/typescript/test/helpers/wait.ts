/** Waiting helpers for tests over real sockets. */

import { textOf, type Message, type TidingsClient } from "../../src/index.js";

/** Polls `condition` until it holds; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Every message the client hands over, in order, from now on. */
export function collect(client: TidingsClient): Message[] {
  const messages: Message[] = [];
  client.on("message", (message) => {
    messages.push(message);
  });
  return messages;
}

/** The text bodies of the messages of one conversation, timeline messages only. */
export function texts(messages: readonly Message[], conversationId?: string): string[] {
  return messages
    .filter((m) => (conversationId === undefined || m.conversationId === conversationId) && !m.kind.startsWith("tidings."))
    .map(textOf);
}

/** Whether the conv seqs of each conversation strictly increase in the order given. */
export function inConversationOrder(messages: readonly Message[]): boolean {
  const last = new Map<string, bigint>();
  for (const m of messages) {
    const previous = last.get(m.conversationId) ?? 0n;
    if (m.convSeq <= previous) return false;
    last.set(m.conversationId, m.convSeq);
  }
  return true;
}

/** Message ids that appear more than once. */
export function duplicateIds(messages: readonly Message[]): string[] {
  const seen = new Set<string>();
  const duplicates: string[] = [];
  for (const m of messages) {
    if (seen.has(m.messageId)) duplicates.push(m.messageId);
    seen.add(m.messageId);
  }
  return duplicates;
}
