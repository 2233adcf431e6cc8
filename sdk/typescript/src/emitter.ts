/**
 * A small typed event emitter that runs in browsers and Node alike (Node's
 * `events` module is not in browsers, and `EventTarget` loses the payload
 * types).
 *
 * @module
 */

/** Removes the listener it was returned for. */
export type Unsubscribe = () => void;

/** A listener; one that returns a promise is awaited where the event says so. */
export type Listener<T> = (payload: T) => void | Promise<void>;

/** Emits events of the map `Events` (event name to payload type). */
export class Emitter<Events> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  /** Calls `listener` on every `event` until the returned function is called. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): Unsubscribe {
    let set = this.listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  /** Calls `listener` on the next `event` only. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): Unsubscribe {
    const unsubscribe = this.on(event, (payload) => {
      unsubscribe();
      return listener(payload);
    });
    return unsubscribe;
  }

  /** Removes a listener added with {@link Emitter.on}. */
  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.listeners.get(event)?.delete(listener as Listener<never>);
  }

  /** Whether anyone listens to `event`. */
  protected hasListeners(event: keyof Events): boolean {
    return (this.listeners.get(event)?.size ?? 0) > 0;
  }

  /**
   * Calls every listener and ignores what they return. A listener that throws
   * must not stop the others nor the caller's state machine, so the error is
   * handed to `onListenerError`.
   */
  protected emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        const result = (listener as Listener<Events[K]>)(payload);
        if (result instanceof Promise) result.catch((e: unknown) => this.onListenerError(event, e));
      } catch (e) {
        this.onListenerError(event, e);
      }
    }
  }

  /**
   * Calls every listener in turn, awaiting each; a listener's failure is the
   * caller's failure (the checkpoint must not move past a message that was
   * not applied).
   */
  protected async emitAndWait<K extends keyof Events>(event: K, payload: Events[K]): Promise<void> {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      await (listener as Listener<Events[K]>)(payload);
    }
  }

  /** Where errors of fire-and-forget listeners go; subclasses report them. */
  protected onListenerError(_event: keyof Events, _error: unknown): void {}
}
