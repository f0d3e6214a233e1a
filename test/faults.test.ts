/**
 * Faults (issue 6, item 2, plus the security bits of item 8): every failure a socket program
 * meets gives a typed SocketError (syscall + errno code), never a crash, and leaves the fd count
 * where it was. Scenarios that need a process of their own (RLIMIT_NOFILE 32, SIGPIPE at
 * SIG_DFL, signals every 50 ms, dropped privileges, a slow reader) run
 * test/fixtures/fault-child.ts through the helpers, with deadlines.
 *
 * Loopback only: nothing here sends a packet off the host (binding 192.0.2.1 sends nothing; the
 * connect timeout is made with a full accept queue on 127.0.0.1).
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import { errnoNumbers, SocketError, SocketTimeoutError } from "../src/core/errors.ts";
import { constants as C } from "../src/index.ts";
import { cmsgSpace } from "../src/socket/msg.ts";
import { Socket } from "../src/socket/socket.ts";
import {
  asNobody as nobodyPrefix, bun, expectNoFdLeaks, nobodyCannotRun as whyNobodyCannotRun, ownSockets, root, run, scratchDir, start,
  type Outcome,
} from "./helpers.ts";

expectNoFdLeaks();

const fixture = join(root, "test", "fixtures", "fault-child.ts");
const dir = scratchDir();

/** Sockets made by a test, closed after it whatever happened. */
const own = ownSockets();

const v4 = (port = 0) => ({ family: "inet", host: "127.0.0.1", port }) as const;
const portOf = (s: Socket): number => (s.localAddress as { port: number }).port;

/** The open fds as "fd -> target" (a socket's target names its inode, so a reused number differs). */
function fdSnapshot(): Set<string> {
  const out = new Set<string>();
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      out.add(`${fd} -> ${readlinkSync(`/proc/self/fd/${fd}`)}`);
    } catch { /* the listing's own fd */ }
  }
  return out;
}
/**
 * fds open now that were not open at `before`: leaks. (Fds closed meanwhile are ignored: Bun
 * closes earlier children's stdio sockets asynchronously.)
 */
function newFds(before: Set<string>): string[] {
  return [...fdSnapshot()].filter((f) => !before.has(f));
}

/**
 * A synchronous scenario with its own fd check: closes what it owned, then no fd may remain
 * that was not open before it.
 */
function scenario(name: string, body: () => void): void {
  test(name, () => {
    const before = fdSnapshot();
    try {
      body();
    } finally {
      own.closeAll();
    }
    expect(newFds(before)).toEqual([]);
  });
}

/** Runs `f`, which must throw a SocketError with this syscall and code; returns it. */
function expectSocketError(f: () => unknown, syscall: string, code: string): SocketError {
  let thrown: unknown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(SocketError);
  const e = thrown as SocketError;
  expect({ syscall: e.syscall, code: e.code }).toEqual({ syscall, code });
  expect(e.errno).toBe((errnoNumbers as Record<string, number>)[code]!); // code and errno agree
  expect(e.message.startsWith(`${syscall}: `)).toBe(true);
  return e;
}

/** The JSON line a fault-child printed (the last stdout line), with the outcome on failure. */
function report(o: Outcome): Record<string, any> {
  const lines = o.stdout.trim().split("\n");
  try {
    return JSON.parse(lines[lines.length - 1]!);
  } catch {
    throw new Error(`child printed no JSON: code ${o.code} signal ${o.signal}\nstdout: ${o.stdout}\nstderr: ${o.stderr}`);
  }
}

/** A connected TCP pair over 127.0.0.1: [client, server side]; the listener is closed. */
function tcpPair(): [Socket, Socket] {
  const l = Socket.listen(v4());
  try {
    const c = own(Socket.connect(v4(portOf(l))));
    l.timeout = 5_000;
    const [s] = l.accept();
    own(s);
    return [c, s];
  } finally {
    l.close();
  }
}

/** A listener (backlog 0) whose accept queue is full: more SYNs are dropped, connects hang. */
function fullListener(): Socket {
  const l = own(Socket.listen(v4(), { backlog: 0 }));
  const port = portOf(l);
  // Fill with connections that complete; the first that does not (its SYN dropped) proves the
  // queue is full and is closed again so its retransmitted SYN cannot take a freed slot.
  for (let i = 0; i < 8; i++) {
    const s = new Socket("inet", "stream", 0, { timeout: 150 });
    try {
      s.connect(v4(port));
      own(s);
    } catch (e) {
      s.close();
      if (e instanceof SocketTimeoutError) return l;
      throw e;
    }
  }
  throw new Error("accept queue never filled");
}

