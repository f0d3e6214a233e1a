/**
 * Test support: real peers only. Compiles C programs with the system compiler (tests that need
 * one skip with a printed reason when there is none), runs processes with a deadline, finds
 * free loopback ports and waits for listeners by reading /proc/net/tcp, and counts open fds.
 */
import { afterAll, afterEach, beforeAll, expect } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as P from "../src/posix.ts";
import { stopReactor } from "../src/async/reactor.ts";
import type { AsyncSocket } from "../src/async/async.ts";
import { SocketTimeoutError } from "../src/core/errors.ts";
import type { Socket } from "../src/socket/socket.ts";

export const root = resolve(import.meta.dir, "..");
export const seedDir = resolve(root, "..", "shared", "seed");

/** The C compiler, or null when the machine has none. */
export const cc: string | null = (() => {
  for (const c of [process.env.CC, "cc", "gcc", "clang"]) {
    if (c && Bun.which(c)) return c;
  }
  return null;
})();

/** Why C-peer tests are skipped on this machine, or null when they can run. */
export const noCompilerReason: string | null = cc ? null : "no C compiler (cc/gcc/clang) on PATH";

/** A scratch directory removed after the current test file. */
export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "bsdsock-test-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Compiles C source to an executable; throws with the compiler's message on failure. */
export function compileC(dir: string, name: string, source: string, flags: string[] = []): string {
  if (!cc) throw new Error(noCompilerReason ?? "no compiler");
  const src = join(dir, `${name}.c`);
  const bin = join(dir, name);
  writeFileSync(src, source);
  const r = Bun.spawnSync([cc, "-O0", ...flags, "-o", bin, src]);
  if (r.exitCode !== 0) throw new Error(`cc ${name}.c failed:\n${r.stderr.toString()}`);
  return bin;
}

/** Whether the compiler accepts a flag (e.g. -ftrivial-auto-var-init=zero). */
export function ccAccepts(flag: string): boolean {
  if (!cc) return false;
  const r = Bun.spawnSync([cc, flag, "-x", "c", "-fsyntax-only", "-"], { stdin: new TextEncoder().encode("int x;\n") });
  return r.exitCode === 0;
}

