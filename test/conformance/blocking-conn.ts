/**
 * BlockingConn: Go's net.Conn semantics (routines.ts `Conn`) over the BLOCKING Socket API, for
 * use by one thread (a Worker), with the state Go keeps per connection shared between threads.
 *
 * Go keeps absolute deadlines on the connection; bsdsock has a relative per-call `timeout` (ms).
 * The mapping, applied before every socket call:
 *
 * | Go                              | bsdsock call made by BlockingConn                              |
 * |---------------------------------|----------------------------------------------------------------|
 * | no deadline (neverTimeout)      | `timeout = SLICE_MS`, retried while no deadline expires        |
 * | deadline in the future          | `timeout = min(deadline - now, SLICE_MS)`, retried until it    |
 * |                                 | has passed; then the SocketTimeoutError is Go's timeout error  |
 * | deadline in the past            | `timeout = SMALLEST_TIMEOUT` (Number.MIN_VALUE): the call is   |
 * | (aLongTimeAgo, an expired one)  | attempted once and never waits                                  |
 *
 * What this cannot express, and why:
 * - A past deadline in Go fails even an operation that could complete at once (internal/poll
 *   checks the deadline before the syscall, so Write returns n = 0). bsdsock's timeout bounds the
 *   WAIT, not the attempt (as CPython's settimeout and SO_RCVTIMEO/SO_SNDTIMEO do): a recv with
 *   data queued or a send with buffer room succeeds even with an expired timeout. The suite's
 *   Write-side past-deadline checks therefore write until the call would wait (conntest.ts).
 *   (`timeout = 0` is not "expired": it makes the socket non-blocking and gives EAGAIN.)
 * - Go's SetDeadline from another goroutine wakes a Read/Write that is already blocked. A thread
 *   blocked in bsdsock's poll() cannot be woken by another thread, so no call waits longer than
 *   SLICE_MS: after each slice the shared deadline is read again. A deadline change therefore
 *   takes effect within SLICE_MS instead of at once.
 * - Go's Close wakes pending calls through its poller and delays the real close(2) until they
 *   have returned (fdMutex). A close(2) by one thread neither wakes another thread's poll() on
 *   Linux nor is safe (the other thread could then use a reused fd number). So, as Go does:
 *   Close marks the connection closed (shared flag), shutdown(SHUT_RDWR) wakes the pending
 *   calls, and the fd itself is closed when nothing uses it. Each BlockingConn owns a dup() of
 *   the end's fd (Socket.fromFd with `duplicate`), which it closes when its routine ends; the
 *   pipe closes the original in stop().
 * - Every worker wraps the same open file description, whose O_NONBLOCK flag is shared: bsdsock's
 *   `timeout = null` (blocking) in one thread would turn every other thread's timed call into an
 *   unbounded blocking one. BlockingConn never uses null.
 */
import { SocketError, SocketTimeoutError } from "../../src/core/errors.ts";
import { Socket } from "../../src/socket/socket.ts";
import { ErrClosed, wallNow, type Conn, type Deadline } from "./routines.ts";

/** The longest a single bsdsock call waits before the shared deadline is read again. */
export const SLICE_MS = 10;
/** "A timeout that has already expired": the smallest positive timeout. */
export const SMALLEST_TIMEOUT = Number.MIN_VALUE;
/** No single Read/Write may last longer than this, whatever happens (the pipe's watchdog fires first). */
export const HARD_CAP_MS = 30_000;

const READ = 0;
const WRITE = 1;
const NONE = -1n;

/**
 * Per-end state every thread sees (Go's per-conn deadlines and closed state): two deadlines in
 * µs (BigInt64, -1 = none) and a closed flag, in a SharedArrayBuffer.
 */
export class EndState {
  static readonly BYTES = 24;
  readonly buffer: SharedArrayBuffer;
  readonly #deadlines: BigInt64Array;
  readonly #flags: Int32Array;

  /** Wraps existing state (a worker's view), or makes new state: no deadlines, open. */
  constructor(buffer?: SharedArrayBuffer) {
    const fresh = buffer === undefined;
    this.buffer = buffer ??= new SharedArrayBuffer(EndState.BYTES);
    this.#deadlines = new BigInt64Array(buffer, 0, 2);
    this.#flags = new Int32Array(buffer, 16, 1);
    if (fresh) this.#deadlines.fill(NONE);
  }

