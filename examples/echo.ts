/**
 * An echo server and a checking client for every family and socket type bsdsock supports.
 *
 *   bun run examples/echo.ts server --family inet|inet6|unix --type stream|dgram|seqpacket
 *                                   [--host H] [--port P] [--path P | --abstract NAME] [--workers N]
 *                                   [--mptcp]
 *   bun run examples/echo.ts client <same options> [--count N] [--size BYTES] [--timeout MS]
 *                                   [--concurrency C]
 *
 * The server prints exactly one line to stdout when it is ready, `listening <address>`, with the
 * address as formatAddress writes it (from getsockname, so the real port or path):
 *
 *   listening 127.0.0.1:40123       inet
 *   listening [::1]:40123           inet6 ("[::1%3]:port" when a scope id is set)
 *   listening /tmp/echo.sock        unix pathname
 *   listening @name                 unix abstract (Linux; "@" also stands for NULs inside the name)
 *
 * then echoes every byte (stream), record (seqpacket) or datagram (dgram) back until SIGINT or
 * SIGTERM, when it closes every socket, removes its pathname socket file and exits 0. Log
 * lines go to stderr. Without --path/--abstract a unix server binds an unnamed address, which
 * Linux autobinds to a 5-character abstract name (printed as usual).
 *
 * An inet/inet6 datagram server answers every datagram from the address it was sent to (Linux:
 * IP_PKTINFO / IPV6_PKTINFO), so with `--host 0.0.0.0` or `--host ::` a client that connected
 * its socket to 127.0.0.5, or to any other local address, gets its reply.
 *
 * Both sides run on the async API (AsyncSocket): one thread serves every client, each
 * connection its own `for await` loop, with no polling and no timed waits; an idle server
 * sleeps in the kernel. Bun raises the open-files limit (RLIMIT_NOFILE) to the hard limit at
 * start, so the server can hold as many connections as that allows (it logs the limit); at
 * 10 000 and more connections each costs a few KiB (its receive buffer starts at 4 KiB and
 * grows to 64 KiB only for connections that fill it).
 *
 * --systemd serves on the sockets a service manager passed instead (systemd socket activation:
 * a .socket unit, `systemd-socket-activate -l 7000 bun run examples/echo.ts server --systemd`,
 * or LISTEN_FDS/LISTEN_PID set by any supervisor), whatever their families and types. With
 * NOTIFY_SOCKET set (a Type=notify service) it sends READY=1 and STATUS= once it serves, and
 * STOPPING=1 when it shuts down (sd_notify).
 *
 * --mptcp (inet/inet6 stream, Linux) uses MPTCP sockets (protocol "mptcp"): a server that also
 * serves plain TCP clients, a client that falls back to TCP with a plain TCP server. The client's
 * summary then says which it got: "(inet stream, MPTCP)" or "(inet stream, MPTCP fell back to
 * TCP)"; with ECHO_VERBOSE=1 the server logs it per connection. Where the kernel has MPTCP off
 * (sysctl net.mptcp.enabled = 0) both exit 2 saying so.
 *
 * --workers N (inet/inet6 stream or dgram) runs N processes on one port with SO_REUSEPORT: this
 * one and N-1 children it starts (and stops with itself); the kernel spreads connections, or
 * datagrams by sender, across them.
 *
 * The client sends --count messages (default 5) of --size bytes (default 1000; every byte
 * value appears once the size reaches 256), checks each echo byte for byte, prints a summary
 * and exits 0 only if every echo matched (1 if not, 2 on a usage or socket error).
 * --concurrency C opens C connections (or datagram sockets) at once, each doing the same. A unix
 * datagram client binds its own address first so the server can reply: an autobind abstract
 * name on Linux, a temporary pathname elsewhere (removed on exit).
 *
 * --abstract NAME takes the name as UTF-8 text; `\xHH` and `\\` escapes put any byte in it,
 * NUL included (`--abstract 'a\x00b'`).
 *
 * Combinations: inet/inet6 × stream/dgram everywhere; unix × stream/dgram everywhere;
 * unix seqpacket on Linux (and the BSDs, not macOS); abstract names on Linux only.
 * inet seqpacket would be SCTP, which most kernels do not load (the socket call then fails
 * with "Socket type not supported").
 */
