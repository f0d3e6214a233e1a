/**
 * rtnetlink against the kernel: the message parsers on messages built from the table's
 * layouts (and cut short), Rtnetlink dumps against what the kernel and `ip` report,
 * examples/ip-addr.ts byte for byte against `ip -brief addr`, and --watch in a network
 * namespace of its own (root and unshare(1) needed; skipped with the reason otherwise).
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { platform } from "../src/index.ts";
import { dumpRequest, parseAddress, parseAttributes, parseLink, parseMessages, Rtnetlink, type NetlinkMessage } from "../src/linux/netlink.ts";
import { interfaceIndex } from "../src/core/sockaddr.ts";
import { Socket } from "../src/socket/socket.ts";
import { bun, expectNoFdLeaks, root, run } from "./helpers.ts";

expectNoFdLeaks();

const linux = platform.key.startsWith("linux-");
const T = platform.table;
const C = T.constants;
const LE = T.expressions.LITTLE_ENDIAN === 1;
const ipTool = Bun.which("ip");
const unshare = Bun.which("unshare");
const isRoot = process.getuid?.() === 0;

/** An rtattr: rta_len, rta_type, data, padded to 4. */
function attr(type: number, data: Uint8Array): Uint8Array {
  const R = T.structs.rtattr!;
  const len = R.size + data.length;
  const b = new Uint8Array((len + 3) & ~3);
  const v = new DataView(b.buffer);
  v.setUint16(R.fields.rta_len.offset, len, LE);
  v.setUint16(R.fields.rta_type.offset, type, LE);
  b.set(data, R.size);
  return b;
}

/** A netlink message of `type` around `body`. */
function message(type: number, body: Uint8Array, seq = 7): Uint8Array {
  const H = T.structs.nlmsghdr!;
  const len = H.size + body.length;
  const b = new Uint8Array((len + 3) & ~3);
  const v = new DataView(b.buffer);
  v.setUint32(H.fields.nlmsg_len.offset, len, LE);
  v.setUint16(H.fields.nlmsg_type.offset, type, LE);
  v.setUint32(H.fields.nlmsg_seq.offset, seq, LE);
  b.set(body, H.size);
  return b;
}

const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

describe.skipIf(!linux)("parsers (messages built from the table's layouts)", () => {
  const I = T.structs.ifinfomsg!;
  function linkMessage(index: number, name: string, oper: number): Uint8Array {
    const info = new Uint8Array(I.size);
    new DataView(info.buffer).setInt32(I.fields.ifi_index.offset, index, LE);
    return message(C.RTM_NEWLINK!, concat(info, attr(C.IFLA_IFNAME!, new TextEncoder().encode(`${name}\0`)), attr(C.IFLA_OPERSTATE!, Uint8Array.of(oper))));
  }

  test("a stream of two links and NLMSG_DONE parses into three messages; the links decode", () => {
    const stream = concat(linkMessage(1, "lo", C.IF_OPER_UNKNOWN ?? 0), linkMessage(7, "eth7", C.IF_OPER_UP ?? 6), message(C.NLMSG_DONE!, new Uint8Array(4)));
    const msgs = parseMessages(stream, stream.length);
    expect(msgs.map((m) => m.type)).toEqual([C.RTM_NEWLINK!, C.RTM_NEWLINK!, C.NLMSG_DONE!]);
    expect(parseLink(msgs[0]!)).toMatchObject({ index: 1, name: "lo", operstate: "UNKNOWN" });
    expect(parseLink(msgs[1]!)).toMatchObject({ index: 7, name: "eth7", operstate: "UP" });
    expect(parseLink(msgs[2]!)).toBeNull();
  });

  test("a cut stream yields only the whole messages; a length past the data stops the walk", () => {
    const one = linkMessage(1, "lo", 0);
    const stream = concat(one, one);
    expect(parseMessages(stream, stream.length - 1).length).toBe(1);
    expect(parseMessages(stream, 3).length).toBe(0);
    expect(parseMessages(stream, -5).length).toBe(0);
    const bad = one.slice();
    new DataView(bad.buffer).setUint32(T.structs.nlmsghdr!.fields.nlmsg_len.offset, 9999, LE);
    expect(parseMessages(bad, bad.length)).toEqual([]);
    expect(parseAttributes(Uint8Array.of(200, 0, 1, 0))).toEqual([]); // rta_len 200 > 4 bytes
  });

  test("an address message: IFA_LOCAL is the address, a different IFA_ADDRESS the peer", () => {
    const A = T.structs.ifaddrmsg!;
    const head = new Uint8Array(A.size);
    head[A.fields.ifa_family.offset] = C.AF_INET;
    head[A.fields.ifa_prefixlen.offset] = 24;
    new DataView(head.buffer).setUint32(A.fields.ifa_index.offset, 3, LE);
    const m = parseMessages(message(C.RTM_NEWADDR!, concat(head, attr(C.IFA_ADDRESS!, Uint8Array.of(10, 0, 0, 2)), attr(C.IFA_LOCAL!, Uint8Array.of(10, 0, 0, 1)))), 1000)[0] as NetlinkMessage;
    expect(parseAddress(m)).toMatchObject({ index: 3, family: "inet", prefixLength: 24, address: "10.0.0.1", peer: "10.0.0.2" });
  });

  test("dumpRequest: NLM_F_REQUEST | NLM_F_DUMP, the type and sequence, a zeroed family header", () => {
    const r = dumpRequest(C.RTM_GETLINK!, 42);
    const [m] = parseMessages(r, r.length);
    expect(m).toMatchObject({ type: C.RTM_GETLINK, flags: C.NLM_F_REQUEST! | C.NLM_F_DUMP!, seq: 42, pid: 0 });
    expect(m!.payload.length).toBe(T.structs.ifinfomsg!.size);
  });
});

