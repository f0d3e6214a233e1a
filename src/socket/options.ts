/**
 * Typed socket options: ONE table, one line per option (name, C name, level, codec, access),
 * in the spirit of nix's `sockopt_impl!`. Codecs (bool, int, linger, timeval, ip_mreq...) are
 * separate small objects that turn a JS value into the bytes of the C type and back, using the
 * generated platform layouts (never hand-written offsets).
 *
 * Every value is checked before setsockopt sees it (TypeError for a wrong kind of value,
 * RangeError for one out of range), every getsockopt result is read only up to the length the
 * kernel returned, and an option whose constant or struct the running platform lacks throws a
 * TypeError naming the platform instead of guessing a number.
 *
 * ```ts
 * sock.setOption("noDelay", true);
 * sock.setOption("linger", { onoff: true, seconds: 0 });
 * sock.getOption("tcpInfo").rtt; // µs
 * ```
 */
import { table } from "../../ffi/platform.ts";
import type { structs } from "../../ffi/gen/names.ts";
import type { Constants, FieldLayout, StructLayout } from "../../ffi/table.ts";
import * as check from "../core/check.ts";
import { formatIP, interfaceIndex, parseIPv4, parseIPv6 } from "../core/sockaddr.ts";
import { readIntField, writeIntField } from "../core/structs.ts";
import { SocketError } from "../core/errors.ts";
import * as sys from "../core/sys.ts";

const C = table.constants;
const S = table.structs;
const LE = table.expressions.LITTLE_ENDIAN === 1;
const INT_SIZE = table.sizes.int;

// --- codecs -------------------------------------------------------------------------------------

/**
 * How one C option type maps to a JS value: `size` bytes are offered to getsockopt (and are the
 * most `encode` writes); `encode` checks the value and writes it, returning the optlen to pass;
 * `decode` reads the first `len` bytes the kernel returned (never more).
 */
export interface Codec<T> {
  /** What the C side is, for docs and messages: "int [1, 255]", "struct linger"... */
  readonly name: string;
  /** Buffer size for getsockopt; an upper bound of what encode writes. */
  readonly size: number;
  /** The struct this platform lacks (e.g. "struct ucred" on macOS), or null. */
  readonly missing: string | null;
  /** Checks `value` (TypeError/RangeError) and writes it into zeroed `out`; returns optlen. */
  encode(what: string, value: T, out: Uint8Array, view: DataView): number;
  /** Reads the value from the first `len` bytes of `bytes` (len ≤ size). */
  decode(what: string, bytes: Uint8Array, view: DataView, len: number): T;
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return `${v}n`;
  if (v !== null && typeof v === "object") return v.constructor?.name ?? "object";
  return String(v);
}

