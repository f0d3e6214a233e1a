/**
 * Readiness wait: which of a set of fds can be read or written now. The one swappable piece
 * under the async API: `Poller` has the same contract on every backend, and the backend (one
 * file each: epoll.ts, kqueue.ts, poll.ts, over backend.ts) is chosen per platform:
 *
 * - **epoll** (Linux): epoll_create1(EPOLL_CLOEXEC) / epoll_ctl / epoll_wait. `struct
 *   epoll_event` is packed and unpacked strictly by the generated table's size and offsets: it
 *   is 12 bytes with `data` at offset 4 on x86_64 (the kernel declares it packed there) and 16
 *   bytes with `data` at offset 8 on arm64. Verified on linux-x64 (glibc, musl) and on
 *   linux-arm64 under qemu-aarch64 (test/poller.test.ts, `npm run test:cross`).
 * - **kqueue** (macOS): kqueue / kevent against the darwin tables' `struct kevent` (32 bytes:
 *   ident 0, filter 8, flags 10, fflags 12, data 16, udata 24). Written from Apple's headers
 *   and man pages and NEVER RUN: no Mac has executed this code yet; treat it as untested.
 * - **poll** (everywhere): poll() over an array of `struct pollfd` rebuilt when the set changes.
 *   O(n) per wait; the fallback, and the reference the other two are tested against.
 *
 * The contract, common to all three:
 * - Level-triggered: an fd is reported by every wait() while it stays ready.
 * - `add(fd, {read, write})` registers an fd (EEXIST if it is registered already), `modify`
 *   changes its interest (ENOENT if not registered), `remove` unregisters it (ENOENT if not
 *   registered; EBADF if it was closed meanwhile, and it is unregistered all the same).
 *   Remove an fd before closing it: epoll forgets a closed fd silently, poll reports it
 *   (`error: true`, POLLNVAL) until it is removed, and the fd number may be reused meanwhile.
 * - `wait(timeoutMs)` returns at most `maxEvents` records, one per ready fd:
 *   readable (data, EOF or a pending connection), writable, hangup (the peer closed or shut
 *   down its sending side, or the connection is gone; reported for read interest, or always
 *   when both directions are gone) and error (a pending socket error, or an invalid fd).
 *   An fd registered with no interest (`{}`) is still reported on hangup/error (epoll, poll;
 *   kqueue reports nothing for it).
 * - What can be registered is what the mechanism takes: sockets, pipes, ttys everywhere; epoll
 *   refuses regular files (EPERM), poll accepts them (always ready).
 * - A signal interrupting the wait (EINTR) returns `[]`: the caller recomputes its deadline.
 * - `close()` is idempotent and releases the backend's fd (epoll/kqueue); `using` closes it.
 *
 * Not an async API: wait() blocks the calling thread like poll(2) does. The event-loop driver
 * (src/async/reactor.ts) sits on top of this: an edge-triggered Poller whose `handle` a Worker
 * attaches to, blocking in waitInto() off the main thread.
 */
import { libc } from "../../ffi/libc.ts";
import { platformKey, table } from "../../ffi/platform.ts";
import * as check from "../core/check.ts";
import { SocketError } from "../core/errors.ts";
import * as sys from "../core/sys.ts";
import { READ, READY_ERROR, READY_HANGUP, READY_READ, READY_WRITE, WRITE, type Backend } from "./backend.ts";
import { EpollBackend } from "./epoll.ts";
import { KqueueBackend } from "./kqueue.ts";
import { PollBackend } from "./poll.ts";

const E = table.errno;

/** The readiness-wait mechanisms bsdsock has. */
export type PollerBackend = "epoll" | "kqueue" | "poll";

/** What to wait for on an fd. Omitted means false. */
export interface Interest {
  /** Wait until the fd is readable (data, EOF, a pending connection). */
  readonly read?: boolean;
  /** Wait until the fd is writable (send buffer space, a finished connect). */
  readonly write?: boolean;
}

/** One ready fd, as wait() reports it. */
export interface Readiness {
  /** The fd, as registered. */
  readonly fd: number;
  /** A read would not block: data, EOF or a connection to accept. */
  readonly readable: boolean;
  /** A write would not block. */
  readonly writable: boolean;
  /** The peer closed or shut down its sending side (reads will return 0 once drained), or the connection is gone. */
  readonly hangup: boolean;
  /** A socket error is pending (read SO_ERROR), or the fd is not valid (closed while registered). */
  readonly error: boolean;
}

