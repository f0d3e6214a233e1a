/**
 * The soak workload, shared by `npm run soak` (soak/run.ts, full size) and test/soak.test.ts
 * (CI size): `connections` concurrent TCP connections over loopback, each sending `messages`
 * records of 512 B through bsdsock Sockets to an echo peer (soak/peer.c, compiled with cc) and
 * checking every echoed record, plus one `streamBytes` stream through the same peer — all in ONE
 * thread, driven by poll() from src/posix.ts over a raw pollfd array.
 *
 * Every record is [conn u32][seq u32][crc32(payload) u32][magic u32][496 B payload], the
 * payload a slice of a seeded random pool chosen by (conn, seq). The receiver checks the
 * connection id, that seq is exactly the next one (a smaller one is a duplicate, a larger one a
 * loss or reordering), the magic, and the crc32 of the payload. The stream carries a block index
 * at the start of every 4 KiB block (checked in order) and a running crc32 of all bytes sent and
 * received. Any discrepancy is counted and reported; the run fails on any.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { table } from "../ffi/platform.ts";
import { SocketError } from "../src/core/errors.ts";
import * as P from "../src/posix.ts";
import { Socket } from "../src/socket/socket.ts";
import { mulberry32 } from "../test/prng.ts";

const C = table.constants;
const PFD = table.structs.pollfd;
const LE = table.expressions.LITTLE_ENDIAN === 1;

export const RECORD = 512;
const HEADER = 16;
const PAYLOAD = RECORD - HEADER;
const MAGIC = 0xb5d50c4b;
const BLOCK = 4096;

export interface SoakOptions {
  readonly connections: number;
  readonly messages: number;
  /** Bytes of the single stream (0: none). */
  readonly streamBytes: number;
  /** Records in flight per connection (default 32). */
  readonly window?: number;
  /** Give up (and fail) after this long (default 300 s). */
  readonly timeLimitMs?: number;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
  readonly seed?: number;
}

export interface SoakResult {
  readonly ok: boolean;
  readonly seconds: number;
  readonly connections: number;
  readonly messagesPerConnection: number;
  readonly recordsSent: number;
  readonly recordsVerified: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly reordered: number;
  readonly corrupted: number;
  readonly recordBytesEachWay: number;
  readonly streamBytesSent: number;
  readonly streamBytesVerified: number;
  readonly streamCrcSent: number;
  readonly streamCrcReceived: number;
  readonly streamBlockErrors: number;
  readonly pollCalls: number;
  readonly peerExit: number | null;
  readonly peerStderr: string;
  readonly errors: readonly string[];
}

/** Compiles soak/peer.c (once per call) into a temp dir; returns [binary, cleanup]. */
export function buildPeer(): [string, () => void] {
  const cc = [process.env.CC, "cc", "gcc", "clang"].find((c) => c && Bun.which(c));
  if (!cc) throw new Error("soak needs a C compiler (cc/gcc/clang) for its echo peer");
  const dir = mkdtempSync(join(tmpdir(), "bsdsock-soak-"));
  const bin = join(dir, "peer");
  const r = Bun.spawnSync([cc, "-O2", "-Wall", "-o", bin, join(import.meta.dir, "peer.c")]);
  if (r.exitCode !== 0) throw new Error(`cc peer.c failed:\n${r.stderr.toString()}`);
  return [bin, () => rmSync(dir, { recursive: true, force: true })];
}

const prng = mulberry32;

interface Conn {
  id: number;
  sock: Socket;
  fd: number;
  sent: number; // records handed to send (fully or partially)
  verified: number; // records received and checked
  out: Uint8Array; // pending bytes of the current batch
  outBuf: Uint8Array;
  outOff: number;
  outLen: number;
  inBuf: Uint8Array;
  inLen: number;
  done: boolean;
}

