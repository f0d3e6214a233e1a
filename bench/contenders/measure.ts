/**
 * Measurement helpers shared by the TypeScript contenders (bsdsock.ts, bun.ts). node.mjs has
 * its own copy of the same few lines, as node cannot import TypeScript.
 *
 * Every contender prints exactly one JSON line on stdout: wall and CPU time (user+sys, from
 * process.cpuUsage(), i.e. getrusage of the whole process) of the measured phase plus the
 * workload's figures, with the same field names as bench/c/client.c.
 */

export interface Phase {
  readonly t0: number;
  readonly cpu0: NodeJS.CpuUsage;
}

export function begin(): Phase {
  return { cpu0: process.cpuUsage(), t0: performance.now() };
}

/** Wall and CPU seconds since `p`. */
export function finish(p: Phase): { wall_s: number; user_s: number; sys_s: number; cpu_s: number } {
  const wall_s = (performance.now() - p.t0) / 1e3;
  const c = process.cpuUsage(p.cpu0);
  return { wall_s, user_s: c.user / 1e6, sys_s: c.system / 1e6, cpu_s: (c.user + c.system) / 1e6 };
}

export function print(result: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** Median, p99 and mean of round-trip times in ms, as µs fields. */
export function latencyStats(lat: Float64Array, wall_s: number): Record<string, number> {
  const n = lat.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += lat[i]!;
  const sorted = lat.slice().sort();
  return {
    rtts: n,
    median_us: sorted[n >> 1]! * 1e3,
    p99_us: sorted[Math.floor(n * 0.99)]! * 1e3,
    mean_us: (sum / n) * 1e3,
    per_rtt_wall_us: (wall_s / n) * 1e6,
  };
}

/** Integer command-line argument `i` (after the script name). */
export function intArg(args: string[], i: number, what: string): number {
  const v = Number(args[i]);
  if (!Number.isSafeInteger(v)) throw new Error(`argument ${i} (${what}) must be an integer, got ${args[i]}`);
  return v;
}

/** Datagram header shared with bench/c/peer.c: byte 0 kind (0 data, 1 end), bytes 1..4 run id. */
export function datagram(size: number, run: number): Uint8Array {
  const b = new Uint8Array(Math.max(size, 5));
  new DataView(b.buffer).setUint32(1, run, true);
  return b.subarray(0, Math.max(size, 5));
}
export function endMarker(run: number): Uint8Array {
  const b = datagram(5, run);
  b[0] = 1;
  return b;
}
