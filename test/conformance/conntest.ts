/**
 * A port of Go's `nettest.TestConn` (golang.org/x/net/nettest/conntest.go): BasicIO, PingPong,
 * RacyRead, RacyWrite, ReadTimeout, WriteTimeout, PastTimeout, PresentTimeout, FutureTimeout,
 * CloseTimeout, ConcurrentMethods, with Go's parameters (1 MiB of seeded random data, 1024-byte
 * chunks, ping-pong to 1000, 10 racy goroutines x 100 calls with 1 ms deadlines, 100 ms
 * present/future/close delays, 100 x 7 concurrent method calls, 10 ms deadlines there).
 *
 * `testConn(makePipe)` registers the subtests. A pipe has two ends; the suite touches an end in
 * only three ways, so that any socket API can be plugged in unchanged:
 * - `end.go(routine, args)`: Go's `go f(c)` — runs a routine (routines.ts) on that end
 *   concurrently with the caller and resolves with its result. The blocking API runs it in a
 *   Worker thread (blocking.ts); an async API would run it in-process on its own Conn.
 * - `end.setDeadline/setReadDeadline/setWriteDeadline(t)`: Go's, from the test goroutine.
 * - `end.close()`: Go's Close from the test goroutine.
 * Go's test goroutine is the test function here; Go's `t.Errorf` (in any goroutine) collects
 * messages that must be empty at the end.
 *
 * Where this port differs from Go, the comment at the spot says what and why. In short:
 * - Seeded data: same size and chunking, but a mulberry32 stream, not Go's math/rand source.
 * - Past deadlines: Go refuses at once even an operation that could complete; bsdsock's timeout
 *   bounds the wait only (blocking-conn.ts). WriteTimeout writes until a write would wait;
 *   PastTimeout reads before it writes and accepts the write that fits (then drains its echo).
 * - Unbounded Go loops (`for err == nil`, copies) carry an iteration bound (MAX_ITERATIONS), and
 *   Go's 1-minute watchdog is WATCHDOG_MS.
 * - ConcurrentMethods' 700 goroutines are 700 calls spread over the 10 threads of CONCURRENT_PLAN.
 */
import { expect, test } from "bun:test";
import {
  A_LONG_TIME_AGO, CHUNK, checkForTimeoutError, NEVER, seededBytes, wallNow, type Deadline, type RoutineArgs,
  type Method, type RoutineName, type RoutineResult, type RoutineValue,
} from "./routines.ts";

/** One end of a pipe, as the suite uses it (see the module comment). */
export interface End {
  go<K extends RoutineName>(name: K, args: RoutineArgs<K>): Promise<RoutineResult<RoutineValue<K> | undefined>>;
  setDeadline(t: Deadline): void;
  setReadDeadline(t: Deadline): void;
  setWriteDeadline(t: Deadline): void;
  close(): void;
}

/**
 * Go's MakePipe: anything written to `a` is read by `b` and vice versa (Go's c1, c2). `stop`
 * closes everything (both ends, any listener) once the routines still running have returned.
 */
export interface Pipe {
  a: End;
  b: End;
  stop(): Promise<void>;
}
export type MakePipe = () => Promise<Pipe>;

/** Go's timeoutWrapper fires after a minute; the whole suite here must stay well under 20 s. */
export const WATCHDOG_MS = 15_000;
/** bun's per-test timeout: the watchdog plus time for stop() to collect the routines. */
export const TEST_TIMEOUT_MS = WATCHDOG_MS + 10_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Go's *testing.T, for one subtest. */
class T {
  readonly errors: string[] = [];
  /** Routines started like `go chunkedCopy(...)`, whose results Go ignores. */
  readonly background: Promise<RoutineResult<unknown>>[] = [];

  errorf = (msg: string): void => {
    this.errors.push(msg);
  };

  /** Runs a routine and waits for it; its t.Errorf messages become ours. */
  async go<K extends RoutineName>(end: End, name: K, args: RoutineArgs<K>): Promise<RoutineValue<K>> {
    const r = await end.go(name, args);
    this.errors.push(...r.errors.map((m) => `${name}: ${m}`));
    if (r.threw) throw new Error(`routine ${name} failed:\n${r.errors.join("\n")}`);
    return r.value as RoutineValue<K>;
  }

  /** `go chunkedCopy(...)`: runs until the pipe stops; only a crash of the routine is reported. */
  bg<K extends RoutineName>(end: End, name: K, args: RoutineArgs<K>): void {
    this.background.push(end.go(name, args));
  }
}

