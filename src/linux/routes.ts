/**
 * Routes (rtnetlink RTM_GETROUTE, Linux): struct rtmsg and its attributes decoded into a
 * `Route`, and `formatRoute`, which writes a route the way iproute2's `ip route` prints it
 * (names of protocols, scopes and tables from the same /etc/iproute2 files `ip` reads, with
 * iproute2's built-in names where they are missing). Every read is bounded by the message.
 */
import { readdirSync, readFileSync } from "node:fs";
import { table } from "../../ffi/platform.ts";
import type { OptionalConstant } from "../../ffi/gen/names.ts";
import type { StructLayout } from "../../ffi/table.ts";
import { present } from "../core/constants.ts";
import { formatIP } from "../core/sockaddr.ts";
import { readIntField } from "../core/structs.ts";
import { interfaceName } from "../socket/resolve.ts";
import { parseAttributes, type NetlinkMessage } from "./netlink.ts";

const C = table.constants;
const S = table.structs;
const LE = table.expressions.LITTLE_ENDIAN === 1;
const need = <T>(what: string, v: T | null | undefined): T => present("rtnetlink routes", what, v);

/** One next hop of a multipath route (struct rtnexthop and its attributes). */
export interface NextHop {
  readonly gateway?: string;
  readonly interfaceIndex: number;
  /** rtnh_hops + 1, as `ip` shows it. */
  readonly weight: number;
  /** RTNH_F_* flags. */
  readonly flags: number;
}

/**
 * A route's RTA_CACHEINFO (struct rta_cacheinfo), as the kernel reports it for a cloned route
 * (a route exception, `ip route show table cache`; an `ip route get` answer) and for IPv6 routes:
 * the fields `ip route` prints. Values are the kernel's, unconverted.
 */
export interface RouteCacheInfo {
  /** rta_expires: the time left until the entry expires, in clock ticks (USER_HZ, 100 a second); 0: none. */
  readonly expires: number;
  /** rta_error: the error recorded on the entry (the kernel's dst.error, a negative errno read as unsigned); 0: none. */
  readonly error: number;
  /** rta_id: an IP ID (the kernel reports 0 since it stopped keeping one per destination). */
  readonly id: number;
  /** rta_ts: a TCP timestamp (0 on current kernels). */
  readonly ts: number;
  /** rta_tsage: that timestamp's age in seconds (0 on current kernels). */
  readonly tsage: number;
}

/** A route as the kernel reports it (RTM_NEWROUTE). */
export interface Route {
  readonly family: "inet" | "inet6";
  /** RTN_* type: 1 unicast, 2 local, 6 blackhole, 7 unreachable, 8 prohibit... */
  readonly type: number;
  /** RTA_DST, or null for the default route (prefix length 0). */
  readonly destination: string | null;
  readonly prefixLength: number;
  /** RTA_SRC (source-specific routes) and its length. */
  readonly source?: string;
  readonly sourceLength: number;
  readonly tos: number;
  /** RTA_TABLE (or rtm_table): 254 main, 255 local. */
  readonly table: number;
  /** RTPROT_*: 2 kernel, 3 boot, 4 static, 9 ra, 16 dhcp... */
  readonly protocol: number;
  /** RT_SCOPE_*: 0 universe, 253 link, 254 host. */
  readonly scope: number;
  /** rtm_flags (RTNH_F_* and RTM_F_*). */
  readonly flags: number;
  readonly gateway?: string;
  readonly interfaceIndex?: number;
  /** RTA_PREFSRC: the source address the kernel prefers for this route. */
  readonly preferredSource?: string;
  /** RTA_PRIORITY: the metric. */
  readonly priority?: number;
  /** RTA_METRICS: RTAX_* number → value (RTAX_LOCK is the bit mask of locked ones). */
  readonly metrics: ReadonlyMap<number, number>;
  /** RTA_MULTIPATH next hops. */
  readonly nextHops: readonly NextHop[];
  /** RTA_PREF (IPv6, RFC 4191): "low", "medium", "high". */
  readonly preference?: "low" | "medium" | "high" | number;
  /** RTA_EXPIRES / rta_cacheinfo.rta_expires (IPv6), in seconds, when it expires. */
  readonly expires?: number;
  /** RTA_IIF. */
  readonly inputInterfaceIndex?: number;
  /** RTA_MARK. */
  readonly mark?: number;
  /**
   * RTA_CACHEINFO, when the kernel sent one at least sizeof(struct rta_cacheinfo) long: on
   * cloned routes (RTM_F_CLONED in `flags`; `routes(family, { cloned: true })`) and IPv6 ones.
   * formatRoute prints IPv4's after the `cache` line, as ip does.
   */
  readonly cacheInfo?: RouteCacheInfo;
}

