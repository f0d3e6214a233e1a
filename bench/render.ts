/**
 * Renders a bench result as a markdown table (for the README), plain text (the console) and an
 * SVG bar chart (relative to C, no browser needed).
 */
import type { BenchResult, ContenderResult, Figures, WorkloadResult } from "./types.ts";

type Better = "lower" | "higher" | null;
interface Row {
  key: string; label: string; better: Better; unit: string;
}

const pingRows: Row[] = [
  { key: "median_us", label: "median per round trip", better: "lower", unit: "µs" },
  { key: "p99_us", label: "p99 per round trip", better: "lower", unit: "µs" },
  { key: "per_rtt_wall_us", label: "wall time per round trip", better: "lower", unit: "µs" },
  { key: "cpu_us_per_rtt", label: "client CPU per round trip", better: "lower", unit: "µs" },
];
const bulkRows: Row[] = [
  { key: "gib_per_s", label: "throughput", better: "higher", unit: "GiB/s" },
  { key: "cpu_s_per_gib", label: "sender CPU per GiB", better: "lower", unit: "s" },
];
const udpRows: Row[] = [
  { key: "sent_per_s", label: "datagrams sent per second", better: "higher", unit: "/s" },
  { key: "loss_pct", label: "lost (sent − received by the sink)", better: null, unit: "%" },
  { key: "cpu_us_per_dgram", label: "sender CPU per datagram", better: "lower", unit: "µs" },
];

/** The rows shown for each workload. */
export const rowsFor: Record<string, Row[]> = {
  pingpong_tcp: pingRows,
  pingpong_unix: pingRows,
  echo_concurrent: [
    { key: "rt_per_s", label: "round trips per second", better: "higher", unit: "/s" },
    { key: "rt_per_cpu_s", label: "round trips per server CPU-second", better: "higher", unit: "/s" },
    { key: "cpu_us_per_rt", label: "server CPU per round trip", better: "lower", unit: "µs" },
    { key: "user_us_per_rt", label: "of which user (the contender's own code)", better: "lower", unit: "µs" },
    { key: "sys_us_per_rt", label: "of which system (the kernel)", better: "lower", unit: "µs" },
  ],
  echo_workers: [
    { key: "rt_per_s_1w", label: "round trips per second, 1 worker", better: "higher", unit: "/s" },
    { key: "rt_per_s_2w", label: "round trips per second, 2 workers", better: "higher", unit: "/s" },
    { key: "speedup", label: "2 workers ÷ 1 worker", better: null, unit: "×" },
  ],
  bulk_64k: bulkRows,
  bulk_1m: bulkRows,
  bulk_zerocopy: bulkRows,
  file_sendfile: bulkRows,
  file_readsend: bulkRows,
  udp_64: udpRows,
  udp_1400: udpRows,
  udp_64_sleep: udpRows,
  udp_many_64: udpRows,
  udp_segments_64: udpRows,
  udp_segments_1400: udpRows,
  http_keepalive: [
    { key: "req_per_s", label: "requests per second", better: "higher", unit: "/s" },
    { key: "req_per_cpu_s", label: "requests per server CPU-second", better: "higher", unit: "/s" },
    { key: "cpu_us_per_req", label: "server CPU per request", better: "lower", unit: "µs" },
    { key: "user_us_per_req", label: "of which user", better: "lower", unit: "µs" },
    { key: "emit_req_per_cpu_s", label: "node:http fed net.Socket connections by emit(\"connection\"): requests per server CPU-second", better: "higher", unit: "/s" },
  ],
  connrate: [
    { key: "conn_per_s", label: "connections per second", better: "higher", unit: "/s" },
    { key: "cpu_us_per_conn", label: "client CPU per connection", better: "lower", unit: "µs" },
  ],
};

function num(x: number, unit = ""): string {
  if (!Number.isFinite(x)) return "–";
  let s: string;
  if (unit === "/s" || Math.abs(x) >= 10_000) s = x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e4 ? `${(x / 1e3).toFixed(0)} k` : x.toFixed(0);
  else if (Math.abs(x) >= 100) s = x.toFixed(0);
  else if (Math.abs(x) >= 10) s = x.toFixed(1);
  else s = x.toFixed(2);
  return unit === "/s" ? s.trim() : unit ? `${s} ${unit}` : s;
}

