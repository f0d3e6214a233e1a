/**
 * A minimal tcpdump over an AF_PACKET socket (Linux): one line per frame with the interface,
 * direction, EtherType and length, and for IPv4/IPv6 the addresses, protocol and (TCP/UDP)
 * ports.
 *
 *   bun run examples/sniff.ts [-i IFACE] [-c COUNT] [--udp-port PORT]
 *
 * -i binds to one interface and puts it in promiscuous mode (PACKET_ADD_MEMBERSHIP) while
 * running; without it every interface is captured. --udp-port attaches a classic BPF filter
 * (SO_ATTACH_FILTER), so the kernel delivers only UDP datagrams from or to that port. -c stops
 * after COUNT frames; otherwise Ctrl-C stops. As libpcap does, a frame sent on the loopback
 * interface is printed once (the outgoing copy is skipped; the same frame comes back in).
 *
 * Needs CAP_NET_RAW (root): without it, it says so and exits 2, with no stack trace.
 *
 *   lo In  IPv4 127.0.0.1.40000 > 127.0.0.1.9999: UDP, length 5
 */
import { parseArgs } from "node:util";
import { AsyncSocket } from "../src/async/async.ts";
import { SocketError } from "../src/core/errors.ts";
import { constants, interfaceName, platform } from "../src/index.ts";
import { attachFilter, setPromiscuous, udpPortFilter } from "../src/linux/packet.ts";
import { formatIP, interfaceIndex, type PacketAddress } from "../src/core/sockaddr.ts";

const C = constants;

function fail(message: string): never {
  process.stderr.write(`sniff: ${message}\n`);
  process.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({
      options: { interface: { type: "string", short: "i" }, count: { type: "string", short: "c" }, "udp-port": { type: "string" } },
    });
  } catch (e) {
    return fail(`${(e as Error).message}\nusage: bun run examples/sniff.ts [-i IFACE] [-c COUNT] [--udp-port PORT]`);
  }
})();
if (!platform.key.startsWith("linux-")) fail(`AF_PACKET exists only on Linux (this is ${platform.key})`);

function intOption(name: string, text: string | undefined, max: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) > max) fail(`${name} must be an integer in [0, ${max}], got ${JSON.stringify(text)}`);
  return Number(text);
}
const count = intOption("-c", values.count, 2 ** 31);
const udpPort = intOption("--udp-port", values["udp-port"], 65535);
let ifindex = 0;
if (values.interface !== undefined) {
  try {
    ifindex = interfaceIndex(values.interface);
  } catch {
    fail(`no such interface: ${values.interface}`);
  }
}

let sock: AsyncSocket;
try {
  // Protocol 0: the socket receives nothing until bind() names the protocol, so no frame is
  // queued before the filter is attached (with ETH_P_ALL here, it would capture at once).
  sock = new AsyncSocket("packet", "raw", 0);
} catch (e) {
  if (e instanceof SocketError && (e.code === "EPERM" || e.code === "EACCES")) {
    fail(`capturing needs CAP_NET_RAW (socket(AF_PACKET, SOCK_RAW): ${e.message.replace(/^socket: /, "")}); run as root or grant the capability (setcap cap_net_raw+ep on the bun binary)`);
  }
  fail(e instanceof Error ? e.message : String(e));
}

try {
  // Filter first, then bind (which starts the capture): no unfiltered frame slips in.
  if (udpPort !== undefined) attachFilter(sock, udpPortFilter(udpPort));
  sock.bind({ family: "packet", ifindex, protocol: C.ETH_P_ALL! });
  if (ifindex !== 0) setPromiscuous(sock, ifindex);
} catch (e) {
  sock.close();
  fail(e instanceof Error ? e.message : String(e));
}

const direction: Record<number, string> = {
  [C.PACKET_HOST!]: "In ", [C.PACKET_BROADCAST!]: "B  ", [C.PACKET_MULTICAST!]: "M  ",
  [C.PACKET_OTHERHOST!]: "P  ", [C.PACKET_OUTGOING!]: "Out",
};
const names = new Map<number, string>();
const ifName = (i: number): string => {
  let n = names.get(i);
  if (n === undefined) names.set(i, (n = interfaceName(i) ?? `if${i}`));
  return n;
};

