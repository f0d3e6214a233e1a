/**
 * Socket addresses as values ({ family: "inet", host, port } and friends) ↔ the bytes of a
 * struct sockaddr_*. The only module of the typed API that reads or writes sockaddr bytes;
 * offsets come from the generated platform table.
 */
import { libc } from "../../ffi/libc.ts";
import { table } from "../../ffi/platform.ts";
import type { FieldLayout } from "../../ffi/table.ts";
import * as check from "./check.ts";
import { readIntField, writeIntField } from "./structs.ts";

const S = table.structs;
const C = table.constants;
const LE = table.expressions.LITTLE_ENDIAN === 1;

/** An IPv4 socket address. `host` is dotted-quad text ("127.0.0.1"). */
export interface InetAddress {
  readonly family: "inet";
  readonly host: string;
  readonly port: number;
}

/** An IPv6 socket address. `host` is RFC 5952 text ("::1"); a "%ifname" suffix sets scopeId. */
export interface Inet6Address {
  readonly family: "inet6";
  readonly host: string;
  readonly port: number;
  /** sin6_flowinfo, host byte order (20-bit flow label plus traffic class). */
  readonly flowinfo?: number;
  /** sin6_scope_id: the interface index for link-local addresses. */
  readonly scopeId?: number;
}

/**
 * A unix-domain address: a filesystem `path`, a Linux `abstract` name (the bytes after the
 * leading NUL; may contain NULs), or neither for an unnamed socket (socketpair, unbound client).
 */
export type UnixAddress =
  | { readonly family: "unix"; readonly path: string; readonly abstract?: undefined }
  | { readonly family: "unix"; readonly abstract: Uint8Array | string; readonly path?: undefined }
  | { readonly family: "unix"; readonly path?: undefined; readonly abstract?: undefined };

/**
 * A netlink socket address (Linux, struct sockaddr_nl). `pid` is the port id: 0 is the kernel
 * as a destination, and "let the kernel choose" when binding. `groups` is the bitmask of
 * multicast groups to join when binding (RTMGRP_LINK...).
 */
export interface NetlinkAddress {
  readonly family: "netlink";
  readonly pid?: number;
  readonly groups?: number;
}

/**
 * A link-layer address (Linux AF_PACKET, struct sockaddr_ll): the interface, and as received
 * (or to send to) the EtherType in host order, ARP hardware type, packet type and hardware
 * address. Binding needs `ifindex` (0: every interface) and `protocol` (e.g. ETH_P_ALL).
 */
export interface PacketAddress {
  readonly family: "packet";
  readonly ifindex: number;
  /** EtherType in host byte order (constants.ETH_P_ALL, ETH_P_IP...); 0 receives nothing. */
  readonly protocol?: number;
  /** ARPHRD_* hardware type (as received). */
  readonly hatype?: number;
  /** PACKET_HOST, PACKET_BROADCAST, PACKET_OUTGOING... (as received). */
  readonly pkttype?: number;
  /** Hardware address, at most 8 bytes. */
  readonly address?: Uint8Array;
}

/** An address of a family bsdsock does not decode: the family number and the raw bytes. */
export interface RawAddress {
  readonly family: number;
  readonly bytes: Uint8Array;
}

/** Any socket address bsdsock can send to or receive from. */
export type Address = InetAddress | Inet6Address | UnixAddress | NetlinkAddress | PacketAddress;

/** Bytes big enough for any sockaddr (sizeof(struct sockaddr_storage)). */
export const SOCKADDR_MAX = S.sockaddr_storage.size;

/** Longest sun_path (bytes, NUL included for pathnames). */
export const SUN_PATH_MAX = S.sockaddr_un.fields.sun_path.size;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// --- IPv4/IPv6 text <-> bytes, through libc so the syntax is exactly C's ----------------------

/** Parsed address bytes per family, cached: sendTo to the same host string does not re-parse. */
const parsed = new Map<number, Map<string, Uint8Array | null>>();
const PARSE_CACHE_MAX = 512;

