/**
 * rtnetlink (Linux AF_NETLINK, NETLINK_ROUTE): the kernel's interface and address tables as
 * `ip` reads them. The message stream is parsed here in TS, every read bounds-checked against
 * the bytes received: `parseMessages` walks struct nlmsghdr records (NLMSG_ALIGN), and
 * `parseAttributes` walks struct rtattr lists (RTA_ALIGN); malformed lengths end the walk,
 * never read outside the buffer. Layouts and numbers come from the generated tables.
 *
 * `Rtnetlink` is the high-level face, on AsyncSocket: `links()` (RTM_GETLINK dump),
 * `addresses()` (RTM_GETADDR dump), `routes()` (RTM_GETROUTE dump, decoded and formatted as
 * `ip route` prints them by src/linux/routes.ts), `defaultGateway()`, and `events()` for the
 * RTMGRP_* multicast groups (links, addresses, routes). One object serves concurrent callers:
 * requests take turns on a socket of their own (joined to no group, so announcements cannot
 * crowd out answers), and events() loops share one reader of the events socket.
 */
import { table } from "../../ffi/platform.ts";
import type { FieldLayout, StructLayout } from "../../ffi/table.ts";
import { AsyncSocket, type OperationOptions } from "../async/async.ts";
import { Guard, signalOf, sleep, timeoutOf } from "../async/cancel.ts";
import { Turn } from "../async/turn.ts";
import * as check from "../core/check.ts";
import { SocketError } from "../core/errors.ts";
import { formatIP } from "../core/sockaddr.ts";
import { present } from "../core/constants.ts";
import { readIntField, writeIntField } from "../core/structs.ts";
import { interfaceName } from "../socket/resolve.ts";
import { parseRoute, type Route } from "./routes.ts";
import { parseNeighbour, type Neighbour } from "./neighbours.ts";
import { ackOf, addressRequest, dumpEndOf, linkRequest, routeDumpRequest, routeRequest, routeTableId, type AddressOptions, type RouteSpec } from "./rtrequest.ts";

const C = table.constants;
const S = table.structs;
const E = table.errno;
const LE = table.expressions.LITTLE_ENDIAN === 1;

/** A netlink fact from the table (RangeError on platforms without netlink). */
const need = <T>(what: string, v: T | null | undefined): T => present("rtnetlink", what, v);

/** One netlink message: its header fields and payload (a view into the received bytes). */
export interface NetlinkMessage {
  /** nlmsg_type: RTM_NEWLINK, NLMSG_DONE, NLMSG_ERROR... */
  readonly type: number;
  /** nlmsg_flags (NLM_F_MULTI...). */
  readonly flags: number;
  /** nlmsg_seq: the request's sequence number (0 for multicast events). */
  readonly seq: number;
  /** nlmsg_pid: the sender's port id (0: the kernel). */
  readonly pid: number;
  /** The bytes after the header, up to nlmsg_len. */
  readonly payload: Uint8Array;
}

/** One attribute (struct rtattr): its type and data (a view). */
export interface Attribute {
  readonly type: number;
  readonly data: Uint8Array;
}

const align4 = (n: number, to: number): number => (n + to - 1) & ~(to - 1);
const viewOf = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
/** Field `f` of a struct that starts `base` bytes into a view. */
const at = (f: FieldLayout, base: number): FieldLayout => ({ offset: base + f.offset, size: f.size });
const field = (v: DataView, f: FieldLayout, base = 0): number => readIntField(v, at(f, base), false);

/**
 * The netlink messages in the first `len` bytes of `buf`. Stops at the first header that does
 * not fit (nlmsg_len shorter than the header or past `len`): a truncated or corrupt datagram
 * yields the messages before it. Never reads outside [0, len).
 */
export function parseMessages(buf: Uint8Array, len: number): NetlinkMessage[] {
  const H = need("struct nlmsghdr", S.nlmsghdr);
  const alignTo = need("NLMSG_ALIGNTO", C.NLMSG_ALIGNTO);
  const end = len > 0 ? Math.min(Math.floor(len), buf.byteLength) : 0;
  const v = viewOf(buf);
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off + H.size <= end) {
    const mlen = field(v, H.fields.nlmsg_len, off);
    if (mlen < H.size || off + mlen > end) break;
    out.push({
      type: field(v, H.fields.nlmsg_type, off),
      flags: field(v, H.fields.nlmsg_flags, off),
      seq: field(v, H.fields.nlmsg_seq, off),
      pid: field(v, H.fields.nlmsg_pid, off),
      payload: buf.subarray(off + align4(H.size, alignTo), off + mlen),
    });
    off += align4(mlen, alignTo);
  }
  return out;
}

/** The attributes (struct rtattr, RTA_ALIGN) in `bytes`; stops at the first that does not fit. */
export function parseAttributes(bytes: Uint8Array): Attribute[] {
  const R = need("struct rtattr", S.rtattr);
  const alignTo = need("RTA_ALIGNTO", C.RTA_ALIGNTO);
  const v = viewOf(bytes);
  const out: Attribute[] = [];
  let off = 0;
  while (off + R.size <= bytes.byteLength) {
    const alen = field(v, R.fields.rta_len, off);
    if (alen < R.size || off + alen > bytes.byteLength) break;
    out.push({ type: field(v, R.fields.rta_type, off), data: bytes.subarray(off + align4(R.size, alignTo), off + alen) });
    off += align4(alen, alignTo);
  }
  return out;
}

