/**
 * sendmmsg/recvmmsg on real sockets: UDP v4/v6 and unix dgram batches of 64 in one call,
 * received intact and in order (also by a python3 receiver), recvMany taking several at once
 * with lengths/senders/truncation, connected sockets, the sendmsg/recvmsg loop fallback,
 * hostile arguments refused before any syscall, and EAGAIN/timeout behaviour.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { table } from "../ffi/platform.ts";
import { SocketError, SocketTimeoutError } from "../src/core/errors.ts";
import { DatagramBatch, hasMmsg, MAX_BATCH, recvMany, sendMany } from "../src/socket/mmsg.ts";
import type { Address } from "../src/core/sockaddr.ts";
import { Socket } from "../src/socket/socket.ts";
import { expectNoFdLeaks, ownSockets, scratchDir, start } from "./helpers.ts";

const C = table.constants;
expectNoFdLeaks();
const own = ownSockets();
const dir = scratchDir();
const enc = new TextEncoder();
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const python = Bun.which("python3");
/** Linux's net.unix.max_dgram_qlen: how many datagrams a unix receiver queues. */
const qlen = (() => { try { return Number(require("node:fs").readFileSync("/proc/sys/net/unix/max_dgram_qlen", "utf8")); } catch { return 10; } })();

/** Datagram i: distinct content and length. */
const payload = (i: number): Uint8Array => enc.encode(`datagram ${i} ${"x".repeat(i)}`);
const batchOf = (n: number): Uint8Array[] => Array.from({ length: n }, (_, i) => payload(i));

/** A bound receiver and a sender (bound too, so its address is known) of one family. */
function pairOf(kind: "inet" | "inet6" | "unix", name: string): { rx: Socket; tx: Socket; to: Address; from: Address } {
  const addr = (suffix: string): Address =>
    kind === "unix" ? { family: "unix", path: join(dir, `${name}-${suffix}.sock`) }
      : kind === "inet" ? { family: "inet", host: "127.0.0.1", port: 0 } : { family: "inet6", host: "::1", port: 0 };
  const rx = own(new Socket(kind, "dgram"));
  const tx = own(new Socket(kind, "dgram"));
  rx.bind(addr("rx"));
  tx.bind(addr("tx"));
  rx.timeout = 2000; // a bug must fail the test, not hang it
  return { rx, tx, to: rx.localAddress as Address, from: tx.localAddress as Address };
}

/** Receives `n` datagrams with recvMany (several calls if need be, bounded). */
function receiveAll(rx: Socket, n: number, size = 256) {
  const got: { data: string; address: unknown; bytes: number }[] = [];
  for (let calls = 0; got.length < n && calls < n; calls++) {
    const bufs = Array.from({ length: n - got.length }, () => new Uint8Array(size));
    for (const m of rx.recvMany(bufs)) got.push({ data: text(m.data), address: m.address, bytes: m.bytes });
  }
  return got;
}

