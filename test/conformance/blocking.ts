/**
 * Pipes for the conformance suite over the BLOCKING Socket API: the transports (TCP v4, TCP v6,
 * unix stream with a pathname, socketpair), a pool of Worker threads that play Go's goroutines,
 * and `blockingPipe(transport)`, the suite's MakePipe.
 *
 * Bun's JS thread is single, and a blocking call blocks it; Go's suite runs goroutines. Each
 * routine therefore runs in a Worker, on a BlockingConn over a dup() of the end's fd (fds are
 * process-wide). Deadlines and the closed state of an end live in a SharedArrayBuffer, so a
 * deadline set by the test (main thread) or by another routine is seen by all (see
 * blocking-conn.ts for the exact mapping to bsdsock timeouts).
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { Socket } from "../../src/socket/socket.ts";
import type { Address } from "../../src/core/sockaddr.ts";
import { EndState, READ, shutdownBoth, WRITE } from "./blocking-conn.ts";
import type { End, MakePipe, Pipe } from "./conntest.ts";
import type { Deadline, RoutineArgs, RoutineName, RoutineResult, RoutineValue } from "./routines.ts";

/** A connected pair of Sockets and how to dispose of what made them (listener, socket file). */
export interface SocketPair {
  c1: Socket;
  c2: Socket;
  cleanup(): void;
}

export interface Transport {
  name: string;
  /** Why it cannot run here, or null. */
  skip: string | null;
  open(): SocketPair;
}

/** Bounds for the setup calls made on the main thread. */
const SETUP_TIMEOUT_MS = 5_000;

/** Like Go's conntest_test.go: ln := NewLocalListener; c1 = Dial(ln.Addr()); c2 = ln.Accept(). */
function listenerPair(addr: Address, cleanup: () => void = () => {}): SocketPair {
  const ln = Socket.listen(addr);
  let c1: Socket | undefined;
  try {
    ln.timeout = SETUP_TIMEOUT_MS;
    c1 = Socket.connect(ln.localAddress as Address, { timeout: SETUP_TIMEOUT_MS });
    const [c2] = ln.accept();
    const a = c1;
    return {
      c1: a,
      c2,
      cleanup: () => {
        ln.close();
        cleanup();
      },
    };
  } catch (e) {
    c1?.close();
    ln.close();
    cleanup();
    throw e;
  }
}

function probe(addr: Address): string | null {
  try {
    Socket.listen(addr).close();
    return null;
  } catch (e) {
    return `cannot listen on ${JSON.stringify(addr)}: ${(e as Error).message}`;
  }
}

let unixCount = 0;

/** The four transports; `dir` holds the unix socket files. */
export function transports(dir: string): Transport[] {
  const v4 = { family: "inet", host: "127.0.0.1", port: 0 } as const;
  const v6 = { family: "inet6", host: "::1", port: 0 } as const;
  return [
    { name: "TCP v4", skip: probe(v4), open: () => listenerPair(v4) },
    { name: "TCP v6", skip: probe(v6), open: () => listenerPair(v6) },
    {
      name: "unix stream",
      skip: null,
      open: () => {
        const path = join(dir, `s${++unixCount}`);
        return listenerPair({ family: "unix", path }, () => rmSync(path, { force: true }));
      },
    },
    {
      name: "socketpair",
      skip: null,
      open: () => {
        const [c1, c2] = Socket.pair("unix", "stream");
        return { c1, c2, cleanup: () => {} };
      },
    },
  ];
}

// --- worker pool ----------------------------------------------------------------------------------

/** A routine that has not answered after this long is reported (the suite's watchdog fires first). */
const JOB_TIMEOUT_MS = 40_000;
const READY_TIMEOUT_MS = 10_000;

interface Job {
  name: RoutineName;
  fd: number;
  state: SharedArrayBuffer;
  args: unknown;
}

/**
 * Worker threads playing goroutines: a job goes to an idle worker, or a new one (up to `max`).
 * Workers are kept for the next job; close() terminates them all.
 */
export class WorkerPool {
  readonly #idle: Worker[] = [];
  readonly #all = new Set<Worker>();
  readonly #waiters = new Map<Worker, { resolve(d: unknown): void; reject(e: Error): void }>();
  #nextId = 1;

  constructor(readonly max = 16) {}

  get size(): number {
    return this.#all.size;
  }

