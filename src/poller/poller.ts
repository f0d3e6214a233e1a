/**
 * Readiness wait: which of a set of fds can be read or written now. The one swappable piece
 * under the (future) async API: `Poller` has the same contract on every backend, and the
 * backend is chosen per platform:
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
import { readErrno } from "../../ffi/errno.ts";
import { platformKey, table } from "../../ffi/platform.ts";
import type { FieldLayout, StructLayout } from "../../ffi/table.ts";
import * as check from "../core/check.ts";
import { SocketError } from "../core/errors.ts";
import * as sys from "../core/sys.ts";

const E = table.errno;
const C = table.constants;
const LE = table.expressions.LITTLE_ENDIAN === 1;

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

/** `waitInto` bits: the fd is readable (data, EOF, a connection), or a read would fail at once. */
export const READY_READ = 1;
/** `waitInto` bits: the fd is writable, or a write would fail at once. */
export const READY_WRITE = 2;
/** `waitInto` bits: hangup (see Readiness.hangup). */
export const READY_HANGUP = 4;
/** `waitInto` bits: error pending (see Readiness.error). */
export const READY_ERROR = 8;

/** Largest `maxEvents` accepted: the event buffer is maxEvents × sizeof(event) bytes. */
export const MAX_EVENTS_LIMIT = 65536;

const DEFAULT_MAX_EVENTS = 256;
const READ = 1;
const WRITE = 2;

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

/** A constant the backend cannot work without; a missing one is a broken table, not a user error. */
function need(name: string, value: number | null | undefined): number {
  if (value === null || value === undefined) throw new Error(`bsdsock: ${platformKey} table lacks ${name}`);
  return value;
}

/** A struct layout the backend needs, with every member it uses. */
function layoutOf<L extends StructLayout>(name: string, layout: L | null): L {
  if (layout === null) throw new Error(`bsdsock: ${platformKey} table has no struct ${name}`);
  return layout;
}

/** Writes a non-negative integer below 2^53 into a 4- or 8-byte member (host byte order). */
function putWord(view: DataView, base: number, f: FieldLayout, value: number): void {
  if (f.size === 4) view.setUint32(base + f.offset, value, LE);
  else if (f.size === 8) {
    const lo = value % 0x1_0000_0000;
    const hi = (value - lo) / 0x1_0000_0000;
    view.setUint32(base + f.offset + (LE ? 0 : 4), lo, LE);
    view.setUint32(base + f.offset + (LE ? 4 : 0), hi, LE);
  } else throw new Error(`bsdsock: unsupported member size ${f.size}`);
}

/** Reads a 4- or 8-byte unsigned member; values ≥ 2^53 lose precision (callers range-check). */
function getWord(view: DataView, base: number, f: FieldLayout): number {
  if (f.size === 4) return view.getUint32(base + f.offset, LE);
  if (f.size === 8) {
    const lo = view.getUint32(base + f.offset + (LE ? 0 : 4), LE);
    const hi = view.getUint32(base + f.offset + (LE ? 4 : 0), LE);
    return hi * 0x1_0000_0000 + lo;
  }
  throw new Error(`bsdsock: unsupported member size ${f.size}`);
}

/** What a backend does; the Poller does all argument checks and bookkeeping around it. */
interface Backend {
  /** The backend's own fd (epoll/kqueue), or -1 (poll). */
  readonly fd: number;
  add(fd: number, bits: number): void;
  modify(fd: number, bits: number, old: number): void;
  remove(fd: number, old: number): void;
  /**
   * Writes one `[fd, READY_* bits]` pair per ready fd into `out` (room for `max` pairs is the
   * caller's to provide) and returns how many; EINTR gives 0.
   */
  wait(timeoutMs: number, out: Int32Array): number;
  /** Releases the backend's resources (called once). */
  close(): void;
}

// --- epoll -----------------------------------------------------------------------------------------