  deadline(which: number): Deadline {
    const us = Atomics.load(this.#deadlines, which);
    return us === NONE ? null : Number(us) / 1000;
  }

  setDeadline(which: number, t: Deadline): void {
    Atomics.store(this.#deadlines, which, t === null ? NONE : BigInt(Math.round(t * 1000)));
  }

  get closed(): boolean {
    return Atomics.load(this.#flags, 0) !== 0;
  }

  /** Marks the end closed; false if it already was. */
  markClosed(): boolean {
    return Atomics.compareExchange(this.#flags, 0, 0, 1) === 0;
  }
}

/** shutdown(SHUT_RDWR), tolerating only ENOTCONN (the connection is already gone). */
export function shutdownBoth(sock: Socket): void {
  try {
    sock.shutdown("both");
  } catch (e) {
    if (!(e instanceof SocketError && e.code === "ENOTCONN")) throw e;
  }
}

export class BlockingConn implements Conn {
  readonly #sock: Socket;
  readonly #state: EndState;

  /** Wraps a dup() of `fd` (closed by dispose()), with the end's shared state. */
  constructor(fd: number, state: EndState) {
    this.#sock = Socket.fromFd(fd, { duplicate: true });
    this.#state = state;
  }

  /** The per-call timeout for the next attempt (see the table above). */
  #timeoutFor(which: number, start: number): number {
    const now = wallNow();
    if (now - start > HARD_CAP_MS) throw new Error(`BlockingConn: one call outlived ${HARD_CAP_MS} ms`);
    const dl = this.#state.deadline(which);
    if (dl === null) return SLICE_MS;
    const remaining = dl - now;
    return remaining <= 0 ? SMALLEST_TIMEOUT : Math.min(remaining, SLICE_MS);
  }

  #expired(which: number): boolean {
    const dl = this.#state.deadline(which);
    return dl !== null && wallNow() >= dl;
  }

  read(buf: Uint8Array): number {
    const start = wallNow();
    for (;;) {
      if (this.#state.closed) throw new ErrClosed();
      this.#sock.timeout = this.#timeoutFor(READ, start);
      let n: number;
      try {
        n = this.#sock.recvInto(buf);
      } catch (e) {
        if (this.#state.closed) throw new ErrClosed();
        // A slice ended, or the deadline moved later meanwhile: wait on.
        if (e instanceof SocketTimeoutError && !this.#expired(READ)) continue;
        throw e;
      }
      // Closed while pending: Go reports the close, not what the woken call saw.
      if (this.#state.closed) throw new ErrClosed();
      return n;
    }
  }

  write(buf: Uint8Array): number {
    const start = wallNow();
    let off = 0;
    for (;;) {
      try {
        if (this.#state.closed) throw new ErrClosed();
        this.#sock.timeout = this.#timeoutFor(WRITE, start);
        this.#sock.sendAll(off === 0 ? buf : buf.subarray(off));
        return buf.length;
      } catch (e) {
        if (e instanceof SocketError) off += e.bytesSent ?? 0;
        const closed = this.#state.closed;
        if (!closed && e instanceof SocketTimeoutError && !this.#expired(WRITE)) continue;
        const out = closed ? new ErrClosed() : e;
        if (out instanceof SocketError || out instanceof ErrClosed) out.bytesSent = off;
        throw out;
      }
    }
  }

  /** Go's Close: marks the end closed for every thread, wakes pending calls, closes this dup. */
  close(): void {
    if (!this.#state.markClosed()) throw new ErrClosed();
    shutdownBoth(this.#sock);
    this.#sock.close();
  }

  setDeadline(t: Deadline): void {
    this.#state.setDeadline(READ, t);
    this.#state.setDeadline(WRITE, t);
  }

  setReadDeadline(t: Deadline): void {
    this.#state.setDeadline(READ, t);
  }

  setWriteDeadline(t: Deadline): void {
    this.#state.setDeadline(WRITE, t);
  }

  localAddr(): unknown {
    if (this.#state.closed) throw new ErrClosed();
    return this.#sock.localAddress;
  }

  remoteAddr(): unknown {
    if (this.#state.closed) throw new ErrClosed();
    return this.#sock.remoteAddress;
  }

  /** Closes this thread's dup (not a Go Close: the connection stays up). */
  dispose(): void {
    this.#sock.close();
  }
}

export { READ, WRITE };
