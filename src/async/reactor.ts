/**
 * The readiness driver under AsyncSocket: turns "this fd is ready" into a resolved promise on
 * Bun's event loop, without the main thread ever blocking and without timed polling.
 *
 * Shape (after Go's internal/poll pollDesc): an operation makes its attempt on a non-blocking
 * fd first; only when it would block does it wait here for readiness, then tries again. One
 * waiting protocol, `park()`: the waiting operation is an object whose `ready()` makes the
 * attempt when the fd is ready and `fail()` ends it (deadline, AbortSignal, close, driver
 * failure, through the one Guard of src/async/cancel.ts); `wait()` is park() with an operation
 * that resolves a promise. One Reactor per thread (made at need):
 *
 * - an edge-triggered `Poller` (epoll EPOLLET on Linux, kqueue EV_CLEAR on macOS): each socket
 *   is registered once for read and write and never re-armed;
 * - a Worker (src/async/reactor-worker.ts) attached to that Poller blocks in the kernel's wait and
 *   hands each batch of `[fd, bits]` pairs over in a SharedArrayBuffer; this thread picks it
 *   up with `Atomics.waitAsync` (so an idle process sleeps in the kernel: no CPU), dispatches
 *   it, then releases the Worker to wait again;
 * - per fd a `Watch`: at most one pending reader, one pending writer and one error-queue waiter
 *   (MSG_ZEROCOPY completions; AsyncSocket queues
 *   the rest), and a sticky "ready" edge for a direction nobody was waiting on, so an edge
 *   that arrives between a syscall's EAGAIN and the wait is never lost.
 *
 * The Worker is unref'd while nothing waits (the process exits when nothing is pending) and
 * ref'd while something does. A spurious wake-up is harmless: the caller retries its syscall
 * and waits again on EAGAIN. Nothing here branches on the OS: the Poller does.
 */
import { isMainThread } from "node:worker_threads";
import { table } from "../../ffi/platform.ts";
import { Guard } from "./cancel.ts";
import { SocketError, SocketTimeoutError, errnoName } from "../core/errors.ts";
import * as sys from "../core/sys.ts";
import { Poller, READY_ERROR, READY_HANGUP, READY_READ, READY_WRITE, defaultBackend } from "../poller/poller.ts";
import { Socket } from "../socket/socket.ts";

const E = table.errno;
const C = table.constants;

/** Wait direction: readable (recv, accept). */
export const READ = 1;
/** Wait direction: writable (send, connect). */
export const WRITE = 2;
/**
 * Wait "direction": an error edge (EPOLLERR), i.e. an entry on the socket's error queue — how
 * MSG_ZEROCOPY completions announce themselves. Error edges also wake READ and WRITE waiters.
 */
export const ERRQUEUE = 4;

const DIRECTION_NAMES: Record<number, string> = { [READ]: "read", [WRITE]: "write", [ERRQUEUE]: "error queue" };

/** Events one hand-over carries at most. */
const MAX_EVENTS = 1024;

const RESOLVED: Promise<void> = Promise.resolve();

/** A pending wait: settled by readiness, its deadline, its AbortSignal or the fd's close. */
class Waiter {
  /** Its deadline and AbortSignal, when it has either. */
  guard: Guard | null = null;
  constructor(readonly syscall: string, readonly op: Parked) {}
}

/** The operation of a plain wait(): readiness resolves the promise; the caller then attempts. */
class Wakeup implements Parked {
  constructor(readonly resolve: () => void, readonly reject: (reason: unknown) => void) {}
  ready(): boolean {
    this.resolve();
    return true;
  }
  fail(error: unknown): void {
    this.reject(error);
  }
}

/**
 * An operation parked in the reactor (park()): when its fd becomes ready, `ready()` tries the
 * syscall and settles the operation itself — true when finished, false when it would block
 * again (it stays parked) — and `fail()` ends it with an error (the socket closed, the driver
 * failed). Saves the promise and async-function hop of wait() on the hottest path.
 */
export interface Parked {
  ready(): boolean;
  fail(error: unknown): void;
}

