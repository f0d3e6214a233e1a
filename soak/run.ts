/**
 * `npm run soak`: bounded loopback soak of bsdsock (see soak/soak.ts): by default 1 000
 * concurrent TCP connections × 10 000 records of 512 B each way, plus one 4 GiB stream, through
 * a C echo peer, every record and the stream crc32-checked. Prints figures; exits 1 on any lost,
 * duplicated, reordered or corrupted byte, on any error, or if it exceeds the time limit.
 * Then an RSS leak check (soak/rss-child.ts at 10× the size test/soak.test.ts runs: 2M send/recv, 200k create/close, 200k sendTo/recvFrom; ≤ 5 % growth after warm-up).
 *
 *   npm run soak
 *   npm run soak -- --connections 200 --messages 2000 --stream-gib 1 --time-limit 120
 *   npm run soak -- --no-rss           # skip the RSS check
 */
import { formatResult, runSoak } from "./soak.ts";
import { runRssCheck } from "./rss.ts";

function num(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} needs a non-negative number`);
  return v;
}

const connections = num("connections", 1000);
const messages = num("messages", 10_000);
const streamGiB = num("stream-gib", 4);
const timeLimit = num("time-limit", 300);
console.log(`bsdsock soak: ${connections} connections × ${messages} records of 512 B + a ${streamGiB} GiB stream, loopback, limit ${timeLimit} s`);
const r = await runSoak({
  connections,
  messages,
  streamBytes: Math.round(streamGiB * 2 ** 30),
  timeLimitMs: timeLimit * 1000,
  log: (l) => console.log(`  ${l}`),
});
console.log(formatResult(r));
let ok = r.ok;
if (!process.argv.includes("--no-rss")) {
  const rss = await runRssCheck({ sendRecv: 2_000_000, createClose: 200_000, sendToRecvFrom: 200_000 });
  console.log(rss.summary);
  ok &&= rss.ok;
}
process.exit(ok ? 0 : 1);