describe("peer reset and half-open peers", () => {
  scenario("peer reset (SO_LINGER 0): recv gives ECONNRESET, then end of stream", () => {
    const [c, s] = tcpPair();
    s.setOption("linger", { onoff: true, seconds: 0 });
    s.close();
    c.timeout = 2_000; // bounded even if the RST were lost
    expectSocketError(() => c.recv(16), "recv", "ECONNRESET");
    expect(c.recv(16).length).toBe(0); // the error is reported once; then EOF
  });

  scenario("peer reset (SO_LINGER 0): send gives ECONNRESET once, then EPIPE", () => {
    const [c, s] = tcpPair();
    s.setOption("linger", { onoff: true, seconds: 0 });
    s.close();
    c.timeout = 2_000;
    const errors: string[] = [];
    for (let i = 0; i < 50 && errors.length < 2; i++) {
      try {
        c.send("x");
        Bun.sleepSync(2);
      } catch (e) {
        expect(e).toBeInstanceOf(SocketError);
        expect((e as SocketError).syscall).toBe("send");
        errors.push((e as SocketError).code);
      }
    }
    expect(errors).toEqual(["ECONNRESET", "EPIPE"]);
  });

  scenario("write to a half-open peer (it closed): the first send draws an RST, then EPIPE", () => {
    const [c, s] = tcpPair();
    s.close(); // FIN: c is now in CLOSE_WAIT and may still write
    expect(c.recv(16).length).toBe(0);
    expect(c.send("first")).toBe(5); // accepted locally; the closed peer answers with RST
    let err: SocketError | undefined;
    for (let i = 0; i < 50 && !err; i++) {
      try {
        c.send("more");
        Bun.sleepSync(2);
      } catch (e) {
        err = e as SocketError;
      }
    }
    expect(err).toBeInstanceOf(SocketError);
    expect([err!.syscall, err!.code]).toEqual(["send", "EPIPE"]);
    expectSocketError(() => c.sendAll(new Uint8Array(1000)), "send", "EPIPE");
  });

  scenario("peer shutdown('read') on Linux: writes still succeed and stay readable (no error to expect)", () => {
    const [c, s] = tcpPair();
    s.shutdown("read");
    expect(c.send("abc")).toBe(3);
    s.timeout = 2_000;
    expect(new TextDecoder().decode(s.recv(16))).toBe("abc");
  });

  scenario("unix socketpair with the peer closed: send/sendAll/sendMsg give EPIPE, recv gives EOF", () => {
    const [a, b] = own(Socket.pair());
    b.close();
    expectSocketError(() => a.send("x"), "send", "EPIPE");
    const e = expectSocketError(() => a.sendAll(new Uint8Array(10_000)), "send", "EPIPE");
    expect(e.bytesSent).toBe(0);
    expectSocketError(() => a.sendMsg({ data: "x" }), "sendmsg", "EPIPE");
    expect(a.recv(4).length).toBe(0);
  });
});

describe("SIGPIPE", () => {
  // Bun starts with SIGPIPE ignored (SigIgn bit 13 in /proc/self/status), which would hide a
  // missing MSG_NOSIGNAL. The child restores SIG_DFL with sigaction() first, so a raised
  // SIGPIPE would kill it; the control run proves that it does.
  test("EPIPE with SIGPIPE at SIG_DFL: typed errors, the process lives (exit 0)", async () => {
    const o = await run([bun, fixture, "sigpipe", "socket"], {}, 10_000);
    expect(o.signal).toBeNull();
    expect(o.code).toBe(0);
    const r = report(o);
    expect(r.nowIgnored).toBe(false);
    expect(r.send).toMatchObject({ ok: false, name: "SocketError", syscall: "send", code: "EPIPE" });
    expect(r.sendAll).toMatchObject({ ok: false, name: "SocketError", syscall: "send", code: "EPIPE" });
    expect(r.sendMsg).toMatchObject({ ok: false, name: "SocketError", syscall: "sendmsg", code: "EPIPE" });
    expect(r.sendFile).toMatchObject({ ok: false, name: "SocketError", syscall: "sendfile", code: "EPIPE" });
    expect(r.maskAfter).toBe("0000000000000000"); // SIGPIPE unblocked again after sendFile
    expect(r.tcp).toMatchObject({ ok: false, name: "SocketError", syscall: "send", code: "EPIPE" });
  });

  test("control: the same child sending without MSG_NOSIGNAL is killed by SIGPIPE", async () => {
    const o = await run([bun, fixture, "sigpipe", "control"], {}, 10_000);
    expect(o.signal).toBe("SIGPIPE");
    expect(o.stdout).not.toContain("survived");
  });
});

