/**
 * sendmsg/recvmsg on real sockets: scatter/gather, fd passing (SCM_RIGHTS) including truncated
 * control data, credentials (SCM_CREDENTIALS), MSG_PEEK/MSG_TRUNC/MSG_DONTWAIT, addresses,
 * argument checks, the control-message walker, and python3 and examples/fdpass.ts as peers.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, existsSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { table } from "../ffi/platform.ts";
import { SocketError, SocketTimeoutError, strerror } from "../src/core/errors.ts";
import {
  CMSG_ALIGNMENT, cmsgLen, cmsgSpace, encodeControl, recvMsg, SCM_MAX_FD, sendMsg, walkControl,
} from "../src/socket/msg.ts";
import { Socket } from "../src/socket/socket.ts";
import { bun, expectNoFdLeaks, openFds, run, scratchDir, start, type Running, ownSockets } from "./helpers.ts";

const C = table.constants;
const text = (b: Uint8Array) => new TextDecoder().decode(b);

const python = Bun.which("python3");
const pythonReason = !python
  ? "no python3 on PATH"
  : Bun.spawnSync([python, "-c", "import socket; socket.send_fds; socket.recv_fds"]).exitCode !== 0
    ? "python3 has no socket.send_fds/recv_fds (needs Python >= 3.9)"
    : null;
if (pythonReason) console.warn(`SKIP python3 peer tests: ${pythonReason}`);
const isLinux = table.platform.startsWith("linux-");
const noSpawnBun = process.env.BSDSOCK_NO_SPAWN_BUN === "1";
if (noSpawnBun) console.warn("SKIP examples/fdpass.ts tests: BSDSOCK_NO_SPAWN_BUN=1 (this bun cannot start a bun child here)");

expectNoFdLeaks();
const dir = scratchDir();

/** Sockets and plain fds made by a test, closed after it whatever happened. */
const own = ownSockets();
const ownedFds: number[] = [];
function ownFds(fds: number[]): number[] {
  ownedFds.push(...fds);
  return fds;
}
afterEach(() => {
  for (const fd of ownedFds.splice(0)) closeSync(fd);
});

/** A temp file with `content`, opened read-only; the fd is closed after the test. */
function tempFile(name: string, content: string): number {
  const path = join(dir, name);
  writeFileSync(path, content);
  return ownFds([openSync(path, "r")])[0]!;
}

/** Everything readable through `fd` from offset 0 (pread, so the shared offset is untouched). */
function readAll(fd: number): string {
  const buf = new Uint8Array(4096);
  const n = readSync(fd, buf, 0, buf.length, 0);
  return text(buf.subarray(0, n));
}

/** Whether fd has O_CLOEXEC, per /proc/self/fdinfo (flags are octal; O_CLOEXEC is 02000000). */
function isCloexec(fd: number): boolean {
  const m = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"));
  return (parseInt(m![1]!, 8) & 0o2000000) !== 0;
}

function errorOf(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error("expected an exception");
}

describe("control-message layout", () => {
  test("CMSG alignment derived from the table matches the platform's ABI", () => {
    // Linux (glibc and musl): sizeof(size_t); Darwin: 4.
    expect(CMSG_ALIGNMENT).toBe(isLinux ? 8 : 4);
    expect(cmsgSpace(4)).toBe(table.expressions.CMSG_SPACE_4);
    expect(cmsgSpace(8)).toBe(table.expressions.CMSG_SPACE_8);
    expect(cmsgLen(12)).toBe(table.expressions.CMSG_LEN_0 + 12);
  });

  test("walkControl stays inside the length it is given", () => {
    const data2 = new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2, 1]);
    const buf = encodeControl([
      { level: 1, type: 2, data: new Uint8Array([1, 2, 3, 4]) },
      { level: 5, type: 6, data: data2 },
    ]);
    expect(buf.byteLength).toBe(cmsgSpace(4) + cmsgSpace(9));
    const all = walkControl(buf, buf.byteLength);
    expect(all.map((m) => [m.level, m.type, [...m.data]])).toEqual([[1, 2, [1, 2, 3, 4]], [5, 6, [...data2]]]);
    // The second message cut 3 bytes into its data: only those 3 bytes come back.
    const cut = walkControl(buf, cmsgSpace(4) + cmsgLen(3));
    expect(cut.length).toBe(2);
    expect([...cut[1]!.data]).toEqual([9, 8, 7]);
    // Room for the first message and part of the second header only: one message.
    expect(walkControl(buf, cmsgSpace(4) + 4).length).toBe(1);
    // Less than one header: nothing.
    expect(walkControl(buf, cmsgLen(0) - 1)).toEqual([]);
    // A cmsg_len smaller than a header is malformed and ends the walk.
    const bad = buf.slice();
    bad.fill(0, 0, 4);
    bad.fill(0, 4, 8);
    expect(walkControl(bad, bad.byteLength)).toEqual([]);
  });
});