function figure(r: ContenderResult | undefined, key: string): number | null {
  if (!r?.ok) return null;
  const v = r.figures[key];
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function cell(w: WorkloadResult, row: Row, id: string): string {
  const r = w.results[id];
  if (!r) return "–";
  if (!r.ok) return r.reason.startsWith("n/a") ? "n/a" : "absent";
  const v = figure(r, row.key);
  if (v === null) return "–";
  const c = figure(w.results.c, row.key);
  const text = num(v, row.unit);
  if (row.better === null || c === null || c === 0 || id === "c") return text;
  return `${text} (${(v / c).toFixed(2)}×)`;
}

/** ", bulk streams best of 6": workloads that ran more repetitions than the run's. */
function extraReps(res: BenchResult): string {
  const more = res.workloads.filter((w) => (w.reps ?? res.reps) > res.reps);
  if (more.length === 0) return "";
  const byCount = new Map<number, string[]>();
  for (const w of more) byCount.set(w.reps, [...(byCount.get(w.reps) ?? []), w.id]);
  return [...byCount].map(([n, ids]) => ` (${ids.join(", ")}: best of ${n})`).join("");
}

function header(res: BenchResult): string[] {
  const m = res.machine;
  return [
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.kernel}; Bun ${m.bun}; node ${m.node ?? "absent"}; ${m.cc ?? "no C compiler"}.`,
    `Run: ${res.date.slice(0, 16).replace("T", " ")} UTC, ${res.mode} mode${res.reps > 1 ? `, best of ${res.reps} interleaved repetitions` : ""}${extraReps(res)}, ` +
      `${res.duration_s} s; ${res.pinned ? "contender pinned to CPU 0, peer to CPU 1" : "processes not pinned"}; load average ${m.loadavg_start.join(" / ")} at start, ${m.loadavg_end.join(" / ")} at end.`,
  ];
}

function table(res: BenchResult): string[] {
  const cols = res.contenders;
  const out = [
    `| Workload | Figure | ${cols.map((c) => c.label).join(" | ")} |`,
    `|---|---|${cols.map(() => "---:").join("|")}|`,
  ];
  for (const w of res.workloads) {
    const rows = rowsFor[w.id] ?? [{ key: w.primary, label: w.primary, better: "higher", unit: "" }];
    rows.forEach((row, i) => {
      const dir = row.better === "lower" ? " ↓" : row.better === "higher" ? " ↑" : "";
      out.push(`| ${i === 0 ? w.title : ""} | ${row.label}${dir} | ${cols.map((c) => cell(w, row, c.id)).join(" | ")} |`);
    });
  }
  return out;
}

function ratio(w: WorkloadResult | undefined, key: string, id: string, base: string): number | null {
  if (!w) return null;
  const v = figure(w.results[id], key);
  const b = figure(w.results[base], key);
  return v === null || b === null || b === 0 ? null : v / b;
}

/** The issue's targets, checked against this run (figures, not assertions). */
function targets(res: BenchResult): string[] {
  const W = (id: string) => res.workloads.find((w) => w.id === id);
  const out: string[] = [];
  const verdict = (r: number | null, ok: (r: number) => boolean) => (r === null ? "not measured" : ok(r) ? "met" : "**missed**");
  const f = (r: number | null) => (r === null ? "–" : `${r.toFixed(2)}×`);
  for (const id of ["pingpong_tcp"]) {
    const wall = ratio(W(id), "per_rtt_wall_us", "bsdsock", "c");
    const cpu = ratio(W(id), "cpu_us_per_rtt", "bsdsock", "c");
    out.push(`- Blocking ping-pong: bsdsock wall time ${f(wall)} C (target ≤ 1.05×: ${verdict(wall, (r) => r <= 1.05)}), CPU time ${f(cpu)} C (target ≤ 1.2×: ${verdict(cpu, (r) => r <= 1.2)}).`);
  }
  for (const id of ["bulk_64k", "bulk_1m"]) {
    const w = W(id);
    if (!w) continue;
    const cBun = [figure(w.results.c, "gib_per_s"), figure(w.results.bun, "gib_per_s")].filter((x): x is number => x !== null);
    const best = cBun.length ? Math.max(...cBun) : null;
    const mine = figure(w.results.bsdsock, "gib_per_s");
    const r = best && mine !== null ? mine / best : null;
    out.push(`- ${w.title}: bsdsock ${mine === null ? "–" : num(mine, "GiB/s")} = ${f(r)} the faster of C and Bun.connect (target ≥ 0.95×: ${verdict(r, (x) => x >= 0.95)}).`);
  }
  for (const id of ["udp_64", "udp_1400", "udp_64_sleep"]) {
    const w = W(id);
    if (!w) continue;
    const r = ratio(w, "sent_per_s", "bsdsock", "c");
    const p = ratio(w, "sent_per_s", "posix", "c");
    const floor = ratio(w, "sent_per_s", "ffi", "c");
    out.push(`- ${w.title}: bsdsock Socket ${f(r)} C datagrams/s, posix ${f(p)}, raw bun:ffi floor ${f(floor)} (target ≥ 0.95×: ${verdict(r, (x) => x >= 0.95)}).`);
  }
  // Batch sends against C's one send per datagram of the same size (the issue's 1.5× target),
  // and against C doing the same batching (parity).
  for (const [id, base, what] of [["udp_many_64", "udp_64", "sendMany (sendmmsg)"], ["udp_segments_64", "udp_64", "sendSegments (UDP_SEGMENT)"], ["udp_segments_1400", "udp_1400", "sendSegments (UDP_SEGMENT)"]] as const) {
    const w = W(id);
    if (!w) continue;
    const mine = figure(w.results.bsdsock, "sent_per_s");
    const one = figure(W(base)?.results.c, "sent_per_s");
    const vsOne = mine !== null && one ? mine / one : null;
    const same = ratio(w, "sent_per_s", "bsdsock", "c");
    const loss = figure(w.results.bsdsock, "loss_pct");
    out.push(`- ${w.title}: bsdsock ${what} ${f(vsOne)} C's one send per datagram (target ≥ 1.5×: ${verdict(vsOne, (x) => x >= 1.5)}), ` +
      `${f(same)} C batching the same way, ${loss === null ? "–" : `${loss.toFixed(2)} %`} lost.`);
  }
  const e = W("echo_concurrent");
  if (e) {
    const vb = ratio(e, "rt_per_cpu_s", "bsdsock", "bun");
    const vn = ratio(e, "rt_per_cpu_s", "bsdsock", "node");
    out.push(`- Concurrent echo, blocking Socket + Poller (epoll) loop: ${f(vb)} Bun.listen and ${f(vn)} node:net (node) round trips per server CPU-second.`);
  }
  return out;
}

