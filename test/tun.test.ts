/**
 * TUN devices (Linux): examples/tun-ping.ts in a network namespace of its own answers iputils
 * ping for other addresses of its subnet, IPv4 and IPv6, with 0 % loss (iputils checks every
 * reply's checksum); TunDevice moves packets both ways (test/fixtures/tun-netns.ts); without CAP_NET_ADMIN the example says
 * which capability in one line and exits 2.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { platform } from "../src/index.ts";
import { asNobody, bun, expectNoFdLeaks, nobodyCannotRun, root, run } from "./helpers.ts";

expectNoFdLeaks();

const linux = platform.key.startsWith("linux-");
const example = join(root, "examples", "tun-ping.ts");
const ping = Bun.which("ping");
const unshare = Bun.which("unshare");
const isRoot = process.getuid?.() === 0;
const reason = !linux ? "Linux only" : !unshare ? "no unshare on PATH" : !isRoot ? "not root: cannot create a namespace and a TUN device" : !ping ? "iputils ping not installed (.ci/run installs it)" : null;
if (reason) console.warn(`SKIP tun-ping: ${reason}`);

describe.skipIf(!linux)("TUN devices", () => {
  test.skipIf(!!reason)("tun-ping.ts answers ping -c 3 for 192.0.2.77 and 2001:db8::42 with 0% loss; its own address stays the kernel's", async () => {
    const script = `ip link set lo up
"$1" "$2" --name bsd0 --address 192.0.2.1/24 --address6 2001:db8::1/64 > "$3/out" 2> "$3/err" &
P=$!
i=0; while [ $i -lt 100 ] && ! grep -q ready "$3/out"; do sleep 0.1; i=$((i+1)); done
cat "$3/out"
"$4" -c 3 -i 0.2 -W 2 192.0.2.77
"$4" -c 3 -i 0.2 -W 2 -6 2001:db8::42
kill $P; wait $P; cat "$3/err"`;
    const dir = (await run(["mktemp", "-d"])).stdout.trim();
    try {
      const o = await run([unshare!, "--net", "sh", "-c", script, "sh", bun, example, dir, ping!], {}, 60_000);
      if (/unshare: .*(Operation not permitted|Permission denied)/.test(o.stderr)) return console.warn(`SKIP tun netns: ${o.stderr.trim()}`);
      expect(o.stdout).toStartWith("ready bsd0\n");
      expect(o.stdout).toContain("--- 192.0.2.77 ping statistics ---\n3 packets transmitted, 3 received, 0% packet loss");
      expect(o.stdout).toContain("--- 2001:db8::42 ping statistics ---\n3 packets transmitted, 3 received, 0% packet loss");
      expect(o.stdout).not.toContain("BAD CHECKSUM");
      expect(o.stdout).toContain("tun-ping: answered 6 echo requests");
    } finally {
      await run(["rm", "-rf", dir]);
    }
  }, 90_000);

  const nobodyReason = nobodyCannotRun(example);
  test.skipIf(!!nobodyReason)("without CAP_NET_ADMIN: one line naming the capability, exit 2, no stack trace", async () => {
    const o = await run([...asNobody, bun, example, "--name", "bsd9", "--address", "192.0.2.1/24"]);
    expect(o.code).toBe(2);
    expect(o.stdout).toBe("");
    expect(o.stderr.trimEnd().split("\n").length).toBe(1);
    expect(o.stderr).toContain("CAP_NET_ADMIN");
  });

  test.skipIf(!linux || !unshare || !isRoot)("TunDevice both ways: a datagram routed in is read, a packet written is received; detached buffers are TypeErrors; close ends a pending read with EBADF", async () => {
    // IPv6 off in the namespace: no router solicitation may answer the read that waits at close.
    const o = await run([unshare!, "--net", "sh", "-c", 'ip link set lo up && echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 && exec "$@"', "sh", bun, join(root, "test", "fixtures", "tun-netns.ts")], {}, 30_000);
    if (/unshare: .*(Operation not permitted|Permission denied)/.test(o.stderr)) return console.warn(`SKIP tun netns: ${o.stderr.trim()}`);
    expect(o.stderr).toBe("");
    expect(JSON.parse(o.stdout)).toEqual({
      name: "bsdt0",
      read: "out",
      written: 30,
      received: "in",
      from: { family: "inet", host: "192.0.2.77", port: 5555 },
      detachedRead: "TypeError: TunDevice.read: buffer has no memory (detached, or its resizable buffer shrank)",
      detachedWrite: "TypeError: TunDevice.write: packet has no memory (detached, or its resizable buffer shrank)",
      badSignal: "TypeError: read: signal must be an AbortSignal",
      badTimeout: "RangeError: read: timeout must be null or a finite number of ms >= 0, got -1",
      nanTimeout: "RangeError: write: timeout must be null or a finite number of ms >= 0, got NaN",
      farTimeout: "Error: stop",
      pendingAtClose: "EBADF",
      afterClose: "EBADF",
    });
  });

  test("usage errors exit 2", async () => {
    const o = await run([bun, example, "--name", "x"]);
    expect(o.code).toBe(2);
    expect(o.stderr).toContain("usage:");
    const bad = await run([bun, example, "--name", "x", "--address", "192.0.2.1"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("prefix length");
  });
});