function integerIn(what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== "number") throw new TypeError(`${what} must be a number, got ${describe(v)}`);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${what} must be an integer in [${min}, ${max}], got ${describe(v)}`);
  }
  return v;
}

function needBytes(what: string, len: number, need: number, ctype: string): void {
  if (len < need) throw new RangeError(`${what}: the kernel returned ${len} bytes, ${ctype} needs ${need}`);
}

function objectValue(what: string, v: unknown, shape: string): Record<string, unknown> {
  if (v === null || typeof v !== "object") throw new TypeError(`${what} must be an object ${shape}, got ${describe(v)}`);
  return v as Record<string, unknown>;
}

/** A C int or one byte, whichever the kernel returned (macOS returns u_char for some IP options). */
function decodeIntLike(what: string, view: DataView, len: number, signed: boolean): number {
  if (len >= 4) return signed ? view.getInt32(0, LE) : view.getUint32(0, LE);
  if (len === 1) return view.getUint8(0);
  throw new RangeError(`${what}: the kernel returned ${len} bytes for an int option`);
}

/** A boolean carried as a C int (0/1). Only true/false are accepted: 1 or "yes" is a TypeError. */
export const bool: Codec<boolean> = {
  name: "boolean (int)",
  size: INT_SIZE,
  missing: null,
  encode(what, value, _out, view) {
    if (typeof value !== "boolean") throw new TypeError(`${what} must be a boolean, got ${describe(value)}`);
    view.setInt32(0, value ? 1 : 0, LE);
    return INT_SIZE;
  },
  decode(what, _bytes, view, len) {
    return decodeIntLike(what, view, len, true) !== 0;
  },
};

/** A C int restricted to [min, max] (both within the int range). */
export function int(min = -0x80000000, max = 0x7fffffff, unit = ""): Codec<number> {
  return {
    name: `int [${min}, ${max}]${unit ? ` ${unit}` : ""}`,
    size: INT_SIZE,
    missing: null,
    encode(what, value, _out, view) {
      view.setInt32(0, integerIn(what, value, min, max), LE);
      return INT_SIZE;
    },
    decode(what, _bytes, view, len) {
      return decodeIntLike(what, view, len, true);
    },
  };
}

/** A C unsigned int restricted to [min, max] (within [0, 2^32-1]). */
export function uint(min = 0, max = 0xffffffff): Codec<number> {
  return {
    name: `unsigned int [${min}, ${max}]`,
    size: INT_SIZE,
    missing: null,
    encode(what, value, _out, view) {
      view.setUint32(0, integerIn(what, value, min, max), LE);
      return INT_SIZE;
    },
    decode(what, _bytes, view, len) {
      return decodeIntLike(what, view, len, false);
    },
  };
}

/** SO_LINGER's value: linger on close for `seconds` when `onoff` (0 s = reset the connection). */
export interface Linger {
  readonly onoff: boolean;
  readonly seconds: number;
}

/** struct linger ⇄ { onoff, seconds }; seconds within the l_linger field's int range. */
export const linger: Codec<Linger> = (() => {
  const L = S.linger;
  const F = L.fields;
  const maxSeconds = F.l_linger.size >= 4 ? 0x7fffffff : 2 ** (8 * F.l_linger.size - 1) - 1;
  return {
    name: "struct linger",
    size: L.size,
    missing: null,
    encode(what, value, _out, view) {
      const v = objectValue(what, value, "{ onoff: boolean, seconds: number }");
      if (typeof v.onoff !== "boolean") throw new TypeError(`${what}.onoff must be a boolean, got ${describe(v.onoff)}`);
      writeIntField(view, F.l_onoff, v.onoff ? 1 : 0);
      writeIntField(view, F.l_linger, integerIn(`${what}.seconds`, v.seconds, 0, maxSeconds));
      return L.size;
    },
    decode(what, _bytes, view, len) {
      needBytes(what, len, L.size, "struct linger");
      return { onoff: readIntField(view, F.l_onoff, true) !== 0, seconds: readIntField(view, F.l_linger, true) };
    },
  };
})();

/**
 * struct timeval ⇄ milliseconds (SO_RCVTIMEO/SO_SNDTIMEO). 0 means no timeout; fractions of a ms
 * are kept to the microsecond, rounded up so a tiny positive timeout never becomes 0 (forever).
 */
export const timeval: Codec<number> = (() => {
  const L = S.timeval;
  const F = L.fields;
  const maxMs = Math.floor(Number.MAX_SAFE_INTEGER / 1000);
  return {
    name: "struct timeval (ms)",
    size: L.size,
    missing: null,
    encode(what, value, _out, view) {
      if (typeof value !== "number") throw new TypeError(`${what} must be a number of ms, got ${describe(value)}`);
      if (!(value >= 0 && value <= maxMs)) throw new RangeError(`${what} must be a finite number of ms in [0, ${maxMs}], got ${value}`);
      const us = Math.ceil(value * 1000);
      writeIntField(view, F.tv_sec, Math.floor(us / 1e6));
      writeIntField(view, F.tv_usec, us % 1e6);
      return L.size;
    },
    decode(what, _bytes, view, len) {
      needBytes(what, len, L.size, "struct timeval");
      return readIntField(view, F.tv_sec, true) * 1000 + readIntField(view, F.tv_usec, true) / 1000;
    },
  };
})();

/** struct ucred (SO_PEERCRED): the peer's process and credentials at connect/socketpair time. */
export interface Ucred {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** struct ucred ⇄ { pid, uid, gid } (Linux; missing elsewhere). */
export const ucred: Codec<Ucred> = (() => {
  const L = S.ucred;
  return {
    name: "struct ucred",
    size: L?.size ?? 0,
    missing: L ? null : "struct ucred",
    encode(what, value, _out, view) {
      if (!L) throw new TypeError(`${what}: struct ucred does not exist on ${table.platform}`);
      const v = objectValue(what, value, "{ pid, uid, gid }");
      writeIntField(view, L.fields.pid, integerIn(`${what}.pid`, v.pid, 0, 0x7fffffff));
      view.setUint32(L.fields.uid.offset, integerIn(`${what}.uid`, v.uid, 0, 0xffffffff), LE);
      view.setUint32(L.fields.gid.offset, integerIn(`${what}.gid`, v.gid, 0, 0xffffffff), LE);
      return L.size;
    },
    decode(what, _bytes, view, len) {
      if (!L) throw new TypeError(`${what}: struct ucred does not exist on ${table.platform}`);
      needBytes(what, len, L.size, "struct ucred");
      return {
        pid: readIntField(view, L.fields.pid, true),
        uid: readIntField(view, L.fields.uid, false),
        gid: readIntField(view, L.fields.gid, false),
      };
    },
  };
})();

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A NUL-terminated string of at most `maxBytes` UTF-8 bytes (NUL excluded). Longer values are
 * a RangeError rather than the silent truncation some kernels apply; an embedded NUL is a
 * TypeError. `allowEmpty`: "" is meaningful (SO_BINDTODEVICE "" unbinds).
 */
export function string(maxBytes: number, allowEmpty: boolean): Codec<string> {
  return {
    name: `string (≤ ${maxBytes} bytes)`,
    size: maxBytes + 1,
    missing: null,
    encode(what, value, out) {
      if (typeof value !== "string") throw new TypeError(`${what} must be a string, got ${describe(value)}`);
      const b = encoder.encode(value);
      if (b.includes(0)) throw new TypeError(`${what} must not contain a NUL byte`);
      if (b.length > maxBytes) throw new RangeError(`${what} is ${b.length} bytes; the limit is ${maxBytes}: ${JSON.stringify(value)}`);
      if (b.length === 0 && !allowEmpty) throw new RangeError(`${what} must not be empty`);
      out.set(b, 0);
      out[b.length] = 0;
      return b.length + 1;
    },
    decode(_what, bytes, _view, len) {
      const s = bytes.subarray(0, len);
      const nul = s.indexOf(0);
      return decoder.decode(nul < 0 ? s : s.subarray(0, nul));
    },
  };
}

function ipv4(what: string, v: unknown): Uint8Array {
  if (typeof v !== "string") throw new TypeError(`${what} must be an IPv4 address string, got ${describe(v)}`);
  const ip = parseIPv4(v);
  if (!ip) throw new TypeError(`${what} is not a numeric IPv4 address: ${JSON.stringify(v)}`);
  return ip;
}

function multicastV4(what: string, v: unknown): Uint8Array {
  const ip = ipv4(what, v);
  if (ip[0]! < 224 || ip[0]! > 239) throw new RangeError(`${what} is not an IPv4 multicast address (224.0.0.0/4): ${String(v)}`);
  return ip;
}

/** struct in_addr ⇄ dotted-quad text (IP_MULTICAST_IF). */
export const inAddr: Codec<string> = (() => {
  const L = S.in_addr;
  const off = L.fields.s_addr.offset;
  return {
    name: "struct in_addr (IPv4 text)",
    size: L.size,
    missing: null,
    encode(what, value, out) {
      out.set(ipv4(what, value), off);
      return L.size;
    },
    decode(what, bytes, _view, len) {
      needBytes(what, len, off + 4, "struct in_addr");
      return formatIP(bytes.slice(off, off + 4));
    },
  };
})();

/**
 * IP_ADD_MEMBERSHIP / IP_DROP_MEMBERSHIP: the group and the interface to join it on.
 * `interface` as IPv4 text (the interface's address; default "0.0.0.0": the kernel chooses)
 * sends a struct ip_mreq. As an index (number) or an interface name ("lo") it sends a
 * struct ip_mreqn (Linux), with `address` as its imr_address.
 */
export interface MembershipV4 {
  readonly multiaddr: string;
  readonly interface?: string | number;
  readonly address?: string;
}

/** ip_mreq or ip_mreqn, chosen by how the interface is given (see MembershipV4). */
export const membershipV4: Codec<MembershipV4> = (() => {
  const M = S.ip_mreq;
  const N = S.ip_mreqn;
  return {
    name: "struct ip_mreq | struct ip_mreqn",
    size: Math.max(M.size, N?.size ?? 0),
    missing: null,
    encode(what, value, out, view) {
      const v = objectValue(what, value, "{ multiaddr, interface?, address? }");
      const group = multicastV4(`${what}.multiaddr`, v.multiaddr);
      const itf = v.interface;
      if (itf === undefined || (typeof itf === "string" && parseIPv4(itf))) {
        if (v.address !== undefined) throw new TypeError(`${what}.address needs an interface index or name (struct ip_mreqn)`);
        out.set(group, M.fields.imr_multiaddr.offset);
        if (itf !== undefined) out.set(ipv4(`${what}.interface`, itf), M.fields.imr_interface.offset);
        return M.size;
      }
      if (!N) throw new TypeError(`${what}: an interface index needs struct ip_mreqn, which ${table.platform} lacks; give the interface's IPv4 address`);
      let index: number;
      if (typeof itf === "number") index = integerIn(`${what}.interface`, itf, 0, 0x7fffffff);
      else if (typeof itf === "string") index = interfaceIndex(itf);
      else throw new TypeError(`${what}.interface must be IPv4 text, an interface name or an index, got ${describe(itf)}`);
      out.set(group, N.fields.imr_multiaddr.offset);
      if (v.address !== undefined) out.set(ipv4(`${what}.address`, v.address), N.fields.imr_address.offset);
      writeIntField(view, N.fields.imr_ifindex, index);
      return N.size;
    },
    decode(what, bytes, view, len) {
      if (N && len >= N.size) {
        const F = N.fields;
        return {
          multiaddr: formatIP(bytes.slice(F.imr_multiaddr.offset, F.imr_multiaddr.offset + 4)),
          interface: readIntField(view, F.imr_ifindex, true),
          address: formatIP(bytes.slice(F.imr_address.offset, F.imr_address.offset + 4)),
        };
      }
      needBytes(what, len, M.size, "struct ip_mreq");
      const F = M.fields;
      return {
        multiaddr: formatIP(bytes.slice(F.imr_multiaddr.offset, F.imr_multiaddr.offset + 4)),
        interface: formatIP(bytes.slice(F.imr_interface.offset, F.imr_interface.offset + 4)),
      };
    },
  };
})();