import { spawn, type Subprocess } from "bun";
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { listenFds } from "../src/linux/activation.ts";
import { notify } from "../src/linux/notify.ts";
import { AsyncSocket } from "../src/async/async.ts";
import { reactorReady } from "../src/async/reactor.ts";
import { SocketError } from "../src/core/errors.ts";
import { platform } from "../src/index.ts";
import { formatAddress, type Address, type RawAddress } from "../src/core/sockaddr.ts";
import type { PacketInfo } from "../src/socket/pktinfo.ts";

const C = platform.table.constants;
const MSG_TRUNC = C.MSG_TRUNC;
const linux = platform.key.startsWith("linux-");

type Family = "inet" | "inet6" | "unix";
type Kind = "stream" | "dgram" | "seqpacket";

function usage(message?: string): never {
  if (message) process.stderr.write(`echo: ${message}\n`);
  process.stderr.write(
    "usage: echo.ts server --family inet|inet6|unix (default: from --host) --type stream|dgram|seqpacket [--host H] [--port P] [--path P|--abstract NAME] [--workers N] [--mptcp]\n" +
      "       echo.ts server --systemd   (the sockets of systemd socket activation)\n" +
      "       echo.ts client <same options> [--count N] [--size BYTES] [--timeout MS] [--concurrency C]\n",
  );
  process.exit(2);
}

/** `\xHH` and `\\` escapes → bytes; everything else as UTF-8. */
function unescapeName(text: string): Uint8Array {
  const out: number[] = [];
  const enc = new TextEncoder();
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "\\" && text[i + 1] === "\\") { out.push(0x5c); i++; continue; }
    if (text[i] === "\\" && text[i + 1] === "x" && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 2, i + 4))) {
      out.push(parseInt(text.slice(i + 2, i + 4), 16));
      i += 3;
      continue;
    }
    const cp = text.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    out.push(...enc.encode(ch));
    i += ch.length - 1;
  }
  return Uint8Array.from(out);
}

function integer(name: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) usage(`--${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(text)}`);
  return n;
}

const { values, positionals } = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        family: { type: "string" }, type: { type: "string" }, host: { type: "string" }, port: { type: "string" },
        path: { type: "string" }, abstract: { type: "string" }, count: { type: "string" }, size: { type: "string" },
        timeout: { type: "string" }, concurrency: { type: "string" }, workers: { type: "string" }, systemd: { type: "boolean" }, mptcp: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    return usage((e as Error).message);
  }
})();

if (values.help) usage();
const mode = positionals[0];
if (positionals.length !== 1 || (mode !== "server" && mode !== "client")) usage("the first argument is server or client");
/** --systemd: serve on the sockets the service manager passed (their families and types are theirs). */
const systemd = values.systemd === true;
if (systemd && mode !== "server") usage("--systemd is for the server");
if (systemd && [values.family, values.type, values.host, values.port, values.path, values.abstract, values.workers].some((v) => v !== undefined)) {
  usage("--systemd takes the sockets it is given: no --family/--type/--host/--port/--path/--abstract/--workers");
}
if (systemd && values.mptcp) usage("--systemd takes the sockets it is given: no --mptcp");
// Without --family, --host decides: an IPv6 address text (a ":") is inet6, anything else inet.
const family = (values.family ?? (systemd ? "inet" : values.host !== undefined ? (values.host.includes(":") ? "inet6" : "inet") : undefined)) as Family;
const kind = (values.type ?? (systemd ? "stream" : undefined)) as Kind;
if (!["inet", "inet6", "unix"].includes(family)) usage("--family must be inet, inet6 or unix");
if (!["stream", "dgram", "seqpacket"].includes(kind)) usage("--type must be stream, dgram or seqpacket");
if (family === "unix" && (values.host !== undefined || values.port !== undefined)) usage("--host/--port are for inet and inet6");
if (family !== "unix" && (values.path !== undefined || values.abstract !== undefined)) usage("--path/--abstract are for unix");
if (values.path !== undefined && values.abstract !== undefined) usage("give --path or --abstract, not both");
/** --mptcp: MPTCP sockets ("mptcp" protocol) for inet/inet6 stream. */
const protocol = values.mptcp ? "mptcp" : 0;
if (values.mptcp && (family === "unix" || kind !== "stream")) usage("--mptcp is for inet/inet6 stream");