for (const kind of ["inet", "inet6", "unix"] as const) {
  describe(`${kind} dgram`, () => {
    test("64 datagrams in one sendMany, each received intact and in order", () => {
      const { rx, tx, to, from } = pairOf(kind, "order");
      const d = batchOf(64);
      let got: ReturnType<typeof receiveAll>;
      if (kind !== "unix") {
        expect(tx.sendMany(d, to)).toBe(64);
        got = receiveAll(rx, 64);
      } else {
        // A unix receiver queues only net.unix.max_dgram_qlen (often 10) datagrams: a
        // non-blocking sender gets partial counts and sends the rest after the reader drained.
        tx.timeout = 0;
        got = [];
        let off = 0;
        let calls = 0;
        for (; off < 64 && calls < 1000; calls++) {
          let n = 0;
          try { n = tx.sendMany(d.slice(off), to); } catch (e) { expect((e as SocketError).code).toBe("EAGAIN"); }
          expect(n).toBeLessThanOrEqual(64 - off);
          off += n;
          if (n) got.push(...receiveAll(rx, n));
        }
        expect(off).toBe(64);
        // batched: the kernel took as many per call as the queue had room for
        expect(calls).toBeLessThanOrEqual(qlen >= 64 ? 1 : Math.ceil(64 / qlen));
      }
      expect(got.map((g) => g.data)).toEqual(d.map(text));
      expect(got.map((g) => g.bytes)).toEqual(d.map((b) => b.byteLength));
      for (const g of got) expect(g.address).toEqual(from);
    });

    test("recvMany takes several queued datagrams in one call, with lengths and senders", () => {
      const { rx, tx, to, from } = pairOf(kind, "several");
      for (let i = 0; i < 5; i++) tx.sendTo(payload(i), to);
      const bufs = Array.from({ length: 8 }, () => new Uint8Array(100));
      const r = rx.recvMany(bufs);
      expect(r.length).toBe(5); // MSG_WAITFORONE: what is queued, not a wait for all 8
      r.forEach((m, i) => {
        expect(text(m.data)).toBe(text(payload(i)));
        expect(m.bytes).toBe(payload(i).byteLength);
        expect(m.data.buffer).toBe(bufs[i]!.buffer);
        expect(m.address).toEqual(from);
        expect(m.truncated).toBe(false);
      });
    });

    test("truncation is reported per message", () => {
      const { rx, tx, to } = pairOf(kind, "trunc");
      expect(tx.sendMany([enc.encode("short"), enc.encode("a much longer datagram")], to)).toBe(2);
      const r = rx.recvMany([new Uint8Array(8), new Uint8Array(8)]);
      expect(r.map((m) => [text(m.data), m.truncated])).toEqual([["short", false], ["a much l", true]]);
      expect(r[1]!.bytes).toBe(8);
      expect(r[1]!.flags & C.MSG_TRUNC).toBe(C.MSG_TRUNC);
    });

    test("connected socket: no address", () => {
      const { rx, tx, to } = pairOf(kind, "conn");
      tx.connect(to);
      expect(tx.sendMany(batchOf(8))).toBe(8);
      expect(receiveAll(rx, 8).map((g) => g.data)).toEqual(batchOf(8).map(text));
    });
  });
}

test("unix dgram socketpair: unnamed sender, empty datagram", () => {
  const [a, b] = own(Socket.pair("unix", "dgram"));
  b.timeout = 2000;
  expect(a.sendMany([new Uint8Array(0), enc.encode("x")])).toBe(2);
  const r = b.recvMany([new Uint8Array(4), new Uint8Array(4)]);
  expect(r.map((m) => m.bytes)).toEqual([0, 1]);
  expect(r[0]!.address).toEqual({ family: "unix" });
});

test("plain functions on an fd", () => {
  const { rx, tx, to } = pairOf("inet", "plain");
  expect(sendMany(tx.fd, batchOf(3), to)).toBe(3);
  const r = recvMany(rx.fd, [new Uint8Array(64), new Uint8Array(64), new Uint8Array(64)], C.MSG_WAITFORONE ?? 0);
  expect(r.map((m) => text(m.data))).toEqual(batchOf(3).map(text));
  rx.timeout = 0;
  try {
    recvMany(rx.fd, [new Uint8Array(8)], C.MSG_DONTWAIT);
    throw new Error("no EAGAIN");
  } catch (e) {
    expect((e as SocketError).code).toBe("EAGAIN");
  }
});