/** A finished process: exit code and exact output bytes. */
export interface Outcome {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** A started process with a deadline: it is killed if it outlives `timeoutMs`. */
export interface Running {
  proc: ReturnType<typeof Bun.spawn>;
  done: Promise<Outcome>;
}

/** Children still running; killed when the test process exits, so none outlives a failed test. */
const children = new Set<ReturnType<typeof Bun.spawn>>();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/** Starts a process with stdin closed, capturing stdout/stderr. */
export function start(cmd: string[], env: Record<string, string> = {}, timeoutMs = 15_000): Running {
  const proc = Bun.spawn(cmd, {
    cwd: root,
    env: { ...process.env, ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  children.add(proc);
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const done = (async (): Promise<Outcome> => {
    const [stdout, stderr] = await Promise.all([
      new Response(proc.stdout as ReadableStream).text(),
      new Response(proc.stderr as ReadableStream).text(),
    ]);
    await proc.exited;
    clearTimeout(timer);
    children.delete(proc);
    return { code: proc.exitCode, signal: proc.signalCode === null ? null : String(proc.signalCode), stdout, stderr };
  })();
  return { proc, done };
}

/**
 * Starts a peer that prints its port on its first stdout line (read within 10 s, else it is
 * killed and this throws); `rest` resolves with every later stdout line once it exits (killed
 * after `timeoutMs`). For servers started beside an in-process client.
 */
export async function startWithPort(cmd: string[], timeoutMs = 15_000): Promise<{ port: number; rest: Promise<string[]> }> {
  const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
  const killer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const { line, head, rest } = await firstLine(proc.stdout as ReadableStream<Uint8Array>);
  const port = Number(line);
  if (line === null || !(port > 0)) {
    proc.kill("SIGKILL");
    clearTimeout(killer);
    throw new Error(`${cmd[0]} printed no port: ${JSON.stringify(head)}`);
  }
  const lines = (async () => {
    const after = await rest;
    await proc.exited;
    clearTimeout(killer);
    return after.split("\n");
  })();
  return { port, rest: lines };
}

/**
 * A child's stdout read up to its first newline (10 s at most): that line (null when none came),
 * everything read so far (`head`), and `rest`, what follows the first line once the stream ends
 * (all of it when there was no first line).
 */
export async function firstLine(stdout: ReadableStream<Uint8Array>): Promise<{ line: string | null; head: string; rest: Promise<string> }> {
  const reader = stdout.getReader();
  const decoder = new TextDecoder();
  let out = "";
  const deadline = Date.now() + 10_000;
  while (!out.includes("\n") && Date.now() < deadline) {
    const chunk = await Promise.race([reader.read(), Bun.sleep(Math.max(1, deadline - Date.now())).then(() => null)]);
    if (chunk === null || chunk.done) break;
    out += decoder.decode(chunk.value, { stream: true });
  }
  const nl = out.indexOf("\n");
  const head = out;
  const rest = (async () => {
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      out += decoder.decode(chunk.value, { stream: true });
    }
    return nl < 0 ? out : out.slice(nl + 1);
  })();
  return { line: nl < 0 ? null : out.slice(0, nl), head, rest };
}

/** Runs a process to completion. */
export function run(cmd: string[], env: Record<string, string> = {}, timeoutMs = 15_000): Promise<Outcome> {
  return start(cmd, env, timeoutMs).done;
}

/** The bun executable running the tests (the pinned one from node_modules under npm test). */
export const bun = process.execPath;

const setprivBin = Bun.which("setpriv");

/** The command prefix that runs a program as nobody: uid/gid 65534, no groups, no capabilities. */
export const asNobody: readonly string[] = setprivBin
  ? [setprivBin, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
  : [];

/**
 * Why nobody cannot run this bun on `file` (and the project's sources) here, or null when it
 * can: not Linux, not root, no setpriv(1), or a checkout under a directory nobody cannot search
 * (a clone in a private 0700 temp dir, as CI makes).
 */
export function nobodyCannotRun(file: string): string | null {
  if (process.platform !== "linux") return "Linux only";
  if (process.getuid?.() !== 0) return "not root: cannot drop privileges";
  if (!setprivBin) return "no setpriv on PATH";
  const probe = `require("node:fs").readFileSync(${JSON.stringify(file)}); require(${JSON.stringify(join(root, "src", "socket", "socket.ts"))});`;
  const r = Bun.spawnSync([...asNobody, bun, "-e", probe], { cwd: root, timeout: 10_000, stdio: ["ignore", "ignore", "pipe"] });
  return r.exitCode === 0 ? null : `nobody cannot run ${bun} on ${root}: ${r.stderr.toString().trim().split("\n")[0]}`;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read back, closed). */
export function freePort(): number {
  const fd = P.socket(P.AF_INET, P.SOCK_STREAM, 0);
  if (fd < 0) throw new Error(`socket: ${P.strerror(P.errno())}`);
  try {
    const addr = new P.sockaddr_in();
    addr.sin_family = P.AF_INET;
    addr.sin_addr.s_addr = P.htonl(P.INADDR_LOOPBACK);
    if (P.bind(fd, addr, P.sizeof(addr)) < 0) throw new Error(`bind: ${P.strerror(P.errno())}`);
    const len = new P.socklen_t(P.sizeof(addr));
    if (P.getsockname(fd, addr, len) < 0) throw new Error(`getsockname: ${P.strerror(P.errno())}`);
    return P.ntohs(addr.sin_port);
  } finally {
    P.close(fd);
  }
}

/** Whether some socket is in LISTEN state on this TCP port (IPv4 or IPv6), per /proc/net/tcp{,6}. */
export function isListening(port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")} `;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[1] && `${cols[1].slice(cols[1].indexOf(":"))} `.startsWith(hex) && cols[3] === "0A") return true;
    }
  }
  return false;
}

/** Waits (polling, bounded) until a listener appears on the port; throws after `timeoutMs`. */
export async function waitListening(port: number, timeoutMs = 10_000, alive?: Running): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (isListening(port)) return;
    if (alive && alive.proc.exitCode !== null) {
      const o = await alive.done;
      throw new Error(`server exited before listening: code ${o.code}\nstdout: ${o.stdout}\nstderr: ${o.stderr}`);
    }
    await Bun.sleep(10);
  }
  throw new Error(`nothing listened on port ${port} within ${timeoutMs} ms`);
}