/** Options for `new Poller()`. */
export interface PollerOptions {
  /** Which mechanism to use; default `defaultBackend` (epoll on Linux, kqueue on macOS). */
  readonly backend?: PollerBackend;
  /** The most records one wait() returns (and the size of the kernel's event buffer); default 256. */
  readonly maxEvents?: number;
  /**
   * Edge-triggered (epoll EPOLLET, kqueue EV_CLEAR): an fd is reported once each time it
   * becomes ready, not at every wait while it stays ready. What an event-loop driver wants:
   * register once, never re-arm. The poll backend has no such mode (TypeError). Default false.
   */
  readonly edgeTriggered?: boolean;
}

/**
 * What another thread needs to wait on the same kernel object (`Poller.attach`): plain data,
 * so it can be posted to a Worker. epoll and kqueue only (poll keeps its set in JS).
 */
export interface PollerHandle {
  /** The backend ("epoll" or "kqueue"). */
  readonly backend: PollerBackend;
  /** The epoll/kqueue fd, owned by the Poller that made the handle. */
  readonly fd: number;
  /** The most records one wait returns. */
  readonly maxEvents: number;
  /** Whether the owner registers fds edge-triggered. */
  readonly edgeTriggered: boolean;
}

export { READY_ERROR, READY_HANGUP, READY_READ, READY_WRITE } from "./backend.ts";

/** Largest `maxEvents` accepted: the event buffer is maxEvents × sizeof(event) bytes. */
export const MAX_EVENTS_LIMIT = 65536;

const DEFAULT_MAX_EVENTS = 256;

/** Whether a backend can run on this platform (its symbols and struct layout exist). */
export function backendAvailable(backend: PollerBackend): boolean {
  switch (backend) {
    case "epoll": return libc.epoll_create1 !== undefined && table.structs.epoll_event !== null;
    case "kqueue": return libc.kqueue !== undefined && libc.kevent !== undefined && table.structs.kevent !== null;
    case "poll": return true;
    default: return false;
  }
}

/** The backends usable on this platform, best first. */
export const availableBackends: readonly PollerBackend[] =
  (["epoll", "kqueue", "poll"] as const).filter(backendAvailable);

/** The backend `new Poller()` uses here: epoll on Linux, kqueue on macOS, else poll. */
export const defaultBackend: PollerBackend = availableBackends[0] ?? "poll";

/**
 * The `struct epoll_event` layout the epoll backend packs with (from the platform table), or
 * null where there is no epoll: `{ size: 12, eventsOffset: 0, dataOffset: 4 }` on x86_64,
 * `{ size: 16, eventsOffset: 0, dataOffset: 8 }` on arm64.
 */
export const epollEventLayout: { readonly size: number; readonly eventsOffset: number; readonly dataOffset: number } | null =
  table.structs.epoll_event === null ? null : {
    size: table.structs.epoll_event.size,
    eventsOffset: table.structs.epoll_event.fields.events.offset,
    dataOffset: table.structs.epoll_event.fields.data.offset,
  };

/** Closes backend fds of Pollers that were garbage-collected without close() (a leak, not a contract). */
const finalizer = new FinalizationRegistry<number>((fd) => {
  try { sys.close(fd); } catch { /* nothing to report to: the owner is gone */ }
});

// --- Poller ----------------------------------------------------------------------------------------

/** The constructor option (module-private) by which Poller.attach names the existing backend fd. */
const ATTACH: unique symbol = Symbol("attach");

function validFd(fn: string, fd: unknown): number {
  return check.fd(fn, fd);
}

function interestBits(fn: string, interest: unknown): number {
  if (interest === null || typeof interest !== "object") {
    throw new TypeError(`${fn}: interest must be an object like { read: true, write: false }`);
  }
  const { read, write } = interest as Interest;
  if (read !== undefined && typeof read !== "boolean") throw new TypeError(`${fn}: interest.read must be a boolean`);
  if (write !== undefined && typeof write !== "boolean") throw new TypeError(`${fn}: interest.write must be a boolean`);
  return (read ? READ : 0) | (write ? WRITE : 0);
}

/** -1 (or Infinity) waits forever; otherwise ms ≥ 0, fractions rounded up, capped at 2^31-1. */
function timeoutValue(timeoutMs: unknown): number {
  if (typeof timeoutMs !== "number" || Number.isNaN(timeoutMs)) {
    throw new TypeError(`Poller.wait: timeoutMs must be a number, got ${String(timeoutMs)}`);
  }
  if (timeoutMs === -1 || timeoutMs === Infinity) return -1;
  if (timeoutMs < 0) throw new RangeError(`Poller.wait: timeoutMs must be -1 (forever) or >= 0, got ${timeoutMs}`);
  return Math.min(Math.ceil(timeoutMs), 0x7fffffff);
}