/** The address named by the options (port 0 / unnamed when not given: the server's default). */
function addressOf(): Address {
  if (family === "unix") {
    if (values.path !== undefined) return { family, path: values.path };
    if (values.abstract !== undefined) return { family, abstract: unescapeName(values.abstract) };
    return { family };
  }
  const host = values.host ?? (family === "inet" ? "127.0.0.1" : "::1");
  return { family, host, port: integer("port", values.port, 0, 0, 65535) };
}

/** Per-connection log lines only with ECHO_VERBOSE=1 (at 10 000 connections they would be the work). */
const verbose = process.env.ECHO_VERBOSE === "1";

function log(line: string): void {
  process.stderr.write(`echo ${mode}: ${line}\n`);
}

/** A SocketError's message, anything else as thrown. */
function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ------------------------------------------------------------------------------------------
// server

/** The open-files limit (Bun raised the soft limit to the hard one at start), where /proc says. */
function openFilesLimit(): string {
  try {
    const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"));
    const [soft, hard] = line?.split(/\s+/).slice(3, 5) ?? [];
    return soft && hard ? `open files limit ${soft} (hard ${hard})` : "open files limit unknown";
  } catch {
    return "open files limit unknown";
  }
}

/**
 * --systemd: serve on every socket passed by systemd (a .socket unit), systemd-socket-activate
 * or any manager speaking the LISTEN_FDS protocol: listeners get an accept loop, datagram
 * sockets are echoed. Prints one "listening <address>" line per socket.
 */
async function activatedServer(): Promise<number> {
  const passed = listenFds();
  if (passed.length === 0) {
    log("--systemd: no sockets were passed (LISTEN_FDS / LISTEN_PID unset or meant for another process)");
    return 2;
  }
  let stopped: (sig: string) => void = () => {};
  const stop = new Promise<string>((resolve) => { stopped = resolve; });
  process.on("SIGINT", () => stopped("SIGINT"));
  process.on("SIGTERM", () => stopped("SIGTERM"));
  const conns = new Set<AsyncSocket>();
  const socks = passed.map((p) => AsyncSocket.from(p.socket));
  try {
    await reactorReady();
    const serving = passed.map((p, i) => {
      const sock = socks[i]!;
      const type = sock.type === C.SOCK_SEQPACKET ? "seqpacket" : sock.type === C.SOCK_DGRAM ? "dgram" : "stream";
      writeSync(1, `listening ${formatAddress(sock.localAddress)}\n`);
      log(`socket "${p.name}": ${type}${p.listening ? ", listening" : ""}`);
      if (p.listening) return acceptLoop(sock, conns, type);
      if (type === "dgram") return serveDatagrams(sock);
      return serveConnection(sock, "passed connection", type);
    });
    // Type=notify: tell the manager we serve (nothing happens when NOTIFY_SOCKET is unset).
    notify({ READY: 1, STATUS: `echoing on ${socks.length} socket${socks.length === 1 ? "" : "s"}` });
    const sig = await Promise.race([stop, Promise.all(serving).then(() => "sockets closed")]);
    log(`${sig}: shutting down`);
    notify({ STOPPING: 1 });
    return 0;
  } finally {
    for (const c of conns) c.close();
    for (const s of socks) s.close();
  }
}

