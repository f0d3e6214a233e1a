/**
 * The goroutines of Go's `nettest.TestConn` (golang.org/x/net/nettest/conntest.go), ported as
 * routines over `Conn`, a Go `net.Conn`-shaped interface.
 *
 * A routine is the body of one `go func() { ... }()` of the Go suite (or a sequential piece of
 * the test goroutine that does I/O). The suite (conntest.ts) starts routines on an end of a pipe
 * with `end.go(name, args)`; how they run concurrently is the pipe's business:
 *
 * - the blocking Socket API runs each one in a Worker thread (blocking.ts, worker.ts), on a
 *   `BlockingConn` (blocking-conn.ts) that maps Go's deadlines onto per-call timeouts;
 * - an async API can run them in-process on its own `Conn`: every call below is `await`ed, so
 *   a Conn may return values or promises. Nothing here knows which API it runs on.
 *
 * This module is imported by workers: no bun:test, no module state, plain cloneable results.
 * `t.Errorf` of the Go code becomes `ctx.errorf` (collected and returned with the result).
 */
import { SocketError } from "../../src/core/errors.ts";
import { mulberry32 } from "../prng.ts";

/** A deadline: absolute wall-clock time in ms (`wallNow()` scale), or null for none. */
export type Deadline = number | null;

/** Go's `aLongTimeAgo = time.Unix(233431200, 0)`, in ms. */
export const A_LONG_TIME_AGO = 233431200_000;
/** Go's `neverTimeout = time.Time{}`: no deadline. */
export const NEVER: Deadline = null;

/** Wall-clock ms with sub-ms precision, comparable across threads (unlike performance.now()). */
export const wallNow = (): number => performance.timeOrigin + performance.now();

/**
 * Go's net.Conn. `read` returns 0 at end of stream (Go: io.EOF); `write` writes all of `buf`
 * or throws (with `bytesSent` on the error when some went out, Go's `n`). Deadlines persist
 * until changed and apply to calls already pending, as in Go.
 */
export interface Conn {
  read(buf: Uint8Array): number | Promise<number>;
  write(buf: Uint8Array): number | Promise<number>;
  close(): void | Promise<void>;
  setDeadline(t: Deadline): void;
  setReadDeadline(t: Deadline): void;
  setWriteDeadline(t: Deadline): void;
  localAddr(): unknown;
  remoteAddr(): unknown;
}

/** Go's net.ErrClosed: an operation on (or pending during) a Conn closed by this side. */
export class ErrClosed extends Error {
  override readonly name = "ErrClosed";
  bytesSent = 0;
  constructor() {
    super("use of closed network connection");
  }
}

/** A routine's error, as plain data (results cross thread boundaries). */
export interface ErrInfo {
  name: string;
  message: string;
  /** SocketError fields, when it is one. */
  code: string | null;
  syscall: string | null;
  /** Go's net.Error.Timeout(): a typed SocketError with code ETIMEDOUT (SocketTimeoutError). */
  timeout: boolean;
  /** Go's net.ErrClosed. */
  closed: boolean;
  bytesSent: number;
}

export function errInfo(e: unknown): ErrInfo {
  const err = e instanceof Error ? e : new Error(String(e));
  const se = e instanceof SocketError ? e : null;
  return {
    name: err.name,
    message: err.message,
    code: se?.code ?? null,
    syscall: se?.syscall ?? null,
    timeout: se !== null && se.name === "SocketTimeoutError" && se.code === "ETIMEDOUT",
    closed: e instanceof ErrClosed,
    bytesSent: (e as { bytesSent?: number }).bytesSent ?? 0,
  };
}

/** What a routine gets besides its arguments. */
export interface Ctx {
  c: Conn;
  errorf(msg: string): void;
}

/** checkForTimeoutError: the error must be the typed timeout (Go: net.Error with Timeout()). */
export function checkForTimeoutError(errorf: (m: string) => void, err: ErrInfo | null, what = ""): void {
  if (err === null) errorf(`${what}got no error, want a timeout`);
  else if (!err.timeout) errorf(`${what}got ${err.name} ${err.code ?? ""} (${err.message}), want a SocketTimeoutError with code ETIMEDOUT`);
}