async function timeoutWrapper(mp: MakePipe, f: (t: T, c1: End, c2: End) => Promise<void>): Promise<void> {
  const pipe = await mp();
  const t = new T();
  const timer = setTimeout(() => {
    t.errorf("test timed out; terminating pipe");
    pipe.stop().catch(() => {});
  }, WATCHDOG_MS);
  try {
    await f(t, pipe.a, pipe.b);
  } finally {
    clearTimeout(timer);
    await pipe.stop();
  }
  for (const r of await Promise.all(t.background)) if (r.threw) t.errors.push(...r.errors);
  expect(t.errors).toEqual([]);
}

/** Registers Go's TestConn subtests for `makePipe` (call inside a describe). */
export function testConn(makePipe: MakePipe): void {
  test("BasicIO", () => timeoutWrapper(makePipe, testBasicIO), TEST_TIMEOUT_MS);
  test("PingPong", () => timeoutWrapper(makePipe, testPingPong), TEST_TIMEOUT_MS);
  test("RacyRead", () => timeoutWrapper(makePipe, testRacyRead), TEST_TIMEOUT_MS);
  test("RacyWrite", () => timeoutWrapper(makePipe, testRacyWrite), TEST_TIMEOUT_MS);
  test("ReadTimeout", () => timeoutWrapper(makePipe, testReadTimeout), TEST_TIMEOUT_MS);
  test("WriteTimeout", () => timeoutWrapper(makePipe, testWriteTimeout), TEST_TIMEOUT_MS);
  test("PastTimeout", () => timeoutWrapper(makePipe, testPastTimeout), TEST_TIMEOUT_MS);
  test("PresentTimeout", () => timeoutWrapper(makePipe, testPresentTimeout), TEST_TIMEOUT_MS);
  test("FutureTimeout", () => timeoutWrapper(makePipe, testFutureTimeout), TEST_TIMEOUT_MS);
  test("CloseTimeout", () => timeoutWrapper(makePipe, testCloseTimeout), TEST_TIMEOUT_MS);
  test("ConcurrentMethods", () => timeoutWrapper(makePipe, testConcurrentMethods), TEST_TIMEOUT_MS);
}

/** testBasicIO: the 1 MiB sent on c1 is received on c2, byte for byte. */
async function testBasicIO(t: T, c1: End, c2: End): Promise<void> {
  const want = seededBytes(1 << 20, 0);
  const writer = t.go(c1, "basicWriter", { want });
  const got = await t.go(c2, "basicReader", { capacity: 2 * want.length });
  await writer;
  if (!Buffer.from(got.buffer, got.byteOffset, got.length).equals(want)) {
    let at = 0;
    while (at < Math.min(got.length, want.length) && got[at] === want[at]) at++;
    t.errorf(`transmitted data differs: got ${got.length} bytes, want ${want.length}; first difference at ${at}`);
  }
}

/** testPingPong: both ends bounce a counter up to 1000. */
async function testPingPong(t: T, c1: End, c2: End): Promise<void> {
  const p1 = t.go(c1, "pingPonger", {});
  const p2 = t.go(c2, "pingPonger", {});
  // Start off the chain reaction.
  const w = await t.go(c1, "write", { size: 8 });
  if (w.err) t.errorf(`unexpected c1.Write error: ${w.err.message}`);
  const [r1, r2] = await Promise.all([p1, p2]);
  // Not checked by Go, implied by it: c2 saw 0, 2, ..., 1000 and c1 saw 1, 3, ..., 999, then EOF.
  if (r1.last !== 999 || r2.last !== 1000) t.errorf(`chain ended at c1=${r1.last}, c2=${r2.last}; want 999, 1000`);
}

/** testRacyRead: the Read buffer may be reused as soon as a (1 ms deadline) Read returned. */
async function testRacyRead(t: T, c1: End, c2: End): Promise<void> {
  t.bg(c2, "randomSource", { seed: 0 });
  c1.setReadDeadline(wallNow() + 1);
  await Promise.all(Array.from({ length: 10 }, () => t.go(c1, "racyReader", { iterations: 100 })));
}

/** testRacyWrite: the Write buffer may be reused as soon as a (1 ms deadline) Write returned. */
async function testRacyWrite(t: T, c1: End, c2: End): Promise<void> {
  t.bg(c2, "discard", {});
  c1.setWriteDeadline(wallNow() + 1);
  await Promise.all(Array.from({ length: 10 }, () => t.go(c1, "racyWriter", { iterations: 100 })));
}