/**
 * A set of fds and what to wait for on each; `wait()` blocks until some are ready or the
 * timeout passes. Level-triggered, the same contract on every backend (see the module comment).
 *
 * ```ts
 * using poller = new Poller();
 * poller.add(sock.fd, { read: true });
 * for (const r of poller.wait(1000)) if (r.readable) handle(r.fd);
 * ```
 */
export class Poller implements Disposable {
  /** The mechanism in use. */
  readonly backend: PollerBackend;
  /** The most records one wait() returns. */
  readonly maxEvents: number;
  /** Whether events are edge-triggered (see PollerOptions.edgeTriggered). */
  readonly edgeTriggered: boolean;
  #impl: Backend | null;
  /** Registered fds and their interest bits (READ | WRITE). */
  readonly #interest = new Map<number, number>();
  /** A wait-only view of another Poller's kernel object (Poller.attach): owns nothing. */
  readonly #attached: boolean;
  /** wait()'s pairs, turned into records. */
  readonly #pairs: Int32Array;

  /** Creates an empty set; with epoll/kqueue this opens one fd, released by close(). */
  constructor(options: PollerOptions = {}) {
    const attach = (options as { readonly [ATTACH]?: { readonly fd: number } })[ATTACH] ?? null;
    this.#attached = attach !== null;
    const backend = options.backend ?? defaultBackend;
    if (backend !== "epoll" && backend !== "kqueue" && backend !== "poll") {
      throw new TypeError(`Poller: unknown backend ${String(backend)} (epoll, kqueue or poll)`);
    }
    if (!backendAvailable(backend)) {
      throw new Error(`Poller: backend ${backend} is not available on ${platformKey} (available: ${availableBackends.join(", ")})`);
    }
    const max = options.maxEvents ?? DEFAULT_MAX_EVENTS;
    if (typeof max !== "number" || !Number.isInteger(max) || max < 1 || max > MAX_EVENTS_LIMIT) {
      throw new RangeError(`Poller: maxEvents must be an integer in [1, ${MAX_EVENTS_LIMIT}], got ${String(max)}`);
    }
    const edge = options.edgeTriggered ?? false;
    if (typeof edge !== "boolean") throw new TypeError("Poller: edgeTriggered must be a boolean");
    if (edge && backend === "poll") throw new TypeError("Poller: the poll backend cannot be edge-triggered");
    this.backend = backend;
    this.maxEvents = max;
    this.edgeTriggered = edge;
    this.#pairs = new Int32Array(2 * max);
    // An attached view cannot know the owner's set: it reports every event the kernel gives.
    const has = attach ? (): boolean => true : (fd: number): boolean => this.#interest.has(fd);
    const existing = attach ? attach.fd : null;
    this.#impl = backend === "epoll" ? new EpollBackend(max, has, edge, existing)
      : backend === "kqueue" ? new KqueueBackend(max, edge, existing)
      : new PollBackend(max);
    if (this.#impl.fd >= 0 && !attach) finalizer.register(this, this.#impl.fd, this);
  }

  /**
   * What another thread needs to wait on this Poller's kernel object: post it to a Worker and
   * call `Poller.attach(handle)` there. epoll/kqueue only. The handle stays valid while this
   * Poller is open; registering and waiting from different threads is what both kernels allow.
   */
  get handle(): PollerHandle {
    const impl = this.#open("Poller.handle");
    if (impl.fd < 0) throw new TypeError(`Poller.handle: the ${this.backend} backend has no kernel object to share`);
    return { backend: this.backend, fd: impl.fd, maxEvents: this.maxEvents, edgeTriggered: this.edgeTriggered };
  }

  /**
   * A wait-only Poller over the kernel object of another (`poller.handle`), typically in a
   * Worker: wait() and waitInto() work, add/modify/remove throw, and close() releases nothing
   * (the owner closes the fd). It reports every fd the kernel reports.
   */
  static attach(handle: PollerHandle): Poller {
    if (handle === null || typeof handle !== "object") throw new TypeError("Poller.attach: handle must be a Poller's handle");
    const fd = validFd("Poller.attach", handle.fd);
    if (handle.backend !== "epoll" && handle.backend !== "kqueue") {
      throw new TypeError(`Poller.attach: backend must be epoll or kqueue, got ${String(handle.backend)}`);
    }
    const options = { backend: handle.backend, maxEvents: handle.maxEvents, edgeTriggered: handle.edgeTriggered === true, [ATTACH]: { fd } };
    return new Poller(options as PollerOptions);
  }

  #open(fn: string): Backend {
    const impl = this.#impl;
    if (!impl) throw new SocketError(fn, E.EBADF, { note: "poller is closed" });
    return impl;
  }