describe.skipIf(!linux)("Rtnetlink against the kernel", () => {
  test("links() has lo at its if_nametoindex index, IFF_LOOPBACK set; addresses() has 127.0.0.1/8 on it", async () => {
    using rt = Rtnetlink.open();
    const links = await rt.links({ timeout: 5000 });
    const lo = links.find((l) => l.name === "lo");
    expect(lo?.index).toBe(interfaceIndex("lo"));
    expect(lo!.flags & C.IFF_LOOPBACK!).toBe(C.IFF_LOOPBACK!);
    const addrs = await rt.addresses({ timeout: 5000 });
    expect(addrs).toContainEqual(expect.objectContaining({ index: lo!.index, family: "inet", address: "127.0.0.1", prefixLength: 8 }));
  });

  test("a netlink socket's address: bound with pid 0, the kernel assigns a port id", () => {
    using s = new Socket("netlink", "raw", C.NETLINK_ROUTE!);
    s.bind({ family: "netlink", pid: 0, groups: C.RTMGRP_LINK! });
    const a = s.localAddress;
    expect(a).toMatchObject({ family: "netlink", groups: C.RTMGRP_LINK! });
    expect((a as { pid: number }).pid).toBeGreaterThan(0);
  });

  test.skipIf(!ipTool)("examples/ip-addr.ts prints exactly what `ip -brief addr` prints", async () => {
    const ours = await run([bun, join(root, "examples", "ip-addr.ts")], {}, 10_000);
    const theirs = await run([ipTool!, "-brief", "addr"], {}, 10_000);
    expect(ours.code).toBe(0);
    expect(ours.stdout).toBe(theirs.stdout);
  });

  const noNetns = !isRoot ? "not root: cannot create a network namespace" : !unshare || !ipTool ? "unshare(1) or ip(8) missing" : null;
  if (noNetns) console.warn(`SKIP ip-addr.ts --watch: ${noNetns}`);
  test.skipIf(noNetns !== null)("--watch in a new network namespace reports lo coming up and addresses added and removed", async () => {
    const script = [
      `${JSON.stringify(bun)} ${JSON.stringify(join(root, "examples", "ip-addr.ts"))} --watch & pid=$!`,
      "sleep 2", // the watcher has joined its groups and printed the table
      "ip link set lo up",
      "ip addr add 127.0.0.5/8 dev lo",
      "sleep 0.3",
      "ip addr del 127.0.0.5/8 dev lo",
      "sleep 0.5",
      "kill -INT $pid",
      "wait $pid",
    ].join("\n");
    const o = await run([unshare!, "-n", "sh", "-c", script], {}, 20_000);
    expect(o.code).toBe(0);
    const lines = o.stdout.split("\n");
    expect(lines[0]).toMatch(/^lo +DOWN +$/); // the table: a fresh namespace has lo, down
    expect(lines).toContain("link lo UNKNOWN");
    expect(lines).toContain("addr add 127.0.0.1/8 dev lo");
    expect(lines).toContain("addr add 127.0.0.5/8 dev lo");
    expect(lines).toContain("addr del 127.0.0.5/8 dev lo");
    expect(o.stderr).toContain("watching link and address changes");
  });
});