describe("send after close", () => {
  scenario("send/recv after close give EBADF without touching the fd number, now reused", () => {
    const [a, b] = own(Socket.pair());
    const old = a.fd;
    a.close();
    b.close();
    // The kernel hands out the lowest free number: the new pair reuses the old fd.
    const [c, d] = own(Socket.pair());
    expect([c.fd, d.fd]).toContain(old);
    const e = expectSocketError(() => a.send("stray"), "send", "EBADF");
    expect(e.message).toContain("socket is closed");
    expectSocketError(() => a.sendAll("stray"), "send", "EBADF");
    expectSocketError(() => a.sendMsg({ data: "stray" }), "sendmsg", "EBADF");
    expectSocketError(() => a.recv(1), "recv", "EBADF");
    expectSocketError(() => a.fd, "fd", "EBADF");
    a.close(); // idempotent: must not close the reused number
    // Nothing reached the socket that now has the old number, and it is still open.
    const peer = c.fd === old ? d : c;
    const reused = c.fd === old ? c : d;
    peer.timeout = 0;
    expectSocketError(() => peer.recv(16), "recv", "EAGAIN");
    expect(reused.send("alive")).toBe(5);
  });
});

describe("addresses", () => {
  scenario("ECONNREFUSED: connect to a port that is bound but not listening", () => {
    const holder = own(new Socket("inet", "stream"));
    holder.bind(v4());
    const port = portOf(holder);
    const before = fdSnapshot();
    const e = expectSocketError(() => Socket.connect(v4(port)), "connect", "ECONNREFUSED");
    expect(e.address).toBe(`127.0.0.1:${port}`);
    expect(newFds(before)).toEqual([]); // Socket.connect closed its socket
  });

  scenario("EADDRINUSE: a second listener on the same port (and a unix path that exists)", () => {
    const l = own(Socket.listen(v4()));
    const path = join(dir, "inuse.sock");
    own(Socket.listen({ family: "unix", path }));
    const before = fdSnapshot();
    const e = expectSocketError(() => Socket.listen(v4(portOf(l))), "bind", "EADDRINUSE");
    expect(e.address).toBe(`127.0.0.1:${portOf(l)}`);
    expectSocketError(() => Socket.listen({ family: "unix", path }), "bind", "EADDRINUSE");
    expect(newFds(before)).toEqual([]); // each failed Socket.listen closed its socket
  });

  scenario("EADDRNOTAVAIL: bind to an address this host does not have (192.0.2.1, 2001:db8::1)", () => {
    const s = own(new Socket("inet", "stream"));
    expectSocketError(() => s.bind({ family: "inet", host: "192.0.2.1", port: 0 }), "bind", "EADDRNOTAVAIL");
    const s6 = own(new Socket("inet6", "dgram"));
    expectSocketError(() => s6.bind({ family: "inet6", host: "2001:db8::1", port: 0 }), "bind", "EADDRNOTAVAIL");
  });

  scenario("ENAMETOOLONG: a 108-byte unix path is a RangeError before any syscall", () => {
    const path = join(dir, "x".repeat(108 - dir.length - 1));
    expect(Buffer.byteLength(path)).toBe(108);
    const s = own(new Socket("unix", "stream"));
    expect(() => s.bind({ family: "unix", path })).toThrow(RangeError);
    expect(() => s.bind({ family: "unix", path })).toThrow(/ENAMETOOLONG/);
    const before = fdSnapshot();
    expect(() => Socket.connect({ family: "unix", path })).toThrow(/ENAMETOOLONG/);
    expect(() => Socket.listen({ family: "unix", path })).toThrow(/ENAMETOOLONG/);
    expect(newFds(before)).toEqual([]);
    expect(existsSync(path)).toBe(false);
  });

  scenario("ENOENT: a 107-byte unix path in a directory that does not exist", () => {
    const missing = join(dir, "no-such-dir");
    const path = join(missing, "y".repeat(107 - missing.length - 1));
    expect(Buffer.byteLength(path)).toBe(107);
    const s = own(new Socket("unix", "stream"));
    const e = expectSocketError(() => s.bind({ family: "unix", path }), "bind", "ENOENT");
    expect(e.address).toBe(path);
    expectSocketError(() => Socket.connect({ family: "unix", path }), "connect", "ENOENT");
  });
});

describe("EMFILE (child with RLIMIT_NOFILE 32)", () => {
  const prlimit = Bun.which("prlimit");
  test.skipIf(!prlimit)("socket(), accept(), socketpair() and SCM_RIGHTS into a full fd table", async () => {
    const o = await run([prlimit!, "--nofile=32:32", bun, fixture, "emfile"], {}, 10_000);
    expect(o.code).toBe(0);
    const r = report(o);
    expect(r.socketErr).toMatchObject({ name: "SocketError", syscall: "socket", code: "EMFILE" });
    // Exhausted exactly at the limit (the child's counts include the /proc/self/fd listing's fd).
    expect(r.start - 1 + r.socketErr.created).toBe(32);
    expect(r.afterSocket).toBe(r.start);
    expect(r.acceptFill).toMatchObject({ syscall: "socket", code: "EMFILE" });
    expect(r.acceptErr).toMatchObject({ ok: false, name: "SocketError", syscall: "accept", code: "EMFILE" });
    expect(r.pairErr).toMatchObject({ ok: false, name: "SocketError", syscall: "socketpair", code: "EMFILE" });
    expect(r.pairLeak).toBe(0);
    expect(r.accepted).toBe(true); // the queued connection survived the EMFILE
    // The kernel could not install the passed fd: dropped, reported as MSG_CTRUNC.
    expect(r.recv).toEqual({ ok: true, value: { bytes: 1, fds: [], controlTruncated: true } });
    expect(r.end).toBe(r.start);
  });
});