/** Issue 12's targets for the async API, checked against this run. */
function asyncTargets(res: BenchResult): string[] {
  const W = (id: string) => res.workloads.find((w) => w.id === id);
  const out: string[] = [];
  const verdict = (r: number | null, ok: (r: number) => boolean) => (r === null ? "not measured" : ok(r) ? "met" : "**missed**");
  const f = (r: number | null) => (r === null ? "–" : `${r.toFixed(2)}×`);
  const e = W("echo_concurrent");
  if (e) {
    const vb = ratio(e, "rt_per_cpu_s", "async", "bun");
    const vn = ratio(e, "rt_per_cpu_s", "async", "node");
    out.push(`- Concurrent echo (async server): ${f(vb)} Bun.listen (target ≥ 1.2×: ${verdict(vb, (r) => r >= 1.2)}) and ${f(vn)} node:net (node) (target ≥ 1.5×: ${verdict(vn, (r) => r >= 1.5)}) round trips per server CPU-second.`);
  }
  const pp = W("pingpong_tcp");
  if (pp) {
    const r = ratio(pp, "median_us", "async", "bun");
    out.push(`- Async TCP ping-pong: median ${f(r)} Bun.connect's (target ≤ 1.2×: ${verdict(r, (x) => x <= 1.2)}).`);
  }
  const b = W("bulk_64k");
  if (b) {
    const r = ratio(b, "gib_per_s", "async", "bun");
    out.push(`- Async bulk stream, 64 KiB writes: ${f(r)} Bun.connect's throughput (target ≥ 0.95×: ${verdict(r, (x) => x >= 0.95)}).`);
  }
  const wk = W("echo_workers");
  if (wk) {
    const r = figure(wk.results.async, "speedup");
    out.push(`- Async echo server, 2 worker processes: ${f(r)} one worker's round trips per second (target ≥ 1.5×: ${verdict(r, (x) => x >= 1.5)}).`);
  }
  return out;
}

