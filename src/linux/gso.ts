/**
 * UDP segmentation offload (Linux UDP_SEGMENT, "UDP GSO"): one sendmsg() hands the kernel a
 * buffer that leaves as many datagrams of `segmentSize` bytes (the last may be shorter). The
 * stack is walked once per call instead of once per datagram, which is what makes QUIC stacks
 * fast; a receiver sees ordinary datagrams (or, with UDP_GRO on, coalesced ones).
 *
 * {@link SegmentSender} owns the one msghdr, iovec, destination and control message such a
 * send needs, allocated once: a hot loop over `attempt` allocates nothing. The rules of
 * src/socket/msg.ts hold: every pointer comes from a Uint8Array referenced until the call returns,
 * every field is written at the table's offset and size, every length is checked against the
 * buffer's real byteLength before any pointer is taken.
 *
 * Where segmentation offload cannot be used, the same call sends the same datagrams through a
 * {@link DatagramBatch} (sendmmsg; a sendmsg loop without it): platforms without UDP_SEGMENT
 * (macOS), kernels older than 4.18 (probed once with getsockopt), sockets that are not UDP
 * (unix or ICMP datagram sockets ignore the control message and would send ONE big datagram,
 * so they never get it), and a socket or route the kernel refuses the offload for (EINVAL
 * with SO_NO_CHECK on, EIO on an IPsec route) — the datagrams are identical, only the syscall
 * count differs.
 */
import { readErrno } from "../../ffi/errno.ts";
import { libc } from "../../ffi/libc.ts";
import { table } from "../../ffi/platform.ts";
import * as check from "../core/check.ts";
import { DatagramBatch } from "../socket/mmsg.ts";
import { cmsgLen, cmsgSpace, CMSG_DATA } from "../socket/msg.ts";
import { addressOf, bytes, putUint } from "../core/pointers.ts";
import { AddressEncoder, decodeAddress, type Address } from "../core/sockaddr.ts";
import { INTERRUPTED, WOULD_BLOCK, outcome } from "../core/sys.ts";

const C = table.constants;
const LE = table.expressions.LITTLE_ENDIAN === 1;
const MSGHDR = table.structs.msghdr;
const IOVEC = table.structs.iovec;
const CMSGHDR = table.structs.cmsghdr;

/**
 * Most segments per sendmsg: UDP_MAX_SEGMENTS, 64 from Linux 4.18 (newer kernels take 128;
 * 64 works on all of them). A kernel constant, absent from the user headers the table is
 * generated from.
 */
export const MAX_SEGMENTS = 64;

/**
 * Most payload bytes per sendmsg: a UDP datagram over IPv4 carries at most 65 535 − 20 − 8
 * bytes, and the kernel applies the same limit to a segmented send as a whole (EMSGSIZE above
 * it; measured: 65 507 goes, 65 508 does not). IPv6 allows 20 more; the IPv4 figure is used for
 * both (an IPv6 socket may be sending to a v4-mapped address).
 */
export const MAX_SEND_BYTES = 65_507;

/** Largest segment size the control message can carry (a 16-bit gso_size). */
export const MAX_SEGMENT_SIZE = 0xffff;

/** Whether this platform's headers have UDP segmentation offload at all. */
export const hasUdpSegment = C.UDP_SEGMENT !== null && C.SOL_UDP !== null;

let kernelSupport: boolean | null = null;

/**
 * Whether the running kernel knows UDP_SEGMENT (4.18+): asked once per process with a
 * getsockopt on a throwaway UDP socket. (An older kernel ignores the control message and
 * would send one oversized datagram, so this must be known before the first send.)
 */
export function kernelHasUdpSegment(): boolean {
  if (kernelSupport !== null) return kernelSupport;
  if (!hasUdpSegment) return (kernelSupport = false);
  const fd = libc.socket(C.AF_INET, C.SOCK_DGRAM | (C.SOCK_CLOEXEC ?? 0), 0);
  // e.g. EMFILE: batches this time, and ask again next time (nothing is cached).
  if (fd < 0) return false;
  const value = new Int32Array(1);
  const len = Uint32Array.of(4);
  kernelSupport = libc.getsockopt(fd, C.SOL_UDP!, C.UDP_SEGMENT!, value, len) === 0;
  libc.close(fd);
  return kernelSupport;
}

/** A getter-free copy of `address` from its encoded bytes (the original when not decodable). */
function snapshot(encoded: Uint8Array, len: number, address: Address): Address {
  const copy = decodeAddress(encoded, len);
  return typeof copy.family === "number" ? address : (copy as Address);
}

/** The buffers a call points into, referenced for exactly the duration of the libc call. */
let pinned: Uint8Array | null = null;

/**
 * One segmented send at a time: `prepare` checks and lays out the destination and segment
 * size; each `attempt(offset)` sends the next chunk of at most {@link MAX_SEGMENTS} segments
 * and {@link MAX_SEND_BYTES} bytes from `offset`, and returns the bytes sent.
 */
export class SegmentSender {
  readonly #hdr = bytes(MSGHDR.size);
  readonly #hv = new DataView(this.#hdr.buffer);
  readonly #iov = bytes(IOVEC.size);
  readonly #iv = new DataView(this.#iov.buffer);
  readonly #control = bytes(cmsgSpace(2));
  readonly #cv = new DataView(this.#control.buffer);
  readonly #to = new AddressEncoder();
  #fallback: DatagramBatch | null = null;
  readonly #views: Uint8Array[] = [];
  #data: Uint8Array = new Uint8Array(0);
  #size = 0;
  #segment = 1;
  #chunk = 1;
  #namelen = 0;
  #address: Address | undefined;

