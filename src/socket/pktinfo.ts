/**
 * Packet info (IP_PKTINFO, IPV6_PKTINFO; Linux): which local address and interface a datagram
 * arrived on, and which source address a reply leaves from.
 *
 * Why it matters: a UDP socket bound to 0.0.0.0 or :: answers from the address the routing
 * table picks, not from the one the client sent to. A client that connected its socket to
 * 127.0.0.5 (or to the second address of a host) drops a reply from 127.0.0.1. Reading the
 * destination of each datagram (`receivePacketInfoV4` / `receivePacketInfoV6` on, then
 * `recvMsg({ packetInfo: true })`) and sending the reply with `sendMsg({ source })` fixes it —
 * what DNS servers, NTP and QUIC servers do.
 *
 * The layouts (struct in_pktinfo, struct in6_pktinfo) come from the platform table; where the
 * table has none (macOS, which spells this IP_RECVDSTADDR), asking for packet info is a
 * RangeError before any syscall.
 */
import { table } from "../../ffi/platform.ts";
import * as check from "../core/check.ts";
import { formatIP, interfaceIndex, parseIPv4, parseIPv6 } from "../core/sockaddr.ts";

const C = table.constants;
const LE = table.expressions.LITTLE_ENDIAN === 1;
const IN_PKTINFO = table.structs.in_pktinfo;
const IN6_PKTINFO = table.structs.in6_pktinfo;

/** Where a datagram arrived: decoded from an IP_PKTINFO or IPV6_PKTINFO control message. */
export interface PacketInfo {
  /** "ipv4" (IP_PKTINFO) or "ipv6" (IPV6_PKTINFO; IPv4 on a dual-stack socket arrives as ::ffff:a.b.c.d). */
  readonly family: "ipv4" | "ipv6";
  /**
   * The local address to answer from. IPv4: ipi_spec_dst, the local address the kernel would use
   * as source (the destination itself for unicast, the interface's address for a broadcast or
   * multicast datagram). IPv6: the destination for unicast; for multicast (and IPv4-mapped
   * multicast or 255.255.255.255) the unspecified address (`::` or `::ffff:0.0.0.0`), so that the
   * kernel picks the interface's address. An IPv4 datagram on a dual-stack socket with both
   * options on: ipi_spec_dst in its IPv4-mapped form (only IP_PKTINFO knows it for a subnet
   * broadcast such as 127.255.255.255).
   */
  readonly address: string;
  /** The destination address in the datagram's IP header (ipi_addr / ipi6_addr). */
  readonly destination: string;
  /** Index of the interface it arrived on (ipi_ifindex / ipi6_ifindex). */
  readonly interfaceIndex: number;
}

/**
 * The source of an outgoing datagram: an address text, or an address with the interface to
 * send from (a {@link PacketInfo} from `recvMsg` fits as is). An IPv4 text gives an IP_PKTINFO
 * message (ipi_spec_dst), an IPv6 text (a "%ifname" suffix sets the interface) an IPV6_PKTINFO
 * one; an IPv4-mapped IPv6 text works on a dual-stack socket. `interfaceIndex` 0 (the default)
 * leaves the interface to routing; another value pins the datagram to that interface.
 */
export type PacketSource = string | { readonly address: string; readonly interfaceIndex?: number };

/** A control message as msg.ts sends it. */
interface Message {
  readonly level: number;
  readonly type: number;
  readonly data: Uint8Array;
}

/** Bytes of the largest packet-info payload: recvMsg reserves CMSG_SPACE of it once per family. */
export function packetInfoSizes(fn: string): readonly number[] {
  if (!IN_PKTINFO || !IN6_PKTINFO || C.IP_PKTINFO === null || C.SOL_IP === null || C.SOL_IPV6 === null) {
    throw new RangeError(`${fn}: IP_PKTINFO / IPV6_PKTINFO packet info does not exist on ${table.platform}`);
  }
  // A dual-stack socket with both options on gets both messages for one IPv4 datagram.
  return [IN_PKTINFO.size, IN6_PKTINFO.size];
}

