/**
 * rtnetlink change requests (Linux): the messages that add and remove addresses and routes and
 * set a link up or down, built from the table's layouts with every argument checked first, and
 * the reading of the kernel's answer (an NLMSG_ERROR "ack": 0, or -errno with the extended-ack
 * message text when NETLINK_EXT_ACK is on). Rtnetlink's addAddress/removeAddress/setLinkUp/
 * addRoute/removeRoute send them.
 */
import { table } from "../../ffi/platform.ts";
import type { StructLayout } from "../../ffi/table.ts";
import * as check from "../core/check.ts";
import { present } from "../core/constants.ts";
import { parseIPv4, parseIPv6 } from "../core/sockaddr.ts";
import { readIntField, writeIntField } from "../core/structs.ts";
import { parseAttributes, type NetlinkMessage } from "./netlink.ts";

const C = table.constants;
const S = table.structs;
const LE = table.expressions.LITTLE_ENDIAN === 1;
const need = <T>(what: string, v: T | null | undefined): T => present("rtnetlink requests", what, v);
const align4 = (n: number): number => (n + 3) & ~3;

/** An address with its prefix length, "198.51.100.1/24" or "2001:db8::1/64". */
interface Prefix {
  readonly family: number;
  readonly bytes: Uint8Array;
  readonly length: number;
}

/** Parses "A/N" (N optional: the host length) for `fn`; TypeError/RangeError when it is not one. */
export function parsePrefix(fn: string, text: unknown): Prefix {
  if (typeof text !== "string") throw new TypeError(`${fn}: an address must be a string like "198.51.100.1/24", got ${typeof text}`);
  const slash = text.indexOf("/");
  const host = slash < 0 ? text : text.slice(0, slash);
  const v4 = parseIPv4(host);
  const v6 = v4 ? null : parseIPv6(host);
  if (!v4 && !v6) throw new TypeError(`${fn}: ${JSON.stringify(text)} is not a numeric IPv4 or IPv6 address`);
  const max = v4 ? 32 : 128;
  let length = max;
  if (slash >= 0) {
    const n = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(n) || Number(n) > max) throw new RangeError(`${fn}: prefix length in ${JSON.stringify(text)} must be 0..${max}`);
    length = Number(n);
  }
  return { family: v4 ? C.AF_INET : C.AF_INET6, bytes: (v4 ?? v6)!, length };
}

/** One attribute to append: its type and bytes. */
interface Attr {
  readonly type: number;
  readonly data: Uint8Array;
}

const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, LE);
  return b;
};

/** A complete netlink request: header, `body` (a zeroed struct filled by `fill`), attributes. */
function build(type: number, flags: number, seq: number, body: StructLayout, fill: (v: DataView) => void, attrs: readonly Attr[]): Uint8Array {
  const H = need("struct nlmsghdr", S.nlmsghdr);
  const hdr = align4(H.size);
  let len = hdr + align4(body.size);
  for (const a of attrs) len += align4(4 + a.data.byteLength);
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  writeIntField(v, H.fields.nlmsg_len, len);
  writeIntField(v, H.fields.nlmsg_type, type);
  writeIntField(v, H.fields.nlmsg_flags, flags);
  writeIntField(v, H.fields.nlmsg_seq, seq >>> 0);
  fill(new DataView(b.buffer, hdr, body.size));
  let off = hdr + align4(body.size);
  for (const a of attrs) {
    v.setUint16(off, 4 + a.data.byteLength, LE);
    v.setUint16(off + 2, a.type, LE);
    b.set(a.data, off + 4);
    off += align4(4 + a.data.byteLength);
  }
  return b;
}

/** A u8 field's value, checked. */
function checkByte(fn: string, what: string, v: unknown): number {
  const n = check.uint32(fn, what, v);
  if (n > 255) throw new RangeError(`${fn}: ${what} must be 0..255, got ${n}`);
  return n;
}

const REQUEST = (): number => need("NLM_F_REQUEST", C.NLM_F_REQUEST) | need("NLM_F_ACK", C.NLM_F_ACK);
const CREATE = (): number => need("NLM_F_CREATE", C.NLM_F_CREATE) | need("NLM_F_EXCL", C.NLM_F_EXCL);

