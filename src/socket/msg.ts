/**
 * sendmsg/recvmsg and control messages: scatter/gather I/O, fd passing (SCM_RIGHTS), peer
 * credentials (SCM_CREDENTIALS), and any other control message as raw bytes.
 *
 * A struct msghdr holds raw pointers (msg_name, msg_iov → iovec[] → iov_base, msg_control), so
 * this is the one module of the typed API that writes addresses into memory. The rules it keeps:
 *
 * - Every pointer written into a msghdr or iovec comes from {@link addressOf} on a Uint8Array
 *   that the message object keeps referenced until the call returns (the GC cannot free it),
 *   and every length written next to a pointer is that buffer's byteLength (or a checked
 *   smaller length). Nothing else runs between building the message and the call.
 * - Fields are written at the offset AND with the size the platform table gives: glibc's
 *   msg_iovlen/msg_controllen/cmsg_len are 8-byte size_t; musl's are 4-byte with padding;
 *   Darwin's cmsghdr is 12 bytes. Nothing here assumes a layout.
 * - Received control data is walked strictly inside the msg_controllen the kernel returned.
 * - Received fds (SCM_RIGHTS) are always either returned to the caller or closed: with
 *   MSG_CTRUNC (the kernel still installs the fds that fit), and when decoding throws.
 *   On Linux they arrive close-on-exec (MSG_CMSG_CLOEXEC); elsewhere FD_CLOEXEC is set after.
 *
 * Wrappers follow src/core/sys.ts: libc is called, errno read immediately, EINTR retried, would-block
 * returned as WOULD_BLOCK to the Socket layer (which waits under its timeout), anything else
 * thrown as SocketError("sendmsg" | "recvmsg", errno).
 */
import { readErrno } from "../../ffi/errno.ts";
import { libc } from "../../ffi/libc.ts";
import { table } from "../../ffi/platform.ts";
import * as check from "../core/check.ts";
import { SocketError } from "../core/errors.ts";
import { addressOf, bytes, getUint, putUint, realLength } from "../core/pointers.ts";
import { readIntField } from "../core/structs.ts";
import type { FieldLayout } from "../../ffi/table.ts";
import { decodeAddress, encodeAddress, SOCKADDR_MAX, type Address, type RawAddress } from "../core/sockaddr.ts";
import * as sys from "../core/sys.ts";
import { mergePacketInfo, packetInfoSizes, readPacketInfo, sourceMessage, type PacketInfo, type PacketSource } from "./pktinfo.ts";
import { INTERRUPTED, WOULD_BLOCK, outcome } from "../core/sys.ts";

const C = table.constants;
const E = table.errno;
const X = table.expressions;
const LE = X.LITTLE_ENDIAN === 1;
const MSGHDR = table.structs.msghdr;
const IOVEC = table.structs.iovec;
const CMSGHDR = table.structs.cmsghdr;
const UCRED = table.structs.ucred;
const INT_SIZE = table.sizes.int;
const TIMEVAL = table.structs.timeval;
const TIMESPEC = table.structs.timespec;
const SCM_TIMESTAMPING_STRUCT = table.structs.scm_timestamping;
/** Room for the largest timestamp message the platform has (scm_timestamping where it exists). */
const TIMESTAMP_ROOM = Math.max(TIMEVAL.size, TIMESPEC.size, SCM_TIMESTAMPING_STRUCT?.size ?? 0);

// --- CMSG_* arithmetic, derived from the table ----------------------------------------------------

/**
 * The alignment CMSG_ALIGN rounds to, derived from the generated CMSG_* values rather than
 * from any field size. By definition CMSG_LEN(n) = CMSG_ALIGN(sizeof(cmsghdr)) + n and
 * CMSG_SPACE(n) = CMSG_ALIGN(sizeof(cmsghdr)) + CMSG_ALIGN(n), so
 * CMSG_SPACE(1) − CMSG_LEN(0) = CMSG_ALIGN(1) = the alignment itself.
 * Linux: 24 − 16 = 8 (sizeof(size_t), on glibc AND on musl, where cmsg_len is only 4 bytes, so
 * cmsg_len's size is not the alignment); Darwin: 16 − 12 = 4. The result is cross-checked
 * against CMSG_SPACE(0/4/8) and sizeof(struct cmsghdr); an inconsistent table is refused.
 */
export const CMSG_ALIGNMENT: number = (() => {
  const a = X.CMSG_SPACE_1 - X.CMSG_LEN_0;
  const up = (n: number) => (n + a - 1) & ~(a - 1);
  const ok = a > 0 && (a & (a - 1)) === 0 &&
    X.CMSG_LEN_0 % a === 0 && X.CMSG_LEN_0 >= CMSGHDR.size && X.CMSG_LEN_0 === up(CMSGHDR.size) &&
    X.CMSG_SPACE_0 === X.CMSG_LEN_0 &&
    X.CMSG_SPACE_4 === X.CMSG_LEN_0 + up(4) && X.CMSG_SPACE_8 === X.CMSG_LEN_0 + up(8);
  if (!ok) throw new Error(`bsdsock: inconsistent CMSG_* values in the ${table.platform} table`);
  return a;
})();