describe("DatagramBatch", () => {
  test("reused across calls, zero-allocation accessors", () => {
    const { rx, tx, to, from } = pairOf("inet", "reuse");
    const batch = new DatagramBatch(16);
    const bufs = Array.from({ length: 16 }, () => new Uint8Array(64));
    for (let round = 0; round < 20; round++) {
      const d = batchOf(16).map((b) => { const c = new Uint8Array(b.byteLength + 1); c.set(b); c[b.byteLength] = round; return c; });
      expect(batch.send(tx.fd, d, to)).toBe(16);
      let got = 0;
      for (let calls = 0; got < 16 && calls < 16; calls++) {
        const n = batch.recv(rx.fd, bufs.slice(got), C.MSG_WAITFORONE ?? 0, C.AF_INET);
        for (let i = 0; i < n; i++) {
          expect(batch.length(i)).toBe(d[got + i]!.byteLength);
          expect(bufs[got + i]![batch.length(i) - 1]).toBe(round);
          expect(batch.address(i)).toEqual(from);
          expect(batch.truncated(i)).toBe(false);
        }
        got += n;
      }
      expect(got).toBe(16);
    }
  });

  test("the sendmsg/recvmsg loop fallback gives the same results", () => {
    const { rx, tx, to, from } = pairOf("inet6", "loop");
    const batch = new DatagramBatch(64, { loop: true });
    expect(batch.loop).toBe(true);
    expect(batch.send(tx.fd, batchOf(64), to)).toBe(64);
    const bufs = Array.from({ length: 64 }, () => new Uint8Array(256));
    const n = batch.recv(rx.fd, bufs, 0, C.AF_INET6);
    expect(n).toBe(64);
    const r = batch.results();
    expect(r.map((m) => text(m.data))).toEqual(batchOf(64).map(text));
    expect(r.every((m) => JSON.stringify(m.address) === JSON.stringify(from))).toBe(true);
    // truncation, and an empty queue after the first: the count so far, no wait
    tx.sendMany([enc.encode("0123456789")], to);
    expect(batch.recv(rx.fd, [new Uint8Array(4), new Uint8Array(4)], 0, C.AF_INET6)).toBe(1);
    expect(batch.truncated(0)).toBe(true);
    expect(batch.length(0)).toBe(4);
    rx.timeout = 0;
    expect(batch.recv(rx.fd, [new Uint8Array(4)], 0)).toBe(-1); // WOULD_BLOCK
  });

  test("capacity bounds", () => {
    expect(() => new DatagramBatch(0)).toThrow(RangeError);
    expect(() => new DatagramBatch(MAX_BATCH + 1)).toThrow(RangeError);
    expect(() => new DatagramBatch(1.5)).toThrow(RangeError);
    const b = new DatagramBatch(2);
    expect(() => b.send(0, [new Uint8Array(1), new Uint8Array(1), new Uint8Array(1)])).toThrow(/at most 2/);
    expect(() => b.address(0)).toThrow(RangeError);
  });

  test("platform: sendmmsg/recvmmsg on Linux", () => {
    expect(hasMmsg).toBe(table.platform.startsWith("linux-"));
  });
});

describe("hostile inputs throw before any syscall", () => {
  // fd 1_000_000 is not open: had a syscall been made it would fail with EBADF, not TypeError.
  const bad = 1_000_000;
  const to: Address = { family: "inet", host: "127.0.0.1", port: 9 };
  const cases: [string, () => unknown][] = [
    ["not an array", () => sendMany(bad, "abc" as never, to)],
    ["a string element", () => sendMany(bad, ["abc"] as never, to)],
    ["a DataView element", () => sendMany(bad, [new DataView(new ArrayBuffer(4))] as never, to)],
    ["an Int32Array element", () => sendMany(bad, [new Int32Array(2)] as never, to)],
    ["a look-alike", () => sendMany(bad, [Object.create(Uint8Array.prototype)] as never, to)],
    ["a Proxy", () => sendMany(bad, [new Proxy(new Uint8Array(4), {})] as never, to)],
    ["null", () => sendMany(bad, [null] as never, to)],
    ["a hole", () => sendMany(bad, new Array(2) as never, to)],
    ["recv: not a Uint8Array", () => recvMany(bad, [{ byteLength: 10 }] as never)],
  ];
  for (const [name, fn] of cases) test(name, () => expect(fn).toThrow(TypeError));

  test("detached buffers", () => {
    const d = new Uint8Array(8);
    structuredClone(d.buffer, { transfer: [d.buffer] });
    expect(() => sendMany(bad, [new Uint8Array(1), d], to)).toThrow(/detached/);
    expect(() => recvMany(bad, [d])).toThrow(/detached/);
  });

  test("a getter that detaches an earlier element is caught (elements are checked after all are read)", () => {
    const first = new Uint8Array(8);
    const list = [first, new Uint8Array(1)];
    Object.defineProperty(list, 1, { get: () => { structuredClone(first.buffer, { transfer: [first.buffer] }); return new Uint8Array(1); } });
    expect(() => sendMany(bad, list, to)).toThrow(/detached/);
  });

  test("more than UIO_MAXIOV messages", () => {
    const many = Array.from({ length: MAX_BATCH + 1 }, () => new Uint8Array(1));
    expect(() => sendMany(bad, many, to)).toThrow(RangeError);
    expect(() => recvMany(bad, many)).toThrow(RangeError);
    const s = own(new Socket("inet", "dgram"));
    expect(() => s.sendMany(many, to)).toThrow(RangeError);
    expect(() => s.recvMany(many)).toThrow(RangeError);
  });

  test("bad address and flags", () => {
    expect(() => sendMany(bad, [new Uint8Array(1)], { family: "inet", host: "nope", port: 1 })).toThrow();
    expect(() => sendMany(bad, [new Uint8Array(1)], to, 1.5)).toThrow(RangeError);
    expect(() => sendMany(-1, [new Uint8Array(1)], to)).toThrow(RangeError);
  });

  test("a shadowed byteLength is ignored", () => {
    const { rx, tx, to: dest } = pairOf("inet", "shadow");
    const d = enc.encode("four");
    Object.defineProperty(d, "byteLength", { value: 100000 });
    Object.defineProperty(d, "buffer", { get: () => { throw new Error("user getter ran"); } });
    expect(tx.sendMany([d], dest)).toBe(1);
    expect(rx.recvMany([new Uint8Array(64)])[0]!.bytes).toBe(4);
  });

  test("an empty list sends nothing", () => {
    const s = own(new Socket("inet", "dgram"));
    expect(s.sendMany([], to)).toBe(0);
    expect(s.recvMany([])).toEqual([]);
  });
});

