/**
 * TCP Fast Open, client side (Linux): `connectWithData` (sendto MSG_FASTOPEN), sync and async,
 * and the `fastOpenConnect` option. On this host's own settings: the data always arrives, errors
 * are typed, wrong sockets are refused before any syscall. In network namespaces of our own
 * (`unshare --net`, test/fixtures/fastopen-netns.ts): with net.ipv4.tcp_fastopen = 3 the first
 * connection fetches a cookie and every later one carries its data in the SYN — tcpInfo's
 * TCPI_OPT_SYN_DATA on both ends and the namespace's TCPFastOpenActive/Passive counters say so,
 * also against a python3 server; with tcp_fastopen = 0 the same calls still deliver everything.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { AsyncSocket } from "../src/async/async.ts";
import { SocketError } from "../src/core/errors.ts";
import { platform } from "../src/index.ts";
import type { Address } from "../src/core/sockaddr.ts";
import { Socket } from "../src/socket/socket.ts";
import { bun, expectNoFdLeaks, freePort, readUntilQuiet, root, run } from "./helpers.ts";

expectNoFdLeaks();

const C = platform.table.constants;
const linux = platform.key.startsWith("linux-");
const python = Bun.which("python3");
const unshare = Bun.which("unshare");
const isRoot = process.getuid?.() === 0;
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const fixture = join(root, "test", "fixtures", "fastopen-netns.ts");

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

describe.skipIf(!linux)("connectWithData on this host's settings", () => {
  test("sync, blocking and with a timeout, and async: the server reads exactly the data, then the connection goes on", async () => {
    using l = Socket.listen({ family: "inet", host: "127.0.0.1", port: 0 });
    l.timeout = 5000;
    const to = l.localAddress as Address;
    for (const timeout of [null, 2000]) {
      using c = new Socket("inet", "stream");
      c.timeout = timeout;
      expect(c.connectWithData(to, "first words")).toBe(11);
      using a = l.accept()[0];
      a.timeout = 5000;
      expect(text(a.recv(64))).toBe("first words");
      a.sendAll("reply");
      c.timeout = 5000;
      expect(text(c.recv(64))).toBe("reply");
      expect(c.remoteAddress).toEqual(to);
    }
    await using ac = new AsyncSocket("inet6", "stream");
    using l6 = Socket.listen({ family: "inet6", host: "::1", port: 0 });
    l6.timeout = 5000;
    expect(await ac.connectWithData(l6.localAddress as Address, new Uint8Array([1, 2, 3]), { timeout: 5000 })).toBe(3);
    using a6 = l6.accept()[0];
    a6.timeout = 5000;
    expect([...a6.recv(8)]).toEqual([1, 2, 3]);
  });

  test("nobody listening: ECONNREFUSED with the address, sync and async; the socket closes cleanly", async () => {
    const port = freePort();
    using c = new Socket("inet", "stream");
    c.timeout = 2000;
    let e: unknown;
    try {
      c.connectWithData({ family: "inet", host: "127.0.0.1", port }, "lost");
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(SocketError);
    expect((e as SocketError).code).toBe("ECONNREFUSED");
    expect((e as Error).message).toContain(`127.0.0.1:${port}`);
    await using ac = new AsyncSocket("inet", "stream");
    const ae = await rejection(ac.connectWithData({ family: "inet", host: "127.0.0.1", port }, "lost", { timeout: 2000 }));
    expect((ae as SocketError).code).toBe("ECONNREFUSED");
  });

  test("async: a sendAll issued right after waits for all of connectWithData's data (one write turn for the whole call)", async () => {
    await using l = AsyncSocket.listen({ family: "inet", host: "127.0.0.1", port: 0 });
    await using c = new AsyncSocket("inet", "stream");
    c.setOption("sendBufferSize", 4096); // the data needs many sends after the handshake
    const first = new Uint8Array(1 << 20).fill(0x41);
    const calls = Promise.all([c.connectWithData(l.localAddress as Address, first, { timeout: 10_000 }), c.sendAll(new Uint8Array(1000).fill(0x42), { timeout: 10_000 })]);
    await using a = (await l.accept({ timeout: 5000 }))[0];
    const got = new Uint8Array(first.length + 1000);
    let n = 0;
    for (let i = 0; i < 100_000 && n < got.length; i++) {
      const k = await a.recvInto(got.subarray(n), { timeout: 5000 });
      if (k === 0) break;
      n += k;
    }
    await calls;
    expect(n).toBe(got.length);
    expect(got.indexOf(0x42)).toBe(first.length);
    expect(got.subarray(first.length).every((b) => b === 0x42)).toBe(true);
  });

  test("async: a buffer shrunk or transferred while the rest waits is a TypeError with bytesSent; closed names connect", async () => {
    await using l = AsyncSocket.listen({ family: "inet", host: "127.0.0.1", port: 0 });
    for (const change of ["resize", "transfer"] as const) {
      await using c = new AsyncSocket("inet", "stream");
      c.setOption("sendBufferSize", 4096);
      const ab = new ArrayBuffer(1 << 20, { maxByteLength: 1 << 20 });
      const pending = c.connectWithData(l.localAddress as Address, new Uint8Array(ab), { timeout: 10_000 });
      await using a = (await l.accept({ timeout: 5000 }))[0];
      await Bun.sleep(30);
      if (change === "resize") ab.resize(10);
      else ab.transfer();
      const reading = readUntilQuiet(a, 500);
      const e = await rejection(pending);
      c.close();
      await reading;
      expect(e).toBeInstanceOf(TypeError);
      expect((e as Error).message).toMatch(/^connectWithData: the data's buffer shrank, was resized or was transferred while waiting \(\d+ of 1048576 bytes sent\)$/);
      const sent = (e as { bytesSent: number }).bytesSent;
      expect(sent).toBeLessThan(1 << 20);
    }
    const closed = new AsyncSocket("inet", "stream");
    closed.close();
    const e = await rejection(closed.connectWithData(l.localAddress as Address, "x"));
    expect((e as SocketError).code).toBe("EBADF");
    expect((e as SocketError).syscall).toBe("connect");
    expect((e as Error).message).toContain("socket is closed");
  });

  test("refused before any syscall: UDP (MSG_FASTOPEN would be ignored and a datagram sent), unix, a bad address; EISCONN when connected", async () => {
    using u = new Socket("inet", "dgram");
    expect(() => u.connectWithData({ family: "inet", host: "127.0.0.1", port: 9 }, "x")).toThrow(TypeError);
    using x = new Socket("unix", "stream");
    expect(() => x.connectWithData({ family: "unix", path: "/nonexistent" }, "x")).toThrow(/inet\/inet6 stream socket/);
    await using au = new AsyncSocket("inet", "dgram");
    expect(await rejection(au.connectWithData({ family: "inet", host: "127.0.0.1", port: 9 }, "x"))).toBeInstanceOf(TypeError);
    using t = new Socket("inet", "stream");
    expect(() => t.connectWithData({ family: "inet", host: "127.0.0.1", port: 70_000 }, "x")).toThrow(RangeError);
    expect(() => t.connectWithData({ family: "inet", host: "127.0.0.1", port: 9 }, 42 as unknown as string)).toThrow(TypeError);
    using l = Socket.listen({ family: "inet", host: "127.0.0.1", port: 0 });
    using c = Socket.connect(l.localAddress as Address, { timeout: 2000 });
    using _a = l.accept()[0];
    expect(() => c.connectWithData(l.localAddress as Address, "again")).toThrow(/EISCONN|already connected/);
    c.close();
    expect(() => c.connectWithData(l.localAddress as Address, "closed")).toThrow(/closed/);
  });
});

const netnsReason = !linux ? "Linux only" : !unshare ? "no unshare on PATH" : !isRoot ? "not root: cannot create a network namespace" : null;
if (netnsReason) console.warn(`SKIP fastopen netns: ${netnsReason}`);

/** Runs the fixture in a fresh namespace with net.ipv4.tcp_fastopen = `mode`; its JSON, or null when unshare is refused. */
async function inNamespace(mode: number): Promise<Record<string, Record<string, unknown>> | null> {
  const o = await run([unshare!, "--net", "sh", "-c", `ip link set lo up && sysctl -qw net.ipv4.tcp_fastopen=${mode} && exec "$@"`, "sh", bun, fixture, ...(python ? [python] : [])], {}, 60_000);
  if (/unshare: .*(Operation not permitted|Permission denied)/.test(o.stderr)) {
    console.warn(`SKIP fastopen netns: ${o.stderr.trim()}`);
    return null;
  }
  expect(o.stderr).toBe("");
  expect(o.code).toBe(0);
  return JSON.parse(o.stdout) as Record<string, Record<string, unknown>>;
}