/** Options of an address change. */
export interface AddressOptions {
  /** IPv6: no duplicate address detection (IFA_F_NODAD), usable at once. Default false. */
  readonly noDad?: boolean;
}

/** RTM_NEWADDR / RTM_DELADDR for `address` ("A/N") on interface `index`. */
export function addressRequest(fn: string, add: boolean, index: number, address: string, seq: number, options: AddressOptions = {}): Uint8Array {
  const I = need("struct ifaddrmsg", S.ifaddrmsg);
  const idx = check.uint32(fn, "interfaceIndex", index);
  if (idx === 0) throw new RangeError(`${fn}: interfaceIndex must be a real interface (1 or more)`);
  const p = parsePrefix(fn, address);
  const flags = options.noDad ? need("IFA_F_NODAD", C.IFA_F_NODAD) : 0;
  const attrs: Attr[] = [{ type: need("IFA_LOCAL", C.IFA_LOCAL), data: p.bytes }, { type: need("IFA_ADDRESS", C.IFA_ADDRESS), data: p.bytes }];
  if (flags) attrs.push({ type: need("IFA_FLAGS", C.IFA_FLAGS), data: u32(flags) });
  return build(add ? need("RTM_NEWADDR", C.RTM_NEWADDR) : need("RTM_DELADDR", C.RTM_DELADDR), REQUEST() | (add ? CREATE() : 0), seq, I, (v) => {
    writeIntField(v, I.fields.ifa_family, p.family);
    writeIntField(v, I.fields.ifa_prefixlen, p.length);
    writeIntField(v, I.fields.ifa_flags, flags & 0xff);
    writeIntField(v, I.fields.ifa_index, idx);
  }, attrs);
}

/** RTM_NEWLINK setting IFF_UP on (or off) for interface `index`, changing no other flag. */
export function linkRequest(fn: string, index: number, up: boolean, seq: number): Uint8Array {
  const L = need("struct ifinfomsg", S.ifinfomsg);
  const idx = check.uint32(fn, "interfaceIndex", index);
  if (idx === 0 || idx > 0x7fffffff) throw new RangeError(`${fn}: interfaceIndex must be a real interface (1 or more)`);
  if (typeof up !== "boolean") throw new TypeError(`${fn}: up must be a boolean`);
  const IFF_UP = need("IFF_UP", C.IFF_UP);
  return build(need("RTM_NEWLINK", C.RTM_NEWLINK), REQUEST(), seq, L, (v) => {
    writeIntField(v, L.fields.ifi_family, C.AF_UNSPEC);
    writeIntField(v, L.fields.ifi_index, idx);
    writeIntField(v, L.fields.ifi_flags, up ? IFF_UP : 0);
    writeIntField(v, L.fields.ifi_change, IFF_UP);
  }, []);
}

/** A route to add or remove. */
export interface RouteSpec {
  /** "192.0.2.0/24", "2001:db8::/32", or "default" (with `family`, default "inet"). */
  readonly destination: string;
  readonly family?: "inet" | "inet6";
  /** "unicast" (default), "blackhole", "unreachable", "prohibit", "throw", "local". */
  readonly type?: "unicast" | "blackhole" | "unreachable" | "prohibit" | "throw" | "local";
  readonly gateway?: string;
  readonly interfaceIndex?: number;
  /** The metric (RTA_PRIORITY). */
  readonly priority?: number;
  /** Table number; default main (254). */
  readonly table?: number;
  /** RTPROT_* (default RTPROT_BOOT, as `ip route add`). */
  readonly protocol?: number;
  /** The preferred source address (RTA_PREFSRC). */
  readonly preferredSource?: string;
}

const ROUTE_TYPES = ["unicast", "blackhole", "unreachable", "prohibit", "throw", "local"] as const;