/** RFC 4191 §2.1's two-bit Router Preference, as RTA_PREF carries it: 01 high, 00 medium, 11 low. */
const PREFERENCES: Record<number, "low" | "medium" | "high"> = { 0: "medium", 1: "high", 3: "low" };

/**
 * The kernel's USER_HZ, the unit of rta_cacheinfo's rta_expires (jiffies_to_clock_t): 100 on
 * every Linux architecture bsdsock runs on; `ip` divides by it (get_user_hz()).
 */
const USER_HZ = 100;

const u32 = (d: Uint8Array): number => (d.byteLength >= 4 ? new DataView(d.buffer, d.byteOffset, 4).getUint32(0, LE) : 0);
const addressOf = (d: Uint8Array, family: "inet" | "inet6"): string | undefined =>
  d.byteLength === (family === "inet" ? 4 : 16) ? formatIP(d.slice()) : undefined;

/** The route in an RTM_NEWROUTE/RTM_DELROUTE message, or null (another family, or too short). */
export function parseRoute(m: NetlinkMessage): Route | null {
  const R: StructLayout = need("struct rtmsg", S.rtmsg);
  if (m.type !== C.RTM_NEWROUTE && m.type !== C.RTM_DELROUTE) return null;
  if (m.payload.byteLength < R.size) return null;
  const v = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
  const f = R.fields;
  const get = (name: string): number => readIntField(v, f[name]!, false);
  const af = get("rtm_family");
  if (af !== C.AF_INET && af !== C.AF_INET6) return null;
  const family = af === C.AF_INET ? "inet" : "inet6";
  let destination: string | null = null;
  let source: string | undefined;
  let gateway: string | undefined;
  let interfaceIndex: number | undefined;
  let preferredSource: string | undefined;
  let priority: number | undefined;
  let tableId = get("rtm_table");
  const metrics = new Map<number, number>();
  let nextHops: NextHop[] = [];
  let preference: Route["preference"];
  let expires: number | undefined;
  let inputInterfaceIndex: number | undefined;
  let mark: number | undefined;
  let cacheInfo: RouteCacheInfo | undefined;
  const alignTo = need("RTA_ALIGNTO", C.RTA_ALIGNTO);
  const start = (R.size + alignTo - 1) & ~(alignTo - 1);
  for (const a of parseAttributes(m.payload.subarray(Math.min(start, m.payload.byteLength)))) {
    switch (a.type) {
      case C.RTA_DST: destination = addressOf(a.data, family) ?? null; break;
      case C.RTA_SRC: source = addressOf(a.data, family); break;
      case C.RTA_GATEWAY: gateway = addressOf(a.data, family); break;
      case C.RTA_OIF: interfaceIndex = u32(a.data); break;
      case C.RTA_PREFSRC: preferredSource = addressOf(a.data, family); break;
      case C.RTA_PRIORITY: priority = u32(a.data); break;
      case C.RTA_TABLE: if (a.data.byteLength >= 4) tableId = u32(a.data); break;
      case C.RTA_IIF: inputInterfaceIndex = u32(a.data); break;
      case C.RTA_MARK: mark = u32(a.data); break;
      case C.RTA_PREF: if (a.data.byteLength >= 1) preference = PREFERENCES[a.data[0]!] ?? a.data[0]!; break;
      case C.RTA_EXPIRES: if (a.data.byteLength >= 8) expires = Number(new DataView(a.data.buffer, a.data.byteOffset, 8).getBigUint64(0, LE)); break;
      case C.RTA_METRICS:
        for (const x of parseAttributes(a.data)) if (x.data.byteLength >= 4) metrics.set(x.type, u32(x.data));
        break;
      case C.RTA_MULTIPATH: nextHops = parseNextHops(a.data, family); break;
      case C.RTA_CACHEINFO: {
        const CI = S.rta_cacheinfo;
        if (CI && a.data.byteLength >= CI.size) {
          // Every field lies inside CI.size bytes, so inside the attribute.
          const cv = new DataView(a.data.buffer, a.data.byteOffset, a.data.byteLength);
          const at = (field: keyof typeof CI.fields, signed = false): number => readIntField(cv, CI.fields[field], signed);
          cacheInfo = { expires: at("rta_expires", true), error: at("rta_error"), id: at("rta_id"), ts: at("rta_ts"), tsage: at("rta_tsage") };
          // In clock ticks at USER_HZ, as `ip` reads it (an RTA_EXPIRES before it wins).
          if (expires === undefined && cacheInfo.expires !== 0) expires = Math.trunc(cacheInfo.expires / USER_HZ);
        }
        break;
      }
    }
  }
  return {
    family, type: get("rtm_type"), destination, prefixLength: get("rtm_dst_len"),
    ...(source !== undefined ? { source } : {}), sourceLength: get("rtm_src_len"), tos: get("rtm_tos"),
    table: tableId, protocol: get("rtm_protocol"), scope: get("rtm_scope"), flags: get("rtm_flags"),
    ...(gateway !== undefined ? { gateway } : {}), ...(interfaceIndex !== undefined ? { interfaceIndex } : {}),
    ...(preferredSource !== undefined ? { preferredSource } : {}), ...(priority !== undefined ? { priority } : {}),
    metrics, nextHops, ...(preference !== undefined ? { preference } : {}), ...(expires !== undefined ? { expires } : {}),
    ...(inputInterfaceIndex !== undefined ? { inputInterfaceIndex } : {}), ...(mark !== undefined ? { mark } : {}),
    ...(cacheInfo !== undefined ? { cacheInfo } : {}),
  };
}

