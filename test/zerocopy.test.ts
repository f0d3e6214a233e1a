/**
 * MSG_ZEROCOPY (Linux) on real loopback sockets, where the kernel reports every completion as
 * "copied": Socket.sendZeroCopy (TCP to a python3 reader that checks a sha256, UDP, IPv6) and
 * AsyncSocket.sendZeroCopy with many sends in flight; a completion that cannot come because the
 * peer stops reading (a timeout after every byte went, saying the kernel may still read the
 * buffer), an abort and a close while waiting; the refusals; and the decoder and ledger on
 * completions built byte by byte, 32-bit wrap-around included.
 */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { AsyncSocket } from "../src/async/async.ts";
import { SocketAbortError, SocketError, SocketTimeoutError } from "../src/core/errors.ts";
import { platform } from "../src/index.ts";
import { decodeZeroCopy, zeroCopyLedger, ZeroCopyLedger } from "../src/linux/zerocopy.ts";
import type { Address } from "../src/core/sockaddr.ts";
import { Socket } from "../src/socket/socket.ts";
import { bun, expectNoFdLeaks, readUntilQuiet, root, run, start, startWithPort } from "./helpers.ts";

expectNoFdLeaks();

const T = platform.table;
const C = T.constants;
const LE = T.expressions.LITTLE_ENDIAN === 1;
const python = Bun.which("python3");
const hasV6Loopback = existsSync("/proc/net/if_inet6") && /^0{31}1 /m.test(readFileSync("/proc/net/if_inet6", "utf8"));
const reason = !platform.key.startsWith("linux-") ? "Linux only" : C.MSG_ZEROCOPY === null || !T.structs.sock_extended_err ? `no MSG_ZEROCOPY in the ${platform.key} table` : null;
if (reason) console.warn(`SKIP zerocopy: ${reason}`);

const pattern = (n: number, seed = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);
const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** A connected TCP pair on `host`: [listener, client, accepted]. */
function tcpPair(family: "inet" | "inet6" = "inet"): [Socket, Socket, Socket] {
  const l = Socket.listen(family === "inet" ? { family, host: "127.0.0.1", port: 0 } : { family, host: "::1", port: 0 });
  try {
    const c = Socket.connect(l.localAddress as Address, { timeout: 5000 });
    const [a] = l.accept();
    return [l, c, a];
  } catch (e) {
    l.close();
    throw e;
  }
}

/** Reads exactly `n` bytes from `s`. */
async function readExactly(s: AsyncSocket, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const k = await s.recvInto(out.subarray(got), { timeout: 10_000 });
    if (k === 0) break;
    got += k;
  }
  return out.subarray(0, got);
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

/**
 * A python3 peer for resets that come while a blocking call waits: it accepts with a 4 KiB
 * receive buffer, never reads, and after 0.4 s closes with SO_LINGER 0 (an RST, which purges
 * the unsent data and so completes the zero-copy sends too). Prints its port first.
 */
const resettingPeer = String.raw`
import socket, struct, sys, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
l.bind(("127.0.0.1", 0)); l.listen(1); print(l.getsockname()[1], flush=True)
c, _ = l.accept(); time.sleep(0.4)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()
`;