/**
 * The packet info in a received control message, or undefined when it is not one (or too short).
 * `data` is any ArrayBufferView (its bytes are read, never past its end); anything else is a
 * TypeError. From an IPV6_PKTINFO message alone the address to answer from is the destination,
 * except for a multicast destination (ff00::/8, or IPv4-mapped 224.0.0.0/4) or the IPv4 limited
 * broadcast, which can never be a source: then it is the unspecified address (`::`, or
 * `::ffff:0.0.0.0`), which lets the kernel pick the interface's address.
 */
export function decodePacketInfo(level: number, type: number, data: ArrayBufferView): PacketInfo | undefined {
  // A fresh view from the built-in getters: an own `byteLength` cannot widen what is read.
  return readPacketInfo(level, type, check.freshView("decodePacketInfo", "data", data));
}

/** decodePacketInfo on bytes this library sliced itself (recvMsg's control messages): no re-view. */
export function readPacketInfo(level: number, type: number, bytes: Uint8Array): PacketInfo | undefined {
  if (IN_PKTINFO && C.IP_PKTINFO !== null && level === C.SOL_IP && type === C.IP_PKTINFO && bytes.byteLength >= IN_PKTINFO.size) {
    const f = IN_PKTINFO.fields;
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return {
      family: "ipv4",
      address: formatIP(bytes.slice(f.ipi_spec_dst.offset, f.ipi_spec_dst.offset + 4)),
      destination: formatIP(bytes.slice(f.ipi_addr.offset, f.ipi_addr.offset + 4)),
      interfaceIndex: v.getInt32(f.ipi_ifindex.offset, LE),
    };
  }
  if (IN6_PKTINFO && C.SOL_IPV6 !== null && level === C.SOL_IPV6 && type === C.IPV6_PKTINFO && bytes.byteLength >= IN6_PKTINFO.size) {
    const f = IN6_PKTINFO.fields;
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const addr = bytes.slice(f.ipi6_addr.offset, f.ipi6_addr.offset + 16);
    const destination = formatIP(addr);
    const address = neverASource(addr) ? formatIP(isMapped(addr) ? MAPPED_ANY : new Uint8Array(16)) : destination;
    return { family: "ipv6", address, destination, interfaceIndex: v.getUint32(f.ipi6_ifindex.offset, LE) };
  }
  return undefined;
}

/**
 * The packet info of one datagram from the messages that came with it: on a dual-stack socket
 * with both options on, an IPv4 datagram brings an IP_PKTINFO and an IPV6_PKTINFO message. They
 * merge into one in the IPv6 form, with the IPv4 message's ipi_spec_dst (mapped) as the address
 * to answer from: only it knows the local address for a broadcast such as 127.255.255.255.
 */
export function mergePacketInfo(v4: PacketInfo | undefined, v6: PacketInfo | undefined): PacketInfo | undefined {
  if (!v4 || !v6) return v4 ?? v6;
  const mapped = parseIPv6(v6.destination);
  if (!mapped || !isMapped(mapped)) return v6; // cannot happen for one datagram; keep the IPv6 view
  return { family: "ipv6", address: `::ffff:${v4.address}`, destination: v6.destination, interfaceIndex: v6.interfaceIndex };
}

const MAPPED_ANY = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0);

/** ::ffff:a.b.c.d */
function isMapped(a: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return a[10] === 0xff && a[11] === 0xff;
}

/** A destination no reply may leave from: IPv6 multicast, IPv4-mapped multicast or 255.255.255.255. */
function neverASource(a: Uint8Array): boolean {
  if (a[0] === 0xff) return true;
  if (!isMapped(a)) return false;
  return (a[12]! & 0xf0) === 0xe0 || (a[12] === 255 && a[13] === 255 && a[14] === 255 && a[15] === 255);
}

/**
 * The control message that sets a datagram's source: IP_PKTINFO for an IPv4 address, IPV6_PKTINFO
 * for an IPv6 one. Every field is checked (TypeError/RangeError) before anything is built; with
 * the socket's family known, an IPv6 source on an IPv4 socket is a TypeError (the kernel would
 * ignore it), and an IPv4 source on an IPv6 socket is sent in its IPv4-mapped form.
 */
