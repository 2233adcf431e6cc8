/**
 * Where a device keeps its durable state between runs: the checkpoint, the
 * conversation cursors, read positions and the most recent applied message
 * ids. The SDK saves after every applied batch and before acking, so a store
 * must have written the snapshot when `save` resolves.
 *
 * @module
 */

/** The durable state of one device. Seqs are decimal strings (JSON has no 64-bit integers). */
export interface DeviceSnapshot {
  /** Format version; 1. */
  readonly version: 1;
  /** The user the state belongs to (from `Welcome`): another user's state is never used. */
  readonly userId: string;
  /** The last inbox seq the device applied. */
  readonly checkpoint: string;
  /** Highest conv seq applied per conversation. */
  readonly cursors: Readonly<Record<string, string>>;
  /** The user's read position per conversation, as far as this device heard. */
  readonly readPositions: Readonly<Record<string, string>>;
  /** Ids of the most recently applied messages, oldest first: duplicates stay dropped after a restart. */
  readonly recentMessageIds: readonly string[];
}

/**
 * A durable home for {@link DeviceSnapshot}s, one per device id. Implement it
 * over whatever the application already persists to; the SDK ships
 * {@link MemoryStore}, `IndexedDbStore` (browsers) and `FileStore`
 * (`@tidings/client/node`).
 */
export interface DeviceStore {
  /** The snapshot saved for `deviceId`, or `undefined` for a new device. */
  load(deviceId: string): Promise<DeviceSnapshot | undefined>;
  /** Replaces the snapshot of `deviceId`; resolves once it is durable. */
  save(deviceId: string, snapshot: DeviceSnapshot): Promise<void>;
}

/** Keeps snapshots in memory: for tests, and for devices that start afresh on every run. */
export class MemoryStore implements DeviceStore {
  private readonly snapshots = new Map<string, string>();

  /** {@inheritDoc DeviceStore.load} */
  load(deviceId: string): Promise<DeviceSnapshot | undefined> {
    const json = this.snapshots.get(deviceId);
    return Promise.resolve(json === undefined ? undefined : parseSnapshot(json));
  }

  /** {@inheritDoc DeviceStore.save} */
  save(deviceId: string, snapshot: DeviceSnapshot): Promise<void> {
    // Stored as text so a caller mutating its object cannot change what was saved.
    this.snapshots.set(deviceId, JSON.stringify(snapshot));
    return Promise.resolve();
  }
}

/**
 * Parses a snapshot written by {@link DeviceStore.save} as JSON; `undefined`
 * when it is not one (an unknown version, a damaged file): the device then
 * starts afresh, which the device rules make safe.
 */
export function parseSnapshot(json: string): DeviceSnapshot | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  return isSnapshot(value) ? value : undefined;
}

/** Whether `value` has the shape of a {@link DeviceSnapshot}. */
export function isSnapshot(value: unknown): value is DeviceSnapshot {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  const isSeq = (s: unknown): boolean => typeof s === "string" && /^[0-9]{1,20}$/.test(s);
  const isSeqMap = (m: unknown): boolean =>
    typeof m === "object" && m !== null && Object.values(m).every(isSeq);
  return (
    v["version"] === 1 &&
    typeof v["userId"] === "string" &&
    isSeq(v["checkpoint"]) &&
    isSeqMap(v["cursors"]) &&
    isSeqMap(v["readPositions"]) &&
    Array.isArray(v["recentMessageIds"]) &&
    v["recentMessageIds"].every((id) => typeof id === "string")
  );
}
