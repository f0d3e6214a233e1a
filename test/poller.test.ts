/**
 * Poller on real sockets (socketpairs, loopback TCP), once per backend this platform has:
 * epoll and the poll() fallback on Linux (kqueue on macOS, never run so far). Plus the proof
 * that `struct epoll_event` is packed exactly as the kernel reads it: size and data offset
 * asserted per arch (12/4 on x86_64, 16/8 on arm64 — the arm64 run is under qemu in
 * `npm run test:cross`), and a raw epoll_ctl/epoll_wait round trip of 64-bit markers.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { libc } from "../ffi/libc.ts";
import { platformKey, table } from "../ffi/platform.ts";
import { SocketError } from "../src/core/errors.ts";
import {
  availableBackends, backendAvailable, defaultBackend, epollEventLayout, Poller, type PollerBackend, type Readiness,
} from "../src/poller/poller.ts";
import { Socket } from "../src/socket/socket.ts";
import { expectNoFdLeaks, openFds, start } from "./helpers.ts";

expectNoFdLeaks();

/** Sockets and pollers made by a test, closed after it whatever happened. */
const owned: (Socket | Poller)[] = [];
function own<T extends Socket | Poller | [Socket, Socket]>(s: T): T {
  if (Array.isArray(s)) owned.push(...s);
  else owned.push(s);
  return s;
}
afterEach(() => { for (const s of owned.splice(0)) s.close(); });

const v4 = (port = 0) => ({ family: "inet", host: "127.0.0.1", port }) as const;
const portOf = (s: Socket): number => {
  const a = s.localAddress;
  if (a.family !== "inet") throw new Error("not IPv4");
  return a.port;
};
const LE = table.expressions.LITTLE_ENDIAN === 1;
const C = table.constants;

/** Generous for a blocking wait that must succeed (JS is 20–40× slower under qemu). */
const SOON = 5_000;

/** The one record for `fd` in a wait's result (fails if absent or duplicated). */
function only(ready: Readiness[], fd: number): Readiness {
  const rs = ready.filter((r) => r.fd === fd);
  expect(rs.length).toBe(1);
  return rs[0]!;
}

/** Waits (bounded) until `pred` holds for the record of `fd`; returns it. */
function waitFor(p: Poller, fd: number, pred: (r: Readiness) => boolean): Readiness {
  const deadline = performance.now() + SOON;
  for (let i = 0; i < 1000 && performance.now() < deadline; i++) {
    const r = p.wait(Math.max(1, Math.ceil(deadline - performance.now()))).find((x) => x.fd === fd);
    if (r && pred(r)) return r;
  }
  throw new Error(`fd ${fd} did not reach the expected state within ${SOON} ms`);
}

describe("backend selection", () => {
  test("the platform's best backend is the default; poll is always there", () => {
    const expected: PollerBackend = process.platform === "linux" ? "epoll" : process.platform === "darwin" ? "kqueue" : "poll";
    expect(defaultBackend).toBe(expected);
    const p = own(new Poller());
    expect(p.backend).toBe(expected);
    expect(availableBackends).toContain("poll");
    expect(availableBackends[0]).toBe(expected);
  });

  test("a backend this platform lacks is refused clearly", () => {
    const missing: PollerBackend = process.platform === "darwin" ? "epoll" : "kqueue";
    expect(backendAvailable(missing)).toBe(false);
    expect(() => new Poller({ backend: missing })).toThrow(`backend ${missing} is not available on ${platformKey}`);
    expect(() => new Poller({ backend: "select" as PollerBackend })).toThrow(TypeError);
  });
});

