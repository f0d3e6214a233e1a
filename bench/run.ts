/**
 * bsdsock benchmarks: every contender in the same run, against the same peers, with ratios to C.
 *
 *   npm run bench                 full run (a few minutes on 2 cores)
 *   npm run bench -- --quick      smaller counts, under a minute
 *   npm run bench -- --smoke      tiny counts, a few seconds (used by test/bench.test.ts)
 *   options: --out DIR (where results go), --reps N, --only id,id (workload ids),
 *            --no-pin (do not pin contender and peer to CPUs 0 and 1)
 *
 * Design and fairness rules: bench/README.md. Results: bench/results/.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { cpus, hostname, loadavg, release, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { renderMarkdown, renderSvg, renderText } from "./render.ts";
import type { BenchResult, ContenderInfo, Figures, Machine, WorkloadResult } from "./types.ts";

const benchDir = import.meta.dir;
const root = resolve(benchDir, "..");

// --- options -----------------------------------------------------------------------------------

const argv = process.argv.slice(2);
const flag = (name: string): boolean => argv.includes(name);
const option = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  if (i >= 0) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`${name}=`));
  return eq?.slice(name.length + 1);
};
for (const a of argv) {
  if (a.startsWith("--") && !["--quick", "--smoke", "--out", "--reps", "--only", "--no-pin"].includes(a.split("=")[0]!)) {
    console.error(`unknown option ${a}`);
    process.exit(2);
  }
}
const mode: "full" | "quick" | "smoke" = flag("--smoke") ? "smoke" : flag("--quick") ? "quick" : "full";

/** Counts per mode. Full mode meets the issue's minimums (≥ 50 000 round trips, 1 GiB, 1 000 connections). */
const sizes = {
  full: { pp: 50_000, ppWarm: 5_000, conns: 1_000, connRtts: 100, bulk: 2 ** 30, udp: 200_000, udpWarm: 20_000, connrate: 5_000, unixPp: 50_000, httpConns: 100, httpRequests: 1_000, reps: 2, timeoutMs: 120_000 },
  quick: { pp: 10_000, ppWarm: 1_000, conns: 1_000, connRtts: 20, bulk: 2 ** 28, udp: 50_000, udpWarm: 5_000, connrate: 2_000, unixPp: 10_000, httpConns: 100, httpRequests: 200, reps: 1, timeoutMs: 30_000 },
  smoke: { pp: 200, ppWarm: 20, conns: 50, connRtts: 3, bulk: 2 ** 22, udp: 1_000, udpWarm: 100, connrate: 50, unixPp: 200, httpConns: 10, httpRequests: 20, reps: 1, timeoutMs: 15_000 },
}[mode];
const reps = option("--reps") ? Math.max(1, Number(option("--reps"))) : sizes.reps;
const only = option("--only")?.split(",");

// --- processes ---------------------------------------------------------------------------------

type Proc = ReturnType<typeof Bun.spawn>;
const started = new Set<Proc>();
let scratch = "";
function cleanup(): void {
  for (const p of started) p.kill("SIGKILL");
  started.clear();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  scratch = "";
}
process.on("exit", cleanup);
process.on("SIGINT", () => { cleanup(); process.exit(130); });
process.on("SIGTERM", () => { cleanup(); process.exit(143); });

/** Every child also dies by its own deadline (SIGALRM in the C programs). */
const childEnv = { ...process.env, BENCH_DEADLINE_S: String(Math.ceil(sizes.timeoutMs / 1000) * 20) };

/** Lines of a child's stdout, readable one at a time with a timeout. */
class Lines {
  #buffered: string[] = [];
  #waiter: (() => void) | null = null;
  #ended = false;
  constructor(stream: ReadableStream<Uint8Array>) {
    void (async () => {
      const decoder = new TextDecoder();
      let partial = "";
      for await (const chunk of stream) {
        partial += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = partial.indexOf("\n")) >= 0) {
          this.#buffered.push(partial.slice(0, nl));
          partial = partial.slice(nl + 1);
        }
        this.#waiter?.();
      }
      this.#ended = true;
      this.#waiter?.();
    })();
  }
  async next(timeoutMs: number, what: string): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const line = this.#buffered.shift();
      if (line !== undefined) return line;
      if (this.#ended) throw new Error(`${what}: output ended`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`${what}: no output within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#waiter = () => { clearTimeout(t); this.#waiter = null; r(); };
      });
    }
  }
}

