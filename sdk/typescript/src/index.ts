/**
 * `@tidings/client`: a TypeScript client for the Tidings gateway, for
 * browsers and Node ≥ 20. {@link TidingsClient} follows the device rules of
 * the protocol (checkpoint, gap buffering, pulls, dedupe by message id,
 * large groups, truncated recovery) so an application only listens for
 * messages and calls requests. The generated protocol types are exported as
 * `proto`.
 *
 * @packageDocumentation
 */

export { TidingsClient } from "./client.js";
export { dmConversationId, groupConversationId, devToken } from "./ids.js";
export type {
  ConnectionState,
  CreateGroupOptions,
  HistoryPage,
  MembersPage,
  ReadPositionChange,
  SendOptions,
  StateChange,
  TidingsClientOptions,
  TidingsEvents,
  TokenSource,
  TruncatedRecovery,
} from "./options.js";
export type { BackoffOptions } from "./backoff.js";
export { backoffDelay } from "./backoff.js";
export type { Unsubscribe, Listener } from "./emitter.js";
export {
  ClientClosedError,
  ConnectionClosedError,
  ErrorCode,
  ProtocolError,
  ServerError,
  TidingsError,
  TimeoutError,
  errorCodeName,
} from "./errors.js";
export { DeviceState, type Page, type PushOutcome } from "./device-state.js";
export { MEMBERS_KIND, READ_KIND } from "./timeline.js";
export { MemoryStore, parseSnapshot, type DeviceSnapshot, type DeviceStore } from "./store.js";
export { IndexedDbStore, type IndexedDbStoreOptions } from "./stores/indexeddb.js";
export type { WebSocketConstructor, WebSocketLike } from "./websocket.js";
export { decodeMembershipEvent, textOf } from "./messages.js";
export {
  DELETE_KIND,
  EDIT_KIND,
  MessageFolder,
  REACTION_KIND,
  RECALL_KIND,
  decodeMessageEvent,
  isEventKind,
  type MessageEvent,
  type MessageTarget,
} from "./message-events.js";
export type { MessageRef, MessageState, ReactionCount } from "./gen/tidings/common/v1/common_pb.js";
export type { InboxEntry, MembershipEvent, Message } from "./gen/tidings/common/v1/common_pb.js";
export { MembershipEvent_Action } from "./gen/tidings/common/v1/common_pb.js";
export type {
  ConversationSummary,
  GroupResult,
  Member,
  PresenceEvent,
  RoomMessage,
  SendAck,
  TypingEvent,
} from "./gen/tidings/client/v1/client_pb.js";
/** The generated protocol messages and schemas (`@bufbuild/protobuf`), for frame-level work. */
export * as proto from "./gen/tidings/client/v1/client_pb.js";
