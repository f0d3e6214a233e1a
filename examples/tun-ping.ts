/**
 * A TUN device that answers ping for a whole subnet from user space.
 *
 *   sudo bun run examples/tun-ping.ts --name bsd0 --address 192.0.2.1/24 [--address6 2001:db8::1/64]
 *
 * It creates the interface (TunDevice: /dev/net/tun, TUNSETIFF), gives it the address(es) and
 * brings it up through rtnetlink (Rtnetlink.addAddress / setLinkUp), prints one line
 * `ready NAME` to stdout, then reads every IP packet the kernel routes into it: an ICMP echo
 * request (IPv4) or ICMPv6 echo request (IPv6) to any other address of the subnet gets its echo
 * reply, built here (addresses swapped, checksums computed), so `ping 192.0.2.77` answers. The
 * interface's own address is the kernel's to answer. SIGINT/SIGTERM end it (the interface goes
 * with the fd). Needs CAP_NET_ADMIN: without it, one line naming the capability, exit 2.
 * Linux only.
 */
import { parseArgs } from "node:util";
import { platform, Rtnetlink, SocketError } from "../src/index.ts";
import { TunDevice } from "../src/linux/tun.ts";
import { parseIPv4, parseIPv6 } from "../src/core/sockaddr.ts";

function fail(message: string): never {
  process.stderr.write(`tun-ping: ${message}\n`);
  process.exit(2);
}

const usage = "usage: bun run examples/tun-ping.ts --name NAME --address A.B.C.D/N [--address6 X:Y::Z/N]";
const { values } = (() => {
  try {
    return parseArgs({ options: { name: { type: "string" }, address: { type: "string" }, address6: { type: "string" }, help: { type: "boolean", short: "h" } } });
  } catch (e) {
    return fail(`${(e as Error).message}\n${usage}`);
  }
})();
if (values.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
if (!platform.key.startsWith("linux-")) fail(`TUN devices exist only on Linux (this is ${platform.key})`);
if (!values.name || !values.address) fail(usage);

/** "A/N" → its address bytes and prefix length, or a usage error. */
function prefix(text: string, v6: boolean): { addr: Uint8Array; len: number } {
  const [host, n] = text.split("/");
  const addr = v6 ? parseIPv6(host ?? "") : parseIPv4(host ?? "");
  const len = Number(n);
  if (!addr || n === undefined || !/^\d+$/.test(n) || len > (v6 ? 128 : 32)) fail(`--address${v6 ? "6" : ""} must be ${v6 ? "an IPv6" : "an IPv4"} address with a prefix length, got ${JSON.stringify(text)}`);
  return { addr, len };
}
const net4 = prefix(values.address, false);
const net6 = values.address6 ? prefix(values.address6, true) : null;

/** Whether `a` is in the subnet of `net` and is not `net`'s own address. */
function other(a: Uint8Array, net: { addr: Uint8Array; len: number }): boolean {
  let same = true;
  for (let bit = 0; bit < net.len; bit++) {
    const m = 0x80 >> (bit & 7);
    if ((a[bit >> 3]! & m) !== (net.addr[bit >> 3]! & m)) return false;
  }
  for (let i = 0; i < a.length; i++) if (a[i] !== net.addr[i]) same = false;
  return !same;
}

/** RFC 1071 checksum of `b` (plus `initial`, a partial sum). */
function checksum(b: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (b.length & 1) sum += b[b.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** The echo reply to an IPv4 ICMP echo request for another address of the subnet, or null. */
function reply4(p: Uint8Array): Uint8Array | null {
  if (p.length < 28 || p[0]! >> 4 !== 4 || p[9] !== 1) return null;
  const ihl = (p[0]! & 15) * 4;
  const total = (p[2]! << 8) | p[3]!;
  if (ihl < 20 || total > p.length || total < ihl + 8 || p[ihl] !== 8 || p[ihl + 1] !== 0) return null;
  if (!other(p.subarray(16, 20), net4)) return null;
  const r = p.slice(0, total);
  r.set(p.subarray(16, 20), 12); // source: the address pinged
  r.set(p.subarray(12, 16), 16); // destination: the pinger
  r[8] = 64; // TTL
  r[10] = 0; r[11] = 0;
  const h = checksum(r.subarray(0, ihl));
  r[10] = h >> 8; r[11] = h & 255;
  r[ihl] = 0; // echo reply
  r[ihl + 2] = 0; r[ihl + 3] = 0;
  const c = checksum(r.subarray(ihl, total));
  r[ihl + 2] = c >> 8; r[ihl + 3] = c & 255;
  return r;
}

/** The echo reply to an ICMPv6 echo request for another address of the subnet, or null. */
function reply6(p: Uint8Array): Uint8Array | null {
  if (!net6 || p.length < 48 || p[0]! >> 4 !== 6 || p[6] !== 58) return null;
  const plen = (p[4]! << 8) | p[5]!;
  if (40 + plen > p.length || plen < 8 || p[40] !== 128 || p[41] !== 0) return null;
  if (!other(p.subarray(24, 40), net6)) return null;
  const r = p.slice(0, 40 + plen);
  r.set(p.subarray(24, 40), 8);
  r.set(p.subarray(8, 24), 24);
  r[7] = 64; // hop limit
  r[40] = 129; // echo reply
  r[42] = 0; r[43] = 0;
  // The pseudo-header: source, destination, upper-layer length, next header.
  let sum = 0;
  for (let i = 8; i < 40; i += 2) sum += (r[i]! << 8) | r[i + 1]!;
  sum += plen + 58;
  const c = checksum(r.subarray(40, 40 + plen), sum);
  r[42] = c >> 8; r[43] = c & 255;
  return r;
}

let tun: TunDevice;
try {
  tun = TunDevice.open({ name: values.name, mode: "tun" });
} catch (e) {
  if (e instanceof SocketError && (e.code === "EPERM" || e.code === "EACCES")) fail(`${e.message}; run as root or grant CAP_NET_ADMIN (setcap cap_net_admin+ep on the bun binary)`);
  fail(e instanceof Error ? e.message : String(e));
}
try {
  using rt = Rtnetlink.open();
  await rt.addAddress(tun.index, values.address, { timeout: 5000 });
  if (values.address6) await rt.addAddress(tun.index, values.address6, { noDad: true, timeout: 5000 });
  await rt.setLinkUp(tun.index, true, { timeout: 5000 });
} catch (e) {
  tun.close();
  fail(e instanceof Error ? e.message : String(e));
}

const stop = new AbortController();
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => stop.abort());
process.stdout.write(`ready ${tun.name}\n`);
const buf = new Uint8Array(65536);
let answered = 0;
try {
  for (;;) {
    const n = await tun.read(buf, { signal: stop.signal });
    const p = buf.subarray(0, n);
    const r = p[0]! >> 4 === 4 ? reply4(p) : reply6(p);
    if (r) {
      await tun.write(r, { signal: stop.signal });
      answered++;
    }
  }
} catch (e) {
  if (!stop.signal.aborted) fail(e instanceof Error ? e.message : String(e));
} finally {
  tun.close();
}
process.stderr.write(`tun-ping: answered ${answered} echo requests\n`);