describe("EINTR: SIGALRM every 50 ms during blocking calls (child process)", () => {
  const SA_RESTART = 0x10000000;
  let seq = 0;

  /**
   * Starts the child, waits for its ready file (written just before the blocking call), sends
   * SIGALRM every 50 ms (at most 200), lets 400 ms of signals hit the blocked call, then runs
   * `peer` to let the call complete. Returns the child's report and the signals sent before
   * the peer acted.
   */
  async function eintr(op: string, handler: "js" | "raw", target: string, peer: (ready: string) => Promise<void> | void) {
    const ready = join(dir, `ready-${op}-${handler}-${seq++}`);
    const child = start([bun, fixture, "eintr", op, handler, target, ready], {}, 10_000);
    for (let i = 0; i < 500 && !existsSync(ready) && child.proc.exitCode === null; i++) await Bun.sleep(10);
    if (!existsSync(ready)) {
      const o = await child.done;
      throw new Error(`child never got ready: ${o.code} ${o.stderr}`);
    }
    let sent = 0;
    const timer = setInterval(() => {
      if (sent >= 200 || child.proc.exitCode !== null) return;
      try {
        process.kill(child.proc.pid, "SIGALRM");
        sent++;
      } catch { /* exited meanwhile */ }
    }, 50);
    try {
      await Bun.sleep(400);
      const sentBlocked = sent;
      await peer(readFileSync(ready, "utf8"));
      const o = await child.done;
      expect(o.signal).toBeNull();
      expect(o.code).toBe(0);
      const r = report(o);
      expect(r.leaked).toBe(0);
      if (handler === "js") {
        expect(r.flags & SA_RESTART).toBe(SA_RESTART); // Bun's handlers restart syscalls...
        expect(r.caught).toBeGreaterThan(0); // ...and the JS handler ran
      } else {
        expect(r.flags & SA_RESTART).toBe(0); // the kernel reports EINTR to bsdsock
      }
      return { r, sentBlocked };
    } finally {
      clearInterval(timer);
    }
  }

  for (const handler of ["js", "raw"] as const) {
    test(`[${handler} handler] blocking accept resumes and returns the connection`, async () => {
      let c: Socket | undefined;
      const { r, sentBlocked } = await eintr("accept", handler, "", (port) => {
        c = Socket.connect(v4(Number(port)));
        c.sendAll("ping");
      });
      c?.close();
      expect(r).toMatchObject({ ok: true, data: "ping" });
      expect(r.ms).toBeGreaterThanOrEqual(350);
      expect(sentBlocked).toBeGreaterThanOrEqual(5); // signals kept hitting the blocked call
    });

    test(`[${handler} handler] blocking recv resumes and returns the data`, async () => {
      const l = own(Socket.listen(v4()));
      l.timeout = 5_000;
      let conn: Socket | undefined;
      const { r, sentBlocked } = await eintr("recv", handler, String(portOf(l)), () => {
        [conn] = l.accept();
        conn.sendAll("ping");
      });
      conn?.close();
      expect(r).toMatchObject({ ok: true, data: "ping" });
      expect(r.ms).toBeGreaterThanOrEqual(350);
      expect(sentBlocked).toBeGreaterThanOrEqual(5); // signals kept hitting the blocked call
    });

    test(`[${handler} handler] blocking sendAll of 1 MiB resumes; every byte arrives`, async () => {
      const l = own(Socket.listen(v4()));
      l.timeout = 5_000;
      const h = new Bun.CryptoHasher("sha256");
      let got = 0;
      const { r, sentBlocked } = await eintr("send", handler, String(portOf(l)), async () => {
        const [conn] = l.accept(); // connected before the child got ready
        own(conn);
        conn.timeout = 0; // read without blocking this process, so the signals keep coming
        const buf = new Uint8Array(1 << 16);
        const deadline = performance.now() + 8_000;
        for (;;) {
          let n: number;
          try {
            n = conn.recvInto(buf);
          } catch (e) {
            if (!(e instanceof SocketError) || e.code !== "EAGAIN") throw e;
            if (performance.now() > deadline) throw new Error(`reader gave up after ${got} bytes`);
            await Bun.sleep(1);
            continue;
          }
          if (n === 0) break;
          h.update(buf.subarray(0, n));
          got += n;
        }
      });
      expect(r).toMatchObject({ ok: true, bytes: 1 << 20 });
      expect(r.ms).toBeGreaterThanOrEqual(350);
      expect(sentBlocked).toBeGreaterThanOrEqual(5); // signals kept hitting the blocked call
      expect(got).toBe(1 << 20);
      expect(h.digest("hex")).toBe(r.sha);
    });

    test(`[${handler} handler] blocking TCP connect to a full accept queue resumes and connects`, async () => {
      const l = fullListener();
      l.timeout = 5_000;
      const { r, sentBlocked } = await eintr("connect-tcp", handler, String(portOf(l)), () => {
        // Free a slot; the child's retransmitted SYN (about 1 s after the first) then gets in.
        own(l.accept()[0]);
      });
      expect(r).toMatchObject({ ok: true, peer: { ok: true, value: { port: portOf(l) } }, sent: { ok: true, value: 2 } });
      expect(r.ms).toBeGreaterThanOrEqual(350);
      expect(sentBlocked).toBeGreaterThanOrEqual(5); // signals kept hitting the blocked call
    });

    // With the raw handler (no SA_RESTART) an AF_UNIX connect() fails with EINTR and, unlike
    // TCP, is not continued by the kernel: Socket.connect must call connect() again rather than
    // wait for writability (an unconnected unix socket is writable at once with SO_ERROR 0).
    const unixConnect = test;
    unixConnect(`[${handler} handler] blocking unix connect to a full backlog resumes and connects`, async () => {
      const path = join(dir, `full-${handler}.sock`);
      const l = own(Socket.listen({ family: "unix", path }, { backlog: 0 }));
      own(Socket.connect({ family: "unix", path })); // fills the queue (backlog 0 holds one)
      const probe = own(new Socket("unix", "stream", 0, { timeout: 0 }));
      expectSocketError(() => probe.connect({ family: "unix", path }), "connect", "EAGAIN"); // full
      l.timeout = 5_000;
      const { r, sentBlocked } = await eintr("connect-unix", handler, path, () => {
        own(l.accept()[0]); // frees the slot: the blocked connect goes through at once
      });
      expect(r).toMatchObject({ ok: true, peer: { ok: true, value: { family: "unix", path } }, sent: { ok: true, value: 2 } });
      expect(r.ms).toBeGreaterThanOrEqual(350);
      expect(sentBlocked).toBeGreaterThanOrEqual(5); // signals kept hitting the blocked call
    });

    test(`[${handler} handler] a 300 ms recv timeout is honoured: not early, not hanging`, async () => {
      const { r, sentBlocked } = await eintr("timeout", handler, "300", () => {});
      expect(r).toMatchObject({ ok: false, name: "SocketTimeoutError", syscall: "recv", code: "ETIMEDOUT" });
      expect(r.ms).toBeGreaterThanOrEqual(299);
      expect(r.ms).toBeLessThan(300 + 250);
      expect(sentBlocked).toBeGreaterThanOrEqual(5); // signals kept hitting the blocked call
    });
  }
});

