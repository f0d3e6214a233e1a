/**
 * The attempt layer: one function per operation that checks every argument, makes exactly one
 * system call (EINTR is retried inside src/core/sys.ts), and returns its result or the one
 * "would block" value, WOULD_BLOCK. Nothing here waits.
 *
 * Two drivers run these attempts (Go's internal/poll shape, CPython's sock_call_ex): the
 * blocking `Socket` waits with poll() until its deadline and tries again; `AsyncSocket` waits
 * for the reactor's readiness and tries again. Neither knows the other; only what "wait" means
 * differs. Because an attempt re-reads and re-checks its arguments every time it runs, a buffer
 * shrunk or detached while the driver waited is caught before the next call reaches libc.
 *
 * Multi-call writes (sendSegments, sendFile) are attempted one step at a time: a step sends
 * what the kernel takes now and reports the bytes, or WOULD_BLOCK; the driver keeps the count.
 */
import { table } from "../../ffi/platform.ts";
import * as check from "../core/check.ts";
import { SocketError } from "../core/errors.ts";
import { AddressDecoder, AddressEncoder, decodeAddress, SOCKADDR_MAX, type Address, type RawAddress } from "../core/sockaddr.ts";
import * as sys from "../core/sys.ts";
import { WOULD_BLOCK } from "../core/sys.ts";
import { kernelHasUdpSegment, SegmentSender } from "../linux/gso.ts";
import { countOf, sharedBatch, type ReceivedDatagram } from "./mmsg.ts";
import { IncomingMessage, OutgoingMessage, type RecvMsgOptions, type RecvMsgResult, type SendMsgOptions } from "./msg.ts";

export { WOULD_BLOCK };

const C = table.constants;
const E = table.errno;

/** Flags every send carries: MSG_NOSIGNAL where it exists (a dead peer gives EPIPE, not SIGPIPE). */
export const SEND_FLAGS = C.MSG_NOSIGNAL ?? 0;

/** Data to send: bytes (any ArrayBufferView) or a string, sent as UTF-8. */
export type Data = ArrayBufferView | string;

const encoder = new TextEncoder();

/** The bytes of `data` (a string as UTF-8), with the view checks of check.bytes. */
export function bytesOf(fn: string, data: Data): Uint8Array {
  if (typeof data === "string") return encoder.encode(data);
  return check.bytes(fn, "data", data);
}

/** The real size of a buffer (built-in getter; a shadowed byteLength is ignored). */
export const sizeOf = (fn: string, buf: Uint8Array): number => check.byteLength(fn, "buffer", buf);

/** An int32 flags value. */
export function flagsOf(fn: string, flags: number): number {
  return check.int32(fn, "flags", flags);
}

/** An int32 flags value (one comparison when it already is one), plus MSG_NOSIGNAL. */
function sendFlagsOf(fn: string, flags: number): number {
  return (typeof flags === "number" && (flags | 0) === flags ? flags : flagsOf(fn, flags)) | SEND_FLAGS;
}

/** The bytes `sendable` checked last; the caller reads it at once and calls `sent()` after. */
let sendableBytes: Uint8Array = new Uint8Array(0);
const NO_BYTES = sendableBytes;

/**
 * The hot-path check of a send's data: returns its real byte length and leaves the bytes in
 * `sendableBytes`. A genuine Uint8Array's length is read once (one built-in getter call);
 * anything else takes bytesOf's checks. No allocation for a Uint8Array.
 */
function sendable(fn: string, data: Data): number {
  const n = data instanceof Uint8Array ? check.typedLengthOrNone(data) : -1;
  if (n > 0) {
    sendableBytes = data as Uint8Array;
    return n;
  }
  sendableBytes = n === 0 ? data as Uint8Array : bytesOf(fn, data);
  const size = n === 0 ? 0 : sizeOf(fn, sendableBytes);
  // A view with no memory left is a mistake, never "0 bytes": it would send an empty datagram
  // (or make a stream send loop spin), so it is refused as a receive into it is.
  if (size === 0 && typeof data !== "string" && check.isEmptied(data)) {
    sendableBytes = NO_BYTES;
    throw check.noMemory(fn, "data");
  }
  return size;
}