  constructor() {
    const hv = this.#hv;
    putUint(hv, 0, MSGHDR.fields.msg_iov, addressOf(this.#iov), "msg_iov");
    putUint(hv, 0, MSGHDR.fields.msg_iovlen, 1, "msg_iovlen");
    const cv = this.#cv;
    putUint(cv, 0, CMSGHDR.fields.cmsg_len, cmsgLen(2), "cmsg_len");
    if (hasUdpSegment) {
      cv.setInt32(CMSGHDR.fields.cmsg_level.offset, C.SOL_UDP!, LE);
      cv.setInt32(CMSGHDR.fields.cmsg_type.offset, C.UDP_SEGMENT!, LE);
    }
  }

  /**
   * Checks `data` (a genuine, non-detached Uint8Array, already read by the caller), the
   * segment size and the destination, and lays them out. Returns the total bytes to send.
   * Throws TypeError/RangeError before any syscall.
   */
  prepare(fn: string, data: Uint8Array, segmentSize: unknown, address: Address | undefined): number {
    const seg = check.size(fn, "segmentSize", segmentSize);
    if (seg < 1 || seg > MAX_SEGMENT_SIZE) throw new RangeError(`${fn}: segmentSize must be 1..${MAX_SEGMENT_SIZE}, got ${seg}`);
    // The address may run the caller's getters: encode it before the data's length is read.
    this.#namelen = address === undefined ? 0 : this.#to.encode(address);
    // The batch fallback re-encodes per chunk: give it a plain copy, so the caller's getters
    // run once per call, as on the segmented path.
    this.#address = address === undefined ? undefined : snapshot(this.#to.bytes, this.#namelen, address);
    const size = check.typedLength(data);
    // A view with no memory left is a mistake, never "nothing to send" (as for every other send).
    if (size === 0 && check.isEmptied(data)) throw check.noMemory(fn, "data");
    this.#data = data;
    this.#size = size;
    this.#segment = seg;
    this.#chunk = Math.max(1, Math.min(MAX_SEGMENTS, Math.floor(MAX_SEND_BYTES / seg))) * seg;
    const hv = this.#hv;
    putUint(hv, 0, MSGHDR.fields.msg_name, this.#namelen ? addressOf(this.#to.bytes) : 0, "msg_name");
    putUint(hv, 0, MSGHDR.fields.msg_namelen, this.#namelen, "msg_namelen");
    return size;
  }

  /** Forgets the caller's buffer (so the sender does not keep it alive). */
  release(): void {
    this.#data = new Uint8Array(0);
    this.#address = undefined;
    this.#views.length = 0;
  }

  /**
   * One sendmsg() with UDP_SEGMENT of the chunk at `offset` (a multiple of the segment size
   * below the prepared size): the bytes sent (the whole chunk) or WOULD_BLOCK. EINTR is
   * retried; other errors throw SocketError("sendmsg").
   */
  attempt(fd: number, offset: number, flags: number): number {
    const data = this.#data;
    const n = Math.min(this.#chunk, this.#size - offset);
    if (!(offset >= 0 && n > 0)) throw new RangeError(`sendSegments: offset ${offset} is outside the ${this.#size}-byte data`);
    const iv = this.#iv;
    putUint(iv, 0, IOVEC.fields.iov_base, addressOf(data) + offset, "iov_base");
    putUint(iv, 0, IOVEC.fields.iov_len, n, "iov_len");
    const hv = this.#hv;
    // Always a control message: it overrides a udpSegment socket option, which would otherwise
    // re-segment a one-segment chunk; for such a chunk gso_size 0 means a plain datagram (and
    // no segmentation limits, e.g. a segment larger than the route's MTU).
    this.#cv.setUint16(CMSG_DATA, n > this.#segment ? this.#segment : 0, LE);
    putUint(hv, 0, MSGHDR.fields.msg_control, addressOf(this.#control), "msg_control");
    putUint(hv, 0, MSGHDR.fields.msg_controllen, this.#control.byteLength, "msg_controllen");
    hv.setInt32(MSGHDR.fields.msg_flags.offset, 0, LE);
    for (;;) {
      pinned = data;
      const r = libc.sendmsg(fd, this.#hdr, flags);
      pinned = null;
      if (r >= 0) return r;
      const o = outcome("sendmsg", readErrno());
      if (o !== INTERRUPTED) return o;
    }
  }

  /**
   * The same chunk as separate datagrams through sendmmsg (or its sendmsg loop): the bytes of
   * the datagrams that went (a whole number of them), or WOULD_BLOCK when none could.
   */
  attemptBatch(fd: number, offset: number, flags: number): number {
    const seg = this.#segment;
    const end = Math.min(this.#size, offset + MAX_SEGMENTS * seg);
    const views = this.#views;
    views.length = 0;
    for (let o = offset; o < end; o += seg) views.push(this.#data.subarray(o, Math.min(o + seg, end)));
    const batch = (this.#fallback ??= new DatagramBatch(MAX_SEGMENTS));
    const count = batch.prepareSend("sendSegments", views, this.#address);
    const r = batch.attemptSend(fd, count, flags);
    if (r === WOULD_BLOCK) return r;
    return r === count ? end - offset : r * seg;
  }
}