/** One fd's readiness state in the reactor (see the module comment). */
export class Watch {
  /** Edges that arrived while nobody waited (READ | WRITE), consumed by the next wait. */
  ready = 0;
  reader: Waiter | null = null;
  writer: Waiter | null = null;
  /** Waits for an error-queue entry (ERRQUEUE). */
  errored: Waiter | null = null;
  /** unwatch() was called: waits reject with EBADF. */
  closed = false;
  constructor(readonly fd: number, readonly reactor: Reactor) {}
}

/** The waiter in `w`'s slot for `dir`. */
function slotOf(w: Watch, dir: number): Waiter | null {
  return dir === READ ? w.reader : dir === WRITE ? w.writer : w.errored;
}

/** Puts `waiter` (or null) in `w`'s slot for `dir`. */
function setSlot(w: Watch, dir: number, waiter: Waiter | null): void {
  if (dir === READ) w.reader = waiter;
  else if (dir === WRITE) w.writer = waiter;
  else w.errored = waiter;
}

/** Why a wait ended because stopReactor() stopped its reactor (the socket itself stays open). */
function reactorStopped(syscall: string): SocketError {
  return new SocketError(syscall, E.EBADF, { note: "the reactor was stopped (stopReactor) while waiting; the socket is still open" });
}

/** Why a wait ended because its socket was closed. */
export function closedWhileWaiting(syscall: string): SocketError {
  return new SocketError(syscall, E.EBADF, { note: "socket closed while waiting" });
}

/**
 * The error every wait gets when the readiness thread fails. Out of fds while the Worker loads
 * its modules (it opens files), it is a SocketError EMFILE/ENFILE, so a server's backoff
 * (AsyncSocket.connections) waits and tries again, with a new reactor, once fds are freed.
 */
function threadFailure(message: string): Error {
  const text = `bsdsock async: readiness thread failed: ${message}`;
  for (const errno of [E.EMFILE, E.ENFILE]) {
    if (message.includes(errnoName(errno))) return new SocketError("reactor", errno, { note: text });
  }
  return new Error(text);
}

/** Spare fds a new Worker needs (its event loop's own fds, the module files it reads). */
const WORKER_FDS = 8;

/**
 * Throws SocketError EMFILE/ENFILE unless WORKER_FDS more fds can be opened now: Bun 1.4.4
 * ends the whole process ("bun ran out of file descriptors") when a Worker cannot get its
 * own, so a reactor is never started without that headroom. Probed by duplicating `fd`.
 */
function ensureFdHeadroom(fd: number): void {
  const spare: number[] = [];
  try {
    for (let i = 0; i < WORKER_FDS; i++) spare.push(sys.fcntl(fd, C.F_DUPFD_CLOEXEC, 0));
  } finally {
    for (const s of spare) sys.close(s);
  }
}

/** The per-thread driver (see the module comment). */
export class Reactor {
  readonly #poller: Poller;
  readonly #wake: [Socket, Socket];
  readonly #shared: SharedArrayBuffer;
  readonly #control: Int32Array;
  readonly #pairs: Int32Array;
  /** Pairs of this thread's own non-blocking polls (#drain). */
  readonly #local = new Int32Array(2 * MAX_EVENTS);
  readonly #worker: Worker;
  /** Settles on the Worker's "close" event: its thread is gone, with the fds Bun gave it. */
  readonly #gone: Promise<void>;
  readonly #watches = new Map<number, Watch>();
  /** Pending waiters; the Worker is ref'd while there are any. */
  #waiting = 0;
  #failure: Error | null = null;
  #started: () => void = () => {};
  #startFailed: (e: Error) => void = () => {};
  /**
   * Resolves once the Worker has loaded its modules and attached to the Poller (from then on it
   * needs no fds of its own); rejects if it failed first.
   */
  readonly ready: Promise<void>;
  #stopped = false;