describe("data", () => {
  test("scatter/gather round trip over a stream pair", () => {
    const [a, b] = own(Socket.pair());
    expect(a.sendMsg({ data: ["ab", new Uint8Array([1, 2]), new Uint16Array([0x6463]), "", "efg"] })).toBe(9);
    const bufs = [new Uint8Array(3), new Uint8Array(2), new Uint8Array(10)];
    const r = b.recvMsg({ buffers: bufs });
    expect(r.bytes).toBe(9);
    expect([...bufs[0]!]).toEqual([97, 98, 1]);
    expect([...bufs[1]!]).toEqual([2, 0x63]);
    expect(text(bufs[2]!.subarray(0, 4))).toBe("defg");
    expect(r.buffers).toEqual(bufs);
    expect([...r.data]).toEqual([97, 98, 1, 2, 0x63, 0x64, 0x65, 0x66, 0x67]);
    expect(r.fds).toEqual([]);
    expect(r.address).toBeUndefined();
    expect(r.truncated).toBe(false);
    expect(r.controlTruncated).toBe(false);
  });

  test("many small fresh buffers under GC pressure: every byte lands where it should", () => {
    // Small typed arrays are the ones whose storage moves when first materialized; this runs
    // many messages built from fresh ones, with collections in between, and checks every byte.
    const [a, b] = own(Socket.pair("unix", "seqpacket"));
    for (let i = 0; i < 300; i++) {
      const parts = [1 + (i % 5), 1 + ((i * 7) % 6), 1 + ((i * 3) % 4)].map((n, k) => new Uint8Array(n).fill((i + k) & 0xff));
      const total = parts.reduce((s, p) => s + p.length, 0);
      expect(a.sendMsg({ data: parts })).toBe(total);
      if (i % 50 === 0) Bun.gc(true);
      const outs = parts.map((p) => new Uint8Array(p.length));
      const r = b.recvMsg({ buffers: outs });
      expect(r.bytes).toBe(total);
      for (let k = 0; k < parts.length; k++) expect(outs[k]).toEqual(parts[k]!);
    }
  });

  test("MSG_PEEK leaves the data in place", () => {
    const [a, b] = own(Socket.pair());
    a.send("peek-a-boo");
    const p = b.recvMsg({ size: 4, flags: C.MSG_PEEK });
    expect(text(p.data)).toBe("peek");
    expect(text(b.recv(100))).toBe("peek-a-boo");
  });

  test("MSG_TRUNC on a unix datagram: truncated, and with the flag the real length", () => {
    const [a, b] = own(Socket.pair("unix", "dgram"));
    a.send("0123456789");
    const r = b.recvMsg({ size: 4 });
    expect(r.truncated).toBe(true);
    expect(r.bytes).toBe(4);
    expect(text(r.data)).toBe("0123");
    a.send("abcdefghij");
    const t = b.recvMsg({ size: 4, flags: C.MSG_TRUNC });
    expect(t.truncated).toBe(true);
    expect(t.bytes).toBe(10);
    expect(text(t.data)).toBe("abcd");
    a.send("xy");
    const ok = b.recvMsg({ size: 4 });
    expect(ok.truncated).toBe(false);
    expect(text(ok.data)).toBe("xy");
  });

  test("would-block: MSG_DONTWAIT → EAGAIN, timeout 0 → EAGAIN, timeout > 0 → SocketTimeoutError", () => {
    const [a, b] = own(Socket.pair());
    const e1 = errorOf(() => b.recvMsg({ flags: C.MSG_DONTWAIT })) as SocketError;
    expect(e1).toBeInstanceOf(SocketError);
    expect(e1.code).toBe("EAGAIN");
    expect(e1.syscall).toBe("recvmsg");
    const e2 = errorOf(() => recvMsg(b.fd, { flags: C.MSG_DONTWAIT })) as SocketError;
    expect(e2.code).toBe("EAGAIN");
    b.timeout = 0;
    expect((errorOf(() => b.recvMsg()) as SocketError).code).toBe("EAGAIN");
    b.timeout = 30;
    const t0 = performance.now();
    expect(errorOf(() => b.recvMsg())).toBeInstanceOf(SocketTimeoutError);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    // The same socket still works afterwards.
    a.sendMsg({ data: "late" });
    expect(text(b.recvMsg({ size: 8 }).data)).toBe("late");
  });

  test("sendMsg with an address on an unconnected UDP socket; recvMsg reports the sender", () => {
    const rx = own(new Socket("inet", "dgram"));
    rx.bind({ family: "inet", host: "127.0.0.1", port: 0 });
    const tx = own(new Socket("inet", "dgram"));
    const to = rx.localAddress as { family: "inet"; host: string; port: number };
    expect(tx.sendMsg({ data: ["he", "llo"], address: to })).toBe(5);
    rx.timeout = 5000;
    const r = rx.recvMsg({ size: 16 });
    expect(text(r.data)).toBe("hello");
    const from = tx.localAddress as { port: number };
    expect(r.address).toEqual({ family: "inet", host: "127.0.0.1", port: from.port });
    // Without an address an unconnected UDP socket has nowhere to send.
    expect((errorOf(() => tx.sendMsg({ data: "x" })) as SocketError).code).toBe("EDESTADDRREQ");
  });
});