describe.skipIf(!linux)("Rtnetlink shared by many callers", () => {
  test("on this machine: dumps issued together each get their whole answer, as one after another", async () => {
    using rt = Rtnetlink.open();
    const op = { timeout: 5000 };
    const links = (await rt.links(op)).map((l) => l.name);
    const addrs = (await rt.addresses(op)).map((a) => a.address);
    const both = await Promise.all([rt.links(op), rt.addresses(op), rt.links(op), rt.addresses(op)]);
    expect(both.map((r) => r.map((x) => ("name" in x ? x.name : x.address)))).toEqual([links, addrs, links, addrs]);
    expect(links).toContain("lo");
  });

  const noNetns = !isRoot ? "not root: cannot create a network namespace" : !unshare ? "unshare(1) missing" : null;
  if (noNetns) console.warn(`SKIP Rtnetlink concurrency in a namespace: ${noNetns}`);
  test.skipIf(noNetns !== null)("in a fresh namespace: concurrent dumps and changes, a dump and a change inside events(), changes made before events() ran, cancelled requests, close", async () => {
    const o = await run([unshare!, "--net", bun, join(root, "test", "fixtures", "rtconcurrent-netns.ts")], {}, 60_000);
    if (/unshare: .*(Operation not permitted|Permission denied)/.test(o.stderr)) return console.warn(`SKIP: ${o.stderr.trim()}`);
    expect(o.stderr).toBe("");
    const r = JSON.parse(o.stdout) as Record<string, unknown>;
    const addresses = ["127.0.0.1/8", "192.0.2.1/32", "198.51.100.1/32", "::1/128"];
    expect(r.sequential).toEqual({ links: ["lo"], addresses, routes: expect.any(Number) });
    expect(r.concurrent).toEqual({ ...(r.sequential as object), neighbours: true });
    expect(r.manyAllWhole).toBe(true);
    // Aborted while waiting its turn: rejected with the reason, never sent; its neighbours answered.
    expect(r.abortedInLine).toEqual(["ok", "changed my mind", "ok"]);
    expect(r.zeroTimeout).toBe("SocketTimeoutError");
    expect(r.wholeAfterCancel).toBe(30);
    // The announcements made before the loop (link up, two addresses), then the one made inside it.
    const seen = r.seen as string[];
    expect(seen).toContain("new link lo");
    expect(seen.filter((e) => e.startsWith("new 1"))).toEqual(["new 127.0.0.1", "new 192.0.2.1", "new 198.51.100.1", "new 192.0.2.9"]);
    expect(r.dumpInLoop).toEqual(addresses);
    expect(r.after).toEqual(["lo"]);
    expect(r.closedEvents).toBe("ended");
    expect(r.closedRequest).toBe("EBADF");
  }, 90_000);

  test.skipIf(noNetns !== null)("in a fresh namespace, dumps while another process changes addresses without pause: an interrupted dump (NLM_F_DUMP_INTR) is taken again, and addresses() never lists an entry twice", async () => {
    const o = await run([unshare!, "--net", bun, join(root, "test", "fixtures", "rtdumpintr-netns.ts")], {}, 60_000);
    if (/unshare: .*(Operation not permitted|Permission denied)/.test(o.stderr)) return console.warn(`SKIP: ${o.stderr.trim()}`);
    expect(o.stderr).toBe("");
    const r = JSON.parse(o.stdout) as { rounds: number; plainInterrupted: number; oursInterrupted: number; repeated: number; stableMissing: number };
    // The churn interrupts plain dumps often enough to tell (18-43 of 100 seen here)...
    expect(r.plainInterrupted).toBeGreaterThanOrEqual(5);
    // ... and Rtnetlink's answers far less (0-2 seen; the old code: as often as plain).
    expect(r.oursInterrupted * 3).toBeLessThanOrEqual(r.plainInterrupted);
    expect(r.repeated).toBe(0);
  }, 90_000);

  test.skipIf(noNetns !== null)("in a fresh namespace, under announcement floods by another process: acks still arrive, idle announcements come before ENOBUFS, a loop that breaks leaves the rest, an abort ends a loop with events queued", async () => {
    const o = await run([unshare!, "--net", bun, join(root, "test", "fixtures", "rtevents-netns.ts")], {}, 60_000);
    if (/unshare: .*(Operation not permitted|Permission denied)/.test(o.stderr)) return console.warn(`SKIP: ${o.stderr.trim()}`);
    expect(o.stderr).toBe("");
    const r = JSON.parse(o.stdout) as { ackAfterFlood: string; idle: { yielded: number; end: string }; breakThenAgain: number[]; abortWithQueued: { endedAfterMs: number; taken: number; end: string }; lossAfterBreak: { end: string; after: number } };
    // Requests have a socket of their own: 3000 announcements cannot crowd out the ack.
    expect(r.ackAfterFlood).toBe("resolved");
    // What the kernel kept of 400 (its receive buffer), then the loss.
    expect(r.idle.end).toBe("ENOBUFS");
    expect(r.idle.yielded).toBeGreaterThan(100);
    expect(r.idle.yielded).toBeLessThan(400);
    expect(r.breakThenAgain).toEqual([1, 99]);
    // Aborted at 300 ms with about 120 still queued: ends then, by returning.
    expect(r.abortWithQueued.end).toBe("return");
    expect(r.abortWithQueued.taken).toBeLessThan(150);
    // The loss is reported by the next loop when the one that saw it ended first.
    expect(r.lossAfterBreak.end).toBe("ENOBUFS");
  }, 90_000);
});