/** IPV6_JOIN_GROUP / IPV6_LEAVE_GROUP: the group and the interface (index or name; 0 = any). */
export interface MembershipV6 {
  readonly multiaddr: string;
  readonly interface?: number | string;
}

/** struct ipv6_mreq ⇄ MembershipV6. */
export const membershipV6: Codec<MembershipV6> = (() => {
  const L = S.ipv6_mreq;
  const F = L.fields;
  return {
    name: "struct ipv6_mreq",
    size: L.size,
    missing: null,
    encode(what, value, out, view) {
      const v = objectValue(what, value, "{ multiaddr, interface? }");
      if (typeof v.multiaddr !== "string") throw new TypeError(`${what}.multiaddr must be an IPv6 address string, got ${describe(v.multiaddr)}`);
      const ip = parseIPv6(v.multiaddr);
      if (!ip) throw new TypeError(`${what}.multiaddr is not a numeric IPv6 address: ${JSON.stringify(v.multiaddr)}`);
      if (ip[0] !== 0xff) throw new RangeError(`${what}.multiaddr is not an IPv6 multicast address (ff00::/8): ${v.multiaddr}`);
      let index = 0;
      if (typeof v.interface === "string") index = interfaceIndex(v.interface);
      else if (v.interface !== undefined) index = integerIn(`${what}.interface`, v.interface, 0, 0xffffffff);
      out.set(ip, F.ipv6mr_multiaddr.offset);
      view.setUint32(F.ipv6mr_interface.offset, index, LE);
      return L.size;
    },
    decode(what, bytes, view, len) {
      needBytes(what, len, L.size, "struct ipv6_mreq");
      const o = F.ipv6mr_multiaddr.offset;
      return { multiaddr: formatIP(bytes.slice(o, o + 16)), interface: readIntField(view, F.ipv6mr_interface, false) };
    },
  };
})();