/** testReadTimeout: Read timeouts do not affect Write. */
async function testReadTimeout(t: T, c1: End, c2: End): Promise<void> {
  t.bg(c2, "discard", {});
  c1.setReadDeadline(A_LONG_TIME_AGO);
  const r = await t.go(c1, "read", { size: 1024 });
  checkForTimeoutError(t.errorf, r.err);
  const w = await t.go(c1, "write", { size: 1024 });
  if (w.err) t.errorf(`unexpected Write error: ${w.err.message}`);
}

/** testWriteTimeout: Write timeouts do not affect Read. */
async function testWriteTimeout(t: T, c1: End, c2: End): Promise<void> {
  t.bg(c2, "randomSource", { seed: 0 });
  c1.setWriteDeadline(A_LONG_TIME_AGO);
  // DIFFERS: Go does one Write and expects the timeout. With bsdsock an expired timeout does not
  // refuse a send that fits in the socket buffer (the timeout bounds the wait, not the attempt),
  // so one 1024-byte write into an empty buffer succeeds. We write 1024-byte chunks until one
  // would have to wait (c2 never reads, so the buffers fill): that one must time out, at once.
  const w = await t.go(c1, "writeUntilError", {});
  checkForTimeoutError(t.errorf, w.last.err, `Write #${w.writes + 1} with an expired deadline: `);
  if (w.last.err?.timeout && w.last.n >= CHUNK) t.errorf(`timed-out Write reports ${w.last.n} bytes sent, want < ${CHUNK}`);
  const r = await t.go(c1, "read", { size: 1024 });
  if (r.err) t.errorf(`unexpected Read error: ${r.err.message}`);
}

/** testPastTimeout: a deadline in the past times out Read and Write at once. */
async function testPastTimeout(t: T, c1: End, c2: End): Promise<void> {
  t.bg(c2, "echo", {});
  await testRoundtrip(t, c1);

  c1.setDeadline(A_LONG_TIME_AGO);
  // DIFFERS in order: Go writes, then reads. The write below goes through (see next comment) and
  // its echo would race with the read; reading first keeps Go's check of the read exact.
  const r = await t.go(c1, "read", { size: 1024 });
  if (r.n !== 0) t.errorf(`unexpected Read count: got ${r.n}, want 0`);
  checkForTimeoutError(t.errorf, r.err);
  // DIFFERS: Go wants n == 0 and a timeout. bsdsock's expired timeout bounds the wait, not the
  // attempt: 1024 bytes fit in the empty send buffer, so they are sent at once (blocking-conn.ts).
  const w = await t.go(c1, "write", { size: 1024 });
  if (w.err !== null || w.n !== 1024) {
    t.errorf(`Write with an expired timeout and room in the buffer: got n=${w.n}, err=${w.err?.message}; want all 1024 bytes`);
  }
  // ... and its echo is drained, so that the roundtrip below starts clean (Go's never sent it).
  c1.setDeadline(NEVER);
  const drained = await t.go(c1, "readFull", { size: w.n });
  if (drained.err || drained.n !== w.n) t.errorf(`draining the echo: got ${drained.n} of ${w.n} bytes, err=${drained.err?.message}`);

  await testRoundtrip(t, c1);
}

/** testPresentTimeout: a past deadline set while Read and Write are pending times them out. */
async function testPresentTimeout(t: T, c1: End, _c2: End): Promise<void> {
  const deadlineSet = new Int32Array(new SharedArrayBuffer(4)); // Go: make(chan bool, 1)
  // DIFFERS: Go's SetDeadline wakes the pending calls at once; the blocking pipe's calls notice it
  // within SLICE_MS (a thread blocked in poll() cannot be woken; see blocking-conn.ts).
  const setter = (async () => {
    await sleep(100);
    Atomics.store(deadlineSet, 0, 1);
    c1.setReadDeadline(A_LONG_TIME_AGO);
    c1.setWriteDeadline(A_LONG_TIME_AGO);
  })();
  const reader = t.go(c1, "readOnce", { size: 1024, flags: deadlineSet }).then((r) => {
    if (r.n !== 0) t.errorf(`unexpected Read count: got ${r.n}, want 0`);
    checkForTimeoutError(t.errorf, r.err);
    if (r.flagAtError === 0) t.errorf("Read timed out before deadline is set");
  });
  const writer = t.go(c1, "writeUntilError", { flags: deadlineSet }).then((w) => {
    checkForTimeoutError(t.errorf, w.last.err);
    if (w.flagAtError === 0) t.errorf("Write timed out before deadline is set");
  });
  await Promise.all([setter, reader, writer]);
}

