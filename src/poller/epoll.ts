/** The epoll backend of Poller (Linux): see poller.ts for the contract. */
import { libc } from "../../ffi/libc.ts";
import { readErrno } from "../../ffi/errno.ts";
import { platformKey, table } from "../../ffi/platform.ts";
import type { FieldLayout } from "../../ffi/table.ts";
import * as check from "../core/check.ts";
import { SocketError } from "../core/errors.ts";
import * as sys from "../core/sys.ts";
import { READ, READY_ERROR, READY_HANGUP, READY_READ, READY_WRITE, WRITE, getWord, layoutOf, need, putWord, type Backend } from "./backend.ts";

const E = table.errno;
const C = table.constants;
const LE = table.expressions.LITTLE_ENDIAN === 1;

/** epoll: one epoll_event per registered fd in the kernel; `data` carries the fd. */
export class EpollBackend implements Backend {
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