interface Stream {
  sock: Socket;
  fd: number;
  total: number;
  sent: number;
  received: number;
  chunk: Uint8Array;
  chunkOff: number;
  chunkLen: number;
  crcSent: number;
  crcReceived: number;
  blockErrors: number;
  writeShut: boolean;
  done: boolean;
}

/** send() on a non-blocking Socket: bytes sent, 0 if it would block. */
function trySend(sock: Socket, buf: Uint8Array): number {
  try {
    return sock.send(buf);
  } catch (e) {
    if (e instanceof SocketError && e.code === "EAGAIN") return 0;
    throw e;
  }
}

/** recv() on a non-blocking Socket: bytes received (0 = EOF), -1 if it would block. */
function tryRecv(sock: Socket, buf: Uint8Array): number {
  try {
    return sock.recvInto(buf);
  } catch (e) {
    if (e instanceof SocketError && e.code === "EAGAIN") return -1;
    throw e;
  }
}

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const { connections, messages, streamBytes } = opts;
  const window = opts.window ?? 32;
  const timeLimitMs = opts.timeLimitMs ?? 300_000;
  const log = opts.log ?? (() => {});
  const errors: string[] = [];
  const t0 = performance.now();

  const [bin, cleanup] = buildPeer();
  const nConns = connections + (streamBytes > 0 ? 1 : 0);
  const peer = spawn(bin, [String(nConns), String(Math.ceil(timeLimitMs / 1000) + 30)], { stdio: ["ignore", "pipe", "pipe"] });
  let peerStderr = "";
  peer.stderr!.on("data", (d: Buffer) => { peerStderr += d.toString(); });
  const peerExit = new Promise<number | null>((resolve) => peer.on("exit", (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error("peer did not print its port within 10 s")), 10_000);
    peer.stdout!.on("data", (d: Buffer) => {
      text += d.toString();
      if (text.includes("\n")) { clearTimeout(timer); resolve(Number(text.trim())); }
    });
    peer.on("exit", (code) => { clearTimeout(timer); reject(new Error(`peer exited (${code}) before listening: ${peerStderr}`)); });
  });

  // The payload pool and per-record offsets (same formula on both sides of the check).
  const rnd = prng(opts.seed ?? 0x50a4);
  const pool = new Uint8Array(1 << 20);
  for (let i = 0; i < pool.length; i += 4) new DataView(pool.buffer).setUint32(i, rnd());
  const slot = (conn: number, seq: number) => (Math.imul(conn, 2654435761) + Math.imul(seq, 40503)) >>> 0;
  const payloadAt = (conn: number, seq: number) => {
    const off = slot(conn, seq) % (pool.length - PAYLOAD);
    return pool.subarray(off, off + PAYLOAD);
  };

  const conns: Conn[] = [];
  let stream: Stream | null = null;
  let lost = 0, duplicated = 0, reordered = 0, corrupted = 0, recordsSent = 0, recordsVerified = 0, pollCalls = 0;
  const addr = { family: "inet", host: "127.0.0.1", port } as const;
  try {
    for (let i = 0; i < connections; i++) {
      const sock = Socket.connect(addr, { timeout: 10_000 });
      sock.setOption("noDelay", true);
      sock.timeout = 0; // non-blocking: poll() says when
      const outBuf = new Uint8Array(window * RECORD);
      conns.push({ id: i, sock, fd: sock.fd, sent: 0, verified: 0, out: outBuf, outBuf, outOff: 0, outLen: 0, inBuf: new Uint8Array(64 * 1024 + RECORD), inLen: 0, done: messages === 0 });
    }
    if (streamBytes > 0) {
      const sock = Socket.connect(addr, { timeout: 10_000 });
      sock.timeout = 0;
      stream = { sock, fd: sock.fd, total: streamBytes, sent: 0, received: 0, chunk: new Uint8Array(256 * 1024), chunkOff: 0, chunkLen: 0, crcSent: 0, crcReceived: 0, blockErrors: 0, writeShut: false, done: false };
    }
    log(`connected ${connections} connections${stream ? " + 1 stream" : ""} to the peer on port ${port} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

    const n = conns.length + (stream ? 1 : 0);
    const pfd = new Uint8Array(n * PFD.size);
    const pv = new DataView(pfd.buffer);
    const FD = PFD.fields.fd.offset, EV = PFD.fields.events.offset, REV = PFD.fields.revents.offset;
    const setEvents = (i: number, fd: number, ev: number) => { pv.setInt32(i * PFD.size + FD, ev ? fd : -1, LE); pv.setInt16(i * PFD.size + EV, ev, LE); };
    const recvBuf = new Uint8Array(256 * 1024);
    const recvView = new DataView(recvBuf.buffer);

    /** Fills a connection's batch with the next records (up to the window). */
    const fill = (c: Conn) => {
      const k = Math.min(window - (c.sent - c.verified), messages - c.sent);
      if (k <= 0) return;
      const v = new DataView(c.outBuf.buffer);
      for (let j = 0; j < k; j++) {
        const seq = c.sent + j;
        const base = j * RECORD;
        const payload = payloadAt(c.id, seq);
        v.setUint32(base, c.id, true);
        v.setUint32(base + 4, seq, true);
        v.setUint32(base + 8, Bun.hash.crc32(payload), true);
        v.setUint32(base + 12, MAGIC, true);
        c.outBuf.set(payload, base + HEADER);
      }
      c.sent += k;
      recordsSent += k;
      c.outOff = 0;
      c.outLen = k * RECORD;
    };

    const check = (c: Conn, r: Uint8Array, rv: DataView, base: number) => {
      const id = rv.getUint32(base, true);
      const seq = rv.getUint32(base + 4, true);
      const crc = rv.getUint32(base + 8, true);
      const magic = rv.getUint32(base + 12, true);
      const payload = r.subarray(base + HEADER, base + RECORD);
      if (id !== c.id || magic !== MAGIC || Bun.hash.crc32(payload) !== crc || crc !== Bun.hash.crc32(payloadAt(c.id, seq))) {
        corrupted++;
        if (errors.length < 20) errors.push(`conn ${c.id}: corrupted record at seq ${c.verified} (header id ${id} seq ${seq} magic ${magic.toString(16)})`);
      } else if (seq < c.verified) {
        duplicated++;
        if (errors.length < 20) errors.push(`conn ${c.id}: duplicate seq ${seq}, expected ${c.verified}`);
      } else if (seq > c.verified) {
        if (seq < c.sent) reordered++;
        else lost++;
        if (errors.length < 20) errors.push(`conn ${c.id}: seq ${seq}, expected ${c.verified}`);
      }
      c.verified++;
      recordsVerified++;
    };

    const stampChunk = (s: Stream) => {
      const len = Math.min(s.chunk.length, s.total - s.sent);
      const off = slot(0xffff, s.sent / s.chunk.length) % (pool.length - s.chunk.length);
      s.chunk.set(pool.subarray(off, off + len));
      const v = new DataView(s.chunk.buffer);
      for (let b = 0; b + 8 <= len; b += BLOCK) v.setBigUint64(b, BigInt((s.sent + b) / BLOCK), true);
      s.chunkOff = 0;
      s.chunkLen = len;
      s.crcSent = Bun.hash.crc32(s.chunk.subarray(0, len), s.crcSent);
    };

    let lastLog = performance.now();
    const deadline = t0 + timeLimitMs;
    let remaining = conns.filter((c) => !c.done).length + (stream ? 1 : 0);
    while (remaining > 0) {
      if (performance.now() > deadline) {
        errors.push(`time limit of ${timeLimitMs} ms reached with ${remaining} connections unfinished`);
        break;
      }
      for (let i = 0; i < conns.length; i++) {
        const c = conns[i]!;
        if (c.done) { setEvents(i, c.fd, 0); continue; }
        if (c.outLen === 0 && c.sent < messages && c.sent - c.verified < window) fill(c);
        setEvents(i, c.fd, C.POLLIN | (c.outLen > 0 ? C.POLLOUT : 0));
      }
      if (stream) {
        const s = stream;
        if (!s.done) {
          if (s.chunkLen === 0 && s.sent < s.total) stampChunk(s);
          if (s.sent === s.total && s.chunkLen === 0 && !s.writeShut) { s.sock.shutdown("write"); s.writeShut = true; }
          setEvents(conns.length, s.fd, C.POLLIN | (s.chunkLen > 0 ? C.POLLOUT : 0));
        } else setEvents(conns.length, s.fd, 0);
      }
      const r = P.poll(pfd, n, 1000);
      pollCalls++;
      if (r < 0) {
        if (P.errno() === table.errno.EINTR) continue;
        throw new Error(`poll: ${P.strerror(P.errno())}`);
      }
      if (r === 0) continue;
      for (let i = 0; i < conns.length; i++) {
        const rev = pv.getInt16(i * PFD.size + REV, LE);
        if (rev === 0) continue;
        const c = conns[i]!;
        if (rev & C.POLLOUT && c.outLen > 0) {
          const w = trySend(c.sock, c.outBuf.subarray(c.outOff, c.outOff + c.outLen));
          c.outOff += w;
          c.outLen -= w;
        }
        if (rev & (C.POLLIN | C.POLLHUP | C.POLLERR)) {
          const got = tryRecv(c.sock, c.inBuf.subarray(c.inLen));
          if (got < 0) continue;
          if (got === 0) {
            errors.push(`conn ${c.id}: peer closed after ${c.verified} of ${messages} records`);
            lost += messages - c.verified;
            c.done = true;
            remaining--;
            c.sock.close();
            continue;
          }
          c.inLen += got;
          const whole = c.inLen - (c.inLen % RECORD);
          const iv = new DataView(c.inBuf.buffer, c.inBuf.byteOffset);
          for (let b = 0; b < whole; b += RECORD) check(c, c.inBuf, iv, b);
          if (whole) {
            c.inBuf.copyWithin(0, whole, c.inLen);
            c.inLen -= whole;
          }
          if (c.verified >= messages) {
            if (c.inLen) { corrupted++; errors.push(`conn ${c.id}: ${c.inLen} extra bytes`); }
            c.done = true;
            remaining--;
            c.sock.close();
          }
        }
      }
      if (stream && !stream.done) {
        const s = stream;
        const rev = pv.getInt16(conns.length * PFD.size + REV, LE);
        if (rev & C.POLLOUT && s.chunkLen > 0) {
          const w = trySend(s.sock, s.chunk.subarray(s.chunkOff, s.chunkOff + s.chunkLen));
          s.chunkOff += w;
          s.chunkLen -= w;
          s.sent += w;
        }
        if (rev & (C.POLLIN | C.POLLHUP | C.POLLERR)) {
          const got = tryRecv(s.sock, recvBuf);
          if (got < 0) {
            // spurious wakeup
          } else if (got === 0) {
            s.done = true;
            remaining--;
            s.sock.close();
          } else {
            s.crcReceived = Bun.hash.crc32(recvBuf.subarray(0, got), s.crcReceived);
            const first = Math.ceil(s.received / BLOCK) * BLOCK;
            for (let b = first; b + 8 <= s.received + got; b += BLOCK) {
              if (recvView.getBigUint64(b - s.received, true) !== BigInt(b / BLOCK)) {
                s.blockErrors++;
                if (errors.length < 20) errors.push(`stream: block ${b / BLOCK} at byte ${b} has the wrong index`);
              }
            }
            s.received += got;
          }
        }
      }
      if (performance.now() - lastLog > 5000) {
        lastLog = performance.now();
        const secs = (lastLog - t0) / 1000;
        log(`${secs.toFixed(0)} s: ${recordsVerified.toLocaleString("en")} of ${(connections * messages).toLocaleString("en")} records verified, stream ${(stream ? stream.received / 2 ** 30 : 0).toFixed(2)} of ${(streamBytes / 2 ** 30).toFixed(2)} GiB`);
      }
    }
  } catch (e) {
    errors.push(e instanceof SocketError ? `${e.message} (${e.code})` : String(e));
  } finally {
    for (const c of conns) c.sock.close();
    stream?.sock.close();
  }
  const code = await Promise.race([peerExit, Bun.sleep(15_000).then(() => { peer.kill("SIGKILL"); return peerExit; })]);
  cleanup();
  for (const c of conns) if (c.verified < messages && !errors.some((e) => e.startsWith(`conn ${c.id}:`))) lost += messages - c.verified;
  const s = stream;
  if (s && (s.received !== s.total || s.crcReceived !== s.crcSent)) errors.push(`stream: received ${s.received} of ${s.total} bytes, crc32 ${s.crcReceived.toString(16)} vs sent ${s.crcSent.toString(16)}`);
  if (code !== 0) errors.push(`peer exited with ${code}: ${peerStderr.trim()}`);
  const result: SoakResult = {
    ok: false,
    seconds: (performance.now() - t0) / 1000,
    connections,
    messagesPerConnection: messages,
    recordsSent,
    recordsVerified,
    lost,
    duplicated,
    reordered,
    corrupted,
    recordBytesEachWay: recordsVerified * RECORD,
    streamBytesSent: s?.sent ?? 0,
    streamBytesVerified: s?.received ?? 0,
    streamCrcSent: s?.crcSent ?? 0,
    streamCrcReceived: s?.crcReceived ?? 0,
    streamBlockErrors: s?.blockErrors ?? 0,
    pollCalls,
    peerExit: code,
    peerStderr: peerStderr.trim(),
    errors,
  };
  const ok = errors.length === 0 && lost === 0 && duplicated === 0 && reordered === 0 && corrupted === 0 &&
    recordsVerified === connections * messages && result.streamBlockErrors === 0 &&
    (!s || (s.received === streamBytes && s.sent === streamBytes && s.crcSent === s.crcReceived));
  return { ...result, ok };
}

/** Human-readable figures. */
export function formatResult(r: SoakResult): string {
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
  const rate = (b: number) => `${(b / 2 ** 20 / r.seconds).toFixed(0)} MiB/s`;
  return [
    `${r.ok ? "PASS" : "FAIL"} in ${r.seconds.toFixed(1)} s (${r.pollCalls.toLocaleString("en")} poll calls)`,
    `records: ${r.connections} connections × ${r.messagesPerConnection.toLocaleString("en")} × ${RECORD} B = ${r.recordsVerified.toLocaleString("en")} verified of ${(r.connections * r.messagesPerConnection).toLocaleString("en")} (${gib(r.recordBytesEachWay)} each way, ${Math.round(r.recordsVerified / r.seconds).toLocaleString("en")} records/s)`,
    `  lost ${r.lost}, duplicated ${r.duplicated}, reordered ${r.reordered}, corrupted ${r.corrupted}`,
    `stream: ${gib(r.streamBytesVerified)} echoed of ${gib(r.streamBytesSent)} sent, crc32 ${r.streamCrcReceived.toString(16).padStart(8, "0")} / ${r.streamCrcSent.toString(16).padStart(8, "0")}, block-order errors ${r.streamBlockErrors}`,
    `overall ${rate(r.recordBytesEachWay * 2 + r.streamBytesVerified + r.streamBytesSent)} through bsdsock (both directions)`,
    `peer: exit ${r.peerExit}; ${r.peerStderr}`,
    ...r.errors.map((e) => `error: ${e}`),
  ].join("\n");
}