/** CMSG_ALIGN(n): `n` rounded up to the control-message alignment. */
export function cmsgAlign(n: number): number {
  return Math.ceil(n / CMSG_ALIGNMENT) * CMSG_ALIGNMENT;
}

/** CMSG_LEN(n): the cmsg_len of a control message carrying `n` data bytes. */
export function cmsgLen(n: number): number {
  return X.CMSG_LEN_0 + n;
}

/** CMSG_SPACE(n): the control-buffer bytes one control message with `n` data bytes takes. */
export function cmsgSpace(n: number): number {
  return X.CMSG_LEN_0 + cmsgAlign(n);
}

/** Offset of the data from the start of a cmsghdr (CMSG_DATA − cmsg). */
export const CMSG_DATA = X.CMSG_LEN_0;

/**
 * Most fds one SCM_RIGHTS message may carry: Linux's SCM_MAX_FD (include/net/scm.h; a kernel
 * constant, absent from the userspace headers the table is generated from). More → EINVAL.
 */
export const SCM_MAX_FD = 253;

// --- public types ---------------------------------------------------------------------------------

/** Bytes to send: any ArrayBufferView, or a string sent as UTF-8. */
export type MsgData = ArrayBufferView | string;

/** A point in wall-clock time (CLOCK_REALTIME): seconds and nanoseconds since the Unix epoch. */
export interface WallTime {
  /** Whole seconds since 1970-01-01 UTC. */
  readonly seconds: number;
  /** Nanoseconds within that second (microsecond steps for SCM_TIMESTAMP). */
  readonly nanoseconds: number;
}

/** A kernel timestamp: when the kernel stamped a packet, and which control message carried it. */
export interface KernelTimestamp extends WallTime {
  /** "timestamp" (SO_TIMESTAMP, struct timeval), "timestampNs" (SO_TIMESTAMPNS), "timestamping" (SO_TIMESTAMPING, software stamp). */
  readonly source: "timestamp" | "timestampNs" | "timestamping";
}

/** Milliseconds since the epoch, as a double (about 0.1 µs resolution today): for differences such as RTTs. */
export function timestampMs(t: WallTime): number {
  return t.seconds * 1e3 + t.nanoseconds / 1e6;
}

/** Reads a (seconds, fraction) pair at `base`: the fraction scaled to nanoseconds. */
function secondsAndNanos(dv: DataView, base: number, sec: FieldLayout, frac: FieldLayout, toNanos: number): [number, number] {
  return [
    readIntField(dv, { offset: base + sec.offset, size: sec.size }, true),
    readIntField(dv, { offset: base + frac.offset, size: frac.size }, true) * toNanos,
  ];
}

/**
 * Decodes a timestamp control message (SCM_TIMESTAMP, SCM_TIMESTAMPNS, SCM_TIMESTAMPING), or
 * undefined when it is not one or is shorter than its struct: reads only within `data`.
 */
export function decodeTimestamp(level: number, type: number, data: Uint8Array): KernelTimestamp | undefined {
  if (level !== C.SOL_SOCKET) return undefined;
  // A fresh view from the built-in getters: an own `byteLength` cannot widen what is read.
  return readTimestamp(type, check.freshView("decodeTimestamp", "data", data));
}

/** decodeTimestamp's SOL_SOCKET part on bytes this module sliced itself: no re-view. */
function readTimestamp(type: number, data: Uint8Array): KernelTimestamp | undefined {
  const dv = viewOf(data);
  const len = data.byteLength;
  if (type === C.SCM_TIMESTAMP && len >= TIMEVAL.size) {
    const [seconds, nanoseconds] = secondsAndNanos(dv, 0, TIMEVAL.fields.tv_sec, TIMEVAL.fields.tv_usec, 1000);
    return { seconds, nanoseconds, source: "timestamp" };
  }
  if (C.SCM_TIMESTAMPNS !== null && type === C.SCM_TIMESTAMPNS && len >= TIMESPEC.size) {
    const [seconds, nanoseconds] = secondsAndNanos(dv, 0, TIMESPEC.fields.tv_sec, TIMESPEC.fields.tv_nsec, 1);
    return { seconds, nanoseconds, source: "timestampNs" };
  }
  if (C.SCM_TIMESTAMPING !== null && SCM_TIMESTAMPING_STRUCT && type === C.SCM_TIMESTAMPING && len >= SCM_TIMESTAMPING_STRUCT.size) {
    // ts[0] is the software stamp, ts[2] the hardware one; the first that is set wins.
    for (const i of [0, 2]) {
      const [seconds, nanoseconds] = secondsAndNanos(dv, i * TIMESPEC.size, TIMESPEC.fields.tv_sec, TIMESPEC.fields.tv_nsec, 1);
      if (seconds !== 0 || nanoseconds !== 0) return { seconds, nanoseconds, source: "timestamping" };
    }
  }
  return undefined;
}