describe("fd passing (SCM_RIGHTS)", () => {
  test("several fds at once arrive as new, close-on-exec fds for the same files and sockets", () => {
    const fa = tempFile("a.txt", "alpha");
    const fb = tempFile("b.txt", "bravo");
    const [p, q] = own(Socket.pair());
    const [a, b] = own(Socket.pair());
    expect(a.sendMsg({ data: "3", fds: [fa, fb, q.fd] })).toBe(1);
    const r = b.recvMsg({ size: 8, maxFds: 3 });
    ownFds(r.fds.slice(0, 2));
    expect(text(r.data)).toBe("3");
    expect(r.fds.length).toBe(3);
    expect(r.controlTruncated).toBe(false);
    for (const fd of r.fds) {
      expect([fa, fb, q.fd]).not.toContain(fd);
      expect(isCloexec(fd)).toBe(true);
    }
    expect(readAll(r.fds[0]!)).toBe("alpha");
    expect(readAll(r.fds[1]!)).toBe("bravo");
    const q2 = own(Socket.fromFd(r.fds[2]!));
    q2.send("via passed socket");
    expect(text(p.recv(100))).toBe("via passed socket");
  });

  test("the free functions on raw fds do the same", () => {
    const f = tempFile("c.txt", "charlie");
    const [a, b] = own(Socket.pair("unix", "seqpacket"));
    expect(sendMsg(a.fd, { data: [new Uint8Array([7])], fds: [f] })).toBe(1);
    const r = recvMsg(b.fd, { size: 4, maxFds: 1 });
    ownFds(r.fds);
    expect(r.fds.length).toBe(1);
    expect(readAll(r.fds[0]!)).toBe("charlie");
  });

  test("MSG_PEEK with fds: the peek and the real read each return (new) fds", () => {
    const f = tempFile("d.txt", "delta");
    const [a, b] = own(Socket.pair());
    a.sendMsg({ data: "p", fds: [f] });
    const peek = b.recvMsg({ size: 1, maxFds: 1, flags: C.MSG_PEEK });
    ownFds(peek.fds);
    const real = b.recvMsg({ size: 1, maxFds: 1 });
    ownFds(real.fds);
    expect(peek.fds.length).toBe(1);
    expect(real.fds.length).toBe(1);
    expect(real.fds[0]).not.toBe(peek.fds[0]);
    expect(readAll(real.fds[0]!)).toBe("delta");
  });

  // CMSG_SPACE pads to the alignment: maxFds: 1 leaves room for (CMSG_SPACE(4) - CMSG_LEN(0)) / 4
  // fds (2 on Linux); controlSize: CMSG_LEN(4) for exactly one.
  for (const [name, room, expected] of [
    ["room for exactly 1 of 3 fds", { controlSize: cmsgLen(4) }, 1],
    ["maxFds: 1 of 3", { maxFds: 1 }, (cmsgSpace(4) - cmsgLen(0)) / 4],
    ["no control buffer", { controlSize: 0 }, 0],
    ["a control buffer shorter than one fd", { controlSize: cmsgLen(0) + 2 }, 0],
  ] as const) {
    test(`MSG_CTRUNC, ${name}: controlTruncated, ${expected} fd(s) returned, no fd leaked`, () => {
      const files = [tempFile("e1", "1"), tempFile("e2", "2"), tempFile("e3", "3")];
      const [a, b] = own(Socket.pair());
      a.sendMsg({ data: "t", fds: files });
      const before = openFds().length;
      const r = b.recvMsg({ size: 4, ...room });
      const during = openFds().length;
      for (const fd of r.fds) closeSync(fd);
      expect(r.controlTruncated).toBe(true);
      expect(text(r.data)).toBe("t");
      expect(r.fds.length).toBe(expected);
      expect(during - before).toBe(expected); // the kernel installed exactly the fds we got
      expect(openFds().length).toBe(before);
    });
  }

  test("argument checks throw before any syscall", () => {
    const [a, b] = own(Socket.pair());
    const bad: [string, () => unknown, typeof TypeError | typeof RangeError][] = [
      ["negative fd", () => a.sendMsg({ data: "x", fds: [-1] }), RangeError],
      ["fractional fd", () => a.sendMsg({ data: "x", fds: [1.5] }), RangeError],
      ["fd beyond int", () => a.sendMsg({ data: "x", fds: [2 ** 31] }), RangeError],
      ["too many fds", () => a.sendMsg({ data: "x", fds: new Array(SCM_MAX_FD + 1).fill(0) }), RangeError],
      ["data of the wrong type", () => a.sendMsg({ data: [42 as never] }), TypeError],
      ["flags not an int", () => a.sendMsg({ data: "x", flags: 2 ** 40 }), RangeError],
      ["control data not bytes", () => a.sendMsg({ data: "x", control: [{ level: 1, type: 1, data: "no" as never }] }), TypeError],
    ];
    for (const [what, f, type] of bad) {
      const e = errorOf(f);
      if (!(e instanceof type)) throw new Error(`${what}: expected ${type.name}, got ${String(e)}`);
    }
    // None of them sent anything.
    expect((errorOf(() => b.recvMsg({ flags: C.MSG_DONTWAIT })) as SocketError).code).toBe("EAGAIN");
    a.send("z");
    const badRecv: [string, () => unknown][] = [
      ["buffers not Uint8Array", () => b.recvMsg({ buffers: ["x" as never] })],
      ["negative controlSize", () => b.recvMsg({ controlSize: -1 })],
      ["too many maxFds", () => b.recvMsg({ maxFds: SCM_MAX_FD + 1 })],
      ["size and buffers", () => b.recvMsg({ size: 1, buffers: [] })],
    ];
    for (const [what, f] of badRecv) {
      const e = errorOf(f);
      if (!(e instanceof TypeError || e instanceof RangeError)) throw new Error(`${what}: got ${String(e)}`);
    }
    // None of them consumed the byte.
    expect(text(b.recvMsg({ size: 4 }).data)).toBe("z");
    a.close();
    expect((errorOf(() => a.sendMsg({ data: "x" })) as SocketError).code).toBe("EBADF");
  });

  test("iov_len is the buffer's real length: a faked byteLength or a fake array cannot widen it", () => {
    const [a, b] = own(Socket.pair("unix", "dgram"));
    a.send("0123456789");
    const small = new Uint8Array(4);
    Object.defineProperty(small, "byteLength", { value: 1 << 20 });
    const r = b.recvMsg({ buffers: [small] });
    expect(r.bytes).toBe(4);
    expect(r.truncated).toBe(true);
    expect(text(new Uint8Array(small.buffer, 0, 4))).toBe("0123");
    const fake = Object.create(Uint8Array.prototype) as Uint8Array;
    expect(errorOf(() => b.recvMsg({ buffers: [fake] }))).toBeInstanceOf(TypeError);
    expect(errorOf(() => a.sendMsg({ data: [fake] }))).toBeInstanceOf(TypeError);
  });

  test("an fd that is not open: EBADF from the kernel, typed", () => {
    const [a] = own(Socket.pair());
    const e = errorOf(() => a.sendMsg({ data: "x", fds: [0x7ffffff0] })) as SocketError;
    expect(e).toBeInstanceOf(SocketError);
    expect(e.syscall).toBe("sendmsg");
    expect(e.code).toBe("EBADF");
  });
});