function pton(af: number, text: string, size: number): Uint8Array | null {
  let cache = parsed.get(af);
  if (cache === undefined) parsed.set(af, (cache = new Map()));
  const hit = cache.get(text);
  if (hit !== undefined) return hit;
  let result: Uint8Array | null = null;
  if (!text.includes("\0")) {
    const out = new Uint8Array(size);
    if (libc.inet_pton(af, encoder.encode(`${text}\0`), out) === 1) result = out;
  }
  if (cache.size >= PARSE_CACHE_MAX) cache.clear();
  cache.set(text, result);
  return result;
}

const ntopBuffer = new Uint8Array(64);
function ntop(af: number, bytes: Uint8Array): string {
  if (!libc.inet_ntop(af, bytes, ntopBuffer, ntopBuffer.length)) throw new Error("inet_ntop failed on a valid address");
  return decoder.decode(ntopBuffer.subarray(0, ntopBuffer.indexOf(0)));
}

/** The 4 bytes of a numeric IPv4 address, or null if `host` is not one. */
export function parseIPv4(host: string): Uint8Array | null {
  return pton(C.AF_INET, host, 4);
}

/** The 16 bytes of a numeric IPv6 address (no scope suffix), or null if `host` is not one. */
export function parseIPv6(host: string): Uint8Array | null {
  return pton(C.AF_INET6, host, 16);
}

/** Text of 4 or 16 address bytes. */
export function formatIP(bytes: Uint8Array): string {
  return ntop(bytes.length === 4 ? C.AF_INET : C.AF_INET6, bytes);
}

// --- checks ------------------------------------------------------------------------------------

function checkPort(port: unknown): number {
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`port must be an integer in [0, 65535], got ${typeof port === "string" ? JSON.stringify(port) : String(port)}`);
  }
  return port;
}

function checkU32(what: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new RangeError(`${what} must be an integer in [0, 4294967295], got ${String(v)}`);
  }
  return v;
}

function hostOf(addr: { host?: unknown }): string {
  if (typeof addr.host !== "string") throw new TypeError(`host must be a string, got ${typeof addr.host}`);
  return addr.host;
}

// --- encode ------------------------------------------------------------------------------------

/** A DataView over an address buffer; the buffers are few and long-lived, so one view each. */
const views = new WeakMap<Uint8Array, DataView>();
function viewOf(b: Uint8Array): DataView {
  let v = views.get(b);
  if (v === undefined) views.set(b, (v = new DataView(b.buffer, b.byteOffset, b.byteLength)));
  return v;
}

function put16(view: DataView, f: FieldLayout, v: number, littleEndian = LE): void {
  view.setUint16(f.offset, v, littleEndian);
}
function putFamily(out: Uint8Array, view: DataView, family: number, lenField: FieldLayout | undefined, len: number, famField: FieldLayout): void {
  if (lenField) out[lenField.offset] = len; // macOS: sa_len
  if (famField.size === 1) out[famField.offset] = family;
  else put16(view, famField, family);
}

/**
 * Writes `addr` as a struct sockaddr into `out` (zeroing what it uses) and returns the length
 * to pass to the kernel. Throws TypeError/RangeError for anything malformed, before any syscall.
 */