describe.skipIf(!linux)("Rtnetlink arguments are checked before anything is sent", () => {
  test("dump types the kernel never answers, and values wider than their fields, are RangeErrors; the object still works after", async () => {
    using rt = Rtnetlink.open();
    for (const [type, family] of [[0, 0], [3, 0], [15, 0], [65554, 0], [NaN, 0], ["x", 0], [18.7, 0], [18, -1], [18, 256], [18, 1.5]] as const) {
      const e = await rt.dump(type as number, family as number, { timeout: 2000 }).then(() => null, (x: unknown) => x);
      expect(typeof type === "string" ? e instanceof TypeError : e instanceof RangeError).toBe(true);
      expect(String((e as Error).message)).toMatch(/^dump: (type|family) must be/);
    }
    await expect(rt.routes("inet", null as never)).rejects.toThrow(/^routes: options must be an object/);
    // Only a GET is dumped: the kernel carries out any other type as a change (RTM_NEWRULE
    // would add a routing rule), so it is refused before anything is sent.
    for (const type of [C.RTM_NEWLINK!, C.RTM_DELADDR!, 32, 33, 35]) {
      await expect(rt.dump(type, 2, { timeout: 2000 })).rejects.toThrow(/^dump: type must be an RTM_GET\* request/);
    }
    await expect(rt.neighbours("x" as never)).rejects.toThrow(/^neighbours: family must be/);
    // Arguments that throw while being read reject: these methods never throw.
    const throwing = { get destination(): string { throw new Error("getter"); } } as never;
    for (const call of [() => rt.addAddress(1, Symbol() as never), () => rt.removeAddress(1, Symbol() as never), () => rt.setLinkUp(Symbol() as never), () => rt.addRoute(throwing), () => rt.removeRoute(throwing)]) {
      let p: Promise<unknown> | undefined;
      expect(() => { p = call(); }).not.toThrow();
      await expect(p!).rejects.toThrow();
    }
    expect((await rt.links({ timeout: 5000 })).length).toBeGreaterThan(0); // nothing was sent, nothing swallowed
  });
});