describe("non-blocking sockets (timeout 0)", () => {
  scenario("EAGAIN: recv with nothing to read", () => {
    const [a] = own(Socket.pair());
    a.timeout = 0;
    expectSocketError(() => a.recv(16), "recv", "EAGAIN");
    expectSocketError(() => a.recvMsg({ size: 16 }), "recvmsg", "EAGAIN");
    const u = own(new Socket("inet", "dgram", 0, { timeout: 0 }));
    u.bind(v4());
    expectSocketError(() => u.recvFrom(16), "recvfrom", "EAGAIN");
  });

  scenario("EAGAIN: send into a full buffer; sendAll reports bytesSent", () => {
    const [a, b] = own(Socket.pair());
    a.timeout = 0;
    const chunk = new Uint8Array(1 << 16);
    let total = 0;
    let err: SocketError | undefined;
    for (let i = 0; i < 10_000 && !err; i++) {
      try {
        total += a.send(chunk);
      } catch (e) {
        err = e as SocketError;
      }
    }
    expect(err).toBeInstanceOf(SocketError);
    expect([err!.syscall, err!.code]).toEqual(["send", "EAGAIN"]);
    expect(total).toBeGreaterThan(0);
    // Drain some room, then sendAll more than fits: it stops at EAGAIN and says how far it got.
    b.timeout = 0;
    let drained = 0;
    while (drained < 100_000) drained += b.recv(1 << 16).length;
    const e = expectSocketError(() => a.sendAll(new Uint8Array(4 << 20)), "send", "EAGAIN");
    expect(e.bytesSent).toBeGreaterThan(0);
    expect(e.bytesSent).toBeLessThan(4 << 20);
  });

  scenario("EAGAIN: accept with no pending connection", () => {
    const l = own(Socket.listen(v4()));
    l.timeout = 0;
    expectSocketError(() => l.accept(), "accept", "EAGAIN");
  });

  scenario("EINPROGRESS: TCP connect, then the handshake completes (SO_ERROR 0, peer known)", () => {
    const l = own(Socket.listen(v4()));
    const c = own(new Socket("inet", "stream", 0, { timeout: 0 }));
    const e = expectSocketError(() => c.connect(v4(portOf(l))), "connect", "EINPROGRESS");
    expect(e.address).toBe(`127.0.0.1:${portOf(l)}`);
    let peer: unknown;
    for (let i = 0; i < 200 && peer === undefined; i++) {
      try {
        peer = c.remoteAddress;
      } catch (x) {
        expect((x as SocketError).code).toBe("ENOTCONN");
        Bun.sleepSync(1);
      }
    }
    expect(peer).toEqual(v4(portOf(l)));
    expect(c.getOption("error")).toBe(0);
  });

  scenario("EAGAIN: unix connect to a full backlog", () => {
    const path = join(dir, "eagain.sock");
    own(Socket.listen({ family: "unix", path }, { backlog: 0 }));
    own(Socket.connect({ family: "unix", path }));
    const c = own(new Socket("unix", "stream", 0, { timeout: 0 }));
    expectSocketError(() => c.connect({ family: "unix", path }), "connect", "EAGAIN");
  });
});

