/**
 * `npm run fuzz`: every target of fuzz/targets.ts with 10^6 generated inputs each (fast-check),
 * one after the other, printing runs, wall time and rate per target, and a summary. Exits 1 on
 * the first counterexample (printed shrunk, with the seed and path to replay it).
 *
 *   npm run fuzz                       # 1 000 000 runs per target
 *   npm run fuzz -- --runs 20000       # a quicker pass
 *   npm run fuzz -- --only sockaddr    # targets whose name contains "sockaddr" (regex)
 *   npm run fuzz -- --seed 42          # reproducible (default: a random seed, printed)
 *   npm run fuzz -- --list             # names and invariants
 *   npm run fuzz -- --time-limit 600   # seconds per target at most (default 1800); the run
 *                                      # fails if a target cannot reach its count in time
 */
import fc from "fast-check";
import { makeContext, targets } from "./targets.ts";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = process.argv[i + 1];
  if (v === undefined) throw new Error(`--${name} needs a value`);
  return v;
}
function intArg(name: string, dflt: number): number {
  const v = arg(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${v}`);
  return n;
}

if (process.argv.includes("--list")) {
  for (const t of targets) console.log(`${t.name.padEnd(40)} ${t.kernel ? "[kernel] " : ""}${t.doc}`);
  process.exit(0);
}

const runs = intArg("runs", 1_000_000);
const seed = intArg("seed", (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 1);
const timeLimitMs = intArg("time-limit", 1800) * 1000;
const only = arg("only");
const selected = targets.filter((t) => !only || new RegExp(only).test(t.name));
if (selected.length === 0) throw new Error(`no target matches ${only}`);

console.log(`bsdsock fuzz: ${selected.length} targets × ${runs.toLocaleString("en")} runs, seed ${seed}, Bun ${Bun.version}, fast-check ${fc.__version}`);
const rows: { name: string; runs: number; ms: number }[] = [];
const t0 = performance.now();
let failed = false;
for (const t of selected) {
  const ctx = makeContext();
  const start = performance.now();
  let executed = 0;
  try {
    const property = t.make(ctx);
    const details = fc.check(property, {
      numRuns: runs,
      seed,
      interruptAfterTimeLimit: timeLimitMs,
      markInterruptAsFailure: true,
      endOnFailure: true,
    });
    executed = details.numRuns;
    const ms = performance.now() - start;
    if (details.failed) {
      failed = true;
      console.log(`FAIL ${t.name} after ${details.numRuns} runs (${(ms / 1000).toFixed(1)} s)`);
      console.log(fc.defaultReportMessage(details));
      break;
    }
    rows.push({ name: t.name, runs: executed, ms });
    console.log(`ok   ${t.name.padEnd(40)} ${executed.toLocaleString("en").padStart(11)} runs ${(ms / 1000).toFixed(1).padStart(7)} s ${Math.round(executed / (ms / 1000)).toLocaleString("en").padStart(9)}/s`);
  } finally {
    ctx.close();
  }
}
const total = (performance.now() - t0) / 1000;
console.log(`${failed ? "FAILED" : "passed"}: ${rows.length} of ${selected.length} targets, ${rows.reduce((n, r) => n + r.runs, 0).toLocaleString("en")} inputs, ${total.toFixed(1)} s wall`);
process.exit(failed ? 1 : 0);
