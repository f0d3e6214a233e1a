/**
 * TUN devices (Linux): examples/tun-ping.ts in a network namespace of its own answers iputils
 * ping for other addresses of its subnet, IPv4 and IPv6, with 0 % loss (iputils checks every
 * reply's checksum); TunDevice moves packets both ways (test/fixtures/tun-netns.ts); without CAP_NET_ADMIN the example says
 * which capability in one line and exits 2.
 */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { platform } from "../src/index.ts";
import { asNobody, bun, expectNoFdLeaks, nobodyCannotRun, root, run, scratchDir } from "./helpers.ts";

expectNoFdLeaks();

const linux = platform.key.startsWith("linux-");
const example = join(root, "examples", "tun-ping.ts");
const ping = Bun.which("ping");
const unshare = Bun.which("unshare");
const isRoot = process.getuid?.() === 0;
const reason = !linux ? "Linux only" : !unshare ? "no unshare on PATH" : !isRoot ? "not root: cannot create a namespace and a TUN device" : !ping ? "iputils ping not installed (.ci/run installs it)" : null;
if (reason) console.warn(`SKIP tun-ping: ${reason}`);
const netnsReason = !linux ? "Linux only" : !unshare ? "no unshare on PATH" : !isRoot ? "not root: cannot create a namespace and a TUN device" : null;
const scratch = linux ? scratchDir() : "";

/**
 * What every TunDevice child below starts with, inside `unshare --net` (lo up, IPv6 off, so
 * nothing but the test's own datagrams reaches the device): the device bsdq0 with 192.0.2.1/24,
 * up; a UDP socket on 192.0.2.1:4000 whose `inject(text)` routes a datagram into it;
 * `payload(buf, n)`, the UDP payload of what a read returned; `settle(p, ms)`, how `p` settles
 * within `ms` ("resolved N", "<error>" or "pending"); `call(f)`, the same for a call that might
 * throw instead ("threw <error>"). The body fills `out`; the child prints it as JSON.
 */
const prelude = `
import { Rtnetlink, Socket, SocketError, TunDevice } from ${JSON.stringify(join(root, "src", "index.ts"))};
import { getEventListeners } from "node:events";
const out: Record<string, unknown> = {};
const tun = TunDevice.open({ name: "bsdq%d" });
{
  using rt = Rtnetlink.open();
  await rt.addAddress(tun.index, "192.0.2.1/24", { noDad: true, timeout: 2000 });
  await rt.setLinkUp(tun.index, true, { timeout: 2000 });
}
const udp = new Socket("inet", "dgram");
udp.bind({ family: "inet", host: "192.0.2.1", port: 4000 });
const inject = (text: string): void => void udp.sendTo(text, { family: "inet", host: "192.0.2.77", port: 9 });
const payload = (b: Uint8Array, n: number): string => (b[0]! >> 4 === 4 && b[9] === 17 ? new TextDecoder().decode(b.subarray(28, n)) : \`other \${n}\`);
const describeError = (e: unknown): string => (e instanceof SocketError ? \`\${e.name} \${e.code}\` : e instanceof Error ? \`\${e.name}: \${e.message}\` : String(e));
const settle = (p: Promise<unknown>, ms = 2000): Promise<string> =>
  Promise.race([p.then((v) => \`resolved \${v}\`, describeError), Bun.sleep(ms).then(() => "pending")]);
const call = (f: () => Promise<unknown>): Promise<string> => {
  try {
    return settle(f());
  } catch (e) {
    return Promise.resolve(\`threw \${describeError(e)}\`);
  }
};
void getEventListeners;
`;

