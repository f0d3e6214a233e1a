/**
 * The one way a waiting async operation ends early: its deadline passes or its AbortSignal
 * aborts (a close is the caller's own path). Used by the per-direction queue, the reactor's
 * waits and connect's backoff sleep, so the three behave alike.
 */
import { SocketTimeoutError } from "../core/errors.ts";

/**
 * setTimeout's largest delay. Longer ones fire at once in Bun (TimeoutOverflowWarning), so a
 * far deadline is reached through a chain of timers of at most this length.
 */
const MAX_TIMER_MS = 0x7fffffff;

/** An operation's `timeout` option: null (none) or a finite number of ms >= 0; RangeError otherwise. */
export function timeoutOf(fn: string, ms: unknown): number | null {
  if (ms === null) return null;
  if (typeof ms !== "number" || !(ms >= 0) || ms === Infinity) {
    throw new RangeError(`${fn}: timeout must be null or a finite number of ms >= 0, got ${String(ms)}`);
  }
  return ms;
}

/** An operation's `signal` option: an AbortSignal or none; TypeError otherwise. */
export function signalOf(fn: string, signal: unknown): AbortSignal | null {
  if (signal === undefined || signal === null) return null;
  if (!(signal instanceof AbortSignal)) throw new TypeError(`${fn}: signal must be an AbortSignal`);
  return signal;
}

/**
 * One operation's limits while it waits: `arm(cancel)` calls `cancel(reason)` once, at the
 * deadline (a SocketTimeoutError naming `syscall`) or when `signal` aborts (its reason),
 * whichever comes first; `disarm()` drops the timer and the listener (call it when the wait
 * ends another way). Holds nothing after either.
 */
export class Guard {
  #timer: ReturnType<typeof setTimeout> | null = null;
  #onAbort: (() => void) | null = null;
  #cancel: ((reason: unknown) => void) | null = null;

  /**
   * `deadline` is a performance.now() time (Infinity: none); `timeoutMs` is what the error
   * reports; `signal` may be null.
   */
  constructor(readonly syscall: string, readonly signal: AbortSignal | null, readonly deadline: number, readonly timeoutMs: number) {}

  /** Starts watching (see the class comment). An already aborted signal cancels at once. */
  arm(cancel: (reason: unknown) => void): void {
    this.#cancel = cancel;
    const signal = this.signal;
    if (signal !== null) {
      if (signal.aborted) return this.#end(signal.reason);
      this.#onAbort = (): void => {
        // The signal drops its listeners itself as it fires: removing ours too would scan
        // them all once per operation (quadratic when many share one signal).
        this.#onAbort = null;
        this.#end(signal.reason);
      };
      // Not { once: true }: Bun drops once-listeners in quadratic time; an aborted signal never fires again anyway.
      signal.addEventListener("abort", this.#onAbort);
    }
    if (this.deadline !== Infinity) this.#schedule();
  }

  /** Stops watching; the cancel callback will not be called. Idempotent. */
  disarm(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#onAbort !== null) this.signal!.removeEventListener("abort", this.#onAbort);
    this.#onAbort = null;
    this.#cancel = null;
  }

  #schedule(): void {
    const remaining = this.deadline - performance.now();
    if (remaining <= 0) return this.#end(new SocketTimeoutError(this.syscall, this.timeoutMs));
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#schedule(); // fires the timeout when due, else waits the rest
    }, Math.min(Math.ceil(remaining), MAX_TIMER_MS));
  }

  #end(reason: unknown): void {
    const cancel = this.#cancel;
    this.disarm();
    cancel?.(reason);
  }
}

/** Sleeps `ms` (any length), or rejects when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal | null): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const guard = new Guard("sleep", signal, performance.now() + ms, ms);
    guard.arm((reason) => (reason instanceof SocketTimeoutError ? resolve() : reject(reason)));
  });
}