describe("EAGAIN and timeouts", () => {
  test("recvMany: timeout 0 → EAGAIN, positive timeout → SocketTimeoutError", () => {
    const { rx } = pairOf("inet", "eagain");
    rx.timeout = 0;
    expect(() => rx.recvMany([new Uint8Array(8)])).toThrow(expect.objectContaining({ code: "EAGAIN" }));
    rx.timeout = 50;
    const t = performance.now();
    expect(() => rx.recvMany([new Uint8Array(8)])).toThrow(SocketTimeoutError);
    expect(performance.now() - t).toBeGreaterThanOrEqual(40);
  });

  test("sendMany: a full unix dgram queue gives EAGAIN (timeout 0), a partial count, then a timeout", () => {
    const [a, b] = own(Socket.pair("unix", "dgram"));
    a.timeout = 0;
    const d = Array.from({ length: 64 }, () => new Uint8Array(1024));
    let total = 0;
    let partial = false;
    let eagain = false;
    for (let i = 0; i < 10_000 && !eagain; i++) {
      try {
        const n = a.sendMany(d);
        if (n < d.length) partial = true;
        total += n;
      } catch (e) {
        expect((e as SocketError).code).toBe("EAGAIN");
        eagain = true;
      }
    }
    expect(eagain).toBe(true);
    expect(total).toBeGreaterThan(0);
    void partial; // a partial count is possible but depends on where the queue fills
    a.timeout = 50;
    expect(() => a.sendMany(d)).toThrow(SocketTimeoutError);
    // draining lets it send again, and everything that was counted as sent arrives
    b.timeout = 0;
    let received = 0;
    for (let i = 0; i < 100_000; i++) {
      try { received += b.recvMany(Array.from({ length: 64 }, () => new Uint8Array(1024))).length; } catch { break; }
    }
    expect(received).toBe(total);
    expect(a.sendMany(d.slice(0, 3))).toBe(3);
  });

  test("closed socket: EBADF", () => {
    const s = new Socket("inet", "dgram");
    s.close();
    expect(() => s.sendMany([new Uint8Array(1)])).toThrow(expect.objectContaining({ code: "EBADF" }));
    expect(() => s.recvMany([new Uint8Array(1)])).toThrow(expect.objectContaining({ code: "EBADF" }));
  });
});

test.skipIf(!python)("python3 receiver gets 64 datagrams from one sendMany, in order", async () => {
  const { tx } = pairOf("inet", "py");
  const portFile = join(dir, "py.port");
  const script = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(5)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
out = []
for _ in range(64):
    out.append(s.recv(4096).decode())
print("\\n".join(out))
`;
  const child = start([python!, "-c", script, portFile]);
  let port = 0;
  for (let i = 0; i < 500 && !port; i++) {
    try { port = Number(await Bun.file(portFile).text()); } catch { await Bun.sleep(10); }
  }
  expect(port).toBeGreaterThan(0);
  expect(tx.sendMany(batchOf(64), { family: "inet", host: "127.0.0.1", port })).toBe(64);
  const o = await child.done;
  expect(o.code).toBe(0);
  expect(o.stdout.trimEnd().split("\n")).toEqual(batchOf(64).map(text));
});