describe("timeouts", () => {
  scenario("connect timeout: a full accept queue on 127.0.0.1 gives SocketTimeoutError on time", () => {
    const l = fullListener();
    const t0 = performance.now();
    let thrown: unknown;
    try {
      Socket.connect(v4(portOf(l)), { timeout: 300 });
    } catch (e) {
      thrown = e;
    }
    const ms = performance.now() - t0;
    expect(thrown).toBeInstanceOf(SocketTimeoutError);
    expect(thrown).toMatchObject({ syscall: "connect", code: "ETIMEDOUT", timeoutMs: 300, address: `127.0.0.1:${portOf(l)}` });
    expect(ms).toBeGreaterThanOrEqual(299);
    expect(ms).toBeLessThan(300 + 250);
  });

  // A unix connect to a full backlog reports EAGAIN on the non-blocking fd underneath a timeout;
  // Socket.connect retries (with backoff) until the timeout, like the blocking call would wait.
  test("unix connect with timeout 300 to a full backlog waits, then SocketTimeoutError", () => {
    const path = join(dir, "full-timeout.sock");
    own(Socket.listen({ family: "unix", path }, { backlog: 0 }));
    own(Socket.connect({ family: "unix", path }));
    const t0 = performance.now();
    expect(() => Socket.connect({ family: "unix", path }, { timeout: 300 })).toThrow(SocketTimeoutError);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(299);
  });

  // With a user-set SO_SNDTIMEO on a blocking Socket, the kernel's connect() gives up after
  // 200 ms with EINPROGRESS; Socket.connect reports that, as C's connect() would, instead of
  // waiting for a handshake with no deadline.
  test("blocking connect under SO_SNDTIMEO 200 ms returns an error, not a hang", async () => {
    const l = fullListener();
    const o = await run([bun, fixture, "sndtimeo-connect", String(portOf(l))], {}, 1_500);
    expect(o.signal).toBeNull(); // SIGKILL at the deadline means it hung
    const r = report(o);
    expect(r.result).toMatchObject({ ok: false, name: "SocketError", syscall: "connect" });
    expect(["EINPROGRESS", "EAGAIN", "ETIMEDOUT"]).toContain(r.result.code);
    expect(r.ms).toBeLessThan(1_000);
  });
});

describe("partial writes: 16 MiB to a slow reader process", () => {
  const payload = (() => {
    const data = new Uint8Array(16 << 20);
    let x = 88172645;
    for (let i = 0; i < data.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; data[i] = x & 0xff; }
    return { data, sha: new Bun.CryptoHasher("sha256").update(data).digest("hex") };
  })();

  test("non-blocking (timeout 0): sendAll stops at EAGAIN with bytesSent; resuming delivers every byte", async () => {
    const l = own(Socket.listen(v4()));
    l.timeout = 5_000;
    const reader = start([bun, fixture, "slow-reader", String(portOf(l))], {}, 15_000);
    const [conn] = l.accept();
    own(conn);
    conn.timeout = 0;
    let off = 0;
    let eagains = 0;
    const deadline = performance.now() + 12_000;
    while (off < payload.data.length) {
      try {
        conn.sendAll(payload.data.subarray(off));
        off = payload.data.length;
      } catch (e) {
        if (!(e instanceof SocketError) || e.code !== "EAGAIN") throw e;
        expect(e.syscall).toBe("send");
        off += e.bytesSent!;
        eagains++;
        if (performance.now() > deadline) throw new Error(`gave up at ${off} bytes`);
        await Bun.sleep(1);
      }
    }
    conn.shutdown("write");
    const o = await reader.done;
    expect(o.code).toBe(0);
    expect(report(o)).toEqual({ bytes: payload.data.length, sha: payload.sha });
    expect(eagains).toBeGreaterThan(3); // it really was written in parts
  });

  test("timeout 15 s (O_NONBLOCK underneath): one sendAll call delivers every byte", async () => {
    const l = own(Socket.listen(v4()));
    l.timeout = 5_000;
    const reader = start([bun, fixture, "slow-reader", String(portOf(l))], {}, 15_000);
    const [conn] = l.accept();
    own(conn);
    conn.timeout = 15_000;
    conn.sendAll(payload.data);
    conn.shutdown("write");
    const o = await reader.done;
    expect(o.code).toBe(0);
    expect(report(o)).toEqual({ bytes: payload.data.length, sha: payload.sha });
  });
});