/** Forgets the last `sendable` buffer (so a big one is not kept alive). */
function sent(): void {
  sendableBytes = NO_BYTES;
}

// Scratch space: attempts are synchronous, so one set per thread suffices and the hot path
// allocates nothing.
const peerBytes = new Uint8Array(SOCKADDR_MAX);
const peerLen = new Uint32Array(1);
/** sendTo's destination and recvFrom's source, each remembering the last address. */
const sendToAddress = new AddressEncoder();
const recvFromAddress = new AddressDecoder();
/** sendSegments' msghdr, iovec and UDP_SEGMENT control message. */
let segmentSender: SegmentSender | null = null;

// --- one system call each -------------------------------------------------------------------------

/** send(): the count, or WOULD_BLOCK. */
export function send(fd: number, data: Data, flags: number): number {
  const fl = sendFlagsOf("send", flags);
  const len = sendable("send", data);
  const buf = sendableBytes;
  sent();
  return sys.sendChecked(fd, buf, len, fl);
}

/** recv() into the first `nbytes` of `buffer` (default all of it): the count, or WOULD_BLOCK. */
export function recvInto(fd: number, buffer: Uint8Array, nbytes: number | undefined, flags: number): number {
  if (!(buffer instanceof Uint8Array)) throw new TypeError("recvInto: buffer must be a Uint8Array");
  const size = sizeOf("recvInto", buffer);
  // A transferred or shrunk buffer has no bytes: recv(…, 0) would return 0 and read as end of stream.
  if (size === 0 && check.isDetached(buffer)) throw new TypeError("recvInto: buffer is detached (transferred)");
  if (nbytes === undefined) nbytes = size;
  else check.fits("recvInto", "nbytes", check.size("recvInto", "nbytes", nbytes), size);
  if (size === 0 && check.isEmptied(buffer)) throw new TypeError("recvInto: buffer has no memory (its resizable buffer shrank)");
  return sys.recv(fd, buffer, nbytes, flagsOf("recv", flags));
}

/**
 * sendto(): the count, or WOULD_BLOCK. The hot path of a datagram sender, so each fact is read
 * once: an int32 flags value, the encoder's length (never beyond its own buffer), the data's
 * real length. Flags and address first: encoding may run the caller's getters, which could
 * shrink or detach the data's buffer; its length is read last, just before the call.
 */
export function sendTo(fd: number, data: Data, address: Address, flags: number): number {
  const fl = sendFlagsOf("sendTo", flags);
  const len = sendToAddress.encode(address);
  const size = sendable("sendTo", data);
  const buf = sendableBytes;
  sent();
  return sys.sendtoChecked(fd, buf, size, fl, sendToAddress.bytes, len);
}

/** Why `connectWithData` cannot run on this socket (a TypeError before any syscall), or null. */
export function fastOpenRefusal(family: number, type: number, protocol: number): TypeError | null {
  if (C.MSG_FASTOPEN === null) return new TypeError(`connectWithData: MSG_FASTOPEN (TCP Fast Open) does not exist on ${table.platform}`);
  if ((family !== C.AF_INET && family !== C.AF_INET6) || type !== C.SOCK_STREAM || (protocol !== 0 && protocol !== C.IPPROTO_TCP && protocol !== C.IPPROTO_MPTCP)) {
    // On a UDP socket MSG_FASTOPEN would be ignored and the data sent as a datagram.
    return new TypeError("connectWithData: TCP Fast Open needs an inet/inet6 stream socket (TCP or MPTCP)");
  }
  return null;
}

/**
 * sendto(MSG_FASTOPEN) of `buf` to `address` on an unconnected TCP socket: the connect, with the
 * data in the SYN when the kernel has a Fast Open cookie for that server. Returns the bytes the
 * SYN carries (a blocking socket waits out a cookie-less handshake and returns what it then
 * sent), or WOULD_BLOCK when no data went: without a cookie a non-blocking socket sends a plain
 * SYN asking for one (EINPROGRESS), and the driver waits for the connection and sends the data.
 * FAST_OPEN_OFF: nothing was done because the client side of Fast Open is switched off
 * (net.ipv4.tcp_fastopen without bit 1: EOPNOTSUPP); the driver connects as usual.
 */