/** Runs `body` after the prelude in a child in a network namespace of its own: its JSON, or null when unshare may not. */
async function inNetns(name: string, body: string): Promise<Record<string, unknown> | null> {
  const file = join(scratch, `${name}.ts`);
  writeFileSync(file, `${prelude}\n${body}\ntun.close();\nudp.close();\nconsole.log(JSON.stringify(out));\nprocess.exit(0);\n`);
  const o = await run([unshare!, "--net", "sh", "-c", 'ip link set lo up && echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 && exec "$@"', "sh", bun, file], {}, 30_000);
  if (/unshare: .*(Operation not permitted|Permission denied)/.test(o.stderr)) {
    console.warn(`SKIP tun netns: ${o.stderr.trim()}`);
    return null;
  }
  expect(o.stderr).toBe("");
  return JSON.parse(o.stdout) as Record<string, unknown>;
}

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

  test.skipIf(!!netnsReason)("TunDevice: a read queued behind a pending one keeps its own timeout (0, 50 ms, 3e9 ms) and AbortSignal, releases its listener and memory at once when it ends, and the next read still waits for the holder", async () => {
    const out = await inNetns("queued", `
const buf = (): Uint8Array => new Uint8Array(2048);
const b1 = buf();
const first = tun.read(b1); // holds the read turn: nothing arrives until inject()
let t = performance.now();
out.queuedTimeout = await settle(tun.read(buf(), { timeout: 50 }));
const took = performance.now() - t;
out.queuedTimeoutOnTime = took >= 45 && took < 1500;
t = performance.now();
out.queuedZero = await settle(tun.read(buf(), { timeout: 0 }));
out.queuedZeroAtOnce = performance.now() - t < 500;
const ac = new AbortController();
const aborted = settle(tun.read(buf(), { signal: ac.signal }));
setTimeout(() => ac.abort(new Error("stop")), 20);
out.queuedAbort = await aborted;
// Past setTimeout's 2^31 ms: still queued after 100 ms (a single timer would fire at once), then aborted.
const far = new AbortController();
const farRead = settle(tun.read(buf(), { timeout: 3e9, signal: far.signal }), 3000);
out.farEarly = await settle(farRead, 100);
far.abort(new Error("far"));
out.queuedFar = await farRead;
// One signal shared by 100 queued reads that time out: each removes its listener.
const shared = new AbortController();
const many = Array.from({ length: 100 }, () => tun.read(buf(), { timeout: 30, signal: shared.signal }));
out.sharedListenersQueued = getEventListeners(shared.signal, "abort").length;
out.sharedOutcomes = [...new Set(await Promise.all(many.map((p) => settle(p))))];
out.sharedListenersAfter = getEventListeners(shared.signal, "abort").length;
// 200 reads of 64 KiB each, queued and aborted: their buffers are garbage while the first read still waits.
const refs: WeakRef<Uint8Array>[] = [];
const settled: Promise<string>[] = [];
(() => {
  for (let i = 0; i < 200; i++) {
    const c = new AbortController();
    const b = new Uint8Array(65536);
    refs.push(new WeakRef(b));
    settled.push(settle(tun.read(b, { signal: c.signal })));
    c.abort(new Error("gone"));
  }
})();
out.abortedOutcomes = [...new Set(await Promise.all(settled))];
for (let i = 0; i < 10 && refs.some((r) => r.deref() !== undefined); i++) {
  Bun.gc(true);
  await Bun.sleep(10);
}
out.abortedCollected = refs.filter((r) => r.deref() === undefined).length >= 180;
// The turn passes only when its holder ends: "one" is the first read's, "two" the next one's.
const b2 = buf();
const second = tun.read(b2);
inject("one");
out.first = await settle(first.then((n) => payload(b1, n)));
inject("two");
out.second = await settle(second.then((n) => payload(b2, n)));
`);
    if (out === null) return;
    expect(out).toEqual({
      queuedTimeout: "SocketTimeoutError ETIMEDOUT",
      queuedTimeoutOnTime: true,
      queuedZero: "SocketTimeoutError ETIMEDOUT",
      queuedZeroAtOnce: true,
      queuedAbort: "Error: stop",
      farEarly: "pending",
      queuedFar: "Error: far",
      sharedListenersQueued: 100,
      sharedOutcomes: ["SocketTimeoutError ETIMEDOUT"],
      sharedListenersAfter: 0,
      abortedOutcomes: ["Error: gone"],
      abortedCollected: true,
      first: "resolved one",
      second: "resolved two",
    });
  });

  test.skipIf(!!netnsReason)("TunDevice: a buffer transferred or shrunk while its read is queued or waiting is the no-memory TypeError, never a false empty packet (the packet stays for the next read); a length-tracking view reads at its current length; a 0-byte buffer is a RangeError; a write takes its packet at the call", async () => {
    const out = await inNetns("emptied", `
const b1 = new Uint8Array(2048);
const holder = tun.read(b1);
const queuedBuf = new Uint8Array(2048);
const queued = tun.read(queuedBuf);
(queuedBuf.buffer as ArrayBuffer).transfer();
const rab = new ArrayBuffer(2048, { maxByteLength: 2048 });
const queuedShrunk = tun.read(new Uint8Array(rab));
rab.resize(0);
inject("one");
out.holder = await settle(holder.then((n) => payload(b1, n)));
out.queuedDetached = await settle(queued);
out.queuedShrunk = await settle(queuedShrunk);
// Waiting on the reactor (holding the turn) when the buffer goes: the wakeup's attempt refuses it.
const parkedBuf = new Uint8Array(2048);
const parked = tun.read(parkedBuf);
await Bun.sleep(20);
(parkedBuf.buffer as ArrayBuffer).transfer();
inject("two");
out.parkedDetached = await settle(parked);
const b2 = new Uint8Array(2048);
out.nextAfterDetached = await settle(tun.read(b2, { timeout: 2000 }).then((n) => payload(b2, n)));
// A fixed view pushed out of its resizable buffer while waiting.
const rab2 = new ArrayBuffer(2048, { maxByteLength: 2048 });
const outOfBounds = tun.read(new Uint8Array(rab2, 1024, 1024));
await Bun.sleep(20);
rab2.resize(512);
inject("three");
out.parkedOutOfBounds = await settle(outOfBounds);
const b3 = new Uint8Array(2048);
out.nextAfterOutOfBounds = await settle(tun.read(b3, { timeout: 2000 }).then((n) => payload(b3, n)));
// A length-tracking view whose buffer shrank to 30 bytes while waiting: 20 (IP) + 8 (UDP) + "fo".
const rab3 = new ArrayBuffer(2048, { maxByteLength: 2048 });
const tracking = new Uint8Array(rab3);
const shrunk = tun.read(tracking);
await Bun.sleep(20);
rab3.resize(30);
inject("four");
out.tracking = await settle(shrunk.then((n) => \`\${n} \${payload(tracking, n)}\`));
out.zeroLength = await call(() => tun.read(new Uint8Array(0)));
// A write with the turn free writes at the call: transferring the packet afterwards changes nothing.
const packet = new Uint8Array(28);
packet[0] = 0x45;
const written = tun.write(packet);
(packet.buffer as ArrayBuffer).transfer();
out.writeThenTransfer = await settle(written);
const rabW = new ArrayBuffer(28, { maxByteLength: 64 });
const shrunkPacket = new Uint8Array(rabW);
rabW.resize(0);
out.writeShrunk = await call(() => tun.write(shrunkPacket));
`);
    if (out === null) return;
    const readGone = "TypeError: TunDevice.read: buffer has no memory (detached, or its resizable buffer shrank)";
    expect(out).toEqual({
      holder: "resolved one",
      queuedDetached: readGone,
      queuedShrunk: readGone,
      parkedDetached: readGone,
      nextAfterDetached: "resolved two",
      parkedOutOfBounds: readGone,
      nextAfterOutOfBounds: "resolved three",
      tracking: "resolved 30 fo",
      zeroLength: "RangeError: TunDevice.read: buffer has no room for a packet (0 bytes)",
      writeThenTransfer: "resolved 28",
      writeShrunk: "TypeError: TunDevice.write: packet has no memory (detached, or its resizable buffer shrank)",
    });
  });

  test.skipIf(!!netnsReason)("TunDevice: look-alike buffers (a Proxy around a Uint8Array, an object with Uint8Array's prototype, a Proxy whose traps throw) and throwing options reject, never throw; the device still reads after them", async () => {
    const out = await inNetns("lookalike", `
const real = new Uint8Array(2048);
const trap = (): never => {
  throw new Error("trap");
};
const fakes: Record<string, unknown> = {
  proxy: new Proxy(real, {}),
  prototype: Object.setPrototypeOf({}, Uint8Array.prototype),
  traps: new Proxy(real, { getPrototypeOf: trap, get: trap, has: trap, getOwnPropertyDescriptor: trap }),
  plain: { byteLength: 2048, buffer: new ArrayBuffer(2048) },
  arrayBuffer: new ArrayBuffer(16),
  nothing: undefined,
};
for (const [k, v] of Object.entries(fakes)) {
  out[\`read \${k}\`] = await call(() => tun.read(v as Uint8Array));
  out[\`write \${k}\`] = await call(() => tun.write(v as Uint8Array));
}
const ac = new AbortController();
out.throwingGetter = await call(() => tun.read(real, { get timeout(): number { throw new Error("getter"); } }));
out.proxyOptions = await call(() => tun.read(real, new Proxy({}, { get: trap })));
out.proxySignal = (await call(() => tun.write(real, { signal: new Proxy(ac.signal, {}) }))).replace(/:.*/, "");
out.nullOptions = await call(() => tun.read(real, null as unknown as undefined));
inject("ok");
out.after = await settle(tun.read(real, { timeout: 2000 }).then((n) => payload(real, n)));
`);
    if (out === null) return;
    const expected: Record<string, string> = {};
    for (const k of ["proxy", "prototype", "traps", "plain", "arrayBuffer", "nothing"]) {
      expected[`read ${k}`] = "TypeError: TunDevice.read: buffer must be a Uint8Array";
      expected[`write ${k}`] = "TypeError: TunDevice.write: packet must be a Uint8Array";
    }
    expect(out).toEqual({
      ...expected,
      throwingGetter: "Error: getter",
      proxyOptions: "Error: trap",
      proxySignal: "TypeError",
      nullOptions: "TypeError: read: options must be an object",
      after: "resolved ok",
    });
  });

  test.skipIf(!!netnsReason)("TunDevice: close() while reads are queued (a 3e9 ms timeout, a signal, none) rejects them all with EBADF and drops their listeners; so does a close from the holder's own callback; calls after close reject EBADF", async () => {
    const out = await inNetns("close", `
const holder = tun.read(new Uint8Array(2048));
const ac = new AbortController();
const queued = [tun.read(new Uint8Array(64), { timeout: 3e9 }), tun.read(new Uint8Array(64), { signal: ac.signal }), tun.read(new Uint8Array(64))];
const packet = new Uint8Array(28);
packet[0] = 0x45;
out.write = await settle(tun.write(packet));
tun.close();
out.holder = await settle(holder);
out.queued = await Promise.all(queued.map((p) => settle(p)));
out.listeners = getEventListeners(ac.signal, "abort").length;
out.readAfter = await call(() => tun.read(new Uint8Array(64)));
out.writeAfter = await call(() => tun.write(packet.slice()));
// A second device closed by its first read's callback: the read queued behind that one gets EBADF.
const tun2 = TunDevice.open({ name: "bsdr%d" });
{
  using rt = Rtnetlink.open();
  await rt.addAddress(tun2.index, "198.51.100.1/24", { noDad: true, timeout: 2000 });
  await rt.setLinkUp(tun2.index, true, { timeout: 2000 });
}
const b = new Uint8Array(2048);
const firstRead = tun2.read(b, { timeout: 2000 }).then((n) => {
  tun2.close();
  return payload(b, n);
});
const behind = tun2.read(new Uint8Array(2048), { timeout: 2000 });
using udp2 = new Socket("inet", "dgram"); // udp's address left with the first device
udp2.sendTo("x", { family: "inet", host: "198.51.100.77", port: 9 });
out.closedInCallback = [await settle(firstRead), await settle(behind)];
`);
    if (out === null) return;
    expect(out).toEqual({
      write: "resolved 28",
      holder: "SocketError EBADF",
      queued: ["SocketError EBADF", "SocketError EBADF", "SocketError EBADF"],
      listeners: 0,
      readAfter: "SocketError EBADF",
      writeAfter: "SocketError EBADF",
      closedInCallback: ["resolved x", "SocketError EBADF"],
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