  #registrar(fn: string): Backend {
    if (this.#attached) throw new TypeError(`${fn}: an attached Poller only waits; register through its owner`);
    return this.#open(fn);
  }

  /** Registers `fd` with `interest`. Throws EEXIST if it is registered, EBADF if it is not open. */
  add(fd: number, interest: Interest): void {
    const f = validFd("Poller.add", fd);
    const bits = interestBits("Poller.add", interest);
    const impl = this.#registrar("Poller.add");
    if (this.#interest.has(f)) throw new SocketError("Poller.add", E.EEXIST, { note: `fd ${f} is registered already` });
    impl.add(f, bits);
    this.#interest.set(f, bits);
  }

  /** Changes the interest of a registered fd. Throws ENOENT if it is not registered. */
  modify(fd: number, interest: Interest): void {
    const f = validFd("Poller.modify", fd);
    const bits = interestBits("Poller.modify", interest);
    const impl = this.#registrar("Poller.modify");
    const old = this.#interest.get(f);
    if (old === undefined) throw new SocketError("Poller.modify", E.ENOENT, { note: `fd ${f} is not registered` });
    impl.modify(f, bits, old);
    this.#interest.set(f, bits);
  }

  /**
   * Unregisters `fd`. Throws ENOENT if it is not registered; EBADF if it was closed while
   * registered (it is unregistered anyway: remove before close).
   */
  remove(fd: number): void {
    const f = validFd("Poller.remove", fd);
    const impl = this.#registrar("Poller.remove");
    const old = this.#interest.get(f);
    if (old === undefined) throw new SocketError("Poller.remove", E.ENOENT, { note: `fd ${f} is not registered` });
    this.#interest.delete(f);
    impl.remove(f, old);
  }

  /** Whether `fd` is registered. */
  has(fd: number): boolean {
    return this.#interest.has(fd);
  }

  /** How many fds are registered. */
  get size(): number {
    return this.#interest.size;
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#impl === null;
  }

  /**
   * Waits until at least one registered fd is ready or `timeoutMs` passes (-1: forever, 0: just
   * look). Returns the ready fds (at most maxEvents), `[]` on timeout or when a signal
   * interrupted the wait (EINTR: recompute the deadline and wait again).
   */
  wait(timeoutMs: number): Readiness[] {
    const ms = timeoutValue(timeoutMs);
    const impl = this.#open("Poller.wait");
    const pairs = this.#pairs;
    const n = impl.wait(ms, pairs);
    const out: Readiness[] = [];
    for (let i = 0; i < n; i++) {
      const bits = pairs[2 * i + 1]!;
      out.push({
        fd: pairs[2 * i]!,
        readable: (bits & READY_READ) !== 0,
        writable: (bits & READY_WRITE) !== 0,
        hangup: (bits & READY_HANGUP) !== 0,
        error: (bits & READY_ERROR) !== 0,
      });
    }
    return out;
  }

  /**
   * wait() without an object per event, for drivers: writes one `[fd, bits]` pair per ready fd
   * into `out` (bits: READY_READ | READY_WRITE | READY_HANGUP | READY_ERROR) and returns how
   * many pairs. At most min(maxEvents, out.length / 2) pairs; `out` may be over a
   * SharedArrayBuffer. 0 on timeout or EINTR.
   */
  waitInto(timeoutMs: number, out: Int32Array): number {
    if (!(out instanceof Int32Array)) throw new TypeError("Poller.waitInto: out must be an Int32Array");
    const room = Math.floor(out.length / 2);
    if (room < this.maxEvents) throw new RangeError(`Poller.waitInto: out holds ${room} pairs, maxEvents is ${this.maxEvents}`);
    const ms = timeoutValue(timeoutMs);
    return this.#open("Poller.waitInto").wait(ms, out);
  }

  /** Releases the backend (closes the epoll/kqueue fd) and forgets every fd. Idempotent. */
  close(): void {
    const impl = this.#impl;
    if (!impl) return;
    this.#impl = null;
    this.#interest.clear();
    if (this.#attached) return; // the owner closes the kernel object
    finalizer.unregister(this);
    impl.close();
  }

  /** `using poller = new Poller()` closes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }
}