describe.skipIf(process.platform !== "linux")("struct epoll_event layout (the table's, proved against the kernel)", () => {
  test(`the layout the epoll backend packs with is the ${process.arch} one`, () => {
    const expected = process.arch === "arm64" ? { size: 16, eventsOffset: 0, dataOffset: 8 }
      : process.arch === "x64" ? { size: 12, eventsOffset: 0, dataOffset: 4 } : null;
    if (!expected) throw new Error(`no expectation for ${process.arch}`);
    expect(epollEventLayout).toEqual(expected);
    const t = table.structs.epoll_event!;
    expect({ size: t.size, eventsOffset: t.fields.events.offset, dataOffset: t.fields.data.offset }).toEqual(expected);
    expect(t.fields.data.size).toBe(8);
    console.log(`epoll_event on ${platformKey}: ${JSON.stringify(epollEventLayout)}`);
  });

  test("pack → epoll_ctl → epoll_wait → unpack returns every 64-bit data marker, at the table's stride", () => {
    const L = epollEventLayout!;
    const epfd = libc.epoll_create1!(C.EPOLL_CLOEXEC!);
    expect(epfd).toBeGreaterThanOrEqual(0);
    try {
      const n = 3;
      const pairs = Array.from({ length: n }, () => own(Socket.pair()));
      const markers = pairs.map(([a], i) => (0x5a5a0000n + BigInt(i)) << 32n | BigInt(a.fd));
      const ev = new Uint8Array(L.size);
      const ctl = new DataView(ev.buffer);
      pairs.forEach(([a], i) => {
        ev.fill(0);
        ctl.setUint32(L.eventsOffset, C.EPOLLIN!, LE);
        ctl.setBigUint64(L.dataOffset, markers[i]!, LE);
        expect(libc.epoll_ctl!(epfd, C.EPOLL_CTL_ADD!, a.fd, ev)).toBe(0);
      });
      for (const [, b] of pairs) b.send(new Uint8Array([1]));
      // Room for n events plus a guard band the kernel must leave untouched.
      const guard = 32;
      const out = new Uint8Array(n * L.size + guard).fill(0xee);
      const got = libc.epoll_wait!(epfd, out, n, SOON);
      expect(got).toBe(n);
      const v = new DataView(out.buffer);
      const seen: bigint[] = [];
      for (let i = 0; i < n; i++) {
        expect(v.getUint32(i * L.size + L.eventsOffset, LE) & C.EPOLLIN!).toBe(C.EPOLLIN!);
        seen.push(v.getBigUint64(i * L.size + L.dataOffset, LE));
      }
      expect(seen.sort()).toEqual([...markers].sort());
      expect([...out.subarray(n * L.size)]).toEqual(new Array(guard).fill(0xee));
    } finally {
      libc.close(epfd);
    }
  });

  test("the Poller's own round trip gives back the fd for each of several ready fds", () => {
    const p = own(new Poller({ backend: "epoll" }));
    const pairs = Array.from({ length: 5 }, () => own(Socket.pair()));
    for (const [a] of pairs) p.add(a.fd, { read: true });
    for (const [, b] of pairs) b.send(new Uint8Array([7]));
    const fds = new Set<number>();
    for (let i = 0; i < 10 && fds.size < pairs.length; i++) for (const r of p.wait(SOON)) fds.add(r.fd);
    expect([...fds].sort((x, y) => x - y)).toEqual(pairs.map(([a]) => a.fd).sort((x, y) => x - y));
  });
});