/** Issue 16's targets (the rebuilt async core), checked against this run. */
function coreTargets(res: BenchResult): string[] {
  const W = (id: string) => res.workloads.find((w) => w.id === id);
  const out: string[] = [];
  const verdict = (r: number | null, ok: (r: number) => boolean) => (r === null ? "not measured" : ok(r) ? "met" : "**missed**");
  const f = (r: number | null) => (r === null ? "–" : `${r.toFixed(2)}×`);
  const e = W("echo_concurrent");
  if (e) {
    const cpu = ratio(e, "cpu_us_per_rt", "async", "bun");
    const user = ratio(e, "user_us_per_rt", "async", "bun");
    const vsC = ratio(e, "cpu_us_per_rt", "async", "c");
    out.push(`- Concurrent echo, async server (the README's chunks() loop): CPU per round trip ${f(cpu)} Bun.listen's (target ≤ 1×: ${verdict(cpu, (r) => r <= 1)}), ` +
      `user CPU ${f(user)} Bun.listen's (target ≤ 1×: ${verdict(user, (r) => r <= 1)}), CPU ${f(vsC)} C's (moonshot ≤ 1.2×: ${verdict(vsC, (r) => r <= 1.2)}).`);
  }
  const pp = W("pingpong_tcp");
  if (pp) {
    const cpu = ratio(pp, "cpu_us_per_rtt", "async", "c");
    const med = ratio(pp, "median_us", "async", "bun");
    const blocking = ratio(pp, "median_us", "bsdsock", "c");
    out.push(`- Async ping-pong: client CPU per round trip ${f(cpu)} C's (target ≤ 1.5×: ${verdict(cpu, (r) => r <= 1.5)}), median ${f(med)} Bun.connect's (target ≤ 1×: ${verdict(med, (r) => r <= 1)}); ` +
      `blocking Socket median ${f(blocking)} C's (must stay ≤ 1.05×: ${verdict(blocking, (r) => r <= 1.05)}).`);
  }
  const cr = W("connrate");
  if (cr) {
    const rate = ratio(cr, "conn_per_s", "async", "c");
    const cpu = ratio(cr, "cpu_us_per_conn", "async", "c");
    out.push(`- Async connection rate ${f(rate)} C's (target ≥ 0.95×: ${verdict(rate, (r) => r >= 0.95)}), client CPU ${f(cpu)} C's (target ≤ 1.5×: ${verdict(cpu, (r) => r <= 1.5)}).`);
  }
  const u = W("udp_64");
  if (u) {
    const r = ratio(u, "sent_per_s", "async", "c");
    out.push(`- Async UDP, one send per datagram (64 B): ${f(r)} C's rate (target ≥ 0.9×: ${verdict(r, (x) => x >= 0.9)}).`);
  }
  for (const id of ["udp_segments_64", "udp_segments_1400"]) {
    const w = W(id);
    if (!w) continue;
    const r = ratio(w, "sent_per_s", "async", "bsdsock");
    out.push(`- ${w.title}: async sendSegments ${f(r)} the blocking Socket's (target ≥ 0.95×: ${verdict(r, (x) => x >= 0.95)}).`);
  }
  const b = W("bulk_64k");
  if (b) {
    const r = ratio(b, "gib_per_s", "async", "bsdsock");
    out.push(`- Async bulk stream, 64 KiB writes: ${f(r)} the blocking Socket's (target ≥ 0.95×: ${verdict(r, (x) => x >= 0.95)}).`);
  }
  return out;
}

/** Issue 17's speed target (node:http over toDuplex), checked against this run. */
function duplexTargets(res: BenchResult): string[] {
  const w = res.workloads.find((x) => x.id === "http_keepalive");
  if (!w) return [];
  const f = (r: number | null) => (r === null ? "–" : `${r.toFixed(2)}×`);
  const vsNet = ratio(w, "req_per_cpu_s", "async", "node_bun");
  const vsServe = ratio(w, "req_per_cpu_s", "async", "bun");
  const vsNode = ratio(w, "req_per_cpu_s", "async", "node");
  const verdict = vsNet === null ? "not measured" : vsNet >= 0.9 ? "met" : "**missed**";
  const mine = figure(w.results.async, "req_per_cpu_s");
  const emitted = figure(w.results.node_bun, "emit_req_per_cpu_s");
  const vsEmit = mine !== null && emitted !== null && emitted > 0 ? mine / emitted : null;
  return [`- HTTP/1.1 keep-alive: node:http fed by toDuplex() ${f(vsNet)} node:http on its own net server (Bun) in requests per server CPU-second (target ≥ 0.9×: ${verdict}); ` +
    `${f(vsEmit)} node:http fed Bun's own net.Socket connections by emit("connection") (the same path inside node:http); ${f(vsServe)} Bun.serve; ${f(vsNode)} node:http under node.`];
}

