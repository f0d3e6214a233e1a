/**
 * examples/ping.ts against iputils ping on this machine, in one run: `-c 5 -i 0.2` on
 * loopback, IPv4 and IPv6, raw sockets (as root) and the unprivileged ICMP datagram socket (in
 * a network namespace of its own with ping_group_range open, privileges dropped with setpriv),
 * the two programs alternating, `rounds` times each. Reports the medians over the rounds of
 * min, avg and max, and each ratio to iputils (target: ≤ 1.2× each).
 *
 *   npm run bench:ping [-- --rounds N]
 */
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const bun = process.execPath;
const pingTs = join(root, "examples", "ping.ts");
const iputils = Bun.which("ping");
const unshare = Bun.which("unshare");
const setpriv = Bun.which("setpriv");
const { values } = parseArgs({ options: { rounds: { type: "string" } } });
const rounds = Math.max(1, Math.min(50, Number(values.rounds ?? 5)));

if (!iputils) {
  console.error("bench:ping: iputils ping is not installed (apt-get install iputils-ping)");
  process.exit(2);
}
if (process.getuid?.() !== 0) {
  console.error("bench:ping: needs root (raw sockets, and a namespace for the unprivileged socket)");
  process.exit(2);
}

interface Stats { min: number; avg: number; max: number }

/** min/avg/max of one `ping` run, from its rtt line. */
async function once(cmd: string[]): Promise<Stats> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const timer = setTimeout(() => p.kill("SIGKILL"), 20_000);
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  await p.exited;
  clearTimeout(timer);
  const m = /rtt min\/avg\/max\/mdev = ([\d.]+)\/([\d.]+)\/([\d.]+)\//.exec(out);
  if (!m) throw new Error(`${cmd.join(" ")}: no rtt line\n${out}${err}`);
  return { min: Number(m[1]), avg: Number(m[2]), max: Number(m[3]) };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Wraps a command to run unprivileged in a fresh namespace whose ping_group_range lets nobody ping. */
const unprivileged = (cmd: string[]): string[] => [
  unshare!, "--net", "sh", "-c", 'ip link set lo up && sysctl -qw net.ipv4.ping_group_range="0 2147483647" && exec "$@"', "sh",
  setpriv!, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", ...cmd,
];

const cases: { label: string; host: string; wrap: (c: string[]) => string[] }[] = [
  { label: "IPv4, raw socket", host: "127.0.0.1", wrap: (c) => c },
  { label: "IPv6, raw socket", host: "::1", wrap: (c) => c },
];
if (unshare && setpriv) {
  cases.push({ label: "IPv4, ping socket (unprivileged)", host: "127.0.0.1", wrap: unprivileged });
  cases.push({ label: "IPv6, ping socket (unprivileged)", host: "::1", wrap: unprivileged });
}

const fmt = (x: number): string => x.toFixed(3);
const rows: string[] = [];
const results: Record<string, unknown>[] = [];
for (const c of cases) {
  const args = ["-c", "5", "-i", "0.2", ...(c.host === "::1" ? ["-6"] : []), c.host];
  const ours: Stats[] = [];
  const theirs: Stats[] = [];
  for (let r = 0; r < rounds; r++) {
    theirs.push(await once(c.wrap([iputils, ...args])));
    ours.push(await once(c.wrap([bun, pingTs, ...args])));
  }
  const o = { min: median(ours.map((s) => s.min)), avg: median(ours.map((s) => s.avg)), max: median(ours.map((s) => s.max)) };
  const t = { min: median(theirs.map((s) => s.min)), avg: median(theirs.map((s) => s.avg)), max: median(theirs.map((s) => s.max)) };
  const ratio = (k: keyof Stats): string => `${(o[k] / t[k]).toFixed(2)}×`;
  const met = (["min", "avg", "max"] as const).every((k) => o[k] <= 1.2 * t[k]);
  rows.push(`| ${c.label} | ${fmt(t.min)}/${fmt(t.avg)}/${fmt(t.max)} | ${fmt(o.min)}/${fmt(o.avg)}/${fmt(o.max)} | ${ratio("min")} / ${ratio("avg")} / ${ratio("max")} | ${met ? "met" : "**missed**"} |`);
  results.push({ case: c.label, iputils: t, pingTs: o, met });
}

console.log(`ping.ts against iputils ping, -c 5 -i 0.2 on loopback, median of ${rounds} alternating runs each (${new Date().toISOString().slice(0, 16)} UTC)\n`);
console.log("| case | iputils min/avg/max (ms) | ping.ts min/avg/max (ms) | ping.ts ÷ iputils | target ≤ 1.2× each |");
console.log("|---|---:|---:|---:|---|");
for (const r of rows) console.log(r);
console.error(JSON.stringify(results));
