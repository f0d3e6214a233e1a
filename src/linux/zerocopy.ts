/**
 * MSG_ZEROCOPY (Linux 4.14+ TCP, 5.0+ UDP): sends whose pages the kernel pins and transmits
 * without copying, reporting through the socket's error queue when it no longer needs them.
 *
 * Each successful send() with MSG_ZEROCOPY gets the socket's next 32-bit id (the kernel's
 * sk_zckey); a completion is a `struct sock_extended_err` with ee_origin SO_EE_ORIGIN_ZEROCOPY
 * whose ee_info..ee_data is an inclusive range of ids now released (several sends may be
 * acknowledged together), and ee_code SO_EE_CODE_ZEROCOPY_COPIED when the kernel copied after
 * all (always on loopback and between network namespaces: the data crosses to a local socket).
 * A `ZeroCopyLedger` per socket counts the ids, holds each send's buffer (so it stays alive)
 * until its ids are all complete, and drains the error queue. It assumes it is the only one
 * sending MSG_ZEROCOPY on the socket and the only reader of the error queue: other
 * error-queue entries (IP_RECVERR errors, transmit timestamps) are consumed and dropped.
 */
import * as check from "../core/check.ts";
import { table } from "../../ffi/platform.ts";
import type { Socket } from "../socket/socket.ts";
import * as attempt from "../socket/attempts.ts";
import { WOULD_BLOCK } from "../socket/attempts.ts";
import { cmsgSpace } from "../socket/msg.ts";
import * as sys from "../core/sys.ts";
import { SocketError } from "../core/errors.ts";

const E = table.errno;

const C = table.constants;
const LE = table.expressions.LITTLE_ENDIAN === 1;
const SERR = table.structs.sock_extended_err;

/** What a zero-copy send reports once the kernel has released its buffer. */
export interface ZeroCopyResult {
  /** Bytes sent: all of the data. */
  readonly bytes: number;
  /**
   * The kernel copied some of the data after all (SO_EE_CODE_ZEROCOPY_COPIED): on loopback,
   * into another namespace, or where the device cannot send from user pages. Zero copy then
   * cost more than a plain send: turn it off for such destinations.
   */
  readonly copied: boolean;
}

/** One zero-copy completion: the send ids `first`..`last` (inclusive, modulo 2^32) are released. */
export interface ZeroCopyCompletion {
  readonly first: number;
  readonly last: number;
  /** SO_EE_CODE_ZEROCOPY_COPIED: the kernel copied the data of these sends after all. */
  readonly copied: boolean;
}

/**
 * The completion in an error-queue control message (IP_RECVERR or IPV6_RECVERR carrying a
 * struct sock_extended_err with origin SO_EE_ORIGIN_ZEROCOPY), or undefined when it is not one
 * or too short. Reads only inside `data`.
 */
export function decodeZeroCopy(level: number, type: number, data: Uint8Array): ZeroCopyCompletion | undefined {
  // A fresh view from the built-in getters: an own `byteLength` cannot widen what is read.
  return readZeroCopy(level, type, check.freshView("decodeZeroCopy", "data", data));
}

/** decodeZeroCopy on bytes the ledger sliced itself (its error-queue reads): no re-view. */
function readZeroCopy(level: number, type: number, data: Uint8Array): ZeroCopyCompletion | undefined {
  const isErr = (level === C.SOL_IP && type === C.IP_RECVERR) || (level === C.SOL_IPV6 && type === C.IPV6_RECVERR);
  if (!isErr || !SERR || C.SO_EE_ORIGIN_ZEROCOPY === null || data.byteLength < SERR.size) return undefined;
  const f = SERR.fields;
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (v.getUint8(f.ee_origin.offset) !== C.SO_EE_ORIGIN_ZEROCOPY || v.getUint32(f.ee_errno.offset, LE) !== 0) return undefined;
  const copied = C.SO_EE_CODE_ZEROCOPY_COPIED !== null && (v.getUint8(f.ee_code.offset) & C.SO_EE_CODE_ZEROCOPY_COPIED) !== 0;
  return { first: v.getUint32(f.ee_info.offset, LE), last: v.getUint32(f.ee_data.offset, LE), copied };
}

/** Why sendZeroCopy cannot run on a socket (a TypeError before any syscall), or null. */
export function zeroCopyRefusal(fn: string, family: number, type: number, data: unknown): TypeError | null {
  if (C.MSG_ZEROCOPY === null || C.SO_ZEROCOPY === null || C.MSG_ERRQUEUE === null || !SERR || C.SO_EE_ORIGIN_ZEROCOPY === null) {
    return new TypeError(`${fn}: MSG_ZEROCOPY does not exist on ${table.platform}`);
  }
  if ((family !== C.AF_INET && family !== C.AF_INET6) || (type !== C.SOCK_STREAM && type !== C.SOCK_DGRAM)) {
    return new TypeError(`${fn}: MSG_ZEROCOPY is for TCP and UDP sockets (inet/inet6 stream or dgram)`);
  }
  if (!ArrayBuffer.isView(data)) {
    return new TypeError(`${fn}: data must be an ArrayBufferView (a string would be a temporary copy, not your pages)`);
  }
  return null;
}

