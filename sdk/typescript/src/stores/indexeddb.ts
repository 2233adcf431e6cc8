/**
 * A {@link DeviceStore} over IndexedDB, for browsers: one record per device
 * id in one object store.
 *
 * @module
 */

import { isSnapshot, type DeviceSnapshot, type DeviceStore } from "../store.js";

const OBJECT_STORE = "devices";

/** Options of {@link IndexedDbStore}. */
export interface IndexedDbStoreOptions {
  /** Database name; `"tidings"` by default. */
  readonly databaseName?: string;
  /** The IndexedDB factory; `globalThis.indexedDB` by default (tests pass `fake-indexeddb`). */
  readonly indexedDB?: IDBFactory;
}

/** Keeps device snapshots in an IndexedDB database. */
export class IndexedDbStore implements DeviceStore {
  private database: Promise<IDBDatabase> | undefined;
  private readonly databaseName: string;
  private readonly factory: IDBFactory | undefined;

  constructor(options: IndexedDbStoreOptions = {}) {
    this.databaseName = options.databaseName ?? "tidings";
    this.factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  }

  /** {@inheritDoc DeviceStore.load} */
  async load(deviceId: string): Promise<DeviceSnapshot | undefined> {
    const db = await this.open();
    const value = await request(db.transaction(OBJECT_STORE, "readonly").objectStore(OBJECT_STORE).get(deviceId));
    return isSnapshot(value) ? value : undefined;
  }

  /** {@inheritDoc DeviceStore.save} */
  async save(deviceId: string, snapshot: DeviceSnapshot): Promise<void> {
    const db = await this.open();
    // "strict" durability: resolve only once the write reached the disk, as
    // the checkpoint is acked right after.
    const tx = db.transaction(OBJECT_STORE, "readwrite", { durability: "strict" });
    tx.objectStore(OBJECT_STORE).put(snapshot, deviceId);
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error("IndexedDB write failed"));
      tx.onabort = () => reject(tx.error ?? new Error("IndexedDB write aborted"));
    });
  }

  /** Closes the database; a later call opens it again. */
  async close(): Promise<void> {
    const db = this.database;
    this.database = undefined;
    if (db !== undefined) (await db).close();
  }

  private open(): Promise<IDBDatabase> {
    if (this.database !== undefined) return this.database;
    const factory = this.factory;
    if (factory === undefined) {
      return Promise.reject(new Error("IndexedDB is not available here: pass options.indexedDB or use another DeviceStore"));
    }
    const opening = factory.open(this.databaseName, 1);
    opening.onupgradeneeded = () => {
      opening.result.createObjectStore(OBJECT_STORE);
    };
    this.database = request(opening);
    this.database.catch(() => {
      this.database = undefined;
    });
    return this.database;
  }
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error("IndexedDB request failed"));
  });
}