export function encodeAddress(addr: Address, out: Uint8Array): number {
  if (addr === null || typeof addr !== "object") throw new TypeError(`address must be an object, got ${String(addr)}`);
  if (out.length < SOCKADDR_MAX) throw new RangeError(`address buffer must hold ${SOCKADDR_MAX} bytes`);
  const view = viewOf(out);
  switch (addr.family) {
    case "inet": {
      const L = S.sockaddr_in;
      const host = hostOf(addr);
      const ip = parseIPv4(host);
      if (!ip) throw new TypeError(`not a numeric IPv4 address: ${JSON.stringify(host)}`);
      const port = checkPort(addr.port);
      out.fill(0, 0, L.size);
      putFamily(out, view, C.AF_INET, L.fields.sin_len, L.size, L.fields.sin_family);
      put16(view, L.fields.sin_port, port, false);
      out.set(ip, L.fields.sin_addr.offset);
      return L.size;
    }
    case "inet6": {
      const L = S.sockaddr_in6;
      let host = hostOf(addr);
      let scopeId = addr.scopeId === undefined ? 0 : checkU32("scopeId", addr.scopeId);
      const pct = host.indexOf("%");
      if (pct >= 0) {
        const zone = host.slice(pct + 1);
        host = host.slice(0, pct);
        scopeId = /^\d+$/.test(zone) ? checkU32("scope id", Number(zone)) : interfaceIndex(zone);
      }
      const ip = parseIPv6(host);
      if (!ip) throw new TypeError(`not a numeric IPv6 address: ${JSON.stringify(addr.host)}`);
      const port = checkPort(addr.port);
      const flowinfo = addr.flowinfo === undefined ? 0 : checkU32("flowinfo", addr.flowinfo);
      out.fill(0, 0, L.size);
      putFamily(out, view, C.AF_INET6, L.fields.sin6_len, L.size, L.fields.sin6_family);
      put16(view, L.fields.sin6_port, port, false);
      view.setUint32(L.fields.sin6_flowinfo.offset, flowinfo, false);
      out.set(ip, L.fields.sin6_addr.offset);
      view.setUint32(L.fields.sin6_scope_id.offset, scopeId, LE);
      return L.size;
    }
    case "unix": {
      const L = S.sockaddr_un;
      const pathOff = L.fields.sun_path.offset;
      out.fill(0, 0, L.size);
      let len: number;
      if (addr.path !== undefined && addr.abstract !== undefined) throw new TypeError("a unix address has a path or an abstract name, not both");
      if (addr.path !== undefined) {
        if (typeof addr.path !== "string") throw new TypeError("unix path must be a string");
        const p = encoder.encode(addr.path);
        if (p.length === 0) throw new RangeError("unix path is empty (use no path for an unnamed socket)");
        if (p.includes(0)) throw new TypeError("unix path contains a NUL byte (use `abstract` for Linux abstract names)");
        if (p.length > SUN_PATH_MAX - 1) {
          throw new RangeError(`unix path is ${p.length} bytes; the limit is ${SUN_PATH_MAX - 1} (ENAMETOOLONG): ${addr.path}`);
        }
        out.set(p, pathOff);
        len = pathOff + p.length + 1;
      } else if (addr.abstract !== undefined) {
        if (!table.platform.startsWith("linux-")) throw new RangeError("abstract unix addresses exist only on Linux");
        if (typeof addr.abstract !== "string" && !(addr.abstract instanceof Uint8Array)) throw new TypeError("abstract name must be a string or Uint8Array");
        const name = typeof addr.abstract === "string" ? encoder.encode(addr.abstract) : check.freshView("address", "abstract", addr.abstract);
        if (name.length > SUN_PATH_MAX - 1) {
          throw new RangeError(`abstract name is ${name.length} bytes; the limit is ${SUN_PATH_MAX - 1}`);
        }
        out.set(name, pathOff + 1); // leading NUL marks the abstract namespace
        len = pathOff + 1 + name.length;
      } else {
        len = pathOff; // unnamed: just the family (autobind on Linux when bound)
      }
      putFamily(out, view, C.AF_UNIX, L.fields.sun_len, len, L.fields.sun_family);
      return len;
    }
    case "netlink": {
      const L = S.sockaddr_nl;
      if (L === null || C.AF_NETLINK === null) throw new RangeError(`netlink addresses exist only on Linux, not ${table.platform}`);
      const pid = addr.pid === undefined ? 0 : checkU32("netlink pid", addr.pid);
      const groups = addr.groups === undefined ? 0 : checkU32("netlink groups", addr.groups);
      out.fill(0, 0, L.size);
      writeIntField(view, L.fields.nl_family, C.AF_NETLINK);
      writeIntField(view, L.fields.nl_pid, pid);
      writeIntField(view, L.fields.nl_groups, groups);
      return L.size;
    }
    case "packet": {
      const L = S.sockaddr_ll;
      if (L === null || C.AF_PACKET === null) throw new RangeError(`packet addresses exist only on Linux, not ${table.platform}`);
      const F = L.fields;
      const ifindex = check.int32("packet address", "ifindex", addr.ifindex);
      if (ifindex < 0) throw new RangeError(`packet address: ifindex must be >= 0, got ${ifindex}`);
      const protocol = addr.protocol === undefined ? 0 : check.unsigned("packet address", "protocol", addr.protocol, 16);
      const hatype = addr.hatype === undefined ? 0 : check.unsigned("packet address", "hatype", addr.hatype, 16);
      const pkttype = addr.pkttype === undefined ? 0 : check.unsigned("packet address", "pkttype", addr.pkttype, 8);
      const hw = addr.address === undefined ? new Uint8Array(0) : check.freshView("packet address", "address", addr.address);
      if (hw.length > F.sll_addr.size) throw new RangeError(`packet address: a hardware address has at most ${F.sll_addr.size} bytes, got ${hw.length}`);
      out.fill(0, 0, L.size);
      writeIntField(view, F.sll_family, C.AF_PACKET);
      put16(view, F.sll_protocol, protocol, false); // network byte order
      writeIntField(view, F.sll_ifindex, ifindex);
      writeIntField(view, F.sll_hatype, hatype);
      writeIntField(view, F.sll_pkttype, pkttype);
      writeIntField(view, F.sll_halen, hw.length);
      out.set(hw, F.sll_addr.offset);
      return L.size;
    }
    default:
      throw new TypeError(`unknown address family ${JSON.stringify((addr as { family: unknown }).family)}`);
  }
}

