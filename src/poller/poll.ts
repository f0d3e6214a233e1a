/** The poll() backend of Poller (everywhere; the reference the others are tested against). */
import { libc } from "../../ffi/libc.ts";
import { readErrno } from "../../ffi/errno.ts";
import { table } from "../../ffi/platform.ts";
import * as check from "../core/check.ts";
import { SocketError } from "../core/errors.ts";
import { READ, READY_ERROR, READY_HANGUP, READY_READ, READY_WRITE, WRITE, type Backend } from "./backend.ts";

const E = table.errno;
const C = table.constants;
const LE = table.expressions.LITTLE_ENDIAN === 1;

/**
 * poll(): the registered set kept in JS, copied into a `struct pollfd` array when it changed.
 * Reports at most maxEvents per wait, starting the scan after where the last one stopped, so
 * no fd starves when more than maxEvents are ready.
 */
export class PollBackend implements Backend {
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
