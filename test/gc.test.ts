/**
 * Memory safety under GC pressure: buffers handed to libc must stay alive and unmoved until the
 * call returns. Racy send/recv workloads run with `Bun.gc(true)` interleaved and garbage churned
 * between calls, using the buffer shapes most likely to expose a moved or freed buffer: fresh
 * small arrays (which JSC first stores inline in the GC cell), subarrays of temporaries nobody
 * else references, DataViews, scatter/gather lists of temporaries for sendMsg/recvMsg, and a
 * Worker peer that echoes concurrently (so the kernel copies while this thread allocates).
 * Every byte is verified (crc32 per message). Bounded in count and time.
 */
import { describe, expect, test } from "bun:test";
import { Socket } from "../src/socket/socket.ts";
import { expectNoFdLeaks } from "./helpers.ts";
import { mulberry32 } from "./prng.ts";

expectNoFdLeaks();

const prng = mulberry32;

/** Fresh bytes of a fresh shape: plain small array, subarray of a temporary, or via DataView. */
function freshBytes(rnd: () => number, n: number): { view: Uint8Array | DataView; bytes: Uint8Array } {
  const kind = rnd() % 3;
  let bytes: Uint8Array;
  if (kind === 0) bytes = new Uint8Array(n);
  else {
    const pad = rnd() % 17;
    bytes = new Uint8Array(n + pad + 9).subarray(pad, pad + n);
  }
  for (let i = 0; i < n; i++) bytes[i] = rnd() & 255;
  const view = kind === 2 ? new DataView(bytes.buffer, bytes.byteOffset, n) : bytes;
  return { view, bytes };
}

/** Allocation churn so the collector has work and moves/frees whatever is unreferenced. */
function churn(rnd: () => number): number {
  let sum = 0;
  for (let i = 0; i < 20; i++) {
    const junk = new Uint8Array(1 + (rnd() % 96));
    junk[0] = i;
    sum += junk.length + [i, { i }].length;
  }
  return sum;
}

const ITERATIONS = 4000;
const TIME_MS = 8000;