/** RTM_NEWROUTE / RTM_DELROUTE for `r` (scope as `ip route` picks it: link for a unicast route with no gateway). */
export function routeRequest(fn: string, add: boolean, r: RouteSpec, seq: number): Uint8Array {
  if (r === null || typeof r !== "object") throw new TypeError(`${fn}: the route must be an object { destination, gateway?, interfaceIndex?, ... }`);
  const R = need("struct rtmsg", S.rtmsg);
  const { destination, family, type = "unicast", gateway, interfaceIndex, priority, table: tableId, protocol, preferredSource } = r;
  if (!ROUTE_TYPES.includes(type)) throw new TypeError(`${fn}: type must be one of ${ROUTE_TYPES.join(", ")}, got ${JSON.stringify(type)}`);
  if (family !== undefined && family !== "inet" && family !== "inet6") throw new TypeError(`${fn}: family must be "inet" or "inet6"`);
  const dst = destination === "default" ? null : parsePrefix(fn, destination);
  const af = dst ? dst.family : family === "inet6" ? C.AF_INET6 : C.AF_INET;
  if (dst && family !== undefined && (family === "inet") !== (af === C.AF_INET)) throw new TypeError(`${fn}: destination ${destination} is not ${family}`);
  const sameFamily = (what: string, text: string): Uint8Array => {
    const p = parsePrefix(fn, text);
    if (p.family !== af || p.length !== (af === C.AF_INET ? 32 : 128)) throw new TypeError(`${fn}: ${what} ${JSON.stringify(text)} must be one ${af === C.AF_INET ? "IPv4" : "IPv6"} address`);
    return p.bytes;
  };
  const attrs: Attr[] = [];
  if (dst) attrs.push({ type: need("RTA_DST", C.RTA_DST), data: dst.bytes });
  if (gateway !== undefined) attrs.push({ type: need("RTA_GATEWAY", C.RTA_GATEWAY), data: sameFamily("gateway", gateway) });
  if (interfaceIndex !== undefined) attrs.push({ type: need("RTA_OIF", C.RTA_OIF), data: u32(check.uint32(fn, "interfaceIndex", interfaceIndex)) });
  if (priority !== undefined) attrs.push({ type: need("RTA_PRIORITY", C.RTA_PRIORITY), data: u32(check.uint32(fn, "priority", priority)) });
  if (preferredSource !== undefined) attrs.push({ type: need("RTA_PREFSRC", C.RTA_PREFSRC), data: sameFamily("preferredSource", preferredSource) });
  const tid = tableId === undefined ? need("RT_TABLE_MAIN", C.RT_TABLE_MAIN) : check.uint32(fn, "table", tableId);
  attrs.push({ type: need("RTA_TABLE", C.RTA_TABLE), data: u32(tid) });
  const rtn = C[`RTN_${type.toUpperCase()}` as "RTN_UNICAST"];
  const proto = protocol === undefined ? need("RTPROT_BOOT", C.RTPROT_BOOT) : checkByte(fn, "protocol", protocol);
  const scope = type === "local" ? need("RT_SCOPE_HOST", C.RT_SCOPE_HOST)
    : type === "unicast" && gateway === undefined && add ? need("RT_SCOPE_LINK", C.RT_SCOPE_LINK)
    : add ? need("RT_SCOPE_UNIVERSE", C.RT_SCOPE_UNIVERSE) : need("RT_SCOPE_NOWHERE", C.RT_SCOPE_NOWHERE);
  return build(add ? need("RTM_NEWROUTE", C.RTM_NEWROUTE) : need("RTM_DELROUTE", C.RTM_DELROUTE), REQUEST() | (add ? CREATE() : 0), seq, R, (v) => {
    writeIntField(v, R.fields.rtm_family, af);
    writeIntField(v, R.fields.rtm_dst_len, dst ? dst.length : 0);
    writeIntField(v, R.fields.rtm_table, tid < 256 ? tid : need("RT_TABLE_UNSPEC", C.RT_TABLE_UNSPEC));
    writeIntField(v, R.fields.rtm_protocol, add ? proto : 0);
    writeIntField(v, R.fields.rtm_scope, scope);
    writeIntField(v, R.fields.rtm_type, need(`RTN_${type.toUpperCase()}`, rtn));
  }, attrs);
}

/** A table id for a filtered route dump: 1 to 2³²−1 (0, RT_TABLE_UNSPEC, names no table). */
export function routeTableId(fn: string, tableId: unknown): number {
  const tid = check.uint32(fn, "table", tableId);
  if (tid === 0) throw new RangeError(`${fn}: table 0 (RT_TABLE_UNSPEC) names no table; leave table out for every table`);
  return tid;
}