  constructor() {
    if (defaultBackend === "poll") {
      throw new Error("bsdsock async: this platform has neither epoll nor kqueue (the async API needs one)");
    }
    this.#poller = new Poller({ edgeTriggered: true, maxEvents: MAX_EVENTS });
    try {
      this.#wake = Socket.pair("unix", "dgram");
      this.#wake[1].timeout = 0;
      this.#poller.add(this.#wake[1].fd, { read: true });
    } catch (e) {
      this.#poller.close();
      throw e;
    }
    try {
      ensureFdHeadroom(this.#wake[1].fd);
    } catch (e) {
      for (const s of this.#wake) s.close();
      this.#poller.close();
      throw e;
    }
    this.#shared = new SharedArrayBuffer(8 + 8 * MAX_EVENTS);
    this.#control = new Int32Array(this.#shared, 0, 2);
    this.#pairs = new Int32Array(this.#shared, 8, 2 * MAX_EVENTS);
    this.#worker = new Worker(new URL("./reactor-worker.ts", import.meta.url).href);
    this.#worker.unref();
    // Listened for from the start: a Worker that fails while loading is gone before stop().
    this.#gone = new Promise<void>((resolve) => this.#worker.addEventListener("close", () => resolve()));
    this.ready = new Promise<void>((resolve, reject) => {
      this.#started = resolve;
      this.#startFailed = reject;
    });
    this.ready.catch(() => { /* also reported to every wait */ });
    this.#worker.onmessage = (event: MessageEvent<{ error?: string; ready?: boolean }>): void => {
      if (event.data.ready === true) this.#started();
      if (event.data.error !== undefined) this.#fail(threadFailure(event.data.error));
    };
    this.#worker.onerror = (event: ErrorEvent): void => {
      event.preventDefault(); // handled here: every wait rejects with it; not an uncaught error
      this.#fail(threadFailure(event.message));
    };
    this.#worker.postMessage({ handle: this.#poller.handle, shared: this.#shared });
    void this.#pump();
  }

