/**
 * Hostile input at the Socket / address / option level (the C-shaped layer has its own fuzz in
 * posix-args.test.ts): bad ports, bad lengths, detached / shrunk / transferred buffers, bad
 * address strings (Go's net ParseIP and dial-error tables, parsed only — never dialled), bad
 * fds, and 1 000+ close() calls interleaved with fd reuse, in one thread and across a Worker.
 *
 * How "rejected before any syscall" is proven: a STALE socket — a Socket whose fd number was
 * closed underneath it (a high number nothing else will get). Any syscall on it fails with
 * EBADF; a hostile argument must instead give TypeError/RangeError. A control call with valid
 * arguments shows the EBADF. Where a live socket is used, the proof is the missing side effect
 * (still unbound, not autobound by sendto, queued data still there, peer got nothing).
 */
import { describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { table } from "../ffi/platform.ts";
import { SocketError } from "../src/core/errors.ts";
import { getOptionFd, setOptionFd } from "../src/socket/options.ts";
import { recvMsg, sendMsg } from "../src/socket/msg.ts";
import * as P from "../src/posix.ts";
import { encodeAddress, SOCKADDR_MAX, type Address } from "../src/core/sockaddr.ts";
import { Socket } from "../src/socket/socket.ts";
import { expectNoFdLeaks, openFds, ownSockets } from "./helpers.ts";

expectNoFdLeaks();

const C = table.constants;

/** Sockets made by a test, closed after it whatever happened. */
const own = ownSockets(); // stale sockets report EBADF on close: ownSockets tolerates it

/** What a call threw: its class name and, for SocketError, the errno code. */
function thrown(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof SocketError) return `SocketError ${e.code}`;
    return (e as Error).constructor.name;
  }
  return "returned";
}