/** The interface index of a name like "lo", for IPv6 scope ids. */
export function interfaceIndex(name: string): number {
  const index = name.includes("\0") ? 0 : libc.if_nametoindex(encoder.encode(`${name}\0`));
  if (!index) throw new TypeError(`unknown network interface: ${JSON.stringify(name)}`);
  return index;
}

// --- decode ------------------------------------------------------------------------------------

/** The family number at the start of a sockaddr. */
export function familyOf(bytes: Uint8Array, len: number): number {
  const f = S.sockaddr.fields.sa_family;
  if (len < f.offset + f.size) return C.AF_UNSPEC;
  return f.size === 1 ? bytes[f.offset]! : new DataView(bytes.buffer, bytes.byteOffset).getUint16(f.offset, LE);
}

/**
 * Reads the address the kernel wrote into `bytes`, using only the first `len` bytes it
 * reported (never past them, and never past the buffer). Unknown families come back raw.
 * `socketFamily` (the receiving socket's AF_*) lets an empty unix address decode as unnamed.
 */
export function decodeAddress(bytes: Uint8Array, len: number, socketFamily?: number): Address | RawAddress {
  // Only the first `len` bytes count; a negative or NaN length means none.
  len = len > 0 ? Math.min(Math.floor(len), bytes.length) : 0;
  const view = viewOf(bytes); // reads below stay within `len`: each family checks its size first
  // Linux reports an unbound unix peer (e.g. a datagram sender) with length 0: no family at all.
  if (len === 0 && socketFamily === C.AF_UNIX) return { family: "unix" };
  const family = familyOf(bytes, len);
  if (family === C.AF_INET && len >= S.sockaddr_in.size) {
    const F = S.sockaddr_in.fields;
    return {
      family: "inet",
      host: formatIP(bytes.subarray(F.sin_addr.offset, F.sin_addr.offset + 4)),
      port: view.getUint16(F.sin_port.offset, false),
    };
  }
  if (family === C.AF_INET6 && len >= S.sockaddr_in6.size) {
    const F = S.sockaddr_in6.fields;
    const a: Inet6Address = {
      family: "inet6",
      host: formatIP(bytes.subarray(F.sin6_addr.offset, F.sin6_addr.offset + 16)),
      port: view.getUint16(F.sin6_port.offset, false),
      flowinfo: view.getUint32(F.sin6_flowinfo.offset, false),
      scopeId: view.getUint32(F.sin6_scope_id.offset, LE),
    };
    return a;
  }
  if (family === C.AF_UNIX) {
    const off = S.sockaddr_un.fields.sun_path.offset;
    if (len <= off) return { family: "unix" };
    const path = bytes.subarray(off, len);
    if (path[0] === 0) {
      // Linux: a leading NUL is an abstract name, exactly len - off - 1 bytes (NULs included,
      // possibly none: "" is a name of its own). Unnamed sockets report just the family.
      return { family: "unix", abstract: path.slice(1) };
    }
    const nul = path.indexOf(0);
    return { family: "unix", path: decoder.decode(nul < 0 ? path : path.subarray(0, nul)) };
  }
  if (family === C.AF_NETLINK && S.sockaddr_nl !== null && len >= S.sockaddr_nl.size) {
    const F = S.sockaddr_nl.fields;
    return { family: "netlink", pid: readIntField(view, F.nl_pid, false), groups: readIntField(view, F.nl_groups, false) };
  }
  if (family === C.AF_PACKET && S.sockaddr_ll !== null && len >= S.sockaddr_ll.fields.sll_addr.offset) {
    const F = S.sockaddr_ll.fields;
    const halen = Math.min(readIntField(view, F.sll_halen, false), F.sll_addr.size, Math.max(0, len - F.sll_addr.offset));
    return {
      family: "packet",
      ifindex: view.getInt32(F.sll_ifindex.offset, LE),
      protocol: view.getUint16(F.sll_protocol.offset, false),
      hatype: readIntField(view, F.sll_hatype, false),
      pkttype: readIntField(view, F.sll_pkttype, false),
      address: bytes.slice(F.sll_addr.offset, F.sll_addr.offset + halen),
    };
  }
  return { family, bytes: bytes.slice(0, len) };
}

