/**
 * A {@link DeviceStore} in a directory, for Node: one JSON file per device,
 * replaced atomically (write a temporary file, flush it, rename it over the
 * old one) so a crash leaves the old snapshot or the new one, never half.
 *
 * @module
 */

import { mkdir, open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";

import { parseSnapshot, type DeviceSnapshot, type DeviceStore } from "../store.js";

/** Keeps device snapshots as files in a directory (created when missing). */
export class FileStore implements DeviceStore {
  /** @param directory - where the `device-<id>.json` files go */
  constructor(private readonly directory: string) {}

  /** {@inheritDoc DeviceStore.load} */
  async load(deviceId: string): Promise<DeviceSnapshot | undefined> {
    let json: string;
    try {
      json = await readFile(this.path(deviceId), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
    return parseSnapshot(json);
  }

  /** {@inheritDoc DeviceStore.save} */
  async save(deviceId: string, snapshot: DeviceSnapshot): Promise<void> {
    await mkdir(this.directory, { recursive: true });
    const path = this.path(deviceId);
    const temporary = `${path}.tmp`;
    const file = await open(temporary, "w");
    try {
      await file.writeFile(JSON.stringify(snapshot));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
  }

  /** The file of a device. Device ids are `[A-Za-z0-9_.-]`, so the prefix keeps `.` and `..` harmless. */
  private path(deviceId: string): string {
    return join(this.directory, `device-${deviceId}.json`);
  }
}