/** A network interface, from RTM_NEWLINK / RTM_DELLINK. */
export interface LinkInfo {
  /** ifi_index. */
  readonly index: number;
  /** IFLA_IFNAME. */
  readonly name: string;
  /** ifi_flags: IFF_UP, IFF_LOOPBACK, IFF_RUNNING... */
  readonly flags: number;
  /** ARPHRD_* hardware type (ifi_type). */
  readonly hwType: number;
  /** IFLA_OPERSTATE as its RFC 2863 name ("UP", "DOWN", "UNKNOWN"...), or the number where unnamed. */
  readonly operstate: string;
  /** IFLA_MTU. */
  readonly mtu?: number;
  /** IFLA_ADDRESS: the hardware address. */
  readonly address?: Uint8Array;
  /** IFLA_LINK: the index of the link this one is stacked on (veth peer, VLAN parent...). */
  readonly link?: number;
}

/** An interface address, from RTM_NEWADDR / RTM_DELADDR. */
export interface InterfaceAddress {
  /** ifa_index: the interface. */
  readonly index: number;
  /** "inet" / "inet6" (or the AF_* number). */
  readonly family: "inet" | "inet6" | number;
  /** ifa_prefixlen. */
  readonly prefixLength: number;
  /** The address as text: IFA_LOCAL where given (the local end of a point-to-point link), else IFA_ADDRESS. */
  readonly address: string;
  /** IFA_ADDRESS when it differs from IFA_LOCAL (the peer of a point-to-point link). */
  readonly peer?: string;
  /** IFA_LABEL (IPv4 labels like "eth0:1"). */
  readonly label?: string;
  /** ifa_scope (RT_SCOPE_*: 0 universe, 253 link, 254 host). */
  readonly scope: number;
  /** ifa_flags. */
  readonly flags: number;
}

const decoder = new TextDecoder();
const cString = (b: Uint8Array): string => decoder.decode(b.subarray(0, b.indexOf(0) < 0 ? b.length : b.indexOf(0)));

/** IF_OPER_* value → name, from the table (absent where the headers lack them). */
const operNames = new Map<number, string>(
  (["UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP"] as const)
    .map((n) => [C[`IF_OPER_${n}`], n] as const)
    .filter((e): e is readonly [number, typeof e[1]] => e[0] !== null),
);

function u32(data: Uint8Array): number | undefined {
  return data.byteLength >= 4 ? viewOf(data).getUint32(0, LE) : undefined;
}

/** Decodes an RTM_NEWLINK/RTM_DELLINK message, or null when it is not one or too short. */
export function parseLink(m: NetlinkMessage): LinkInfo | null {
  const I = need("struct ifinfomsg", S.ifinfomsg);
  if (m.type !== C.RTM_NEWLINK && m.type !== C.RTM_DELLINK) return null;
  if (m.payload.byteLength < I.size) return null;
  const v = viewOf(m.payload);
  const alignTo = need("NLMSG_ALIGNTO", C.NLMSG_ALIGNTO);
  let name = "";
  let operstate = "UNKNOWN";
  let mtu: number | undefined;
  let address: Uint8Array | undefined;
  let link: number | undefined;
  for (const a of parseAttributes(m.payload.subarray(align4(I.size, alignTo)))) {
    if (a.type === C.IFLA_IFNAME) name = cString(a.data);
    else if (a.type === C.IFLA_OPERSTATE && a.data.byteLength >= 1) operstate = operNames.get(a.data[0]!) ?? String(a.data[0]);
    else if (a.type === C.IFLA_MTU) mtu = u32(a.data);
    else if (a.type === C.IFLA_ADDRESS) address = a.data.slice();
    else if (a.type === C.IFLA_LINK) link = u32(a.data);
  }
  return {
    index: readIntField(v, I.fields.ifi_index, true),
    name,
    flags: field(v, I.fields.ifi_flags),
    hwType: field(v, I.fields.ifi_type),
    operstate,
    ...(mtu !== undefined ? { mtu } : {}),
    ...(address !== undefined ? { address } : {}),
    ...(link !== undefined ? { link } : {}),
  };
}

/** Decodes an RTM_NEWADDR/RTM_DELADDR message, or null when it is not one or has no address. */
export function parseAddress(m: NetlinkMessage): InterfaceAddress | null {
  const A = need("struct ifaddrmsg", S.ifaddrmsg);
  if (m.type !== C.RTM_NEWADDR && m.type !== C.RTM_DELADDR) return null;
  if (m.payload.byteLength < A.size) return null;
  const v = viewOf(m.payload);
  const fam = field(v, A.fields.ifa_family);
  const alen = fam === C.AF_INET ? 4 : fam === C.AF_INET6 ? 16 : 0;
  const alignTo = need("NLMSG_ALIGNTO", C.NLMSG_ALIGNTO);
  let local: string | undefined;
  let addr: string | undefined;
  let label: string | undefined;
  for (const a of parseAttributes(m.payload.subarray(align4(A.size, alignTo)))) {
    if ((a.type === C.IFA_LOCAL || a.type === C.IFA_ADDRESS) && alen && a.data.byteLength >= alen) {
      const text = formatIP(a.data.subarray(0, alen));
      if (a.type === C.IFA_LOCAL) local = text;
      else addr = text;
    } else if (a.type === C.IFA_LABEL) label = cString(a.data);
  }
  const address = local ?? addr;
  if (address === undefined) return null;
  return {
    index: field(v, A.fields.ifa_index),
    family: fam === C.AF_INET ? "inet" : fam === C.AF_INET6 ? "inet6" : fam,
    prefixLength: field(v, A.fields.ifa_prefixlen),
    address,
    ...(local !== undefined && addr !== undefined && addr !== local ? { peer: addr } : {}),
    ...(label !== undefined ? { label } : {}),
    scope: field(v, A.fields.ifa_scope),
    flags: field(v, A.fields.ifa_flags),
  };
}