/** Open fds of this process, as "fd -> target" (the listing's own fd shows as unreadable). */
export function openFds(): string[] {
  return readdirSync("/proc/self/fd").map((fd) => {
    try {
      return `${fd} -> ${readlinkSync(`/proc/self/fd/${fd}`)}`;
    } catch {
      return `${fd} -> (closed)`;
    }
  });
}

/**
 * Asserts the test file leaves the fd count as it found it. Counting fds in /proc/self/fd
 * itself opens one, equally before and after.
 */
export function expectNoFdLeaks(): void {
  let before: string[] = [];
  beforeAll(async () => {
    // Bun creates some of its own fds lazily (spawnSync gets a private event loop on first
    // use); make it do so now, so that only the tests' fds are compared.
    Bun.spawnSync(["true"]);
    await Bun.spawn(["true"], { stdio: ["ignore", "ignore", "ignore"] }).exited;
    before = openFds();
  });
  afterAll(async () => {
    // The async API's reactor (an epoll fd, a wake socket pair, a Worker) lives for the
    // process; stopping it here also proves it releases everything.
    await stopReactor();
    // A leak is an fd open now that was not open before. (Fds the previous file left for Bun to
    // close asynchronously may be gone by now; that is not this file's doing.)
    const leaked = (): string[] => {
      const was = new Set(before);
      return openFds().filter((fd) => !was.has(fd) && !fd.endsWith("(closed)"));
    };
    // Child-process pipes close when their streams finish; give the loop a moment.
    for (let i = 0; i < 50 && leaked().length > 0; i++) await Bun.sleep(20);
    expect(leaked()).toEqual([]);
  });
}

/**
 * Sockets a test makes, closed after each test whatever happened:
 * `const own = ownSockets(); const s = own(new Socket(...)); const [a, b] = own(Socket.pair());`
 * `own.closeAll()` closes them earlier (to check fds inside the test).
 */
export function ownSockets(): (<T extends Socket | readonly Socket[]>(s: T) => T) & { closeAll(): void } {
  const owned: Socket[] = [];
  const closeAll = (): void => {
    for (const s of owned.splice(0)) {
      try { s.close(); } catch { /* a socket whose fd was closed underneath reports EBADF */ }
    }
  };
  afterEach(closeAll);
  const own = <T extends Socket | readonly Socket[]>(s: T): T => {
    if (Array.isArray(s)) owned.push(...(s as readonly Socket[]));
    else owned.push(s as Socket);
    return s;
  };
  return Object.assign(own, { closeAll });
}

/** Everything the peer can read until it waits `quietMs` for nothing (or end of stream). */
export async function readUntilQuiet(s: AsyncSocket, quietMs = 300): Promise<number> {
  let total = 0;
  const buf = new Uint8Array(65536);
  for (let i = 0; i < 100_000; i++) {
    const n = await s.recvInto(buf, { timeout: quietMs }).catch((e: unknown) => {
      if (e instanceof SocketTimeoutError) return 0;
      throw e;
    });
    if (n === 0) return total;
    total += n;
  }
  return total;
}