/** The struct rtnexthop records of an RTA_MULTIPATH attribute (each bounded by its rtnh_len). */
function parseNextHops(data: Uint8Array, family: "inet" | "inet6"): NextHop[] {
  const N = need("struct rtnexthop", S.rtnexthop);
  const out: NextHop[] = [];
  let off = 0;
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < 1024 && off + N.size <= data.byteLength; i++) {
    const len = readIntField(v, { offset: off + N.fields.rtnh_len.offset, size: N.fields.rtnh_len.size }, false);
    if (len < N.size || off + len > data.byteLength) break;
    let gateway: string | undefined;
    for (const a of parseAttributes(data.subarray(off + N.size, off + len))) {
      if (a.type === C.RTA_GATEWAY) gateway = addressOf(a.data, family);
    }
    const at = (name: keyof typeof N.fields): number => readIntField(v, { offset: off + N.fields[name].offset, size: N.fields[name].size }, false);
    out.push({ ...(gateway !== undefined ? { gateway } : {}), interfaceIndex: at("rtnh_ifindex"), weight: at("rtnh_hops") + 1, flags: at("rtnh_flags") });
    off += (len + 3) & ~3; // RTNH_ALIGN
  }
  return out;
}

// --- names, as iproute2 has them --------------------------------------------------------------

/**
 * The texts of /etc/iproute2/`file` and of its `file.d` drop-ins, as ip picks them (names that
 * do not start with a dot and end in `.conf`, after it), in directory order as ip reads them
 * (readdir, unsorted); missing ones skipped.
 */
function iproute2Texts(file: string): string[] {
  const files = [`/etc/iproute2/${file}`];
  try {
    for (const f of readdirSync(`/etc/iproute2/${file}.d`)) if (!f.startsWith(".") && f.length > 5 && f.endsWith(".conf")) files.push(`/etc/iproute2/${file}.d/${f}`);
  } catch { /* no drop-in directory */ }
  const texts: string[] = [];
  for (const path of files) {
    try {
      texts.push(readFileSync(path, "utf8"));
    } catch { /* unreadable: as absent */ }
  }
  return texts;
}