/** A process's credentials as SCM_CREDENTIALS carries them (struct ucred; Linux). */
export interface Credentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** One control message (ancillary data) as raw bytes: cmsg_level, cmsg_type and the data. */
export interface ControlMessage {
  readonly level: number;
  readonly type: number;
  readonly data: Uint8Array;
}

/** What `sendMsg` sends. */
export interface SendMsgOptions {
  /** The payload, gathered from one buffer or several (scatter/gather: one iovec each). */
  readonly data?: MsgData | readonly MsgData[];
  /** Destination (msg_name) for unconnected datagram sockets. */
  readonly address?: Address;
  /**
   * fds to pass (one SCM_RIGHTS message; at most SCM_MAX_FD). The receiver gets new fds for the
   * same open files; ours stay open. On a stream socket send at least one data byte with them.
   */
  readonly fds?: readonly number[];
  /**
   * SCM_CREDENTIALS (Linux): `true` sends this process's pid/uid/gid; an object sends those
   * (the kernel refuses values that are not ours unless privileged: EPERM).
   */
  readonly credentials?: Credentials | true;
  /**
   * UDP_SEGMENT (Linux 4.18+, UDP sockets): the kernel sends the data as datagrams of this many
   * bytes, the last one shorter (segmentation offload; at most 64 segments and 65 507 bytes per
   * call). 0 sends one datagram even when the `udpSegment` option is set. `sendSegments` does
   * the chunking for any length.
   */
  readonly segmentSize?: number;
  /**
   * The source address (and optionally the interface) of this datagram: an IP_PKTINFO or
   * IPV6_PKTINFO message (Linux). To answer from the address a datagram was sent to, pass the
   * `packetInfo` that `recvMsg` returned: `sendMsg({ data, address: from, source: packetInfo })`.
   * The address must be one of this host's (EINVAL otherwise); binding to it is not needed.
   */
  readonly source?: PacketSource;
  /** Further control messages, sent after the SCM_RIGHTS/SCM_CREDENTIALS/UDP_SEGMENT/source ones. */
  readonly control?: readonly ControlMessage[];
  /** MSG_* flags, or-ed as given (Socket.sendMsg adds MSG_NOSIGNAL). */
  readonly flags?: number;
}

/** How `recvMsg` receives. */
export interface RecvMsgOptions {
  /** Buffers to fill in order (scatter). Default: one new buffer of `size` bytes. */
  readonly buffers?: readonly Uint8Array[];
  /** Bytes to receive into a new buffer when `buffers` is not given (default 65536). */
  readonly size?: number;
  /**
   * Room for this many received fds: CMSG_SPACE(maxFds * sizeof(int)) bytes, whose padding may
   * fit one more (default 0: fds sent anyway are closed by the kernel, and MSG_CTRUNC is set).
   */
  readonly maxFds?: number;
  /** Room for one SCM_CREDENTIALS message (with SO_PASSCRED on, Linux). Default false. */
  readonly credentials?: boolean;
  /**
   * Room for one UDP_GRO message (with the `udpGro` option on, Linux 5.0+): the result's
   * `segmentSize` then says the size of the datagrams the kernel coalesced. Default false.
   */
  readonly segmentSize?: boolean;
  /**
   * Room for one kernel receive timestamp (with the `timestamp`, `timestampNs` or
   * `timestamping` option on): the result's `timestamp` then says when the kernel received the
   * data. Default false.
   */
  readonly timestamp?: boolean;
  /**
   * Room for the packet info of the datagram (with the `receivePacketInfoV4` or
   * `receivePacketInfoV6` option on, Linux): the result's `packetInfo` then says which local
   * address and interface it arrived on. Default false.
   */
  readonly packetInfo?: boolean;
  /** Control buffer size in bytes; overrides the room computed from maxFds/credentials/segmentSize/timestamp/packetInfo. */
  readonly controlSize?: number;
  /** MSG_* flags (MSG_PEEK, MSG_TRUNC, MSG_DONTWAIT, MSG_WAITALL...). MSG_CMSG_CLOEXEC is always added on Linux. */
  readonly flags?: number;
}