/** Issue 13's speed target (sendFile), checked against this run. */
function fileTargets(res: BenchResult): string[] {
  const W = (id: string) => res.workloads.find((w) => w.id === id);
  const out: string[] = [];
  const verdict = (r: number | null, ok: (r: number) => boolean) => (r === null ? "not measured" : ok(r) ? "met" : "**missed**");
  const f = (r: number | null) => (r === null ? "–" : `${r.toFixed(2)}×`);
  const fs = W("file_sendfile");
  const fr = W("file_readsend");
  if (fs) {
    const vsC = ratio(fs, "gib_per_s", "bsdsock", "c");
    const mine = figure(fs.results.bsdsock, "gib_per_s");
    const loops = fr ? [figure(fr.results.bsdsock, "gib_per_s"), figure(fr.results.bun, "gib_per_s")].filter((x): x is number => x !== null) : [];
    const vsLoop = mine !== null && loops.length ? mine / Math.max(...loops) : null;
    out.push(`- File to socket: bsdsock sendFile ${f(vsC)} C's sendfile loop (target ≥ 0.95×: ${verdict(vsC, (r) => r >= 0.95)}), ` +
      `${f(vsLoop)} the faster read+send loop of bsdsock and Bun (target ≥ 1.3×: ${verdict(vsLoop, (r) => r >= 1.3)}).`);
  }
  return out;
}

/** Markdown for the README: machine, table with ratios to C, notes, targets. */
export function renderMarkdown(res: BenchResult): string {
  const absent = res.contenders.filter((c) => !c.available).map((c) => `${c.label}: ${c.reason}`);
  return [
    ...header(res).map((l) => `${l}  `),
    "",
    ...table(res),
    "",
    "Each cell: the contender's figure, then (contender ÷ C). ↓ lower is better, ↑ higher is better. " +
      "Client-side workloads run each contender as the client against the same C peer process; the concurrent echo runs each " +
      "contender's own server against the same C load client, and its CPU is the server's (from /proc/<pid>/stat). " +
      "CPU times are user+sys of the whole process over the measured phase (getrusage / process.cpuUsage).",
    ...(absent.length ? ["", `Absent: ${absent.join("; ")}.`] : []),
    "",
    "Targets from issue 7, as measured in this run:",
    "",
    ...targets(res),
    "",
    "Targets from issue 12 (the async API), as measured in this run:",
    "",
    ...asyncTargets(res),
    "",
    "Target from issue 13 (sendFile), as measured in this run:",
    "",
    ...fileTargets(res),
    "",
    "Targets from issue 16 (the rebuilt async core), as measured in this run:",
    "",
    ...coreTargets(res),
    "",
    "Target from issue 17 (node:http over toDuplex), as measured in this run:",
    "",
    ...duplexTargets(res),
    "",
  ].join("\n");
}

/** The same table for a terminal. */
export function renderText(res: BenchResult): string {
  return [...header(res), "", ...table(res), "", ...targets(res), ...asyncTargets(res), ...fileTargets(res), ...coreTargets(res), ...duplexTargets(res)].join("\n");
}

// --- SVG -----------------------------------------------------------------------------------------

const colors: Record<string, string> = {
  c: "#555555", bsdsock: "#1f6fb4", posix: "#74a9d8", async: "#7b3fb0", bun: "#e0a100", node_bun: "#2e9e44", node: "#9ad39f",
};

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Horizontal bars per workload: performance relative to C on the primary figure (higher is better). */
/** One bar of the chart: a label, the contender whose colour it takes, its figure and ratio. */
interface Bar { label: string; color: string; v: number | null; rel: number | null; reason: string }

/**
 * The UDP story in one group: every way of sending 64 B datagrams (one sendto each, sendmmsg,
 * UDP_SEGMENT), each relative to C's one sendto per datagram — the issue's batch target.
 */