describe("send/recv under Bun.gc(true) pressure", () => {
  test("socketpair ping-pong with fresh buffers, subarrays of temporaries and DataViews: every byte arrives", () => {
    const rnd = prng(1);
    const [a, b] = Socket.pair("unix", "stream");
    a.timeout = b.timeout = 5000; // a lost byte is a timeout, not a hang
    let verified = 0;
    let gcs = 0;
    const deadline = performance.now() + TIME_MS;
    try {
      for (let i = 0; i < ITERATIONS && performance.now() < deadline; i++) {
        const n = 1 + (rnd() % 300);
        const { view, bytes } = freshBytes(rnd, n);
        const want = Bun.hash.crc32(bytes);
        a.sendAll(view);
        churn(rnd);
        if (i % 25 === 0) { Bun.gc(true); gcs++; }
        // Receive into a temporary's subarray, in pieces.
        const tmp = new Uint8Array(n + 32);
        const dst = tmp.subarray(16, 16 + n);
        let got = 0;
        while (got < n) got += b.recvInto(dst.subarray(got), n - got);
        expect(Bun.hash.crc32(dst)).toBe(want);
        expect(tmp.subarray(0, 16).every((x) => x === 0) && tmp.subarray(16 + n).every((x) => x === 0)).toBe(true);
        verified += n;
      }
    } finally {
      a.close();
      b.close();
    }
    expect(gcs).toBeGreaterThan(20);
    expect(verified).toBeGreaterThan(100_000);
  });

  test("sendMsg with scatter lists of temporaries and recvMsg into lists of fresh buffers, crc32 per message", () => {
    const rnd = prng(2);
    const [a, b] = Socket.pair("unix", "seqpacket");
    a.timeout = b.timeout = 5000;
    let messages = 0;
    const deadline = performance.now() + TIME_MS;
    try {
      for (let i = 0; i < ITERATIONS && performance.now() < deadline; i++) {
        const parts: (Uint8Array | DataView)[] = [];
        let crc = 0;
        let total = 0;
        for (let k = 0; k < 1 + (rnd() % 6); k++) {
          const { view, bytes } = freshBytes(rnd, rnd() % 200);
          parts.push(view);
          crc = Bun.hash.crc32(bytes, crc);
          total += bytes.length;
        }
        if (i % 20 === 0) Bun.gc(true);
        expect(a.sendMsg({ data: parts })).toBe(total);
        parts.length = 0; // the message is in the kernel; drop our references
        churn(rnd);
        const buffers = Array.from({ length: 1 + (rnd() % 5) }, () => new Uint8Array(1 + (rnd() % 400)));
        const room = buffers.reduce((s, x) => s + x.length, 0);
        if (room < total) buffers.push(new Uint8Array(total - room));
        if (i % 20 === 10) Bun.gc(true);
        const r = b.recvMsg({ buffers });
        expect(r.bytes).toBe(total);
        expect(r.truncated).toBe(false);
        expect(Bun.hash.crc32(r.data)).toBe(crc);
        messages++;
      }
    } finally {
      a.close();
      b.close();
    }
    expect(messages).toBeGreaterThan(500);
  });

  test("UDP sendTo/recvFrom with fresh address objects and buffers under GC: every datagram intact and from the right sender", () => {
    const rnd = prng(3);
    const rx = new Socket("inet", "dgram");
    const tx = new Socket("inet", "dgram");
    rx.timeout = 5000;
    let count = 0;
    const deadline = performance.now() + TIME_MS / 2;
    try {
      rx.bind({ family: "inet", host: "127.0.0.1", port: 0 });
      tx.bind({ family: "inet", host: "127.0.0.1", port: 0 });
      const port = (rx.localAddress as { port: number }).port;
      const txPort = (tx.localAddress as { port: number }).port;
      for (let i = 0; i < ITERATIONS / 2 && performance.now() < deadline; i++) {
        const { view, bytes } = freshBytes(rnd, 1 + (rnd() % 1200));
        const want = Bun.hash.crc32(bytes);
        tx.sendTo(view, { family: "inet", host: `127.0.0.${1 + (i % 1)}`, port });
        churn(rnd);
        if (i % 25 === 0) Bun.gc(true);
        const [data, from] = rx.recvFrom(2048);
        expect([data.length, Bun.hash.crc32(data)]).toEqual([bytes.length, want]);
        expect(from).toEqual({ family: "inet", host: "127.0.0.1", port: txPort });
        count++;
      }
    } finally {
      rx.close();
      tx.close();
    }
    expect(count).toBeGreaterThan(200);
  });

  test("a Worker echoes concurrently while this thread sends fresh buffers, collects, and receives into temporaries", async () => {
    const rnd = prng(4);
    const [mine, theirs] = Socket.pair("unix", "stream");
    mine.timeout = 5000;
    const worker = new Worker(new URL("./gc-echo-worker.ts", import.meta.url).href);
    let echoed = 0;
    try {
      const ready = new Promise<void>((resolve, reject) => {
        worker.onmessage = (e: MessageEvent) => { if (e.data === "ready") resolve(); };
        worker.onerror = (e) => reject(new Error(`worker: ${e.message}`));
      });
      worker.postMessage({ fd: theirs.detach() }); // the worker owns (and closes) it now
      await ready;
      const deadline = performance.now() + TIME_MS;
      for (let i = 0; i < ITERATIONS / 2 && performance.now() < deadline; i++) {
        const n = 1 + (rnd() % 4000);
        const { view, bytes } = freshBytes(rnd, n);
        const want = Bun.hash.crc32(bytes);
        mine.sendAll(view);
        churn(rnd);
        if (i % 10 === 0) Bun.gc(true);
        const into = new Uint8Array(n + 8).subarray(8);
        let got = 0;
        while (got < n) got += mine.recvInto(into.subarray(got), n - got);
        expect(Bun.hash.crc32(into)).toBe(want);
        echoed += n;
      }
      mine.shutdown("write");
      const done = new Promise<number>((resolve) => { worker.onmessage = (e: MessageEvent) => resolve((e.data as { echoed: number }).echoed); });
      const theirCount = await Promise.race([done, Bun.sleep(10_000).then(() => -1)]);
      expect(theirCount).toBe(echoed);
    } finally {
      mine.close();
      worker.terminate();
    }
    expect(echoed).toBeGreaterThan(100_000);
  });
});
