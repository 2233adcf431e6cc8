/**
 * Conversation ids and development tokens, as the protocol spells them.
 *
 * @module
 */

const encoder = new TextEncoder();

/** The conversation id of the 1:1 conversation of two users: `dm:<a>:<b>`, ids in ascending byte order. */
export function dmConversationId(userA: string, userB: string): string {
  const [first, second] = compareBytes(userA, userB) <= 0 ? [userA, userB] : [userB, userA];
  return `dm:${first}:${second}`;
}

/** The conversation id of a group: `g:<group_id>`. */
export function groupConversationId(groupId: string): string {
  return `g:${groupId}`;
}

/** The development token of a user, `dev:<user>` (accepted only when the server enables them). */
export function devToken(userId: string): string {
  return `dev:${userId}`;
}

function compareBytes(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = (x[i] as number) - (y[i] as number);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}
