/**
 * The same suite run in-process, with no threads: an async Conn over bsdsock's NON-BLOCKING mode
 * (`timeout = 0`: would-block throws EAGAIN), polling between event-loop turns. It shows that
 * conntest.ts runs an async API unchanged (only the MakePipe differs), and exercises the EAGAIN
 * path of every call the suite makes.
 *
 * Deadlines are checked on every poll, so a SetDeadline or Close from elsewhere takes effect at
 * the next turn, as in Go. The timeout error is made here (bsdsock's SocketTimeoutError class):
 * in non-blocking mode bsdsock never waits, so it never times out itself. As in blocking-conn.ts,
 * an expired deadline does not refuse a call that can complete at once.
 */
import { SocketError, SocketTimeoutError } from "../../src/core/errors.ts";
import type { Socket } from "../../src/socket/socket.ts";
import type { Transport } from "./blocking.ts";
import { shutdownBoth } from "./blocking-conn.ts";
import type { End, MakePipe, Pipe } from "./conntest.ts";
import { ErrClosed, runRoutine, wallNow, type Conn, type Deadline, type RoutineArgs, type RoutineName } from "./routines.ts";

const isEagain = (e: unknown) => e instanceof SocketError && e.code === "EAGAIN";

/** Waits for the next event-loop turn: a few immediate turns, then 1 ms sleeps. */
async function pause(spins: number): Promise<void> {
  await new Promise<void>((r) => (spins < 64 ? setImmediate(r) : setTimeout(r, 1)));
}

class NonBlockingConn implements Conn {
  #read: Deadline = null;
  #write: Deadline = null;
  #closed = false;

  constructor(readonly sock: Socket) {
    sock.timeout = 0;
  }

  async #io(syscall: string, which: () => Deadline, attempt: () => number): Promise<number> {
    for (let spins = 0; ; spins++) {
      if (this.#closed) throw new ErrClosed();
      try {
        return attempt();
      } catch (e) {
        if (this.#closed) throw new ErrClosed();
        if (!isEagain(e)) throw e;
      }
      const dl = which();
      if (dl !== null && wallNow() >= dl) throw new SocketTimeoutError(syscall, 0, { note: "deadline exceeded" });
      await pause(spins);
    }
  }

  read(buf: Uint8Array): Promise<number> {
    return this.#io("recv", () => this.#read, () => this.sock.recvInto(buf));
  }

  async write(buf: Uint8Array): Promise<number> {
    let off = 0;
    try {
      while (off < buf.length) {
        const rest = off === 0 ? buf : buf.subarray(off);
        off += await this.#io("send", () => this.#write, () => this.sock.send(rest));
      }
      return off;
    } catch (e) {
      if (e instanceof SocketError || e instanceof ErrClosed) e.bytesSent = off;
      throw e;
    }
  }

  close(): void {
    if (this.#closed) throw new ErrClosed();
    this.#closed = true;
    shutdownBoth(this.sock);
  }

  setDeadline(t: Deadline): void {
    this.#read = this.#write = t;
  }

  setReadDeadline(t: Deadline): void {
    this.#read = t;
  }

  setWriteDeadline(t: Deadline): void {
    this.#write = t;
  }

  localAddr(): unknown {
    return this.sock.localAddress;
  }

  remoteAddr(): unknown {
    return this.sock.remoteAddress;
  }
}

class InProcessEnd implements End {
  readonly jobs = new Set<Promise<unknown>>();
  constructor(readonly conn: NonBlockingConn) {}

  go<K extends RoutineName>(name: K, args: RoutineArgs<K>) {
    const p = runRoutine(name, this.conn, args);
    this.jobs.add(p);
    void p.finally(() => this.jobs.delete(p));
    return p;
  }

  setDeadline(t: Deadline): void {
    this.conn.setDeadline(t);
  }

  setReadDeadline(t: Deadline): void {
    this.conn.setReadDeadline(t);
  }

  setWriteDeadline(t: Deadline): void {
    this.conn.setWriteDeadline(t);
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      /* already closed */
    }
  }
}

/** The suite's MakePipe for a transport, run in-process on non-blocking sockets. */
export function nonBlockingPipe(transport: Transport): MakePipe {
  return async (): Promise<Pipe> => {
    const pair = transport.open();
    const a = new InProcessEnd(new NonBlockingConn(pair.c1));
    const b = new InProcessEnd(new NonBlockingConn(pair.c2));
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        a.close();
        b.close();
        await Promise.allSettled([...a.jobs, ...b.jobs]); // each ends at its next poll
        pair.c1.close();
        pair.c2.close();
        pair.cleanup();
      })());
    return { a, b, stop };
  };
}