/** Seeded bytes (mulberry32). Go's math/rand source is not reproduced, only "seeded random". */
export function seededRandom(seed: number): (out: Uint8Array) => void {
  const next = mulberry32(seed);
  return (out) => {
    for (let i = 0; i < out.length; i += 4) {
      const t = next();
      for (let k = 0; k < 4 && i + k < out.length; k++) out[i + k] = (t >>> (8 * k)) & 0xff;
    }
  };
}

export function seededBytes(size: number, seed: number): Uint8Array {
  const b = new Uint8Array(size);
  seededRandom(seed)(b);
  return b;
}

/** chunkedCopy's buffer size: "We assume that the maximum packet size is at least 1024." */
export const CHUNK = 1024;
/** Upper bound on any loop below that Go leaves unbounded (the pipe's watchdog bounds time). */
export const MAX_ITERATIONS = 1 << 20;

/** io.ReadFull: n === buf.length, or fewer at EOF. Errors propagate. */
async function readFull(c: Conn, buf: Uint8Array): Promise<number> {
  let off = 0;
  while (off < buf.length) {
    const n = await c.read(off === 0 ? buf : buf.subarray(off));
    if (n === 0) break;
    off += n;
  }
  return off;
}

interface IoResult {
  n: number;
  err: ErrInfo | null;
  /** ms the call took. */
  elapsed: number;
}

async function timed(f: () => number | Promise<number>): Promise<IoResult> {
  const t0 = wallNow();
  try {
    const n = await f();
    return { n, err: null, elapsed: wallNow() - t0 };
  } catch (e) {
    const err = errInfo(e);
    return { n: err.bytesSent, err, elapsed: wallNow() - t0 };
  }
}

/** How a copy loop ended: at EOF (err null) or with an error. */
interface CopyResult {
  bytes: number;
  err: ErrInfo | null;
}

/** chunkedCopy(w, c): reads 1024-byte chunks until EOF or error, handing each to `sink`. */
async function copyFrom(c: Conn, sink: (chunk: Uint8Array) => void | Promise<void>): Promise<CopyResult> {
  const buf = new Uint8Array(CHUNK);
  let bytes = 0;
  try {
    for (let i = 0; i < MAX_ITERATIONS; i++) {
      const n = await c.read(buf);
      if (n === 0) return { bytes, err: null };
      bytes += n;
      await sink(buf.subarray(0, n));
    }
    return { bytes, err: errInfo(new Error("copy loop bound reached")) };
  } catch (e) {
    return { bytes, err: errInfo(e) };
  }
}