type Camel<S extends string> = S extends `${infer H}_${infer T}` ? `${H}${Capitalize<Camel<T>>}` : S;
type TcpiField<F> = F extends `tcpi_${infer R}` ? Camel<R> : never;

/**
 * TCP_INFO, decoded: every member of the platform's struct tcp_info (as generated from its
 * headers), named without the `tcpi_` prefix in camelCase: `state` (1 = ESTABLISHED,
 * 10 = LISTEN), `caState`, `rto`/`ato`/`rtt`/`rttvar`/`rcvRtt` (µs), `sndMss`, `sndCwnd`,
 * `totalRetrans`... Bytes past the struct the headers describe (newer kernels) are ignored.
 */
export type TcpInfo = { readonly [K in TcpiField<(typeof structs)["tcp_info"]["fields"][number]>]: number };

const camel = (s: string): string => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** struct tcp_info → TcpInfo (read-only; Linux). All members are unsigned. */
export const tcpInfo: Codec<TcpInfo> = (() => {
  const L: StructLayout | null = S.tcp_info;
  const fields = L ? Object.entries(L.fields as Record<string, FieldLayout>).map(([n, f]) => [camel(n.replace(/^tcpi_/, "")), f] as const) : [];
  const end = fields.reduce((m, [, f]) => Math.max(m, f.offset + f.size), 0);
  return {
    name: "struct tcp_info",
    size: L?.size ?? 0,
    missing: L ? null : "struct tcp_info",
    encode(what) {
      throw new TypeError(`${what} is read-only`);
    },
    decode(what, _bytes, view, len) {
      if (!L) throw new TypeError(`${what}: struct tcp_info does not exist on ${table.platform}`);
      needBytes(what, len, end, "struct tcp_info");
      const out: Record<string, number> = {};
      for (const [name, f] of fields) out[name] = readIntField(view, f, false);
      return out as TcpInfo;
    },
  };
})();

type MptcpiField<F> = F extends `mptcpi_${infer R}` ? Camel<R> : never;
type MptcpiName = MptcpiField<(typeof structs)["mptcp_info"]["fields"][number]>;
/** The 64-bit members of struct mptcp_info: data sequence numbers, random 64-bit values. */
type MptcpSequence = "writeSeq" | "sndUna" | "rcvNxt";

/**
 * MPTCP_INFO, decoded: every member of the platform's struct mptcp_info without `mptcpi_`,
 * camelCased: `subflows` (additional subflows in use), `subflowsMax`, `addAddrSignal`,
 * `addAddrAccepted`, `flags` (constants.MPTCP_INFO_FLAG_*), `token`, `localAddrUsed`,
 * `csumEnabled`... The 64-bit data sequence numbers `writeSeq`, `sndUna`, `rcvNxt` are bigints
 * (they start at a random 64-bit value, beyond a double's exact range).
 */
export type MptcpInfo = { readonly [K in MptcpiName]: K extends MptcpSequence ? bigint : number };