const ULONG_MAX = (1n << 64n) - 1n;
const LONG_MAX = (1n << 63n) - 1n;
/** C's isspace(), any number of times (as scanf and strtoul skip it). */
const C_SPACE = "[ \\t\\n\\v\\f\\r]*";
const HEX_ENTRY = new RegExp(`^0x${C_SPACE}([+-]?)((?:0[xX](?=[0-9a-fA-F]))?[0-9a-fA-F]+)${C_SPACE}([^ \\t\\n\\v\\f\\r]+)`);
const DEC_ENTRY = new RegExp(`^${C_SPACE}([+-]?)([0-9]+)${C_SPACE}([^ \\t\\n\\v\\f\\r]+)`);

/**
 * The `ID NAME` entries of one iproute2 names file's text (rt_tables, rt_protos...), in order,
 * as ip's rtnl_tab_initialize / rtnl_hash_initialize read them: leading blanks skipped, `#` and
 * blank lines skipped, ID and NAME as sscanf's "0x%x %s", else "%d %s", reads them (NAME is the
 * next word, `#` included; ID kept in a C int, so it may come out negative), and a line neither
 * reads ends the file, as ip's "Database ... is corrupted" does.
 */
export function parseNamesFile(text: string): { readonly id: number; readonly name: string }[] {
  const out: { id: number; name: string }[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/^[ \t]+/, "");
    if (line === "" || line.startsWith("#")) continue;
    let m = HEX_ENTRY.exec(line);
    let n: bigint;
    if (m) {
      // %x: an unsigned long (ULONG_MAX on overflow), kept in an int.
      const u = BigInt(/^0[xX]/.test(m[2]!) ? m[2]! : `0x${m[2]}`);
      n = u > ULONG_MAX ? ULONG_MAX : m[1] === "-" ? -u : u;
    } else if ((m = DEC_ENTRY.exec(line))) {
      // %d: a long (clamped on overflow), kept in an int.
      const v = BigInt(m[2]!) * (m[1] === "-" ? -1n : 1n);
      n = v > LONG_MAX ? LONG_MAX : v < -LONG_MAX - 1n ? -LONG_MAX - 1n : v;
    } else break;
    out.push({ id: Number(BigInt.asIntN(32, n)), name: m[3]! });
  }
  return out;
}

/** parseNamesFile over an iproute2 names file and its drop-ins, in the order ip reads them. */
function iproute2Entries(file: string): { readonly id: number; readonly name: string }[] {
  return iproute2Texts(file).flatMap(parseNamesFile);
}

/** An iproute2 names file's id → name (ids 0–256 as ip's tables keep them; later entries win), over `builtin`. */
function readNames(file: string, builtin: Map<number, string>): Map<number, string> {
  const names = new Map(builtin);
  for (const e of iproute2Entries(file)) if (e.id >= 0 && e.id <= 256) names.set(e.id, e.name);
  return names;
}

/** Table id → the name ip prints for it (rtnl_rttable_n2a: the newest entry of that id). */
function tableNames(): Map<number, string> {
  const names = new Map<number, string>();
  for (const e of tableNamesAsIp()) if (!names.has(e.id)) names.set(e.id, e.name);
  return names;
}

/** Built-in names from the header constants: RTPROT_KERNEL → "kernel". */
function fromConstants(prefix: string, rename: Record<string, string> = {}): Map<number, string> {
  const m = new Map<number, string>();
  for (const [k, v] of Object.entries(C)) {
    if (!k.startsWith(prefix) || typeof v !== "number") continue;
    const name = k.slice(prefix.length).toLowerCase();
    m.set(v, rename[name] ?? name);
  }
  return m;
}

let names: { protocols: Map<number, string>; scopes: Map<number, string>; tables: Map<number, string>; types: Map<number, string> } | null = null;
function nameTables(): NonNullable<typeof names> {
  return (names ??= {
    protocols: readNames("rt_protos", fromConstants("RTPROT_")),
    // iproute2 calls RT_SCOPE_UNIVERSE "global".
    scopes: readNames("rt_scopes", fromConstants("RT_SCOPE_", { universe: "global" })),
    tables: tableNames(),
    types: fromConstants("RTN_"),
  });
}