/** The fd's inode identity ("socket:[123]"), or null if it is closed. */
function identity(fd: number): string | null {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

/**
 * A Socket whose fd was closed underneath it: `fd` is a high number (≥ 900) that the lowest-free
 * fd rule will not hand out again during the test. Every syscall on it fails with EBADF.
 */
let staleSerial = 0;
function stale(family: "inet" | "inet6" | "unix" = "inet", type: "stream" | "dgram" = "dgram"): Socket {
  const s = new Socket(family, type);
  const high = P.fcntl(s.fd, C.F_DUPFD_CLOEXEC, 900 + (staleSerial++ % 50) * 2);
  expect(high).toBeGreaterThanOrEqual(900);
  s.close();
  const st = own(Socket.fromFd(high));
  expect(P.close(high)).toBe(0);
  expect(identity(high)).toBeNull();
  return st;
}

const BAD_PORTS: unknown[] = ["", " ", "0x", -1, 65536, NaN, Infinity, 1.5, true, [], {}, null, undefined, "80", -0.5, 2 ** 32, 1n];
const BAD_LENGTHS: unknown[] = [-1, 2 ** 31, 2 ** 64 - 1, 2 ** 53, 1.5, NaN, Infinity, -Infinity, "8", null, {}, 8n];

describe("ports", () => {
  const families = [["inet", "127.0.0.1"], ["inet6", "::1"]] as const;
  for (const [family, host] of families) {
    for (const port of BAD_PORTS) {
      test(`${family} port ${Bun.inspect(port)}: RangeError from bind/connect/sendTo/sendMsg before any syscall`, () => {
        const addr = { family, host, port } as unknown as Address;
        const s = stale(family);
        expect(thrown(() => s.bind({ family, host, port: 0 } as Address))).toBe("SocketError EBADF"); // control
        expect(thrown(() => s.bind(addr))).toBe("RangeError");
        expect(thrown(() => s.connect(addr))).toBe("RangeError");
        expect(thrown(() => s.sendTo("x", addr))).toBe("RangeError");
        expect(thrown(() => s.sendMsg({ data: "x", address: addr }))).toBe("RangeError");
        expect(thrown(() => encodeAddress(addr, new Uint8Array(SOCKADDR_MAX)))).toBe("RangeError");
        // On a live unbound UDP socket: nothing happened (sendto would have autobound it).
        const live = own(new Socket(family, "dgram"));
        expect(thrown(() => live.sendTo("x", addr))).toBe("RangeError");
        expect(thrown(() => live.bind(addr))).toBe("RangeError");
        expect((live.localAddress as { port: number }).port).toBe(0);
      });
    }
  }

  test("Socket.connect / Socket.listen with a bad port close the socket they made (no fd leak)", () => {
    const before = openFds().length;
    for (const port of BAD_PORTS) {
      expect(thrown(() => Socket.connect({ family: "inet", host: "127.0.0.1", port } as unknown as Address))).toBe("RangeError");
      expect(thrown(() => Socket.listen({ family: "inet6", host: "::1", port } as unknown as Address))).toBe("RangeError");
    }
    expect(openFds().length).toBe(before);
  });
});

describe("lengths", () => {
  for (const n of BAD_LENGTHS) {
    test(`length ${Bun.inspect(n)}: TypeError/RangeError before any syscall`, () => {
      const s = stale("unix", "dgram");
      const buf = new Uint8Array(16);
      const want = typeof n === "number" ? "RangeError" : "TypeError";
      expect(thrown(() => s.recvInto(buf, 8))).toBe("SocketError EBADF"); // control
      expect(thrown(() => s.recvInto(buf, n as number))).toBe(want);
      expect(thrown(() => s.recvFromInto(buf, n as number))).toBe(want);
      expect(thrown(() => s.recv(n as number))).toBe(n === 2 ** 31 ? "SocketError EBADF" : want); // 2^31 is a valid size_t
      expect(thrown(() => s.recvFrom(n as number))).toBe(n === 2 ** 31 ? "SocketError EBADF" : want);
      expect(thrown(() => s.getRawOption(C.SOL_SOCKET, C.SO_TYPE, n as number))).toBe(n === 2 ** 31 ? "SocketError EBADF" : want);
      expect(thrown(() => s.recvMsg({ controlSize: n as number }))).toBe(want);
      if (n !== null) expect(thrown(() => s.recvMsg({ maxFds: n as number }))).toBe(want); // null = default (0)
      expect(thrown(() => s.listen(n as number))).toBe(n === 2 ** 31 || n === 2 ** 53 || n === 2 ** 64 - 1 || !Number.isInteger(n) ? want : "SocketError EBADF");
    });
  }

  test("a length larger than the buffer is refused and the queued data is still there", () => {
    const [a, b] = own(Socket.pair("unix", "dgram"));
    a.send("queued");
    const buf = new Uint8Array(4);
    for (const n of [5, 16, 2 ** 31, 2 ** 32 - 1]) {
      expect(thrown(() => b.recvInto(buf, n))).toBe("RangeError");
      expect(thrown(() => b.recvFromInto(buf, n))).toBe("RangeError");
    }
    // A view's length is the real one: an own `byteLength` or a subclass getter is ignored.
    const liar = new Uint8Array(4);
    Object.defineProperty(liar, "byteLength", { value: 4096 });
    expect(thrown(() => b.recvInto(liar, 4096))).toBe("RangeError");
    class Big extends Uint8Array { override get byteLength(): number { return 1 << 20; } }
    expect(thrown(() => b.recvInto(new Big(4), 1 << 20))).toBe("RangeError");
    expect(new TextDecoder().decode(b.recv(64))).toBe("queued");
  });

  test("a huge recv size that cannot be allocated is a RangeError, not a crash", () => {
    const s = stale();
    expect(thrown(() => s.recv(2 ** 40))).toBe("RangeError");
    expect(thrown(() => s.recvMsg({ size: 2 ** 40 }))).toBe("RangeError");
    expect(thrown(() => s.recvMsg({ size: -1 }))).toBe("RangeError");
  });
});

describe("detached, transferred and resized buffers", () => {
  test("a transferred (detached) buffer is refused by send, sendMsg and recv (TypeError): nothing read or written, no empty record sent", () => {
    const [a, b] = own(Socket.pair("unix", "seqpacket"));
    const ab = new ArrayBuffer(64);
    const view = new Uint8Array(ab, 8, 16);
    const dv = new DataView(ab);
    const moved = ab.transfer();
    expect(view.byteLength).toBe(0);
    // Sending from it would put an empty record on the wire (or spin a stream send loop).
    expect(thrown(() => a.send(view))).toBe("TypeError");
    // A DataView over a detached buffer too (its own getter would throw).
    expect(thrown(() => a.send(dv))).toBe("TypeError");
    expect(thrown(() => a.sendAll(view))).toBe("TypeError");
    expect(thrown(() => a.sendMsg({ data: [view, dv, "ok"] }))).toBe("TypeError");
    // An ordinary empty buffer still sends an empty record, as send(fd, buf, 0) does in C.
    expect(a.send(new Uint8Array(0))).toBe(0);
    expect(a.sendMsg({ data: ["ok"] })).toBe(2);
    expect(b.recv(16).length).toBe(0);
    expect(new TextDecoder().decode(b.recv(16))).toBe("ok");
    a.send("data");
    // Receiving into a detached buffer is refused before recv (a 0-byte receive would consume
    // the seqpacket record and read as end of stream): the record stays for the next reader.
    expect(thrown(() => b.recvInto(view, 4))).toBe("TypeError");
    expect(thrown(() => b.recvInto(view))).toBe("TypeError");
    expect(thrown(() => b.recvFromInto(view))).toBe("TypeError");
    expect(new TextDecoder().decode(b.recv(16))).toBe("data");
    expect(new Uint8Array(moved).every((x) => x === 0)).toBe(true);
  });

  // A detached scatter buffer would take a 0-byte share of the message, which recvmsg then
  // consumes: it is refused before the call.
  test("recvMsg with a detached scatter buffer loses no data (refused before recvmsg, or delivered)", () => {
    const [a, b] = own(Socket.pair("unix", "seqpacket"));
    const ab = new ArrayBuffer(8);
    const detached = new Uint8Array(ab);
    ab.transfer();
    a.send("more");
    let delivered = "";
    try {
      delivered = new TextDecoder().decode(b.recvMsg({ buffers: [detached, new Uint8Array(8)] }).data);
    } catch {
      // refused: the message must still be queued
      b.timeout = 0;
      delivered = new TextDecoder().decode(b.recv(8));
    }
    expect(delivered).toBe("more");
  });
  test("a view on a resizable buffer that was shrunk under it is out of bounds: length 0, and a tracking view never gets bytes past the new end", () => {
    const [a, b] = own(Socket.pair("unix", "dgram"));
    const ab = new ArrayBuffer(64, { maxByteLength: 128 });
    const fixed = new Uint8Array(ab, 0, 64);
    const tracking = new Uint8Array(ab);
    ab.resize(8);
    expect(fixed.byteLength).toBe(0);
    expect(tracking.byteLength).toBe(8);
    a.send("0123456789abcdef");
    expect(thrown(() => b.recvInto(fixed, 64))).toBe("RangeError");
    expect(thrown(() => b.recvInto(tracking, 16))).toBe("RangeError");
    expect(b.recvInto(tracking)).toBe(8);
    ab.resize(128);
    expect(new TextDecoder().decode(tracking.subarray(0, 8))).toBe("01234567");
    expect(tracking.subarray(8).every((x) => x === 0)).toBe(true);
    // Sending from a shrunk buffer sends only what is in bounds.
    ab.resize(3);
    expect(a.send(tracking)).toBe(3);
    expect(thrown(() => a.send(fixed))).toBe("TypeError"); // out of bounds: no memory, refused
    expect(b.recv(64).length).toBe(3);
    b.timeout = 0;
    expect(thrown(() => b.recv(64))).toBe("SocketError EAGAIN"); // nothing else was sent
  });

  test("a getter that detaches or shrinks a buffer while the options are being read: a shrunk buffer is sent or filled at its new length, an emptied one is refused", () => {
    const [a, b] = own(Socket.pair("unix", "seqpacket"));
    // shrunk by the flags getter: the kernel sees the new length
    const sab = new ArrayBuffer(32, { maxByteLength: 32 });
    const some = new Uint8Array(sab).fill(0x41);
    expect(a.sendMsg({ data: [some, "z"], get flags(): number { sab.resize(3); return 0; } })).toBe(4);
    expect(new TextDecoder().decode(b.recv(64))).toBe("AAAz");
    // detached by the flags getter or by the address getter: refused, nothing sent
    const ab = new ArrayBuffer(32);
    const data = new Uint8Array(ab).fill(0x41);
    expect(thrown(() => a.sendMsg({ data: [data, "z"], get flags(): number { ab.transfer(); return 0; } }))).toBe("TypeError");
    const ab2 = new ArrayBuffer(8);
    expect(thrown(() => a.sendMsg({ data: new Uint8Array(ab2), get address(): never { ab2.transfer(); return undefined as never; } }))).toBe("TypeError");
    b.timeout = 0;
    expect(thrown(() => b.recv(64))).toBe("SocketError EAGAIN");
    b.timeout = null;

    const rab = new ArrayBuffer(32, { maxByteLength: 32 });
    const into = new Uint8Array(rab);
    a.send("x".repeat(32));
    const r = b.recvMsg({ buffers: [into], get flags(): number { rab.resize(2); return 0; } });
    expect(r.bytes).toBe(2);
    expect(r.truncated).toBe(true);
    rab.resize(32);
    expect(Array.from(into.subarray(2)).every((x) => x === 0)).toBe(true);
    // emptied by a getter read after the buffers: refused, and the record stays queued
    a.send("kept");
    const rab0 = new ArrayBuffer(8, { maxByteLength: 8 });
    expect(thrown(() => b.recvMsg({ buffers: [new Uint8Array(rab0)], get maxFds(): number { rab0.resize(0); return 0; } }))).toBe("TypeError");
    expect(new TextDecoder().decode(b.recv(64))).toBe("kept");
  });

  test("sendMsg reads each fd once: a getter cannot swap a checked fd, or lengthen the array past SCM_MAX_FD", () => {
    const [a, b] = own(Socket.pair("unix", "stream"));
    let reads = 0;
    const fds: number[] = [];
    Object.defineProperty(fds, 0, { get: () => (++reads === 1 ? 0 : -1), enumerable: true, configurable: true });
    expect(a.sendMsg({ data: "f", fds })).toBe(1);
    expect(reads).toBe(1);
    const r = b.recvMsg({ maxFds: 1 });
    expect(r.fds.length).toBe(1);
    for (const fd of r.fds) P.close(fd);
  });

  test("send, sendTo and sendSegments send a view's real length: an own byteLength, a subclass getter or a detached buffer changes nothing", () => {
    const [a, b] = own(Socket.pair("unix", "dgram"));
    const liar = new Uint8Array(4).fill(1);
    Object.defineProperty(liar, "byteLength", { value: 4096 });
    Object.defineProperty(liar, "length", { value: 4096 });
    class Big extends Uint8Array { override get byteLength(): number { return 1 << 20; } override get length(): number { return 1 << 20; } }
    const big = new Big(3).fill(2);
    expect(a.send(liar)).toBe(4);
    expect(a.send(big)).toBe(3);
    expect(a.sendSegments(liar, 2)).toBe(4);
    expect(b.recv(64).length).toBe(4);
    expect(b.recv(64).length).toBe(3);
    expect([b.recv(64).length, b.recv(64).length]).toEqual([2, 2]);
    // sendTo: to a separately bound receiver (Linux lets a connected unix dgram socket name one)
    const c = own(Socket.pair("unix", "dgram"))[0];
    const rx = own(new Socket("unix", "dgram"));
    rx.bind({ family: "unix", abstract: `bsdsock-hostile-${process.pid}` });
    rx.timeout = 2000;
    const dest = rx.localAddress as never;
    expect(c.sendTo(liar, dest)).toBe(4);
    expect(c.sendTo(big, dest)).toBe(3);
    const ab = new ArrayBuffer(16);
    const gone = new Uint8Array(ab);
    ab.transfer();
    expect(thrown(() => c.sendTo(gone, dest))).toBe("TypeError"); // no memory: refused, no empty datagram
    expect(c.sendTo(new DataView(new ArrayBuffer(5)), dest)).toBe(5);
    expect(c.sendTo(Int32Array.of(1, 2), dest)).toBe(8);
    expect([4, 3, 5, 8].map(() => rx.recv(64).length)).toEqual([4, 3, 5, 8]);
    // bad flags are refused before any syscall, on the fast paths too
    for (const f of [1.5, NaN, 2 ** 31, -(2 ** 31) - 1, "0", null, {}]) {
      expect(thrown(() => c.send("x", f as never))).toBe(typeof f === "number" ? "RangeError" : "TypeError");
      expect(thrown(() => c.sendTo("x", dest, f as never))).toBe(typeof f === "number" ? "RangeError" : "TypeError");
      expect(thrown(() => c.sendSegments("x", 1, dest, f as never))).toBe(typeof f === "number" ? "RangeError" : "TypeError");
    }
    rx.timeout = 0;
    expect(thrown(() => rx.recv(64))).toBe("SocketError EAGAIN");
  });

  test("sendTo, sendMsg, sendMany, sendSegments: an address getter that shrinks or detaches the data's buffer cannot make libc read past it", () => {
    const rx = own(new Socket("unix", "dgram"));
    rx.bind({ family: "unix", abstract: `bsdsock-shrink-${process.pid}` });
    rx.timeout = 2000;
    const dest = rx.localAddress as { family: "unix"; abstract: Uint8Array };
    const tx = own(Socket.pair("unix", "dgram"))[0];
    const rab = new ArrayBuffer(4096, { maxByteLength: 4096 });
    const data = new Uint8Array(rab).fill(0x41);
    const shrinking = { family: "unix" as const, get abstract() { rab.resize(3); return dest.abstract; } };
    expect(tx.sendTo(data, shrinking)).toBe(3);
    expect(rx.recv(8192).length).toBe(3);
    // the same for every call that takes an address with the data
    for (const send of [
      () => tx.sendMsg({ data: [data], address: shrinking }),
      () => tx.sendMany([data], shrinking),
      () => tx.sendSegments(data, 8192, shrinking),
    ]) {
      rab.resize(4096);
      send();
      expect(rx.recv(8192).length).toBe(3);
    }
    const ab = new ArrayBuffer(64);
    const gone = new Uint8Array(ab);
    const detaching = { family: "unix" as const, get abstract() { if (!ab.detached) ab.transfer(); return dest.abstract; } };
    expect(thrown(() => tx.sendTo(gone, detaching))).toBe("TypeError"); // detached by then: refused
    // the same for every call that takes an address with the data: refused, never an empty datagram
    for (const send of [
      (d: Uint8Array, to: typeof detaching) => tx.sendMsg({ data: [d], address: to }),
      (d: Uint8Array, to: typeof detaching) => tx.sendMany([d], to),
      (d: Uint8Array, to: typeof detaching) => tx.sendSegments(d, 8, to),
    ]) {
      const b = new ArrayBuffer(64);
      const to = { family: "unix" as const, get abstract() { if (!b.detached) b.transfer(); return dest.abstract; } };
      expect(thrown(() => send(new Uint8Array(b), to))).toBe("TypeError");
    }
    rx.timeout = 0;
    expect(thrown(() => rx.recv(8192))).toBe("SocketError EAGAIN"); // nothing was sent
    rx.timeout = 2000;
    // flags are read before the data, too
    const rab2 = new ArrayBuffer(100, { maxByteLength: 100 });
    const d2 = new Uint8Array(rab2);
    const sneaky = { valueOf() { rab2.resize(1); return 0; } };
    expect(thrown(() => tx.sendTo(d2, dest, sneaky as never))).toBe("TypeError");
    expect(thrown(() => tx.send(d2, sneaky as never))).toBe("TypeError");
  });

  test("SharedArrayBuffer views, DataViews and wide typed arrays send exactly their bytes", () => {
    const [a, b] = own(Socket.pair("unix", "seqpacket"));
    const shared = new Uint8Array(new SharedArrayBuffer(8)).fill(7);
    expect(a.send(shared)).toBe(8);
    expect(Array.from(b.recv(64))).toEqual(Array(8).fill(7));
    const f64 = new Float64Array([1.5, -2]);
    expect(a.send(f64.subarray(1))).toBe(8);
    expect(Array.from(b.recv(64))).toEqual(Array.from(new Uint8Array(f64.buffer, 8, 8)));
  });

  test("non-buffer data is a TypeError before any syscall", () => {
    const s = stale();
    expect(thrown(() => s.send("ok"))).toBe("SocketError EBADF"); // control
    for (const d of [123, null, undefined, {}, [1, 2], { byteLength: 4, buffer: new ArrayBuffer(4) }, new ArrayBuffer(4), Symbol.iterator]) {
      expect(thrown(() => s.send(d as never))).toBe("TypeError");
      expect(thrown(() => s.sendAll(d as never))).toBe("TypeError");
      expect(thrown(() => s.sendTo(d as never, { family: "inet", host: "127.0.0.1", port: 9 }))).toBe("TypeError");
      expect(thrown(() => s.sendSegments(d as never, 4, { family: "inet", host: "127.0.0.1", port: 9 }))).toBe("TypeError");
      expect(thrown(() => s.recvInto(d as never))).toBe("TypeError");
      expect(thrown(() => s.sendMsg({ data: [d as never] }))).toBe("TypeError");
      expect(thrown(() => s.recvMsg({ buffers: [d as never] }))).toBe("TypeError");
    }
    // Look-alikes: an object with a typed-array prototype but no typed-array internals.
    const fake = Object.create(Uint8Array.prototype) as Uint8Array;
    expect(thrown(() => s.send(fake))).toBe("TypeError");
    expect(thrown(() => s.recvInto(fake))).toBe("TypeError");
  });
});

describe("bad address strings (Go's net tables: parsed only, never dialled)", () => {
  // golang/go src/net/ip_test.go parseIPTests (nil rows) and src/net/error_test.go dialErrorTests.
  const badV4 = [
    "", " ", "-0.0.0.0", "0.-1.0.0", "0.0.-2.0", "0.0.0.-3", "127.0.0.256", "abc", "123:", "fe80::1%lo0", "fe80::1%911",
    "a1:a2:a3:a4::b1:b2:b3:b4", "127.001.002.003", "::ffff:127.001.002.003", "123.000.000.000", "1.2..4", "0123.0.0.1",
    "127.0.0.1:☺", "no-such-name:80", "mh/astro/r70:http", "mh/astro/r70", "/path/to/somewhere", "127.0.0.1:0", "127.0.0.1:-1",
    "127.0.0.1:123456789", "[::1]:-1", "::1", "localhost", "127.0.0.1\0", "127.0.0.1 ", " 127.0.0.1", "127.1", "0x7f.0.0.1",
    "2130706433", "1.2.3.4%eth0", "1.2.3.4.5", "1.2.3", "١٢٧.0.0.1", "127.0.0.1/8",
  ];
  const badV6 = [
    "", " ", "abc", "123:", "a1:a2:a3:a4::b1:b2:b3:b4", "::ffff:127.001.002.003", "1.2..4", "127.0.0.1", "[::1]", "[::1]:80",
    "::1:", ":::", "1:2:3:4:5:6:7:8:9", "1::2::3", "::1\0", "fe80::1%", "fe80::1%eth0%eth1", "fe80::1%no-such-if0", "::1%-1",
    "::1% 1", "fe80::1%lo0\0", "::ffff:1.2.3.4.5", "gggg::1", "::12345", "2001:db8::/32",
  ];
  const goodV6 = ["::ffff:127.1.2.3", "::ffff:7f01:0203", "0:0:0:0:0000:ffff:127.1.2.3", "0:0:0:0::ffff:127.1.2.3", "2001:4860:0:2001::68", "2001:4860:0000:2001:0000:0000:0000:0068", "fe80::1%911", "fe80::1%lo"];

  test("IPv4: TypeError, and the socket stays unbound", () => {
    const s = stale("inet");
    const live = own(new Socket("inet", "dgram"));
    for (const host of badV4) {
      const a = { family: "inet", host, port: 9 } as const;
      expect([host, thrown(() => s.bind(a))]).toEqual([host, "TypeError"]);
      expect([host, thrown(() => s.connect(a))]).toEqual([host, "TypeError"]);
      expect([host, thrown(() => s.sendTo("x", a))]).toEqual([host, "TypeError"]);
      expect([host, thrown(() => live.sendTo("x", a))]).toEqual([host, "TypeError"]);
    }
    expect((live.localAddress as { port: number }).port).toBe(0);
  });

  test("IPv6: TypeError (RangeError for a zone id past 2^32-1), and the socket stays unbound", () => {
    const s = stale("inet6");
    const live = own(new Socket("inet6", "dgram"));
    for (const host of [...badV6, "::1%4294967296"]) {
      const want = host === "::1%4294967296" ? "RangeError" : "TypeError";
      const a = { family: "inet6", host, port: 9 } as const;
      expect([host, thrown(() => s.bind(a))]).toEqual([host, want]);
      expect([host, thrown(() => s.connect(a))]).toEqual([host, want]);
      expect([host, thrown(() => live.sendTo("x", a))]).toEqual([host, want]);
    }
    expect((live.localAddress as { port: number }).port).toBe(0);
  });

  test("the valid rows of Go's table parse (IPv4-mapped, leading zeros in groups, numeric and named zones)", () => {
    const out = new Uint8Array(SOCKADDR_MAX);
    for (const host of goodV6) expect([host, encodeAddress({ family: "inet6", host, port: 1 }, out)]).toEqual([host, 28]);
  });

  test("hosts that are not strings, and unknown families, are TypeErrors", () => {
    const s = stale("inet");
    for (const host of [127, null, undefined, {}, ["127.0.0.1"], new String("127.0.0.1")]) {
      expect(thrown(() => s.bind({ family: "inet", host, port: 1 } as unknown as Address))).toBe("TypeError");
    }
    for (const a of [null, undefined, "127.0.0.1:80", 80, {}, { family: "inet7" }, { family: 2, host: "127.0.0.1", port: 1 }]) {
      expect(thrown(() => s.connect(a as unknown as Address))).toBe("TypeError");
    }
  });

  test("unix paths: NUL TypeError, empty/108-byte RangeError, both path and abstract TypeError, no file created", () => {
    const dir = mkdtempSync(join(tmpdir(), "bsdsock-hostile-"));
    try {
      const s = stale("unix");
      const long = `${dir}/${"p".repeat(108 - dir.length - 1)}`;
      expect(Buffer.byteLength(long)).toBe(108);
      const cases: [Address, string][] = [
        [{ family: "unix", path: `${dir}/a\0b` }, "TypeError"],
        [{ family: "unix", path: "" }, "RangeError"],
        [{ family: "unix", path: long }, "RangeError"],
        [{ family: "unix", path: `${dir}/é`.padEnd(80, "é") }, "RangeError"], // < 108 chars, > 107 UTF-8 bytes
        [{ family: "unix", abstract: "x".repeat(108) }, "RangeError"],
        [{ family: "unix", abstract: new Uint8Array(108) }, "RangeError"],
        [{ family: "unix", path: `${dir}/x`, abstract: "y" } as unknown as Address, "TypeError"],
        [{ family: "unix", path: 7 } as unknown as Address, "TypeError"],
        [{ family: "unix", abstract: 7 } as unknown as Address, "TypeError"],
      ];
      for (const [a, want] of cases) {
        expect(thrown(() => s.bind(a))).toBe(want);
        expect(thrown(() => s.connect(a))).toBe(want);
      }
      expect(Array.from(new Bun.Glob("*").scanSync(dir))).toEqual([]); // nothing was bound
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("options", () => {
  test("unknown, wrong-access and badly-typed options are TypeError/RangeError before setsockopt/getsockopt", () => {
    const s = stale("inet", "stream");
    expect(thrown(() => s.setOption("noDelay", true))).toBe("SocketError EBADF"); // control
    expect(thrown(() => s.getOption("noDelay"))).toBe("SocketError EBADF");
    const cases: [string, unknown, string][] = [
      ["noDelay", 1, "TypeError"], ["noDelay", "true", "TypeError"], ["ttl", 0, "RangeError"], ["ttl", 256, "RangeError"],
      ["ttl", 1.5, "RangeError"], ["ttl", "64", "TypeError"], ["receiveTimeout", -1, "RangeError"], ["receiveTimeout", NaN, "RangeError"],
      ["receiveTimeout", Infinity, "RangeError"], ["linger", { onoff: 1, seconds: 0 }, "TypeError"], ["linger", { onoff: true, seconds: -1 }, "RangeError"],
      ["linger", null, "TypeError"], ["receiveBufferSize", 2 ** 31, "RangeError"], ["userTimeout", -1, "RangeError"],
      ["congestionControl", "x".repeat(16), "RangeError"], ["congestionControl", "re\0no", "TypeError"], ["congestionControl", "", "RangeError"],
      ["joinMulticastV4", { multiaddr: "10.0.0.1" }, "RangeError"], ["joinMulticastV4", { multiaddr: "239.1.1.1", interface: -1 }, "RangeError"],
      ["joinMulticastV6", { multiaddr: "::1" }, "RangeError"], ["tcpInfo", {}, "TypeError"], ["error", 0, "TypeError"],
      ["nope", 1, "TypeError"], ["__proto__", 1, "TypeError"], ["toString", 1, "TypeError"], ["constructor", 1, "TypeError"],
    ];
    for (const [name, value, want] of cases) expect([name, thrown(() => s.setOption(name as never, value as never))]).toEqual([name, want]);
    for (const name of ["nope", "__proto__", "hasOwnProperty", "joinMulticastV4", 5, null]) {
      expect([name, thrown(() => s.getOption(name as never))]).toEqual([name, "TypeError"]);
    }
    for (const [lvl, name] of [[1.5, 1], [2 ** 31, 1], ["1", 1], [1, -(2 ** 31) - 1], [1, null]] as const) {
      expect(thrown(() => s.getRawOption(lvl as number, name as number, 4))).not.toBe("SocketError EBADF");
      expect(thrown(() => s.setRawOption(lvl as number, name as number, 1))).not.toBe("SocketError EBADF");
    }
    expect(thrown(() => s.setRawOption(C.SOL_SOCKET, C.SO_RCVBUF, 2 ** 31))).toBe("RangeError");
    expect(thrown(() => s.setRawOption(C.SOL_SOCKET, C.SO_RCVBUF, "1" as never))).toBe("TypeError");
  });

  test("timeouts, flags, backlog and shutdown modes are checked before fcntl/send/listen/shutdown", () => {
    const s = stale("inet", "stream");
    for (const t of [-1, NaN, Infinity, "5", {}, true]) expect(thrown(() => { s.timeout = t as never; })).toBe("RangeError");
    expect(thrown(() => { s.timeout = 5; })).toBe("SocketError EBADF"); // control
    for (const f of [1.5, 2 ** 31, "0", null, NaN]) {
      expect(thrown(() => s.send("x", f as never))).not.toBe("SocketError EBADF");
      expect(thrown(() => s.recv(4, f as never))).not.toBe("SocketError EBADF");
    }
    for (const h of ["sideways", 1.5, null, {}]) expect(thrown(() => s.shutdown(h as never))).not.toBe("SocketError EBADF");
    for (const fam of ["inet7", 1.5, null]) expect(thrown(() => new Socket(fam as never, "stream"))).not.toMatch(/SocketError/);
  });
});

describe("fds", () => {
  test("closed, non-socket and out-of-range fds: typed errors, nothing adopted, nothing closed, nothing duplicated", () => {
    const before = openFds();
    const dir = mkdtempSync(join(tmpdir(), "bsdsock-hostile-"));
    const file = openSync(join(dir, "f"), "w+");
    const fileId = identity(file);
    try {
      for (const fd of [1.5, 2 ** 31, -(2 ** 31) - 1, NaN, "3", null, 3n]) {
        expect(thrown(() => Socket.fromFd(fd as never))).toMatch(/^(TypeError|RangeError)$/);
        expect(thrown(() => Socket.fromFd(fd as never, { duplicate: true }))).toMatch(/^(TypeError|RangeError)$/);
      }
      expect(thrown(() => Socket.fromFd(987_654))).toBe("SocketError EBADF");
      expect(thrown(() => Socket.fromFd(987_654, { duplicate: true }))).toBe("SocketError EBADF");
      const dirFd = openSync(dir, "r");
      for (const fd of [file, dirFd]) {
        expect(thrown(() => Socket.fromFd(fd))).toBe("SocketError ENOTSOCK");
        expect(thrown(() => Socket.fromFd(fd, { duplicate: true }))).toBe("SocketError ENOTSOCK");
      }
      closeSync(dirFd);
      expect(identity(file)).toBe(fileId); // still open, same file
      expect(thrown(() => getOptionFd(file, "type"))).toBe("SocketError ENOTSOCK");
      expect(thrown(() => setOptionFd(file, "noDelay", true))).toBe("SocketError ENOTSOCK");
      expect(thrown(() => sendMsg(file, { data: "x" }))).toBe("SocketError ENOTSOCK");
      expect(thrown(() => recvMsg(file, { size: 1 }))).toBe("SocketError ENOTSOCK");
      for (const fd of [1.5, 2 ** 31, "3", null]) {
        expect(thrown(() => getOptionFd(fd as never, "type"))).toMatch(/^(TypeError|RangeError)$/);
        expect(thrown(() => sendMsg(fd as never, { data: "x" }))).toMatch(/^(TypeError|RangeError)$/);
      }
    } finally {
      closeSync(file);
      rmSync(dir, { recursive: true, force: true });
    }
    expect(openFds()).toEqual(before);
  });

  // The typed API refuses negative fds itself: no syscall for an fd no process can have.
  test("negative fds are a RangeError before any syscall", () => {
    expect(thrown(() => Socket.fromFd(-1))).toBe("RangeError");
    expect(thrown(() => getOptionFd(-1, "type"))).toBe("RangeError");
    expect(thrown(() => sendMsg(-1, { data: "x" }))).toBe("RangeError");
    expect(thrown(() => setOptionFd(-1, "noDelay", true))).toBe("RangeError");
    expect(thrown(() => recvMsg(-1, { size: 1 }))).toBe("RangeError");
  });
  test("fds passed in SCM_RIGHTS are checked: negative, non-integer, > SCM_MAX_FD of them → error before sendmsg", () => {
    const s = stale("unix");
    expect(thrown(() => s.sendMsg({ data: "x", fds: [0] }))).toBe("SocketError EBADF"); // control
    for (const fds of [[-1], [1.5], ["0"], [2 ** 31], Array(254).fill(0), "0", 0, {}]) {
      expect(thrown(() => s.sendMsg({ data: "x", fds: fds as never }))).toMatch(/^(TypeError|RangeError)$/);
    }
  });
});

describe("close() storms never touch a reused fd", () => {
  test("1 000+ close() calls and use-after-close across many sockets, interleaved with new sockets that reuse the numbers", () => {
    const before = openFds();
    let rnd = 0x2545f491;
    const rand = (n: number) => ((rnd = (Math.imul(rnd ^ (rnd >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) % n);
    type Live = { s: Socket; fd: number; id: string; peer: Socket };
    const live: Live[] = [];
    const dead: Socket[] = [];
    let closes = 0;
    let uses = 0;
    const deadNumbers = new Set<number>();
    let reusedNumbers = 0;
    const make = () => {
      const [a, b] = Socket.pair("unix", "dgram");
      if (deadNumbers.has(a.fd)) reusedNumbers++;
      if (deadNumbers.has(b.fd)) reusedNumbers++;
      a.timeout = b.timeout = 1000; // no receive below can block for long
      live.push({ s: a, fd: a.fd, id: identity(a.fd)!, peer: b }, { s: b, fd: b.fd, id: identity(b.fd)!, peer: a });
    };
    for (let i = 0; i < 40; i++) make();
    const deadline = performance.now() + 15_000;
    for (let round = 0; round < 400 && performance.now() < deadline; round++) {
      // Close a few live sockets, several times each.
      for (let k = 0; k < 2 && live.length; k++) {
        const [v] = live.splice(rand(live.length), 1);
        deadNumbers.add(v!.fd);
        for (let j = 0; j < 3; j++) { v!.s.close(); closes++; }
        dead.push(v!.s);
      }
      make(); // new sockets: very likely the numbers just closed
      // Use-after-close on random dead sockets: EBADF without touching the (reused) number.
      for (let k = 0; k < 3 && dead.length; k++) {
        const d = dead[rand(dead.length)]!;
        const op = rand(6);
        const r = thrown(() => {
          if (op === 0) d.send("x");
          else if (op === 1) d.recv(1);
          else if (op === 2) d.setOption("receiveBufferSize", 4096);
          else if (op === 3) void d.localAddress;
          else if (op === 4) d.shutdown();
          else void d.fd;
        });
        expect(r).toBe("SocketError EBADF");
        d.close();
        closes++;
        uses++;
      }
      // Every live socket still has its own fd and inode.
      if (round % 20 === 0) for (const v of live) expect(identity(v.fd)).toBe(v.id);
    }
    expect(closes).toBeGreaterThanOrEqual(1000);
    expect(reusedNumbers).toBeGreaterThan(300); // the dead sockets' numbers really were handed out again
    expect(uses).toBeGreaterThan(300);
    for (const v of live) expect(identity(v.fd)).toBe(v.id);
    // The live pairs still work end to end (nothing closed or shut down under them).
    let checked = 0;
    for (const v of live) {
      if (v.peer.closed) continue;
      v.s.send("ping");
      expect(new TextDecoder().decode(v.peer.recv(8))).toBe("ping");
      checked++;
    }
    expect(checked).toBeGreaterThan(10);
    for (const v of live) v.s.close();
    expect(openFds()).toEqual(before);
  });

  test("closed and detached sockets that are garbage-collected never close the fd number they once had", async () => {
    const before = openFds();
    const reused: { s: Socket; fd: number; id: string }[] = [];
    const detachedFds: number[] = [];
    for (let i = 0; i < 200; i++) {
      let old: Socket | null = new Socket("unix", "dgram");
      const fd = old.fd;
      if (i % 2) old.close();
      else detachedFds.push(old.detach());
      old = null;
      if (i % 2) {
        const s = new Socket("unix", "dgram");
        reused.push({ s, fd: s.fd, id: identity(s.fd)! });
        void fd;
      }
    }
    for (let i = 0; i < 5; i++) {
      Bun.gc(true);
      await Bun.sleep(10); // finalizers run between turns
    }
    for (const r of reused) expect(identity(r.fd)).toBe(r.id);
    for (const fd of detachedFds) {
      expect(identity(fd)).toMatch(/^socket:/);
      expect(P.close(fd)).toBe(0);
    }
    for (const r of reused) r.s.close();
    expect(openFds()).toEqual(before);
  });

  test("a Worker dup()s and closes 1 000 times on fds it was given while this thread creates and closes sockets: nothing of ours is closed", async () => {
    const before = openFds();
    const mine: { s: Socket; fd: number; id: string }[] = [];
    for (let i = 0; i < 8; i++) {
      const s = new Socket("unix", "dgram");
      mine.push({ s, fd: s.fd, id: identity(s.fd)! });
    }
    const given = mine.slice(0, 4).map((m) => m.fd);
    const worker = new Worker(new URL("./hostile-worker.ts", import.meta.url).href);
    try {
      const done = new Promise<{ closes: number; errors: string[] }>((resolve, reject) => {
        worker.onmessage = (e: MessageEvent) => resolve(e.data as { closes: number; errors: string[] });
        worker.onerror = (e) => reject(new Error(`worker: ${e.message}`));
      });
      worker.postMessage({ fds: given, rounds: 1000 });
      const deadline = Date.now() + 20_000;
      let made = 0;
      let result: { closes: number; errors: string[] } | null = null;
      void done.then((r) => { result = r; });
      while (result === null && Date.now() < deadline) {
        const [a, b] = Socket.pair("unix", "dgram");
        a.send("k");
        expect(b.recv(1).length).toBe(1);
        a.close();
        b.close();
        a.close();
        made++;
        if (made % 50 === 0) {
          for (const m of mine) expect(identity(m.fd)).toBe(m.id);
          await Bun.sleep(0);
        }
      }
      const r = await Promise.race([done, Bun.sleep(Math.max(0, deadline - Date.now())).then(() => null)]);
      expect(r).not.toBeNull();
      expect(r!.errors).toEqual([]);
      expect(r!.closes).toBeGreaterThanOrEqual(1000);
      for (const m of mine) expect(identity(m.fd)).toBe(m.id);
      // Ours still work.
      const [x] = Socket.pair("unix", "dgram");
      x.close();
      for (const m of mine) expect(m.s.getOption("type")).toBe(C.SOCK_DGRAM);
    } finally {
      worker.terminate();
      for (const m of mine) m.s.close();
    }
    for (let i = 0; i < 50 && openFds().length > before.length; i++) await Bun.sleep(20);
    expect(openFds()).toEqual(before);
  });
});
