/**
 * Name resolution through libc: getaddrinfo/getnameinfo with their real semantics (the
 * system's resolver configuration, /etc/hosts, nsswitch), and errors that keep the EAI_* code.
 * These calls block the calling thread while the resolver works, like their C counterparts.
 */
import { CString, read } from "bun:ffi";
import { readErrno } from "../../ffi/errno.ts";
import { libc } from "../../ffi/libc.ts";
import { table } from "../../ffi/platform.ts";
import { familyValue, protocolValue, typeName, typeValue, type Family, type Protocol, type SocketType } from "../core/constants.ts";
import { SocketError } from "../core/errors.ts";
import { decodeAddress, encodeAddress, SOCKADDR_MAX, type Address, type Inet6Address, type InetAddress } from "../core/sockaddr.ts";
import { Socket } from "./socket.ts";

const C = table.constants;
const AI = table.structs.addrinfo;
const LE = table.expressions.LITTLE_ENDIAN === 1;
const encoder = new TextEncoder();

/** EAI_* names by value, for error codes. */
const eaiNames = new Map<number, string>();
for (const [name, value] of Object.entries(C)) {
  if (name.startsWith("EAI_") && value !== null && !eaiNames.has(value)) eaiNames.set(value, name);
}

/** A getaddrinfo/getnameinfo failure: `code` is the EAI_* name, `message` gai_strerror's text. */
export class AddressInfoError extends Error {
  override readonly name: string = "AddressInfoError";
  /** "getaddrinfo" or "getnameinfo". */
  readonly syscall: string;
  /** The EAI_* value. */
  readonly errno: number;
  /** Its name, e.g. "EAI_NONAME". */
  readonly code: string;
  /** What was being resolved. */
  readonly host: string | null;

  /** A failure of `syscall` with EAI_* code `eai` while resolving `host`. */
  constructor(syscall: string, eai: number, host: string | null) {
    const p = libc.gai_strerror(eai);
    const text = p ? new CString(p).toString() : `error ${eai}`;
    super(`${syscall}: ${text}${host === null ? "" : ` (${host})`}`);
    this.syscall = syscall;
    this.errno = eai;
    this.code = eaiNames.get(eai) ?? `EAI_${eai}`;
    this.host = host;
  }
}

/** One getaddrinfo result. */
export interface AddrInfo {
  /** The socket address, ready for bind/connect/sendTo. */
  readonly address: InetAddress | Inet6Address;
  /** Socket type ("stream", "dgram", ... or the number). */
  readonly type: SocketType;
  /** Protocol number (IPPROTO_TCP, ...). */
  readonly protocol: number;
  /** The canonical name, on the first result when `canonicalName` was asked for. */
  readonly canonicalName?: string;
}

/** getaddrinfo hints. */
export interface LookupOptions {
  /** Only this family ("inet" or "inet6"); default both. */
  readonly family?: Family;
  /** Only this socket type; default all (which usually lists each address per type). */
  readonly type?: SocketType;
  /** Only this protocol. */
  readonly protocol?: Protocol;
  /** AI_PASSIVE: with host null, wildcard addresses for bind(). */
  readonly passive?: boolean;
  /** AI_CANONNAME. */
  readonly canonicalName?: boolean;
  /** AI_NUMERICHOST: never consult a resolver. */
  readonly numericHost?: boolean;
  /** AI_ADDRCONFIG: only families configured on this host. */
  readonly addressConfig?: boolean;
  /** Extra AI_* flags or-ed in. */
  readonly flags?: number;
}

function cstringArg(what: string, s: string | null): Uint8Array | null {
  if (s === null) return null;
  if (typeof s !== "string") throw new TypeError(`${what} must be a string or null`);
  if (s.includes("\0")) throw new TypeError(`${what} contains a NUL byte`);
  return encoder.encode(`${s}\0`);
}

/**
 * getaddrinfo(3): the addresses for `host` and `service` (a port number or a service name like
 * "http"). `host` null with `passive` gives wildcard addresses. Throws AddressInfoError (EAI_*),
 * or SocketError for EAI_SYSTEM.
 */
