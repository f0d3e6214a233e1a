/**
 * sendmmsg/recvmmsg: many datagrams in one syscall.
 *
 * A {@link DatagramBatch} owns everything the kernel reads or writes for up to `capacity`
 * messages: the struct mmsghdr array, one iovec per message and one sockaddr buffer per message
 * (senders on receive; one shared destination on send). All of it is allocated once, in the
 * constructor, so a hot loop over `send`/`recv` allocates nothing per call (except the address
 * objects `address(i)` decodes, which are cached per sender).
 *
 * The rules of src/socket/msg.ts hold here too:
 * - every pointer written into a struct comes from a Uint8Array that is referenced (pinned)
 *   until the libc call returns, read after its storage was materialized (the built-in
 *   `buffer` getter: a small typed array's bytes move once when its ArrayBuffer is first asked
 *   for), and every length next to it is the buffer's real byteLength (the built-in getter);
 * - every field is written at the platform table's offset AND with its size (musl's
 *   msg_iovlen/msg_controllen are 4 bytes, glibc's 8);
 * - every argument is checked, and every caller value read exactly once, before any pointer is
 *   taken or any syscall made: a non-Uint8Array, a detached buffer, more messages than the
 *   capacity (at most {@link MAX_BATCH}) or a bad address throw TypeError/RangeError.
 *
 * Results (Linux semantics, which the fallback reproduces):
 * - send: the number of datagrams sent, from 1 to the count given. Fewer than given is a
 *   partial send (the socket buffer filled, or an error hit a later datagram: Linux then
 *   returns the count and the error is lost or reported by the next call); send the rest again.
 *   If the FIRST datagram cannot go, that is WOULD_BLOCK (EAGAIN) or a thrown SocketError.
 * - recv: the number of datagrams received, each with its length (msg_len), sender and
 *   MSG_TRUNC flag. Errors after the first datagram end the batch with the count.
 *
 * Platforms without sendmmsg/recvmmsg (macOS; the table has no struct mmsghdr) use a loop of
 * sendmsg/recvmsg over the same msghdr array instead, with the same results: send stops at the
 * first datagram that would block or fails (returning the count, or WOULD_BLOCK / throwing when
 * it is the first); recv takes the first datagram with the caller's flags and the rest with
 * MSG_DONTWAIT, stopping when the queue is empty, i.e. it always behaves as with
 * MSG_WAITFORONE (which real recvmmsg only does when asked: without it a blocking recvmmsg waits
 * until every buffer is filled. Socket.recvMany always asks for it).
 */
import { readErrno } from "../../ffi/errno.ts";
import { libc } from "../../ffi/libc.ts";
import { table } from "../../ffi/platform.ts";
import * as check from "../core/check.ts";
import { SocketError } from "../core/errors.ts";
import { addressOf, bytes, getUint, putUint, realLength } from "../core/pointers.ts";
import { AddressDecoder, AddressEncoder, SOCKADDR_MAX, type Address, type RawAddress } from "../core/sockaddr.ts";
import { INTERRUPTED, WOULD_BLOCK, outcome } from "../core/sys.ts";

const C = table.constants;
const E = table.errno;
const LE = table.expressions.LITTLE_ENDIAN === 1;
const MSGHDR = table.structs.msghdr;
const IOVEC = table.structs.iovec;
const MMSGHDR = table.structs.mmsghdr;

/**
 * Most messages one call takes: Linux's UIO_MAXIOV (1024), to which the kernel silently clamps
 * a larger vlen. (A kernel constant, absent from the headers the table is generated from.)
 */
export const MAX_BATCH = 1024;

/** Whether this platform has sendmmsg/recvmmsg (else the loop fallback is used). */
export const hasMmsg = MMSGHDR !== null && libc.sendmmsg !== undefined && libc.recvmmsg !== undefined;

/** Size of one element of the header array: struct mmsghdr, or struct msghdr for the fallback. */
const STRIDE = MMSGHDR ? MMSGHDR.size : MSGHDR.size;
/** Offset of the msghdr inside one element. */
const HDR = MMSGHDR ? MMSGHDR.fields.msg_hdr.offset : 0;

// --- memory (pointers: src/core/pointers.ts) ---------------------------------------------------------------------

