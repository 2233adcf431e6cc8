/**
 * Helpers for reading message bodies.
 *
 * @module
 */

import { fromBinary } from "@bufbuild/protobuf";
import { MembershipEventSchema, type MembershipEvent, type Message } from "./gen/tidings/common/v1/common_pb.js";
import { MEMBERS_KIND } from "./timeline.js";

const decoder = new TextDecoder();

/** The body of a message as UTF-8 text (bodies are opaque bytes; text messages carry UTF-8). */
export function textOf(message: Message): string {
  return decoder.decode(message.body);
}

/**
 * The membership change a `tidings.members` message carries (a group was
 * created, members added or removed); `undefined` for other messages.
 */
export function decodeMembershipEvent(message: Message): MembershipEvent | undefined {
  if (message.kind !== MEMBERS_KIND) return undefined;
  try {
    return fromBinary(MembershipEventSchema, message.body);
  } catch {
    return undefined;
  }
}