const nameOr = (m: Map<number, string>, n: number): string => m.get(n) ?? String(n);
const ifname = (index: number): string => interfaceName(index) ?? `if${index}`;

/** iproute2's mx_names: the RTAX_* metric names `ip route` prints (RTAX_MTU → "mtu"). */
function metricName(n: number): string | undefined {
  for (const [k, v] of Object.entries(C)) if (k.startsWith("RTAX_") && v === n && k !== "RTAX_LOCK") return k.slice(5).toLowerCase();
  return undefined;
}

/** The flags iproute2's print_rt_flags writes, in its order. */
function flagWords(flags: number): string {
  let out = "";
  if (C.RTNH_F_DEAD !== null && flags & C.RTNH_F_DEAD) out += "dead ";
  if (C.RTNH_F_ONLINK !== null && flags & C.RTNH_F_ONLINK) out += "onlink ";
  if (C.RTNH_F_PERVASIVE !== null && flags & C.RTNH_F_PERVASIVE) out += "pervasive ";
  if (C.RTNH_F_OFFLOAD !== null && flags & C.RTNH_F_OFFLOAD) out += "offload ";
  if (C.RTNH_F_TRAP !== null && flags & C.RTNH_F_TRAP) out += "trap ";
  if (C.RTM_F_NOTIFY !== null && flags & C.RTM_F_NOTIFY) out += "notify ";
  if (C.RTNH_F_LINKDOWN !== null && flags & C.RTNH_F_LINKDOWN) out += "linkdown ";
  if (C.RTNH_F_UNRESOLVED !== null && flags & C.RTNH_F_UNRESOLVED) out += "unresolved ";
  return out;
}

/**
 * iproute2's print_cache_flags, in its order and with its words: each linux/in_route.h RTCF_*
 * flag (a cloned IPv4 route's rtm_flags above the low 16 bits) and what ip prints for it.
 */
const CACHE_FLAGS: readonly (readonly [OptionalConstant, string])[] = [
  ["RTCF_LOCAL", "local"], ["RTCF_REJECT", "reject"], ["RTCF_MULTICAST", "mc"], ["RTCF_BROADCAST", "brd"],
  ["RTCF_DNAT", "dst-nat"], ["RTCF_SNAT", "src-nat"], ["RTCF_MASQ", "masq"], ["RTCF_DIRECTDST", "dst-direct"],
  ["RTCF_DIRECTSRC", "src-direct"], ["RTCF_REDIRECTED", "redirected"], ["RTCF_DOREDIRECT", "redirect"],
  ["RTCF_FAST", "fastroute"], ["RTCF_NOTIFY", "notify"], ["RTCF_TPROXY", "proxy"],
];

/** A cloned IPv4 route's `cache` line as print_cache_flags starts it: "\n    cache <local,...> ", any flag it has no name for in hex. */
function cacheFlagWords(rtmFlags: number): string {
  let flags = (rtmFlags & ~0xffff) >>> 0;
  let out = "\n    cache ";
  if (flags === 0) return out;
  out += "<";
  for (const [name, word] of CACHE_FLAGS) {
    const bit = C[name];
    if (bit === null || !(flags & bit)) continue;
    flags = (flags & ~bit) >>> 0;
    out += `${word}${flags ? "," : "> "}`;
  }
  if (flags) out += `${flags.toString(16)}>`;
  return out;
}

/** RTA_CACHEINFO as print_rta_cacheinfo writes it (without `ip -s`'s counters). */
function cacheInfoWords(ci: RouteCacheInfo): string {
  let out = "";
  if (ci.expires !== 0) out += `expires ${Math.trunc(ci.expires / USER_HZ)}sec `;
  if (ci.error !== 0) out += `error ${ci.error} `;
  if (ci.id !== 0) out += `ipid 0x${ci.id.toString(16).padStart(4, "0")} `;
  if (ci.ts !== 0 || ci.tsage !== 0) out += `ts 0x${ci.ts.toString(16)}tsage ${ci.tsage}sec `;
  return out;
}