async function server(): Promise<number> {
  if (systemd) return activatedServer();
  const address = addressOf();
  const workers = integer("workers", values.workers, 1, 1, 64);
  if (workers > 1 && family === "unix") usage("--workers needs inet or inet6 (SO_REUSEPORT shares a port)");
  const reusePort = workers > 1 || process.env.ECHO_WORKER_CHILD === "1"; // a worker process shares its port
  const listener = kind === "dgram" ? new AsyncSocket(family, "dgram") : AsyncSocket.listen(address, { type: kind, reusePort, protocol });
  let createdPath: string | null = null;
  const children: Subprocess[] = [];
  let stopped: (sig: string) => void = () => {};
  const stop = new Promise<string>((resolve) => { stopped = resolve; });
  const onSignal = (sig: string) => (): void => stopped(sig);
  process.on("SIGINT", onSignal("SIGINT"));
  process.on("SIGTERM", onSignal("SIGTERM"));
  const conns = new Set<AsyncSocket>();
  try {
    if (kind === "dgram") {
      if (reusePort) listener.setOption("reusePort", true);
      // On ::, IPv4 clients too (as ::ffff:a.b.c.d), whatever net.ipv6.bindv6only says.
      if (address.family === "inet6" && address.host === "::") listener.setOption("onlyV6", false);
      listener.bind(address);
    }
    if (address.family === "unix" && address.path !== undefined) createdPath = address.path;
    const local = listener.localAddress;
    if (workers > 1) {
      // The other workers bind the port this one got, each with its own socket (SO_REUSEPORT).
      const port = (local as { port: number }).port;
      const args = process.argv.slice(2).filter((_, i, a) => a[i] !== "--port" && a[i - 1] !== "--port" && a[i] !== "--workers" && a[i - 1] !== "--workers");
      for (let i = 1; i < workers; i++) {
        children.push(spawn([process.execPath, import.meta.path, ...args, "--port", String(port), "--workers", "1"], {
          env: { ...process.env, ECHO_WORKER_CHILD: "1" },
          stdin: "pipe", stdout: "pipe", stderr: "inherit",
        }));
      }
      // Each child prints its own "listening" line once bound; wait for them before ours.
      for (const child of children) {
        const reader = (child.stdout as ReadableStream<Uint8Array>).getReader();
        const { value } = await reader.read();
        reader.releaseLock();
        if (!value || !new TextDecoder().decode(value).startsWith("listening")) throw new Error("a worker process failed to start");
      }
    }
    if (process.env.ECHO_WORKER_CHILD === "1") {
      // A worker process ends with the one that started it: its stdin (a pipe) reaches EOF.
      void (async () => {
        for await (const _ of Bun.stdin.stream()) { /* nothing is sent */ }
        stopped("parent gone");
      })();
    }
    await reactorReady(); // its Worker opens files as it starts: done before clients can use up the fds
    writeSync(1, `listening ${formatAddress(local)}\n`);
    log(`${openFilesLimit()}${workers > 1 ? `, ${workers} worker processes` : ""}`);
    const serving = kind === "dgram" ? serveDatagrams(listener) : acceptLoop(listener, conns, kind);
    const sig = await Promise.race([stop, serving.then(() => "listener closed")]);
    log(`${sig}: shutting down`);
    return 0;
  } finally {
    for (const child of children) child.kill("SIGTERM");
    for (const c of conns) c.close();
    listener.close();
    await Promise.all(children.map((c) => c.exited));
    if (createdPath !== null) {
      try { unlinkSync(createdPath); } catch (e) { log(`cannot remove ${createdPath}: ${describe(e)}`); }
    }
  }
}

async function acceptLoop(listener: AsyncSocket, conns: Set<AsyncSocket>, type: Kind): Promise<void> {
  // connections() outlives what a server must: a connection reset while queued is skipped, and
  // out of fds (EMFILE) it backs off (5 ms doubling to 1 s) until connections close. Logged
  // once per streak, not once per retry.
  let streak = "";
  const onError = (e: SocketError): void => {
    if (e.code !== streak) log(e.message);
    streak = e.code;
  };
  for await (const conn of listener.connections({ onError })) {
    streak = "";
    let peer = "?";
    try { peer = formatAddress(conn.remoteAddress); } catch { /* reset already: served as any other */ }
    conns.add(conn);
    void serveConnection(conn, peer, type).finally(() => {
      conns.delete(conn);
      conn.close();
    });
  }
}

/** Echoes one connection until end of stream; a client that stops reading only stalls itself. */
async function serveConnection(conn: AsyncSocket, peer: string, type: Kind): Promise<void> {
  if (verbose) log(`accepted ${peer}${protocol ? (conn.getOption("isMptcp") ? " (MPTCP)" : " (plain TCP)") : ""}`);
  let buffer = new Uint8Array(4096);
  try {
    for (;;) {
      // seqpacket: one recv is one record (a larger record would be cut at the buffer size).
      const n = await conn.recvInto(buffer);
      if (n === 0) break; // end of stream (for seqpacket also an empty record: treated alike)
      if (type === "seqpacket") await conn.send(buffer.subarray(0, n));
      else await conn.sendAll(buffer.subarray(0, n));
      if (n === buffer.length && buffer.length < 65536) buffer = new Uint8Array(buffer.length * 4);
    }
    if (verbose) log(`closed ${peer}`);
  } catch (e) {
    log(`${peer}: ${describe(e)}`);
  }
}

/**
 * Turns on packet info for an IP datagram socket (Linux), so each reply leaves from the address
 * its datagram was sent to: bound to 0.0.0.0 or ::, the kernel would otherwise answer from the
 * address routing picks, and a client that connected its socket to 127.0.0.5 (or to a second
 * address of the host) would drop the reply. Returns whether it is on.
 */