/**
 * A dump request: nlmsghdr (NLM_F_REQUEST | NLM_F_DUMP) + the family header of `type`
 * (ifinfomsg for RTM_GETLINK, ifaddrmsg for RTM_GETADDR), zeroed but for the family.
 */
export function dumpRequest(type: number, seq: number, family = C.AF_UNSPEC): Uint8Array {
  const H = need("struct nlmsghdr", S.nlmsghdr);
  // Each dump's own header (its family field first): ifaddrmsg, rtmsg, ndmsg, else ifinfomsg.
  const [body, famField]: [StructLayout, FieldLayout] =
    type === C.RTM_GETADDR ? [need("struct ifaddrmsg", S.ifaddrmsg), S.ifaddrmsg!.fields.ifa_family]
    : type === C.RTM_GETROUTE ? [need("struct rtmsg", S.rtmsg), S.rtmsg!.fields.rtm_family]
    : type === C.RTM_GETNEIGH ? [need("struct ndmsg", S.ndmsg), S.ndmsg!.fields.ndm_family]
    : [need("struct ifinfomsg", S.ifinfomsg), S.ifinfomsg!.fields.ifi_family];
  const alignTo = need("NLMSG_ALIGNTO", C.NLMSG_ALIGNTO);
  const hdr = align4(H.size, alignTo);
  const len = hdr + body.size;
  const b = new Uint8Array(align4(len, alignTo));
  const v = viewOf(b);
  writeIntField(v, H.fields.nlmsg_len, len);
  writeIntField(v, H.fields.nlmsg_type, type);
  writeIntField(v, H.fields.nlmsg_flags, need("NLM_F_REQUEST", C.NLM_F_REQUEST) | need("NLM_F_DUMP", C.NLM_F_DUMP));
  writeIntField(v, H.fields.nlmsg_seq, seq >>> 0);
  writeIntField(v, H.fields.nlmsg_pid, 0);
  writeIntField(v, at(famField, hdr), family);
  return b;
}

/** What `Rtnetlink.routes()` dumps besides the family. */
export interface RoutesOptions {
  /** Only this table (RT_TABLE_MAIN 254, RT_TABLE_LOCAL 255, or 1–2³²−1), as `ip route show table T`. */
  readonly table?: number;
  /**
   * The cloned routes instead of the routes (RTM_F_CLONED in the dump request's rtm_flags): the
   * kernel's route exceptions (learned path MTUs, redirects), as `ip route show table cache`
   * (main's: `{ table: 254, cloned: true }`) or `ip route show table all cloned` (every
   * table's: no `table`) lists them. Only routes flagged RTM_F_CLONED are returned, of `table`
   * when given; for main (254), IPv6 RTN_LOCAL ones are left out, as ip's filter does. Default
   * false: the routes, as the kernel dumps them without the flag.
   */
  readonly cloned?: boolean;
}

/** A change the kernel announced to a group member (Rtnetlink.events()). */
export type RtEvent =
  | { readonly kind: "link"; readonly action: "new" | "del"; readonly link: LinkInfo }
  | { readonly kind: "address"; readonly action: "new" | "del"; readonly address: InterfaceAddress }
  /** With RTMGRP_IPV4_ROUTE / RTMGRP_IPV6_ROUTE joined. */
  | { readonly kind: "route"; readonly action: "new" | "del"; readonly route: Route }
  /** With RTMGRP_NEIGH joined. */
  | { readonly kind: "neighbour"; readonly action: "new" | "del"; readonly neighbour: Neighbour };

/** Options for Rtnetlink.open(). */
export interface RtnetlinkOptions {
  /** RTMGRP_* multicast groups to join (bitmask) for events(); default none. */
  readonly groups?: number;
}

/** The kernel's netlink address (port id 0). */
const KERNEL = { family: "netlink", pid: 0 } as const;
/** Dumps taken in all when the table keeps changing under them (NLM_F_DUMP_INTR). */
const DUMP_ATTEMPTS = 8;
/** What is left of `op` (validated by its first use) before `deadline` (performance.now() time; Infinity: none). */
function rest(op: OperationOptions | undefined, deadline: number): OperationOptions | undefined {
  if (op === undefined) return undefined;
  const timeout = deadline === Infinity ? op.timeout : Math.max(0, deadline - performance.now());
  return { ...(op.signal !== undefined ? { signal: op.signal } : {}), ...(timeout !== undefined ? { timeout } : {}) };
}
/**
 * `items` without repeats of a key, first kept. A dump the table changed under can list an
 * entry twice, and the kernel does not always flag it (NLM_F_DUMP_INTR): seen on Linux 6.18
 * for IPv6 addresses. An interface has one index, and an address once per interface.
 */