/** The RTA_METRICS part of a line, as print_rta_metrics writes it. */
function metricWords(metrics: ReadonlyMap<number, number>): string {
  const lock = C.RTAX_LOCK !== null ? metrics.get(C.RTAX_LOCK) ?? 0 : 0;
  const max = Math.max(0, ...metrics.keys());
  let out = "";
  for (let i = 2; i <= Math.max(max, 31); i++) {
    const has = metrics.has(i);
    if (!has && !(lock & (1 << i))) continue;
    const val = metrics.get(i) ?? 0;
    if (i === C.RTAX_HOPLIMIT && (val | 0) === -1) continue;
    const name = metricName(i);
    out += name ? `${name} ` : `metric ${i} `;
    if (lock & (1 << i)) out += "lock ";
    if (i === C.RTAX_RTT || i === C.RTAX_RTTVAR || i === C.RTAX_RTO_MIN) {
      const ms = i === C.RTAX_RTT ? Math.trunc(val / 8) : i === C.RTAX_RTTVAR ? Math.trunc(val / 4) : val;
      out += ms >= 1000 ? `${ms / 1000}s ` : `${ms}ms `;
    } else {
      out += `${val} `;
    }
  }
  return out;
}

/**
 * One route as `ip route` (or `ip -6 route`) prints it, without the newline: the type unless
 * unicast, destination ("default" for /0), "from", "via", "dev", the table unless main, "proto"
 * unless boot, "scope" unless global (neither for a cloned route), "src", "metric", flags,
 * "mark", then for IPv4 a cloned route's "\n    cache <flags> " line and its RTA_CACHEINFO
 * words ("expires Nsec", "error", "ipid", "ts"), as `ip route show table cache` prints a route
 * exception, metrics, "iif", "pref", next hops on their own tab-indented lines — iproute2
 * 6.1's print_route, trailing spaces included.
 */
export function formatRoute(r: Route, options: { showTable?: boolean } = {}): string {
  const n = nameTables();
  const host = r.family === "inet" ? 32 : 128;
  let out = "";
  if (r.type !== C.RTN_UNICAST) out += `${nameOr(n.types, r.type)} `;
  if (r.destination !== null) out += r.prefixLength !== host ? `${r.destination}/${r.prefixLength} ` : `${r.destination} `;
  else out += r.prefixLength ? `0/${r.prefixLength} ` : "default ";
  if (r.source !== undefined) out += r.sourceLength !== host ? `from ${r.source}/${r.sourceLength} ` : `from ${r.source} `;
  else if (r.sourceLength) out += `from 0/${r.sourceLength} `;
  if (r.tos) out += `tos 0x${r.tos.toString(16).padStart(2, "0")} `;
  if (r.gateway !== undefined) out += `via ${r.gateway} `;
  if (r.interfaceIndex !== undefined) out += `dev ${ifname(r.interfaceIndex)} `;
  if (options.showTable && r.table !== C.RT_TABLE_MAIN) out += `table ${nameOr(n.tables, r.table)} `;
  if (!(C.RTM_F_CLONED !== null && r.flags & C.RTM_F_CLONED)) {
    if (r.protocol !== C.RTPROT_BOOT) out += `proto ${nameOr(n.protocols, r.protocol)} `;
    if (r.scope !== C.RT_SCOPE_UNIVERSE) out += `scope ${nameOr(n.scopes, r.scope)} `;
  }
  if (r.preferredSource !== undefined) out += `src ${r.preferredSource} `;
  if (r.priority !== undefined) out += `metric ${r.priority} `;
  out += flagWords(r.flags);
  if (r.mark !== undefined) out += `mark 0x${r.mark.toString(16)} `;
  if (r.family === "inet") {
    if (C.RTM_F_CLONED !== null && r.flags & C.RTM_F_CLONED) out += cacheFlagWords(r.flags);
    if (r.cacheInfo !== undefined) out += cacheInfoWords(r.cacheInfo);
  }
  if (r.family === "inet6" && r.expires !== undefined) out += `expires ${r.expires}sec `;
  if (r.metrics.size > 0) out += metricWords(r.metrics);
  if (r.inputInterfaceIndex !== undefined) out += `iif ${ifname(r.inputInterfaceIndex)} `;
  if (r.preference !== undefined) out += `pref ${r.preference}`;
  for (const h of r.nextHops) {
    out += "\n\tnexthop ";
    if (h.gateway !== undefined) out += `via ${h.gateway} `;
    out += `dev ${ifname(h.interfaceIndex)} weight ${h.weight} `;
    out += flagWords(h.flags);
  }
  return out;
}

