/**
 * Routes (rtnetlink RTM_GETROUTE, Linux): struct rtmsg and its attributes decoded into a
 * `Route`, and `formatRoute`, which writes a route the way iproute2's `ip route` prints it
 * (names of protocols, scopes and tables from the same /etc/iproute2 files `ip` reads, with
 * iproute2's built-in names where they are missing). Every read is bounded by the message.
 */
import { readdirSync, readFileSync } from "node:fs";
import { table } from "../../ffi/platform.ts";
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
}

/** RFC 4191 §2.1's two-bit Router Preference, as RTA_PREF carries it: 01 high, 00 medium, 11 low. */
const PREFERENCES: Record<number, "low" | "medium" | "high"> = { 0: "medium", 1: "high", 3: "low" };

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
        if (CI && a.data.byteLength >= CI.size && expires === undefined) {
          const e = readIntField(new DataView(a.data.buffer, a.data.byteOffset, a.data.byteLength), CI.fields.rta_expires, true);
          if (e !== 0) expires = Math.trunc(e / 100); // in jiffies at USER_HZ (100), as `ip` reads it
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

/** `number name` lines of an iproute2 table file and its `.d/*.conf` drop-ins (later ones win). */
function readNames(file: string, builtin: Map<number, string>): Map<number, string> {
  const names = new Map(builtin);
  const files = [`/etc/iproute2/${file}`];
  try {
    for (const f of readdirSync(`/etc/iproute2/${file}.d`).sort()) if (f.endsWith(".conf")) files.push(`/etc/iproute2/${file}.d/${f}`);
  } catch { /* no drop-in directory */ }
  for (const path of files) {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      const m = /^\s*(0x[0-9a-fA-F]+|\d+)\s+([^\s#]+)/.exec(line);
      if (m) names.set(Number(m[1]), m[2]!);
    }
  }
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
    tables: readNames("rt_tables", fromConstants("RT_TABLE_")),
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
 * unless boot, "scope" unless global, "src", "metric", flags, metrics, "pref", next hops on
 * their own tab-indented lines — iproute2 6.1's print_route, trailing spaces included.
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

/** A table's number from its name ("main", "local", a name in rt_tables) or number text; undefined if unknown. */
export function tableId(name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  for (const [k, v] of nameTables().tables) if (v === name) return k;
  return undefined;
}