export function fastOpen(fd: number, buf: Uint8Array, address: Address, flags: number): number {
  try {
    return sendTo(fd, buf, address, flags | C.MSG_FASTOPEN!);
  } catch (e) {
    if (e instanceof SocketError && e.syscall === "sendto") {
      if (e.errno === E.EINPROGRESS || e.errno === E.EALREADY) return WOULD_BLOCK;
      if (e.errno === E.EOPNOTSUPP) return FAST_OPEN_OFF;
    }
    throw e;
  }
}

/** fastOpen's "Fast Open is switched off here: connect() as usual" (distinct from WOULD_BLOCK and any count). */
export const FAST_OPEN_OFF = -2;

/** recvfrom() into `buffer`: [count, sender] (with MSG_TRUNC: the real length), or WOULD_BLOCK. */
export function recvFromInto(fd: number, family: number, buffer: Uint8Array, nbytes: number | undefined, flags: number): [number, Address | RawAddress] | typeof WOULD_BLOCK {
  if (!(buffer instanceof Uint8Array)) throw new TypeError("recvFromInto: buffer must be a Uint8Array");
  const size = sizeOf("recvFromInto", buffer);
  if (size === 0 && check.isDetached(buffer)) throw new TypeError("recvFromInto: buffer is detached (transferred)");
  if (nbytes === undefined) nbytes = size;
  else check.fits("recvFromInto", "nbytes", check.size("recvFromInto", "nbytes", nbytes), size);
  if (size === 0 && check.isEmptied(buffer)) throw new TypeError("recvFromInto: buffer has no memory (its resizable buffer shrank)");
  const fl = flagsOf("recvfrom", flags);
  peerLen[0] = peerBytes.length;
  const r = sys.recvfrom(fd, buffer, nbytes, fl, peerBytes, peerLen);
  if (r === WOULD_BLOCK) return WOULD_BLOCK;
  return [r, recvFromAddress.decode(peerBytes, peerLen[0]!, family)];
}

/**
 * accept4() (accept where there is none) with `flags` (SOCK_CLOEXEC, SOCK_NONBLOCK):
 * [new fd, peer], or WOULD_BLOCK. The caller owns the fd at once (see Socket's adoptAccepted).
 */
export function accept(fd: number, family: number, flags: number): [number, Address | RawAddress] | typeof WOULD_BLOCK {
  peerLen[0] = peerBytes.length;
  const r = sys.accept(fd, peerBytes, peerLen, flags);
  if (r === WOULD_BLOCK) return WOULD_BLOCK;
  try {
    return [r, decodeAddress(peerBytes, peerLen[0]!, family)];
  } catch (e) {
    sys.close(r);
    throw e;
  }
}

/**
 * sendmsg() of everything `options` describes (checked and encoded now): the count, or
 * WOULD_BLOCK. `socket` (its AF_* and SOCK_*) lets a `source` the kernel would silently ignore
 * (the other IP version, or a TCP or unix socket) be refused.
 */
export function sendMsg(fd: number, options: SendMsgOptions, socket?: { readonly family: number; readonly type: number }): number {
  return new OutgoingMessage("sendMsg", options, SEND_FLAGS, socket).attempt(fd);
}

/** recvmsg() as `options` asks (checked now): its result, or WOULD_BLOCK. */
export function recvMsg(fd: number, options: RecvMsgOptions): RecvMsgResult | typeof WOULD_BLOCK {
  const msg = new IncomingMessage("recvMsg", options);
  const r = msg.attempt(fd);
  return r === WOULD_BLOCK ? WOULD_BLOCK : msg.finish(r);
}