export const routines = {
  /** testBasicIO, goroutine 1: chunkedCopy(c1, bytes.NewReader(want)); c1.Close(). */
  async basicWriter({ c, errorf }: Ctx, { want }: { want: Uint8Array }): Promise<void> {
    try {
      for (let off = 0; off < want.length; off += CHUNK) await c.write(want.subarray(off, off + CHUNK));
    } catch (e) {
      errorf(`unexpected c1.Write error: ${errInfo(e).message}`);
    }
    try {
      await c.close();
    } catch (e) {
      errorf(`unexpected c1.Close error: ${errInfo(e).message}`);
    }
  },

  /** testBasicIO, goroutine 2: chunkedCopy(wr, c2); c2.Close(); dataCh <- wr.Bytes(). */
  async basicReader({ c, errorf }: Ctx, { capacity }: { capacity: number }): Promise<Uint8Array> {
    const wr = new Uint8Array(capacity);
    let len = 0;
    const r = await copyFrom(c, (chunk) => {
      if (len + chunk.length > wr.length) throw new Error(`more than ${capacity} bytes received`);
      wr.set(chunk, len);
      len += chunk.length;
    });
    if (r.err) errorf(`unexpected c2.Read error: ${r.err.message}`);
    try {
      await c.close();
    } catch (e) {
      errorf(`unexpected c2.Close error: ${errInfo(e).message}`);
    }
    return wr.slice(0, len);
  },

  /** testPingPong's pingPonger. */
  async pingPonger({ c, errorf }: Ctx): Promise<{ last: number }> {
    const buf = new Uint8Array(8);
    const view = new DataView(buf.buffer);
    let prev = 0n;
    let v = 0n;
    for (let i = 0; i < MAX_ITERATIONS; i++) {
      let n: number;
      try {
        n = await readFull(c, buf);
      } catch (e) {
        errorf(`unexpected Read error: ${errInfo(e).message}`);
        break; // Go goes on with a stale buffer here; with a real error the next Read fails too
      }
      if (n === 0) break; // io.EOF
      if (n < 8) {
        errorf(`unexpected Read error: unexpected EOF after ${n} bytes`);
        break;
      }
      v = view.getBigUint64(0, true);
      view.setBigUint64(0, v + 1n, true);
      if (prev !== 0n && prev + 2n !== v) errorf(`mismatching value: got ${v}, want ${prev + 2n}`);
      prev = v;
      if (v === 1000n) break;
      try {
        await c.write(buf);
      } catch (e) {
        errorf(`unexpected Write error: ${errInfo(e).message}`);
        break;
      }
    }
    try {
      await c.close();
    } catch (e) {
      errorf(`unexpected Close error: ${errInfo(e).message}`);
    }
    return { last: Number(v) };
  },

  /** One c.Write: of `bytes`, or of `size` zero bytes (Go's make([]byte, size)). */
  async write({ c }: Ctx, { size, bytes }: { size?: number; bytes?: Uint8Array }): Promise<IoResult> {
    const buf = bytes ?? new Uint8Array(size ?? CHUNK);
    return timed(() => c.write(buf));
  },

  /** One c.Read into a buffer of `size` bytes. */
  async read({ c }: Ctx, { size }: { size: number }): Promise<IoResult> {
    const buf = new Uint8Array(size);
    return timed(() => c.read(buf));
  },

  /** io.ReadFull of `size` bytes. */
  async readFull({ c }: Ctx, { size }: { size: number }): Promise<IoResult> {
    const buf = new Uint8Array(size);
    return timed(() => readFull(c, buf));
  },

  /** `go chunkedCopy(c2, rand.New(rand.NewSource(seed)))`: writes random data until an error. */
  async randomSource({ c }: Ctx, { seed }: { seed: number }): Promise<CopyResult> {
    const next = seededRandom(seed);
    const buf = new Uint8Array(CHUNK);
    let bytes = 0;
    try {
      for (let i = 0; i < MAX_ITERATIONS; i++) {
        next(buf);
        await c.write(buf);
        bytes += buf.length;
      }
      return { bytes, err: errInfo(new Error("copy loop bound reached")) };
    } catch (e) {
      return { bytes, err: errInfo(e) };
    }
  },

  /** `go chunkedCopy(ioutil.Discard, c2)`. */
  async discard({ c }: Ctx): Promise<CopyResult> {
    return copyFrom(c, () => {});
  },

  /** `go chunkedCopy(c2, c2)`: echoes everything back. */
  async echo({ c }: Ctx): Promise<CopyResult> {
    return copyFrom(c, async (chunk) => { await c.write(chunk); });
  },

  /** testRacyRead's goroutine: 100 reads of 1024 bytes, re-arming a 1 ms deadline on error. */
  async racyReader({ c, errorf }: Ctx, { iterations }: { iterations: number }): Promise<{ reads: number; timeouts: number }> {
    const b1 = new Uint8Array(CHUNK);
    const b2 = new Uint8Array(CHUNK);
    let reads = 0;
    let timeouts = 0;
    for (let j = 0; j < iterations; j++) {
      let err: ErrInfo | null = null;
      try {
        if ((await c.read(b1)) > 0) reads++;
      } catch (e) {
        err = errInfo(e);
      }
      b1.set(b2); // Mutate b1 to trigger potential race
      if (err) {
        timeouts++;
        checkForTimeoutError(errorf, err);
        c.setReadDeadline(wallNow() + 1);
      }
    }
    return { reads, timeouts };
  },

  /** testRacyWrite's goroutine: 100 writes of 1024 bytes, re-arming a 1 ms deadline on error. */
  async racyWriter({ c, errorf }: Ctx, { iterations }: { iterations: number }): Promise<{ writes: number; timeouts: number }> {
    const b1 = new Uint8Array(CHUNK);
    const b2 = new Uint8Array(CHUNK);
    let writes = 0;
    let timeouts = 0;
    for (let j = 0; j < iterations; j++) {
      let err: ErrInfo | null = null;
      try {
        await c.write(b1);
        writes++;
      } catch (e) {
        err = errInfo(e);
      }
      b1.set(b2); // Mutate b1 to trigger potential race
      if (err) {
        timeouts++;
        checkForTimeoutError(errorf, err);
        c.setWriteDeadline(wallNow() + 1);
      }
    }
    return { writes, timeouts };
  },

  /**
   * `for err == nil { _, err = c1.Write(make([]byte, 1024)) }` (Present/Future/CloseTimeout).
   * `flags[0]`, when given, is read at the moment the error arrives (Go's len(deadlineSet)).
   */
  async writeUntilError({ c }: Ctx, { flags }: { flags?: Int32Array }): Promise<{ writes: number; last: IoResult; flagAtError: number }> {
    const buf = new Uint8Array(CHUNK);
    let writes = 0;
    let last: IoResult = { n: 0, err: null, elapsed: 0 };
    for (let i = 0; i < MAX_ITERATIONS && last.err === null; i++) {
      last = await timed(() => c.write(buf));
      if (last.err === null) writes++;
    }
    return { writes, last, flagAtError: flags ? Atomics.load(flags, 0) : -1 };
  },

  /** `for err == nil { _, err = c1.Read(buf) }` (CloseTimeout); an EOF ends it too (Go: io.EOF). */
  async readUntilError({ c }: Ctx): Promise<{ reads: number; eof: boolean; err: ErrInfo | null }> {
    const buf = new Uint8Array(CHUNK);
    let reads = 0;
    try {
      for (let i = 0; i < MAX_ITERATIONS; i++) {
        if ((await c.read(buf)) === 0) return { reads, eof: true, err: null };
        reads++;
      }
      return { reads, eof: false, err: errInfo(new Error("read loop bound reached")) };
    } catch (e) {
      return { reads, eof: false, err: errInfo(e) };
    }
  },

  /** testPresentTimeout's reader: one Read that must time out only after the deadline was set. */
  async readOnce({ c }: Ctx, { size, flags }: { size: number; flags?: Int32Array }): Promise<IoResult & { flagAtError: number }> {
    const buf = new Uint8Array(size);
    const r = await timed(() => c.read(buf));
    return { ...r, flagAtError: flags ? Atomics.load(flags, 0) : -1 };
  },

  /** testRoundtrip (after the caller's SetDeadline(neverTimeout)): write, ReadFull the echo. */
  async roundtrip({ c, errorf }: Ctx): Promise<void> {
    const s = "Hello, world!";
    const buf = new TextEncoder().encode(s);
    try {
      await c.write(buf);
    } catch (e) {
      errorf(`roundtrip Write error: ${errInfo(e).message}`);
    }
    try {
      const n = await readFull(c, buf);
      if (n < buf.length) errorf(`roundtrip Read error: EOF after ${n} bytes`);
    } catch (e) {
      errorf(`roundtrip Read error: ${errInfo(e).message}`);
    }
    const got = new TextDecoder().decode(buf);
    if (got !== s) errorf(`roundtrip data mismatch: got ${JSON.stringify(got)}, want ${JSON.stringify(s)}`);
  },

  /** resyncConn's reading half: reads until a chunk ends with the 0xff marker. */
  async resyncRead({ c, errorf }: Ctx): Promise<{ bytes: number }> {
    const buf = new Uint8Array(CHUNK);
    let bytes = 0;
    for (let i = 0; i < MAX_ITERATIONS; i++) {
      let n = 0;
      try {
        n = await c.read(buf);
      } catch (e) {
        errorf(`unexpected Read error: ${errInfo(e).message}`);
        break;
      }
      bytes += n;
      if (n > 0 && buf.subarray(0, n).indexOf(0xff) === n - 1) break;
      if (n === 0) {
        errorf("unexpected Read error: EOF");
        break;
      }
    }
    return { bytes };
  },

  /**
   * testConcurrentMethods: this thread's share of the 100 x 7 goroutines, as [method, count]
   * pairs taken round-robin. Results "may be nonsensical"; the errors seen are returned by kind.
   */
  async concurrentMethods({ c }: Ctx, { share }: { share: [Method, number][] }): Promise<{ errors: Record<string, number>; calls: Record<string, number> }> {
    const errors: Record<string, number> = {};
    const calls: Record<string, number> = {};
    const left = share.map(([m, n]) => [m, n] as [Method, number]);
    for (let more = true; more; ) {
      more = false;
      for (const entry of left) {
        if (entry[1] === 0) continue;
        entry[1]--;
        more = true;
        const m = entry[0];
        calls[m] = (calls[m] ?? 0) + 1;
        try {
          switch (m) {
            case "Read": await c.read(new Uint8Array(CHUNK)); break;
            case "Write": await c.write(new Uint8Array(CHUNK)); break;
            case "SetDeadline": c.setDeadline(wallNow() + 10); break;
            case "SetReadDeadline": c.setReadDeadline(A_LONG_TIME_AGO); break;
            case "SetWriteDeadline": c.setWriteDeadline(A_LONG_TIME_AGO); break;
            case "LocalAddr": c.localAddr(); break;
            case "RemoteAddr": c.remoteAddr(); break;
          }
        } catch (e) {
          const i = errInfo(e);
          const key = `${m}:${i.timeout ? "timeout" : `${i.name}/${i.code}`}`;
          errors[key] = (errors[key] ?? 0) + 1;
        }
      }
    }
    return { errors, calls };
  },
};