for (const backend of availableBackends) {
  describe(`Poller (${backend})`, () => {
    const make = (maxEvents?: number): Poller =>
      own(new Poller({ backend, ...(maxEvents === undefined ? {} : { maxEvents }) }));

    test("an empty set times out: wait(0) returns at once, wait(ms) honours the timeout", () => {
      const p = make();
      expect(p.backend).toBe(backend);
      expect(p.wait(0)).toEqual([]);
      const t0 = performance.now();
      expect(p.wait(80)).toEqual([]);
      const took = performance.now() - t0;
      expect(took).toBeGreaterThanOrEqual(70);
      expect(took).toBeLessThan(3_000);
    });

    test("a registered fd with nothing to read is not reported; the wait times out", () => {
      const p = make();
      const [a] = own(Socket.pair());
      p.add(a.fd, { read: true });
      const t0 = performance.now();
      expect(p.wait(60)).toEqual([]);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(50);
    });

    test("readable when the peer sends; level-triggered until drained", () => {
      const p = make();
      const [a, b] = own(Socket.pair());
      p.add(a.fd, { read: true });
      b.send(new TextEncoder().encode("hi"));
      expect(only(p.wait(SOON), a.fd)).toEqual({ fd: a.fd, readable: true, writable: false, hangup: false, error: false });
      expect(only(p.wait(0), a.fd).readable).toBe(true); // still there: level-triggered
      expect(new TextDecoder().decode(a.recv(16))).toBe("hi");
      expect(p.wait(0)).toEqual([]);
    });

    test("writable at once on a fresh socket; not writable once the send buffer is full", () => {
      const p = make();
      const [a] = own(Socket.pair());
      p.add(a.fd, { write: true });
      expect(only(p.wait(SOON), a.fd)).toEqual({ fd: a.fd, readable: false, writable: true, hangup: false, error: false });
      a.timeout = 0;
      const chunk = new Uint8Array(65536);
      let filled = false;
      for (let i = 0; i < 10_000 && !filled; i++) {
        try { a.send(chunk); } catch (e) { filled = (e as SocketError).code === "EAGAIN"; if (!filled) throw e; }
      }
      expect(filled).toBe(true);
      expect(p.wait(0)).toEqual([]);
    });

    test("modify switches interest; modify/remove of an unregistered fd is ENOENT, a second add EEXIST", () => {
      const p = make();
      const [a, b] = own(Socket.pair());
      p.add(a.fd, { read: true });
      expect(p.wait(0)).toEqual([]);
      p.modify(a.fd, { read: true, write: true });
      expect(only(p.wait(SOON), a.fd)).toMatchObject({ readable: false, writable: true });
      b.send(new Uint8Array([1]));
      expect(only(p.wait(SOON), a.fd)).toMatchObject({ readable: true, writable: true });
      p.modify(a.fd, { write: false });
      expect(p.wait(0)).toEqual([]);
      p.modify(a.fd, { read: true });
      expect(only(p.wait(0), a.fd)).toMatchObject({ readable: true, writable: false });
      expect(() => p.add(a.fd, { read: true })).toThrow(expect.objectContaining({ code: "EEXIST" }));
      expect(() => p.modify(b.fd, { read: true })).toThrow(expect.objectContaining({ code: "ENOENT" }));
      expect(() => p.remove(b.fd)).toThrow(expect.objectContaining({ code: "ENOENT" }));
      expect(p.has(a.fd)).toBe(true);
      expect(p.size).toBe(1);
    });

    test("remove stops reporting; the fd can be added again", () => {
      const p = make();
      const [a, b] = own(Socket.pair());
      p.add(a.fd, { read: true });
      b.send(new Uint8Array([1]));
      expect(only(p.wait(SOON), a.fd).readable).toBe(true);
      p.remove(a.fd);
      expect(p.has(a.fd)).toBe(false);
      expect(p.size).toBe(0);
      expect(p.wait(0)).toEqual([]);
      p.add(a.fd, { read: true });
      expect(only(p.wait(0), a.fd).readable).toBe(true);
    });

    test("hangup: the peer closes a socketpair → readable and hangup", () => {
      const p = make();
      const [a, b] = own(Socket.pair());
      p.add(a.fd, { read: true });
      b.close();
      const r = only(p.wait(SOON), a.fd);
      expect(r).toMatchObject({ readable: true, hangup: true, error: false });
      expect(a.recv(16).length).toBe(0); // EOF
    });

    test("TCP half close: hangup is reported with read interest, not to a writer", () => {
      const p = make();
      const server = own(Socket.listen(v4()));
      const client = own(Socket.connect(v4(portOf(server))));
      const [conn] = server.accept();
      own(conn);
      p.add(conn.fd, { write: true });
      client.shutdown("write");
      // Write interest only: the peer's FIN must not wake a writer (no busy loop), only writable.
      const w = waitFor(p, conn.fd, (r) => r.writable);
      expect(w).toMatchObject({ writable: true, hangup: false, error: false });
      p.modify(conn.fd, { read: true });
      const r = waitFor(p, conn.fd, (x) => x.hangup);
      expect(r).toMatchObject({ readable: true, hangup: true, error: false });
      expect(conn.recv(16).length).toBe(0);
    });

    test("error: a reset connection reports error (SO_ERROR = ECONNRESET) and hangup", () => {
      const p = make();
      const server = own(Socket.listen(v4()));
      const client = own(Socket.connect(v4(portOf(server))));
      const [conn] = server.accept();
      own(conn);
      p.add(client.fd, { read: true });
      conn.setOption("linger", { onoff: true, seconds: 0 });
      conn.close(); // RST
      const r = waitFor(p, client.fd, (x) => x.error);
      expect(r).toMatchObject({ error: true, hangup: true });
      expect(client.getOption("error")).toBe(table.errno.ECONNRESET);
    });

    test("error: a refused non-blocking connect reports writable + error", () => {
      const p = make();
      const probe = own(Socket.listen(v4()));
      const port = portOf(probe);
      probe.close(); // nothing listens there now
      const s = own(new Socket("inet", "stream"));
      s.timeout = 0;
      let pending = true;
      try { s.connect(v4(port)); pending = false; } catch (e) {
        const code = (e as SocketError).code;
        if (code === "ECONNREFUSED") pending = false; // refused synchronously: nothing to wait for
        else expect(["EAGAIN", "EINPROGRESS"]).toContain(code);
      }
      p.add(s.fd, { write: true });
      const r = waitFor(p, s.fd, (x) => x.writable || x.error);
      if (pending) {
        expect(r.error).toBe(true);
        expect(s.getOption("error")).toBe(table.errno.ECONNREFUSED);
      } else {
        expect(r.error || r.hangup).toBe(true);
      }
    });

    test("a listening socket is readable when a connection is pending", () => {
      const p = make();
      const server = own(Socket.listen(v4()));
      p.add(server.fd, { read: true });
      expect(p.wait(0)).toEqual([]);
      own(Socket.connect(v4(portOf(server))));
      expect(waitFor(p, server.fd, (r) => r.readable).readable).toBe(true);
      own(server.accept()[0]);
      expect(p.wait(0)).toEqual([]);
    });

    test("200 socketpairs: exactly the ones written to are reported; maxEvents caps a wait and none starves", () => {
      const pairs = Array.from({ length: 200 }, () => own(Socket.pair()));
      const big = make(256);
      const small = make(64);
      for (const [a] of pairs) { big.add(a.fd, { read: true }); small.add(a.fd, { read: true }); }
      expect(big.size).toBe(200);
      expect(big.wait(0)).toEqual([]);
      const written = pairs.filter((_, i) => i % 2 === 1);
      for (const [, b] of written) b.send(new Uint8Array([1]));
      const expected = written.map(([a]) => a.fd).sort((x, y) => x - y);
      const all = big.wait(SOON);
      expect(all.map((r) => r.fd).sort((x, y) => x - y)).toEqual(expected);
      expect(all.every((r) => r.readable && !r.writable && !r.hangup && !r.error)).toBe(true);
      const seen = new Set<number>();
      for (let i = 0; i < 3; i++) {
        const some = small.wait(SOON);
        expect(some.length).toBeLessThanOrEqual(64);
        expect(some.length).toBeGreaterThan(0);
        for (const r of some) seen.add(r.fd);
      }
      expect([...seen].sort((x, y) => x - y)).toEqual(expected);
    });

    test("EBADF: adding a closed fd; removing an fd closed while registered (and it is gone after)", () => {
      const p = make();
      const [a, b] = own(Socket.pair());
      const fd = b.fd;
      b.close();
      expect(() => p.add(fd, { read: true })).toThrow(expect.objectContaining({ code: "EBADF" }));
      expect(p.has(fd)).toBe(false);
      const [c] = own(Socket.pair());
      const cfd = c.fd;
      p.add(cfd, { read: true });
      c.close();
      expect(() => p.remove(cfd)).toThrow(expect.objectContaining({ code: "EBADF" }));
      expect(p.has(cfd)).toBe(false);
      expect(() => p.remove(cfd)).toThrow(expect.objectContaining({ code: "ENOENT" }));
      p.add(a.fd, { read: true }); // the poller still works: a's peer (b) is gone
      expect(only(p.wait(SOON), a.fd)).toMatchObject({ readable: true, hangup: true });
    });

    test("arguments are checked before any syscall", () => {
      const p = make();
      for (const fd of [-1, 1.5, 2 ** 31, Number.NaN]) expect(() => p.add(fd, { read: true })).toThrow(RangeError);
      expect(() => p.add("3" as unknown as number, { read: true })).toThrow(TypeError);
      expect(() => p.add(0, null as unknown as { read: boolean })).toThrow(TypeError);
      expect(() => p.add(0, { read: 1 } as unknown as { read: boolean })).toThrow(TypeError);
      expect(() => p.wait(-2)).toThrow(RangeError);
      expect(() => p.wait(Number.NaN)).toThrow(TypeError);
      expect(() => new Poller({ backend, maxEvents: 0 })).toThrow(RangeError);
      expect(() => new Poller({ backend, maxEvents: 65537 })).toThrow(RangeError);
      expect(() => new Poller({ backend, maxEvents: 1.5 })).toThrow(RangeError);
      expect(p.size).toBe(0);
    });

    test("close is idempotent, releases the backend fd, and later calls throw EBADF", () => {
      const before = openFds().length;
      const p = new Poller({ backend });
      const [a] = own(Socket.pair());
      p.add(a.fd, { read: true });
      expect(openFds().length).toBe(before + (backend === "poll" ? 2 : 3));
      p.close();
      p.close();
      expect(p.closed).toBe(true);
      expect(openFds().length).toBe(before + 2);
      for (const call of [() => p.add(a.fd, {}), () => p.modify(a.fd, {}), () => p.remove(a.fd), () => p.wait(0)]) {
        expect(call).toThrow(expect.objectContaining({ code: "EBADF" }));
      }
      { using q = new Poller({ backend }); q.add(a.fd, { read: true }); }
      expect(openFds().length).toBe(before + 2);
    });

    test("a signal during wait() returns [] (EINTR) well before the timeout", async () => {
      let got = 0;
      const onSignal = (): void => { got++; };
      process.on("SIGUSR1", onSignal);
      try {
        const p = make();
        const [a] = own(Socket.pair());
        p.add(a.fd, { read: true });
        const killer = start(["sh", "-c", `sleep 0.3; kill -USR1 ${process.pid}`], {}, 10_000);
        const t0 = performance.now();
        const r = p.wait(4_000);
        const took = performance.now() - t0;
        await killer.done;
        expect(r).toEqual([]);
        expect(took).toBeLessThan(3_500);
        // The JS handler runs once the loop turns (bounded).
        for (let i = 0; i < 100 && got === 0; i++) await Bun.sleep(20);
        expect(got).toBe(1);
      } finally {
        process.off("SIGUSR1", onSignal);
      }
    });
  });
}