function once<T>(items: T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((x) => {
    const k = key(x);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
/** How long an answer is still read after its caller gave up, before the next request goes anyway. */
const ABANDONED_ANSWER_MS = 5000;
/** Multicast messages one events() loop holds, read but not yet taken, before changes count as lost. */
const EVENT_BACKLOG = 4096;

/** A request in flight (see Rtnetlink.#exchange). */
interface Request {
  readonly seq: number;
  /** Settles when the answer ended, or failed. */
  readonly answered: Promise<void>;
  /** One message of the answer. */
  take(m: NetlinkMessage): void;
  /** The reader failed (the socket closed, say). */
  fail(e: unknown): void;
  /** The caller gave up: read the rest, within ABANDONED_ANSWER_MS. */
  abandon(): void;
  /** Drops the abandon timer. */
  end(): void;
}

/**
 * A read loop on `socket` that runs while `needed()` holds: `update()` starts it (one at a
 * time) or stops it (aborting its pending read), and it checks again itself when `body` ends.
 */
class ReadLoop {
  #stop: AbortController | null = null;

  constructor(readonly socket: AsyncSocket, readonly needed: () => boolean, readonly body: (stop: AbortSignal) => Promise<void>) {}

  update(): void {
    if (!this.needed()) {
      this.#stop?.abort();
      this.#stop = null;
      return;
    }
    if (this.#stop !== null || this.socket.closed) return;
    const stop = (this.#stop = new AbortController());
    void this.body(stop.signal).finally(() => {
      if (this.#stop === stop) this.#stop = null;
      this.update();
    });
  }
}

/** One events() loop's messages, in order, and how it ends. */
class Listener {
  #queue: NetlinkMessage[];
  #head = 0;
  #lost: SocketError | null;
  #wake: (() => void) | null = null;
  #reported = false;
  /** Why the loop ends once its messages are taken (a reader error). */
  error: unknown = null;

  /** `backlog` and `lost`: what a loop that ended early left (its messages, a loss it had not reported). */
  constructor(backlog: NetlinkMessage[], lost: SocketError | null) {
    this.#queue = backlog;
    this.#lost = lost;
  }

  /** Whether changes were lost for this loop (it throws ENOBUFS once its messages are taken). */
  get lost(): boolean {
    return this.#lost !== null;
  }

  /** The loss this loop was to report and has not (it ended first), or null. */
  unreported(): SocketError | null {
    return this.#reported ? null : this.#lost;
  }

  /** The messages read for this loop and not taken (for the next loop, when this one ends early). */
  rest(): NetlinkMessage[] {
    const r = this.#queue.slice(this.#head);
    this.#queue = [];
    this.#head = 0;
    return r;
  }

  push(m: NetlinkMessage): void {
    if (this.#lost !== null) return; // it will throw ENOBUFS at that point anyway
    if (this.#queue.length - this.#head >= EVENT_BACKLOG) {
      this.#lost = new SocketError("recvfrom", E.ENOBUFS, { note: `events: more than ${EVENT_BACKLOG} changes waited for this loop; some were dropped` });
    } else this.#queue.push(m);
    this.wake();
  }

  lose(e: SocketError): void {
    this.#lost ??= e;
    this.wake();
  }

  fail(e: unknown): void {
    this.error ??= e;
    this.wake();
  }

  /** The next message, or undefined when none waits (after a loss: its error is thrown). */
  next(): NetlinkMessage | undefined {
    if (this.#head < this.#queue.length) {
      const m = this.#queue[this.#head++]!;
      if (this.#head === this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
      }
      return m;
    }
    if (this.#lost !== null) {
      this.#reported = true;
      throw this.#lost;
    }
    return undefined;
  }

  wait(): Promise<void> {
    return new Promise<void>((resolve) => (this.#wake = resolve));
  }

  wake(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }
}

/** The event a multicast message announces, or null for one of no kind known here. */
function eventOf(m: NetlinkMessage): RtEvent | null {
  const action = m.type === C.RTM_DELLINK || m.type === C.RTM_DELADDR ? "del" : "new";
  const link = parseLink(m);
  if (link) return { kind: "link", action, link };
  const address = parseAddress(m);
  if (address) return { kind: "address", action, address };
  const route = parseRoute(m);
  if (route) return { kind: "route", action: m.type === C.RTM_DELROUTE ? "del" : "new", route };
  const neighbour = parseNeighbour(m);
  if (neighbour) return { kind: "neighbour", action: m.type === C.RTM_DELNEIGH ? "del" : "new", neighbour };
  return null;
}

/**
 * An rtnetlink socket on the async API: dumps of the interface and address tables, and the
 * kernel's change notifications. `using` / close() release it.
 *
 * ```ts
 * using rt = Rtnetlink.open();
 * for (const l of await rt.links()) console.log(l.index, l.name, l.operstate);
 * ```
 */
export class Rtnetlink implements Disposable {
  /**
   * The events socket (AF_NETLINK, SOCK_RAW, NETLINK_ROUTE), bound with the groups asked for:
   * events() reads it. Requests and their answers go on a second socket of their own, joined
   * to no group, so that a flood of announcements can never crowd out an answer.
   */
  readonly socket: AsyncSocket;
  /** The requests' socket (no groups; extended acks and strict checking on). */
  readonly #requests: AsyncSocket;
  readonly #buf = new Uint8Array(1 << 16);
  readonly #eventBuf = new Uint8Array(1 << 16);
  #seq = Math.floor(Math.random() * 0x7fffffff);
  /** Requests take turns, in call order (the kernel runs one dump per socket at a time). */
  readonly #turn = new Turn();
  /** The request whose answer is being read (it may hold the turn after its caller gave up). */
  #current: Request | null = null;
  /**
   * The requests' reader, while a request waits for its answer: it hands each message with the
   * request's sequence number to it, and drops the rest (what is left of an answer whose caller
   * gave up).
   */
  readonly #reader: ReadLoop;
  /**
   * The events' reader, while a loop takes messages: each message read goes to every running
   * loop. None reads while no loop runs: the announcements then wait in the kernel's receive
   * queue of `socket` (as large as its receiveBufferSize allows).
   */
  readonly #eventReader: ReadLoop;
  /** The running events() loops. */
  readonly #listeners = new Set<Listener>();
  /** Messages a loop that ended early had read and not taken: the next loop's first. */
  #backlog: NetlinkMessage[] = [];
  /** A loss such a loop had not reported yet: the next loop reports it, after the backlog. */
  #backlogLost: SocketError | null = null;
  /** Whether NETLINK_GET_STRICT_CHK is on: the kernel then filters dumps by what they ask. */
  readonly #strict: boolean;

  private constructor(socket: AsyncSocket, requests: AsyncSocket, strict: boolean) {
    this.socket = socket;
    this.#requests = requests;
    this.#strict = strict;
    this.#reader = new ReadLoop(requests, () => this.#current !== null, (stop) => this.#read(stop));
    this.#eventReader = new ReadLoop(socket, () => this.#listening(), (stop) => this.#readEvents(stop));
  }

  /** Opens a NETLINK_ROUTE socket, joined to `groups` (RTMGRP_LINK | RTMGRP_IPV4_IFADDR...). */
  static open(options: RtnetlinkOptions = {}): Rtnetlink {
    if (options === null || typeof options !== "object") throw new TypeError("Rtnetlink.open: options must be an object { groups? }");
    const events = new AsyncSocket(need("AF_NETLINK", C.AF_NETLINK), C.SOCK_RAW, need("NETLINK_ROUTE", C.NETLINK_ROUTE));
    let sock: AsyncSocket | null = null;
    try {
      events.bind({ family: "netlink", pid: 0, groups: options.groups ?? 0 });
      sock = new AsyncSocket(need("AF_NETLINK", C.AF_NETLINK), C.SOCK_RAW, need("NETLINK_ROUTE", C.NETLINK_ROUTE));
      sock.bind({ family: "netlink", pid: 0, groups: 0 });
      // Extended acks: a refused change comes with the kernel's own explanation.
      if (C.SOL_NETLINK !== null && C.NETLINK_EXT_ACK !== null) {
        try { sock.setRawOption(C.SOL_NETLINK, C.NETLINK_EXT_ACK, 1); } catch { /* older kernels: errno only */ }
      }
      // Strict dump checking (Linux 4.20+): a dump filtered by table is filtered in the kernel,
      // which says when the table does not exist. Older kernels: filtered here instead.
      let strict = false;
      if (C.SOL_NETLINK !== null && C.NETLINK_GET_STRICT_CHK !== null) {
        try {
          sock.setRawOption(C.SOL_NETLINK, C.NETLINK_GET_STRICT_CHK, 1);
          strict = true;
        } catch { /* ENOPROTOOPT before 4.20 */ }
      }
      return new Rtnetlink(events, sock, strict);
    } catch (e) {
      sock?.close();
      events.close();
      throw e;
    }
  }

  /**
   * Sends a dump request and collects every message of the answer, up to NLMSG_DONE. A dump the
   * kernel fails (at once, or part way with an errno in NLMSG_DONE) rejects with
   * SocketError("netlink", errno) whose note is the kernel's extended-ack text when it gave one
   * (ENOENT "ipv4: FIB table does not exist", say).
   */
  async dump(type: number, family = C.AF_UNSPEC, op?: OperationOptions): Promise<NetlinkMessage[]> {
    // Checked before anything is sent: a type the kernel never answers would wait forever, and
    // a value wider than its field would be wrapped into another request.
    check.inRange("dump", "type", type, need("NLMSG_MIN_TYPE", C.NLMSG_MIN_TYPE), 0xffff);
    // rtnetlink dumps only a GET (type % 4 == 2: RTM_GETLINK, RTM_GETADDR...); any other type
    // is carried out as a change (RTM_NEWRULE would add a rule), and unacknowledged at that.
    if ((type & 3) !== 2) throw new RangeError(`dump: type must be an RTM_GET* request (type % 4 == 2), got ${type}: the kernel would carry out any other as a change`);
    check.inRange("dump", "family", family, 0, 255);
    return this.#dump("dump", (seq) => dumpRequest(type, seq, family), op);
  }

  /**
   * One dump, whole. A dump the table changed under carries NLM_F_DUMP_INTR (it may have missed
   * or repeated entries): it is taken again after a pause (1, 2, 4 ... 64 ms), up to
   * DUMP_ATTEMPTS times in all within the same timeout, and the last answer is kept even if
   * interrupted (a table changing without pause has no consistent view to give).
   */
  async #dump(fn: string, build: (seq: number) => Uint8Array, op?: OperationOptions): Promise<NetlinkMessage[]> {
    // One deadline for every attempt (op.timeout is checked by the first one).
    const deadline = typeof op?.timeout === "number" ? performance.now() + op.timeout : Infinity;
    for (let attempt = 1; ; attempt++) {
      const out: NetlinkMessage[] = [];
      let interrupted = false;
      await this.#exchange(fn, build, (m, seq) => {
        if (C.NLM_F_DUMP_INTR !== null && m.flags & C.NLM_F_DUMP_INTR) interrupted = true;
        const end = dumpEndOf(m, seq);
        if (end === undefined) {
          out.push(m);
          return false;
        }
        if (end.errno !== 0) throw new SocketError("netlink", end.errno, end.message !== undefined ? { note: end.message } : {});
        return true;
      }, attempt === 1 ? op : rest(op, deadline));
      if (!interrupted || attempt >= DUMP_ATTEMPTS) return out;
      // Changes come in bursts: a retry at once would meet the same one. 1, 2, 4 ... 64 ms.
      const pause = Math.min(2 ** (attempt - 1), 64);
      if (deadline - performance.now() <= pause) return out;
      await sleep(pause, op?.signal ?? null);
    }
  }

  /**
   * Sends one change request and waits for the kernel's ack: resolves when it is done, rejects
   * with SocketError("netlink", errno) — EEXIST, ESRCH, ENODEV, EPERM without CAP_NET_ADMIN —
   * whose message carries the kernel's extended-ack text when it gave one.
   */
  #change(what: string, build: (seq: number) => Uint8Array, op?: OperationOptions): Promise<void> {
    return this.#exchange(what, build, (m, seq) => {
      const ack = ackOf(m, seq);
      if (ack === undefined) return false;
      if (ack.errno !== 0) throw new SocketError("netlink", ack.errno, { note: ack.message ? `${what}: ${ack.message}` : what });
      return true;
    }, op);
  }

  /**
   * One request and its answer. Requests take turns (the kernel runs one dump per socket at a
   * time and answers EBUSY to a second); `op`'s timeout and signal cover the wait for the turn
   * too, and a request cancelled before its turn is never sent. `take` gets each message of the
   * answer (a copy) and says when it is the last; what it throws is the request's error.
   */
  async #exchange(fn: string, build: (seq: number) => Uint8Array, take: (m: NetlinkMessage, seq: number) => boolean, op?: OperationOptions): Promise<void> {
    if (op !== undefined && (op === null || typeof op !== "object")) throw new TypeError(`${fn}: options must be an object { signal?, timeout? }`);
    const timeout = op?.timeout === undefined ? null : timeoutOf(fn, op.timeout);
    const signal = signalOf(fn, op?.signal);
    const deadline = timeout === null ? Infinity : performance.now() + timeout;
    // In line first, with the request's own limits (cancelled there: never sent).
    const queued = this.#turn.acquire(fn, signal, deadline, timeout ?? 0);
    if (queued) await queued;
    // Then the send and the answer, under the same limits.
    const stop = new AbortController();
    let cancel!: (reason: unknown) => void;
    const cancelled = new Promise<never>((_, reject) => (cancel = reject));
    cancelled.catch(() => {});
    const guard = new Guard(fn, signal, deadline, timeout ?? 0);
    guard.arm((reason) => {
      stop.abort(reason);
      cancel(reason);
    });
    try {
      let request: Request;
      let msg: Uint8Array;
      try {
        if (stop.signal.aborted) throw stop.signal.reason;
        const seq = (this.#seq = (this.#seq + 1) >>> 0);
        msg = build(seq);
        request = this.#expect(seq, take);
        this.#reader.update();
      } catch (e) {
        this.#release();
        throw e;
      }
      try {
        await this.#requests.sendTo(msg, KERNEL, { signal: stop.signal });
      } catch (e) {
        this.#finish(request); // not sent: no answer will come
        throw e;
      }
      try {
        await Promise.race([request.answered, cancelled]);
      } catch (e) {
        // Cancelled while the kernel answers: the answer is read to its end before the next
        // request goes (a dump left half read would make the next one EBUSY), within a bound.
        if (this.#current === request) request.abandon();
        throw e;
      }
    } finally {
      guard.disarm();
    }
  }

  /** Hands the turn to the next request in line (or frees it), and stops the reader if idle. */
  #release(): void {
    this.#turn.release();
    this.#reader.update();
  }

  /** Makes `seq`'s request the one whose answer the reader collects. */
  #expect(seq: number, take: (m: NetlinkMessage, seq: number) => boolean): Request {
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const answered = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    answered.catch(() => {});
    let drain: ReturnType<typeof setTimeout> | null = null;
    const request: Request = {
      seq,
      answered,
      take: (m) => {
        let last: boolean;
        try {
          last = take(m, seq);
        } catch (e) {
          this.#finish(request);
          reject(e);
          return;
        }
        if (last) {
          this.#finish(request);
          resolve();
        }
      },
      fail: (e) => {
        this.#finish(request);
        reject(e);
      },
      abandon: () => {
        drain ??= setTimeout(() => this.#finish(request), ABANDONED_ANSWER_MS);
      },
      end: () => {
        if (drain !== null) clearTimeout(drain);
        drain = null;
      },
    };
    this.#current = request;
    return request;
  }

  /** Ends `request` (answered, failed, or given up) and passes the turn on. Idempotent. */
  #finish(request: Request): void {
    if (this.#current !== request) return;
    request.end();
    this.#current = null;
    this.#release();
  }

  async #read(stop: AbortSignal): Promise<void> {
    while (!stop.aborted && this.#current !== null) {
      let n: number;
      try {
        [n] = await this.#requests.recvFromInto(this.#buf, { signal: stop });
      } catch (e) {
        if (stop.aborted) return;
        this.#current?.fail(e);
        return;
      }
      for (const m of parseMessages(this.#buf, n)) {
        // Copy: the receive buffer is reused by the next recv.
        if (this.#current !== null && m.seq === this.#current.seq) this.#current.take({ ...m, payload: m.payload.slice() });
      }
    }
  }

  /**
   * Whether some events() loop still takes messages: one that lost changes only drains what it
   * has, and one whose reader failed only ends (reading on would fail again, at once).
   */
  #listening(): boolean {
    for (const l of this.#listeners) if (!l.lost && l.error === null) return true;
    return false;
  }

  async #readEvents(stop: AbortSignal): Promise<void> {
    while (!stop.aborted && this.#listening()) {
      let n: number;
      try {
        [n] = await this.socket.recvFromInto(this.#eventBuf, { signal: stop });
      } catch (e) {
        if (stop.aborted) return;
        if (e instanceof SocketError && e.errno === E.ENOBUFS) {
          // The kernel dropped announcements (the receive buffer was full). It says so before
          // the messages still queued, which came before the loss: those first, then the error.
          this.#readQueuedEvents();
          const lost = new SocketError("recvfrom", e.errno, { note: "events: the kernel dropped changes (the events socket's receive buffer was full; a larger receiveBufferSize helps): dump again" });
          for (const l of this.#listeners) l.lose(lost);
          continue;
        }
        for (const l of this.#listeners) l.fail(e);
        return;
      }
      this.#deliver(n);
    }
  }

  /** The messages in the first `n` bytes of the events buffer: to every loop, or (none left) to the next one. */
  #deliver(n: number): void {
    for (const m of parseMessages(this.#eventBuf, n)) {
      const own: NetlinkMessage = { ...m, payload: m.payload.slice() };
      // The loop that wanted this read may have ended while it completed: keep it for the next.
      if (this.#listeners.size === 0) {
        if (this.#backlog.length < EVENT_BACKLOG) this.#backlog.push(own);
      } else for (const l of this.#listeners) l.push(own);
    }
  }

  /** Reads, without waiting, what the events socket holds now (bounded). */
  #readQueuedEvents(): void {
    for (let i = 0; i < EVENT_BACKLOG; i++) {
      let n: number;
      try {
        n = this.socket.socket.recvInto(this.#eventBuf);
      } catch {
        return; // EAGAIN: nothing more queued (or closed: the loops hear it from the next read)
      }
      this.#deliver(n);
    }
  }

  /** Adds `address` ("198.51.100.1/24", "2001:db8::1/64") to interface `interfaceIndex` (ip addr add). */
  async addAddress(interfaceIndex: number, address: string, options: AddressOptions & OperationOptions = {}): Promise<void> {
    return this.#change(`add address ${address}`, (seq) => addressRequest("addAddress", true, interfaceIndex, address, seq, options), options);
  }

  /** Removes `address` ("A/N") from interface `interfaceIndex` (ip addr del). */
  async removeAddress(interfaceIndex: number, address: string, op?: OperationOptions): Promise<void> {
    return this.#change(`remove address ${address}`, (seq) => addressRequest("removeAddress", false, interfaceIndex, address, seq), op);
  }

  /** Sets interface `interfaceIndex` up (or down with `up` false), as `ip link set NAME up`. */
  async setLinkUp(interfaceIndex: number, up = true, op?: OperationOptions): Promise<void> {
    return this.#change(`set link ${interfaceIndex} ${up ? "up" : "down"}`, (seq) => linkRequest("setLinkUp", interfaceIndex, up, seq), op);
  }

  /** Adds a route (ip route add); EEXIST when one with the same key exists. */
  async addRoute(route: RouteSpec, op?: OperationOptions): Promise<void> {
    return this.#change(`add route ${route?.destination}`, (seq) => routeRequest("addRoute", true, route, seq), op);
  }

  /** Removes a route (ip route del); ESRCH when there is none. */
  async removeRoute(route: RouteSpec, op?: OperationOptions): Promise<void> {
    return this.#change(`remove route ${route?.destination}`, (seq) => routeRequest("removeRoute", false, route, seq), op);
  }

  /** Every interface (RTM_GETLINK dump), in the kernel's order (by index). */
  async links(op?: OperationOptions): Promise<LinkInfo[]> {
    const msgs = await this.dump(need("RTM_GETLINK", C.RTM_GETLINK), C.AF_UNSPEC, op);
    return once(msgs.map(parseLink).filter((l): l is LinkInfo => l !== null), (l) => String(l.index));
  }

  /** Every interface address (RTM_GETADDR dump): IPv4 first, then IPv6, as the kernel lists them. */
  async addresses(op?: OperationOptions): Promise<InterfaceAddress[]> {
    const msgs = await this.dump(need("RTM_GETADDR", C.RTM_GETADDR), C.AF_UNSPEC, op);
    return once(msgs.map(parseAddress).filter((a): a is InterfaceAddress => a !== null), (a) => `${a.index} ${a.family} ${a.address}/${a.prefixLength}`);
  }

  /**
   * Every route of `family` ("inet", "inet6", or both by default), of every table or of
   * `options.table` only (RTM_GETROUTE dump): filter with `listedByIp` for what `ip route`
   * shows, format with `formatRoute`. With `table`, the kernel filters (Linux 4.20+, strict
   * dump checking) and rejects a table that does not exist, for one family, as `ip route show
   * table T` reports it: SocketError ENOENT, note "ipv4: FIB table does not exist" (both
   * families: that family's routes are simply absent). On older kernels the filter runs here.
   * With `cloned: true`, the cloned routes instead (see RoutesOptions.cloned), of `table` or of
   * every table, with the same errors.
   */
  async routes(family?: "inet" | "inet6", options?: RoutesOptions & OperationOptions): Promise<Route[]> {
    if (family !== undefined && family !== "inet" && family !== "inet6") throw new TypeError(`routes: family must be "inet", "inet6" or undefined, got ${JSON.stringify(family)}`);
    const af = family === "inet" ? C.AF_INET : family === "inet6" ? C.AF_INET6 : C.AF_UNSPEC;
    if (options !== undefined && (options === null || typeof options !== "object")) throw new TypeError("routes: options must be an object { table?, cloned?, signal?, timeout? }");
    const tableId = options?.table;
    const cloned = options?.cloned;
    if (cloned !== undefined && typeof cloned !== "boolean") throw new TypeError(`routes: cloned must be a boolean or undefined, got ${cloned === null ? "null" : typeof cloned}`);
    if (cloned) {
      // As `ip route show table T cloned` (filter_nlmsg): the request asks for them; the kernel
      // filters by table only with strict checking, so the table and the flag are checked here too.
      const tid = tableId === undefined ? 0 : routeTableId("routes", tableId);
      const CLONED = need("RTM_F_CLONED", C.RTM_F_CLONED);
      const msgs = await this.#dump("routes", (seq) => routeDumpRequest(af, tid, seq, CLONED), options);
      return msgs.map(parseRoute).filter((r): r is Route => r !== null && (r.flags & CLONED) !== 0 && (tid === 0 || r.table === tid)
        && !(r.family === "inet6" && tid === C.RT_TABLE_MAIN && r.type === C.RTN_LOCAL));
    }
    if (tableId === undefined) {
      const msgs = await this.dump(need("RTM_GETROUTE", C.RTM_GETROUTE), af, options);
      return msgs.map(parseRoute).filter((r): r is Route => r !== null);
    }
    const tid = routeTableId("routes", tableId);
    const msgs = this.#strict
      ? await this.#dump("routes", (seq) => routeDumpRequest(af, tid, seq), options)
      : await this.dump(need("RTM_GETROUTE", C.RTM_GETROUTE), af, options);
    return msgs.map(parseRoute).filter((r): r is Route => r !== null && r.table === tid);
  }

  /**
   * The neighbour (ARP / NDP) table of `family` (both by default): an RTM_GETNEIGH dump. Filter
   * with `listedByIpNeigh` for what `ip neigh` shows, format with `formatNeighbour`.
   */
  async neighbours(family?: "inet" | "inet6", op?: OperationOptions): Promise<Neighbour[]> {
    if (family !== undefined && family !== "inet" && family !== "inet6") throw new TypeError(`neighbours: family must be "inet", "inet6" or undefined, got ${typeof family === "string" ? JSON.stringify(family) : typeof family}`);
    const af = family === "inet" ? C.AF_INET : family === "inet6" ? C.AF_INET6 : C.AF_UNSPEC;
    const msgs = await this.dump(need("RTM_GETNEIGH", C.RTM_GETNEIGH), af, op);
    return msgs.map(parseNeighbour).filter((n): n is Neighbour => n !== null);
  }

  /**
   * The default gateway of `family` (IPv4 by default), as the kernel would use it: the main
   * table's unicast default route with the lowest metric, its gateway and interface (the first
   * next hop of a multipath one); null when there is none (or it has no gateway).
   */
  async defaultGateway(family: "inet" | "inet6" = "inet", op?: OperationOptions): Promise<{ gateway: string; interfaceIndex: number; interfaceName: string | null } | null> {
    const routes = (await this.routes(family, op)).filter((r) => r.destination === null && r.prefixLength === 0 && r.table === C.RT_TABLE_MAIN && r.type === C.RTN_UNICAST);
    routes.sort((a, b) => (a.priority ?? 0) - (b.priority ?? 0));
    for (const r of routes) {
      const hop = r.gateway !== undefined ? { gateway: r.gateway, interfaceIndex: r.interfaceIndex ?? 0 } : r.nextHops.find((h) => h.gateway !== undefined);
      if (hop?.gateway !== undefined) return { gateway: hop.gateway, interfaceIndex: hop.interfaceIndex, interfaceName: interfaceName(hop.interfaceIndex) };
    }
    return null;
  }

  /**
   * The changes announced to the groups `socket` joined, as they happen (until the signal
   * aborts or the socket closes). Announcements made while no loop runs wait in the kernel's
   * receive queue of `socket` (raise its receiveBufferSize for bursts), so `open({ groups })`,
   * a dump, then `events()` misses nothing in between; a loop that ends early (break, abort)
   * leaves what it had read for the next loop. Requests may run while a loop does (they use a
   * socket of their own). When changes were lost (the kernel's receive buffer overflowed) the
   * loop throws SocketError ENOBUFS after the messages it had already read: dump again to
   * resynchronise; a new loop then reads what the kernel still holds.
   */
  async *events(op: { readonly signal?: AbortSignal } = {}): AsyncGenerator<RtEvent, void, undefined> {
    if (op === null || typeof op !== "object") throw new TypeError("events: options must be an object { signal? }");
    const signal = signalOf("events", op.signal);
    const l = new Listener(this.#backlog, this.#backlogLost);
    this.#backlog = [];
    this.#backlogLost = null;
    const wake = (): void => l.wake();
    signal?.addEventListener("abort", wake);
    this.#listeners.add(l);
    try {
      this.#eventReader.update();
      for (;;) {
        if (signal?.aborted || this.socket.closed) return;
        const m = l.next();
        if (m !== undefined) {
          const event = eventOf(m);
          if (event !== null) yield event;
          continue;
        }
        if (l.error !== null) throw l.error;
        await l.wait();
      }
    } finally {
      signal?.removeEventListener("abort", wake);
      this.#listeners.delete(l);
      // Read but not taken: the next loop's first (the other loops have their own copies).
      // A loss it had not reported yet goes with them: the next loop must say to dump again.
      const rest = l.rest();
      if (this.#listeners.size === 0 && !this.socket.closed) {
        if (rest.length > 0) this.#backlog = rest;
        this.#backlogLost ??= l.unreported();
      }
      this.#eventReader.update();
    }
  }

  /** Closes both sockets: pending requests reject EBADF, events() loops end. Idempotent. */
  close(): void {
    this.#requests.close();
    this.socket.close();
    this.#backlog = [];
    this.#backlogLost = null;
    for (const l of this.#listeners) l.wake();
  }

  /** `using rt = Rtnetlink.open()` closes it. */
  [Symbol.dispose](): void {
    this.close();
  }
}
