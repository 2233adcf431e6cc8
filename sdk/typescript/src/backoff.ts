/**
 * Reconnect delays: exponential, capped, with jitter so that the clients of
 * a restarted gateway do not all come back in the same millisecond.
 *
 * @module
 */

/** How reconnects are spaced. */
export interface BackoffOptions {
  /** Delay before the first retry, in ms; 250 by default. */
  readonly initialDelayMs?: number;
  /** Largest delay, in ms; 30,000 by default. */
  readonly maxDelayMs?: number;
  /** Growth factor per failed attempt; 2 by default. */
  readonly multiplier?: number;
  /**
   * Share of each delay that is random, 0 to 1; 0.5 by default (a delay of
   * `d` becomes a uniform pick in `[d/2, d]`).
   */
  readonly jitter?: number;
}

/**
 * The delay before retry number `attempt` (0 for the first). `random` is
 * injectable so tests can check the bounds.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialDelayMs ?? 250;
  const max = options.maxDelayMs ?? 30_000;
  const multiplier = options.multiplier ?? 2;
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
  const exponential = Math.min(max, initial * Math.pow(multiplier, attempt));
  return Math.round(exponential * (1 - jitter) + exponential * jitter * random());
}
