/**
 * An echo server and a checking client for every family and socket type bsdsock supports.
 *
 *   bun run examples/echo.ts server --family inet|inet6|unix --type stream|dgram|seqpacket
 *                                   [--host H] [--port P] [--path P | --abstract NAME]
 *   bun run examples/echo.ts client <same options> [--count N] [--size BYTES] [--timeout MS]
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
 * The sockets are blocking-API sockets; one thread serves many clients by waiting in poll()
 * (at most 100 ms) and yielding to the event loop between waits, which is where Bun runs the
 * JS signal handlers (a signal also interrupts poll() with EINTR, so shutdown is prompt).
 *
 * The client sends --count messages (default 5) of --size bytes (default 1000; every byte
 * value appears once the size reaches 256), checks each echo byte for byte, prints a summary
 * and exits 0 only if every echo matched (1 if not, 2 on a usage or socket error). A unix
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
import { mkdtempSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { platform } from "../src/index.ts";
import { SocketError } from "../src/errors.ts";
import * as P from "../src/posix.ts";
import { formatAddress, type Address, type RawAddress } from "../src/sockaddr.ts";
import { Socket } from "../src/socket.ts";

const MSG_TRUNC = platform.table.constants.MSG_TRUNC;
const linux = platform.key.startsWith("linux-");

type Family = "inet" | "inet6" | "unix";
type Kind = "stream" | "dgram" | "seqpacket";

function usage(message?: string): never {
  if (message) process.stderr.write(`echo: ${message}\n`);
  process.stderr.write(
    "usage: echo.ts server --family inet|inet6|unix --type stream|dgram|seqpacket [--host H] [--port P] [--path P|--abstract NAME]\n" +
      "       echo.ts client <same options> [--count N] [--size BYTES] [--timeout MS]\n",
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
        timeout: { type: "string" }, help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    return usage((e as Error).message);
  }
})();

if (values.help) usage();
const mode = positionals[0];
if (positionals.length !== 1 || (mode !== "server" && mode !== "client")) usage("the first argument is server or client");
const family = values.family as Family;
const kind = values.type as Kind;
if (!["inet", "inet6", "unix"].includes(family)) usage("--family must be inet, inet6 or unix");
if (!["stream", "dgram", "seqpacket"].includes(kind)) usage("--type must be stream, dgram or seqpacket");
if (family === "unix" && (values.host !== undefined || values.port !== undefined)) usage("--host/--port are for inet and inet6");
if (family !== "unix" && (values.path !== undefined || values.abstract !== undefined)) usage("--path/--abstract are for unix");
if (values.path !== undefined && values.abstract !== undefined) usage("give --path or --abstract, not both");

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

function log(line: string): void {
  process.stderr.write(`echo ${mode}: ${line}\n`);
}

/** A SocketError's message, anything else as thrown. */
function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function isAgain(e: unknown): boolean {
  return e instanceof SocketError && (e.code === "EAGAIN" || e.code === "EWOULDBLOCK");
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// ------------------------------------------------------------------------------------------
// server

async function server(): Promise<number> {
  const address = addressOf();
  const listener = kind === "dgram" ? new Socket(family, "dgram") : Socket.listen(address, { type: kind });
  let createdPath: string | null = null;
  const conns: { sock: Socket; peer: string }[] = [];
  let stop: string | null = null;
  const onSignal = (sig: string) => () => { stop = sig; };
  process.on("SIGINT", onSignal("SIGINT"));
  process.on("SIGTERM", onSignal("SIGTERM"));
  try {
    if (kind === "dgram") listener.bind(address);
    if (address.family === "unix" && address.path !== undefined) createdPath = address.path;
    listener.timeout = 0; // non-blocking: poll() says when to call
    writeSync(1, `listening ${formatAddress(listener.localAddress)}\n`);

    const buffer = new Uint8Array(1 << 20);
    let fds = P.array(P.pollfd, 16);
    const READY = P.POLLIN | P.POLLHUP | P.POLLERR;
    while (stop === null) {
      const n = 1 + conns.length;
      if (fds.length < n) fds = P.array(P.pollfd, n * 2);
      fds[0]!.fd = listener.fd;
      fds[0]!.events = P.POLLIN;
      fds[0]!.revents = 0;
      conns.forEach((c, i) => {
        const f = fds[i + 1]!;
        f.fd = c.sock.fd;
        f.events = P.POLLIN;
        f.revents = 0;
      });
      const r = P.poll(fds, n, 100);
      if (r < 0 && P.errno() !== P.EINTR) throw new SocketError("poll", P.errno());
      if (r > 0) {
        if (fds[0]!.revents & READY) {
          if (kind === "dgram") serveDatagrams(listener, buffer);
          else acceptAll(listener, conns);
        }
        // Walk backwards so a closed connection can be removed in place.
        for (let i = n - 2; i >= 0; i--) {
          if (!(fds[i + 1]!.revents & READY)) continue;
          if (!echoOnce(conns[i]!, buffer)) {
            log(`closed ${conns[i]!.peer}`);
            conns[i]!.sock.close();
            conns.splice(i, 1);
          }
        }
      }
      await yieldToEventLoop(); // signal handlers run here
    }
    log(`${stop}: shutting down`);
    return 0;
  } finally {
    for (const c of conns) c.sock.close();
    listener.close();
    if (createdPath !== null) {
      try { unlinkSync(createdPath); } catch (e) { log(`cannot remove ${createdPath}: ${describe(e)}`); }
    }
  }
}

function acceptAll(listener: Socket, conns: { sock: Socket; peer: string }[]): void {
  for (let i = 0; i < 64; i++) {
    let accepted: [Socket, Address | RawAddress];
    try {
      accepted = listener.accept();
    } catch (e) {
      if (isAgain(e)) return;
      if (e instanceof SocketError && (e.code === "ECONNABORTED" || e.code === "EMFILE" || e.code === "ENFILE")) {
        log(`accept: ${e.message}`);
        return;
      }
      throw e;
    }
    const [sock, peer] = accepted;
    sock.timeout = 5000; // a client that stops reading cannot stall the server for longer
    conns.push({ sock, peer: formatAddress(peer) });
    log(`accepted ${formatAddress(peer)}`);
  }
}

/** Reads once from a connection and echoes it; false when the connection is finished. */
function echoOnce(c: { sock: Socket; peer: string }, buffer: Uint8Array): boolean {
  try {
    // seqpacket: one recv is one record (a larger record would be cut at the buffer size).
    const n = c.sock.recvInto(buffer);
    if (n === 0) return false; // end of stream (for seqpacket also an empty record: treated alike)
    if (kind === "seqpacket") c.sock.send(buffer.subarray(0, n));
    else c.sock.sendAll(buffer.subarray(0, n));
    return true;
  } catch (e) {
    log(`${c.peer}: ${describe(e)}`);
    return false;
  }
}

function serveDatagrams(sock: Socket, buffer: Uint8Array): void {
  for (let i = 0; i < 64; i++) {
    let n: number;
    let from: Address | RawAddress;
    try {
      // MSG_TRUNC (Linux): the return value is the datagram's real size even if it was larger.
      [n, from] = sock.recvFromInto(buffer, buffer.length, linux ? MSG_TRUNC : 0);
    } catch (e) {
      if (isAgain(e)) return;
      log(`recvfrom: ${describe(e)}`);
      return;
    }
    if (n > buffer.length) {
      log(`datagram of ${n} bytes from ${formatAddress(from)} truncated to ${buffer.length}; not echoed`);
      continue;
    }
    if (typeof from.family === "number" || (from.family === "unix" && from.path === undefined && from.abstract === undefined)) {
      log(`cannot reply to ${formatAddress(from)} (an unbound unix datagram client): bind the client`);
      continue;
    }
    try {
      sock.sendTo(buffer.subarray(0, n), from as Address);
    } catch (e) {
      log(`sendto ${formatAddress(from)}: ${describe(e)}`); // full queue (EAGAIN) or gone: dropped
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

async function client(): Promise<number> {
  const address = addressOf();
  const count = integer("count", values.count, 5, 1, 1_000_000);
  const size = integer("size", values.size, 1000, kind === "dgram" ? 0 : 1, 1 << 26);
  const timeout = integer("timeout", values.timeout, 5000, 1, 600_000);
  if (family === "unix" ? address.family === "unix" && address.path === undefined && address.abstract === undefined : values.port === undefined) {
    usage(family === "unix" ? "the client needs --path or --abstract" : "the client needs --port");
  }

  let tempDir: string | null = null;
  let sock: Socket;
  if (kind === "dgram") {
    sock = new Socket(family, "dgram");
    try {
      if (family === "unix") {
        // The server replies to our address, so we need one.
        if (linux) sock.bind({ family: "unix" }); // autobind: the kernel picks an abstract name
        else {
          tempDir = mkdtempSync(join(tmpdir(), "echo-client-"));
          sock.bind({ family: "unix", path: join(tempDir, "c.sock") });
        }
      }
      sock.timeout = timeout;
      sock.connect(address); // a connected datagram socket only receives from the server
    } catch (e) {
      sock.close();
      throw e;
    }
  } else {
    sock = Socket.connect(address, { type: kind, timeout });
  }

  let matched = 0;
  const started = performance.now();
  try {
    const echo = new Uint8Array(size + 1);
    for (let i = 0; i < count; i++) {
      const m = message(i, size);
      let got: Uint8Array;
      try {
        got = kind === "stream" ? exchangeStream(sock, m, echo) : exchangeRecord(sock, m, echo);
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
    const ms = (performance.now() - started).toFixed(1);
    const line = `${matched}/${count} echoes of ${size} bytes matched, ${formatAddress(sock.localAddress)} -> ${formatAddress(sock.remoteAddress)} (${family} ${kind}), ${ms} ms`;
    writeSync(1, `${line}\n`);
    return matched === count ? 0 : 1;
  } finally {
    sock.close();
    if (tempDir !== null) rmSync(tempDir, { recursive: true, force: true });
  }
}

/**
 * Stream: send in chunks and read each chunk's echo before the next, so neither side can fill
 * both socket buffers and deadlock however large the message.
 */
function exchangeStream(sock: Socket, m: Uint8Array, echo: Uint8Array): Uint8Array {
  const CHUNK = 1 << 16;
  for (let off = 0; off < m.length; off += CHUNK) {
    const end = Math.min(off + CHUNK, m.length);
    sock.sendAll(m.subarray(off, end));
    let got = off;
    while (got < end) {
      const n = sock.recvInto(echo.subarray(got, end));
      if (n === 0) return echo.subarray(0, got); // server closed early
      got += n;
    }
  }
  return echo.subarray(0, m.length);
}

/** Datagram or record: one send, one receive (into a buffer one byte larger, to see a too-long echo). */
function exchangeRecord(sock: Socket, m: Uint8Array, echo: Uint8Array): Uint8Array {
  const sent = sock.send(m);
  if (sent !== m.length) throw new Error(`send took ${sent} of ${m.length} bytes`);
  const n = sock.recvInto(echo);
  return echo.subarray(0, n);
}

try {
  process.exitCode = mode === "server" ? await server() : await client();
} catch (e) {
  log(describe(e));
  process.exitCode = 2;
}
