/**
 * RSS leak check child (run by soak/rss.ts): a long loop over bsdsock's hot paths — send/recv
 * on a socketpair (fresh and reused buffers), socket create/close (socketpair, UDP, TCP), and
 * sendTo/recvFrom on loopback UDP with a fresh address object each time, plus sendMsg/recvMsg
 * with scatter lists; and the async API (AsyncSocket): one tenth as many round trips whose
 * receive waits in the reactor (with a timeout, sometimes an AbortSignal), and pairs closed
 * while a receive waits. Two warm-up passes at full size, then two measured full passes (the lower RSS counts); RSS (from
 * /proc/self/statm) after a full GC at both points, and the reactor's registrations (they must
 * come back to the same count). Prints one JSON line.
 *
 *   bun soak/rss-child.ts <sendRecv> <createClose> <sendToRecvFrom>
 */
import { readdirSync, readFileSync } from "node:fs";
import { AsyncSocket } from "../src/async/async.ts";
import { reactor } from "../src/async/reactor.ts";
import { Socket } from "../src/socket/socket.ts";

const [sendRecv, createClose, sendToRecvFrom] = process.argv.slice(2, 5).map(Number) as [number, number, number];
const PAGE = 4096;
const rss = () => Number(readFileSync("/proc/self/statm", "utf8").split(" ")[1]) * PAGE;
const fds = () => readdirSync("/proc/self/fd").length;

async function settle(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    Bun.gc(true);
    await Bun.sleep(20); // let finalizers run
  }
  return rss();
}

const [a, b] = Socket.pair("unix", "stream");
const u1 = new Socket("inet", "dgram");
const u2 = new Socket("inet", "dgram");
u1.bind({ family: "inet", host: "127.0.0.1", port: 0 });
u2.bind({ family: "inet", host: "127.0.0.1", port: 0 });
const p2 = (u2.localAddress as { port: number }).port;
b.timeout = 10_000; // a lost byte fails the check instead of hanging it
u2.timeout = 10_000;
const reuse = new Uint8Array(1024);
let checksum = 0;

function pass(scale: number): void {
  for (let i = 0; i < sendRecv * scale; i++) {
    const n = 1 + (i % 700);
    const out = i & 1 ? new Uint8Array(n).fill(i & 255) : reuse.subarray(0, n);
    a.send(out);
    let got = 0;
    while (got < n) got += i % 3 ? b.recvInto(reuse, n - got) : b.recv(n - got).length;
    if (i % 16 === 0) {
      const total = a.sendMsg({ data: [out.subarray(0, 3), "xy", new Uint8Array(5)] });
      got = 0;
      while (got < total) got += b.recvMsg({ buffers: [new Uint8Array(4), new Uint8Array(8)] }).bytes;
    }
    checksum = (checksum + got) | 0;
  }
  for (let i = 0; i < createClose * scale; i++) {
    if (i % 3 === 0) {
      const [x, y] = Socket.pair("unix", "dgram");
      x.close();
      y.close();
    } else {
      const s = new Socket("inet", i % 3 === 1 ? "dgram" : "stream");
      if (i % 5 === 0) s.setOption("reuseAddress", true);
      s.close();
    }
  }
  for (let i = 0; i < sendToRecvFrom * scale; i++) {
    u1.sendTo(reuse.subarray(0, 1 + (i % 200)), { family: "inet", host: "127.0.0.1", port: p2 });
    const [data, from] = u2.recvFrom(256);
    checksum = (checksum + data.length + (from as { port: number }).port) | 0;
  }
}

const [x, y] = AsyncSocket.pair("unix", "stream");
const abuf = new Uint8Array(1024);

/** Async round trips whose receive waits in the reactor, and pairs closed under a waiting receive. */
async function asyncPass(rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const n = 1 + (i % 500);
    const ac = i % 8 === 0 ? new AbortController() : null;
    const pending = y.recvInto(abuf, ac ? { signal: ac.signal, timeout: 10_000 } : { timeout: 10_000 });
    await x.send(abuf.subarray(0, n));
    let got = await pending;
    while (got < n) got += await y.recvInto(abuf.subarray(got), { timeout: 10_000 });
    checksum = (checksum + got) | 0;
    if (i % 64 === 0) {
      const [c, d] = AsyncSocket.pair("unix", "dgram");
      const waiting = d.recv(16).catch((e: unknown) => e);
      await Bun.sleep(0);
      d.close();
      c.close();
      await waiting;
    }
  }
}

const asyncRounds = Math.floor(sendRecv / 10);
// Warm-up: the JIT, the heap and the allocator reach their working size (two passes: after one,
// RSS still moved by a few MiB either way between runs).
for (let i = 0; i < 2; i++) {
  pass(1);
  await asyncPass(asyncRounds);
}
const fdsWarm = fds();
const watchesWarm = reactor().size;
const warm = await settle();
const t0 = performance.now();
// Two measured passes; the lower RSS after them counts. A leak raises both (it grows with the
// work done); allocator noise rarely raises both.
const ends: number[] = [];
for (let i = 0; i < 2; i++) {
  pass(1);
  await asyncPass(asyncRounds);
  ends.push(await settle());
}
const end = Math.min(...ends);
const fdsEnd = fds();
const watchesEnd = reactor().size;
x.close();
y.close();
for (const s of [a, b, u1, u2]) s.close();
console.log(JSON.stringify({ warm, end, growth: (end - warm) / warm, fdsWarm, fdsEnd, watchesWarm, watchesEnd, asyncRounds, seconds: (performance.now() - t0) / 1000, checksum }));
process.exit(0); // the reactor's Worker is unreferenced, but end now