describe("datagrams and control messages", () => {
  scenario("EMSGSIZE: a 65 536-byte UDP datagram (65 507 is the IPv4 maximum and goes)", () => {
    const r = own(new Socket("inet", "dgram"));
    r.bind(v4());
    const u = own(new Socket("inet", "dgram"));
    expectSocketError(() => u.sendTo(new Uint8Array(65536), r.localAddress as ReturnType<typeof v4>), "sendto", "EMSGSIZE");
    expect(u.sendTo(new Uint8Array(65507), r.localAddress as ReturnType<typeof v4>)).toBe(65507);
    u.connect(r.localAddress as ReturnType<typeof v4>);
    expectSocketError(() => u.send(new Uint8Array(65536)), "send", "EMSGSIZE");
  });

  scenario("MSG_TRUNC: a 100-byte datagram into 10 bytes (recvFromInto with MSG_TRUNC, recvMsg)", () => {
    const r = own(new Socket("inet", "dgram", 0, { timeout: 2_000 }));
    r.bind(v4());
    const u = own(new Socket("inet", "dgram"));
    const msg = Uint8Array.from({ length: 100 }, (_, i) => i);
    const to = r.localAddress as ReturnType<typeof v4>;
    u.sendTo(msg, to);
    const buf = new Uint8Array(10);
    const [n, from] = r.recvFromInto(buf, undefined, C.MSG_TRUNC);
    expect(n).toBe(100); // the real length
    expect([...buf]).toEqual([...msg.subarray(0, 10)]);
    expect(from).toEqual(v4(portOf(u)));
    u.sendTo(msg, to);
    const m = r.recvMsg({ size: 10 });
    expect({ bytes: m.bytes, truncated: m.truncated, len: m.data.length }).toEqual({ bytes: 10, truncated: true, len: 10 });
    u.sendTo(msg, to);
    const t = r.recvMsg({ size: 10, flags: C.MSG_TRUNC });
    expect({ bytes: t.bytes, truncated: t.truncated, len: t.data.length }).toEqual({ bytes: 100, truncated: true, len: 10 });
  });

  scenario("MSG_CTRUNC: fds sent to a receiver with no control room are dropped, none leaks", () => {
    const [a, b] = own(Socket.pair("unix", "dgram"));
    const extra = own(Socket.pair());
    const before = fdSnapshot();
    a.sendMsg({ data: "x", fds: [extra[0].fd, extra[1].fd] });
    const m = b.recvMsg({ size: 8 });
    expect({ bytes: m.bytes, fds: m.fds, controlTruncated: m.controlTruncated }).toEqual({ bytes: 1, fds: [], controlTruncated: true });
    expect(newFds(before)).toEqual([]);
  });

  scenario("SCM_RIGHTS into a truncated control buffer: the fds that fit are returned, the rest closed", () => {
    const [a, b] = own(Socket.pair("unix", "dgram"));
    const passed = [own(new Socket("inet", "stream")), own(new Socket("inet", "dgram")), own(new Socket("unix", "stream"))];
    const before = fdSnapshot();
    a.sendMsg({ data: "x", fds: passed.map((s) => s.fd) });
    // CMSG_SPACE(4) = 24 on x86_64: room for two 4-byte fds of the three.
    const m = b.recvMsg({ size: 8, controlSize: cmsgSpace(4) });
    expect(m.controlTruncated).toBe(true);
    expect(m.fds.length).toBe(2);
    const got = m.fds.map((fd) => Socket.fromFd(fd));
    expect(got.map((s) => s.type)).toEqual([passed[0]!.type, passed[1]!.type]);
    for (const s of got) s.close();
    // With room for fewer bytes than one header, nothing is installed.
    a.sendMsg({ data: "y", fds: passed.map((s) => s.fd) });
    const none = b.recvMsg({ size: 8, controlSize: 8 });
    expect({ fds: none.fds, controlTruncated: none.controlTruncated }).toEqual({ fds: [], controlTruncated: true });
    expect(newFds(before)).toEqual([]);
  });
});

