/**
 * Conformance: Go's nettest.TestConn (conntest.ts) over the blocking Socket API on TCP v4,
 * TCP v6, unix stream (pathname) and socketpair, plus close semantics on the same transports.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { SocketError, SocketTimeoutError, errnoNumbers } from "../../src/core/errors.ts";
import * as P from "../../src/posix.ts";
import { Socket } from "../../src/socket/socket.ts";
import { expectNoFdLeaks, scratchDir } from "../helpers.ts";
import { blockingPipe, transports, WorkerPool } from "./blocking.ts";
import { testConn } from "./conntest.ts";
import { nonBlockingPipe } from "./nonblocking.ts";

expectNoFdLeaks();

const dir = scratchDir();

describe("nettest.TestConn, blocking Socket API", () => {
  let pool: WorkerPool | undefined;
  const getPool = () => (pool ??= new WorkerPool());
  // Registered inside the describe, so it runs before the file's fd-leak check.
  afterAll(async () => {
    await pool?.close();
  });
  for (const tr of transports(dir)) {
    if (tr.skip) console.warn(`SKIP ${tr.name}: ${tr.skip}`);
    describe.skipIf(tr.skip !== null)(tr.name, () => testConn(blockingPipe(tr, getPool)));
  }
});

/** The error `f` throws (fails the test if it returns). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error(`expected ${f.toString()} to throw`);
}

/** A typed SocketError with this errno code (and syscall, when given); not a timeout. */
function expectSocketError(e: unknown, code: string, syscall?: string): void {
  expect(e).toBeInstanceOf(SocketError);
  expect(e).not.toBeInstanceOf(SocketTimeoutError);
  const se = e as SocketError;
  expect(se.code).toBe(code);
  expect(se.errno).toBe(errnoNumbers[code as keyof typeof errnoNumbers]!);
  if (syscall !== undefined) expect(se.syscall).toBe(syscall);
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Reads until EOF (bounded: the socket has a timeout). */
function readToEnd(s: Socket): string {
  let out = "";
  for (let i = 0; i < 1000; i++) {
    const b = s.recv(4096);
    if (b.length === 0) return out;
    out += text(b);
  }
  throw new Error("no EOF after 1000 reads");
}

describe("close semantics", () => {
  for (const tr of transports(dir)) {
    describe.skipIf(tr.skip !== null)(tr.name, () => {
      test("after shutdown(write) the peer reads the data, then EOF; further sends fail with a typed EPIPE", () => {
        const { c1, c2, cleanup } = tr.open();
        try {
          c2.timeout = 2_000; // bound every wait
          c1.sendAll("last words");
          c1.shutdown("write");
          expect(readToEnd(c2)).toBe("last words");
          expect(c2.recv(16).length).toBe(0); // EOF stays EOF
          expect(c2.recvInto(new Uint8Array(16))).toBe(0);
          // The writer: EPIPE (no SIGPIPE: this process is still here), blocking or not.
          for (const timeout of [null, 1_000, 0]) {
            c1.timeout = timeout;
            expectSocketError(thrown(() => c1.send("more")), "EPIPE", "send");
            const e = thrown(() => c1.sendAll("more")) as SocketError;
            expectSocketError(e, "EPIPE", "send");
            expect(e.bytesSent).toBe(0);
            expectSocketError(thrown(() => c1.sendMsg({ data: ["m", "ore"] })), "EPIPE", "sendmsg");
          }
          // Half-close: the other direction still works.
          c1.timeout = 2_000;
          c2.sendAll("reply");
          c2.shutdown("write");
          expect(readToEnd(c1)).toBe("reply");
        } finally {
          c1.close();
          c2.close();
          cleanup();
        }
      });

      test("after close() the peer reads EOF; every method throws EBADF without touching the fd number", () => {
        const { c1, c2, cleanup } = tr.open();
        const held: Socket[] = [];
        try {
          const old = c1.fd;
          c1.close();
          c1.close(); // idempotent
          expect(c1.closed).toBe(true);
          expect(String(c1)).toContain("closed");
          c2.timeout = 2_000;
          expect(c2.recv(16).length).toBe(0);

          // Put a live socket at the old number (the kernel hands out the lowest free one).
          let reused: Socket | undefined;
          let peer: Socket | undefined;
          for (let i = 0; i < 32 && !reused; i++) {
            const [x, y] = Socket.pair();
            held.push(x, y);
            if (x.fd === old) [reused, peer] = [x, y];
            else if (y.fd === old) [reused, peer] = [y, x];
          }
          expect(reused).toBeDefined();
          const flagsBefore = P.fcntl(old, P.F_GETFL);
          const rcvBufBefore = reused!.getOption("receiveBufferSize");

          const addr = { family: "unix", path: `${dir}/never-${tr.name.replace(/\W/g, "")}` } as const;
          const calls: [string, () => unknown][] = [
            ["fd", () => c1.fd],
            ["timeout", () => { c1.timeout = 5; }],
            ["setBlocking", () => c1.setBlocking(false)],
            ["bind", () => c1.bind(addr)],
            ["listen", () => c1.listen()],
            ["accept", () => c1.accept()],
            ["connect", () => c1.connect(addr)],
            ["shutdown", () => c1.shutdown("both")],
            ["send", () => c1.send("x")],
            ["sendAll", () => c1.sendAll("x")],
            ["sendTo", () => c1.sendTo("x", addr)],
            ["sendMsg", () => c1.sendMsg({ data: "x" })],
            ["recv", () => c1.recv(1)],
            ["recvInto", () => c1.recvInto(new Uint8Array(1))],
            ["recvFrom", () => c1.recvFrom(1)],
            ["recvFromInto", () => c1.recvFromInto(new Uint8Array(1))],
            ["recvMsg", () => c1.recvMsg({ size: 1 })],
            ["localAddress", () => c1.localAddress],
            ["remoteAddress", () => c1.remoteAddress],
            ["getOption", () => c1.getOption("type")],
            ["setOption", () => c1.setOption("receiveBufferSize", 4096)],
            ["getRawOption", () => c1.getRawOption(P.SOL_SOCKET, P.SO_TYPE, 4)],
            ["setRawOption", () => c1.setRawOption(P.SOL_SOCKET, P.SO_RCVBUF, 4096)],
            ["detach", () => c1.detach()],
          ];
          for (const [name, call] of calls) {
            const e = thrown(call);
            try {
              expectSocketError(e, "EBADF");
            } catch (why) {
              throw new Error(`${name} after close: ${String(e)}\n${String(why)}`);
            }
          }

          // None of that reached the socket now at the old number: same flags and options, not
          // shut down, nothing sent, still connected both ways.
          expect(reused!.fd).toBe(old);
          expect(P.fcntl(old, P.F_GETFL)).toBe(flagsBefore);
          expect(reused!.getOption("receiveBufferSize")).toBe(rcvBufBefore);
          peer!.timeout = 0;
          expectSocketError(thrown(() => peer!.recv(16)), "EAGAIN");
          reused!.timeout = 2_000;
          peer!.timeout = 2_000;
          reused!.sendAll("ping");
          expect(text(peer!.recv(16))).toBe("ping");
          peer!.sendAll("pong");
          expect(text(reused!.recv(16))).toBe("pong");
        } finally {
          for (const s of held) s.close();
          c1.close();
          c2.close();
          cleanup();
        }
      });
    });
  }
});

// The same suite, unchanged, over an async in-process Conn on non-blocking sockets.
describe("nettest.TestConn, in-process on non-blocking sockets", () => {
  for (const tr of transports(dir).filter((t) => t.name === "TCP v4" || t.name === "socketpair")) {
    describe.skipIf(tr.skip !== null)(tr.name, () => testConn(nonBlockingPipe(tr)));
  }
});
