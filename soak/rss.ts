/**
 * RSS leak check: runs soak/rss-child.ts in a fresh bun process and compares its resident set
 * after the warm-up pass and after the full loop (both after a full GC). Used by `npm run soak`
 * (200k send/recv, 20k create/close, 20k sendTo/recvFrom; ≤ 5 % growth) and by
 * test/soak.test.ts (CI size).
 */
import { join } from "node:path";

export interface RssOptions {
  readonly sendRecv: number;
  readonly createClose: number;
  readonly sendToRecvFrom: number;
  /** Allowed growth after warm-up, as a fraction (default 0.05). */
  readonly maxGrowth?: number;
  readonly timeLimitMs?: number;
  readonly log?: (line: string) => void;
}

export interface RssResult {
  readonly ok: boolean;
  readonly warmBytes: number;
  readonly endBytes: number;
  readonly growth: number;
  readonly fdsWarm: number;
  readonly fdsEnd: number;
  readonly watchesWarm: number;
  readonly watchesEnd: number;
  readonly seconds: number;
  readonly summary: string;
}

export async function runRssCheck(o: RssOptions): Promise<RssResult> {
  const maxGrowth = o.maxGrowth ?? 0.05;
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "rss-child.ts"), String(o.sendRecv), String(o.createClose), String(o.sendToRecvFrom)], {
    stdin: "ignore", stdout: "pipe", stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), o.timeLimitMs ?? 300_000);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  clearTimeout(timer);
  const line = out.trim().split("\n").pop() ?? "";
  let r: { warm: number; end: number; growth: number; fdsWarm: number; fdsEnd: number; watchesWarm: number; watchesEnd: number; asyncRounds: number; seconds: number };
  try {
    r = JSON.parse(line);
  } catch {
    throw new Error(`rss child failed (exit ${proc.exitCode}): ${out}\n${err}`);
  }
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const ok = proc.exitCode === 0 && r.growth <= maxGrowth && r.fdsEnd === r.fdsWarm && r.watchesEnd === r.watchesWarm;
  const summary = `${ok ? "PASS" : "FAIL"} RSS: ${o.sendRecv.toLocaleString("en")} send/recv + ${o.createClose.toLocaleString("en")} create/close + ${o.sendToRecvFrom.toLocaleString("en")} sendTo/recvFrom + ${r.asyncRounds.toLocaleString("en")} async round trips in ${r.seconds.toFixed(1)} s: ${mib(r.warm)} after warm-up → ${mib(r.end)} at the end (${(r.growth * 100).toFixed(2)} %, limit ${(maxGrowth * 100).toFixed(0)} %); fds ${r.fdsWarm} → ${r.fdsEnd}; reactor registrations ${r.watchesWarm} → ${r.watchesEnd}`;
  o.log?.(summary);
  return { ok, warmBytes: r.warm, endBytes: r.end, growth: r.growth, fdsWarm: r.fdsWarm, fdsEnd: r.fdsEnd, watchesWarm: r.watchesWarm, watchesEnd: r.watchesEnd, seconds: r.seconds, summary };
}
