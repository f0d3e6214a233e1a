/**
 * Routes over rtnetlink against iproute2 itself: examples/ip-route.ts must print exactly what
 * `ip route` / `ip -6 route` print, on this machine (read only) and, for every route kind
 * (unicast via a gateway, connected, blackhole, unreachable, prohibit, throw, multipath, metrics
 * with lock, onlink, source and protocol, other tables, IPv6 preferences), in a network
 * namespace the test creates (test/fixtures/routes-netns.ts, documentation ranges only);
 * defaultGateway() and route events there too.
 */
import { describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { constants as C, formatRoute, parseRoute, platform, Rtnetlink, type NetlinkMessage } from "../src/index.ts";
import { writeIntField } from "../src/core/structs.ts";
import { bun, expectNoFdLeaks, root, run, scratchDir, type Outcome } from "./helpers.ts";

expectNoFdLeaks();

const linux = platform.key.startsWith("linux-");
const ipTool = Bun.which("ip");
const unshare = Bun.which("unshare");
const isRoot = process.getuid?.() === 0;
const example = join(root, "examples", "ip-route.ts");
const reason = !linux ? "Linux only" : !ipTool ? "no iproute2 `ip` on PATH" : null;
if (reason) console.warn(`SKIP routes: ${reason}`);

const netnsReason = !unshare ? "no unshare on PATH" : !isRoot ? "not root: cannot create a network namespace" : null;

describe.skipIf(!!reason)("examples/ip-route.ts and ip-neigh.ts against ip route and ip neigh", () => {
  for (const fam of [[], ["-6"]]) {
    test(`this machine: ip ${fam.join(" ")} route (read only)`.replace("  ", " "), async () => {
      const [theirs, ours] = await Promise.all([run([ipTool!, ...fam, "route"]), run([bun, example, ...fam])]);
      expect(ours.stderr).toBe("");
      expect(ours.stdout).toBe(theirs.stdout);
      expect(ours.code).toBe(0);
    });
  }

  test.skipIf(!!netnsReason)("in a fresh namespace: every route kind, every table view, IPv4 and IPv6; defaultGateway; route events", async () => {
    const o = await run([unshare!, "--net", bun, join(root, "test", "fixtures", "routes-netns.ts")], {}, 90_000);
    if (/unshare: .*(Operation not permitted|Permission denied)/.test(o.stderr)) {
      console.warn(`SKIP routes netns: ${o.stderr.trim()}`);
      return;
    }
    expect(o.stderr).toBe("");
    const r = JSON.parse(o.stdout) as {
      shows: Record<string, { ip: string; ours: string }>;
      filtered: Record<string, unknown>;
      gateways: Record<string, { gateway: string; interfaceName: string } | null>;
      seen: string[];
    };
    expect(Object.keys(r.shows).length).toBe(14);
    for (const [label, { ip, ours }] of Object.entries(r.shows)) expect({ label, out: ours }).toEqual({ label, out: ip });
    // The views hold what was built (so the comparison is not of two empty outputs).
    expect(r.shows["ip route show"]!.ip).toContain("blackhole 192.0.2.128/26");
    expect(r.shows["ip route show"]!.ip).toContain("\tnexthop via 198.51.100.3 dev v0 weight 3");
    expect(r.shows["ip -6 route show"]!.ip).toContain("pref high");
    expect(r.shows["ip route show table 200"]!.ip).toContain("FIB table does not exist");
    // routes({ table }): the kernel's filter and its error for a table that does not exist.
    expect(r.filtered.table100).toEqual(r.filtered.table100Expected);
    expect(r.filtered.table100).toHaveLength(2);
    expect(r.filtered.local6).toBe(true);
    expect(r.filtered.missing4).toEqual({ code: "ENOENT", note: "ipv4: FIB table does not exist" });
    expect(r.filtered.missing6).toEqual({ code: "ENOENT", note: "ipv6: FIB table does not exist" });
    expect(r.filtered.missingBoth).toEqual([]);
    expect(r.filtered.zero).toMatch(/^RangeError: routes: table 0/);
    expect(r.filtered.negative).toMatch(/^RangeError: routes: table must be an integer/);
    expect(r.gateways).toEqual({
      inet: { gateway: "198.51.100.254", interfaceIndex: expect.any(Number), interfaceName: "v0" },
      inet6: { gateway: "2001:db8::fe", interfaceIndex: expect.any(Number), interfaceName: "v0" },
    } as never);
    expect(r.seen).toEqual(["new 192.0.2.32/28 via 198.51.100.7 dev v0 metric 5 ", "del 192.0.2.32/28 via 198.51.100.7 dev v0 metric 5 "]);
  }, 120_000);

  test("this machine: ip neigh (read only)", async () => {
    const [theirs, ours] = await Promise.all([run([ipTool!, "neigh"]), run([bun, join(root, "examples", "ip-neigh.ts")])]);
    expect(ours.stderr).toBe("");
    expect(ours.stdout).toBe(theirs.stdout);
  });

  test.skipIf(!!netnsReason)("in a fresh namespace: ip neigh, -4, -6 over entries of every state; neighbour events", async () => {
    const o = await run([unshare!, "--net", "sh", join(root, "test", "fixtures", "neigh-netns.sh"), bun, root], {}, 60_000);
    if (/unshare: .*(Operation not permitted|Permission denied)/.test(o.stderr)) {
      console.warn(`SKIP neigh netns: ${o.stderr.trim()}`);
      return;
    }
    expect(o.stderr).toBe("");
    const sections = o.stdout.split(/^== /m).slice(1);
    expect(sections.length).toBe(4);
    for (const sec of sections.slice(0, 3)) {
      const [head, rest] = [sec.slice(0, sec.indexOf("\n")), sec.slice(sec.indexOf("\n") + 1)];
      const [theirs, ours] = rest.split("-- ours\n");
      expect({ view: head, out: ours }).toEqual({ view: head, out: theirs });
    }
    expect(sections[0]).toContain("198.51.100.6 dev v0 lladdr 02:00:00:00:00:06 STALE "); // (no DELAY entry: it moves to PROBE within seconds)
    expect(sections[2]).toContain("2001:db8::9 dev v0 lladdr 02:00:00:00:00:19 router PERMANENT ");
    expect(sections[0]).not.toContain("198.51.100.8"); // NOARP: hidden, as ip hides it
    const events = sections[3]!.trimEnd().split("\n").slice(1);
    expect(events[0]).toBe("new 198.51.100.40 dev v0 lladdr 02:00:00:00:00:40 PERMANENT ");
    expect(events.at(-1)).toMatch(/^del 198\.51\.100\.40 dev v0 /); // (a FAILED "new" may come between: the kernel's own notice)
  }, 90_000);

  test.skipIf(!!netnsReason)("writes in a fresh namespace: links up and down, addresses, routes of several kinds added and removed; refusals as typed errors with the kernel's reason", async () => {
    const o = await run([unshare!, "--net", "sh", "-c", 'ip link add v0 type veth peer name v1 && exec "$@"', "sh", bun, join(root, "test", "fixtures", "rtwrite-netns.ts")], {}, 60_000);
    if (/unshare: .*(Operation not permitted|Permission denied)/.test(o.stderr)) return console.warn(`SKIP rtnetlink writes: ${o.stderr.trim()}`);
    expect(o.stderr).toBe("");
    const r = JSON.parse(o.stdout) as Record<string, Record<string, string>>;
    const b = r.built!;
    expect(b.addr).toMatch(/^v0@v1 +UP +198\.51\.100\.1\/24 2001:db8::1\/64 fe80::/);
    for (const l of b.links!.trimEnd().split("\n")) expect(l).toMatch(/ (UP|UNKNOWN) /);
    expect(b.route).toBe([
      "default via 198.51.100.254 dev v0 ", "192.0.2.0/26 via 198.51.100.254 dev v0 metric 50 ",
      "192.0.2.64/26 dev v0 scope link src 198.51.100.1 ", "blackhole 192.0.2.128/26 ",
      "198.51.100.0/24 dev v0 proto kernel scope link src 198.51.100.1 ", "",
    ].join("\n"));
    expect(b.route6).toContain("2001:db8:1::/48 via 2001:db8::2 dev v0 metric 1024 pref medium\n");
    expect(b.route6).toContain("default via 2001:db8::fe dev v0 metric 5 pref medium\n");
    expect(b.table100).toBe("unreachable 192.0.2.192/26 \n");
    expect(r.errors).toEqual({
      duplicateAddress: "EEXIST: netlink: File exists (add address 198.51.100.1/24: ipv4: Address already assigned)",
      duplicateRoute: "EEXIST: netlink: File exists (add route 192.0.2.0/26)",
      missingRoute: "ESRCH: netlink: No such process (remove route 192.0.2.240/28)",
      noSuchLink: "ENODEV: netlink: No such device (set link 999999 up)",
      unreachableGateway: "ENETUNREACH: netlink: Network is unreachable (add route 192.0.2.240/28: Nexthop has invalid gateway)",
      mixedFamilies: 'TypeError: addRoute: gateway "2001:db8::2" must be one IPv4 address',
      badPrefix: 'RangeError: addAddress: prefix length in "198.51.100.9/33" must be 0..32',
      notAnAddress: 'TypeError: addAddress: "eth0" is not a numeric IPv4 or IPv6 address',
      zeroIndex: "RangeError: addAddress: interfaceIndex must be a real interface (1 or more)",
    });
    expect(r.removed!.route).not.toContain("192.0.2.0/26");
    expect(r.removed!.route).not.toContain("blackhole");
    expect(r.removed!.addr).not.toContain("2001:db8::1/64");
    expect(r.removed!.v1).toMatch(/^v1@v0 +DOWN /);
  }, 90_000);

  test("usage errors exit 2 with a message", async () => {
    const o = await run([bun, example, "-4", "-6"]);
    expect(o.code).toBe(2);
    expect(o.stderr).toContain("-4 and -6 exclude each other");
    // A table ip does not know: ip's own refusal (see the --table tests below).
    const t = await run([bun, example, "--table", "no-such-table"]);
    expect(t.code).toBe(255);
    expect(t.stderr).toBe('Error: argument "no-such-table" is wrong: table id value is invalid\n\n');
  });
});

/**
 * `--table T` read as `ip route show table T` reads it (rtnl_rttable_a2n: rt_tables names, then
 * strtoul(T, &end, 0) up to 2³²−1; `all`, 0 and `unspec` every table; `cache` main's cloned
 * routes; else `Error: argument "T" is wrong: table id value is invalid`, exit 255), compared
 * with ip in a namespace of its own (network and mount: its /etc/iproute2 is a copy with a
 * rt_tables.d drop-in, bind-mounted there; documentation ranges only) that has tables 8, 100
 * and 2³²−1 besides main and local. Each case is ip's stdout, stderr and exit status against ours.
 */
describe.skipIf(!!reason || !!netnsReason)("examples/ip-route.ts --table T against ip route show table T", () => {
  // [ip's family option or "", T]
  const cases: [string, string][] = [
    ["", "0"], ["", "unspec"], ["", "010"], ["", "0x64"], ["", "+254"], ["", " 254"], ["", "4294967296"], ["", "-1"], ["", ""],
    ["", "cache"], ["", "cust"], ["", "main"], ["", "0xffffffff"], ["", "08"],
    ["-6", "0"], ["-6", "0x64"], ["-6", "cache"], ["-4", "unspec"],
  ];
  // Two names for table 100 (ip knows both; it prints the later one), a second name for main (ip
  // still knows `main`), a hex id; ids as sscanf reads them: a sign, a name with `#` in it, an
  // id beyond an int (4294967598 is 302 there).
  const dropIn = "100 cust\n100 blue\n254 mymain\n0x8 oct\n+300 plus\n301 foo#bar\n4294967598 wrapped\n";
  const setup = [
    "mount --bind \"$1/etc\" /etc/iproute2", "ip link set lo up", "ip link add v0 type veth peer name v1",
    "ip link set v1 up", "ip link set v0 up", "ip addr add 198.51.100.1/24 dev v0", "ip -6 addr add 2001:db8::1/64 dev v0 nodad",
    "ip route add 192.0.2.0/26 via 198.51.100.254", "ip route add 192.0.2.64/26 via 198.51.100.8 table 8",
    "ip route add 192.0.2.128/26 via 198.51.100.100 table 100", "ip -6 route add 2001:db8:100::/48 via 2001:db8::64 table 100",
    "ip route add 192.0.2.192/26 via 198.51.100.99 table 4294967295",
    "ip route add 192.0.2.1 via 198.51.100.30 table 300", "ip route add 192.0.2.2 via 198.51.100.31 table 301",
    "ip route add 192.0.2.3 via 198.51.100.32 table 302",
    // The link-local addresses' local routes come when their DAD ends: wait for it (at most
    // 10 s), else one may appear between ip's dump and ours (`-6 table 0`).
    "for _ in $(seq 100); do [ -z \"$(ip -6 addr show tentative)\" ] && break; sleep 0.1; done",
  ].join(" && ");
  // Each case: ip's and ours' stdout, stderr and status, into files of the scratch directory.
  const each = 'd=$1; b=$2; x=$3; shift 3; i=0; while [ $# -gt 0 ]; do f=$1; t=$2; shift 2; ' +
    'ip $f route show table "$t" >"$d/$i.ip.out" 2>"$d/$i.ip.err"; echo $? >"$d/$i.ip.code"; ' +
    '"$b" "$x" $f --table "$t" >"$d/$i.ours.out" 2>"$d/$i.ours.err"; echo $? >"$d/$i.ours.code"; i=$((i+1)); done';
  const dir = scratchDir();
  let outcome: Promise<{ skip: string } | { ip: Outcome; ours: Outcome }[]> | null = null;
  const results = (): NonNullable<typeof outcome> => (outcome ??= (async () => {
    if (!existsSync("/etc/iproute2")) return { skip: "no /etc/iproute2 to copy" };
    cpSync("/etc/iproute2", join(dir, "etc"), { recursive: true });
    mkdirSync(join(dir, "etc", "rt_tables.d"), { recursive: true });
    writeFileSync(join(dir, "etc", "rt_tables.d", "bsdsock-test.conf"), dropIn);
    const o = await run([unshare!, "--net", "--mount", "sh", "-c", `${setup} && ${each}`, "sh", dir, bun, example, ...cases.flat()], {}, 120_000);
    if (/unshare: .*(Operation not permitted|Permission denied)|mount: .*(denied|not permitted)/.test(o.stderr)) return { skip: o.stderr.trim() };
    expect(o).toEqual({ code: 0, signal: null, stdout: "", stderr: "" });
    const read = (i: number, who: string): Outcome => ({
      code: Number(readFileSync(join(dir, `${i}.${who}.code`), "utf8")), signal: null,
      stdout: readFileSync(join(dir, `${i}.${who}.out`), "utf8"), stderr: readFileSync(join(dir, `${i}.${who}.err`), "utf8"),
    });
    return cases.map((_, i) => ({ ip: read(i, "ip"), ours: read(i, "ours") }));
  })());

  cases.forEach(([fam, t], i) => {
    test(`ip ${fam ? `${fam} ` : ""}route show table ${JSON.stringify(t)}`, async () => {
      const r = await results();
      if ("skip" in r) return console.warn(`SKIP --table: ${r.skip}`);
      const { ip, ours } = r[i]!;
      expect(ours).toEqual(ip);
      // What ip printed, so that no case compares two empty outputs by accident.
      const expected: Record<string, RegExp> = {
        "0": /table oct .*table plus .*table foo#bar .*table wrapped .*table blue .*table 4294967295 /s, "010": /^192\.0\.2\.64\/26 via 198\.51\.100\.8 dev v0 \n$/,
        "0x64": /^192\.0\.2\.128\/26 /, "+254": /^192\.0\.2\.0\/26 via 198\.51\.100\.254 /, "cust": /^192\.0\.2\.128\/26 /,
        "main": /^192\.0\.2\.0\/26 /, "0xffffffff": /^192\.0\.2\.192\/26 /,
      };
      if (fam === "" && expected[t]) expect(ip.stdout).toMatch(expected[t]!);
      if (fam === "-6" && t === "0") expect(ip.stdout).toContain("2001:db8:100::/48 via 2001:db8::64 dev v0 table blue ");
      if (["4294967296", "-1", "", "08"].includes(t)) {
        expect(ip.stderr).toBe(`Error: argument "${t}" is wrong: table id value is invalid\n\n`);
        expect(ip.code).toBe(255);
      }
    }, 130_000);
  });

  test("--table cache, -6 --table cache: the kernel's route exceptions (learned path MTUs) as ip prints them", async () => {
    writeFileSync(join(dir, "inject.ts"), injectSource(join(root, "src", "index.ts")));
    const build = [
      "ip link set lo up", "ip link add v0 type veth peer name v1", "ip link set v1 up", "ip link set v0 up",
      "ip addr add 198.51.100.1/24 dev v0", "ip -6 addr add 2001:db8::1/64 dev v0 nodad", "ip route add 192.0.2.0/24 via 198.51.100.254",
      "ip route add 192.0.2.128/25 via 198.51.100.253 advmss 1000", "ip -6 route add 2001:db8:1::/48 via 2001:db8::fe",
      // "Packet too big" for three destinations; IPv4 lists an exception once a lookup used it.
      `"$1" "$2" '[["192.0.2.77",1300],["192.0.2.200",1200],["2001:db8:1::77",1400]]'`,
      "ip route get 192.0.2.77 >/dev/null", "ip route get 192.0.2.200 >/dev/null",
    ].join(" && ");
    // routes(undefined, { cloned: true }): every table's, both families, as `ip route show table all cloned`.
    writeFileSync(join(dir, "cloned.ts"), [
      `import { formatRoute, Rtnetlink } from ${JSON.stringify(join(root, "src", "index.ts"))};`,
      "using rt = Rtnetlink.open();",
      'let out = "";',
      "for (const r of await rt.routes(undefined, { cloned: true, timeout: 5000 })) out += `${formatRoute(r, { showTable: true })}\\n`;",
      "process.stdout.write(out);", "",
    ].join("\n"));
    // ip, ours, ip again: the seconds to expiry may tick between them.
    const show = 'for f in -4 -6; do ip $f route show table cache; echo "== ours"; "$1" "$3" $f --table cache; echo "== status $?"; ip $f route show table cache; echo "== end"; done; ' +
      'ip route show table all cloned; echo "== ours"; "$1" "$4"; echo "== status $?"; ip route show table all cloned; echo "== end"';
    const o = await run([unshare!, "--net", "sh", "-c", `${build} && ${show}`, "sh", bun, join(dir, "inject.ts"), example, join(dir, "cloned.ts")], {}, 60_000);
    if (/unshare: .*(Operation not permitted|Permission denied)/.test(o.stderr)) return console.warn(`SKIP cache netns: ${o.stderr.trim()}`);
    expect(o.stderr).toBe("");
    const views = o.stdout.split("== end\n").slice(0, 3).map((v) => {
      const [before, rest] = v.split("== ours\n") as [string, string];
      const [ours, after] = rest.split(/== status \d+\n/) as [string, string];
      return { before, ours, after, status: /== status (\d+)/.exec(rest)![1] };
    });
    const secs = (text: string): number[] => [...text.matchAll(/expires (\d+)sec/g)].map((m) => Number(m[1]));
    const sameButExpiry = (text: string): string => text.replace(/expires \d+sec/g, "expires Nsec");
    for (const v of views) {
      expect(v.status).toBe("0");
      expect(sameButExpiry(v.ours)).toBe(sameButExpiry(v.before));
      expect(sameButExpiry(v.after)).toBe(sameButExpiry(v.before));
      // Each expiry between ip's two readings.
      secs(v.ours).forEach((n, i) => expect(n >= secs(v.after)[i]! && n <= secs(v.before)[i]!).toBe(true));
    }
    expect(sameButExpiry(views[0]!.before)).toBe([
      "192.0.2.77 via 198.51.100.254 dev v0 ", "    cache expires Nsec mtu 1300 ",
      "192.0.2.200 via 198.51.100.253 dev v0 ", "    cache expires Nsec mtu 1200 advmss 1000 ", "",
    ].join("\n"));
    expect(sameButExpiry(views[1]!.before)).toBe("2001:db8:1::77 via 2001:db8::fe dev v0 metric 1024 expires Nsec mtu 1400 pref medium\n");
    expect(views).toHaveLength(3);
    expect(sameButExpiry(views[2]!.before)).toBe(sameButExpiry(views[0]!.before + views[1]!.before));
  }, 90_000);

  test("--table help: the usage on stderr and exit 255, as ip's", async () => {
    const [theirs, ours] = await Promise.all([run([ipTool!, "route", "show", "table", "help"]), run([bun, example, "--table", "help"])]);
    expect(theirs.code).toBe(255);
    expect(theirs.stderr).toStartWith("Usage: ip route");
    expect({ code: ours.code, stdout: ours.stdout }).toEqual({ code: 255, stdout: "" });
    expect(ours.stderr).toStartWith("usage: bun run examples/ip-route.ts");
  });

  test("a namespace whose main table does not exist yet: nothing, exit 0, as ip (which ignores ENOENT for main)", async () => {
    // ip's arguments and ours, each run in a fresh namespace with only lo up.
    const cmds: [string[], string[]][] = [
      [["route"], []], [["route", "show", "table", "main"], ["--table", "main"]],
      [["route", "show", "table", "cache"], ["--table", "cache"]], [["-6", "route", "show", "table", "cache"], ["-6", "--table", "cache"]],
    ];
    const inNetns = (cmd: string[]): Promise<Outcome> => run([unshare!, "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", ...cmd]);
    for (const [theirs, mine] of cmds) {
      const [ip, ours] = await Promise.all([inNetns([ipTool!, ...theirs]), inNetns([bun, example, ...mine])]);
      if (/unshare: .*(Operation not permitted|Permission denied)/.test(ip.stderr)) return console.warn(`SKIP fresh netns: ${ip.stderr.trim()}`);
      expect({ args: mine, ...ours }).toEqual({ args: mine, ...ip });
      expect(ip).toEqual({ code: 0, signal: null, stdout: "", stderr: "" });
    }
  });
});

/**
 * A program that makes route exceptions as a router's "packet too big" does: for each
 * [destination, mtu] of its JSON argument, an ICMP "fragmentation needed" (IPv4, about an echo
 * reply 198.51.100.1 sent) or ICMPv6 "packet too big" (about an echo request from 2001:db8::1)
 * comes in at v0, written as an Ethernet frame on its veth peer v1.
 */
function injectSource(index: string): string {
  return `import { Rtnetlink, Socket, constants as C } from ${JSON.stringify(index)};
const sum = (b: Uint8Array, s = 0): number => {
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
};
const cat = (...p: (Uint8Array | number[])[]): Uint8Array => {
  const out = new Uint8Array(p.reduce((n, x) => n + x.length, 0));
  let at = 0;
  for (const x of p) { out.set(x, at); at += x.length; }
  return out;
};
const be16 = (v: number): number[] => [v >> 8, v & 255];
const v4 = (a: string): number[] => a.split(".").map(Number);
const v6 = (a: string): number[] => {
  const [h = "", t = ""] = a.split("::");
  const g = (s: string): string[] => (s ? s.split(":") : []);
  return [...g(h), ...Array(8 - g(h).length - g(t).length).fill("0"), ...g(t)].flatMap((x) => be16(parseInt(x, 16)));
};
const withSum = (b: Uint8Array, at: number, s: number): Uint8Array => { b.set(be16(~s & 0xffff), at); return b; };
const ip4 = (src: string, dst: string, payload: Uint8Array): Uint8Array => {
  const h = new Uint8Array([0x45, 0, ...be16(20 + payload.length), 0, 0, 0x40, 0, 64, 1, 0, 0, ...v4(src), ...v4(dst)]);
  return cat(withSum(h, 10, sum(h)), payload);
};
const ip6 = (src: string, dst: string, payload: Uint8Array): Uint8Array => cat([0x60, 0, 0, 0, ...be16(payload.length), 58, 64, ...v6(src), ...v6(dst)], payload);
const icmp4 = (type: number, code: number, rest: number[], data: Uint8Array): Uint8Array => {
  const m = cat([type, code, 0, 0, ...rest], data);
  return withSum(m, 2, sum(m));
};
const icmp6 = (src: string, dst: string, type: number, rest: number[], data: Uint8Array): Uint8Array => {
  const m = cat([type, 0, 0, 0, ...rest], data);
  return withSum(m, 2, sum(m, sum(new Uint8Array([...v6(src), ...v6(dst), 0, 0, ...be16(m.length), 0, 0, 0, 58]))));
};
const rt = Rtnetlink.open();
const links = await rt.links({ timeout: 5000 });
rt.close();
const [v0, v1] = ["v0", "v1"].map((n) => links.find((l) => l.name === n)!);
using s = new Socket("packet", "raw", 0);
const send = (etherType: number, packet: Uint8Array): void =>
  void s.sendTo(cat(v0!.address!, v1!.address!, be16(etherType), packet), { family: "packet", ifindex: v1!.index });
for (const [dst, mtu] of JSON.parse(process.argv[2]!) as [string, number][]) {
  if (dst.includes(":")) {
    const inner = ip6("2001:db8::1", dst, icmp6("2001:db8::1", dst, 128, [0, 1, 0, 1], new Uint8Array(0)));
    send(C.ETH_P_IPV6!, ip6("2001:db8::fe", "2001:db8::1", icmp6("2001:db8::fe", "2001:db8::1", 2, [0, 0, ...be16(mtu)], inner)));
  } else {
    const inner = ip4("198.51.100.1", dst, icmp4(0, 0, [0, 1, 0, 1], new Uint8Array(0)));
    send(C.ETH_P_IP!, ip4("198.51.100.254", "198.51.100.1", icmp4(3, 4, [0, 0, ...be16(mtu)], inner)));
  }
}
`;
}

/**
 * A route message as the kernel sends one (struct rtmsg, then rtattrs), laid out from the
 * platform table: `fill` sets rtmsg fields, `attrs` are [type, bytes].
 */
function routeMessage(fill: Partial<Record<"rtm_family" | "rtm_dst_len" | "rtm_table" | "rtm_protocol" | "rtm_type" | "rtm_flags", number>>, attrs: [number, Uint8Array][]): NetlinkMessage {
  const R = platform.table.structs.rtmsg!;
  const A = platform.table.structs.rtattr!;
  const align = (n: number): number => (n + C.RTA_ALIGNTO! - 1) & ~(C.RTA_ALIGNTO! - 1);
  const payload = new Uint8Array(align(R.size) + attrs.reduce((n, [, d]) => n + align(A.size + d.byteLength), 0));
  const v = new DataView(payload.buffer);
  for (const [k, n] of Object.entries(fill)) writeIntField(v, R.fields[k as keyof typeof R.fields], n);
  let at = align(R.size);
  for (const [type, d] of attrs) {
    writeIntField(v, { offset: at + A.fields.rta_len.offset, size: A.fields.rta_len.size }, A.size + d.byteLength);
    writeIntField(v, { offset: at + A.fields.rta_type.offset, size: A.fields.rta_type.size }, type);
    payload.set(d, at + A.size);
    at += align(A.size + d.byteLength);
  }
  return { type: C.RTM_NEWROUTE!, flags: 0, seq: 0, pid: 0, payload };
}

describe.skipIf(!linux)("cloned routes: routes({ cloned }), RTA_CACHEINFO and the cache line", () => {
  const CI = linux ? platform.table.structs.rta_cacheinfo! : null;
  const cacheInfo = (values: Partial<Record<"rta_expires" | "rta_error" | "rta_id" | "rta_ts" | "rta_tsage", number>>, size = CI!.size): Uint8Array => {
    const b = new Uint8Array(size);
    const fields: Record<string, { offset: number; size: number }> = CI!.fields;
    for (const [k, n] of Object.entries(values)) writeIntField(new DataView(b.buffer), fields[k]!, n);
    return b;
  };
  const u32 = (n: number): Uint8Array => {
    const b = new Uint8Array(4);
    writeIntField(new DataView(b.buffer), { offset: 0, size: 4 }, n);
    return b;
  };
  const mtu1300 = (): Uint8Array => {
    const m = routeMessage({}, [[C.RTAX_MTU!, u32(1300)]]);
    return m.payload.subarray((platform.table.structs.rtmsg!.size + 3) & ~3);
  };
  const base = { rtm_family: C.AF_INET, rtm_dst_len: 32, rtm_table: C.RT_TABLE_MAIN!, rtm_protocol: C.RTPROT_BOOT!, rtm_type: C.RTN_UNICAST! };
  const dst: [number, Uint8Array] = [C.RTA_DST!, Uint8Array.of(192, 0, 2, 77)];
  const via: [number, Uint8Array] = [C.RTA_GATEWAY!, Uint8Array.of(198, 51, 100, 254)];

  test("parseRoute decodes RTA_CACHEINFO into cacheInfo; formatRoute writes print_cache_flags' and print_rta_cacheinfo's words between the mark and the metrics", () => {
    // Named flags in print_cache_flags' order, one it has no name for (0x100000) in hex.
    const flags = C.RTM_F_CLONED! | C.RTCF_NOTIFY! | C.RTCF_LOCAL! | 0x00100000;
    const r = parseRoute(routeMessage({ ...base, rtm_flags: flags >>> 0 }, [
      dst, via, [C.RTA_METRICS!, mtu1300()],
      [C.RTA_CACHEINFO!, cacheInfo({ rta_expires: 512, rta_error: 113, rta_id: 1, rta_ts: 2, rta_tsage: 3 })],
    ]))!;
    expect(r.cacheInfo).toEqual({ expires: 512, error: 113, id: 1, ts: 2, tsage: 3 });
    expect(r.expires).toBe(5);
    expect(formatRoute(r)).toBe("192.0.2.77 via 198.51.100.254 \n    cache <local,notify,100000>expires 5sec error 113 ipid 0x0001 ts 0x2tsage 3sec mtu 1300 ");
    // No flags above the low 16 bits, no cache info: the bare line, as ip's.
    const bare = parseRoute(routeMessage({ ...base, rtm_flags: C.RTM_F_CLONED! }, [dst, via]))!;
    expect(bare.cacheInfo).toBeUndefined();
    expect(formatRoute(bare)).toBe("192.0.2.77 via 198.51.100.254 \n    cache ");
    // An RTA_CACHEINFO shorter than the struct is not read; a route not cloned has no cache line.
    const short = parseRoute(routeMessage({ ...base }, [dst, [C.RTA_CACHEINFO!, cacheInfo({ rta_expires: 512 }, CI!.size - 1)]]))!;
    expect(short.cacheInfo).toBeUndefined();
    expect(formatRoute(short)).toBe("192.0.2.77 ");
    // IPv6 keeps its own words (expires, from the cache info).
    const six = parseRoute(routeMessage({ ...base, rtm_family: C.AF_INET6, rtm_dst_len: 128, rtm_flags: C.RTM_F_CLONED! }, [
      [C.RTA_DST!, Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 0x77)],
      [C.RTA_CACHEINFO!, cacheInfo({ rta_expires: 250 })],
    ]))!;
    expect(six.cacheInfo).toEqual({ expires: 250, error: 0, id: 0, ts: 0, tsage: 0 });
    expect(formatRoute(six)).toBe("2001:db8::77 expires 2sec ");
  });

  test("routes(family, { cloned }): a boolean or undefined, else a TypeError naming it, before anything is sent", async () => {
    using rt = Rtnetlink.open();
    for (const [v, got] of [[1, "number"], ["yes", "string"], [null, "null"], [{}, "object"]] as const) {
      await expect(rt.routes("inet", { cloned: v as never })).rejects.toThrow(new TypeError(`routes: cloned must be a boolean or undefined, got ${got}`));
    }
    await expect(rt.routes("inet", { table: 0, cloned: true })).rejects.toThrow(/^routes: table 0/);
    // Cloned routes only (this machine's main table may have none), none from a plain dump's routes.
    const cloned = await rt.routes("inet", { table: C.RT_TABLE_MAIN!, cloned: true, timeout: 5000 }).catch((e: unknown) => e);
    if (Array.isArray(cloned)) for (const r of cloned) expect(r.flags & C.RTM_F_CLONED!).toBeTruthy();
    expect((await rt.routes("inet", { cloned: false, timeout: 5000 })).length).toBeGreaterThan(0);
  });
});
