/**
 * The bench script runs end to end in its tiny --smoke mode and writes well-formed results with
 * every workload and every contender. No timing is asserted: figures depend on the machine.
 */
import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchResult } from "../bench/types.ts";
import { bun, noCompilerReason, run } from "./helpers.ts";

const workloads = [
  "pingpong_tcp",
  "echo_concurrent",
  "bulk_64k",
  "bulk_1m",
  "bulk_zerocopy",
  "udp_64",
  "udp_1400",
  "udp_64_sleep",
  "udp_many_64",
  "udp_segments_64",
  "udp_segments_1400",
  "echo_workers",
  "file_sendfile",
  "file_readsend",
  "http_keepalive",
  "connrate",
  "pingpong_unix",
];
/** Cells a contender cannot fill because it lacks the send method (every other cell must complete). */
const floorOnly = "n/a (floor: one send per datagram only)";
const lacking: Record<string, Record<string, string>> = {
  ...Object.fromEntries(workloads.filter((w) => !w.startsWith("udp")).map((w) => [w, { ffi: "n/a (floor for UDP only)" }])),
  udp_many_64: { posix: "n/a (no batch send)", ffi: floorOnly, node_bun: "n/a (no batch send)", node: "n/a (no batch send)" },
  udp_segments_64: { posix: "n/a (no UDP_SEGMENT)", ffi: floorOnly, bun: "n/a (no UDP_SEGMENT)", node_bun: "n/a (no UDP_SEGMENT)", node: "n/a (no UDP_SEGMENT)" },
  udp_segments_1400: { posix: "n/a (no UDP_SEGMENT)", ffi: floorOnly, bun: "n/a (no UDP_SEGMENT)", node_bun: "n/a (no UDP_SEGMENT)", node: "n/a (no UDP_SEGMENT)" },
  bulk_zerocopy: {
    ffi: "n/a (floor for UDP only)",
    ...Object.fromEntries(["posix", "bun", "node_bun", "node"].map((id) => [id, "n/a (no MSG_ZEROCOPY)"])),
  },
  file_sendfile: {
    ffi: "n/a (floor for UDP only)",
    ...Object.fromEntries(["posix", "bun", "node_bun", "node"].map((id) => [id, "n/a (no sendfile)"])),
  },
  file_readsend: { ffi: "n/a (floor for UDP only)", posix: "n/a (Socket layer only)" },
  // HTTP servers: node:http over toDuplex (async), node:http (Bun, node), Bun.serve.
  http_keepalive: { ffi: "n/a (floor for UDP only)", c: "n/a (no HTTP server)", bsdsock: "n/a (no HTTP server)", posix: "n/a (no HTTP server)" },
  // The worker-process scaling of the async echo server: the async contender only.
  echo_workers: {
    ffi: "n/a (floor for UDP only)",
    ...Object.fromEntries(["c", "bsdsock", "posix", "bun", "node_bun", "node"].map((id) => [id, "n/a (one process)"])),
  },
};
const contenders = ["c", "bsdsock", "posix", "ffi", "async", "bun", "node_bun", "node"];

if (noCompilerReason) console.log(`bench smoke test skipped: ${noCompilerReason} (the bench peers are C programs)`);

test.skipIf(noCompilerReason !== null)("npm run bench -- --smoke writes well-formed results for every workload", async () => {
  const out = mkdtempSync(join(tmpdir(), "bsdsock-bench-test-"));
  try {
    const r = await run([bun, "bench/run.ts", "--smoke", "--out", out], {}, 60_000);
    if (r.code !== 0) console.log(r.stdout, r.stderr);
    expect(r.code).toBe(0);

    const files = readdirSync(out);
    const jsonFile = files.find((f) => f.endsWith(".smoke.json"));
    expect(jsonFile).toBeDefined();
    const res = JSON.parse(readFileSync(join(out, jsonFile!), "utf8")) as BenchResult;

    expect(res.schema).toBe(1);
    expect(res.mode).toBe("smoke");
    expect(typeof res.machine.cpu).toBe("string");
    expect(res.machine.cores).toBeGreaterThan(0);
    expect(res.machine.bun).toBe(Bun.version);
    expect(res.contenders.map((c) => c.id)).toEqual(contenders);
    expect(res.contenders.find((c) => c.id === "async")).toMatchObject({ available: true, reason: null });
    expect(res.workloads.map((w) => w.id)).toEqual(workloads);
    for (const w of res.workloads) expect(w.reps).toBe((w.id.startsWith("bulk") || w.id.startsWith("file_") ? 3 : w.id.startsWith("pingpong") ? 2 : 1) * res.reps);

    for (const w of res.workloads) {
      for (const c of res.contenders) {
        const cell = w.results[c.id];
        expect(cell).toBeDefined();
        if (!c.available) {
          expect(cell!.ok).toBe(false);
          continue;
        }
        const lacks = lacking[w.id]?.[c.id];
        if (lacks !== undefined) {
          expect(cell).toMatchObject({ ok: false, reason: lacks });
          continue;
        }
        // every available contender completed the workload and reported its figures
        if (!cell!.ok) throw new Error(`${w.id} / ${c.id}: ${cell!.reason}`);
        expect(cell!.reps.length).toBe(w.reps);
        const f = cell!.figures;
        expect(typeof f.wall_s).toBe("number");
        expect(f.wall_s).toBeGreaterThan(0);
        expect(typeof f.cpu_s).toBe("number");
        // (per-CPU-second figures are dropped below 50 ms of server CPU, as smoke runs are)
        if (w.id !== "echo_concurrent" && w.id !== "http_keepalive") expect(typeof f[w.primary]).toBe("number");
        if (w.id === "http_keepalive") expect(f.req_per_s).toBeGreaterThan(0);
        if (w.id === "echo_workers") expect(f.speedup).toBe(f.rt_per_s_2w! / f.rt_per_s_1w!);
        if (w.id.startsWith("udp")) expect(f.lost).toBe(f.sent! - f.received!);
      }
    }

    const md = readFileSync(join(out, "latest.md"), "utf8");
    expect(md).toContain("| Workload | Figure | C | bsdsock Socket |");
    expect(md).toContain(res.machine.cpu);
    const svg = readFileSync(join(out, "latest.svg"), "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(existsSync(join(import.meta.dir, "..", "bench", "results", jsonFile!))).toBe(false);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 90_000);