describe("state errors", () => {
  scenario("ENOTCONN: recv, remoteAddress, shutdown on an unconnected TCP socket (send: EPIPE on Linux)", () => {
    const s = own(new Socket("inet", "stream"));
    expectSocketError(() => s.recv(1), "recv", "ENOTCONN");
    expectSocketError(() => s.remoteAddress, "getpeername", "ENOTCONN");
    expectSocketError(() => s.shutdown(), "shutdown", "ENOTCONN");
    expectSocketError(() => s.send("x"), "send", "EPIPE"); // Linux's answer for TCP
  });

  scenario("EDESTADDRREQ: send on an unconnected UDP socket", () => {
    const u = own(new Socket("inet", "dgram"));
    expectSocketError(() => u.send("x"), "send", "EDESTADDRREQ");
  });

  scenario("EISCONN: connect twice; sendTo with an address on a connected unix stream", () => {
    const [c] = tcpPair();
    const peer = c.remoteAddress as ReturnType<typeof v4>;
    const e = expectSocketError(() => c.connect(peer), "connect", "EISCONN");
    expect(e.address).toBe(`127.0.0.1:${peer.port}`);
    const [a] = own(Socket.pair());
    expectSocketError(() => a.sendTo("x", { family: "unix", path: join(dir, "any") }), "sendto", "EISCONN");
  });

  scenario("EINVAL: listen on a connected socket; accept on a socket that is not listening", () => {
    const [c] = tcpPair();
    expectSocketError(() => c.listen(), "listen", "EINVAL");
    expectSocketError(() => c.accept(), "accept", "EINVAL");
  });

  scenario("accept on a closed listener: EBADF without a syscall; after shutdown('read'): EINVAL", () => {
    const l = own(Socket.listen(v4()));
    l.shutdown("read"); // Linux: the listener stops listening
    expectSocketError(() => l.accept(), "accept", "EINVAL");
    l.close();
    const e = expectSocketError(() => l.accept(), "accept", "EBADF");
    expect(e.message).toContain("socket is closed");
  });
});

describe("security", () => {
  /** Runs a command as nobody (uid/gid 65534, no capabilities, no groups). */
  const asNobody = (cmd: string[]): string[] => [...nobodyPrefix, ...cmd];
  const nobodyCannotRun: string | null = whyNobodyCannotRun(fixture);
  if (nobodyCannotRun) console.warn(`SKIP privilege-drop tests: ${nobodyCannotRun}`);

  test.skipIf(nobodyCannotRun !== null)("raw sockets without CAP_NET_RAW: SocketError EPERM from socket(), nothing leaks", async () => {
    const o = await run(asNobody([bun, fixture, "raw"]), {}, 10_000);
    expect(o.code).toBe(0);
    const r = report(o);
    expect(r.uid).toBe(65534);
    expect(BigInt(`0x${r.caps}`)).toBe(0n);
    expect(r.v4).toMatchObject({ ok: false, name: "SocketError", syscall: "socket", code: "EPERM" });
    expect(r.v6).toMatchObject({ ok: false, name: "SocketError", syscall: "socket", code: "EPERM" });
    expect(r.leaked).toBe(0);
  });

  // A unix socket file gets 0777 & ~umask at bind(). fchmod() on a socket fd does not change the
  // file, so the way to ask for a mode is: bind under a umask, or chmod(path) after bind (before
  // anyone may connect, i.e. before listen()). Connecting needs write permission on the file.
  test.skipIf(nobodyCannotRun !== null)("unix socket file mode: umask at bind, chmod after; it is enforced for other users", async () => {
    const sub = join(dir, "modes");
    mkdirSync(sub, { mode: 0o755 });
    chmodSync(sub, 0o755);
    chmodSync(dir, 0o755); // let nobody reach the files
    const path = join(sub, "private.sock");
    const s = own(new Socket("unix", "stream"));
    const old = process.umask(0o077);
    try {
      s.bind({ family: "unix", path });
    } finally {
      process.umask(old);
    }
    expect(statSync(path).mode & 0o777).toBe(0o700);
    expect(statSync(path).isSocket()).toBe(true);
    s.listen();
    const denied = report(await run(asNobody([bun, fixture, "unix-connect", path]), {}, 10_000));
    expect(denied).toMatchObject({ uid: 65534, result: { ok: false, name: "SocketError", syscall: "connect", code: "EACCES" } });
    chmodSync(path, 0o666);
    expect(statSync(path).mode & 0o777).toBe(0o666);
    const allowed = report(await run(asNobody([bun, fixture, "unix-connect", path]), {}, 10_000));
    expect(allowed).toEqual({ uid: 65534, result: { ok: true } });
    chmodSync(dir, 0o700);
  });
});