describe.skipIf(!isLinux)("credentials (SCM_CREDENTIALS)", () => {
  const me = () => ({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });

  test("unix dgram with SO_PASSCRED: the kernel attaches our pid/uid/gid", () => {
    const [a, b] = own(Socket.pair("unix", "dgram"));
    b.setRawOption(C.SOL_SOCKET, C.SO_PASSCRED!, 1);
    a.send("who");
    const r = b.recvMsg({ size: 8, credentials: true });
    expect(text(r.data)).toBe("who");
    expect(r.credentials).toEqual(me());
    expect(r.controlTruncated).toBe(false);
    // Without room for them: MSG_CTRUNC and no credentials.
    a.send("again");
    const n = b.recvMsg({ size: 8 });
    expect(n.credentials).toBeUndefined();
    expect(n.controlTruncated).toBe(true);
  });

  test("unix stream: explicit credentials: true; none without SO_PASSCRED", () => {
    const [a, b] = own(Socket.pair());
    a.sendMsg({ data: "1", credentials: true });
    const none = b.recvMsg({ size: 1, credentials: true });
    expect(none.credentials).toBeUndefined();
    b.setRawOption(C.SOL_SOCKET, C.SO_PASSCRED!, 1);
    a.sendMsg({ data: "2", credentials: me() });
    const r = b.recvMsg({ size: 1, credentials: true });
    expect(text(r.data)).toBe("2");
    expect(r.credentials).toEqual(me());
  });
});