/**
 * What `ip route show table T` lists: the routes of table `id` (default main; null: every
 * table, as `table all`), without cloned (cache) entries.
 */
export function listedByIp(r: Route, id: number | null = C.RT_TABLE_MAIN ?? 254): boolean {
  if (C.RTM_F_CLONED !== null && r.flags & C.RTM_F_CLONED) return false;
  return id === null || r.table === id;
}

/**
 * What `ip route show table NAME` selects, NAME parsed as iproute2's rtnl_rttable_a2n parses
 * it: first a name from /etc/iproute2/rt_tables and rt_tables.d/*.conf (or ip's built-in
 * `main`, `local`, `default`), else a number as C's strtoul(NAME, &end, 0) reads it (leading
 * white space, a sign, `0x` hex, `0` octal: `010` is 8, `-1` wraps), which must use up the
 * whole text and be at most 2³²−1 (RT_TABLE_MAX). Returns the table's id, 1 to 2³²−1; null for
 * every table, as ip takes the id 0 (`0`, `0x0`, rt_tables' `unspec`) and `all`; undefined
 * when ip refuses NAME as a table — it then prints `Error: argument "NAME" is wrong: table id
 * value is invalid` and exits 255, unless NAME is one of the keywords its `show` takes there
 * instead: `cache` (main's cloned routes) and `help`.
 */
export function tableId(name: string): number | null | undefined {
  const named = tableNamesAsIp().find((e) => e.name === name);
  const id = named !== undefined ? named.id : strtoulWhole(name);
  if (id === undefined) return name === "all" ? null : undefined;
  return id === 0 ? null : id <= 0xffffffff ? id : undefined;
}


/** C's strtoul(text, &end, 0) with a 64-bit long (ULONG_MAX on overflow, a minus sign negating modulo 2⁶⁴), when it reads all of text; else undefined. */
function strtoulWhole(text: string): number | undefined {
  const m = new RegExp(`^${C_SPACE}([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$`).exec(text);
  if (!m) return undefined;
  const digits = m[2]!;
  const magnitude = BigInt(/^0[xX]/.test(digits) ? digits : /^0./.test(digits) ? `0o${digits.slice(1)}` : digits);
  const v = magnitude > ULONG_MAX ? ULONG_MAX : m[1] === "-" ? -magnitude & ULONG_MAX : magnitude;
  return Number(v); // exact up to 2⁵³; larger ones are refused anyway
}

/** Names `ip` knows for tables, in the order rtnl_rttable_a2n tries them (see tableNamesAsIp). */
let ipTableNames: readonly { readonly name: string; readonly id: number }[] | null = null;

/**
 * The table names as iproute2 reads them: its built-in `default`, `main`, `local`, then every
 * `ID NAME` line of rt_tables and of rt_tables.d's `*.conf` files (dot files skipped) — ID and
 * NAME as sscanf's "0x%x %s", else "%d %s", reads them (`#` lines and blank ones skipped, a
 * negative ID ignored, a line neither reads ends its file). ip files them in 256 lists by
 * ID & 255, each newest first, and a name is looked up list by list: that order is kept here.
 */
function tableNamesAsIp(): readonly { readonly name: string; readonly id: number }[] {
  if (ipTableNames) return ipTableNames;
  const entries = [
    { name: "default", id: C.RT_TABLE_DEFAULT ?? 253 }, { name: "main", id: C.RT_TABLE_MAIN ?? 254 }, { name: "local", id: C.RT_TABLE_LOCAL ?? 255 },
  ];
  for (const e of iproute2Entries("rt_tables")) if (e.id >= 0) entries.push(e);
  const order = entries.map((e, i) => ({ e, i })).sort((a, b) => (a.e.id & 255) - (b.e.id & 255) || b.i - a.i);
  return (ipTableNames = order.map((x) => x.e));
}