/** "IPv4 a.b.c.d.P > e.f.g.h.Q: UDP, length N" for an IP frame, or the EtherType for others. */
function describe(frame: Uint8Array, etherType: number): string {
  const hlen = C.ETH_HLEN!;
  const ip = frame.subarray(hlen);
  const dv = new DataView(ip.buffer, ip.byteOffset, ip.byteLength);
  let proto: number;
  let src: string;
  let dst: string;
  let l4: Uint8Array;
  let family: string;
  if (etherType === C.ETH_P_IP && ip.length >= 20 && ip[0]! >> 4 === 4) {
    const ihl = (ip[0]! & 0x0f) * 4;
    family = "IPv4";
    proto = ip[9]!;
    src = formatIP(ip.subarray(12, 16));
    dst = formatIP(ip.subarray(16, 20));
    l4 = (dv.getUint16(6) & 0x1fff) === 0 ? ip.subarray(ihl, Math.min(ip.length, dv.getUint16(2))) : new Uint8Array(0);
  } else if (etherType === C.ETH_P_IPV6 && ip.length >= 40 && ip[0]! >> 4 === 6) {
    family = "IPv6";
    proto = ip[6]!;
    src = formatIP(ip.subarray(8, 24));
    dst = formatIP(ip.subarray(24, 40));
    l4 = ip.subarray(40, Math.min(ip.length, 40 + dv.getUint16(4)));
  } else {
    const name = etherType === C.ETH_P_ARP ? "ARP" : `ethertype 0x${etherType.toString(16).padStart(4, "0")}`;
    return `${name}, length ${frame.length}`;
  }
  const lv = new DataView(l4.buffer, l4.byteOffset, l4.byteLength);
  if ((proto === C.IPPROTO_UDP || proto === C.IPPROTO_TCP) && l4.length >= 4) {
    const sp = lv.getUint16(0);
    const dp = lv.getUint16(2);
    const what = proto === C.IPPROTO_UDP ? `UDP, length ${Math.max(0, l4.length - 8)}` : `TCP, length ${l4.length >= 13 ? Math.max(0, l4.length - (l4[12]! >> 4) * 4) : 0}`;
    return `${family} ${src}.${sp} > ${dst}.${dp}: ${what}`;
  }
  if ((proto === C.IPPROTO_ICMP || proto === C.IPPROTO_ICMPV6) && l4.length >= 2) {
    return `${family} ${src} > ${dst}: ICMP${proto === C.IPPROTO_ICMPV6 ? "6" : ""} type ${l4[0]} code ${l4[1]}, length ${l4.length}`;
  }
  return `${family} ${src} > ${dst}: protocol ${proto}, length ${l4.length}`;
}

const stop = new AbortController();
process.on("SIGINT", () => stop.abort());
process.on("SIGTERM", () => stop.abort());
const buffer = new Uint8Array(1 << 18);
let seen = 0;
process.stderr.write(`sniff: capturing on ${values.interface ?? "every interface"}${udpPort !== undefined ? `, udp port ${udpPort}` : ""}\n`);
try {
  while (count === undefined || seen < count) {
    let n: number;
    let from: PacketAddress;
    try {
      const [got, address] = await sock.recvFromInto(buffer, { signal: stop.signal, flags: C.MSG_TRUNC });
      n = got;
      from = address as PacketAddress;
    } catch (e) {
      if (stop.signal.aborted) break;
      throw e;
    }
    // A loopback frame is seen leaving and coming back in: print it once (as libpcap does).
    if (from.pkttype === C.PACKET_OUTGOING && from.hatype === C.ARPHRD_LOOPBACK) continue;
    const frame = buffer.subarray(0, Math.min(n, buffer.length));
    const etherType = from.protocol ?? 0;
    process.stdout.write(`${ifName(from.ifindex)} ${direction[from.pkttype ?? -1] ?? "?  "} ${describe(frame, etherType)}\n`);
    seen++;
  }
} finally {
  sock.close();
}
process.stderr.write(`sniff: ${seen} frames\n`);