/** Human-readable address: "127.0.0.1:80", "[::1]:80", "/run/x.sock", "@name", "(unnamed)". */
export function formatAddress(addr: Address | RawAddress): string {
  if (typeof addr.family === "number") return `family ${addr.family}`;
  switch (addr.family) {
    case "inet": return `${addr.host}:${addr.port}`;
    case "inet6": return `[${addr.host}${addr.scopeId ? `%${addr.scopeId}` : ""}]:${addr.port}`;
    case "unix":
      if (addr.path !== undefined) return addr.path;
      if (addr.abstract !== undefined) {
        const name = typeof addr.abstract === "string" ? addr.abstract : decoder.decode(addr.abstract);
        return `@${name.replaceAll("\0", "@")}`;
      }
      return "(unnamed)";
    case "netlink":
      return `netlink:${addr.pid ?? 0}${addr.groups ? `/groups 0x${addr.groups.toString(16)}` : ""}`;
    case "packet": {
      const hw = addr.address && addr.address.length ? ` ${[...addr.address].map((b) => b.toString(16).padStart(2, "0")).join(":")}` : "";
      return `packet:if${addr.ifindex}${addr.protocol ? `/0x${addr.protocol.toString(16).padStart(4, "0")}` : ""}${hw}`;
    }
  }
}

/** The family number of an address value. */
export function familyNumber(addr: Address): number {
  switch (addr.family) {
    case "inet": return C.AF_INET;
    case "inet6": return C.AF_INET6;
    case "unix": return C.AF_UNIX;
    case "netlink":
      if (C.AF_NETLINK === null) throw new RangeError(`AF_NETLINK does not exist on ${table.platform}`);
      return C.AF_NETLINK;
    case "packet":
      if (C.AF_PACKET === null) throw new RangeError(`AF_PACKET does not exist on ${table.platform}`);
      return C.AF_PACKET;
  }
}

