/**
 * Routes over rtnetlink against iproute2 itself: examples/ip-route.ts must print exactly what
 * `ip route` / `ip -6 route` print, on this machine (read only) and, for every route kind
 * (unicast via a gateway, connected, blackhole, unreachable, prohibit, throw, multipath, metrics
 * with lock, onlink, source and protocol, other tables, IPv6 preferences), in a network
 * namespace the test creates (test/fixtures/routes-netns.ts, documentation ranges only);
 * defaultGateway() and route events there too.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { platform } from "../src/index.ts";
import { bun, expectNoFdLeaks, root, run } from "./helpers.ts";

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
    const t = await run([bun, example, "--table", "no-such-table"]);
    expect(t.code).toBe(2);
    expect(t.stderr).toContain("unknown table");
  });
});