/** One sendZeroCopy call: its ids (`first`, `count` of them), how many completed, its buffer. */
export class ZeroCopyTicket {
  count = 0;
  completed = 0;
  copied = false;
  /** No more sends belong to it. */
  sealed = false;
  constructor(readonly first: number, readonly buffer: Uint8Array) {}
  /** Every id it got is complete (and none will follow). */
  get done(): boolean {
    return this.sealed && this.completed >= this.count;
  }
}

/** Ids of [a, a + n) also in [lo, lo + m), counted modulo 2^32. */
function overlap(a: number, n: number, lo: number, m: number): number {
  const d = (lo - a) >>> 0;
  if (d < n) return Math.min(n - d, m);
  const e = (a - lo) >>> 0;
  return e < m ? Math.min(m - e, n) : 0;
}

/** The errnos a failed connection reports (the kernel's sk_err: reset, timeout, ICMP errors). */
const CONNECTION_ERRORS = new Set([E.ECONNRESET, E.ETIMEDOUT, E.EHOSTUNREACH, E.ENETUNREACH, E.ECONNABORTED, E.ECONNREFUSED, E.ENETDOWN, E.EHOSTDOWN].filter((e): e is number => typeof e === "number"));

/** The error a zero-copy send rejects with when its connection failed before the peer acknowledged its data. */
export function connectionFailed(errno: number): SocketError {
  return new SocketError("send", errno, { note: "zero-copy send: the connection failed before its data was acknowledged" });
}

/** Errors made by reportLost: reported once more, never kept again. */
const reported = new WeakSet<SocketError>();

const outq = new Uint8Array(4);
const TCPI = table.structs.tcp_info;
const tcpInfo = new Uint8Array(TCPI?.size ?? 0);
const tcpInfoLen = new Uint32Array(1);

/**
 * Whether a hung-up TCP connection ended without the peer acknowledging all it was sent: its
 * state is TCP_CLOSE (a reset or a timeout; both ends shut down gracefully, with data or a FIN
 * still in flight, is FIN_WAIT/CLOSING/LAST_ACK, and reaches TCP_CLOSE only once all of it is
 * acknowledged) and SIOCOUTQ (write_seq - snd_una) is not 0. False where either is unknown.
 */
function failedWithDataUnacknowledged(fd: number): boolean {
  if (C.SIOCOUTQ === null || C.TCP_CLOSE === null || !TCPI || C.IPPROTO_TCP === null || C.TCP_INFO === null) return false;
  try {
    tcpInfoLen[0] = tcpInfo.byteLength;
    sys.getsockopt(fd, C.IPPROTO_TCP, C.TCP_INFO, tcpInfo, tcpInfoLen);
    if (tcpInfo[TCPI.fields.tcpi_state!.offset] !== C.TCP_CLOSE) return false;
    sys.ioctl(fd, C.SIOCOUTQ, outq);
  } catch {
    return false; // not TCP, or not connected: nothing was sent
  }
  return new DataView(outq.buffer).getInt32(0, LE) > 0;
}

/** Control-buffer room for one error-queue message: sock_extended_err and the offender address. */
const ROOM = SERR ? cmsgSpace(SERR.size + 32) : 0;
/** Error-queue messages read per drain, at most (the queue is bounded by the send buffer anyway). */
const DRAIN_MAX = 1024;

/** A socket's zero-copy state (see the module comment). */
export class ZeroCopyLedger {
  #enabled = false;
  /**
   * A connection error taken from the kernel for zero-copy's sake (see drainAndCheck and keep),
   * which the socket's next call reports once more — the kernel reports it only once, and a
   * recv after a reset must not read as a clean end of stream. 0: none.
   */
  lostError = 0;
  /** The id the next successful MSG_ZEROCOPY send gets. */
  #next = 0;
  /** Tickets not yet complete, oldest first (their buffers stay referenced until then). */
  readonly #open: ZeroCopyTicket[] = [];
  readonly #scratch = new Uint8Array(1);