// --- foreign peers ------------------------------------------------------------------------------

/** Waits for a unix socket path to appear (bounded), failing early if the peer exited. */
async function waitPath(path: string, peer: Running, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (peer.proc.exitCode !== null) {
      const o = await peer.done;
      throw new Error(`peer exited before listening: ${o.code}\n${o.stdout}\n${o.stderr}`);
    }
    if (Date.now() > deadline) throw new Error(`${path} did not appear within ${timeoutMs} ms`);
    await Bun.sleep(10);
  }
}

/** Connects, retrying the moment between the peer's bind() and listen(). */
async function connectUnix(path: string): Promise<Socket> {
  for (let i = 0; ; i++) {
    try {
      return Socket.connect({ family: "unix", path }, { timeout: 10_000 });
    } catch (e) {
      if (i > 200 || !(e instanceof SocketError) || e.code !== "ECONNREFUSED") throw e;
      await Bun.sleep(10);
    }
  }
}

const pySendFds = `
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
for i in range(500):
    try:
        s.connect(sys.argv[1]); break
    except (ConnectionRefusedError, FileNotFoundError):
        time.sleep(0.01)
fds = [os.open(p, os.O_RDONLY) for p in sys.argv[2:]]
socket.send_fds(s, [b"py"], fds)
s.close()
`;

const pyRecvFds = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept()
msg, fds, flags, addr = socket.recv_fds(c, 16, 4)
out = [msg.decode()]
for fd in fds:
    out.append(os.read(fd, 1000).decode()); os.close(fd)