/** A long-running child (peer or contender server) that prints "PORT n" or "READY" when reachable. */
interface Server { proc: Proc; lines: Lines; port: number; stderr: () => Promise<string> }

async function startServer(cmd: string[], what: string): Promise<Server> {
  const proc = Bun.spawn(cmd, { cwd: root, env: childEnv, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  started.add(proc);
  const lines = new Lines(proc.stdout as ReadableStream<Uint8Array>);
  const stderr = () => new Response(proc.stderr as ReadableStream).text();
  let first: string;
  try {
    first = await lines.next(10_000, what);
  } catch (e) {
    proc.kill("SIGKILL");
    started.delete(proc);
    throw new Error(`${(e as Error).message}\n${(await stderr()).slice(-2000)}`);
  }
  const port = first.startsWith("PORT ") ? Number(first.slice(5)) : 0;
  return { proc, lines, port, stderr };
}

async function stopServer(s: Server): Promise<void> {
  s.proc.kill("SIGTERM");
  const t = setTimeout(() => s.proc.kill("SIGKILL"), 2000);
  await s.proc.exited;
  clearTimeout(t);
  started.delete(s.proc);
}

/** Runs a client to completion (killed at the timeout) and parses its one JSON line. */
async function runJson(cmd: string[], what: string): Promise<Figures> {
  const proc = Bun.spawn(cmd, { cwd: root, env: childEnv, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  started.add(proc);
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; proc.kill("SIGKILL"); }, sizes.timeoutMs);
  const [out, err] = await Promise.all([
    new Response(proc.stdout as ReadableStream).text(),
    new Response(proc.stderr as ReadableStream).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  started.delete(proc);
  if (timedOut) throw new Error(`${what}: killed after ${sizes.timeoutMs} ms`);
  if (proc.exitCode !== 0) throw new Error(`${what}: exit ${proc.exitCode ?? proc.signalCode}: ${err.trim().slice(-1500)}`);
  const line = out.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as Figures;
  } catch {
    throw new Error(`${what}: no JSON result in output: ${out.slice(-500)} ${err.slice(-500)}`);
  }
}

/** utime+stime of a process in seconds, from /proc/<pid>/stat (10 ms resolution). */
function procCpu(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // fields 14 and 15; USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

// --- machine and compilers -----------------------------------------------------------------------

function firstLine(cmd: string[]): string | null {
  try {
    const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
    return r.exitCode === 0 ? (r.stdout.toString() || r.stderr.toString()).split("\n")[0]!.trim() : null;
  } catch {
    return null;
  }
}

/**
 * CPU placement. Each side gets its own core: contenders on CPU 0, peers and the load client on
 * CPU 1 (taskset; exec keeps the pid). Unpinned, the scheduler sometimes puts both ends of a
 * ping-pong on one core (≈ 8 µs per round trip here) and sometimes on two (≈ 55 µs: waking an
 * idle vCPU), which made latencies bimodal from one run to the next.
 */
const taskset = Bun.which("taskset");
const pinned = !flag("--no-pin") && taskset !== null && cpus().length >= 2;
const onContenderCpu = (cmd: string[]): string[] => (pinned ? [taskset!, "-c", "0", ...cmd] : cmd);
const onPeerCpu = (cmd: string[]): string[] => (pinned ? [taskset!, "-c", "1", ...cmd] : cmd);

const bun = process.execPath;
const nodeBin = Bun.which("node");
const ccBin = [process.env.CC, "cc", "gcc", "clang"].find((c) => c && Bun.which(c)) ?? null;

function machine(): Machine {
  let cpu = "unknown";
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? cpu;
  } catch { /* not Linux */ }
  return {
    host: hostname(),
    cpu,
    cores: cpus().length,
    kernel: `${process.platform} ${release()}`,
    bun: Bun.version,
    node: nodeBin ? firstLine([nodeBin, "--version"]) : null,
    cc: ccBin ? firstLine([ccBin, "--version"]) : null,
    loadavg_start: loadavg().map((x) => Math.round(x * 100) / 100),
    loadavg_end: [],
  };
}

/** Compiles bench/c/*.c into a cache directory keyed by the sources and the compiler. */
function compileC(): { dir: string } | { reason: string } {
  if (!ccBin) return { reason: "no C compiler (cc/gcc/clang) on PATH" };
  const cdir = join(benchDir, "c");
  const files = readdirSync(cdir).filter((f) => f.endsWith(".c") || f.endsWith(".h")).sort();
  const h = createHash("sha256");
  for (const f of files) h.update(f).update(readFileSync(join(cdir, f)));
  h.update(firstLine([ccBin, "--version"]) ?? "");
  const dir = join(tmpdir(), `bsdsock-bench-c-${h.digest("hex").slice(0, 16)}`);
  mkdirSync(dir, { recursive: true });
  for (const f of files.filter((f) => f.endsWith(".c"))) {
    const bin = join(dir, f.slice(0, -2));
    if (existsSync(bin)) continue;
    const r = Bun.spawnSync([ccBin, "-O2", "-o", `${bin}.tmp`, join(cdir, f)], { stderr: "pipe" });
    if (r.exitCode !== 0) return { reason: `cc ${f} failed: ${r.stderr.toString().slice(0, 500)}` };
    Bun.spawnSync(["mv", `${bin}.tmp`, bin]);
  }
  return { dir };
}

// --- contenders ----------------------------------------------------------------------------------

interface Contender extends ContenderInfo {
  /** Command prefix for the client side (workload arguments follow). */
  client: string[] | null;
  /** Command of the echo server for the concurrent echo workload. */
  server: string[] | null;
  /** Command of the HTTP/1.1 server for the keep-alive HTTP workload (null: none). */
  httpServer?: string[] | null;
}

function contenders(cdir: string | null, cReason: string | null): Contender[] {
  const c = (f: string) => join(benchDir, "contenders", f);
  const list: Contender[] = [
    { id: "c", label: "C", client: cdir ? [join(cdir, "client")] : null, server: cdir ? [join(cdir, "peer"), "echo", "tcp"] : null, reason: cReason, available: true },
    { id: "bsdsock", label: "bsdsock Socket", client: [bun, c("bsdsock.ts"), "socket"], server: [bun, c("bsdsock.ts"), "socket", "server"], reason: null, available: true },
    { id: "posix", label: "bsdsock posix", client: [bun, c("bsdsock.ts"), "posix"], server: [bun, c("bsdsock.ts"), "posix", "server"], reason: null, available: true },
    { id: "ffi", label: "raw bun:ffi", client: [bun, c("bsdsock.ts"), "ffi"], server: null, reason: null, available: true },
    { id: "async", label: "bsdsock async", client: [bun, c("bsdsock-async.ts")], server: [bun, c("bsdsock-async.ts"), "server"], httpServer: [bun, c("bsdsock-async.ts"), "httpserver"], reason: null, available: true },
    { id: "bun", label: "Bun native", client: [bun, c("bun.ts")], server: [bun, c("bun.ts"), "server"], httpServer: [bun, c("bun.ts"), "httpserver"], reason: null, available: true },
    { id: "node_bun", label: "node:net (Bun)", client: [bun, c("node.mjs")], server: [bun, c("node.mjs"), "server"], httpServer: [bun, c("node.mjs"), "httpserver"], reason: null, available: true },
    {
      id: "node", label: "node:net (node)",
      client: nodeBin ? [nodeBin, c("node.mjs")] : null, server: nodeBin ? [nodeBin, c("node.mjs"), "server"] : null,
      httpServer: nodeBin ? [nodeBin, c("node.mjs"), "httpserver"] : null,
      reason: nodeBin ? null : "no node binary on PATH", available: true,
    },
  ];
  return list.map((x) => ({
    ...x,
    available: x.client !== null,
    client: x.client && onContenderCpu(x.client),
    server: x.server && onContenderCpu(x.server),
    httpServer: x.httpServer ? onContenderCpu(x.httpServer) : null,
  }));
}

// --- workloads -----------------------------------------------------------------------------------

interface Peers { echo: Server; echoUnix: Server; unixPath: string; sink: Server; accept: Server; udp: Server; udpSleep: Server; cdir: string; file: string }

interface Workload {
  id: string;
  title: string;
  side: "client" | "server";
  peer: string;
  primary: string;
  run: (c: Contender, peers: Peers) => Promise<Figures>;
  /** Why contender `c` has no way to run this workload ("n/a (...)"), or null when it has. */
  unsupported?: (c: Contender) => string | null;
  /** Repetitions per `--reps` repetition (default 1): for short, bimodal workloads. */
  repsFactor?: number;
}

let udpRun = Math.floor(Math.random() * 1e6) * 10;

/** Runs a client against a peer, adding the peer's CPU seconds over the run. */
async function againstPeer(peer: Server, cmd: string[], what: string): Promise<Figures> {
  const pid = peer.proc.pid;
  const before = procCpu(pid);
  const r = await runJson(cmd, what);
  r.peer_cpu_s = Math.round((procCpu(pid) - before) * 100) / 100;
  return r;
}

function workloads(): Workload[] {
  const list: Workload[] = [
    {
      id: "pingpong_tcp", title: "TCP ping-pong, 64 B", side: "client", peer: "C epoll echo server", primary: "median_us",
      // Cross-core wake-up latency on this VM shifts by ~40 % for every contender at once,
      // sometimes mid-run (21.8 → 31.2 µs for C): twice the repetitions.
      repsFactor: 2,
      run: (c, p) => againstPeer(p.echo, [...c.client!, "pingpong", "tcp", String(p.echo.port), String(sizes.pp), String(sizes.ppWarm), "64"], `${c.id} pingpong`),
    },
    {
      id: "echo_concurrent", title: `Concurrent echo, ${sizes.conns} connections × ${sizes.connRtts} round trips of 64 B`, side: "server",
      peer: "C epoll load client (contender is the server)", primary: "rt_per_cpu_s",
      run: async (c, p) => {
        const srv = await startServer(c.server!, `${c.id} server`);
        try {
          const r = await runJson(onPeerCpu([join(p.cdir, "load"), String(srv.port), String(sizes.conns), String(sizes.connRtts), "64", String(srv.proc.pid)]), `${c.id} echo load`);
          // /proc CPU times tick at 10 ms: below ~50 ms a per-CPU-second figure would be noise
          if (!(r.cpu_s! >= 0.05)) {
            delete r.rt_per_cpu_s;
            delete r.cpu_us_per_rt;
            delete r.user_us_per_rt;
            delete r.sys_us_per_rt;
          }
          return r;
        } finally {
          await stopServer(srv);
        }
      },
    },
    ...[65536, 1 << 20].map((w): Workload => ({
      id: w === 65536 ? "bulk_64k" : "bulk_1m", title: `Bulk stream ${fmtBytes(sizes.bulk)} one way, ${fmtBytes(w)} writes`, side: "client",
      peer: "C sink (1 MiB reads)", primary: "gib_per_s",
      // Throughput of a blocking sender and sink on two vCPUs is bimodal (C itself does 1.3 or
      // 3.2 GiB/s between consecutive runs, depending on how often each side sleeps); a run is
      // short, so each contender gets 3× the repetitions and its best is kept.
      repsFactor: 3,
      run: (c, p) => againstPeer(p.sink, [...c.client!, "bulk", String(p.sink.port), String(sizes.bulk), String(w)], `${c.id} bulk`),
    })),
    {
      // MSG_ZEROCOPY on loopback: the kernel copies anyway (every completion says so), so this
      // row shows what the pinning and the completions cost, not a saving; it pays off only
      // towards a device that sends from user pages.
      id: "bulk_zerocopy", title: `Bulk stream ${fmtBytes(sizes.bulk)} one way, 1 MiB writes with MSG_ZEROCOPY (loopback: the kernel copies anyway)`, side: "client",
      peer: "C sink (1 MiB reads)", primary: "gib_per_s",
      repsFactor: 3,
      unsupported: (c) => (["c", "bsdsock", "async"].includes(c.id) ? null : "n/a (no MSG_ZEROCOPY)"),
      run: (c, p) => againstPeer(p.sink, [...c.client!, "bulkzc", String(p.sink.port), String(sizes.bulk), String(1 << 20)], `${c.id} bulk zerocopy`),
    },
    udpWorkload("udp_64", 64, "one", "spin"),
    udpWorkload("udp_1400", 1400, "one", "spin"),
    udpWorkload("udp_64_sleep", 64, "one", "sleep"),
    udpWorkload("udp_many_64", 64, "many", "spin"),
    udpWorkload("udp_segments_64", 64, "segments", "spin"),
    udpWorkload("udp_segments_1400", 1400, "segments", "spin"),
    {
      // The async server's --workers scaling (issue 12: 2 workers ≥ 1.5× one). Server processes
      // are not pinned here (two workers on one pinned core could not scale); the load client
      // stays on CPU 1, and 1 and 2 workers run back to back under the same placement.
      id: "echo_workers", title: `Concurrent echo, async server with 1 and 2 worker processes (SO_REUSEPORT, unpinned), ${sizes.conns} connections`, side: "server",
      peer: "C epoll load client (contender is the server)", primary: "rt_per_s_2w",
      unsupported: (c) => (c.id === "async" ? null : "n/a (one process)"),
      run: async (c, p) => {
        const out: Figures = { wall_s: 0, cpu_s: 0 };
        for (const workers of [1, 2]) {
          const srv = await startServer([bun, join(benchDir, "contenders", "bsdsock-async.ts"), "server", String(workers)], `${c.id} server ×${workers}`);
          try {
            const r = await runJson(onPeerCpu([join(p.cdir, "load"), String(srv.port), String(sizes.conns), String(sizes.connRtts), "64", String(srv.proc.pid)]), `${c.id} echo load ×${workers}`);
            out[`rt_per_s_${workers}w`] = r.rt_per_s as number;
            // wall and server CPU (the first process's: the load client reads one pid) of both runs
            out.wall_s = (out.wall_s as number) + (r.wall_s as number);
            out.cpu_s = (out.cpu_s as number) + (r.cpu_s as number);
          } finally {
            await stopServer(srv);
          }
        }
        out.speedup = (out.rt_per_s_2w as number) / (out.rt_per_s_1w as number);
        return out;
      },
    },
    ...(["sendfile", "readsend"] as const).map((method): Workload => ({
      id: `file_${method}`,
      title: `A ${fmtBytes(sizes.bulk)} file to the sink, ${method === "sendfile" ? "sendfile(2)" : "read() + send() of 64 KiB"}`,
      side: "client", peer: "C sink (1 MiB reads)", primary: "gib_per_s",
      // Bimodal like the bulk streams (same sender/sink pair): best of 3× the repetitions.
      repsFactor: 3,
      unsupported: (c) => (method === "sendfile" && !["c", "bsdsock", "async"].includes(c.id)) ? "n/a (no sendfile)"
        : (c.id === "posix") ? "n/a (Socket layer only)" : null,
      run: (c, p) => againstPeer(p.sink, [...c.client!, "file", String(p.sink.port), p.file, String(sizes.bulk), method], `${c.id} file ${method}`),
    })),
    {
      // node:http fed by toDuplex() (async) against node:http on its own net server (in Bun and in
      // node) and Bun.serve, all answering the same 12-byte body to the same C keep-alive client.
      id: "http_keepalive", title: `HTTP/1.1 keep-alive, ${sizes.httpConns} connections × ${sizes.httpRequests} requests (12-byte body)`, side: "server",
      peer: "C epoll keep-alive HTTP client (contender is the server)", primary: "req_per_cpu_s",
      unsupported: (c) => (c.httpServer ? null : "n/a (no HTTP server)"),
      run: async (c, p) => {
        const load = async (cmd: string[], what: string): Promise<Figures> => {
          const srv = await startServer(cmd, what);
          try {
            return await runJson(onPeerCpu([join(p.cdir, "httpload"), String(srv.port), String(sizes.httpConns), String(sizes.httpRequests), String(srv.proc.pid)]), what);
          } finally {
            await stopServer(srv);
          }
        };
        const r = await load(c.httpServer!, `${c.id} http server`);
        // node:http also fed net.Server connections through emit("connection"): the same path
        // as toDuplex's connections, so the like-for-like baseline (Bun serves both slower).
        if (c.id === "node_bun" || c.id === "node") {
          const e = await load([...c.httpServer!, "emit"], `${c.id} http server (emit)`);
          r.emit_req_per_cpu_s = e.req_per_cpu_s!;
          r.emit_cpu_us_per_req = e.cpu_us_per_req!;
        }
        if (!(r.cpu_s! >= 0.05)) { // below ~50 ms of /proc ticks a per-CPU-second figure is noise
          for (const k of ["req_per_cpu_s", "cpu_us_per_req", "user_us_per_req", "sys_us_per_req", "emit_req_per_cpu_s", "emit_cpu_us_per_req"]) delete r[k];
        }
        return r;
      },
    },
    {
      id: "connrate", title: "Connection rate: connect, accept, close", side: "client", peer: "C accept-and-close server", primary: "conn_per_s",
      run: (c, p) => againstPeer(p.accept, [...c.client!, "connrate", String(p.accept.port), String(sizes.connrate)], `${c.id} connrate`),
    },
    {
      id: "pingpong_unix", title: "Unix stream ping-pong, 64 B", side: "client", peer: "C epoll echo server (unix)", primary: "median_us",
      repsFactor: 2,
      run: (c, p) => againstPeer(p.echoUnix, [...c.client!, "pingpong", "unix", p.unixPath, String(sizes.unixPp), String(sizes.ppWarm), "64"], `${c.id} unix pingpong`),
    },
  ];
  return only ? list.filter((w) => only.includes(w.id)) : list;
}

/** How a UDP workload's sender sends (bench/c/client.c and the contenders take the same word). */
type UdpMethod = "one" | "many" | "segments";

/** Which contenders have each UDP send method, and what the others lack. */
const udpMethods: Record<UdpMethod, { title: string; has: readonly string[]; lacks: string }> = {
  one: { title: "one send each", has: ["c", "bsdsock", "posix", "ffi", "async", "bun", "node_bun", "node"], lacks: "" },
  many: { title: "64 per call (sendmmsg / sendMany)", has: ["c", "bsdsock", "async", "bun"], lacks: "n/a (no batch send)" },
  segments: { title: "64 per call by segmentation offload (UDP_SEGMENT)", has: ["c", "bsdsock", "async"], lacks: "n/a (no UDP_SEGMENT)" },
};

/**
 * A UDP workload: the contender sends `sizes.udp` datagrams of `size` bytes (after
 * `sizes.udpWarm` warm-up datagrams the sink ignores) by `method` to the C sink, which either
 * spins while a run is going ("spin": the sender never pays for waking it) or sleeps whenever
 * its queue is empty ("sleep").
 */
function udpWorkload(id: string, size: number, method: UdpMethod, sink: "spin" | "sleep"): Workload {
  const m = udpMethods[method];
  return {
    id,
    title: `UDP ${sizes.udp} datagrams of ${size} B, ${m.title}${sink === "sleep" ? ", to a sink that sleeps when idle" : ""}`,
    side: "client",
    peer: sink === "spin" ? "C UDP sink (recvmmsg; spins while a run is going)" : "C UDP sink (recvmmsg; sleeps when its queue is empty)",
    primary: "sent_per_s",
    unsupported: (c) => (m.has.includes(c.id) ? null : c.id === "ffi" ? "n/a (floor: one send per datagram only)" : m.lacks),
    run: async (c, p) => {
      const server = sink === "spin" ? p.udp : p.udpSleep;
      const run = ++udpRun;
      // Batch methods make 64× fewer calls per datagram: warm them 16× longer so that the JIT
      // has tiered up the send path before the timed run, as it has for one send per datagram.
      const warm = method === "one" ? sizes.udpWarm : sizes.udpWarm * 16;
      const r = await againstPeer(server, [...c.client!, "udp", String(server.port), String(sizes.udp), String(size), String(run), String(warm), method], `${c.id} udp ${method}`);
      for (;;) {
        const line = JSON.parse(await server.lines.next(5_000, "udp sink")) as Figures;
        if (line.run !== run) continue;
        const sent = r.sent as number;
        const received = line.received as number;
        return { ...r, received, lost: sent - received, loss_pct: sent > 0 ? ((sent - received) / sent) * 100 : 0, sink_span_s: line.span_s ?? NaN, sink_rcvbuf: line.rcvbuf ?? NaN };
      }
    },
  };
}

function fmtBytes(n: number): string {
  return n >= 2 ** 30 ? `${n / 2 ** 30} GiB` : n >= 2 ** 20 ? `${n / 2 ** 20} MiB` : `${n / 1024} KiB`;
}

/** Figures derived from the raw ones so that every contender is compared on the same basis. */
function derive(w: Workload, r: Figures): Figures {
  const cpu = r.cpu_s as number;
  const out = { ...r };
  if (w.id.startsWith("pingpong")) out.cpu_us_per_rtt = (cpu / (r.rtts as number)) * 1e6;
  if (w.id.startsWith("bulk") || w.id.startsWith("file_")) out.cpu_s_per_gib = cpu / ((r.bytes as number) / 2 ** 30);
  if (w.id.startsWith("udp")) out.cpu_us_per_dgram = (cpu / (r.sent as number)) * 1e6;
  if (w.id === "connrate") out.cpu_us_per_conn = (cpu / (r.conns as number)) * 1e6;
  return out;
}

/** Which metric direction is better, for choosing the best repetition. */
const higherIsBetter = (metric: string): boolean => /per_s|gib_per_s/.test(metric) && !/^cpu/.test(metric);

// --- main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const t0 = performance.now();
  const mach = machine();
  const compiled = compileC();
  if ("reason" in compiled) {
    // The common peers are C programs; without a compiler there is nothing to measure against.
    console.error(`bench: ${compiled.reason}; the peers are C programs, so the bench cannot run here.`);
    process.exit(1);
  }
  const cdir = compiled.dir;
  const all = contenders(cdir, null);
  const wls = workloads();
  scratch = mkdtempSync(join(tmpdir(), "bsdsock-bench-"));
  const unixPath = join(scratch, "echo.sock");
  // The file for the file workloads: written once (so it is in the page cache for every contender).
  const filePath = join(scratch, "file.bin");
  if (!only || only.some((id) => id.startsWith("file_"))) {
    const chunk = new Uint8Array(1 << 20).map((_, i) => (i * 131) & 0xff);
    const fd = openSync(filePath, "w");
    for (let off = 0; off < sizes.bulk; off += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, sizes.bulk - off));
    closeSync(fd);
  }

  console.log(`bsdsock bench (${mode}${reps > 1 ? `, best of ${reps}` : ""}${pinned ? ", contenders on CPU 0, peers on CPU 1" : ", unpinned"}) on ${mach.cpu}, ${mach.cores} cores, ${mach.kernel}, bun ${mach.bun}, node ${mach.node ?? "absent"}, load ${mach.loadavg_start.join(" ")}`);
  const peer = (...a: string[]) => onPeerCpu([join(cdir, "peer"), ...a]);
  const peers: Peers = {
    echo: await startServer(peer("echo", "tcp"), "C echo peer"),
    echoUnix: await startServer(peer("echo", "unix", unixPath), "C unix echo peer"),
    unixPath,
    sink: await startServer(peer("sink"), "C sink peer"),
    accept: await startServer(peer("accept"), "C accept peer"),
    udp: await startServer(peer("udpsink", "spin"), "C udp sink peer (spin)"),
    udpSleep: await startServer(peer("udpsink", "sleep"), "C udp sink peer (sleep)"),
    cdir,
    file: filePath,
  };

  const results: WorkloadResult[] = wls.map((w) => ({
    id: w.id, title: w.title, side: w.side, peer: w.peer, primary: w.primary, reps: reps * (w.repsFactor ?? 1), results: {},
  }));
  // Interleaved: each repetition runs every workload for every contender, so slow drifts of a
  // shared machine spread over all contenders instead of hitting one.
  const maxReps = reps * Math.max(...wls.map((w) => w.repsFactor ?? 1));
  for (let rep = 0; rep < maxReps; rep++) {
    for (const [i, w] of wls.entries()) {
      if (rep >= reps * (w.repsFactor ?? 1)) continue;
      const wr = results[i]!;
      for (const c of all) {
        if (!c.available) { wr.results[c.id] = { ok: false, reason: c.reason ?? "absent" }; continue; }
        const lacks = c.id === "ffi" && !w.id.startsWith("udp") ? "n/a (floor for UDP only)" : (w.unsupported?.(c) ?? null);
        if (lacks) { wr.results[c.id] = { ok: false, reason: lacks }; continue; }
        const prev = wr.results[c.id];
        if (prev && !prev.ok) continue; // failed once: do not retry
        const t = performance.now();
        try {
          const r = derive(w, await w.run(c, peers));
          const reps_ = prev?.ok ? [...prev.reps, r] : [r];
          const better = higherIsBetter(w.primary);
          const best = reps_.reduce((a, b) => ((better ? (b[w.primary] as number) > (a[w.primary] as number) : (b[w.primary] as number) < (a[w.primary] as number)) ? b : a));
          wr.results[c.id] = { ok: true, figures: best, reps: reps_ };
          process.stdout.write(`  ${w.id.padEnd(16)} ${c.label.padEnd(18)} ${String(fmtNum(r[w.primary] as number)).padStart(10)} ${w.primary}  (${((performance.now() - t) / 1000).toFixed(1)} s)\n`);
        } catch (e) {
          wr.results[c.id] = { ok: false, reason: `error: ${(e as Error).message.split("\n").slice(0, 3).join(" | ")}` };
          process.stdout.write(`  ${w.id.padEnd(16)} ${c.label.padEnd(18)} FAILED ${(e as Error).message.split("\n")[0]}\n`);
        }
      }
    }
  }
  for (const s of [peers.echo, peers.echoUnix, peers.sink, peers.accept, peers.udp, peers.udpSleep]) await stopServer(s);

  mach.loadavg_end = loadavg().map((x) => Math.round(x * 100) / 100);
  const date = new Date();
  const result: BenchResult = {
    schema: 1,
    mode,
    reps,
    pinned,
    date: date.toISOString(),
    duration_s: Math.round((performance.now() - t0) / 100) / 10,
    machine: mach,
    params: { ...sizes, reps },
    contenders: all.map(({ id, label, available, reason }) => ({ id, label, available, reason })),
    workloads: results,
  };

  const md = renderMarkdown(result);
  console.log(`\n${renderText(result)}`);

  // Where results go: full runs → bench/results/<date>-<host>.json + latest.md + latest.svg;
  // quick runs → bench/results/<date>-<host>.quick.json only (latest.* stays the last full run);
  // smoke runs → nothing unless --out is given. --out DIR writes json, md and svg into DIR.
  const outOpt = option("--out");
  const stamp = date.toISOString().slice(0, 10);
  const base = `${stamp}-${mach.host}${mode === "full" ? "" : `.${mode}`}`;
  const dir = outOpt ? resolve(outOpt) : mode === "smoke" ? null : join(benchDir, "results");
  if (dir) {
    mkdirSync(dir, { recursive: true });
    const jsonPath = join(dir, `${base}.json`);
    writeFileSync(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`wrote ${jsonPath}`);
    if (outOpt || mode === "full") {
      writeFileSync(join(dir, "latest.md"), md);
      writeFileSync(join(dir, "latest.svg"), renderSvg(result));
      console.log(`wrote ${join(dir, "latest.md")} and latest.svg`);
    }
  }
}

function fmtNum(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3);
}

await main();
cleanup();