/** testFutureTimeout: a future deadline eventually times out Read and Write. */
async function testFutureTimeout(t: T, c1: End, c2: End): Promise<void> {
  c1.setDeadline(wallNow() + 100);
  const reader = t.go(c1, "read", { size: 1024 }).then((r) => checkForTimeoutError(t.errorf, r.err));
  const writer = t.go(c1, "writeUntilError", {}).then((w) => checkForTimeoutError(t.errorf, w.last.err));
  await Promise.all([reader, writer]);

  t.bg(c2, "echo", {});
  await resyncConn(t, c1);
  await testRoundtrip(t, c1);
}

/** testCloseTimeout: Close ends pending Read and Write at once. */
async function testCloseTimeout(t: T, c1: End, c2: End): Promise<void> {
  t.bg(c2, "echo", {});
  // Test for cancelation upon connection closure.
  c1.setDeadline(NEVER);
  const closer = (async () => {
    await sleep(100);
    c1.close();
  })();
  const reader = t.go(c1, "readUntilError", {});
  const writer = t.go(c1, "writeUntilError", {});
  const [, r, w] = await Promise.all([closer, reader, writer]);
  // Go checks only that both return. Not a timeout, either: there is no deadline.
  if (r.err?.timeout) t.errorf(`Read loop ended with a timeout without a deadline: ${r.err.message}`);
  if (w.last.err?.timeout) t.errorf(`Write loop ended with a timeout without a deadline: ${w.last.err.message}`);
}

/**
 * ConcurrentMethods' 100 x 7 goroutines on 10 threads: each method's calls run on
 * threads of their own, so that (as with goroutines) no call waits behind a blocked Read or Write
 * of its thread: in Go, the first Reads block until a SetDeadline goroutine or echoed data ends
 * them.
 */
export const CONCURRENT_PLAN: [Method, number][][] = [
  [["Read", 25]], [["Read", 25]], [["Read", 25]], [["Read", 25]],
  [["Write", 34]], [["Write", 33]], [["Write", 33]],
  [["SetDeadline", 100]],
  [["SetReadDeadline", 100], ["SetWriteDeadline", 100]],
  [["LocalAddr", 100], ["RemoteAddr", 100]],
];

/** testConcurrentMethods: every method may be called concurrently. */
async function testConcurrentMethods(t: T, c1: End, c2: End): Promise<void> {
  t.bg(c2, "echo", {});
  // DIFFERS: Go starts 100 x 7 goroutines (Read, Write, SetDeadline(+10 ms), SetReadDeadline and
  // SetWriteDeadline(aLongTimeAgo), LocalAddr, RemoteAddr); here CONCURRENT_PLAN's threads make
  // those 700 calls, the calls of one thread in sequence.
  const results = await Promise.all(CONCURRENT_PLAN.map((share) => t.go(c1, "concurrentMethods", { share })));
  // Go: "The results of the calls may be nonsensical" and checks none. Stronger here: the only
  // error any call may give is the typed timeout (never EAGAIN, EBADF or an untyped error).
  const calls: Record<string, number> = {};
  for (const r of results) {
    for (const [m, n] of Object.entries(r.calls)) calls[m] = (calls[m] ?? 0) + n;
    for (const [what, count] of Object.entries(r.errors)) {
      if (!what.endsWith(":timeout")) t.errorf(`${count} x ${what}`);
    }
  }
  const want = Object.fromEntries(["Read", "Write", "SetDeadline", "SetReadDeadline", "SetWriteDeadline", "LocalAddr", "RemoteAddr"].map((m) => [m, 100]));
  if (JSON.stringify(Object.entries(calls).sort()) !== JSON.stringify(Object.entries(want).sort())) {
    t.errorf(`calls made: ${JSON.stringify(calls)}, want 100 of each`);
  }
  await resyncConn(t, c1); // At worst, the deadline is set 10ms into the future
  await testRoundtrip(t, c1);
}

/** testRoundtrip: writes into c and reads it back (c's peer echoes). */
async function testRoundtrip(t: T, c: End): Promise<void> {
  c.setDeadline(NEVER);
  await t.go(c, "roundtrip", {});
}

/** resyncConn: writes a 0xff marker and reads until a read ends with it (c's peer echoes). */
async function resyncConn(t: T, c: End): Promise<void> {
  c.setDeadline(NEVER);
  const writer = t.go(c, "write", { bytes: Uint8Array.of(0xff) });
  await t.go(c, "resyncRead", {});
  const w = await writer;
  if (w.err) t.errorf(`unexpected Write error: ${w.err.message}`);
}
