/**
 * Neighbours (rtnetlink RTM_GETNEIGH, Linux): the ARP / NDP table — struct ndmsg and its
 * attributes decoded into a `Neighbour`, and `formatNeighbour`, which writes an entry the way
 * iproute2's `ip neigh` prints it. Every read is bounded by the message.
 */
import { table } from "../../ffi/platform.ts";
import { present } from "../core/constants.ts";
import { formatIP } from "../core/sockaddr.ts";
import { readIntField } from "../core/structs.ts";
import { interfaceName } from "../socket/resolve.ts";
import { parseAttributes, type NetlinkMessage } from "./netlink.ts";

const C = table.constants;
const S = table.structs;
const need = <T>(what: string, v: T | null | undefined): T => present("rtnetlink neighbours", what, v);

/** One neighbour table entry (RTM_NEWNEIGH). */
export interface Neighbour {
  readonly family: "inet" | "inet6";
  readonly interfaceIndex: number;
  /** NUD_* bits: NUD_REACHABLE, NUD_STALE, NUD_PERMANENT... */
  readonly state: number;
  /** NTF_* flags: NTF_ROUTER, NTF_PROXY... */
  readonly flags: number;
  /** ndm_type (RTN_*). */
  readonly type: number;
  /** NDA_DST: the neighbour's IP address. */
  readonly address?: string;
  /** NDA_LLADDR: its link-layer address, as bytes. */
  readonly linkAddress?: Uint8Array;
  /** NDA_PROBES. */
  readonly probes?: number;
}

/** The entry in an RTM_NEWNEIGH/RTM_DELNEIGH message, or null (another type or family, or too short). */
export function parseNeighbour(m: NetlinkMessage): Neighbour | null {
  const N = need("struct ndmsg", S.ndmsg);
  if (m.type !== C.RTM_NEWNEIGH && m.type !== C.RTM_DELNEIGH) return null;
  if (m.payload.byteLength < N.size) return null;
  const v = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
  const af = readIntField(v, N.fields.ndm_family, false);
  if (af !== C.AF_INET && af !== C.AF_INET6) return null;
  const family = af === C.AF_INET ? "inet" : "inet6";
  let address: string | undefined;
  let linkAddress: Uint8Array | undefined;
  let probes: number | undefined;
  const alignTo = need("RTA_ALIGNTO", C.RTA_ALIGNTO);
  const start = (N.size + alignTo - 1) & ~(alignTo - 1);
  for (const a of parseAttributes(m.payload.subarray(Math.min(start, m.payload.byteLength)))) {
    if (a.type === C.NDA_DST && a.data.byteLength === (family === "inet" ? 4 : 16)) address = formatIP(a.data.slice());
    else if (a.type === C.NDA_LLADDR) linkAddress = a.data.slice();
    else if (a.type === C.NDA_PROBES && a.data.byteLength >= 4) probes = new DataView(a.data.buffer, a.data.byteOffset, 4).getUint32(0, table.expressions.LITTLE_ENDIAN === 1);
  }
  return {
    family, interfaceIndex: readIntField(v, N.fields.ndm_ifindex, false), state: readIntField(v, N.fields.ndm_state, false),
    flags: readIntField(v, N.fields.ndm_flags, false), type: readIntField(v, N.fields.ndm_type, false),
    ...(address !== undefined ? { address } : {}), ...(linkAddress !== undefined ? { linkAddress } : {}), ...(probes !== undefined ? { probes } : {}),
  };
}

/** The NUD_* states by name, in the order iproute2 prints them. */
const STATES = ["INCOMPLETE", "REACHABLE", "STALE", "DELAY", "PROBE", "FAILED", "NOARP", "PERMANENT"] as const;

/** Link-layer bytes as ip writes them: two lowercase hex digits each, joined by ":". */
export function formatLinkAddress(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/**
 * One entry as `ip neigh` prints it, without the newline (iproute2 6.1's print_neigh, trailing
 * space included): address, "dev", "lladdr", the router/proxy/extern_learn/offload flags, then
 * each state bit by name.
 */
export function formatNeighbour(n: Neighbour): string {
  let out = "";
  if (n.address !== undefined) out += `${n.address} `;
  if (n.interfaceIndex) out += `dev ${interfaceName(n.interfaceIndex) ?? `if${n.interfaceIndex}`} `;
  if (n.linkAddress !== undefined) out += `lladdr ${formatLinkAddress(n.linkAddress)} `;
  if (C.NTF_ROUTER !== null && n.flags & C.NTF_ROUTER) out += "router ";
  if (C.NTF_PROXY !== null && n.flags & C.NTF_PROXY) out += "proxy ";
  if (C.NTF_EXT_LEARNED !== null && n.flags & C.NTF_EXT_LEARNED) out += "extern_learn ";
  if (C.NTF_OFFLOADED !== null && n.flags & C.NTF_OFFLOADED) out += "offload ";
  for (const name of STATES) {
    const bit = C[`NUD_${name}`];
    if (bit !== null && n.state & bit) out += `${name} `;
  }
  return out;
}

/**
 * What plain `ip neigh` lists: every entry except those only in NOARP state (local and
 * multicast addresses) and those with no state at all, unless they are proxy or externally
 * learned entries.
 */
export function listedByIpNeigh(n: Neighbour): boolean {
  const shown = 0xff & ~(C.NUD_NOARP ?? 0x40);
  if (n.state & shown) return true;
  if (C.NTF_PROXY !== null && n.flags & C.NTF_PROXY) return true;
  if (C.NTF_EXT_LEARNED !== null && n.flags & C.NTF_EXT_LEARNED) return true;
  return false;
}
