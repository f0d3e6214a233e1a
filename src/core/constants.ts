/**
 * Families, socket types and protocols as readable names ("inet", "stream", "tcp") that still
 * accept the raw numbers of the platform, and print back by their C names (AF_INET...).
 */
import { table } from "../../ffi/platform.ts";

const C = table.constants;

/** An address family: a name or the platform's AF_* number. */
export type Family = "inet" | "inet6" | "unix" | "netlink" | "packet" | number;
/** A socket type: a name or the platform's SOCK_* number. */
export type SocketType = "stream" | "dgram" | "seqpacket" | "raw" | "rdm" | number;
/** A protocol: a name, or the platform's IPPROTO_* number (0 = the type's default). */
export type Protocol = "tcp" | "udp" | "icmp" | "icmpv6" | "raw" | "sctp" | "udplite" | "mptcp" | number;
/** How to shut a connection down: stop reading, writing, or both (or SHUT_* numbers). */
export type ShutdownHow = "read" | "write" | "both" | number;

const families = { inet: C.AF_INET, inet6: C.AF_INET6, unix: C.AF_UNIX, netlink: C.AF_NETLINK, packet: C.AF_PACKET } as const;
const types = { stream: C.SOCK_STREAM, dgram: C.SOCK_DGRAM, seqpacket: C.SOCK_SEQPACKET, raw: C.SOCK_RAW, rdm: C.SOCK_RDM } as const;
const protocols: Record<string, number | null> = {
  tcp: C.IPPROTO_TCP, udp: C.IPPROTO_UDP, icmp: C.IPPROTO_ICMP, icmpv6: C.IPPROTO_ICMPV6,
  raw: C.IPPROTO_RAW, sctp: C.IPPROTO_SCTP, udplite: C.IPPROTO_UDPLITE, mptcp: C.IPPROTO_MPTCP,
};
const shutdowns = { read: C.SHUT_RD, write: C.SHUT_WR, both: C.SHUT_RDWR } as const;

function lookup(kind: string, names: Record<string, number | null>, v: string | number): number {
  if (typeof v === "number") {
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new RangeError(`${kind} must be a 32-bit integer, got ${v}`);
    return v;
  }
  const n = Object.hasOwn(names, v) ? names[v] : undefined;
  if (n === undefined) throw new TypeError(`unknown ${kind} ${JSON.stringify(v)} (expected one of ${Object.keys(names).join(", ")} or a number)`);
  if (n === null) throw new RangeError(`${kind} ${v} does not exist on ${table.platform}`);
  return n;
}

/**
 * A platform fact a feature needs (a constant, a struct layout), or a RangeError naming the
 * feature and the platform when the table has none (netlink and AF_PACKET on macOS...).
 */
export function present<T>(feature: string, what: string, v: T | null | undefined): T {
  if (v === null || v === undefined) throw new RangeError(`${feature}: ${what} does not exist on ${table.platform}`);
  return v;
}

/** AF_* number of a family. */
export const familyValue = (f: Family): number => lookup("family", families, f);
/** SOCK_* number of a socket type. */
export const typeValue = (t: SocketType): number => lookup("socket type", types, t);
/** IPPROTO_* number of a protocol. */
export const protocolValue = (p: Protocol): number => lookup("protocol", protocols, p);
/** SHUT_* number. */
export const shutdownValue = (h: ShutdownHow): number => lookup("shutdown mode", shutdowns, h);

function nameOf<T extends string>(names: Record<T, number | null>, n: number): T | number {
  for (const [k, v] of Object.entries(names) as [T, number | null][]) if (v === n) return k;
  return n;
}
/** The name of a family number ("inet"), or the number itself if it has none here. */
export const familyName = (n: number): Family => nameOf(families, n);
/** The name of a socket type number ("stream"), or the number. */
export const typeName = (n: number): SocketType => nameOf(types, n);

function cName(prefix: string, n: number): string {
  for (const [k, v] of Object.entries(C)) if (v === n && k.startsWith(prefix)) return k;
  return String(n);
}
/** C name of a family number: "AF_INET" (or the number as text). */
export const familyLabel = (n: number): string => (n === C.AF_UNIX ? "AF_UNIX" : cName("AF_", n));
/** C name of a socket type number: "SOCK_STREAM". */
export const typeLabel = (n: number): string => cName("SOCK_", n);