/** The 7 methods testConcurrentMethods calls (each 100 times, all concurrently). */
export type Method = "Read" | "Write" | "SetDeadline" | "SetReadDeadline" | "SetWriteDeadline" | "LocalAddr" | "RemoteAddr";

export type Routines = typeof routines;
export type RoutineName = keyof Routines;
/** The argument object of a routine (`{}` for those without one). */
export type RoutineArgs<K extends RoutineName> = Parameters<Routines[K]> extends [Ctx, infer A] ? A : Record<string, never>;
export type RoutineValue<K extends RoutineName> = Awaited<ReturnType<Routines[K]>>;

/** A finished routine: its value and the t.Errorf messages it produced. */
export interface RoutineResult<T> {
  value: T;
  errors: string[];
  /** It ended with an exception instead of a value (a bug in the routine or the Conn). */
  threw: boolean;
}

/** Runs a routine on `c` (in whatever thread the caller is), catching whatever it throws. */
export async function runRoutine<K extends RoutineName>(name: K, c: Conn, args: RoutineArgs<K>): Promise<RoutineResult<RoutineValue<K> | undefined>> {
  const errors: string[] = [];
  const ctx: Ctx = { c, errorf: (m) => errors.push(m) };
  const f = routines[name] as (ctx: Ctx, args: unknown) => Promise<RoutineValue<K>>;
  try {
    return { value: await f(ctx, args), errors, threw: false };
  } catch (e) {
    const i = errInfo(e);
    errors.push(`routine ${name} threw ${i.name}: ${i.message}`);
    return { value: undefined, errors, threw: true };
  }
}