function answerFromDestination(sock: AsyncSocket): boolean {
  if (!linux) return false;
  const domain = sock.family;
  if (domain === C.AF_INET) sock.setOption("receivePacketInfoV4", true);
  else if (domain === C.AF_INET6) {
    sock.setOption("receivePacketInfoV6", true); // IPv4-mapped too
    // IP_PKTINFO too: for an IPv4 broadcast (127.255.255.255) only it knows the local address
    // to answer from; recvMsg merges the two messages into one packetInfo.
    sock.setOption("receivePacketInfoV4", true);
  } else return false;
  return true;
}

async function serveDatagrams(sock: AsyncSocket): Promise<void> {
  const buffer = new Uint8Array(1 << 16);
  const withInfo = answerFromDestination(sock);
  for (;;) {
    let n: number;
    let from: Address | RawAddress | undefined;
    let source: PacketInfo | undefined;
    try {
      // MSG_TRUNC (Linux): the return value is the datagram's real size even if it was larger.
      const flags = linux ? MSG_TRUNC : 0;
      if (withInfo) {
        const r = await sock.recvMsg({ buffers: [buffer], packetInfo: true, flags });
        [n, from, source] = [r.bytes, r.address, r.packetInfo];
      } else {
        [n, from] = await sock.recvFromInto(buffer, { flags });
      }
    } catch (e) {
      if (sock.closed) return;
      log(`recvfrom: ${describe(e)}`);
      continue;
    }
    if (from === undefined) continue; // a datagram with no sender (not on a datagram socket)
    if (n > buffer.length) {
      log(`datagram of ${n} bytes from ${formatAddress(from)} truncated to ${buffer.length}; not echoed`);
      continue;
    }
    if (typeof from.family === "number" || (from.family === "unix" && from.path === undefined && from.abstract === undefined)) {
      log(`cannot reply to ${formatAddress(from)} (an unbound unix datagram client): bind the client`);
      continue;
    }
    try {
      // A full send queue waits here (at most 1 s) rather than dropping the reply.
      const data = buffer.subarray(0, n);
      if (source) await sock.sendMsg({ data, address: from, source }, { timeout: 1000 });
      else await sock.sendTo(data, from, { timeout: 1000 });
    } catch (e) {
      log(`sendto ${formatAddress(from)}: ${describe(e)}`);
    }
  }
}

// ------------------------------------------------------------------------------------------
// client