/** What `recvMsg` received. */
export interface RecvMsgResult {
  /**
   * recvmsg's return: bytes received (0 at end of stream). With MSG_TRUNC in the flags, a
   * datagram's real length, which may exceed the buffers' room.
   */
  readonly bytes: number;
  /** The buffers that were filled (yours, or the one allocated from `size`). */
  readonly buffers: readonly Uint8Array[];
  /** The received bytes (a view when there is one buffer, else a copy). */
  readonly data: Uint8Array;
  /** The sender (msg_name), when the kernel reported one (datagram sockets). */
  readonly address?: Address | RawAddress;
  /** fds received with SCM_RIGHTS; the caller owns them and must close them. */
  readonly fds: number[];
  /** Sender credentials (SCM_CREDENTIALS), when received. */
  readonly credentials?: Credentials;
  /**
   * UDP_GRO: the data is several datagrams of this many bytes coalesced by the kernel (the last
   * may be shorter); split it at multiples of it. Absent for an ordinary datagram.
   */
  readonly segmentSize?: number;
  /**
   * The kernel's receive timestamp (SCM_TIMESTAMP, SCM_TIMESTAMPNS, or the software stamp of
   * SCM_TIMESTAMPING), when one came: wall-clock time (CLOCK_REALTIME) the packet arrived.
   */
  readonly timestamp?: KernelTimestamp;
  /**
   * IP_PKTINFO / IPV6_PKTINFO: the local address the datagram was sent to and the interface it
   * came in on, when one came (the first one, if a dual-stack socket got both). Pass it as
   * `source` to answer from that address.
   */
  readonly packetInfo?: PacketInfo;
  /** Every other control message, copied. */
  readonly control: ControlMessage[];
  /** MSG_TRUNC: the datagram was longer than the buffers (the rest is gone). */
  readonly truncated: boolean;
  /** MSG_CTRUNC: control data did not fit (fds that did not fit were closed by the kernel). */
  readonly controlTruncated: boolean;
  /** msg_flags as returned. */
  readonly flags: number;
}

// --- memory ---------------------------------------------------------------------------------------

/**
 * A GC root for the buffers a msghdr points into, set for exactly the duration of one libc call
 * (calls are synchronous, so one slot suffices). The message objects reference their buffers
 * too; this makes the lifetime explicit and independent of how the JIT judges local liveness.
 */
let pinned: readonly Uint8Array[] | null = null;

/** Ends the pin set before a call and passes its result through. */
function unpin(r: number): number {
  pinned = null;
  return r;
}

const viewOf = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/**
 * Writes msg_iov/msg_iovlen for `bufs` (one iovec each, iov_len = the buffer's real byteLength)
 * and returns the iovec array, which the caller keeps alive with the buffers.
 */
function putIovecs(hdr: DataView, bufs: readonly Uint8Array[]): Uint8Array {
  const iov = bytes(Math.max(1, bufs.length) * IOVEC.size);
  const v = viewOf(iov);
  for (let i = 0; i < bufs.length; i++) {
    const b = bufs[i]!;
    const len = realLength(b);
    putUint(v, i * IOVEC.size, IOVEC.fields.iov_base, len ? addressOf(b) : 0, "iov_base");
    putUint(v, i * IOVEC.size, IOVEC.fields.iov_len, len, "iov_len");
  }
  putUint(hdr, 0, MSGHDR.fields.msg_iov, bufs.length ? addressOf(iov) : 0, "msg_iov");
  putUint(hdr, 0, MSGHDR.fields.msg_iovlen, bufs.length, "msg_iovlen");
  return iov;
}

// --- checks ---------------------------------------------------------------------------------------

const encoder = new TextEncoder();

/**
 * The data pieces as bytes: strings encoded, views checked. Each element is read once (a copy of
 * the array is taken first), so what is checked is what is sent.
 */
function dataList(fn: string, data: SendMsgOptions["data"]): Uint8Array[] {
  if (data === undefined) return [];
  const list = typeof data === "string" || ArrayBuffer.isView(data) ? [data] : data;
  if (!Array.isArray(list)) throw new TypeError(`${fn}: data must be bytes, a string, or an array of them`);
  return list.slice().map((d: MsgData, i: number) => typeof d === "string" ? encoder.encode(d) : check.bytes(fn, `data[${i}]`, d));
}

/**
 * Refuses a data piece with no memory left: it is a mistake, never "0 bytes" (it would send a
 * short or empty record). Run after every option getter, right before the iovecs are written.
 */
function refuseEmptied(fn: string, data: readonly Uint8Array[]): void {
  data.forEach((b, i) => {
    if (check.isEmptied(b)) throw check.noMemory(fn, `data[${i}]`);
  });
}

/** The fds as a checked copy: each element is read once, so a getter cannot swap a checked fd. */
function fdList(fn: string, fds: readonly number[] | undefined): number[] {
  if (fds === undefined) return [];
  if (!Array.isArray(fds)) throw new TypeError(`${fn}: fds must be an array of fd numbers`);
  const list: unknown[] = fds.slice();
  if (list.length > SCM_MAX_FD) throw new RangeError(`${fn}: at most ${SCM_MAX_FD} fds per message (SCM_MAX_FD), got ${list.length}`);
  return list.map((fd, i) => {
    const n = check.int32(fn, `fds[${i}]`, fd);
    if (n < 0) throw new RangeError(`${fn}: fds[${i}] must be >= 0, got ${n}`);
    return n;
  });
}