  /** SO_ZEROCOPY on, once: without it the kernel ignores MSG_ZEROCOPY and reports nothing. */
  enable(fd: number): void {
    if (this.#enabled) return;
    try {
      sys.setIntOption(fd, C.SOL_SOCKET, C.SO_ZEROCOPY!, 1);
    } catch (e) {
      if (e instanceof SocketError && e.errno === E.EOPNOTSUPP) {
        throw new SocketError("setsockopt", e.errno, { note: "SO_ZEROCOPY: this kernel does not do MSG_ZEROCOPY on this socket (MPTCP sockets, for one): use sendAll" });
      }
      throw e;
    }
    this.#enabled = true;
  }

  /** A ticket for a call about to send `buffer`. */
  open(buffer: Uint8Array): ZeroCopyTicket {
    const t = new ZeroCopyTicket(this.#next, buffer);
    this.#open.push(t);
    return t;
  }

  /** One send() of `bytes` with MSG_ZEROCOPY for `ticket`: the count or WOULD_BLOCK. */
  send(ticket: ZeroCopyTicket, fd: number, bytes: Uint8Array, flags: number): number {
    const r = attempt.send(fd, bytes, flags | C.MSG_ZEROCOPY!);
    if (r !== WOULD_BLOCK) this.recordSend(ticket);
    return r;
  }

  /** Counts one successful MSG_ZEROCOPY send (one kernel id) for `ticket` (send's step; public for tests). */
  recordSend(ticket: ZeroCopyTicket): void {
    this.#next = (this.#next + 1) >>> 0;
    ticket.count++;
  }

  /** No more sends for `ticket`; a ticket with nothing to wait for leaves at once. */
  seal(ticket: ZeroCopyTicket): void {
    ticket.sealed = true;
    this.#prune();
  }

  /** Reads every completion queued now (never waits); returns how many queue entries it read. */
  drain(fd: number): number {
    let read = 0;
    for (; read < DRAIN_MAX && this.#open.length > 0; read++) {
      const r = attempt.recvMsg(fd, { buffers: [this.#scratch], controlSize: ROOM, flags: C.MSG_ERRQUEUE! });
      if (r === WOULD_BLOCK) break;
      for (const m of r.control) {
        const c = readZeroCopy(m.level, m.type, m.data);
        if (c) this.complete(c);
      }
    }
    this.#prune();
    return read;
  }

  /**
   * Drains, then whether the connection failed: an errno (0 if not). A completion also comes
   * when a reset purges unsent data, so after the drain:
   * - the error the socket holds (SO_ERROR; the kernel sets it before it purges) is taken, and
   *   kept as `lostError` for the socket's next call to report once more;
   * - with none held, the error may have gone to another call (a recv took the ECONNRESET): a
   *   hung-up connection (POLLHUP) that is closed (TCP_CLOSE) with bytes still unacknowledged
   *   (SIOCOUTQ) failed, and EPIPE is returned (not kept: the other call reported it).
   * poll() reports POLLERR for a pending error or a non-empty error queue; an entry that lands
   * between the two is drained and the check repeated.
   */
  drainAndCheck(fd: number, stream = true): number {
    this.drain(fd);
    // A datagram socket's pending error (an ICMP "port unreachable") is about the peer, not
    // about sends that were purged: it stays for the next call, as after a plain send.
    if (!stream) return 0;
    for (let i = 0; i < 8; i++) {
      const revents = sys.pollOne(fd, 0, 0);
      if ((revents & C.POLLERR) !== 0) {
        if (this.drain(fd) !== 0) continue;
        const err = sys.getIntOption(fd, C.SOL_SOCKET, C.SO_ERROR);
        if (err !== 0) this.lostError = err;
        return err;
      }
      return (revents & C.POLLHUP) !== 0 && failedWithDataUnacknowledged(fd) ? E.EPIPE : 0;
    }
    return 0; // completions keep coming: no error stands out; the next edge checks again
  }

  /**
   * Whether `e` is a failed connection's error from a zero-copy send's own send (not one
   * `reportLost` made): the sends still waiting were purged with it.
   */
  isConnectionFailure(e: unknown): e is SocketError {
    return e instanceof SocketError && e.syscall === "send" && CONNECTION_ERRORS.has(e.errno) && !reported.has(e);
  }

  /**
   * Keeps `e` as `lostError` when it is a connection failure a zero-copy send's own send got,
   * so the next call reports it once more, as when the ledger takes it (drainAndCheck). Other
   * errors (EPIPE after a shutdown, ENOBUFS, EBADF...) are the call's alone.
   */
  keep(e: unknown): void {
    if (this.isConnectionFailure(e)) this.lostError = e.errno;
  }

  /** The kept error as the next call's (`syscall`) error, once: it is cleared. */
  reportLost(syscall: string): SocketError {
    const e = new SocketError(syscall, this.lostError, { note: "the connection failed while a zero-copy send waited" });
    this.lostError = 0;
    reported.add(e);
    return e;
  }

  /** Tickets still waiting, for tests and diagnostics. */
  get pending(): number {
    return this.#open.length;
  }

  /** Counts `c` against the open tickets its range covers (drain's step; public for tests). */
  complete(c: ZeroCopyCompletion): void {
    const m = ((c.last - c.first) >>> 0) + 1;
    for (const t of this.#open) {
      const k = overlap(t.first, t.count, c.first, m);
      if (k === 0) continue;
      t.completed += k;
      if (c.copied) t.copied = true;
    }
  }

  /** Skips the id counter to `id`, as if that many sends had gone before (tests of wrap-around). */
  startAt(id: number): void {
    this.#next = id >>> 0;
  }

  #prune(): void {
    for (let i = this.#open.length - 1; i >= 0; i--) if (this.#open[i]!.done) this.#open.splice(i, 1);
  }
}

const ledgers = new WeakMap<Socket, ZeroCopyLedger>();

/** The ledger of `socket` (made at first use; it lives as long as the Socket object). */
export function zeroCopyLedger(socket: Socket): ZeroCopyLedger {
  let l = ledgers.get(socket);
  if (l === undefined) ledgers.set(socket, (l = new ZeroCopyLedger()));
  return l;
}