/** Message `i`: bytes that differ per message and cover all 256 values from 256 bytes on. */
function message(i: number, size: number): Uint8Array {
  const m = new Uint8Array(size);
  for (let j = 0; j < size; j++) m[j] = (j * 7 + i * 13 + 1) & 0xff;
  return m;
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** A connected client socket (a datagram one bound first where the server must reply to it). */
async function open(address: Address, timeout: number, tempDir: () => string): Promise<AsyncSocket> {
  if (kind !== "dgram") return AsyncSocket.connect(address, { type: kind, timeout, protocol });
  const sock = new AsyncSocket(family, "dgram");
  try {
    if (family === "unix") {
      // The server replies to our address, so we need one.
      if (linux) sock.bind({ family: "unix" }); // autobind: the kernel picks an abstract name
      else sock.bind({ family: "unix", path: join(tempDir(), `c${Math.random().toString(36).slice(2)}.sock`) });
    }
    await sock.connect(address, { timeout }); // a connected datagram socket only receives from the server
    return sock;
  } catch (e) {
    sock.close();
    throw e;
  }
}

async function client(): Promise<number> {
  const address = addressOf();
  const count = integer("count", values.count, 5, 1, 1_000_000);
  const size = integer("size", values.size, 1000, kind === "dgram" ? 0 : 1, 1 << 26);
  const timeout = integer("timeout", values.timeout, 5000, 1, 600_000);
  const concurrency = integer("concurrency", values.concurrency, 1, 1, 1_000_000);
  if (family === "unix" ? address.family === "unix" && address.path === undefined && address.abstract === undefined : values.port === undefined) {
    usage(family === "unix" ? "the client needs --path or --abstract" : "the client needs --port");
  }

  let temp: string | null = null;
  const tempDir = (): string => (temp ??= mkdtempSync(join(tmpdir(), "echo-client-")));
  const socks: AsyncSocket[] = [];
  const started = performance.now();
  try {
    // All connections at once (the server sees `concurrency` clients simultaneously).
    const opened = await Promise.allSettled(Array.from({ length: concurrency }, () => open(address, timeout, tempDir)));
    for (const o of opened) if (o.status === "fulfilled") socks.push(o.value);
    const failed = opened.find((o) => o.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const matched = (await Promise.all(socks.map((sock) => exchangeAll(sock, count, size, timeout)))).reduce((a, b) => a + b, 0);
    const ms = (performance.now() - started).toFixed(1);
    const total = count * concurrency;
    const what = `${family} ${kind}${protocol ? `, ${mptcpState(socks)}` : ""}`;
    const line = concurrency === 1
      ? `${matched}/${total} echoes of ${size} bytes matched, ${formatAddress(socks[0]!.localAddress)} -> ${formatAddress(socks[0]!.remoteAddress)} (${what}), ${ms} ms`
      : `${matched}/${total} echoes of ${size} bytes matched over ${concurrency} connections to ${formatAddress(socks[0]!.remoteAddress)} (${what}), ${ms} ms`;
    writeSync(1, `${line}\n`);
    return matched === total ? 0 : 1;
  } finally {
    for (const s of socks) s.close();
    if (temp !== null) rmSync(temp, { recursive: true, force: true });
  }
}

/** "MPTCP" when every connection runs MPTCP, else how many fell back to plain TCP. */
function mptcpState(socks: readonly AsyncSocket[]): string {
  const fellBack = socks.filter((s) => !s.getOption("isMptcp")).length;
  if (fellBack === 0) return "MPTCP";
  return socks.length === 1 ? "MPTCP fell back to TCP" : `MPTCP, ${fellBack} of ${socks.length} fell back to TCP`;
}

/** One connection's messages, each checked; returns how many matched. */
async function exchangeAll(sock: AsyncSocket, count: number, size: number, timeout: number): Promise<number> {
  let matched = 0;
  const echo = new Uint8Array(size + 1);
  for (let i = 0; i < count; i++) {
    const m = message(i, size);
    let got: Uint8Array;
    try {
      got = kind === "stream" ? await exchangeStream(sock, m, echo, timeout) : await exchangeRecord(sock, m, echo, timeout);
    } catch (e) {
      if (e instanceof SocketError && e.code === "ETIMEDOUT" && kind === "dgram") {
        log(`message ${i + 1}: no echo within ${timeout} ms (datagram lost?)`);
        continue;
      }
      throw e;
    }
    const at = firstDifference(m, got);
    if (at < 0) matched++;
    else log(`message ${i + 1}: echo differs at byte ${at} (sent ${m.length} bytes, got ${got.length})`);
  }
  return matched;
}

/**
 * Stream: send in chunks and read each chunk's echo before the next, so neither side can fill
 * both socket buffers and deadlock however large the message.
 */
async function exchangeStream(sock: AsyncSocket, m: Uint8Array, echo: Uint8Array, timeout: number): Promise<Uint8Array> {
  const CHUNK = 1 << 16;
  for (let off = 0; off < m.length; off += CHUNK) {
    const end = Math.min(off + CHUNK, m.length);
    await sock.sendAll(m.subarray(off, end), { timeout });
    let got = off;
    while (got < end) {
      const n = await sock.recvInto(echo.subarray(got, end), { timeout });
      if (n === 0) return echo.subarray(0, got); // server closed early
      got += n;
    }
  }
  return echo.subarray(0, m.length);
}

/** Datagram or record: one send, one receive (into a buffer one byte larger, to see a too-long echo). */
async function exchangeRecord(sock: AsyncSocket, m: Uint8Array, echo: Uint8Array, timeout: number): Promise<Uint8Array> {
  const sent = await sock.send(m, { timeout });
  if (sent !== m.length) throw new Error(`send took ${sent} of ${m.length} bytes`);
  const n = await sock.recvInto(echo, { timeout });
  return echo.subarray(0, n);
}

try {
  process.exitCode = mode === "server" ? await server() : await client();
} catch (e) {
  log(describe(e));
  process.exitCode = 2;
}
// A worker process's stdin watcher would keep it alive until the parent exits, and the parent
// waits for its workers: end here.
if (process.env.ECHO_WORKER_CHILD === "1") process.exit();