/** The buffers a call's headers point into, referenced for exactly the duration of the call. */
let pinned: readonly Uint8Array[] | null = null;

// --- checks ----------------------------------------------------------------------------------------

/**
 * The caller's buffers, each element read exactly once, into `out` (reused). Every element must
 * be a genuine, non-detached Uint8Array; at most `capacity` of them. Returns the count.
 */
function collect(fn: string, what: string, list: unknown, capacity: number, out: Uint8Array[]): number {
  if (!Array.isArray(list)) throw new TypeError(`${fn}: ${what} must be an array of Uint8Array`);
  const n = list.length;
  if (n > capacity) {
    throw new RangeError(`${fn}: at most ${capacity} ${what} per call${capacity === MAX_BATCH ? " (UIO_MAXIOV)" : " (the batch's capacity)"}, got ${n}`);
  }
  for (let i = 0; i < n; i++) out[i] = list[i] as Uint8Array;
  // Checked after all were read: reading an element (a getter) can no longer change one checked before.
  for (let i = 0; i < n; i++) {
    const b = out[i]!;
    if (!(b instanceof Uint8Array)) throw new TypeError(`${fn}: ${what}[${i}] must be a Uint8Array`);
    check.byteLength(fn, `${what}[${i}]`, b); // a look-alike (Proxy, fake prototype) throws here
    if (check.isEmptied(b)) throw check.noMemory(fn, `${what}[${i}]`);
  }
  return n;
}

// --- the batch -------------------------------------------------------------------------------------

/** Options for a {@link DatagramBatch}. */
export interface DatagramBatchOptions {
  /**
   * Use the sendmsg/recvmsg loop even where sendmmsg/recvmmsg exist (for testing the fallback
   * that platforms without them use).
   */
  readonly loop?: boolean;
}

/** One received datagram, as {@link DatagramBatch.results} and Socket.recvMany return it. */
export interface ReceivedDatagram {
  /** msg_len: bytes received (with MSG_TRUNC in the flags, the datagram's real length). */
  readonly bytes: number;
  /** The received bytes: a view of the buffer given for this message. */
  readonly data: Uint8Array;
  /** The sender, when the kernel reported one. */
  readonly address: Address | RawAddress | undefined;
  /** MSG_TRUNC: the datagram was longer than its buffer (the rest is gone). */
  readonly truncated: boolean;
  /** The message's msg_flags as returned. */
  readonly flags: number;
}

/**
 * The headers, iovecs and address buffers for up to `capacity` datagrams, reused call after
 * call. `send` / `recv` make one sendmmsg / recvmmsg (or the fallback loop); after `recv`,
 * `length(i)`, `truncated(i)`, `flags(i)` and `address(i)` read message i's outcome without
 * allocating (until the next call).
 */
export class DatagramBatch {
  /** Most messages per call. */
  readonly capacity: number;
  readonly #loop: boolean;
  /** mmsghdr[capacity] (msghdr[capacity] for the fallback). */
  readonly #hdrs: Uint8Array;
  readonly #hv: DataView;
  readonly #iov: Uint8Array;
  readonly #iv: DataView;
  /** Senders on receive: SOCKADDR_MAX bytes per message; views of it per message. */
  readonly #names: Uint8Array;
  readonly #nameViews: Uint8Array[];
  /** The destination on send. */
  readonly #to = new AddressEncoder();
  readonly #decoder = new AddressDecoder();
  /** The caller's buffers of the current/last call (and the internal buffers), pinned during it. */
  readonly #bufs: Uint8Array[] = [];
  /** The fallback's per-message byte counts (sendmmsg/recvmmsg write msg_len instead). */
  readonly #lens: Float64Array;
  /** What the last recv returned, for the accessors. */
  #received = 0;
  #socketFamily = -1;
  /** Set while the caller's values are read (their getters run): a re-entrant use throws. */
  #busy = false;