/** struct mptcp_info → MptcpInfo (read-only; Linux glibc headers). */
export const mptcpInfo: Codec<MptcpInfo> = (() => {
  const L: StructLayout | null = S.mptcp_info;
  const fields = L ? Object.entries(L.fields as Record<string, FieldLayout>).map(([n, f]) => [camel(n.replace(/^mptcpi_/, "")), f] as const) : [];
  const end = fields.reduce((m, [, f]) => Math.max(m, f.offset + f.size), 0);
  return {
    name: "struct mptcp_info",
    size: L?.size ?? 0,
    missing: L ? null : "struct mptcp_info",
    encode(what) {
      throw new TypeError(`${what} is read-only`);
    },
    decode(what, _bytes, view, len) {
      if (!L) throw new TypeError(`${what}: struct mptcp_info does not exist on ${table.platform}`);
      needBytes(what, len, end, "struct mptcp_info");
      const out: Record<string, number | bigint> = {};
      for (const [name, f] of fields) out[name] = f.size === 8 ? view.getBigUint64(f.offset, LE) : readIntField(view, f, false);
      return out as MptcpInfo;
    },
  };
})();

/**
 * Whether a socket runs MPTCP, read through MPTCP_INFO: the kernel answers it only for an MPTCP
 * socket that has not fallen back to plain TCP (a peer without MPTCP), and fails with
 * EOPNOTSUPP otherwise (ENOPROTOOPT on inet6) — which the `isMptcp` line turns into false. That is what TCP_IS_MPTCP
 * (Linux 5.16+) reports; these headers do not define it, so it is never typed from memory.
 */
const mptcpInUse: Codec<boolean> = (() => {
  const L = S.mptcp_info;
  const FALLBACK = C.MPTCP_INFO_FLAG_FALLBACK;
  const missing = !L ? "struct mptcp_info" : FALLBACK === null ? "MPTCP_INFO_FLAG_FALLBACK" : null;
  return {
    name: "boolean (struct mptcp_info answered, not fallen back)",
    size: L?.size ?? 0,
    missing,
    encode(what) {
      throw new TypeError(`${what} is read-only`);
    },
    decode(what, _bytes, view, len) {
      if (!L || FALLBACK === null) throw new TypeError(`${what}: struct mptcp_info does not exist on ${table.platform}`);
      const f = L.fields.mptcpi_flags;
      needBytes(what, len, f.offset + f.size, "struct mptcp_info");
      return (readIntField(view, f, false) & FALLBACK) === 0;
    },
  };
})();

// --- the table ----------------------------------------------------------------------------------

/** Protocol levels, by their C names. */
export type OptionLevel = "SOL_SOCKET" | "IPPROTO_IP" | "IPPROTO_IPV6" | "IPPROTO_TCP" | "IPPROTO_UDP" | "SOL_MPTCP";

/** Whether an option can be read, written, or both. */
export type OptionAccess = "get" | "set" | "both";

type ConstantName = keyof Constants;

/** One option: its C name on this platform, level, optname (null: absent here), codec, access. */
export interface OptionSpec<T, A extends OptionAccess = OptionAccess> {
  /** The C macro used on this platform (the first of the candidates the headers define). */
  readonly cname: string;
  readonly level: OptionLevel;
  /** The optname from the platform table, or null where the platform lacks the option. */
  readonly optname: number | null;
  readonly codec: Codec<T>;
  readonly access: A;
  /** One line of documentation. */
  readonly doc: string;
  /** getsockopt errno codes that are an answer, not a failure, and the value they mean. */
  readonly answers?: { readonly codes: readonly string[]; readonly value: T };
}

/** An option line. `cnames`: the macro, or alternatives in order of preference (first defined wins). */
function opt<T, A extends OptionAccess>(cnames: ConstantName | readonly ConstantName[], level: OptionLevel, codec: Codec<T>, access: A, doc: string): OptionSpec<T, A> {
  const list: readonly ConstantName[] = typeof cnames === "string" ? [cnames] : cnames;
  const found = list.find((n) => C[n] !== null);
  return { cname: found ?? list[0]!, level, optname: found === undefined ? null : C[found], codec, access, doc };
}

/** TCP_CA_NAME_MAX - 1: the kernel's limit for a congestion control name (include/net/tcp.h, not exported to user headers). */
const TCP_CA_NAME_MAX = 16;
const IF_NAME_MAX = C.IF_NAMESIZE - 1;

const BYTE = int(0, 255);
const SECONDS = int(1, 0x7fffffff, "s");
const POSITIVE = int(0, 0x7fffffff);
const HOPS = int(-1, 255); // RFC 3493: -1 = the route's default