// --- edge-triggered mode, handles and waitInto (what the async reactor is built on) -------------

const edgeBackends = availableBackends.filter((b) => b !== "poll");

describe.each(edgeBackends)("edge-triggered %s", (backend) => {
  test("an fd is reported once per change, not at every wait while it stays ready", () => {
    const p = own(new Poller({ backend, edgeTriggered: true }));
    expect(p.edgeTriggered).toBe(true);
    const [a, b] = own(Socket.pair("unix", "stream"));
    p.add(b.fd, { read: true });
    a.send("x");
    expect(p.wait(SOON).map((r) => [r.fd, r.readable])).toEqual([[b.fd, true]]);
    expect(p.wait(0)).toEqual([]); // still readable, but no new edge
    a.send("y");
    expect(p.wait(SOON).map((r) => r.fd)).toEqual([b.fd]); // new data, new edge
  });

  test("waitInto packs [fd, bits] pairs; a peer's close sets the hangup bit", () => {
    const p = own(new Poller({ backend, edgeTriggered: true }));
    const [a, b] = own(Socket.pair("unix", "stream"));
    p.add(b.fd, { read: true, write: true });
    const out = new Int32Array(2 * p.maxEvents);
    expect(p.waitInto(SOON, out)).toBe(1);
    expect(out[0]).toBe(b.fd);
    expect(out[1]! & 2).toBe(2); // READY_WRITE: the initial edge
    a.close();
    expect(p.waitInto(SOON, out)).toBe(1);
    expect(out[1]! & (1 | 4)).toBe(1 | 4); // READY_READ | READY_HANGUP
    expect(() => p.waitInto(0, new Int32Array(2))).toThrow(RangeError);
  });

  test("a Worker attached through the handle waits on the same kernel object", async () => {
    const p = own(new Poller({ backend, edgeTriggered: true, maxEvents: 8 }));
    const [a, b] = own(Socket.pair("unix", "dgram"));
    p.add(b.fd, { read: true });
    const src = `
      import { Poller } from ${JSON.stringify(new URL("../src/poller/poller.ts", import.meta.url).pathname)};
      self.onmessage = (e) => {
        const q = Poller.attach(e.data);
        const out = new Int32Array(2 * e.data.maxEvents);
        const n = q.waitInto(5000, out);
        let refused = false;
        try { q.add(0, { read: true }); } catch { refused = true; }
        q.close();
        self.postMessage({ n, fd: out[0], bits: out[1], refused });
      };`;
    const url = URL.createObjectURL(new Blob([src], { type: "application/typescript" }));
    const worker = new Worker(url);
    try {
      const got = new Promise<{ n: number; fd: number; bits: number; refused: boolean }>((r) => { worker.onmessage = (e) => r(e.data); });
      worker.postMessage(p.handle);
      await Bun.sleep(50);
      a.send("wake");
      const r = await got;
      expect(r).toEqual({ n: 1, fd: b.fd, bits: 1, refused: true });
      expect(p.closed).toBe(false); // the attached view released nothing
      expect(p.has(b.fd)).toBe(true);
    } finally {
      worker.terminate();
      URL.revokeObjectURL(url);
    }
  });
});

test("the poll backend has no edge-triggered mode and no handle", () => {
  expect(() => new Poller({ backend: "poll", edgeTriggered: true })).toThrow(TypeError);
  const p = own(new Poller({ backend: "poll" }));
  expect(() => p.handle).toThrow(TypeError);
  expect(() => Poller.attach({ backend: "poll", fd: 0, maxEvents: 1, edgeTriggered: false })).toThrow(TypeError);
});