  constructor(capacity = 64, options: DatagramBatchOptions = {}) {
    check.size("DatagramBatch", "capacity", capacity);
    if (capacity < 1 || capacity > MAX_BATCH) throw new RangeError(`DatagramBatch: capacity must be 1..${MAX_BATCH}, got ${capacity}`);
    this.capacity = capacity;
    this.#loop = !hasMmsg || options.loop === true;
    this.#hdrs = bytes(capacity * STRIDE);
    this.#hv = new DataView(this.#hdrs.buffer);
    this.#iov = bytes(capacity * IOVEC.size);
    this.#iv = new DataView(this.#iov.buffer);
    this.#names = bytes(capacity * SOCKADDR_MAX);
    this.#nameViews = [];
    for (let i = 0; i < capacity; i++) this.#nameViews.push(this.#names.subarray(i * SOCKADDR_MAX, (i + 1) * SOCKADDR_MAX));
    this.#lens = new Float64Array(capacity);
    // Constant for the batch's life: message i has exactly one iovec, iov[i].
    const iovBase = addressOf(this.#iov);
    for (let i = 0; i < capacity; i++) {
      const h = i * STRIDE + HDR;
      putUint(this.#hv, h, MSGHDR.fields.msg_iov, iovBase + i * IOVEC.size, "msg_iov");
      putUint(this.#hv, h, MSGHDR.fields.msg_iovlen, 1, "msg_iovlen");
    }
  }

  /** Whether this batch uses the sendmsg/recvmsg loop rather than sendmmsg/recvmmsg. */
  get loop(): boolean {
    return this.#loop;
  }

  #enter(fn: string): void {
    if (this.#busy) throw new Error(`${fn}: the batch was re-entered while reading its arguments (from a getter)`);
    this.#busy = true;
  }

  /** Writes iovec i (and resets the header's per-call fields): one buffer per message. */
  #fill(i: number, buf: Uint8Array, name: number, namelen: number): void {
    const len = realLength(buf);
    const iv = this.#iv;
    const o = i * IOVEC.size;
    putUint(iv, o, IOVEC.fields.iov_base, len ? addressOf(buf) : 0, "iov_base");
    putUint(iv, o, IOVEC.fields.iov_len, len, "iov_len");
    const hv = this.#hv;
    const h = i * STRIDE + HDR;
    putUint(hv, h, MSGHDR.fields.msg_name, name, "msg_name");
    putUint(hv, h, MSGHDR.fields.msg_namelen, namelen, "msg_namelen");
    putUint(hv, h, MSGHDR.fields.msg_control, 0, "msg_control");
    putUint(hv, h, MSGHDR.fields.msg_controllen, 0, "msg_controllen");
    hv.setInt32(h + MSGHDR.fields.msg_flags.offset, 0, LE);
    if (MMSGHDR) putUint(hv, i * STRIDE, MMSGHDR.fields.msg_len, 0, "msg_len");
  }

  /**
   * Checks and lays out a send of `datagrams` (each one datagram, one iovec) to `address` (or
   * the connected peer when omitted). Returns the count; nothing is sent yet. Throws before
   * any pointer is taken when an argument is wrong.
   */
  prepareSend(fn: string, datagrams: readonly Uint8Array[], address?: Address): number {
    // The address first: encoding it may run the caller's getters, which must not see a
    // half-built batch (or detach a buffer already checked).
    const bufs = this.#bufs;
    let namelen: number;
    let n: number;
    this.#enter(fn);
    try {
      namelen = address === undefined ? 0 : this.#to.encode(address);
      bufs.length = 0;
      n = collect(fn, "datagrams", datagrams, this.capacity, bufs);
    } finally {
      this.#busy = false;
    }
    const name = namelen ? addressOf(this.#to.bytes) : 0;
    for (let i = 0; i < n; i++) this.#fill(i, bufs[i]!, name, namelen);
    bufs.push(this.#to.bytes); // pinned with the datagrams
    return n;
  }

  /**
   * One sendmmsg() of the first `n` prepared datagrams (`n` from prepareSend): the count sent
   * (possibly fewer than `n`), or WOULD_BLOCK when none could go. EINTR is retried; another
   * error on the first datagram throws SocketError("sendmmsg").
   */
  attemptSend(fd: number, n: number, flags: number): number {
    if (n === 0) return 0;
    if (this.#loop) return this.#sendLoop(fd, n, flags);
    const hdrs = this.#hdrs;
    for (;;) {
      pinned = this.#bufs;
      const r = libc.sendmmsg!(fd, hdrs, n, flags);
      if (r >= 0) { pinned = null; return r; }
      const errno = readErrno();
      pinned = null;
      const o = outcome("sendmmsg", errno);
      if (o !== INTERRUPTED) return o;
    }
  }

  #sendLoop(fd: number, n: number, flags: number): number {
    const base = addressOf(this.#hdrs);
    let sent = 0;
    pinned = this.#bufs;
    try {
      while (sent < n) {
        const r = libc.sendmsg(fd, (base + sent * STRIDE + HDR) as never, flags);
        if (r >= 0) { this.#lens[sent] = r; sent++; continue; }
        const errno = readErrno();
        if (errno === E.EINTR) continue;
        if (sent > 0) break; // as sendmmsg: the count, the error is not reported
        return outcome("sendmsg", errno); // WOULD_BLOCK, or it throws
      }
    } finally {
      pinned = null;
    }
    return sent;
  }

  /** Checks, lays out and makes one send: sendmmsg semantics, see the module comment. */
  send(fd: number, datagrams: readonly Uint8Array[], address?: Address, flags = 0): number {
    check.fd("sendMany", fd);
    const fl = check.int32("sendMany", "flags", flags);
    const n = this.prepareSend("sendMany", datagrams, address);
    return this.attemptSend(fd, n, fl);
  }

  /**
   * Checks and lays out a receive into `buffers` (one datagram each). Returns the count;
   * nothing is received yet. `socketFamily` (AF_*) lets an unbound unix sender decode.
   */
  prepareRecv(fn: string, buffers: readonly Uint8Array[], socketFamily = -1): number {
    const bufs = this.#bufs;
    let n: number;
    this.#enter(fn);
    try {
      bufs.length = 0;
      n = collect(fn, "buffers", buffers, this.capacity, bufs);
    } finally {
      this.#busy = false;
    }
    this.#received = 0;
    this.#socketFamily = socketFamily;
    const names = addressOf(this.#names);
    for (let i = 0; i < n; i++) this.#fill(i, bufs[i]!, names + i * SOCKADDR_MAX, SOCKADDR_MAX);
    bufs.push(this.#names);
    return n;
  }

  /**
   * One recvmmsg() into the first `n` prepared buffers: the count received, or WOULD_BLOCK
   * when none was there. The in/out fields are reset before every try. Errors on the first
   * message throw SocketError("recvmmsg").
   */
  attemptRecv(fd: number, n: number, flags: number): number {
    if (n === 0) return 0;
    this.#received = 0;
    for (let i = 0; i < n; i++) {
      const h = i * STRIDE + HDR;
      putUint(this.#hv, h, MSGHDR.fields.msg_namelen, SOCKADDR_MAX, "msg_namelen");
      this.#hv.setInt32(h + MSGHDR.fields.msg_flags.offset, 0, LE);
    }
    if (this.#loop) return (this.#received = this.#recvLoop(fd, n, flags));
    const hdrs = this.#hdrs;
    for (;;) {
      pinned = this.#bufs;
      const r = libc.recvmmsg!(fd, hdrs, n, flags, null);
      if (r >= 0) { pinned = null; return (this.#received = r); }
      const errno = readErrno();
      pinned = null;
      const o = outcome("recvmmsg", errno);
      if (o !== INTERRUPTED) return o;
    }
  }

  #recvLoop(fd: number, n: number, flags: number): number {
    const base = addressOf(this.#hdrs);
    const later = (flags & ~(C.MSG_WAITFORONE ?? 0)) | C.MSG_DONTWAIT;
    let got = 0;
    pinned = this.#bufs;
    try {
      while (got < n) {
        const r = libc.recvmsg(fd, (base + got * STRIDE + HDR) as never, got === 0 ? flags & ~(C.MSG_WAITFORONE ?? 0) : later);
        if (r >= 0) { this.#lens[got] = r; got++; continue; }
        const errno = readErrno();
        if (errno === E.EINTR) continue;
        if (got > 0) break;
        return outcome("recvmsg", errno); // WOULD_BLOCK, or it throws
      }
    } finally {
      pinned = null;
    }
    return got;
  }

  /** Checks, lays out and makes one receive: recvmmsg semantics, see the module comment. */
  recv(fd: number, buffers: readonly Uint8Array[], flags = 0, socketFamily = -1): number {
    check.fd("recvMany", fd);
    const fl = check.int32("recvMany", "flags", flags);
    const n = this.prepareRecv("recvMany", buffers, socketFamily);
    return this.attemptRecv(fd, n, fl);
  }

  #index(i: number): number {
    if (!(Number.isInteger(i) && i >= 0 && i < this.#received)) throw new RangeError(`DatagramBatch: message ${i} was not received (last recv got ${this.#received})`);
    return i;
  }

  /** Message i's msg_len (bytes, or the real length with MSG_TRUNC in the flags); also after send. */
  length(i: number): number {
    if (this.#loop) return this.#lens[i]!;
    return getUint(this.#hv, i * STRIDE, MMSGHDR!.fields.msg_len);
  }

  /** Message i's msg_flags from the last recv. */
  flags(i: number): number {
    return this.#hv.getInt32(this.#index(i) * STRIDE + HDR + MSGHDR.fields.msg_flags.offset, LE);
  }

  /** Whether message i of the last recv was truncated (MSG_TRUNC in its msg_flags). */
  truncated(i: number): boolean {
    return (this.flags(i) & C.MSG_TRUNC) !== 0;
  }

  /** Message i's sender from the last recv (the same frozen object for a repeated sender). */
  address(i: number): Address | RawAddress | undefined {
    const h = this.#index(i) * STRIDE + HDR;
    const len = Math.min(getUint(this.#hv, h, MSGHDR.fields.msg_namelen), SOCKADDR_MAX);
    const fam = this.#socketFamily;
    if (len === 0 && fam !== C.AF_UNIX) return undefined;
    return this.#decoder.decode(this.#nameViews[i]!, len, fam);
  }

  /** The last recv's messages as objects (each `data` a view of its buffer). */
  results(): ReceivedDatagram[] {
    const out: ReceivedDatagram[] = [];
    const bufs = this.#bufs;
    for (let i = 0; i < this.#received; i++) {
      const n = this.length(i);
      const b = bufs[i]!;
      const flags = this.flags(i);
      out.push({
        bytes: n,
        data: b.subarray(0, Math.min(n, realLength(b))),
        address: this.address(i),
        truncated: (flags & C.MSG_TRUNC) !== 0,
        flags,
      });
    }
    return out;
  }
}

// --- plain functions on an fd ----------------------------------------------------------------------

let shared: DatagramBatch | null = null;

/**
 * A batch of at least `n` messages shared by the plain functions and Socket (calls are
 * synchronous, so one per thread suffices); grown in powers of two up to MAX_BATCH. A count
 * beyond MAX_BATCH gets the largest batch, whose check then throws.
 */
export function sharedBatch(n: number): DatagramBatch {
  if (shared === null || shared.capacity < n) {
    let cap = Math.max(64, shared?.capacity ?? 0);
    while (cap < n && cap < MAX_BATCH) cap *= 2;
    shared = new DatagramBatch(Math.min(cap, MAX_BATCH));
  }
  return shared;
}

/** The element count to size a shared batch for, without reading the elements. */
export function countOf(list: unknown): number {
  return Array.isArray(list) ? Math.min(list.length, MAX_BATCH + 1) : 0;
}

/**
 * sendmmsg() on an fd: each Uint8Array one datagram, to `address` (or the connected peer).
 * Returns the count sent (possibly partial: send the rest again). Flags are passed exactly as
 * given; would-block throws EAGAIN. `Socket.sendMany` adds MSG_NOSIGNAL and honors the timeout.
 */
export function sendMany(fd: number, datagrams: readonly Uint8Array[], address?: Address, flags = 0): number {
  const r = sharedBatch(countOf(datagrams)).send(fd, datagrams, address, flags);
  if (r === WOULD_BLOCK) throw new SocketError("sendmmsg", E.EAGAIN);
  return r;
}

/**
 * recvmmsg() on an fd: up to one datagram per buffer. Returns what arrived (length, data view,
 * sender, truncation). Flags are passed as given (add MSG_WAITFORONE on a blocking socket, or
 * it waits for every buffer); would-block throws EAGAIN. `Socket.recvMany` honors the timeout.
 */
export function recvMany(fd: number, buffers: readonly Uint8Array[], flags = 0): ReceivedDatagram[] {
  const batch = sharedBatch(countOf(buffers));
  const r = batch.recv(fd, buffers, flags);
  if (r === WOULD_BLOCK) throw new SocketError("recvmmsg", E.EAGAIN);
  return batch.results();
}
