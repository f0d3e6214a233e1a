/**
 * ping over bsdsock: ICMP echo request/reply on IPv4 or IPv6.
 *
 *   bun run examples/ping.ts [-c COUNT] [-i INTERVAL] [-W TIMEOUT] [-s SIZE] [-4|-6] HOST
 *
 * HOST is a numeric address (127.0.0.1, ::1) or "localhost"; there is no name resolution.
 * COUNT defaults to 4 (classic ping runs until interrupted; this one always ends), INTERVAL
 * and TIMEOUT are seconds (default 1 each), SIZE is the payload size (default 56). Ctrl-C
 * stops early and still prints the statistics.
 *
 * Sockets, in the order tried:
 *   1. SOCK_RAW + IPPROTO_ICMP / IPPROTO_ICMPV6 (needs root or CAP_NET_RAW). The echo request
 *      checksum is computed here for IPv4; for ICMPv6 raw sockets the kernel always computes
 *      it (it covers a pseudo-header with the source address, which only the kernel knows).
 *      IPv4 raw reads return the IP header too: the TTL printed comes from it, and the reply's
 *      checksum is verified here.
 *   2. SOCK_DGRAM + IPPROTO_ICMP / IPPROTO_ICMPV6, the unprivileged "ping socket" (Linux,
 *      macOS): allowed when the process's group is within net.ipv4.ping_group_range (the same
 *      sysctl governs IPv6). The kernel sets the identifier, computes checksums and delivers
 *      only our replies, without the IP header.
 * If both are refused, ping says which privilege is missing (CAP_NET_RAW) and what the sysctl
 * holds, and exits 2.
 *
 * Output is like iputils ping: one line per reply with icmp_seq, ttl and time; then the
 * statistics. The TTL (IPv4) or hop limit (IPv6) comes from the IP header on IPv4 raw
 * sockets, and otherwise from the IP_TTL / IPV6_HOPLIMIT control message the kernel attaches
 * when IP_RECVTTL / IPV6_RECVHOPLIMIT is on (received with recvMsg), since a ping socket and
 * an IPv6 raw socket get no IP header. Exit status: 0 when at least one reply came back, 1
 * when none did, 2 on error (as iputils ping).
 *
 * Round-trip times are kernel to kernel: the request's software transmit timestamp
 * (SO_TIMESTAMPING with SOF_TIMESTAMPING_TX_SOFTWARE, read from the socket's error queue, each
 * matched to its request by SOF_TIMESTAMPING_OPT_ID) against the reply's receive timestamp
 * (SO_TIMESTAMPNS, else SO_TIMESTAMP). So neither the time JS takes to wake up nor the work
 * between reading a clock and the sendto on a cold first send is counted. Where transmit
 * stamps are missing (not Linux, an older kernel) the wall clock read just before sendto
 * stands in, as iputils ping does with gettimeofday, and the header line says so; a reply
 * without a receive stamp falls back to the clock read when it is handled (its line says
 * "(no kernel stamp)").
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { constants, platform } from "../src/index.ts";
import { SocketError, strerror } from "../src/core/errors.ts";
import { realtimeNow } from "../src/core/clock.ts";
import { cmsgSpace, timestampMs, type KernelTimestamp } from "../src/socket/msg.ts";
import { parseIPv4, parseIPv6, type Address } from "../src/core/sockaddr.ts";
import { AsyncSocket } from "../src/async/async.ts";

const out = (line: string) => process.stdout.write(`${line}\n`);
function fail(message: string, code = 2): never {
  process.stderr.write(`ping: ${message}\n`);
  process.exit(code);
}

const { values, positionals } = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        count: { type: "string", short: "c" }, interval: { type: "string", short: "i" },
        timeout: { type: "string", short: "W" }, size: { type: "string", short: "s" },
        ipv4: { type: "boolean", short: "4" }, ipv6: { type: "boolean", short: "6" },
      },
    });
  } catch (e) {
    return fail(`${(e as Error).message}\nusage: ping.ts [-c COUNT] [-i INTERVAL] [-W TIMEOUT] [-s SIZE] [-4|-6] HOST`);
  }
})();

function num(name: string, text: string | undefined, fallback: number, min: number, max: number, integer: boolean): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    fail(`invalid ${name}: ${JSON.stringify(text)} (expected ${integer ? "an integer" : "a number"} in [${min}, ${max}])`);
  }
  return n;
}

if (positionals.length !== 1) fail("usage: ping.ts [-c COUNT] [-i INTERVAL] [-W TIMEOUT] [-s SIZE] [-4|-6] HOST");
if (values.ipv4 && values.ipv6) fail("-4 and -6 exclude each other");
const count = num("count", values.count, 4, 1, 1_000_000, true);
const intervalMs = num("interval", values.interval, 1, 0.01, 3600, false) * 1000;
const timeoutMs = num("timeout", values.timeout, 1, 0.01, 3600, false) * 1000;
const size = num("packet size", values.size, 56, 0, 65000, true);
const hostArg = positionals[0]!;

let v6: boolean;
let host: string;
if (hostArg === "localhost") {
  v6 = !!values.ipv6;
  host = v6 ? "::1" : "127.0.0.1";
} else if (parseIPv4(hostArg) && !values.ipv6) {
  v6 = false;
  host = hostArg;
} else if (parseIPv6(hostArg.split("%")[0]!) && !values.ipv4) {
  v6 = true;
  host = hostArg;
} else {
  fail(`${hostArg}: not a numeric ${values.ipv6 ? "IPv6" : values.ipv4 ? "IPv4" : "IP"} address or "localhost" (this example does not resolve names)`);
}
const family = v6 ? "inet6" : "inet";
const protocol = v6 ? "icmpv6" : "icmp";
const AF = v6 ? "AF_INET6" : "AF_INET";
const PROTO = v6 ? "IPPROTO_ICMPV6" : "IPPROTO_ICMP";
const ECHO_REQUEST = v6 ? 128 : 8;
const ECHO_REPLY = v6 ? 129 : 0;

/** The Internet checksum (RFC 1071) of `b`: ones' complement of the ones' complement sum of 16-bit words. */
function checksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (b.length & 1) sum += b[b.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

// --- open a socket: raw, else the unprivileged ping socket, else explain -------------------

function denied(e: unknown): e is SocketError {
  return e instanceof SocketError && (e.code === "EPERM" || e.code === "EACCES");
}

function pingGroupRange(): string {
  try {
    return readFileSync("/proc/sys/net/ipv4/ping_group_range", "utf8").trim().replace(/\s+/, " ");
  } catch {
    return "unknown";
  }
}

let sock: AsyncSocket;
let raw: boolean;
try {
  sock = new AsyncSocket(family, "raw", protocol);
  raw = true;
} catch (rawError) {
  if (!denied(rawError)) fail(`socket(${AF}, SOCK_RAW, ${PROTO}): ${(rawError as Error).message}`);
  try {
    sock = new AsyncSocket(family, "dgram", protocol);
    raw = false;
  } catch (dgramError) {
    if (!denied(dgramError)) fail(`socket(${AF}, SOCK_DGRAM, ${PROTO}): ${(dgramError as Error).message}`);
    const gid = process.getgid?.() ?? "?";
    fail(
      `cannot open an ICMP socket: a raw socket needs CAP_NET_RAW (socket(${AF}, SOCK_RAW, ${PROTO}): ` +
        `${strerror(rawError.errno)}), and the unprivileged ICMP datagram socket is refused for group ${gid} ` +
        `(socket(${AF}, SOCK_DGRAM, ${PROTO}): ${strerror(dgramError.errno)}; ` +
        `net.ipv4.ping_group_range = "${pingGroupRange()}"). Run as root, grant CAP_NET_RAW ` +
        `(setcap cap_net_raw+ep on the bun binary), or widen the range: ` +
        `sysctl -w net.ipv4.ping_group_range="0 2147483647"`,
    );
  }
}

// --- the exchange --------------------------------------------------------------------------

const target: Address = { family, host, port: 0 };
const ident = process.pid & 0xffff; // raw sockets; a ping socket's kernel-chosen id replaces it
const packet = new Uint8Array(8 + size);
for (let i = 0; i < size; i++) packet[8 + i] = (0x10 + i) & 0xff;
const view = new DataView(packet.buffer);
const recvBuffer = new Uint8Array(65536 + 60);

// Where there is no IP header to read the TTL from, ask the kernel for it as a control message.
const C = constants;
const ttlFromHeader = raw && !v6;
const [ttlLevel, ttlType] = v6 ? [C.IPPROTO_IPV6, C.IPV6_HOPLIMIT] : [C.IPPROTO_IP, C.IP_TTL];
if (!ttlFromHeader) sock.setRawOption(ttlLevel, v6 ? C.IPV6_RECVHOPLIMIT : C.IP_RECVTTL!, 1);
// Kernel receive timestamps (the reply's arrival, not when JS got to it).
const stampOption = C.SO_TIMESTAMPNS !== null ? "timestampNs" : "timestamp";
sock.setOption(stampOption, true);
const T = platform.table;
const SERR = T.structs.sock_extended_err;
/** Transmit stamps: software, reported on the error queue without the packet, numbered per send. */
const txStamps = ((): boolean => {
  if (C.SOF_TIMESTAMPING_TX_SOFTWARE === null || C.SOF_TIMESTAMPING_SOFTWARE === null || C.SOF_TIMESTAMPING_OPT_TSONLY === null ||
      C.SOF_TIMESTAMPING_OPT_ID === null || C.MSG_ERRQUEUE === null || C.SO_EE_ORIGIN_TIMESTAMPING === null || !SERR) return false;
  try {
    sock.setOption("timestamping", C.SOF_TIMESTAMPING_TX_SOFTWARE | C.SOF_TIMESTAMPING_SOFTWARE | C.SOF_TIMESTAMPING_OPT_TSONLY | C.SOF_TIMESTAMPING_OPT_ID);
    return true;
  } catch {
    return false; // the kernel refuses it: the clock before sendto stands in
  }
})();
const ttlControlSize = cmsgSpace(4);
const stampRoom = cmsgSpace(Math.max(T.structs.timespec.size, T.structs.timeval.size));
// SOF_TIMESTAMPING_SOFTWARE also reports receive stamps as SCM_TIMESTAMPING (three timespecs).
const timestampingRoom = txStamps ? cmsgSpace(3 * T.structs.timespec.size) : 0;
// Room for the TTL message (where it is asked for) and the timestamp messages.
const controlSize = (ttlFromHeader ? 0 : ttlControlSize) + stampRoom + timestampingRoom;
/** An error-queue entry: one SCM_TIMESTAMPING and one IP(V6)_RECVERR with the send's id. */
const errqueueControl = cmsgSpace(3 * T.structs.timespec.size) + cmsgSpace((SERR?.size ?? 16) + 28);
const errqueueBuffer = new Uint8Array(1);
const littleEndian = platform.table.expressions.LITTLE_ENDIAN === 1; // a C int, in host order

/** The int in an IP_TTL / IPV6_HOPLIMIT control message, or null. */
function ttlOf(control: readonly { level: number; type: number; data: Uint8Array }[]): number | null {
  const m = control.find((c) => c.level === ttlLevel && c.type === ttlType && c.data.length >= 4);
  return m ? new DataView(m.data.buffer, m.data.byteOffset, 4).getInt32(0, littleEndian) : null;
}

/** Wall-clock ms (CLOCK_REALTIME) just before each request's sendto, by sequence number. */
const sentAt = new Map<number, number>();
/** The kernel's transmit stamp of each request (ms, CLOCK_REALTIME), by sequence number. */
const stampedAt = new Map<number, number>();
/** Sequence number of each send, by the kernel's OPT_ID counter (one per successful sendto). */
const seqOfSend: number[] = [];

/** Reads every transmit stamp queued now (never waits), filing each under its request. */
function readTxStamps(): void {
  if (!txStamps) return;
  for (let i = 0; i < 64; i++) {
    let m;
    try {
      m = sock.socket.recvMsg({ buffers: [errqueueBuffer], controlSize: errqueueControl, flags: C.MSG_ERRQUEUE! });
    } catch (e) {
      if (e instanceof SocketError && e.code === "EAGAIN") return; // nothing queued
      throw e;
    }
    let id = -1;
    for (const c of m.control) {
      if (!((c.level === C.SOL_IP && c.type === C.IP_RECVERR) || (c.level === C.SOL_IPV6 && c.type === C.IPV6_RECVERR)) || c.data.length < SERR!.size) continue;
      const v = new DataView(c.data.buffer, c.data.byteOffset, c.data.byteLength);
      if (v.getUint8(SERR!.fields.ee_origin.offset) !== C.SO_EE_ORIGIN_TIMESTAMPING) continue;
      if (C.SCM_TSTAMP_SND !== null && v.getUint32(SERR!.fields.ee_info.offset, littleEndian) !== C.SCM_TSTAMP_SND) continue;
      id = v.getUint32(SERR!.fields.ee_data.offset, littleEndian);
    }
    const seq = seqOfSend[id];
    if (m.timestamp && seq !== undefined) stampedAt.set(seq, timestampMs(m.timestamp));
  }
}
const received = new Set<number>();
const rtts: number[] = [];
let transmitted = 0;
let errors = 0;
/** Ctrl-C aborts whatever is being waited for (a reply, or the interval), at once. */
const interrupt = new AbortController();
process.on("SIGINT", () => interrupt.abort());
const stopped = (): boolean => interrupt.signal.aborted;

/** Sleeps `ms` unless interrupted first. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      interrupt.signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    interrupt.signal.addEventListener("abort", done, { once: true });
  });
}

/** Our id as the kernel sees it: a ping socket's local "port" (set on first send). */
function expectedIdent(): number {
  if (raw) return ident;
  const local = sock.localAddress;
  return "port" in local ? local.port : -1;
}

async function send(seq: number): Promise<void> {
  view.setUint8(0, ECHO_REQUEST);
  view.setUint8(1, 0);
  view.setUint16(2, 0);
  view.setUint16(4, ident);
  view.setUint16(6, seq);
  if (!v6) view.setUint16(2, checksum(packet)); // ICMPv6: the kernel fills it in
  sentAt.set(seq, timestampMs(realtimeNow()));
  await sock.sendTo(packet, target);
  seqOfSend.push(seq); // OPT_ID: the kernel numbers successful sends 0, 1, 2...
  transmitted++;
  readTxStamps(); // on loopback the stamp is queued before sendto returns
}

/** Handles one received packet; returns the sequence number of a valid echo reply, or -1. */
function handle(n: number, fromHost: string, id: number, controlTtl: number | null, stamp: KernelTimestamp | undefined): number {
  let icmp = recvBuffer.subarray(0, n);
  let ttl: number | null = controlTtl;
  if (raw && !v6) {
    // IPv4 raw sockets deliver the IP header: version/IHL, ..., TTL at byte 8, protocol at 9.
    if (n < 20 || recvBuffer[0]! >> 4 !== 4 || recvBuffer[9] !== 1) return -1;
    const ihl = (recvBuffer[0]! & 0x0f) * 4;
    ttl = recvBuffer[8]!;
    icmp = recvBuffer.subarray(ihl, n);
    if (icmp.length >= 8 && icmp[0] === ECHO_REPLY && checksum(icmp) !== 0) {
      out(`From ${fromHost}: bad ICMP checksum`);
      errors++;
      return -1;
    }
  }
  if (icmp.length < 8 || icmp[0] !== ECHO_REPLY || icmp[1] !== 0) return -1; // our own request, other ICMP
  const dv = new DataView(icmp.buffer, icmp.byteOffset, icmp.byteLength);
  if (dv.getUint16(4) !== id) return -1; // another ping's reply (raw sockets see them all)
  const seq = dv.getUint16(6);
  if (sentAt.get(seq) === undefined) return -1;
  if (!stampedAt.has(seq)) readTxStamps(); // transmitted before the reply came back, so queued by now
  const t0 = stampedAt.get(seq) ?? sentAt.get(seq)!;
  const rtt = timestampMs(stamp ?? realtimeNow()) - t0;
  const payloadOk = icmp.length === packet.length && icmp.subarray(8).every((b, i) => b === packet[8 + i]);
  const dup = received.has(seq);
  if (!dup) {
    received.add(seq);
    rtts.push(rtt);
  }
  out(
    `${icmp.length} bytes from ${fromHost}: icmp_seq=${seq}${ttl === null ? "" : ` ttl=${ttl}`} time=${rtt.toFixed(3)} ms` +
      `${dup ? " (DUP!)" : ""}${payloadOk ? "" : " (payload differs)"}${stamp ? "" : " (no kernel stamp)"}`,
  );
  if (!payloadOk) errors++;
  return seq;
}

/** Waits up to the deadline for the reply to `seq` (Ctrl-C ends the wait at once). */
async function awaitReply(seq: number, deadline: number): Promise<void> {
  const id = expectedIdent();
  while (!stopped()) {
    const remaining = deadline - performance.now();
    if (remaining <= 0) return;
    const op = { timeout: remaining, signal: interrupt.signal };
    try {
      const m = await sock.recvMsg({ buffers: [recvBuffer], controlSize }, op);
      const fromHost = m.address && "host" in m.address ? m.address.host : "?";
      const controlTtl = ttlFromHeader ? null : ttlOf(m.control);
      if (handle(m.bytes, fromHost, id, controlTtl, m.timestamp) === seq) return;
    } catch (e) {
      if (stopped()) return;
      if (!(e instanceof SocketError && e.code === "ETIMEDOUT")) throw e;
    }
  }
}

const started = performance.now();
out(`PING ${host} (${host}) ${size} data bytes, ${raw ? "raw ICMP socket" : "unprivileged ICMP datagram socket"}, ${txStamps ? "kernel transmit and receive timestamps" : "kernel receive timestamps"}`);
try {
  for (let seq = 1; seq <= count && !stopped(); seq++) {
    const t = performance.now();
    await send(seq);
    await awaitReply(seq, t + timeoutMs);
    const wait = t + intervalMs - performance.now();
    if (seq < count && wait > 0 && !stopped()) await pause(wait);
  }
} catch (e) {
  fail(e instanceof Error ? e.message : String(e));
} finally {
  sock.close();
}

const elapsed = Math.round(performance.now() - started);
const loss = transmitted === 0 ? 0 : Math.round((100 * (transmitted - received.size)) / transmitted);
out("");
out(`--- ${host} ping statistics ---`);
out(`${transmitted} packets transmitted, ${received.size} received,${errors ? ` +${errors} errors,` : ""} ${loss}% packet loss, time ${elapsed}ms`);
if (rtts.length > 0) {
  const min = Math.min(...rtts);
  const max = Math.max(...rtts);
  const avg = rtts.reduce((a, b) => a + b, 0) / rtts.length;
  const mdev = Math.sqrt(rtts.reduce((a, b) => a + (b - avg) ** 2, 0) / rtts.length);
  out(`rtt min/avg/max/mdev = ${[min, avg, max, mdev].map((x) => x.toFixed(3)).join("/")} ms`);
}
process.exitCode = received.size > 0 && errors === 0 ? 0 : 1;