describe.skipIf(!!netnsReason)("TCP Fast Open in a namespace of our own", () => {
  test("tcp_fastopen = 3: a cookie first, then the data rides in the SYN (both ends' TCPI_OPT_SYN_DATA, TCPFastOpenActive/Passive)", async () => {
    const r = await inNamespace(3);
    if (!r) return;
    const inSyn = { clientSynData: true, serverSynData: true, counters: { TCPFastOpenActive: 1, TCPFastOpenPassive: 1 } };
    expect(r["sync 1 (no cookie yet)"]).toEqual({ returned: 7, got: "all", reply: "ok", clientSynData: false, serverSynData: false, counters: { TCPFastOpenCookieReqd: 1 } });
    expect(r["sync 2"]).toEqual({ returned: 7, got: "all", reply: "ok", ...inSyn });
    expect(r["sync with a timeout"]).toEqual({ returned: 7, got: "all", reply: "ok", ...inSyn });
    expect(r["sync 100000 bytes"]).toEqual({ returned: 100_000, got: "all", reply: "ok", ...inSyn });
    expect(r.async).toEqual({ returned: 10, got: "all", reply: "ok", ...inSyn });
    expect(r["fastOpenConnect option"]).toEqual({ returned: 10, got: "all", reply: "ok", ...inSyn });
    // Non-blocking with a cookie: the call returns what the SYN took, before any handshake.
    expect(r["non-blocking"]).toEqual({ returned: 2, got: "nb", serverSynData: true, counters: { TCPFastOpenActive: 1, TCPFastOpenPassive: 1 } });
    if (python) {
      const py = r.python as { connections: unknown[]; received: string[] };
      expect(py.received).toEqual(["to python 1", "to python 2"]);
      // Already the first one: the client caches cookies per server address, and the server side
      // derives them from the namespace's one Fast Open key, so the bsdsock listener's is valid here.
      for (const c of py.connections) expect(c).toEqual({ clientSynData: true, counters: { TCPFastOpenActive: 1, TCPFastOpenPassive: 1 } });
    }
  }, 90_000);

  test("tcp_fastopen = 0: the same calls connect as usual and deliver everything; fastOpenConnect is EOPNOTSUPP", async () => {
    const r = await inNamespace(0);
    if (!r) return;
    const plain = { got: "all", reply: "ok", clientSynData: false, serverSynData: false, counters: {} };
    for (const label of ["sync 1 (no cookie yet)", "sync 2", "sync with a timeout"]) expect(r[label]).toEqual({ returned: 7, ...plain });
    expect(r["sync 100000 bytes"]).toEqual({ returned: 100_000, ...plain });
    expect(r.async).toEqual({ returned: 10, ...plain });
    expect(r["fastOpenConnect option"]).toEqual({ error: "EOPNOTSUPP" });
    expect(r["non-blocking"]).toEqual({ returned: 0, got: "nb", serverSynData: false, counters: {} });
    if (python) expect((r.python as { received: string[] }).received).toEqual(["to python 1", "to python 2"]);
  }, 90_000);
});