export function sourceMessage(fn: string, source: PacketSource, socket?: { readonly family: number; readonly type: number }): Message {
  packetInfoSizes(fn);
  const socketFamily = socket?.family;
  // TCP, unix and other sockets ignore IP_PKTINFO/IPV6_PKTINFO: refuse rather than drop it silently.
  if (socket && ((socketFamily !== C.AF_INET && socketFamily !== C.AF_INET6) || (socket.type !== C.SOCK_DGRAM && socket.type !== C.SOCK_RAW))) {
    throw new TypeError(`${fn}: source needs an IPv4 or IPv6 datagram or raw socket (the kernel ignores it on others)`);
  }
  let text: unknown;
  let index: unknown;
  const shape = `${fn}: source must be an address string or { address, interfaceIndex? }`;
  if (typeof source === "string") text = source;
  // A String object or an array is neither form: say so, not "source.address ... undefined".
  else if (source instanceof String || Array.isArray(source)) throw new TypeError(`${shape}, got ${Array.isArray(source) ? "an array" : "a String object (use a primitive string)"}`);
  else if (source !== null && typeof source === "object") ({ address: text, interfaceIndex: index } = source);
  else throw new TypeError(`${shape}, got ${source === null ? "null" : typeof source}`);
  if (typeof text !== "string") throw new TypeError(`${fn}: source.address must be a string, got ${text === null ? "null" : typeof text}`);
  let ifindex = index === undefined ? 0 : check.uint32(fn, "source.interfaceIndex", index);
  const v4 = parseIPv4(text);
  // An IPv6 socket takes an IPv4 source in its IPv4-mapped form (IPV6_PKTINFO, ::ffff:a.b.c.d),
  // which it honours for IPv4-mapped destinations; IP_PKTINFO there would be ignored for native ones.
  if (v4 && socketFamily === C.AF_INET6) return in6Message(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4), ifindex);
  if (v4) {
    const L = IN_PKTINFO!;
    if (ifindex > 0x7fffffff) throw new RangeError(`${fn}: source.interfaceIndex must be at most 2147483647 (ipi_ifindex is an int), got ${ifindex}`);
    const data = new Uint8Array(L.size);
    new DataView(data.buffer).setInt32(L.fields.ipi_ifindex.offset, ifindex, LE);
    data.set(v4, L.fields.ipi_spec_dst.offset);
    return { level: C.SOL_IP!, type: C.IP_PKTINFO!, data };
  }
  const percent = text.indexOf("%");
  const host = percent < 0 ? text : text.slice(0, percent);
  const v6 = parseIPv6(host);
  if (!v6) throw new TypeError(`${fn}: source ${JSON.stringify(text)} is not a numeric IPv4 or IPv6 address`);
  if (percent >= 0) {
    const zone = text.slice(percent + 1);
    let zoneIndex: number;
    if (/^[-+]?\d+$/.test(zone)) zoneIndex = check.uint32(fn, "source scope", Number(zone));
    else {
      try {
        zoneIndex = interfaceIndex(zone);
      } catch {
        throw new TypeError(`${fn}: source ${JSON.stringify(text)} names an unknown network interface ${JSON.stringify(zone)}`);
      }
    }
    if (index !== undefined && zoneIndex !== ifindex) {
      throw new TypeError(`${fn}: source ${JSON.stringify(text)} names interface ${zoneIndex} but interfaceIndex is ${ifindex}`);
    }
    ifindex = zoneIndex;
  }
  // The kernel ignores IPV6_PKTINFO on an IPv4 socket (the datagram would leave from any address).
  if (socketFamily === C.AF_INET) throw new TypeError(`${fn}: source ${JSON.stringify(text)} is IPv6 but the socket is IPv4`);
  return in6Message(v6, ifindex);
}

/** An IPV6_PKTINFO message: source address and outgoing interface (0: routing decides). */
function in6Message(addr: Uint8Array, ifindex: number): Message {
  const L = IN6_PKTINFO!;
  const data = new Uint8Array(L.size);
  data.set(addr, L.fields.ipi6_addr.offset);
  new DataView(data.buffer).setUint32(L.fields.ipi6_ifindex.offset, ifindex, LE);
  return { level: C.SOL_IPV6!, type: C.IPV6_PKTINFO, data };
}