const specs = {
  // SOL_SOCKET
  reuseAddress: opt("SO_REUSEADDR", "SOL_SOCKET", bool, "both", "bind() may reuse a local address still in TIME_WAIT"),
  reusePort: opt("SO_REUSEPORT", "SOL_SOCKET", bool, "both", "several sockets may bind the same address and port (set on each before bind)"),
  keepAlive: opt("SO_KEEPALIVE", "SOL_SOCKET", bool, "both", "send TCP keepalive probes on an idle connection"),
  broadcast: opt("SO_BROADCAST", "SOL_SOCKET", bool, "both", "allow datagrams to broadcast addresses"),
  receiveBufferSize: opt("SO_RCVBUF", "SOL_SOCKET", POSITIVE, "both", "receive buffer size in bytes (Linux doubles the value set, within net.core.rmem_max)"),
  sendBufferSize: opt("SO_SNDBUF", "SOL_SOCKET", POSITIVE, "both", "send buffer size in bytes (Linux doubles the value set, within net.core.wmem_max)"),
  linger: opt(["SO_LINGER_SEC", "SO_LINGER"], "SOL_SOCKET", linger, "both", "close() waits up to `seconds` for unsent data; { onoff: true, seconds: 0 } resets the connection"),
  receiveTimeout: opt("SO_RCVTIMEO", "SOL_SOCKET", timeval, "both", "kernel timeout in ms for blocking receives (EAGAIN when it expires); 0 = none"),
  sendTimeout: opt("SO_SNDTIMEO", "SOL_SOCKET", timeval, "both", "kernel timeout in ms for blocking sends (EAGAIN when it expires); 0 = none"),
  outOfBandInline: opt("SO_OOBINLINE", "SOL_SOCKET", bool, "both", "urgent (OOB) data is delivered inline with normal data"),
  receiveLowWatermark: opt("SO_RCVLOWAT", "SOL_SOCKET", POSITIVE, "both", "bytes that must be queued before a receive returns / poll reports readable"),
  error: opt("SO_ERROR", "SOL_SOCKET", int(), "get", "the pending socket error (an errno; 0 if none), cleared by reading it"),
  type: opt("SO_TYPE", "SOL_SOCKET", int(), "get", "the socket type (SOCK_STREAM, SOCK_DGRAM...)"),
  domain: opt("SO_DOMAIN", "SOL_SOCKET", int(), "get", "the address family (AF_INET, AF_INET6, AF_UNIX...)"),
  protocol: opt("SO_PROTOCOL", "SOL_SOCKET", int(), "get", "the protocol (IPPROTO_TCP, IPPROTO_UDP...)"),
  acceptConn: opt("SO_ACCEPTCONN", "SOL_SOCKET", bool, "get", "whether the socket is listening"),
  peerCredentials: opt("SO_PEERCRED", "SOL_SOCKET", ucred, "get", "pid/uid/gid of the unix-socket peer at connect()/socketpair() time"),
  passCredentials: opt("SO_PASSCRED", "SOL_SOCKET", bool, "both", "receive SCM_CREDENTIALS control messages on a unix socket"),
  bindToDevice: opt("SO_BINDTODEVICE", "SOL_SOCKET", string(IF_NAME_MAX, true), "both", "only use this network interface (\"lo\"); \"\" unbinds"),
  mark: opt("SO_MARK", "SOL_SOCKET", uint(), "both", "fwmark for routing and filtering (needs CAP_NET_ADMIN)"),
  priority: opt("SO_PRIORITY", "SOL_SOCKET", POSITIVE, "both", "queueing priority; above 6 needs CAP_NET_ADMIN"),
  noSigPipe: opt("SO_NOSIGPIPE", "SOL_SOCKET", bool, "both", "writes to a closed peer give EPIPE instead of SIGPIPE (BSD/macOS)"),
  timestamp: opt("SO_TIMESTAMP", "SOL_SOCKET", bool, "both", "a receive timestamp (struct timeval, µs) with each message: recvMsg({ timestamp: true }).timestamp"),
  timestampNs: opt("SO_TIMESTAMPNS", "SOL_SOCKET", bool, "both", "a receive timestamp in ns (struct timespec) with each message (Linux)"),
  timestamping: opt("SO_TIMESTAMPING", "SOL_SOCKET", uint(), "both", "SOF_TIMESTAMPING_* flags: software/hardware stamps (constants.SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE for receive stamps; Linux)"),
  zeroCopy: opt("SO_ZEROCOPY", "SOL_SOCKET", bool, "both", "let sends with MSG_ZEROCOPY skip the copy; completions on the error queue (sendZeroCopy turns it on; Linux 4.14+)"),
  // IPPROTO_IP
  ttl: opt("IP_TTL", "IPPROTO_IP", int(1, 255), "both", "time-to-live of outgoing unicast IPv4 packets"),
  tos: opt("IP_TOS", "IPPROTO_IP", BYTE, "both", "type-of-service / DSCP byte of outgoing IPv4 packets"),
  multicastTtlV4: opt("IP_MULTICAST_TTL", "IPPROTO_IP", BYTE, "both", "time-to-live of outgoing IPv4 multicast packets"),
  multicastLoopV4: opt("IP_MULTICAST_LOOP", "IPPROTO_IP", bool, "both", "loop our own IPv4 multicast back to local members"),
  multicastInterfaceV4: opt("IP_MULTICAST_IF", "IPPROTO_IP", inAddr, "both", "address of the interface IPv4 multicast is sent from (\"0.0.0.0\": default)"),
  joinMulticastV4: opt("IP_ADD_MEMBERSHIP", "IPPROTO_IP", membershipV4, "set", "join an IPv4 multicast group on an interface"),
  leaveMulticastV4: opt("IP_DROP_MEMBERSHIP", "IPPROTO_IP", membershipV4, "set", "leave an IPv4 multicast group"),
  receivePacketInfoV4: opt("IP_PKTINFO", "IPPROTO_IP", bool, "both", "an IP_PKTINFO message with each datagram: recvMsg({ packetInfo: true }).packetInfo says the local address and interface it came to (Linux)"),
  // IPPROTO_IPV6
  onlyV6: opt("IPV6_V6ONLY", "IPPROTO_IPV6", bool, "both", "an IPv6 socket refuses IPv4-mapped traffic (set before bind)"),
  unicastHopsV6: opt("IPV6_UNICAST_HOPS", "IPPROTO_IPV6", HOPS, "both", "hop limit of outgoing unicast IPv6 packets (-1: route default)"),
  multicastHopsV6: opt("IPV6_MULTICAST_HOPS", "IPPROTO_IPV6", HOPS, "both", "hop limit of outgoing IPv6 multicast (-1: default)"),
  multicastLoopV6: opt("IPV6_MULTICAST_LOOP", "IPPROTO_IPV6", bool, "both", "loop our own IPv6 multicast back to local members"),
  joinMulticastV6: opt("IPV6_JOIN_GROUP", "IPPROTO_IPV6", membershipV6, "set", "join an IPv6 multicast group on an interface"),
  leaveMulticastV6: opt("IPV6_LEAVE_GROUP", "IPPROTO_IPV6", membershipV6, "set", "leave an IPv6 multicast group"),
  receivePacketInfoV6: opt("IPV6_RECVPKTINFO", "IPPROTO_IPV6", bool, "both", "an IPV6_PKTINFO message with each datagram (IPv4-mapped ones too): recvMsg({ packetInfo: true }).packetInfo"),
  // IPPROTO_TCP
  noDelay: opt("TCP_NODELAY", "IPPROTO_TCP", bool, "both", "disable Nagle's algorithm: send small segments at once"),
  keepAliveIdle: opt(["TCP_KEEPIDLE", "TCP_KEEPALIVE"], "IPPROTO_TCP", SECONDS, "both", "seconds idle before the first keepalive probe"),
  keepAliveInterval: opt("TCP_KEEPINTVL", "IPPROTO_TCP", SECONDS, "both", "seconds between keepalive probes"),
  keepAliveCount: opt("TCP_KEEPCNT", "IPPROTO_TCP", int(1, 0x7fffffff), "both", "unanswered probes before the connection is dropped"),
  maxSegmentSize: opt("TCP_MAXSEG", "IPPROTO_TCP", int(0, 65535), "both", "maximum segment size in bytes"),
  cork: opt("TCP_CORK", "IPPROTO_TCP", bool, "both", "hold partial segments until uncorked (Linux)"),
  quickAck: opt("TCP_QUICKACK", "IPPROTO_TCP", bool, "both", "ACK immediately instead of delaying (not permanent on Linux)"),
  fastOpen: opt("TCP_FASTOPEN", "IPPROTO_TCP", POSITIVE, "both", "TCP Fast Open queue length on a listener (0 disables)"),
  fastOpenConnect: opt("TCP_FASTOPEN_CONNECT", "IPPROTO_TCP", bool, "both", "TCP Fast Open client: with a cached cookie connect() returns at once and the first send rides in the SYN (Linux 4.11+)"),
  userTimeout: opt("TCP_USER_TIMEOUT", "IPPROTO_TCP", uint(0, 0x7fffffff), "both", "ms unacknowledged data may wait before the connection is dropped (0: system default)"),
  congestionControl: opt("TCP_CONGESTION", "IPPROTO_TCP", string(TCP_CA_NAME_MAX - 1, false), "both", "congestion control algorithm (\"cubic\", \"reno\"...)"),
  tcpInfo: opt("TCP_INFO", "IPPROTO_TCP", tcpInfo, "get", "connection state and statistics (struct tcp_info, decoded)"),
  // SOL_MPTCP (Linux 5.16+)
  isMptcp: {
    ...opt("MPTCP_INFO", "SOL_MPTCP", mptcpInUse, "get", "whether the socket runs MPTCP: false for plain TCP and for an MPTCP socket fallen back to TCP (what TCP_IS_MPTCP says)"),
    answers: { codes: ["EOPNOTSUPP", "ENOPROTOOPT"], value: false },
  },
  mptcpInfo: opt("MPTCP_INFO", "SOL_MPTCP", mptcpInfo, "get", "MPTCP connection state (struct mptcp_info, decoded); EOPNOTSUPP on plain TCP or after a fallback (ENOPROTOOPT on inet6)"),
  // IPPROTO_UDP (Linux's SOL_UDP is the same number)
  udpSegment: opt("UDP_SEGMENT", "IPPROTO_UDP", int(0, 65535), "both", "segment every send into datagrams of this many bytes (UDP GSO, Linux 4.18+; 0: off)"),
  udpGro: opt("UDP_GRO", "IPPROTO_UDP", bool, "both", "coalesce received datagrams of a flow into one buffer, gso_size in a UDP_GRO control message (Linux 5.0+)"),
};