/** epoll: one epoll_event per registered fd in the kernel; `data` carries the fd. */
class EpollBackend implements Backend {
  readonly fd: number;
  readonly #size: number;
  readonly #events: FieldLayout;
  readonly #data: FieldLayout;
  /** One event for epoll_ctl. */
  readonly #ctl: Uint8Array;
  readonly #ctlView: DataView;
  /** maxEvents events for epoll_wait. */
  readonly #out: Uint8Array;
  readonly #outView: DataView;
  readonly #max: number;
  readonly #has: (fd: number) => boolean;
  readonly #IN = need("EPOLLIN", C.EPOLLIN);
  readonly #OUT = need("EPOLLOUT", C.EPOLLOUT);
  readonly #ERR = need("EPOLLERR", C.EPOLLERR);
  readonly #HUP = need("EPOLLHUP", C.EPOLLHUP);
  readonly #RDHUP = C.EPOLLRDHUP ?? 0;
  readonly #ADD = need("EPOLL_CTL_ADD", C.EPOLL_CTL_ADD);
  readonly #MOD = need("EPOLL_CTL_MOD", C.EPOLL_CTL_MOD);
  readonly #DEL = need("EPOLL_CTL_DEL", C.EPOLL_CTL_DEL);

  readonly #ET: number;