/** sendmmsg(): how many datagrams went, or WOULD_BLOCK (not even the first could). */
export function sendMany(fd: number, datagrams: readonly Uint8Array[], address: Address | undefined, flags: number): number {
  const fl = flagsOf("sendMany", flags) | SEND_FLAGS;
  const batch = sharedBatch(countOf(datagrams));
  const n = batch.prepareSend("sendMany", datagrams, address);
  return batch.attemptSend(fd, n, fl);
}

/** recvmmsg() with MSG_WAITFORONE: the datagrams received, or WOULD_BLOCK (none was queued). */
export function recvMany(fd: number, family: number, buffers: readonly Uint8Array[], flags: number): ReceivedDatagram[] | typeof WOULD_BLOCK {
  const fl = flagsOf("recvMany", flags) | (C.MSG_WAITFORONE ?? 0);
  const batch = sharedBatch(countOf(buffers));
  const n = batch.prepareRecv("recvMany", buffers, family);
  const r = batch.attemptRecv(fd, n, fl);
  return r === WOULD_BLOCK ? WOULD_BLOCK : batch.results();
}

// --- steps of multi-call writes ---------------------------------------------------------------------

/** What sendSegments knows of a socket: its kind, and whether the kernel refused the offload there. */
export interface SegmentTarget {
  readonly family: number;
  readonly type: number;
  readonly protocol: number;
}

/** Sockets on which the kernel refused UDP_SEGMENT (EIO, EINVAL): batches from then on. */
const segmentationRefused = new WeakSet<SegmentTarget>();

/** Whether sendSegments may use UDP_SEGMENT on `target`: a UDP socket on a kernel that has it. */
function canSegment(target: SegmentTarget): boolean {
  const udp = target.type === C.SOCK_DGRAM && (target.family === C.AF_INET || target.family === C.AF_INET6) &&
    (target.protocol === 0 || target.protocol === C.IPPROTO_UDP);
  return udp && !segmentationRefused.has(target) && kernelHasUdpSegment();
}

/**
 * Lays out a sendSegments call in this thread's sender (data, segment size, destination: all
 * checked, the address encoded once); returns the bytes to send. Steps follow at once, in the
 * same synchronous run (a driver that waited prepares again: the buffer may have changed),
 * and releaseSegments() ends the call.
 */
export function prepareSegments(data: Uint8Array, segmentSize: number, address: Address | undefined): number {
  return (segmentSender ??= new SegmentSender()).prepare("sendSegments", data, segmentSize, address);
}

/**
 * One step of the prepared sendSegments: datagrams from byte `offset` (UDP segmentation offload
 * where it works, else a sendmmsg batch); the bytes sent (whole datagrams), or WOULD_BLOCK.
 */
export function sendSegmentsStep(fd: number, target: SegmentTarget, offset: number, flags: number): number {
  const fl = flagsOf("sendSegments", flags) | SEND_FLAGS;
  const sender = segmentSender!;
  if (canSegment(target)) {
    try {
      return sender.attempt(fd, offset, fl);
    } catch (e) {
      // The kernel refuses the offload itself for this socket or route: EIO (an xfrm/IPsec
      // route), EINVAL (SO_NO_CHECK is on). The same datagrams go in batches from now on; an
      // error that was not about segmentation comes back from the batch path.
      if (!(e instanceof SocketError && (e.errno === E.EIO || e.errno === E.EINVAL))) throw e;
      segmentationRefused.add(target);
    }
  }
  return sender.attemptBatch(fd, offset, fl);
}

/** Ends a sendSegments call: the sender forgets the caller's buffer and address. */
export function releaseSegments(): void {
  segmentSender?.release();
}

/** Bytes asked of one sendfile call (any size works; Linux caps a call at 0x7ffff000). */
const SENDFILE_CHUNK = 1 << 30;

/**
 * One step of sendFile: sendfile(2) of up to `count` bytes from `file` at the off_t in `offset`
 * (null: the file's position); the bytes sent (0 at end of file), or WOULD_BLOCK.
 */
export function sendFileStep(fd: number, file: number, offset: Uint8Array | null, count: number): number {
  return sys.sendfile(fd, file, offset, Math.min(count, SENDFILE_CHUNK));
}