/**
 * An RTM_GETROUTE dump of one table, `tid` (checked by routeTableId), as `ip route show table T`
 * asks it: the table in rtm_table (when it fits a byte) and in RTA_TABLE; `tid` 0 asks for every
 * table (rtm_table RT_TABLE_UNSPEC, no RTA_TABLE). `rtmFlags` goes into rtm_flags: RTM_F_CLONED
 * asks for the cloned routes (the kernel's route exceptions) instead of the routes, as `ip route
 * show table cache` does. The kernel filters by table only on a socket with
 * NETLINK_GET_STRICT_CHK on, and then fails the dump with ENOENT for a table that does not exist.
 */
export function routeDumpRequest(family: number, tid: number, seq: number, rtmFlags = 0): Uint8Array {
  const R = need("struct rtmsg", S.rtmsg);
  const flags = need("NLM_F_REQUEST", C.NLM_F_REQUEST) | need("NLM_F_DUMP", C.NLM_F_DUMP);
  const attrs: Attr[] = tid === 0 ? [] : [{ type: need("RTA_TABLE", C.RTA_TABLE), data: u32(tid) }];
  return build(need("RTM_GETROUTE", C.RTM_GETROUTE), flags, seq, R, (v) => {
    writeIntField(v, R.fields.rtm_family, family);
    writeIntField(v, R.fields.rtm_table, tid < 256 ? tid : need("RT_TABLE_UNSPEC", C.RT_TABLE_UNSPEC));
    writeIntField(v, R.fields.rtm_flags, rtmFlags);
  }, attrs);
}

/**
 * The kernel's answer to request `seq` in message `m`: undefined when `m` is not it, else
 * `{ errno }` (0: done) and the extended-ack message when there is one.
 */
export function ackOf(m: NetlinkMessage, seq: number): { errno: number; message?: string } | undefined {
  if (m.type !== C.NLMSG_ERROR || m.seq !== seq >>> 0 || m.payload.byteLength < 4) return undefined;
  const v = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
  const errno = -v.getInt32(0, LE);
  const H = need("struct nlmsghdr", S.nlmsghdr);
  let message: string | undefined;
  if (C.NLM_F_ACK_TLVS !== null && m.flags & C.NLM_F_ACK_TLVS && m.payload.byteLength >= 4 + H.size) {
    // After the error and the echoed request: all of it, or only its header when capped.
    const echoed = C.NLM_F_CAPPED !== null && m.flags & C.NLM_F_CAPPED ? H.size : readIntField(v, { offset: 4 + H.fields.nlmsg_len.offset, size: H.fields.nlmsg_len.size }, false);
    message = ackMessage(m.payload, 4 + align4(echoed));
  }
  return message !== undefined ? { errno, message } : { errno };
}

/**
 * How dump `seq` ended, from message `m`: undefined when `m` does not end it, else `{ errno }`
 * (0: complete) and the extended-ack text. A dump that fails after it started (a filter naming
 * a table that does not exist, say) ends with NLMSG_DONE carrying a negative errno, then the
 * extended-ack attributes; one refused at once ends with NLMSG_ERROR, as a change does.
 */
export function dumpEndOf(m: NetlinkMessage, seq: number): { errno: number; message?: string } | undefined {
  if (m.seq !== seq >>> 0) return undefined;
  if (m.type === C.NLMSG_ERROR) return ackOf(m, seq) ?? { errno: 0 };
  if (m.type !== C.NLMSG_DONE) return undefined;
  if (m.payload.byteLength < 4) return { errno: 0 }; // very old kernels sent an empty DONE
  const errno = -new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength).getInt32(0, LE) || 0;
  const message = C.NLM_F_ACK_TLVS !== null && m.flags & C.NLM_F_ACK_TLVS ? ackMessage(m.payload, 4) : undefined;
  return message !== undefined ? { errno, message } : { errno };
}

/** The NLMSGERR_ATTR_MSG text among the attributes from `start` of an ack's payload, if any. */
function ackMessage(payload: Uint8Array, start: number): string | undefined {
  if (start > payload.byteLength) return undefined;
  let message: string | undefined;
  for (const a of parseAttributes(payload.subarray(start))) {
    if (a.type === C.NLMSGERR_ATTR_MSG) {
      const end = a.data.indexOf(0);
      message = new TextDecoder().decode(a.data.subarray(0, end < 0 ? a.data.byteLength : end));
    }
  }
  return message;
}