type Specs = typeof specs;

/** Every typed option name. */
export type OptionName = keyof Specs;

/** The JS value type of option `K`. */
export type OptionValue<K extends OptionName> = Specs[K] extends OptionSpec<infer T, OptionAccess> ? T : never;

/** Options getOption accepts (access "get" or "both"). */
export type GettableOption = { [K in OptionName]: Specs[K]["access"] extends "set" ? never : K }[OptionName];

/** Options setOption accepts (access "set" or "both"). */
export type SettableOption = { [K in OptionName]: Specs[K]["access"] extends "get" ? never : K }[OptionName];

/** Documentation view of one option. */
export interface OptionInfo {
  /** The JS name: `reuseAddress`. */
  readonly name: OptionName;
  /** The C macro on this platform: `SO_REUSEADDR`. */
  readonly cname: string;
  readonly level: OptionLevel;
  /** The numeric optname, or null where this platform lacks it. */
  readonly optname: number | null;
  readonly access: OptionAccess;
  /** The C type and JS range: "int [1, 255]", "struct linger"... */
  readonly type: string;
  readonly doc: string;
  /** Why the option is unavailable on this platform, or null when it works here. */
  readonly unsupported: string | null;
}

function unsupportedReason(spec: OptionSpec<unknown>): string | null {
  if (spec.optname === null) return `${spec.cname} is not defined by the ${table.platform} headers`;
  if (C[spec.level] === null) return `${spec.level} is not defined by the ${table.platform} headers`;
  if (spec.codec.missing !== null) return `${spec.codec.missing} is not defined by the ${table.platform} headers`;
  return null;
}