  /** Registers `fd` for read and write readiness (edge-triggered, once for its lifetime). */
  watch(fd: number): Watch {
    if (this.#failure) throw this.#failure;
    if (this.#poller.has(fd)) {
      // A previous owner of this fd number closed it without unwatch() (a garbage-collected
      // socket): the kernel already forgot it; forget it here too.
      const stale = this.#watches.get(fd);
      if (stale) this.unwatch(stale);
      else try { this.#poller.remove(fd); } catch { /* closed meanwhile: unregistered anyway */ }
    }
    this.#poller.add(fd, { read: true, write: true });
    const w = new Watch(fd, this);
    this.#watches.set(fd, w);
    return w;
  }

  /**
   * Unregisters (call it before closing the fd, so a reused fd number never gets this one's
   * events) and rejects pending waits with EBADF "socket closed while waiting". Idempotent.
   */
  unwatch(w: Watch, why: (syscall: string) => SocketError = closedWhileWaiting): void {
    if (w.closed) return;
    w.closed = true;
    if (this.#watches.get(w.fd) === w) {
      this.#watches.delete(w.fd);
      try { this.#poller.remove(w.fd); } catch { /* ENOENT/EBADF: already gone from the kernel */ }
    }
    if (w.reader) this.#reject(w, READ, why(w.reader.syscall));
    if (w.writer) this.#reject(w, WRITE, why(w.writer.syscall));
    if (w.errored) this.#reject(w, ERRQUEUE, why(w.errored.syscall));
  }

  /**
   * The one waiting protocol: parks `op` until `w` is ready for `dir` (READ, WRITE or ERRQUEUE), then
   * calls `op.ready()`, which makes its attempt and settles the operation itself (true), or
   * finds it would block again and stays parked (false). It runs at once if an edge arrived
   * while nobody waited. `op.fail()` ends it instead: with SocketTimeoutError at `deadline`
   * (performance.now() ms; Infinity: none), with `signal.reason` on abort, with EBADF when the
   * fd is unwatched, with the failure when the driver failed.
   */
  park(w: Watch, dir: number, syscall: string, op: Parked, signal: AbortSignal | null = null, deadline = Infinity, timeoutMs = 0): void {
    if (w.closed) return op.fail(closedWhileWaiting(syscall));
    if (this.#failure) return op.fail(this.#failure);
    if (w.ready & dir) {
      w.ready &= ~dir;
      let done: boolean;
      try {
        done = op.ready();
      } catch (e) {
        return op.fail(e);
      }
      if (done) return;
    }
    if (signal?.aborted) return op.fail(signal.reason);
    if (deadline !== Infinity && deadline <= performance.now()) return op.fail(new SocketTimeoutError(syscall, timeoutMs));
    const waiter = new Waiter(syscall, op);
    const taken = this.#enqueue(w, dir, waiter);
    if (taken) return op.fail(taken);
    if (signal !== null || deadline !== Infinity) {
      waiter.guard = new Guard(syscall, signal, deadline, timeoutMs);
      waiter.guard.arm((reason) => this.#reject(w, dir, reason));
    }
  }

  /**
   * park() as a promise: resolves when `w` is ready for `dir` (at once, without a promise of its
   * own, if an edge arrived while nobody waited); the caller then makes its attempt.
   */
  wait(w: Watch, dir: number, syscall: string, signal: AbortSignal | null, deadline: number, timeoutMs: number): Promise<void> {
    if (!w.closed && this.#failure === null && (w.ready & dir)) {
      w.ready &= ~dir;
      return RESOLVED;
    }
    return new Promise<void>((resolve, reject) => this.park(w, dir, syscall, new Wakeup(resolve, reject), signal, deadline, timeoutMs));
  }

  /**
   * Puts `waiter` in `w`'s slot for `dir` and refs the Worker; an Error (nothing changed) if
   * the slot is taken — AsyncSocket's per-direction turn makes that a bug, not a state.
   */
  #enqueue(w: Watch, dir: number, waiter: Waiter): Error | null {
    if (slotOf(w, dir) !== null) return new Error(`bsdsock: two waiters for ${DIRECTION_NAMES[dir]} on fd ${w.fd}`);
    setSlot(w, dir, waiter);
    if (this.#waiting++ === 0) this.#worker.ref();
    return null;
  }

  /** Takes the waiter of `w` in `dir` out of its slot (unrefs, clears its timer and listener). */
  #take(w: Watch, dir: number): Waiter | null {
    const waiter = slotOf(w, dir);
    if (!waiter) return null;
    setSlot(w, dir, null);
    if (--this.#waiting === 0) this.#worker.unref();
    waiter.guard?.disarm();
    return waiter;
  }

  /** Ends the wait of `w` in `dir` (if any) with `error`. */
  #reject(w: Watch, dir: number, error: unknown): void {
    this.#take(w, dir)?.op.fail(error);
  }

  /** `w` is ready for `dir`: run its waiting operation, or keep the edge for the next one. */
  #ready(w: Watch, dir: number): void {
    const waiter = slotOf(w, dir);
    if (waiter === null) {
      w.ready |= dir;
      return;
    }
    let done: boolean;
    try {
      done = waiter.op.ready();
    } catch (e) {
      this.#reject(w, dir, e);
      return;
    }
    if (done) this.#take(w, dir); // it settled itself; else it would block again and stays parked
  }

  /** Picks up the Worker's batches for the life of the reactor. */
  async #pump(): Promise<void> {
    const control = this.#control;
    for (;;) {
      let n = Atomics.load(control, 0);
      if (n === 0) {
        const r = Atomics.waitAsync(control, 0, 0);
        if (r.async) await r.value;
        n = Atomics.load(control, 0);
      }
      if (this.#stopped) return;
      if (n < 0) {
        this.#fail(new Error("bsdsock async: the readiness thread stopped"));
        return;
      }
      if (n === 0) continue;
      this.#dispatch(this.#pairs, n);
      await this.#drain();
      if (this.#stopped) return;
      Atomics.store(control, 0, 0);
      Atomics.notify(control, 0);
    }
  }

  /**
   * While the Worker is parked on a batch (it waits until we hand the turn back), keep polling
   * on this thread without blocking: each round lets the woken operations run (a macrotask
   * boundary, so Bun's own I/O and timers run too), then takes whatever became ready meanwhile.
   * Under load this replaces a thread hand-off per batch with one epoll_wait(0); when a round
   * finds nothing, the Worker gets the turn back and this thread goes idle.
   */
  async #drain(): Promise<void> {
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#stopped || this.#failure) return;
      const n = this.#poller.waitInto(0, this.#local);
      if (n === 0) return;
      this.#dispatch(this.#local, n);
    }
  }

  #dispatch(pairs: Int32Array, n: number): void {
    for (let i = 0; i < n; i++) {
      const w = this.#watches.get(pairs[2 * i]!);
      if (w === undefined) continue; // the wake socket, or an fd unwatched since
      const bits = pairs[2 * i + 1]!;
      if (bits & (READY_READ | READY_HANGUP | READY_ERROR)) this.#ready(w, READ);
      if (bits & (READY_WRITE | READY_HANGUP | READY_ERROR)) this.#ready(w, WRITE);
      if (bits & READY_ERROR) this.#ready(w, ERRQUEUE);
    }
  }

  /** The driver cannot go on: every pending and future wait rejects with `error`. */
  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    this.#startFailed(error);
    for (const w of this.#watches.values()) {
      if (w.reader) this.#reject(w, READ, error);
      if (w.writer) this.#reject(w, WRITE, error);
      if (w.errored) this.#reject(w, ERRQUEUE, error);
    }
    // Release everything: the next wait (on any socket) starts a new reactor.
    this.stopNow();
  }