/**
 * Encodes addresses into its own buffer, remembering the last one: sending many datagrams to
 * the same address (the common case) encodes it once. A changed field is always noticed,
 * because the fields are compared, not just the object.
 */
export class AddressEncoder {
  /** The encoded sockaddr (valid for the length the last encode returned). */
  readonly bytes = new Uint8Array(SOCKADDR_MAX);
  #last: Address | null = null;
  #family: unknown;
  #host: unknown;
  #port: unknown;
  #flowinfo: unknown;
  #scopeId: unknown;
  #path: unknown;
  #abstract: unknown;
  #len = 0;

  /** Encodes `addr` (or reuses the last encoding when nothing changed); returns its length. */
  encode(addr: Address): number {
    // Netlink and packet addresses are not cached (their fields are not among those compared).
    if (addr !== null && typeof addr === "object" && (addr.family === "netlink" || addr.family === "packet")) {
      this.#last = null;
      const n = encodeAddress(addr, this.bytes);
      if (!(n >= 0 && n <= this.bytes.length)) throw new RangeError(`encodeAddress: length ${n} exceeds the ${this.bytes.length}-byte buffer`);
      return n;
    }
    const a = addr as { family?: unknown; host?: unknown; port?: unknown; flowinfo?: unknown; scopeId?: unknown; path?: unknown; abstract?: unknown };
    if (
      addr === this.#last && a.family === this.#family && a.host === this.#host && a.port === this.#port &&
      a.flowinfo === this.#flowinfo && a.scopeId === this.#scopeId && a.path === this.#path &&
      a.abstract === this.#abstract && !(a.abstract instanceof Uint8Array)
    ) {
      return this.#len;
    }
    this.#last = null;
    const len = encodeAddress(addr, this.bytes);
    // Callers pass (bytes, len) to libc unchecked: the length must never exceed the buffer.
    if (!(len >= 0 && len <= this.bytes.length)) throw new RangeError(`encodeAddress: length ${len} exceeds the ${this.bytes.length}-byte buffer`);
    this.#last = addr;
    this.#family = a.family;
    this.#host = a.host;
    this.#port = a.port;
    this.#flowinfo = a.flowinfo;
    this.#scopeId = a.scopeId;
    this.#path = a.path;
    this.#abstract = a.abstract;
    this.#len = len;
    return len;
  }
}

/**
 * Decodes addresses the kernel wrote, remembering the last one: datagrams from the same sender
 * give the same (frozen) address object without decoding or allocating again.
 */
export class AddressDecoder {
  readonly #last = new Uint8Array(SOCKADDR_MAX);
  #lastLen = -1;
  #lastFamily = -1;
  #result: Address | RawAddress | null = null;

  /** Like decodeAddress(bytes, len, socketFamily), cached on the exact bytes. */
  decode(bytes: Uint8Array, len: number, socketFamily: number): Address | RawAddress {
    len = Math.min(len, bytes.length, SOCKADDR_MAX);
    const last = this.#last;
    if (len === this.#lastLen && socketFamily === this.#lastFamily && this.#result !== null) {
      let same = true;
      for (let i = 0; i < len; i++) {
        if (bytes[i] !== last[i]) { same = false; break; }
      }
      if (same) return this.#result;
    }
    const result = Object.freeze(decodeAddress(bytes, len, socketFamily));
    // Results holding bytes (abstract names, raw addresses) are not reused: their arrays are mutable.
    if ("abstract" in result || "bytes" in result || "address" in result) {
      this.#result = null;
      return result;
    }
    last.set(bytes.subarray(0, len));
    this.#lastLen = len;
    this.#lastFamily = socketFamily;
    this.#result = result;
    return result;
  }
}