/** Metadata of every typed option, for docs and introspection (in table order). */
export const options: { readonly [K in OptionName]: OptionInfo } = Object.fromEntries(
  Object.entries(specs).map(([name, spec]: [string, OptionSpec<unknown>]) => [name, {
    name, cname: spec.cname, level: spec.level, optname: spec.optname, access: spec.access,
    type: spec.codec.name, doc: spec.doc, unsupported: unsupportedReason(spec),
  }]),
) as { readonly [K in OptionName]: OptionInfo };

// --- get / set ----------------------------------------------------------------------------------

const scratchSize = Math.max(...Object.values(specs).map((s: OptionSpec<unknown>) => s.codec.size));
const scratch = new Uint8Array(scratchSize);
const scratchView = new DataView(scratch.buffer);
const scratchLen = new Uint32Array(1);

/** The spec of `name`, checked: known, allowed for this access, available on this platform. */
function lookup(fn: string, name: unknown, access: "get" | "set"): [OptionSpec<unknown>, number, string] {
  if (typeof name !== "string" || !Object.hasOwn(specs, name)) {
    throw new TypeError(`${fn}: unknown socket option ${describe(name)} (known: ${Object.keys(specs).join(", ")})`);
  }
  const spec: OptionSpec<unknown> = specs[name as OptionName];
  const what = `${fn}: ${name} (${spec.cname})`;
  if (spec.access !== "both" && spec.access !== access) {
    throw new TypeError(`${what} is ${spec.access === "get" ? "read-only" : "write-only"}`);
  }
  const why = unsupportedReason(spec);
  if (why !== null || spec.optname === null) throw new TypeError(`${what} is not supported on ${table.platform}: ${why}`);
  return [spec, spec.optname, what];
}

/** Level number of a level name. */
function levelOf(level: OptionLevel): number {
  return C[level]!; // lookup() refused levels this platform lacks
}

/**
 * getsockopt() of a typed option on a raw fd: `getOptionFd(fd, "receiveBufferSize")`.
 * Throws TypeError for an unknown, write-only or unsupported option, SocketError on failure.
 */
export function getOptionFd<K extends GettableOption>(fd: number, name: K): OptionValue<K> {
  const [spec, optname, what] = lookup("getOption", name, "get");
  check.fd("getOption", fd);
  const size = spec.codec.size;
  scratch.fill(0, 0, size);
  scratchLen[0] = size;
  let n: number;
  try {
    n = sys.getsockopt(fd, levelOf(spec.level), optname, scratch, scratchLen);
  } catch (e) {
    if (spec.answers && e instanceof SocketError && spec.answers.codes.includes(e.code)) return spec.answers.value as OptionValue<K>;
    throw e;
  }
  // Never trust a reported length beyond the room offered.
  return spec.codec.decode(what, scratch, scratchView, Math.min(n, size)) as OptionValue<K>;
}

/**
 * setsockopt() of a typed option on a raw fd: `setOptionFd(fd, "noDelay", true)`. The value is
 * checked (TypeError/RangeError) before any syscall; SocketError if the kernel refuses it.
 */
export function setOptionFd<K extends SettableOption>(fd: number, name: K, value: OptionValue<K>): void {
  const [spec, optname, what] = lookup("setOption", name, "set");
  scratch.fill(0);
  const len = spec.codec.encode(what, value, scratch, scratchView);
  check.fits(what, "optlen", len, spec.codec.size);
  check.fd("setOption", fd);
  sys.setsockopt(fd, levelOf(spec.level), optname, scratch, len);
}
