/** The kqueue backend of Poller (macOS; written from the headers, never run): see poller.ts. */
import { libc } from "../../ffi/libc.ts";
import { readErrno } from "../../ffi/errno.ts";
import { platformKey, table } from "../../ffi/platform.ts";
import type { StructLayout } from "../../ffi/table.ts";
import * as check from "../core/check.ts";
import { SocketError } from "../core/errors.ts";
import * as sys from "../core/sys.ts";
import { READ, READY_ERROR, READY_HANGUP, READY_READ, READY_WRITE, WRITE, getWord, layoutOf, need, putWord, type Backend } from "./backend.ts";

const E = table.errno;
const C = table.constants;
const LE = table.expressions.LITTLE_ENDIAN === 1;

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
export class KqueueBackend implements Backend {
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
