/**
 * The Socket class on real sockets: lifecycle, data, addresses, timeouts, errors, ownership.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errnoNumbers, SocketError, SocketTimeoutError, strerror } from "../src/core/errors.ts";
import { Socket } from "../src/socket/socket.ts";
import { expectNoFdLeaks, start, ownSockets } from "./helpers.ts";

const python = Bun.which("python3");
if (!python) console.warn("SKIP python3 peer tests: no python3 on PATH");

expectNoFdLeaks();

/** Sockets made by a test, closed after it whatever happened. */
const own = ownSockets();

const v4 = (port = 0) => ({ family: "inet", host: "127.0.0.1", port }) as const;
const v6 = (port = 0) => ({ family: "inet6", host: "::1", port }) as const;

function portOf(s: Socket): number {
  const a = s.localAddress;
  if (a.family !== "inet" && a.family !== "inet6") throw new Error("not an IP socket");
  return a.port;
}

describe("TCP", () => {
  for (const [name, addr] of [["IPv4", v4], ["IPv6", v6]] as const) {
    test(`${name}: listen, connect, accept, exchange, addresses on both ends`, () => {
      const server = own(Socket.listen(addr()));
      const port = portOf(server);
      const client = own(Socket.connect(addr(port)));
      const [conn, peer] = server.accept();
      own(conn);
      expect(peer).toEqual(client.localAddress);
      expect(conn.remoteAddress).toEqual(client.localAddress);
      expect(client.remoteAddress).toEqual(conn.localAddress);
      expect(client.send("hello")).toBe(5);
      const buf = new Uint8Array(16);
      expect(conn.recvInto(buf)).toBe(5);
      expect(new TextDecoder().decode(buf.subarray(0, 5))).toBe("hello");
      conn.sendAll(new Uint8Array([1, 2, 3]));
      expect([...client.recv(10)]).toEqual([1, 2, 3]);
      client.shutdown("write");
      expect(conn.recv(10).length).toBe(0); // EOF
    });
  }

  test.skipIf(!python)("sendAll delivers 16 MiB through partial sends to a python3 reader, byte for byte", async () => {
    const server = own(Socket.listen(v4()));
    const reader = start([python!, "-c", `
import hashlib, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
h, n = hashlib.sha256(), 0
while True:
    b = s.recv(1 << 16)
    if not b: break
    h.update(b); n += len(b)
print(n, h.hexdigest())
`, String(portOf(server))]);
    const [conn] = server.accept();
    own(conn);
    const data = new Uint8Array(16 << 20);
    let x = 2463534242;
    for (let i = 0; i < data.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; data[i] = x & 0xff; }
    conn.timeout = 20_000; // non-blocking fd underneath: the kernel takes partial writes
    conn.sendAll(data);
    conn.shutdown("write");
    const out = await reader.done;
    const digest = new Bun.CryptoHasher("sha256").update(data).digest("hex");
    expect(out.stdout.trim()).toBe(`${data.length} ${digest}`);
  });

  test("connect to a closed port: SocketError ECONNREFUSED with syscall and address", () => {
    const probe = own(Socket.listen(v4()));
    const port = portOf(probe);
    probe.close();
    let err: unknown;
    try { Socket.connect(v4(port)); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(SocketError);
    const se = err as SocketError;
    expect(se.syscall).toBe("connect");
    expect(se.code).toBe("ECONNREFUSED");
    expect(se.address).toBe(`127.0.0.1:${port}`);
    expect(se.message).toBe(`connect: Connection refused (127.0.0.1:${port})`);
  });

  test("bind to a port in use: EADDRINUSE", () => {
    const a = own(Socket.listen(v4(), { reuseAddress: false }));
    const b = own(new Socket("inet", "stream"));
    // The message is libc's own strerror: "Address already in use" (glibc), "Address in use" (musl).
    let err: unknown;
    try { b.bind(v4(portOf(a))); } catch (e) { err = e; }
    expect((err as SocketError).code).toBe("EADDRINUSE");
    expect((err as SocketError).message).toStartWith(`bind: ${strerror(errnoNumbers.EADDRINUSE)} (127.0.0.1:`);
  });

  test("a peer that went away gives EPIPE, not SIGPIPE", () => {
    const [a, b] = own(Socket.pair());
    b.close();
    let err: unknown;
    try { a.send("x"); } catch (e) { err = e; }
    expect((err as SocketError).code).toBe("EPIPE");
  });
});

describe("datagrams and socketpairs", () => {
  test("UDP sendTo/recvFrom report the sender", () => {
    const a = own(new Socket("inet", "dgram"));
    const b = own(new Socket("inet", "dgram"));
    a.bind(v4());
    b.bind(v4());
    expect(a.sendTo("ping", b.localAddress as ReturnType<typeof v4>)).toBe(4);
    const [data, from] = b.recvFrom(100);
    expect(new TextDecoder().decode(data)).toBe("ping");
    expect(from).toEqual(a.localAddress);
  });

  test("sendTo's address cache notices a changed field; recvFrom's reuses only identical senders", () => {
    const a = own(new Socket("inet", "dgram"));
    const b = own(new Socket("inet", "dgram"));
    const c = own(new Socket("inet", "dgram"));
    a.bind(v4());
    b.bind(v4());
    c.bind(v4());
    const to: { family: "inet"; host: string; port: number } = { family: "inet", host: "127.0.0.1", port: portOf(b) };
    a.sendTo("one", to);
    to.port = portOf(c); // the same object, mutated: must go to c now
    a.sendTo("two", to);
    b.timeout = 1000;
    c.timeout = 1000;
    const [d1, from1] = b.recvFrom(10);
    const [d2, from2] = c.recvFrom(10);
    expect(new TextDecoder().decode(d1)).toBe("one");
    expect(new TextDecoder().decode(d2)).toBe("two");
    expect(from1).toEqual(a.localAddress);
    expect(from2).toBe(from1); // same sender bytes: the same frozen object
    expect(Object.isFrozen(from2)).toBe(true);
    b.sendTo("x", c.localAddress as typeof to);
    expect(c.recvFrom(10)[1]).toEqual(b.localAddress); // a different sender is decoded afresh
  });

  for (const type of ["stream", "dgram", "seqpacket"] as const) {
    test(`unix ${type} socketpair carries data both ways`, () => {
      const [a, b] = own(Socket.pair("unix", type));
      a.send("left");
      expect(new TextDecoder().decode(b.recv(10))).toBe("left");
      b.send("right");
      expect(new TextDecoder().decode(a.recv(10))).toBe("right");
      expect(a.localAddress).toEqual({ family: "unix" });
    });
  }

  test("unix pathname sockets: bind, connect, addresses; abstract names round-trip", () => {
    const dir = mkdtempSync(join(tmpdir(), "bsdsock-"));
    try {
      const path = join(dir, "s.sock");
      const server = own(Socket.listen({ family: "unix", path }));
      expect(server.localAddress).toEqual({ family: "unix", path });
      const client = own(Socket.connect({ family: "unix", path }));
      const [conn] = server.accept();
      own(conn);
      expect(client.remoteAddress).toEqual({ family: "unix", path });
      const name = new Uint8Array([0x62, 0x73, 0x00, 0x64, 0xff]); // NUL and non-UTF-8 inside
      const abs = own(new Socket("unix", "dgram"));
      abs.bind({ family: "unix", abstract: name });
      const got = abs.localAddress;
      expect(got.family).toBe("unix");
      expect([...((got as { abstract: Uint8Array }).abstract)]).toEqual([...name]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("over-long unix path fails before any syscall", () => {
    const s = own(new Socket("unix", "stream"));
    expect(() => s.bind({ family: "unix", path: `/tmp/${"x".repeat(200)}` })).toThrow(RangeError);
  });
});

describe("timeouts and blocking", () => {
  test("recv with a timeout throws SocketTimeoutError (ETIMEDOUT) after about that long", () => {
    const [a] = own(Socket.pair());
    a.timeout = 50;
    const t0 = performance.now();
    let err: unknown;
    try { a.recv(1); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(SocketTimeoutError);
    expect((err as SocketError).code).toBe("ETIMEDOUT");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
  });

  test("timeout 0 is non-blocking: EAGAIN", () => {
    const [a] = own(Socket.pair());
    a.setBlocking(false);
    expect(a.blocking).toBe(false);
    expect(() => a.recv(1)).toThrow(expect.objectContaining({ code: "EAGAIN" }));
  });

  test("accept with a timeout; invalid timeouts are refused", () => {
    const s = own(Socket.listen(v4()));
    s.timeout = 20;
    expect(() => s.accept()).toThrow(SocketTimeoutError);
    expect(() => { s.timeout = -1; }).toThrow(RangeError);
    expect(() => { s.timeout = Number.NaN; }).toThrow(RangeError);
  });
});

describe("ownership", () => {
  test("close is idempotent; use after close throws EBADF without touching the fd number", () => {
    const s = new Socket("inet", "stream");
    const fd = s.fd;
    s.close();
    s.close();
    expect(s.closed).toBe(true);
    // Another socket may now get the same number; the closed object must not touch it.
    const other = own(new Socket("inet", "stream"));
    expect(other.fd).toBe(fd);
    expect(() => s.listen()).toThrow(expect.objectContaining({ code: "EBADF", syscall: "listen" }));
    expect(() => s.close()).not.toThrow();
    expect(other.localAddress).toEqual({ family: "inet", host: "0.0.0.0", port: 0 });
  });

  test("`using` closes at the end of the scope", () => {
    let fd = -1;
    {
      using s = new Socket("inet", "dgram");
      fd = s.fd;
    }
    const again = own(new Socket("inet", "dgram"));
    expect(again.fd).toBe(fd); // the number was free again
  });

  test("detach hands the fd over; fromFd takes one and reads its kind from the kernel", () => {
    const s = new Socket("inet6", "dgram");
    const fd = s.detach();
    expect(s.closed).toBe(true);
    const t = own(Socket.fromFd(fd));
    expect(t.fd).toBe(fd);
    expect(t.toString()).toBe(`Socket(fd=${fd}, AF_INET6, SOCK_DGRAM)`);
    expect(() => Socket.fromFd(0x7fffffff)).toThrow(expect.objectContaining({ code: "EBADF" }));
  });

  test("pairs and accepted connections are disposable; fromFd keeps a non-blocking fd's mode", () => {
    const link = (fd: number): string | null => { try { return readlinkSync(`/proc/self/fd/${fd}`); } catch { return null; } };
    let opened: [number, string | null][] = [];
    {
      using pair = Socket.pair();
      const [a, b] = pair;
      using server = Socket.listen(v4());
      using client = Socket.connect(v4(portOf(server)));
      using conn = server.accept();
      const [s, peer] = conn;
      expect(peer).toEqual(client.localAddress);
      opened = [a.fd, b.fd, s.fd].map((fd) => [fd, link(fd)]);
    }
    // Each fd number is closed now, or names some other file: never the socket it was.
    for (const [fd, was] of opened) {
      expect(was).toMatch(/^socket:/);
      expect(link(fd)).not.toBe(was);
    }
    const a = own(new Socket("inet", "dgram"));
    a.timeout = 0;
    const b = own(Socket.fromFd(a.detach()));
    expect(b.timeout).toBe(0);
  });

  test("Socket.connect with timeout 0 returns the socket mid-handshake", () => {
    const server = own(Socket.listen(v4()));
    const c = own(Socket.connect(v4(portOf(server)), { timeout: 0 }));
    expect(c.timeout).toBe(0);
    server.timeout = 2000;
    own(server.accept()[0]);
    expect(c.getOption("error")).toBe(0);
    expect(c.remoteAddress).toEqual(server.localAddress);
  });

  test("argument errors fail before any syscall", () => {
    const s = own(new Socket("inet", "stream"));
    expect(() => s.bind({ family: "inet", host: "127.0.0.1", port: 65536 })).toThrow(RangeError);
    expect(() => s.bind({ family: "inet", host: "127.0.0.1", port: Number.NaN })).toThrow(RangeError);
    expect(() => s.bind({ family: "inet", host: "not an ip", port: 1 })).toThrow(TypeError);
    expect(() => s.recvInto(new Uint8Array(4), 5)).toThrow(RangeError);
    expect(() => new Socket("nope" as "inet", "stream")).toThrow(TypeError);
  });
});