export function getaddrinfo(host: string | null, service: string | number | null, options: LookupOptions = {}): AddrInfo[] {
  if (host === null && service === null) throw new TypeError("getaddrinfo: host and service cannot both be null");
  if (typeof service === "number" && (!Number.isInteger(service) || service < 0 || service > 65535)) {
    throw new RangeError(`getaddrinfo: port must be an integer in [0, 65535], got ${service}`);
  }
  const node = cstringArg("host", host);
  const serv = cstringArg("service", service === null ? null : String(service));
  const hints = new Uint8Array(AI.size);
  const hv = new DataView(hints.buffer);
  let flags = options.flags ?? 0;
  if (options.passive) flags |= C.AI_PASSIVE;
  if (options.canonicalName) flags |= C.AI_CANONNAME;
  if (options.numericHost) flags |= C.AI_NUMERICHOST;
  if (options.addressConfig) flags |= C.AI_ADDRCONFIG;
  if (typeof service === "number") flags |= C.AI_NUMERICSERV;
  hv.setInt32(AI.fields.ai_flags.offset, flags, LE);
  hv.setInt32(AI.fields.ai_family.offset, options.family === undefined ? C.AF_UNSPEC : familyValue(options.family), LE);
  hv.setInt32(AI.fields.ai_socktype.offset, options.type === undefined ? 0 : typeValue(options.type), LE);
  hv.setInt32(AI.fields.ai_protocol.offset, options.protocol === undefined ? 0 : protocolValue(options.protocol), LE);
  const res = new BigUint64Array(1);
  const rc = libc.getaddrinfo(node, serv, hints, res);
  if (rc !== 0) {
    if (C.EAI_SYSTEM === rc) throw new SocketError("getaddrinfo", readErrno(), host === null ? {} : { address: host });
    throw new AddressInfoError("getaddrinfo", rc, host);
  }
  const head = Number(res[0]);
  const out: AddrInfo[] = [];
  try {
    // Walk the list libc owns; read only ai_addrlen bytes of each address, at most a sockaddr_storage.
    const scratch = new Uint8Array(SOCKADDR_MAX);
    for (let p = head, n = 0; p !== 0 && n < 10_000; n++) {
      const addrlen = read.u32(p as never, AI.fields.ai_addrlen.offset);
      const addrPtr = Number(read.u64(p as never, AI.fields.ai_addr.offset));
      const canonPtr = Number(read.u64(p as never, AI.fields.ai_canonname.offset));
      const type = read.i32(p as never, AI.fields.ai_socktype.offset);
      const protocol = read.i32(p as never, AI.fields.ai_protocol.offset);
      if (addrPtr !== 0 && addrlen > 0 && addrlen <= SOCKADDR_MAX) {
        for (let i = 0; i < addrlen; i++) scratch[i] = read.u8(addrPtr as never, i);
        const address = decodeAddress(scratch, addrlen);
        if (address.family === "inet" || address.family === "inet6") {
          const entry: AddrInfo = canonPtr
            ? { address, type: typeName(type), protocol, canonicalName: new CString(canonPtr as never).toString() }
            : { address, type: typeName(type), protocol };
          out.push(entry);
        }
      }
      p = Number(read.u64(p as never, AI.fields.ai_next.offset));
    }
  } finally {
    libc.freeaddrinfo(head as never);
  }
  return out;
}

/** getnameinfo flags. */
export interface NameInfoOptions {
  /** NI_NUMERICHOST: the address as text, no lookup. */
  readonly numericHost?: boolean;
  /** NI_NUMERICSERV: the port as text. */
  readonly numericService?: boolean;
  /** NI_NAMEREQD: fail when the address has no name. */
  readonly nameRequired?: boolean;
  /** NI_DGRAM: the service is a datagram one (for ports that differ, e.g. 512-514). */
  readonly datagram?: boolean;
}

/** getnameinfo(3): host name and service name of an IP address. Throws AddressInfoError. */
export function getnameinfo(address: InetAddress | Inet6Address, options: NameInfoOptions = {}): { host: string; service: string } {
  const sa = new Uint8Array(SOCKADDR_MAX);
  const len = encodeAddress(address, sa);
  const host = new Uint8Array(C.NI_MAXHOST);
  const serv = new Uint8Array(C.NI_MAXSERV);
  let flags = 0;
  if (options.numericHost) flags |= C.NI_NUMERICHOST;
  if (options.numericService) flags |= C.NI_NUMERICSERV;
  if (options.nameRequired) flags |= C.NI_NAMEREQD;
  if (options.datagram) flags |= C.NI_DGRAM;
  const rc = libc.getnameinfo(sa, len, host, host.length, serv, serv.length, flags);
  if (rc !== 0) {
    if (C.EAI_SYSTEM === rc) throw new SocketError("getnameinfo", readErrno());
    throw new AddressInfoError("getnameinfo", rc, address.host);
  }
  const text = (b: Uint8Array): string => new TextDecoder().decode(b.subarray(0, b.indexOf(0) < 0 ? b.length : b.indexOf(0)));
  return { host: text(host), service: text(serv) };
}

/** Options for createConnection. */
export interface CreateConnectionOptions {
  /** Per-attempt connect timeout in ms (kept as the socket's timeout). */
  readonly timeout?: number | null;
  /** Restrict to one family. */
  readonly family?: "inet" | "inet6";
  /** Bind here before connecting. */
  readonly localAddress?: Address;
  /** Protocol of each attempt's socket: `"mptcp"` for MPTCP (Linux). Default TCP. */
  readonly protocol?: "tcp" | "mptcp";
}

/**
 * Like Python's socket.create_connection: resolves `host` (name or numeric) and tries each
 * stream address in order until one connects; throws the last error if none does.
 */
export function createConnection(host: string, port: number, options: CreateConnectionOptions = {}): Socket {
  const infos = getaddrinfo(host, port, { type: "stream", ...(options.family ? { family: options.family } : {}) });
  let last: unknown = new AddressInfoError("getaddrinfo", C.EAI_NONAME, host);
  for (const info of infos) {
    try {
      return Socket.connect(info.address, {
        ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
        ...(options.protocol ? { protocol: options.protocol } : {}),
      });
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

/** The name of a network interface index ("lo" for 1 on Linux), or null if there is none. */
export function interfaceName(index: number): string | null {
  if (!Number.isInteger(index) || index < 0 || index > 0xffffffff) throw new RangeError(`interface index out of range: ${index}`);
  const buf = new Uint8Array(C.IF_NAMESIZE);
  if (!libc.if_indextoname(index, buf)) return null;
  return new TextDecoder().decode(buf.subarray(0, buf.indexOf(0) < 0 ? buf.length : buf.indexOf(0)));
}