print("|".join(out))
os.unlink(sys.argv[1])
`;

describe.skipIf(pythonReason !== null)("python3 peer (socket.send_fds / recv_fds)", () => {
  test("python sends two fds; bsdsock reads the files through them", async () => {
    const path = join(dir, "py-send.sock");
    writeFileSync(join(dir, "p1"), "from python one");
    writeFileSync(join(dir, "p2"), "from python two");
    const server = own(Socket.listen({ family: "unix", path }));
    server.timeout = 10_000;
    const peer = start([python!, "-c", pySendFds, path, join(dir, "p1"), join(dir, "p2")]);
    const [conn] = server.accept();
    own(conn).timeout = 10_000;
    const r = conn.recvMsg({ size: 16, maxFds: 4 });
    ownFds(r.fds);
    expect(text(r.data)).toBe("py");
    expect(r.fds.length).toBe(2);
    expect(readAll(r.fds[0]!)).toBe("from python one");
    expect(readAll(r.fds[1]!)).toBe("from python two");
    const o = await peer.done;
    expect(o.stderr).toBe("");
    expect(o.code).toBe(0);
  });

  test("bsdsock sends two fds; python reads the files through them", async () => {
    const path = join(dir, "py-recv.sock");
    const peer = start([python!, "-c", pyRecvFds, path]);
    await waitPath(path, peer);
    const f1 = tempFile("q1", "to python one");
    const f2 = tempFile("q2", "to python two");
    const sock = own(await connectUnix(path));
    expect(sock.sendMsg({ data: "js", fds: [f1, f2] })).toBe(2);
    const o = await peer.done;
    expect(o.stderr).toBe("");
    expect(o.stdout).toBe("js|to python one|to python two\n");
    expect(o.code).toBe(0);
  });

  test.skipIf(noSpawnBun)("examples/fdpass.ts recv ← python send_fds: prints the file, removes the socket, exits 0", async () => {
    const path = join(dir, "ex-recv.sock");
    const content = "line one\nline two — ünïcode\n".repeat(100);
    writeFileSync(join(dir, "ex1"), content);
    const example = start([bun, "run", "examples/fdpass.ts", "recv", path]);
    await waitPath(path, example);
    const py = await run([python!, "-c", pySendFds, path, join(dir, "ex1")]);
    expect(py.stderr).toBe("");
    expect(py.code).toBe(0);
    const o = await example.done;
    expect(o.stderr).toBe("");
    expect(o.stdout).toBe(content);
    expect(o.code).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  test.skipIf(noSpawnBun)("examples/fdpass.ts send → python recv_fds: python reads the file", async () => {
    const path = join(dir, "ex-send.sock");
    writeFileSync(join(dir, "ex2"), "passed by the example");
    const peer = start([python!, "-c", pyRecvFds, path]);
    await waitPath(path, peer);
    // The example does not retry: wait until python listens (a probe connection would be
    // the one python accepts), by checking /proc/net/unix for the path in LISTEN state.
    const deadline = Date.now() + 10_000;
    while (!readFileSync("/proc/net/unix", "utf8").split("\n").some((l) => l.endsWith(` ${path}`) && / 00010000 /.test(l))) {
      if (Date.now() > deadline) throw new Error("python never listened");
      await Bun.sleep(10);
    }
    const ex = await run([bun, "run", "examples/fdpass.ts", "send", path, join(dir, "ex2")]);
    expect(ex.stderr).toBe("");
    expect(ex.code).toBe(0);
    const o = await peer.done;
    expect(o.stdout).toBe("F|passed by the example\n");
    expect(o.code).toBe(0);
  });
});

describe.skipIf(noSpawnBun)("examples/fdpass.ts errors", () => {
  test("bad arguments: usage on stderr, exit 2", async () => {
    for (const args of [[], ["recv"], ["send", join(dir, "x")], ["recv", join(dir, "x"), "extra"], ["bogus", "a", "b"]]) {
      const o = await run([bun, "run", "examples/fdpass.ts", ...args]);
      expect(o.code).toBe(2);
      expect(o.stderr).toStartWith("usage: bun run examples/fdpass.ts recv PATH\n");
      expect(o.stdout).toBe("");
    }
  });

  test("system errors: perror-style message, exit 1", async () => {
    writeFileSync(join(dir, "exists"), "x");
    const noSock = join(dir, "missing.sock");
    const o1 = await run([bun, "run", "examples/fdpass.ts", "send", noSock, join(dir, "exists")]);
    expect(o1.code).toBe(1);
    expect(o1.stderr).toBe(`fdpass: connect: ${strerror(table.errno.ENOENT)} (${noSock})\n`);
    const o2 = await run([bun, "run", "examples/fdpass.ts", "send", noSock, join(dir, "nofile")]);
    expect(o2.code).toBe(1);
    expect(o2.stderr).toBe(`fdpass: open: ${strerror(table.errno.ENOENT)} (${join(dir, "nofile")})\n`);
    // recv on a path that is already a file: EADDRINUSE, and the file is left alone.
    const o3 = await run([bun, "run", "examples/fdpass.ts", "recv", join(dir, "exists")]);
    expect(o3.code).toBe(1);
    expect(o3.stderr).toBe(`fdpass: bind: ${strerror(table.errno.EADDRINUSE)} (${join(dir, "exists")})\n`);
    expect(readFileSync(join(dir, "exists"), "utf8")).toBe("x");
  });
});