  /** Whether stop() was called (its watches are dead; sockets re-register with the next reactor). */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** How many fds are registered (for tests and diagnostics). */
  get size(): number {
    return this.#watches.size;
  }

  /** The fds this reactor itself holds open (the Poller's and the wake pair's). */
  get ownFds(): number[] {
    const fds = [this.#wake[0].fd, this.#wake[1].fd];
    const h = this.#poller.closed ? null : this.#poller.handle;
    if (h) fds.push(h.fd);
    return fds;
  }

  /**
   * Stops at once, for a thread that is exiting: terminates the Worker without waiting and
   * closes the reactor's fds (its sockets are closed by their own exit hook).
   */
  stopNow(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#worker.terminate();
    // Wake #pump so it sees the stop and ends (the Worker will never hand a batch over again).
    Atomics.store(this.#control, 0, -1);
    Atomics.notify(this.#control, 0);
    // The wake pair may be closed already by the sockets' own exit hook: errors mean nothing now.
    for (const release of [(): void => this.#wake[0].close(), (): void => this.#wake[1].close(), (): void => this.#poller.close()]) {
      try { release(); } catch { /* the thread is ending */ }
    }
  }

  /**
   * Stops the Worker and releases the reactor's fds; pending waits reject with EBADF.
   * Resolves when the Worker's thread is gone (with the fds Bun gave it). The next AsyncSocket makes a new reactor.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    for (const w of [...this.#watches.values()]) this.unwatch(w, reactorStopped);
    this.#stopped = true;
    const exited = new Promise<void>((resolve) => {
      this.#worker.addEventListener("message", (e: MessageEvent<{ stopped?: boolean }>) => { if (e.data.stopped) resolve(); });
      this.#worker.addEventListener("error", () => resolve());
    });
    this.#worker.ref();
    Atomics.store(this.#control, 1, 1);
    Atomics.notify(this.#control, 0);
    this.#wake[0].send(new Uint8Array(1));
    await exited;
    // Bun releases a Worker's own fds (its event loop's epoll and eventfd) only when the thread
    // is gone, which its "close" event tells; bounded, so a stuck thread cannot hang the caller.
    this.#worker.terminate();
    for (const s of this.#wake) s.close();
    this.#poller.close();
    let limit: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#gone, new Promise<void>((resolve) => { limit = setTimeout(resolve, 2000); })]);
    clearTimeout(limit);
  }
}

let current: Reactor | null = null;

// A Worker thread's reactor goes with the thread (see Reactor.stopNow and socket.ts's threadFds).
if (!isMainThread) process.on("exit", () => current?.stopNow());

/** This thread's reactor, made on first use. */
export function reactor(): Reactor {
  if (current === null || current.stopped) current = new Reactor();
  return current;
}

/**
 * Stops this thread's reactor, if any (its Worker and fds), rejecting pending waits. Mostly
 * for tests that count fds; a later async call starts a new one.
 */
export async function stopReactor(): Promise<void> {
  const r = current;
  current = null;
  if (r) await r.stop();
}

/**
 * Resolves once this thread's reactor (started at need) is fully up: its Worker has loaded its
 * modules, which opens files. A server that may run out of fds soon after start can await it
 * before it announces itself; a reactor that failed rejects (a SocketError EMFILE when fds ran
 * out), and the next call starts a new one.
 */
export function reactorReady(): Promise<void> {
  return reactor().ready;
}

/** The fds held by this thread's reactor ([] when none is running). */
export function reactorFds(): number[] {
  return current ? current.ownFds : [];
}