  #reply(w: Worker, timeoutMs: number, what: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(w);
        reject(new Error(`worker: no answer to ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(w, {
        resolve: (d) => {
          clearTimeout(timer);
          this.#waiters.delete(w);
          resolve(d);
        },
        reject: (e) => {
          clearTimeout(timer);
          this.#waiters.delete(w);
          reject(e);
        },
      });
    });
  }

  async #spawn(): Promise<Worker> {
    if (this.#all.size >= this.max) throw new Error(`WorkerPool: more than ${this.max} concurrent routines`);
    const w = new Worker(new URL("./worker.ts", import.meta.url).href);
    this.#all.add(w);
    w.onmessage = (ev: MessageEvent) => this.#waiters.get(w)?.resolve(ev.data);
    w.onerror = (ev: ErrorEvent) => this.#waiters.get(w)?.reject(new Error(`worker error: ${ev.message}`));
    try {
      await this.#reply(w, READY_TIMEOUT_MS, "startup");
    } catch (e) {
      this.#all.delete(w);
      w.terminate();
      throw e;
    }
    return w;
  }

  /** Runs a job on a worker; resolves with the routine's result. */
  async run(job: Job): Promise<RoutineResult<unknown>> {
    const w = this.#idle.pop() ?? (await this.#spawn());
    const id = this.#nextId++;
    const answer = this.#reply(w, JOB_TIMEOUT_MS, `routine ${job.name}`);
    w.postMessage({ id, ...job });
    try {
      const d = (await answer) as { id: number; result: RoutineResult<unknown> };
      if (d.id !== id) throw new Error(`worker answered job ${d.id}, expected ${id}`);
      this.#idle.push(w);
      return d.result;
    } catch (e) {
      // A lost worker: terminate() takes effect once its current call returns (all are bounded).
      this.#all.delete(w);
      w.terminate();
      throw e;
    }
  }

  /** Terminates every worker and waits (bounded) until they are gone. */
  async close(): Promise<void> {
    const all = [...this.#all];
    this.#all.clear();
    this.#idle.length = 0;
    await Promise.all(
      all.map(
        (w) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 2_000);
            w.addEventListener("close", () => {
              clearTimeout(timer);
              resolve();
            });
            w.terminate();
          }),
      ),
    );
  }
}

// --- pipes ----------------------------------------------------------------------------------------

/** How long stop() waits for routines still running after the ends were closed. */
const STOP_WAIT_MS = 5_000;

class BlockingEnd implements End {
  readonly state = new EndState();
  readonly jobs = new Set<Promise<unknown>>();

  constructor(
    readonly pool: WorkerPool,
    readonly sock: Socket,
  ) {}

  go<K extends RoutineName>(name: K, args: RoutineArgs<K>): Promise<RoutineResult<RoutineValue<K> | undefined>> {
    const p = this.pool.run({ name, fd: this.sock.fd, state: this.state.buffer, args }) as Promise<
      RoutineResult<RoutineValue<K> | undefined>
    >;
    this.jobs.add(p);
    const forget = () => this.jobs.delete(p);
    p.then(forget, forget);
    return p;
  }

  setDeadline(t: Deadline): void {
    this.state.setDeadline(READ, t);
    this.state.setDeadline(WRITE, t);
  }

  setReadDeadline(t: Deadline): void {
    this.state.setDeadline(READ, t);
  }

  setWriteDeadline(t: Deadline): void {
    this.state.setDeadline(WRITE, t);
  }

  /** Go's Close from the test goroutine: closed for every thread, pending calls woken. */
  close(): void {
    if (this.state.markClosed()) shutdownBoth(this.sock);
  }
}

/** The suite's MakePipe for a transport, with routines run by `pool()`. */
export function blockingPipe(transport: Transport, pool: () => WorkerPool): MakePipe {
  return async (): Promise<Pipe> => {
    const pair = transport.open();
    const a = new BlockingEnd(pool(), pair.c1);
    const b = new BlockingEnd(pool(), pair.c2);
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        for (const end of [a, b]) {
          end.state.markClosed();
          shutdownBoth(end.sock);
        }
        const pending = [...a.jobs, ...b.jobs];
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = await Promise.race([
          Promise.allSettled(pending).then(() => false),
          new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), STOP_WAIT_MS))),
        ]);
        clearTimeout(timer);
        a.sock.close();
        b.sock.close();
        pair.cleanup();
        if (late) throw new Error(`stop: routines still running ${STOP_WAIT_MS} ms after the pipe was closed`);
      })());
    return { a, b, stop };
  };
}