/** A UDP_SEGMENT control message: the segment size as a 16-bit unsigned (the kernel's gso_size). */
function segmentMessage(fn: string, size: unknown): ControlMessage {
  if (C.UDP_SEGMENT === null || C.SOL_UDP === null) throw new RangeError(`${fn}: UDP_SEGMENT does not exist on ${table.platform}`);
  const data = new Uint8Array(2);
  viewOf(data).setUint16(0, check.unsigned(fn, "segmentSize", size, 16), LE);
  return { level: C.SOL_UDP, type: C.UDP_SEGMENT, data };
}

function credentialsOf(fn: string, c: Credentials | true): Credentials {
  if (!UCRED || C.SCM_CREDENTIALS === null) throw new RangeError(`${fn}: SCM_CREDENTIALS does not exist on ${table.platform}`);
  if (c === true) return { pid: process.pid, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  if (c === null || typeof c !== "object") throw new TypeError(`${fn}: credentials must be true or { pid, uid, gid }`);
  return {
    pid: check.int32(fn, "credentials.pid", c.pid),
    uid: check.uint32(fn, "credentials.uid", c.uid),
    gid: check.uint32(fn, "credentials.gid", c.gid),
  };
}

// --- sending --------------------------------------------------------------------------------------

/**
 * A sendmsg() ready to be attempted: the msghdr and everything its pointers reach, kept
 * referenced by this object. Built once; attempted again after a would-block wait.
 */
export class OutgoingMessage {
  /** struct msghdr. */
  readonly #hdr: Uint8Array;
  /** Everything msghdr points into (name, iovecs, data buffers, control): alive while we are. */
  readonly #keep: readonly Uint8Array[];
  readonly #flags: number;

  /**
   * Checks every option (throwing TypeError/RangeError before any syscall) and builds the msghdr.
   * Each option is read once, and the data views are checked last, after every getter has run,
   * so no getter can change what was checked.
   */
  constructor(fn: string, options: SendMsgOptions, extraFlags = 0, socket?: { readonly family: number; readonly type: number }) {
    if (options === null || typeof options !== "object") throw new TypeError(`${fn}: options must be an object`);
    const { data: dataOption, fds: fdsOption, credentials, control: extra = [], segmentSize, source, flags, address } = options;
    const data = dataList(fn, dataOption);
    const fds = fdList(fn, fdsOption);
    const cred = credentials === undefined ? undefined : credentialsOf(fn, credentials);
    if (!Array.isArray(extra)) throw new TypeError(`${fn}: control must be an array of { level, type, data }`);
    const control: ControlMessage[] = [];
    if (fds.length) control.push({ level: C.SOL_SOCKET, type: C.SCM_RIGHTS, data: intBytes(fds) });
    if (cred) control.push({ level: C.SOL_SOCKET, type: C.SCM_CREDENTIALS!, data: ucredBytes(cred) });
    if (segmentSize !== undefined) control.push(segmentMessage(fn, segmentSize));
    if (source !== undefined) control.push(sourceMessage(fn, source, socket));
    extra.slice().forEach((m: ControlMessage, i: number) => {
      if (m === null || typeof m !== "object") throw new TypeError(`${fn}: control[${i}] must be { level, type, data }`);
      const { level, type, data: bytesOf } = m;
      control.push({
        level: check.int32(fn, `control[${i}].level`, level),
        type: check.int32(fn, `control[${i}].type`, type),
        data: check.bytes(fn, `control[${i}].data`, bytesOf),
      });
    });
    this.#flags = check.int32(fn, "flags", flags ?? 0) | extraFlags;

    const hdr = bytes(MSGHDR.size);
    const hv = viewOf(hdr);
    const keep: Uint8Array[] = [...data];
    if (address !== undefined) {
      const name = bytes(SOCKADDR_MAX);
      const len = encodeAddress(address, name);
      check.fits(fn, "msg_namelen", len, name.byteLength);
      putUint(hv, 0, MSGHDR.fields.msg_name, addressOf(name), "msg_name");
      putUint(hv, 0, MSGHDR.fields.msg_namelen, len, "msg_namelen");
      keep.push(name);
    }
    // From here on no user code runs: the control data is copied and the iovecs take the views'
    // lengths as they are now.
    if (control.length) {
      const ctl = encodeControl(control);
      putUint(hv, 0, MSGHDR.fields.msg_control, addressOf(ctl), "msg_control");
      putUint(hv, 0, MSGHDR.fields.msg_controllen, ctl.byteLength, "msg_controllen");
      keep.push(ctl);
    }
    refuseEmptied(fn, data);
    keep.push(putIovecs(hv, data));
    this.#hdr = hdr;
    this.#keep = keep;
  }

  /** One sendmsg(): bytes sent, or WOULD_BLOCK. EINTR is retried; other errors throw. */
  attempt(fd: number): number {
    const hdr = this.#hdr;
    const keep = this.#keep;
    for (;;) {
      pinned = keep;
      const r = libc.sendmsg(fd, hdr, this.#flags);
      if (r >= 0) return unpin(r);
      const errno = readErrno();
      pinned = null;
      const o = outcome("sendmsg", errno);
      if (o !== INTERRUPTED) return o;
    }
  }
}

/** fds as C ints. */
function intBytes(fds: readonly number[]): Uint8Array {
  const b = bytes(fds.length * INT_SIZE);
  const v = viewOf(b);
  fds.forEach((fd, i) => v.setInt32(i * INT_SIZE, fd, LE));
  return b;
}

/** A struct ucred. */
function ucredBytes(c: Credentials): Uint8Array {
  const L = UCRED!;
  const b = bytes(L.size);
  const v = viewOf(b);
  v.setInt32(L.fields.pid.offset, c.pid, LE);
  v.setUint32(L.fields.uid.offset, c.uid, LE);
  v.setUint32(L.fields.gid.offset, c.gid, LE);
  return b;
}

/**
 * Control messages laid out as the kernel reads them: each a cmsghdr (cmsg_len = CMSG_LEN(n),
 * written with the table's field size) followed by its data, padded to CMSG_SPACE(n); padding
 * (and musl's __pad1) stays zero.
 */
export function encodeControl(messages: readonly ControlMessage[]): Uint8Array {
  let total = 0;
  for (const m of messages) total += cmsgSpace(realLength(m.data));
  const out = bytes(total);
  const v = viewOf(out);
  let off = 0;
  for (const m of messages) {
    const n = realLength(m.data);
    putUint(v, off, CMSGHDR.fields.cmsg_len, cmsgLen(n), "cmsg_len");
    v.setInt32(off + CMSGHDR.fields.cmsg_level.offset, m.level, LE);
    v.setInt32(off + CMSGHDR.fields.cmsg_type.offset, m.type, LE);
    out.set(m.data, off + CMSG_DATA);
    off += cmsgSpace(n);
  }
  return out;
}

// --- receiving ------------------------------------------------------------------------------------

/** Flags every recvmsg carries: received fds are close-on-exec atomically where possible. */
const RECV_FLAGS = C.MSG_CMSG_CLOEXEC ?? 0;

/**
 * A recvmsg() ready to be attempted: msghdr, name, iovecs and control buffer, kept referenced
 * by this object. `attempt` until it stops returning WOULD_BLOCK, then `finish` with its result.
 */
export class IncomingMessage {
  readonly #hdr: Uint8Array;
  readonly #name: Uint8Array;
  readonly #control: Uint8Array;
  readonly #buffers: readonly Uint8Array[];
  readonly #keep: readonly Uint8Array[];
  readonly #flags: number;

  /**
   * Checks every option (throwing TypeError/RangeError before any syscall) and builds the msghdr.
   * Each option is read once and the buffers are checked last, after every getter has run: a
   * buffer emptied by a getter is refused instead of taking a 0-byte share (a false end of stream).
   */
  constructor(fn: string, options: RecvMsgOptions = {}) {
    if (options === null || typeof options !== "object") throw new TypeError(`${fn}: options must be an object`);
    const { buffers: buffersOption, size, maxFds: maxFdsOption, credentials, segmentSize, timestamp, packetInfo, controlSize, flags } = options;
    let buffers: readonly Uint8Array[];
    if (buffersOption !== undefined) {
      if (!Array.isArray(buffersOption)) throw new TypeError(`${fn}: buffers must be an array of Uint8Array`);
      if (size !== undefined) throw new TypeError(`${fn}: give buffers or size, not both`);
      buffers = buffersOption.slice();
      buffers.forEach((b: unknown, i: number) => {
        if (!(b instanceof Uint8Array)) throw new TypeError(`${fn}: buffers[${i}] must be a Uint8Array`);
      });
    } else {
      buffers = [check.allocate(fn, "size", size ?? 65536)];
    }
    const maxFds = check.size(fn, "maxFds", maxFdsOption ?? 0);
    if (maxFds > SCM_MAX_FD) throw new RangeError(`${fn}: maxFds is at most ${SCM_MAX_FD} (SCM_MAX_FD), got ${maxFds}`);
    for (const [name, v] of [["credentials", credentials], ["segmentSize", segmentSize], ["timestamp", timestamp], ["packetInfo", packetInfo]] as const) {
      if (v !== undefined && typeof v !== "boolean") throw new TypeError(`${fn}: ${name} must be a boolean, got ${typeof v}`);
    }
    if (credentials && !UCRED) throw new RangeError(`${fn}: SCM_CREDENTIALS does not exist on ${table.platform}`);
    if (segmentSize && C.UDP_GRO === null) throw new RangeError(`${fn}: UDP_GRO does not exist on ${table.platform}`);
    const infoRoom = packetInfo ? packetInfoSizes(fn).reduce((sum, n) => sum + cmsgSpace(n), 0) : 0;
    const room = controlSize !== undefined
      ? check.size(fn, "controlSize", controlSize)
      : (maxFds ? cmsgSpace(maxFds * INT_SIZE) : 0) + (credentials ? cmsgSpace(UCRED!.size) : 0) +
        (segmentSize ? cmsgSpace(INT_SIZE) : 0) + (timestamp ? cmsgSpace(TIMESTAMP_ROOM) : 0) + infoRoom;
    if (room > 0x7fffffff) throw new RangeError(`${fn}: controlSize ${room} is too large`);
    this.#flags = check.int32(fn, "flags", flags ?? 0) | RECV_FLAGS;

    // No user code runs from here: the buffers are checked as the iovecs will describe them.
    buffers.forEach((b, i) => {
      if (check.isEmptied(b)) throw check.noMemory(fn, `buffers[${i}]`);
    });
    const hdr = bytes(MSGHDR.size);
    const hv = viewOf(hdr);
    const name = bytes(SOCKADDR_MAX);
    const control = bytes(room);
    putUint(hv, 0, MSGHDR.fields.msg_name, addressOf(name), "msg_name");
    const iov = putIovecs(hv, buffers);
    putUint(hv, 0, MSGHDR.fields.msg_control, addressOf(control), "msg_control");
    this.#hdr = hdr;
    this.#name = name;
    this.#control = control;
    this.#buffers = buffers;
    this.#keep = [name, control, iov, ...buffers];
  }

  /**
   * One recvmsg(): bytes received, or WOULD_BLOCK. The in/out lengths are reset before every
   * try (EINTR is retried). Any fds a successful call installs belong to `finish`, which must
   * be called next.
   */
  attempt(fd: number): number {
    const hdr = this.#hdr;
    const hv = viewOf(hdr);
    const keep = this.#keep;
    for (;;) {
      putUint(hv, 0, MSGHDR.fields.msg_namelen, this.#name.byteLength, "msg_namelen");
      putUint(hv, 0, MSGHDR.fields.msg_controllen, this.#control.byteLength, "msg_controllen");
      hv.setInt32(MSGHDR.fields.msg_flags.offset, 0, LE);
      pinned = keep;
      const r = libc.recvmsg(fd, hdr, this.#flags);
      if (r >= 0) return unpin(r);
      const errno = readErrno();
      pinned = null;
      const o = outcome("recvmsg", errno);
      if (o !== INTERRUPTED) return o;
    }
  }

  /**
   * Decodes what a successful attempt returned (`n` bytes). The fds are collected first, by a
   * walk that only reads checked ranges; if anything after that throws, they are closed.
   */
  finish(n: number): RecvMsgResult {
    const hv = viewOf(this.#hdr);
    const flags = hv.getInt32(MSGHDR.fields.msg_flags.offset, LE);
    const controlLen = Math.min(getUint(hv, 0, MSGHDR.fields.msg_controllen), this.#control.byteLength);
    const messages = walkControl(this.#control, controlLen);
    const fds: number[] = [];
    for (const m of messages) {
      if (m.level === C.SOL_SOCKET && m.type === C.SCM_RIGHTS) {
        const dv = viewOf(m.data);
        for (let off = 0; off + INT_SIZE <= m.data.byteLength; off += INT_SIZE) fds.push(dv.getInt32(off, LE));
      }
    }
    try {
      if (!RECV_FLAGS) for (const fd of fds) sys.setCloseOnExec(fd);
      let credentials: Credentials | undefined;
      let segmentSize: number | undefined;
      let timestamp: KernelTimestamp | undefined;
      let packetInfo: PacketInfo | undefined; // IP_PKTINFO
      let packetInfoV6: PacketInfo | undefined; // IPV6_PKTINFO
      const control: ControlMessage[] = [];
      for (const m of messages) {
        if (m.level === C.SOL_SOCKET && m.type === C.SCM_RIGHTS) continue;
        if (timestamp === undefined) {
          timestamp = m.level === C.SOL_SOCKET ? readTimestamp(m.type, m.data) : undefined;
          if (timestamp !== undefined) continue;
        }
        if (packetInfo === undefined || packetInfoV6 === undefined) {
          const info = readPacketInfo(m.level, m.type, m.data);
          if (info?.family === "ipv4" && packetInfo === undefined) { packetInfo = info; continue; }
          if (info?.family === "ipv6" && packetInfoV6 === undefined) { packetInfoV6 = info; continue; }
        }
        if (C.UDP_GRO !== null && m.level === C.SOL_UDP && m.type === C.UDP_GRO && m.data.byteLength >= INT_SIZE && segmentSize === undefined) {
          segmentSize = viewOf(m.data).getInt32(0, LE); // the kernel puts gso_size in an int
          continue;
        }
        if (UCRED && m.level === C.SOL_SOCKET && m.type === C.SCM_CREDENTIALS && m.data.byteLength >= UCRED.size && !credentials) {
          const dv = viewOf(m.data);
          credentials = {
            pid: dv.getInt32(UCRED.fields.pid.offset, LE),
            uid: dv.getUint32(UCRED.fields.uid.offset, LE),
            gid: dv.getUint32(UCRED.fields.gid.offset, LE),
          };
          continue;
        }
        control.push({ level: m.level, type: m.type, data: m.data.slice() });
      }
      const info = mergePacketInfo(packetInfo, packetInfoV6);
      const nameLen = Math.min(getUint(hv, 0, MSGHDR.fields.msg_namelen), this.#name.byteLength);
      const buffers = this.#buffers;
      let room = 0;
      for (const b of buffers) room += realLength(b);
      const got = Math.min(n, room);
      let data: Uint8Array;
      if (buffers.length === 1) data = buffers[0]!.subarray(0, got);
      else {
        data = new Uint8Array(got);
        let off = 0;
        for (const b of buffers) {
          if (off >= got) break;
          const part = b.subarray(0, Math.min(realLength(b), got - off));
          data.set(part, off);
          off += part.byteLength;
        }
      }
      const result: RecvMsgResult = {
        bytes: n,
        buffers,
        data,
        fds,
        control,
        truncated: (flags & C.MSG_TRUNC) !== 0,
        controlTruncated: (flags & C.MSG_CTRUNC) !== 0,
        flags,
        ...(nameLen > 0 ? { address: decodeAddress(this.#name, nameLen) } : {}),
        ...(credentials ? { credentials } : {}),
        ...(segmentSize !== undefined ? { segmentSize } : {}),
        ...(timestamp !== undefined ? { timestamp } : {}),
        ...(info !== undefined ? { packetInfo: info } : {}),
      };
      return result;
    } catch (e) {
      closeAll(fds);
      throw e;
    }
  }
}

/** Closes fds, ignoring errors (used on failure paths, where the first error is the one to report). */
function closeAll(fds: readonly number[]): void {
  for (const fd of fds) {
    try { sys.close(fd); } catch { /* already reporting another error */ }
  }
}

/**
 * The control messages in the first `len` bytes of `control` (the msg_controllen the kernel
 * returned). Never reads past `len`: a header that does not fit ends the walk, a cmsg_len
 * shorter than a header is malformed and ends it, and a cmsg_len reaching past `len` (a
 * message the kernel truncated) yields only the data bytes that are inside. Each `data` is a
 * view into `control`.
 */
export function walkControl(control: Uint8Array, len: number): ControlMessage[] {
  len = Math.min(len, control.byteLength);
  const v = viewOf(control);
  const out: ControlMessage[] = [];
  let off = 0;
  while (off + CMSGHDR.size <= len && off + CMSG_DATA <= len) {
    const clen = getUint(v, off, CMSGHDR.fields.cmsg_len);
    if (clen < CMSG_DATA) break;
    const end = Math.min(off + clen, len);
    out.push({
      level: v.getInt32(off + CMSGHDR.fields.cmsg_level.offset, LE),
      type: v.getInt32(off + CMSGHDR.fields.cmsg_type.offset, LE),
      data: control.subarray(off + CMSG_DATA, end),
    });
    if (off + clen >= len) break;
    off += cmsgAlign(clen);
  }
  return out;
}

// --- plain functions on an fd ---------------------------------------------------------------------

/**
 * sendmsg() on an fd: the payload (scattered over several buffers if given as an array), an
 * optional destination, fds (SCM_RIGHTS), credentials (SCM_CREDENTIALS) and raw control
 * messages. Returns bytes sent. Flags are passed exactly as given; would-block throws EAGAIN.
 * `Socket.sendMsg` adds MSG_NOSIGNAL and honors the socket's timeout.
 */
export function sendMsg(fd: number, options: SendMsgOptions): number {
  check.fd("sendMsg", fd);
  const r = new OutgoingMessage("sendMsg", options).attempt(fd);
  if (r === WOULD_BLOCK) throw new SocketError("sendmsg", E.EAGAIN);
  return r;
}

/**
 * recvmsg() on an fd: fills the buffers (or one new buffer of `size` bytes) and decodes the
 * sender, fds, credentials and other control messages. Would-block throws EAGAIN.
 * `Socket.recvMsg` honors the socket's timeout.
 */
export function recvMsg(fd: number, options: RecvMsgOptions = {}): RecvMsgResult {
  check.fd("recvMsg", fd);
  const msg = new IncomingMessage("recvMsg", options);
  const r = msg.attempt(fd);
  if (r === WOULD_BLOCK) throw new SocketError("recvmsg", E.EAGAIN);
  return msg.finish(r);
}