describe.skipIf(!!reason)("sendZeroCopy on Socket", () => {
  test.skipIf(!python)("TCP, 4 MiB in 1 MiB calls to a python3 reader: every byte right (sha256), each call reported, copied on loopback", async () => {
    using l = Socket.listen({ family: "inet", host: "127.0.0.1", port: 0 });
    const port = (l.localAddress as { port: number }).port;
    const reader = start([python!, "-c", `import socket, hashlib
s = socket.create_connection(("127.0.0.1", ${port})); h = hashlib.sha256(); n = 0
while n < ${4 << 20}:
    b = s.recv(1 << 20)
    if not b: break
    h.update(b); n += len(b)
print(n, h.hexdigest())`]);
    l.timeout = 10_000;
    using c = l.accept()[0];
    c.timeout = 10_000;
    expect(c.getOption("zeroCopy")).toBe(false);
    const all = pattern(4 << 20);
    for (let i = 0; i < 4; i++) {
      expect(c.sendZeroCopy(all.subarray(i << 20, (i + 1) << 20))).toEqual({ bytes: 1 << 20, copied: true });
    }
    expect(c.getOption("zeroCopy")).toBe(true); // sendZeroCopy turned SO_ZEROCOPY on
    expect(zeroCopyLedger(c).pending).toBe(0); // nothing held any more
    const o = await reader.done;
    expect(o.stderr).toBe("");
    expect(o.stdout).toBe(`${4 << 20} ${sha(all)}\n`);
  });

  test("UDP: one datagram of 20 000 bytes, whole; IPv6 TCP completions come as IPV6_RECVERR", () => {
    using rx = new Socket("inet", "dgram");
    rx.bind({ family: "inet", host: "127.0.0.1", port: 0 });
    rx.timeout = 5000;
    using tx = new Socket("inet", "dgram");
    tx.timeout = 5000;
    tx.connect(rx.localAddress as Address);
    const d = pattern(20_000, 7);
    expect(tx.sendZeroCopy(d)).toEqual({ bytes: 20_000, copied: true });
    expect(sha(rx.recv(65_536))).toBe(sha(d));
    if (!hasV6Loopback) return;
    const [l, c, a] = tcpPair("inet6");
    using _l = l, _c = c, _a = a;
    a.timeout = 5000;
    expect(c.sendZeroCopy(pattern(100_000))).toEqual({ bytes: 100_000, copied: true });
    let got = 0;
    for (let i = 0; i < 1000 && got < 100_000; i++) got += a.recv(1 << 20).length;
    expect(got).toBe(100_000);
  });

  test("UDP to a closed port: the datagram is sent and released (success); the ICMP error is reported once, by the next call, as after a plain send", async () => {
    let port: number;
    { using gone = new Socket("inet", "dgram"); gone.bind({ family: "inet", host: "127.0.0.1", port: 0 }); port = (gone.localAddress as { port: number }).port; }
    using tx = new Socket("inet", "dgram");
    tx.timeout = 5000;
    tx.connect({ family: "inet", host: "127.0.0.1", port });
    expect(tx.sendZeroCopy(pattern(1000))).toEqual({ bytes: 1000, copied: true });
    await Bun.sleep(20); // the port-unreachable comes back
    let e: unknown;
    try {
      tx.sendZeroCopy(pattern(1000));
    } catch (x) {
      e = x;
    }
    // The pending ICMP error surfaces from the send itself (as for plain send), once.
    if (e !== undefined) expect((e as SocketError).code).toBe("ECONNREFUSED");
    expect((e as Error | undefined)?.message ?? "").not.toContain("acknowledged");
    expect(tx.sendZeroCopy(pattern(10))).toEqual({ bytes: 10, copied: true });
  });

  test("refused before any syscall: unix sockets, strings, a non-blocking Socket; EBADF once closed", () => {
    const [u1, u2] = Socket.pair("unix", "stream");
    using _u1 = u1, _u2 = u2;
    expect(() => u1.sendZeroCopy(new Uint8Array(4))).toThrow(/TCP and UDP sockets/);
    const [l, c, a] = tcpPair();
    using _l = l, _a = a;
    expect(() => c.sendZeroCopy("text" as unknown as Uint8Array)).toThrow(/ArrayBufferView/);
    using nb = new Socket("inet", "stream", 0, { timeout: 0 });
    expect(() => nb.sendZeroCopy(new Uint8Array(4))).toThrow(/needs a blocking socket or a timeout/);
    c.close();
    expect(() => c.sendZeroCopy(new Uint8Array(4))).toThrow(/closed/);
  });

  test("a peer that stops reading: the timeout comes after every byte went, and says the buffer may still be read", () => {
    const [l, c, a] = tcpPair();
    using _l = l, _c = c, _a = a;
    a.setOption("receiveBufferSize", 4096);
    c.setOption("sendBufferSize", 4 << 20);
    c.timeout = 300;
    const data = pattern(64 << 10); // fits the send buffer, not the peer's window: never all acknowledged
    let e: unknown;
    try {
      c.sendZeroCopy(data);
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(SocketTimeoutError);
    expect((e as SocketError).bytesSent).toBe(data.length);
    expect((e as Error).message).toContain("it may still read it");
    expect(zeroCopyLedger(c).pending).toBe(1); // the buffer stays referenced
    // The peer reads everything: the kernel releases the pages, and the next call drains the report.
    a.timeout = 5000;
    let got = 0;
    for (let i = 0; i < 10_000 && got < data.length; i++) {
      a.setOption("quickAck", true); // no delayed ACK per small window
      got += a.recv(1 << 20).length;
    }
    expect(got).toBe(data.length);
    c.timeout = 5000;
    expect(c.sendZeroCopy(new Uint8Array(10))).toEqual({ bytes: 10, copied: true });
    expect(zeroCopyLedger(c).pending).toBe(0);
  });

  // The reset must come from elsewhere while this thread blocks: a python3 peer that does not
  // read (small receive window), then closes with SO_LINGER 0 (an RST, which purges the unsent
  // data and so completes the zero-copy send too).
  test.skipIf(!python)("a reset while the completion is awaited throws ECONNRESET, and the next recv reports it too (not a clean end)", async () => {
    const { port, rest } = await startWithPort([python!, "-c", resettingPeer]);
    using c = Socket.connect({ family: "inet", host: "127.0.0.1", port }, { timeout: 5000 });
    c.setOption("sendBufferSize", 4 << 20);
    const data = pattern(64 << 10); // fits the send buffer, not the peer's window
    let e: unknown;
    const t0 = performance.now();
    try {
      c.sendZeroCopy(data);
    } catch (x) {
      e = x;
    }
    expect(performance.now() - t0).toBeLessThan(4000); // the reset ended it, not the timeout
    expect(e).toBeInstanceOf(SocketError);
    expect((e as SocketError).code).toBe("ECONNRESET");
    expect((e as SocketError).bytesSent).toBe(data.length);
    expect(() => c.recv(16)).toThrow(/^recv: Connection reset by peer/);
    expect(c.recv(16)).toHaveLength(0); // reported once, then the end
    await rest;
  });
});

describe.skipIf(!!reason)("sendZeroCopy on Socket, reset mid-send", () => {
  test.skipIf(!python)("a reset while the call still waits for room throws ECONNRESET, and the next recv reports it too", async () => {
    const { port, rest } = await startWithPort([python!, "-c", resettingPeer]);
    using c = Socket.connect({ family: "inet", host: "127.0.0.1", port }, { timeout: 5000 });
    const data = pattern(8 << 20); // far beyond the send buffer: the call blocks for room
    let e: unknown;
    try {
      c.sendZeroCopy(data);
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(SocketError);
    expect((e as SocketError).code).toBe("ECONNRESET");
    expect((e as SocketError).bytesSent).toBeLessThan(data.length);
    expect(() => c.recv(16)).toThrow(/^recv: Connection reset by peer/);
    expect(c.recv(16)).toHaveLength(0); // reported once more, then the end
    await rest;
  });
});

describe.skipIf(!!reason)("sendZeroCopy on AsyncSocket", () => {
  test("16 × 1 MiB in flight at once: each promise resolves on its completion, the stream is exact", async () => {
    await using l = AsyncSocket.listen({ family: "inet", host: "127.0.0.1", port: 0 });
    const accepting = l.accept({ timeout: 5000 });
    await using c = await AsyncSocket.connect(l.localAddress as Address, { timeout: 5000 });
    await using a = (await accepting)[0];
    const chunks = Array.from({ length: 16 }, (_, i) => pattern(1 << 20, i));
    const reading = readExactly(a, 16 << 20);
    const results = await Promise.all(chunks.map((b) => c.sendZeroCopy(b, { timeout: 10_000 })));
    expect(results).toEqual(chunks.map(() => ({ bytes: 1 << 20, copied: true })));
    const got = await reading;
    expect(got.length).toBe(16 << 20);
    for (let i = 0; i < 16; i++) expect(sha(got.subarray(i << 20, (i + 1) << 20))).toBe(sha(chunks[i]!));
    expect(zeroCopyLedger(c.socket).pending).toBe(0);
  });

  test.skipIf(!python)("a sliding window of 4 in flight to a python3 sink, 3 × 64 MiB: every promise settles (a completion read by another call's drain is settled by it)", async () => {
    // Regression: epoll computes EPOLLERR when it reports, so once one call's drain has taken a
    // completion, its edge may come without the error bit; the drainer must settle it.
    for (let round = 0; round < 3; round++) {
      using l = Socket.listen({ family: "inet", host: "127.0.0.1", port: 0 });
      const port = (l.localAddress as { port: number }).port;
      const sink = start([python!, "-c", `import socket
s = socket.create_connection(("127.0.0.1", ${port})); n = 0
while True:
    b = s.recv(1 << 20)
    if not b: break
    n += len(b)
print(n)`]);
      l.timeout = 10_000;
      await using c = AsyncSocket.from(l.accept()[0]);
      const buf = pattern(1 << 20, round);
      const flying = new Set<Promise<void>>();
      let settled = 0;
      for (let i = 0; i < 64; i++) {
        const p: Promise<void> = c.sendZeroCopy(buf, { timeout: 10_000 }).then(() => { settled++; flying.delete(p); });
        flying.add(p);
        if (flying.size >= 4) await Promise.race(flying);
      }
      await Promise.all(flying);
      expect(settled).toBe(64);
      c.shutdown("write");
      expect((await sink.done).stdout).toBe(`${64 << 20}\n`);
    }
  }, 60_000);

  test("completion timeout, abort and close while waiting reject with bytesSent; the buffer stays held until the kernel lets go", async () => {
    await using l = AsyncSocket.listen({ family: "inet", host: "127.0.0.1", port: 0 });
    const accepting = l.accept({ timeout: 5000 });
    const c = await AsyncSocket.connect(l.localAddress as Address, { timeout: 5000 });
    await using a = (await accepting)[0];
    a.setOption("receiveBufferSize", 4096);
    c.setOption("sendBufferSize", 4 << 20);
    const data = pattern(256 << 10);
    const timedOut = await rejection(c.sendZeroCopy(data, { timeout: 200 }));
    expect(timedOut).toBeInstanceOf(SocketTimeoutError);
    expect((timedOut as SocketError).bytesSent).toBe(data.length);
    expect((timedOut as Error).message).toContain("the kernel may still read the buffer");
    const ac = new AbortController();
    const pending = c.sendZeroCopy(pattern(1000), { signal: ac.signal });
    setTimeout(() => ac.abort(new Error("enough")), 50);
    const aborted = await rejection(pending);
    expect(aborted).toBeInstanceOf(SocketAbortError);
    expect((aborted as SocketError).bytesSent).toBe(1000);
    expect(zeroCopyLedger(c.socket).pending).toBe(2);
    const waiting = c.sendZeroCopy(pattern(1000));
    await Bun.sleep(20);
    c.close();
    const closed = await rejection(waiting);
    expect((closed as SocketError).code).toBe("EBADF");
    expect((closed as Error).message).toContain("socket closed while waiting");
  });

  test("a reset while a completion is awaited rejects with ECONNRESET, and the next recv still reports it (not a clean end)", async () => {
    await using l = AsyncSocket.listen({ family: "inet", host: "127.0.0.1", port: 0 });
    const accepting = l.accept({ timeout: 5000 });
    await using c = await AsyncSocket.connect(l.localAddress as Address, { timeout: 5000 });
    const a = (await accepting)[0];
    a.setOption("receiveBufferSize", 4096);
    c.setOption("sendBufferSize", 4 << 20);
    const pending = c.sendZeroCopy(pattern(64 << 10), { timeout: 5000 }); // queued, never all acknowledged
    await Bun.sleep(50);
    a.setOption("linger", { onoff: true, seconds: 0 });
    a.close(); // RST: the kernel purges the unsent data, which also completes the zero-copy send
    const e = await rejection(pending);
    expect(e).toBeInstanceOf(SocketError);
    expect((e as SocketError).code).toBe("ECONNRESET");
    expect((e as SocketError).bytesSent).toBe(64 << 10);
    const next = await rejection(c.recv(16, { timeout: 2000 }));
    expect((next as SocketError).code).toBe("ECONNRESET");
    expect(await c.recv(16, { timeout: 2000 })).toHaveLength(0); // reported once, then the end
  });

  /**
   * `body` on a client whose sends the peer never acknowledges in full (a receive window of
   * `window` bytes, 4 KiB by default) and its accepted end; all three sockets (the listener too)
   * closed after, whatever happens.
   */
  async function withStalledPair(body: (c: AsyncSocket, a: AsyncSocket) => Promise<void>, window = 4096): Promise<void> {
    const l = AsyncSocket.listen({ family: "inet", host: "127.0.0.1", port: 0 });
    let c: AsyncSocket | null = null;
    let a: AsyncSocket | null = null;
    try {
      const accepting = l.accept({ timeout: 5000 });
      c = await AsyncSocket.connect(l.localAddress as Address, { timeout: 5000 });
      a = (await accepting)[0];
      a.setOption("receiveBufferSize", window);
      await body(c, a);
    } finally {
      c?.close();
      a?.close();
      l.close();
    }
  }
  /** Resets `a`'s connection (SO_LINGER 0, close): the peer's unsent data is purged. */
  function reset(a: AsyncSocket): void {
    a.setOption("linger", { onoff: true, seconds: 0 });
    a.close();
  }

  test("a reset whose error a concurrent recv takes first still rejects the waiting zero-copy sends (never a success)", async () => {
    for (const taker of ["pending AsyncSocket recv", "the Socket underneath, at once"] as const) {
      await withStalledPair(async (c, a) => {
        c.setOption("sendBufferSize", 4 << 20);
        const receiving = taker === "pending AsyncSocket recv" ? c.recv(16, { timeout: 5000 }).then(() => null, (e: unknown) => e) : null;
        const pending = c.sendZeroCopy(pattern(64 << 10), { timeout: 5000 });
        const outcome = pending.then(() => "resolved", (e: unknown) => e);
        await Bun.sleep(50);
        reset(a); // on loopback the RST is processed before close() returns
        if (receiving === null) expect(() => c.socket.recv(16)).toThrow(/^recv: Connection reset by peer/);
        else expect(((await receiving) as SocketError).code).toBe("ECONNRESET");
        const e = await outcome;
        expect({ taker, e: e instanceof SocketError ? "SocketError" : e }).toEqual({ taker, e: "SocketError" });
        // EPIPE: the ECONNRESET itself went to the other call.
        expect(["ECONNRESET", "EPIPE"]).toContain((e as SocketError).code);
        expect((e as SocketError).bytesSent).toBe(64 << 10);
      });
    }
  });

  test("a reset while a large zero-copy buffer is still being queued: the call rejects, and the next call reports the reset too", async () => {
    await withStalledPair(async (c, a) => {
      const big = c.sendZeroCopy(pattern(4 << 20), { timeout: 5000 }).then(() => "resolved", (e: unknown) => e);
      await Bun.sleep(100); // it waits for room: most of it is not queued yet
      reset(a);
      const e = await big;
      expect(e).toBeInstanceOf(SocketError);
      expect((e as SocketError).code).toBe("ECONNRESET");
      expect((e as SocketError).bytesSent).toBeLessThan(4 << 20);
      const next = await rejection(c.recv(16, { timeout: 2000 }));
      expect((next as SocketError).code).toBe("ECONNRESET");
      expect(await c.recv(16, { timeout: 2000 })).toHaveLength(0); // reported once more, then the end
    });
  });

  test("a reset while one zero-copy send waits for its completion and another for room: both reject, neither as a success", async () => {
    await withStalledPair(async (c, a) => {
      c.setOption("sendBufferSize", 1 << 20);
      const queued = c.sendZeroCopy(pattern(64 << 10), { timeout: 5000 }).then(() => "resolved", (e: unknown) => e);
      const big = c.sendZeroCopy(pattern(8 << 20), { timeout: 5000 }).then(() => "resolved", (e: unknown) => e);
      await Bun.sleep(100);
      reset(a);
      const [q, b] = await Promise.all([queued, big]);
      for (const e of [q, b]) {
        expect(e).toBeInstanceOf(SocketError);
        expect(["ECONNRESET", "EPIPE"]).toContain((e as SocketError).code);
      }
      // Whichever call took the reset from the kernel, it was reported as ECONNRESET at least once.
      expect([q, b].some((e) => (e as SocketError).code === "ECONNRESET")).toBe(true);
    });
  });

  /** What `conn` reads until its end. */
  async function drain(conn: AsyncSocket): Promise<number> {
    let got = 0;
    const buf = new Uint8Array(1 << 16);
    for (let i = 0; i < 1_000_000; i++) { // bounded: each read waits at most 5 s, and gets >= 1 byte or the end
      const n = await conn.recvInto(buf, { timeout: 5000 });
      if (n === 0) break;
      got += n;
    }
    return got;
  }

  test("a later call's own error that is no connection failure (EPIPE after shutdown) fails that call only: the sends waiting are delivered and resolve", async () => {
    await withStalledPair(async (c, a) => {
      c.setOption("sendBufferSize", 8 << 20); // every byte queued before the shutdown
      const sends = Array.from({ length: 4 }, (_, i) => c.sendZeroCopy(pattern(1 << 20, i), { timeout: 20_000 }).then((r) => r.bytes, (e: unknown) => e));
      await Bun.sleep(100); // the peer does not read: completions pending
      c.shutdown("write");
      expect(((await rejection(c.sendZeroCopy(pattern(100), { timeout: 2000 }))) as SocketError).code).toBe("EPIPE");
      expect(await drain(a)).toBe(4 << 20);
      expect(await Promise.all(sends)).toEqual([1 << 20, 1 << 20, 1 << 20, 1 << 20]);
    }, 16 << 10); // a small window, yet big enough for the drain to reopen it at once
  });

  test("both ends half-closed gracefully while sends wait (a hang-up with data still in flight) is no failure: they resolve", async () => {
    await withStalledPair(async (c, a) => {
      c.setOption("sendBufferSize", 8 << 20); // every byte queued before the shutdown
      a.shutdown("write"); // the peer's FIN first
      const sends = Array.from({ length: 4 }, (_, i) => c.sendZeroCopy(pattern(1 << 20, i), { timeout: 20_000 }).then((r) => r.bytes, (e: unknown) => e));
      await Bun.sleep(100);
      c.shutdown("write"); // POLLHUP from here on, with data unacknowledged
      expect(await drain(a)).toBe(4 << 20);
      expect(await Promise.all(sends)).toEqual([1 << 20, 1 << 20, 1 << 20, 1 << 20]);
    }, 16 << 10); // a small window, yet big enough for the drain to reopen it at once
  });

  test("a reset is reported once more by exactly one later call, however many sends were in line", async () => {
    await withStalledPair(async (c, a) => {
      const sends = Array.from({ length: 6 }, () => c.sendZeroCopy(pattern(1 << 20), { timeout: 8000 }).then(() => "ok", (e: unknown) => e as SocketError));
      await Bun.sleep(30);
      reset(a);
      const outcomes = await Promise.all(sends);
      expect(outcomes).not.toContain("ok");
      const after: unknown[] = [];
      for (let k = 0; k < 3; k++) after.push(await c.recv(10, { timeout: 1000 }).then((b) => (b.length === 0 ? "EOF" : "data"), (e: unknown) => e));
      const again = (e: unknown): boolean => e instanceof SocketError && e.note === "the connection failed while a zero-copy send waited";
      // Reported once more, by exactly one later call (a send in line, or the recv), then the end.
      expect([...outcomes, ...after].filter(again)).toHaveLength(1);
      expect([...outcomes, ...after].filter(again).map((e) => (e as SocketError).code)).toEqual(["ECONNRESET"]);
      expect(after.at(-1)).toBe("EOF");
    });
  });

  test("the process exits after a completion wait times out, with the sockets still open", async () => {
    const o = await run([bun, `${root}/test/fixtures/zerocopy-exit.ts`], {}, 10_000);
    expect(o.stdout.trim()).toBe("rejected SocketTimeoutError pending=1");
    expect(o.code).toBe(0);
  });

  test("an already aborted signal rejects with SocketAbortError and bytesSent 0; UDP empty data is an empty datagram", async () => {
    await using t = new AsyncSocket("inet", "stream");
    const e = await rejection(t.sendZeroCopy(new Uint8Array(4), { signal: AbortSignal.abort(new Error("no")) }));
    expect(e).toBeInstanceOf(SocketAbortError);
    expect((e as SocketError).bytesSent).toBe(0);
    using r = new Socket("inet", "dgram");
    r.bind({ family: "inet", host: "127.0.0.1", port: 0 });
    r.timeout = 2000;
    await using u = new AsyncSocket("inet", "dgram");
    u.socket.connect(r.localAddress as Address);
    expect(await u.sendZeroCopy(new Uint8Array(0))).toEqual({ bytes: 0, copied: false });
    expect(r.recvFrom(16)[0]).toHaveLength(0);
    using s = new Socket("inet", "dgram");
    s.connect(r.localAddress as Address);
    s.timeout = 2000;
    expect(s.sendZeroCopy(new Uint8Array(0))).toEqual({ bytes: 0, copied: false });
    expect(r.recvFrom(16)[0]).toHaveLength(0);
  });

  test("detached views of any kind are refused, not sent as empty; a buffer transferred while waiting says the kernel may still read it", async () => {
    await using l = AsyncSocket.listen({ family: "inet", host: "127.0.0.1", port: 0 });
    const accepting = l.accept({ timeout: 5000 });
    await using c = await AsyncSocket.connect(l.localAddress as Address, { timeout: 5000 });
    await using a = (await accepting)[0];
    for (const make of [() => new DataView(new ArrayBuffer(8)), () => new Int32Array(4), () => new Uint8Array(8)]) {
      const v = make();
      (v.buffer as ArrayBuffer).transfer();
      expect(await rejection(c.sendZeroCopy(v))).toBeInstanceOf(TypeError);
    }
    const [sl, sc, sa] = tcpPair();
    using _sl = sl, _sc = sc, _sa = sa;
    sc.timeout = 2000;
    const dv = new DataView(new ArrayBuffer(8));
    (dv.buffer as ArrayBuffer).transfer();
    expect(() => sc.sendZeroCopy(dv)).toThrow(/no memory/);
    a.setOption("receiveBufferSize", 4096);
    c.setOption("sendBufferSize", 65536);
    const big = new ArrayBuffer(8 << 20);
    const pending = c.sendZeroCopy(new Uint8Array(big), { timeout: 5000 });
    await Bun.sleep(50);
    big.transfer();
    // The peer reads: room comes back, and the next attempt sees the buffer gone.
    const reading = readUntilQuiet(a, 1000);
    const e = await rejection(pending);
    c.close();
    await reading;
    expect(e).toBeInstanceOf(TypeError);
    expect((e as Error).message).toContain("the kernel may still read the bytes already queued");
    const sent = (e as { bytesSent: number }).bytesSent;
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(8 << 20);
  });

  test("refusals reject: a unix socket, a string", async () => {
    const [u1, u2] = AsyncSocket.pair("unix", "stream");
    await using _u1 = u1, _u2 = u2;
    expect(await rejection(u1.sendZeroCopy(new Uint8Array(1)))).toBeInstanceOf(TypeError);
    await using t = new AsyncSocket("inet", "stream");
    expect(await rejection(t.sendZeroCopy("x" as unknown as Uint8Array))).toBeInstanceOf(TypeError);
  });
});

describe.skipIf(!!reason)("decodeZeroCopy and the ledger (completions built from the table's layout)", () => {
  const S = T.structs.sock_extended_err!;
  function serr(origin: number, errno: number, code: number, info: number, data: number): Uint8Array {
    const b = new Uint8Array(S.size + 16); // the offender address follows in a real message
    const v = new DataView(b.buffer);
    v.setUint32(S.fields.ee_errno.offset, errno, LE);
    b[S.fields.ee_origin.offset] = origin;
    b[S.fields.ee_code.offset] = code;
    v.setUint32(S.fields.ee_info.offset, info, LE);
    v.setUint32(S.fields.ee_data.offset, data, LE);
    return b;
  }

  test("a zero-copy report decodes to its range and copied flag; anything else is not one", () => {
    const Z = C.SO_EE_ORIGIN_ZEROCOPY!;
    expect(decodeZeroCopy(C.SOL_IP!, C.IP_RECVERR!, serr(Z, 0, 0, 5, 9))).toEqual({ first: 5, last: 9, copied: false });
    expect(decodeZeroCopy(C.SOL_IPV6!, C.IPV6_RECVERR!, serr(Z, 0, C.SO_EE_CODE_ZEROCOPY_COPIED!, 7, 7))).toEqual({ first: 7, last: 7, copied: true });
    expect(decodeZeroCopy(C.SOL_IP!, C.IP_RECVERR!, serr(Z, T.errno.ECONNREFUSED!, 0, 1, 2))).toBeUndefined(); // an error, not a completion
    expect(decodeZeroCopy(C.SOL_IP!, C.IP_RECVERR!, serr(Z + 1, 0, 0, 1, 2))).toBeUndefined(); // another origin
    expect(decodeZeroCopy(C.SOL_IPV6!, C.IP_RECVERR!, serr(Z, 0, 0, 1, 2))).toBeUndefined(); // level and type disagree
    expect(decodeZeroCopy(C.SOL_IP!, C.IP_RECVERR!, serr(Z, 0, 0, 1, 2).subarray(0, S.size - 1))).toBeUndefined(); // short
  });

  test("ranges count across tickets, in any order, across the 32-bit wrap, never beyond a ticket", () => {
    const L = new ZeroCopyLedger();
    L.startAt(0xfffffffe);
    const a = L.open(new Uint8Array(1)); // ids 0xfffffffe, 0xffffffff, 0
    for (let i = 0; i < 3; i++) L.recordSend(a);
    L.seal(a);
    const b = L.open(new Uint8Array(1)); // ids 1, 2
    L.recordSend(b);
    L.recordSend(b);
    L.seal(b);
    expect(L.pending).toBe(2);
    L.complete({ first: 1, last: 2, copied: false }); // the later one first
    expect([a.done, b.done, b.copied]).toEqual([false, true, false]);
    L.complete({ first: 0xffffffff, last: 0, copied: true }); // wraps
    expect([a.completed, a.done]).toEqual([2, false]);
    L.complete({ first: 0xfffffff0, last: 0xfffffffe, copied: false }); // covers one of a's and ids before it
    expect([a.completed, a.done, a.copied]).toEqual([3, true, true]);
    const empty = L.open(new Uint8Array(0)); // nothing sent: done when sealed
    L.seal(empty);
    expect(empty.done).toBe(true);
  });
});