function udpMethodsGroup(res: BenchResult): { title: string; row: Row; bars: Bar[] } | null {
  const W = (id: string) => res.workloads.find((w) => w.id === id);
  const base = figure(W("udp_64")?.results.c, "sent_per_s");
  if (!base || !W("udp_many_64") || !W("udp_segments_64")) return null;
  const picks: [string, string, string][] = [
    ["udp_64", "c", "C sendto"], ["udp_many_64", "c", "C sendmmsg"], ["udp_segments_64", "c", "C UDP_SEGMENT"],
    ["udp_64", "bsdsock", "bsdsock sendTo"], ["udp_many_64", "bsdsock", "bsdsock sendMany"], ["udp_segments_64", "bsdsock", "bsdsock sendSegments"],
    ["udp_64", "bun", "Bun send"], ["udp_many_64", "bun", "Bun sendMany"], ["udp_64", "node", "node:dgram"],
  ];
  const bars = picks.map(([wid, cid, label]): Bar => {
    const cell = W(wid)?.results[cid];
    const v = figure(cell, "sent_per_s");
    return { label, color: cid, v, rel: v === null ? null : v / base, reason: cell?.ok === false ? cell.reason : "" };
  });
  const row: Row = { key: "sent_per_s", label: "datagrams sent per second", better: "higher", unit: "/s" };
  return { title: "UDP 64 B, every send method — datagrams per second relative to C's one sendto per datagram", row, bars };
}

export function renderSvg(res: BenchResult): string {
  const W = 980, left = 150, right = 250, barH = 13, gap = 3, groupGap = 30, top = 64;
  const plotW = W - left - right;
  const groups = res.workloads.map((w) => {
    const row = (rowsFor[w.id] ?? []).find((r) => r.key === w.primary) ?? { key: w.primary, label: w.primary, better: "higher" as Better, unit: "" };
    const c = figure(w.results.c, w.primary);
    const bars: Bar[] = res.contenders.map((k) => {
      const v = figure(w.results[k.id], w.primary);
      const rel = v === null || c === null || v === 0 ? null : row.better === "lower" ? c / v : v / c;
      return { label: k.label, color: k.id, v, rel, reason: w.results[k.id]?.ok === false ? (w.results[k.id] as { reason: string }).reason : "" };
    });
    return { title: `${w.title} — ${row.label}${row.better === "lower" ? " (lower is better; bar = C ÷ value)" : ""}`, row, bars };
  });
  const summary = udpMethodsGroup(res);
  if (summary) groups.unshift(summary);
  const maxRel = Math.max(1.5, ...groups.flatMap((g) => g.bars.map((b) => b.rel ?? 0)));
  const scale = plotW / (Math.ceil(maxRel * 4) / 4);
  const height = top + groups.reduce((h, g) => h + 20 + g.bars.length * (barH + gap) + groupGap, 0);
  const m = res.machine;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="bold">bsdsock vs C vs Bun vs node:net: speed relative to C (C = 1.0, longer is better)</text>`,
    `<text x="12" y="40" fill="#444">${esc(`${m.cpu}, ${m.cores} cores, ${m.kernel}, Bun ${m.bun}, node ${m.node ?? "absent"} · ${res.mode} run ${res.date.slice(0, 10)} · load ${m.loadavg_start.join(" ")}`)}</text>`,
  ];
  let y = top;
  for (const g of groups) {
    parts.push(`<text x="12" y="${y + 10}" font-weight="bold">${esc(g.title)}</text>`);
    y += 20;
    const y0 = y;
    for (const b of g.bars) {
      parts.push(`<text x="${left - 6}" y="${y + barH - 3}" text-anchor="end">${esc(b.label)}</text>`);
      if (b.rel !== null && b.v !== null) {
        const wpx = Math.max(1, b.rel * scale);
        parts.push(`<rect x="${left}" y="${y}" width="${wpx.toFixed(1)}" height="${barH}" fill="${colors[b.color] ?? "#888"}"/>`);
        parts.push(`<text x="${(left + wpx + 5).toFixed(1)}" y="${y + barH - 3}">${esc(`${b.rel.toFixed(2)}× · ${num(b.v, g.row.unit)}${g.row.unit === "/s" ? "/s" : ""}`)}</text>`);
      } else {
        const why = b.reason.startsWith("n/a") ? b.reason : b.reason ? (b.reason.startsWith("error") ? "failed" : b.reason) : "–";
        parts.push(`<text x="${left + 4}" y="${y + barH - 3}" fill="#888">${esc(why)}</text>`);
      }
      y += barH + gap;
    }
    parts.push(`<line x1="${left + scale}" y1="${y0 - 2}" x2="${left + scale}" y2="${y}" stroke="#000" stroke-dasharray="3,2"/>`);
    y += groupGap;
  }
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

export type { Figures };
