/**
 * One device id per tab. Every tab is a device of its own (the server keeps
 * a checkpoint per device, and two connections saying the same device id
 * would step on each other's checkpoint), but a reload is the same device
 * again, so it resumes from its checkpoint instead of pulling everything.
 *
 * - A tab remembers its id in sessionStorage, which survives reloads and is
 *   private to the tab.
 * - A tab holds a Web Lock named after its id for as long as it is open. A
 *   duplicated tab inherits the sessionStorage copy, finds the lock taken
 *   and picks another id, so two live tabs never share one.
 * - Ids of closed tabs are kept in localStorage and reused by new tabs, so
 *   a user opening and closing tabs does not grow new devices (each with a
 *   full first pull) without bound.
 */

const POOL_SIZE = 16;
/** How long a reloaded tab waits for the previous page of itself to let go of its lock. */
const RELOAD_WAIT_MS = 3_000;

/** The device id this tab uses for `userId`, claimed until the tab closes. */
export async function claimDeviceId(userId: string): Promise<string> {
  const sessionKey = `tidings.device.${userId}`;
  const poolKey = `tidings.devices.${userId}`;
  const own = sessionStorage.getItem(sessionKey);
  const claimed = await firstClaimed(own, readPool(poolKey));
  const id = claimed ?? newDeviceId();
  if (claimed === undefined) await hold(id, 0);
  sessionStorage.setItem(sessionKey, id);
  writePool(poolKey, [id, ...readPool(poolKey).filter((known) => known !== id)].slice(0, POOL_SIZE));
  return id;
}

async function firstClaimed(own: string | null, pool: readonly string[]): Promise<string | undefined> {
  if (own !== null && (await hold(own, RELOAD_WAIT_MS))) return own;
  for (const id of pool) {
    if (id !== own && (await hold(id, 0))) return id;
  }
  return undefined;
}

/**
 * Takes the lock of `id` for the life of the page; false when another tab
 * holds it (after waiting up to `waitMs`). Without Web Locks (an old
 * browser, an insecure origin other than localhost) every claim succeeds:
 * duplicated tabs then share an id, which the device rules survive.
 */
function hold(id: string, waitMs: number): Promise<boolean> {
  const locks = (navigator as { locks?: LockManager }).locks;
  if (locks === undefined) return Promise.resolve(true);
  return new Promise((resolve) => {
    const abort = new AbortController();
    const timer = waitMs > 0 ? setTimeout(() => abort.abort(), waitMs) : undefined;
    const options: LockOptions = waitMs > 0 ? { signal: abort.signal } : { ifAvailable: true };
    locks
      .request(`tidings.device.${id}`, options, (lock) => {
        clearTimeout(timer);
        resolve(lock !== null);
        // Never settles: the lock is released when the page goes away.
        return lock === null ? undefined : new Promise<void>(() => {});
      })
      .catch(() => resolve(false));
  });
}

function newDeviceId(): string {
  return `web-${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

function readPool(key: string): string[] {
  try {
    const value: unknown = JSON.parse(localStorage.getItem(key) ?? "[]");
    return Array.isArray(value) ? value.filter((id): id is string => typeof id === "string") : [];
  } catch {
    return [];
  }
}

function writePool(key: string, ids: readonly string[]): void {
  localStorage.setItem(key, JSON.stringify(ids));
}