  constructor(max: number, has: (fd: number) => boolean, edge: boolean, existingFd: number | null) {
    const layout = layoutOf("epoll_event", table.structs.epoll_event);
    this.#ET = edge ? need("EPOLLET", C.EPOLLET) : 0;
    this.#size = layout.size;
    this.#events = layout.fields.events;
    this.#data = layout.fields.data;
    if (this.#events.size !== 4 || this.#data.size !== 8 || this.#data.offset + 8 > this.#size || this.#events.offset + 4 > this.#size) {
      throw new Error(`bsdsock: implausible struct epoll_event in the ${platformKey} table`);
    }
    this.#max = max;
    this.#has = has;
    this.#ctl = new Uint8Array(this.#size);
    this.#ctlView = new DataView(this.#ctl.buffer);
    this.#out = new Uint8Array(max * this.#size);
    this.#outView = new DataView(this.#out.buffer);
    check.fits("epoll_wait", "maxevents × sizeof(struct epoll_event)", max * this.#size, check.byteLength("epoll_wait", "events", this.#out));
    if (existingFd !== null) { this.fd = existingFd; return; }
    const fd = libc.epoll_create1!(need("EPOLL_CLOEXEC", C.EPOLL_CLOEXEC));
    if (fd < 0) throw new SocketError("epoll_create1", readErrno());
    this.fd = fd;
  }

  #ctlCall(op: number, fd: number, bits: number): void {
    const v = this.#ctlView;
    let ev = op === this.#DEL ? 0 : this.#ET;
    if (bits & READ) ev |= this.#IN | this.#RDHUP;
    if (bits & WRITE) ev |= this.#OUT;
    v.setUint32(this.#events.offset, ev >>> 0, LE);
    putWord(v, 0, this.#data, fd);
    check.fits("epoll_ctl", "sizeof(struct epoll_event)", this.#size, check.byteLength("epoll_ctl", "event", this.#ctl));
    if (libc.epoll_ctl!(this.fd, op, fd, this.#ctl) !== 0) throw new SocketError("epoll_ctl", readErrno());
  }

  add(fd: number, bits: number): void { this.#ctlCall(this.#ADD, fd, bits); }
  modify(fd: number, bits: number): void { this.#ctlCall(this.#MOD, fd, bits); }
  remove(fd: number): void { this.#ctlCall(this.#DEL, fd, 0); }

  wait(timeoutMs: number, out: Int32Array): number {
    check.fits("epoll_wait", "maxevents × sizeof(struct epoll_event)", this.#max * this.#size, check.byteLength("epoll_wait", "events", this.#out));
    const n = libc.epoll_wait!(this.fd, this.#out, this.#max, timeoutMs);
    if (n < 0) {
      const errno = readErrno();
      if (errno === E.EINTR) return 0;
      throw new SocketError("epoll_wait", errno);
    }
    if (n > this.#max) throw new Error(`bsdsock: epoll_wait returned ${n} events for a buffer of ${this.#max}`);
    const v = this.#outView;
    let pairs = 0;
    for (let i = 0; i < n; i++) {
      const base = i * this.#size;
      const ev = v.getUint32(base + this.#events.offset, LE);
      const fd = getWord(v, base, this.#data);
      // data is exactly what add() packed: an fd below 2^31, high half zero. Anything else
      // means the layout is wrong.
      if (fd > 0x7fffffff) {
        throw new Error(`bsdsock: epoll_wait returned data ${fd}, not an fd (struct epoll_event layout mismatch?)`);
      }
      // An fd removed after close() can stay in the kernel's set while a dup of it lives
      // (epoll watches the open file, not the number): not ours any more, skip it.
      if (!this.#has(fd)) continue;
      out[2 * pairs] = fd;
      out[2 * pairs + 1] = (ev & this.#IN ? READY_READ : 0) | (ev & this.#OUT ? READY_WRITE : 0) |
        (ev & (this.#HUP | this.#RDHUP) ? READY_HANGUP : 0) | (ev & this.#ERR ? READY_ERROR : 0);
      pairs++;
    }
    return pairs;
  }

  close(): void { sys.close(this.fd); }
}

// --- kqueue ----------------------------------------------------------------------------------------

/**
 * kqueue (macOS). UNTESTED: written against the darwin tables (generated from Apple's headers,
 * see ffi/gen/darwin.ts) and kqueue(2), never run on a Mac. Each registered fd has both an
 * EVFILT_READ and an EVFILT_WRITE filter, added enabled or disabled by interest (EV_ADD with
 * EV_ENABLE/EV_DISABLE; EV_ADD on an existing filter modifies it), deleted together. Changes are
 * applied with nevents = 0, so an error in one is returned as kevent() = -1 with errno. The
 * two filters' events of one fd are merged into one record. kqueue fds are not inherited by
 * fork() children; FD_CLOEXEC is not set (fcntl's variadic argument is not passable on Apple
 * arm64 through a fixed-argument FFI declaration, see ffi/libc.ts).
 */
class KqueueBackend implements Backend {
  readonly fd: number;
  readonly #k: StructLayout<"ident" | "filter" | "flags" | "fflags" | "data" | "udata">;
  readonly #changes: Uint8Array;
  readonly #changesView: DataView;
  readonly #out: Uint8Array;
  readonly #outView: DataView;
  readonly #ts: Uint8Array;
  readonly #tsView: DataView;
  readonly #zero: Uint8Array;
  readonly #max: number;
  readonly #READ = need("EVFILT_READ", C.EVFILT_READ);
  readonly #WRITE = need("EVFILT_WRITE", C.EVFILT_WRITE);
  readonly #ADD = need("EV_ADD", C.EV_ADD);
  readonly #DELETE = need("EV_DELETE", C.EV_DELETE);
  readonly #ENABLE = need("EV_ENABLE", C.EV_ENABLE);
  readonly #DISABLE = need("EV_DISABLE", C.EV_DISABLE);
  readonly #EOF = need("EV_EOF", C.EV_EOF);
  readonly #ERROR = need("EV_ERROR", C.EV_ERROR);

  readonly #CLEAR: number;

  constructor(max: number, edge: boolean, existingFd: number | null) {
    this.#CLEAR = edge ? need("EV_CLEAR", C.EV_CLEAR) : 0;
    this.#k = layoutOf("kevent", table.structs.kevent);
    const f = this.#k.fields;
    if (f.filter.size !== 2 || f.flags.size !== 2 || f.fflags.size !== 4 || f.ident.size !== 8) {
      throw new Error(`bsdsock: implausible struct kevent in the ${platformKey} table`);
    }
    this.#max = max;
    this.#changes = new Uint8Array(2 * this.#k.size);
    this.#changesView = new DataView(this.#changes.buffer);
    this.#out = new Uint8Array(max * this.#k.size);
    this.#outView = new DataView(this.#out.buffer);
    const ts = layoutOf("timespec", table.structs.timespec);
    this.#ts = new Uint8Array(ts.size);
    this.#tsView = new DataView(this.#ts.buffer);
    this.#zero = new Uint8Array(ts.size);
    if (existingFd !== null) { this.fd = existingFd; return; }
    const fd = libc.kqueue!();
    if (fd < 0) throw new SocketError("kqueue", readErrno());
    this.fd = fd;
  }

  /** Fills change `i`: ident = fd, the filter, flags; fflags, data, udata zero. */
  #change(i: number, fd: number, filter: number, flags: number): void {
    const v = this.#changesView;
    const f = this.#k.fields;
    const base = i * this.#k.size;
    this.#changes.fill(0, base, base + this.#k.size);
    putWord(v, base, f.ident, fd);
    v.setInt16(base + f.filter.offset, filter, LE);
    v.setUint16(base + f.flags.offset, flags, LE);
  }

  #apply(): void {
    check.fits("kevent", "nchanges × sizeof(struct kevent)", 2 * this.#k.size, check.byteLength("kevent", "changelist", this.#changes));
    for (;;) {
      if (libc.kevent!(this.fd, this.#changes, 2, null, 0, this.#zero) >= 0) return;
      const errno = readErrno();
      if (errno !== E.EINTR) throw new SocketError("kevent", errno);
    }
  }

  #register(fd: number, bits: number): void {
    this.#change(0, fd, this.#READ, this.#ADD | this.#CLEAR | (bits & READ ? this.#ENABLE : this.#DISABLE));
    this.#change(1, fd, this.#WRITE, this.#ADD | this.#CLEAR | (bits & WRITE ? this.#ENABLE : this.#DISABLE));
    this.#apply();
  }

  add(fd: number, bits: number): void { this.#register(fd, bits); }
  modify(fd: number, bits: number): void { this.#register(fd, bits); }
  remove(fd: number): void {
    this.#change(0, fd, this.#READ, this.#DELETE);
    this.#change(1, fd, this.#WRITE, this.#DELETE);
    this.#apply();
  }

  wait(timeoutMs: number, out: Int32Array): number {
    let ts: Uint8Array | null = null;
    if (timeoutMs >= 0) {
      const t = layoutOf("timespec", table.structs.timespec).fields;
      this.#ts.fill(0);
      putWord(this.#tsView, 0, t.tv_sec, Math.floor(timeoutMs / 1000));
      putWord(this.#tsView, 0, t.tv_nsec, (timeoutMs % 1000) * 1_000_000);
      ts = this.#ts;
    }
    check.fits("kevent", "nevents × sizeof(struct kevent)", this.#max * this.#k.size, check.byteLength("kevent", "eventlist", this.#out));
    const n = libc.kevent!(this.fd, null, 0, this.#out, this.#max, ts);
    if (n < 0) {
      const errno = readErrno();
      if (errno === E.EINTR) return 0;
      throw new SocketError("kevent", errno);
    }
    if (n > this.#max) throw new Error(`bsdsock: kevent returned ${n} events for a buffer of ${this.#max}`);
    const v = this.#outView;
    const f = this.#k.fields;
    // The read and write filters of one fd arrive as two events: one pair, bits merged.
    const pairOf = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const base = i * this.#k.size;
      const fd = getWord(v, base, f.ident);
      const filter = v.getInt16(base + f.filter.offset, LE);
      const flags = v.getUint16(base + f.flags.offset, LE);
      const fflags = v.getUint32(base + f.fflags.offset, LE);
      let p = pairOf.get(fd);
      if (p === undefined) {
        p = pairOf.size;
        pairOf.set(fd, p);
        out[2 * p] = fd;
        out[2 * p + 1] = 0;
      }
      let bits = 0;
      if (flags & this.#ERROR) bits = READY_ERROR;
      else {
        if (filter === this.#READ) bits |= READY_READ;
        else if (filter === this.#WRITE) bits |= READY_WRITE;
        // EV_EOF: the peer shut down; fflags then holds a pending socket error, if any.
        if (flags & this.#EOF) bits |= READY_HANGUP | (fflags !== 0 ? READY_ERROR : 0);
      }
      out[2 * p + 1] = out[2 * p + 1]! | bits;
    }
    return pairOf.size;
  }

  close(): void { sys.close(this.fd); }
}

// --- poll ------------------------------------------------------------------------------------------

/**
 * poll(): the registered set kept in JS, copied into a `struct pollfd` array when it changed.
 * Reports at most maxEvents per wait, starting the scan after where the last one stopped, so
 * no fd starves when more than maxEvents are ready.
 */
class PollBackend implements Backend {
  readonly fd = -1;
  readonly #p = table.structs.pollfd;
  readonly #set = new Map<number, number>();
  readonly #max: number;
  #fds: number[] = [];
  #buf = new Uint8Array(0);
  #view = new DataView(this.#buf.buffer);
  #dirty = true;
  #start = 0;
  readonly #IN = C.POLLIN;
  readonly #OUT = C.POLLOUT;
  readonly #RDHUP = C.POLLRDHUP ?? 0;

  constructor(max: number) {
    this.#max = max;
  }

  add(fd: number, bits: number): void {
    // poll() itself never rejects an fd; check it is open now, as epoll_ctl and kevent do.
    if (libc.fcntl(fd, C.F_GETFD, 0) < 0) throw new SocketError("fcntl", readErrno(), { note: `fd ${fd}` });
    this.#set.set(fd, bits);
    this.#dirty = true;
  }
  modify(fd: number, bits: number): void {
    if (libc.fcntl(fd, C.F_GETFD, 0) < 0) throw new SocketError("fcntl", readErrno(), { note: `fd ${fd}` });
    this.#set.set(fd, bits);
    this.#dirty = true;
  }
  remove(fd: number): void {
    this.#set.delete(fd);
    this.#dirty = true;
    if (libc.fcntl(fd, C.F_GETFD, 0) < 0) throw new SocketError("fcntl", readErrno(), { note: `fd ${fd}` });
  }

  #rebuild(): void {
    const n = this.#set.size;
    const need = Math.max(1, n) * this.#p.size;
    if (this.#buf.byteLength < need) {
      this.#buf = new Uint8Array(Math.max(need, this.#buf.byteLength * 2));
      this.#view = new DataView(this.#buf.buffer);
    }
    const f = this.#p.fields;
    this.#fds = [...this.#set.keys()];
    let i = 0;
    for (const [fd, bits] of this.#set) {
      const base = i++ * this.#p.size;
      let ev = 0;
      if (bits & READ) ev |= this.#IN | this.#RDHUP;
      if (bits & WRITE) ev |= this.#OUT;
      this.#view.setInt32(base + f.fd.offset, fd, LE);
      this.#view.setInt16(base + f.events.offset, ev, LE);
      this.#view.setInt16(base + f.revents.offset, 0, LE);
    }
    this.#dirty = false;
  }

  wait(timeoutMs: number, out: Int32Array): number {
    if (this.#dirty) this.#rebuild();
    const n = this.#fds.length;
    check.fits("poll", "nfds × sizeof(struct pollfd)", n * this.#p.size, check.byteLength("poll", "fds", this.#buf));
    const r = libc.poll(this.#buf, n, timeoutMs);
    if (r < 0) {
      const errno = readErrno();
      if (errno === E.EINTR) return 0;
      throw new SocketError("poll", errno);
    }
    if (r === 0) return 0;
    const f = this.#p.fields;
    const v = this.#view;
    const start = this.#start < n ? this.#start : 0;
    let pairs = 0;
    for (let k = 0; k < n && pairs < this.#max; k++) {
      const i = (start + k) % n;
      const re = v.getInt16(i * this.#p.size + f.revents.offset, LE);
      if (re === 0) continue;
      out[2 * pairs] = this.#fds[i]!;
      out[2 * pairs + 1] = (re & this.#IN ? READY_READ : 0) | (re & this.#OUT ? READY_WRITE : 0) |
        (re & (C.POLLHUP | this.#RDHUP) ? READY_HANGUP : 0) | (re & (C.POLLERR | C.POLLNVAL) ? READY_ERROR : 0);
      pairs++;
      this.#start = (i + 1) % n;
    }
    return pairs;
  }

  close(): void {
    this.#set.clear();
    this.#fds = [];
  }
}

// --- Poller ----------------------------------------------------------------------------------------

/** Set by Poller.attach for the constructor call it makes. */
let attaching: { fd: number } | null = null;

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
    const attach = attaching;
    attaching = null;
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
    attaching = { fd };
    try {
      return new Poller({ backend: handle.backend, maxEvents: handle.maxEvents, edgeTriggered: handle.edgeTriggered === true });
    } finally {
      attaching = null;
    }
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
