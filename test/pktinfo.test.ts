/**
 * Packet info (IP_PKTINFO / IPV6_PKTINFO, Linux) on real UDP sockets: the destination address
 * and interface of each datagram in recvMsg (Socket and AsyncSocket, IPv4 and dual-stack IPv6),
 * the source address chosen by sendMsg as a python3 receiver sees it, the case it exists for
 * (a client connected to 127.0.0.5 drops a reply from 127.0.0.1, and gets one sent with
 * `source`), and the errors for sources that are wrong before or in the kernel.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { AsyncSocket } from "../src/async/async.ts";
import { SocketError } from "../src/core/errors.ts";
import { decodePacketInfo, platform } from "../src/index.ts";
import type { Address } from "../src/core/sockaddr.ts";
import { Socket } from "../src/socket/socket.ts";
import { expectNoFdLeaks, start, startWithPort } from "./helpers.ts";

expectNoFdLeaks();

const linux = platform.key.startsWith("linux-");
const python = Bun.which("python3");
const loIndex = linux ? Number(readFileSync("/sys/class/net/lo/ifindex", "utf8")) : 0;
const hasV6Loopback = linux && /^0{31}1 /m.test(readFileSync("/proc/net/if_inet6", "utf8"));
const encoder = new TextEncoder();
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected a throw");
}

/** A wildcard UDP socket (0.0.0.0 or ::) with packet info on; closed by `using`. */
function wildcard(family: "inet" | "inet6"): Socket & { port: number } {
  const s = new Socket(family, "dgram");
  try {
    s.bind({ family, host: family === "inet" ? "0.0.0.0" : "::", port: 0 } as Address);
    s.setOption(family === "inet" ? "receivePacketInfoV4" : "receivePacketInfoV6", true);
    s.timeout = 5000;
  } catch (e) {
    s.close();
    throw e;
  }
  return Object.assign(s, { port: (s.localAddress as { port: number }).port });
}

/**
 * A python3 UDP client bound to `bind` (default any), connected to `host:port`: it sends "ping N"
 * for each N, waits `waitS` for each reply, and prints one line per send: the reply or "timeout".
 */
const PY_CONNECTED_CLIENT = String.raw`
import socket, sys, json
c = json.loads(sys.argv[1])
s = socket.socket(socket.AF_INET6 if ":" in c["host"] else socket.AF_INET, socket.SOCK_DGRAM)
if c.get("bind"): s.bind((c["bind"], 0))
s.connect((c["host"], c["port"]))
s.settimeout(c["waitS"])
for i in range(c["count"]):
    s.send(b"ping %d" % i)
    try: print(s.recv(100).decode())
    except socket.timeout: print("timeout")
`;

/** A python3 receiver on host:0: prints its port, then the sender and bytes of one datagram. */
const PY_RECEIVER = String.raw`
import socket, sys
host = sys.argv[1]
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((host, 0)); s.settimeout(10)
print(s.getsockname()[1], flush=True)
data, addr = s.recvfrom(100)
print(addr[0], addr[1], data.decode())
`;

/** Starts PY_RECEIVER; `result` is its line about the one datagram it gets. */
async function receiver(host: string): Promise<{ port: number; result: Promise<string> }> {
  const { port, rest } = await startWithPort([python!, "-c", PY_RECEIVER, host]);
  return { port, result: rest.then((lines) => lines[0] ?? "") };
}

describe.skipIf(!linux)("recvMsg packetInfo: where each datagram arrived", () => {
  test("IPv4 socket on 0.0.0.0: the address each datagram was sent to, and lo's interface index", () => {
    using rx = wildcard("inet");
    expect(rx.getOption("receivePacketInfoV4")).toBe(true);
    using tx = new Socket("inet", "dgram");
    for (const host of ["127.0.0.1", "127.0.0.5", "127.3.4.5"]) {
      tx.sendTo(encoder.encode(`to ${host}`), { family: "inet", host, port: rx.port });
      const r = rx.recvMsg({ size: 64, packetInfo: true });
      expect(text(r.data)).toBe(`to ${host}`);
      expect(r.packetInfo).toEqual({ family: "ipv4", address: host, destination: host, interfaceIndex: loIndex });
      expect(r.control).toEqual([]); // the packet info is decoded, not left raw
      expect(r.address).toEqual({ family: "inet", host: "127.0.0.1", port: (tx.localAddress as { port: number }).port });
    }
  });

  test("without the option there is no packet info; without room for it the message says so (MSG_CTRUNC)", () => {
    using rx = wildcard("inet");
    using tx = new Socket("inet", "dgram");
    rx.setOption("receivePacketInfoV4", false);
    expect(rx.getOption("receivePacketInfoV4")).toBe(false);
    tx.sendTo(encoder.encode("a"), { family: "inet", host: "127.0.0.5", port: rx.port });
    const off = rx.recvMsg({ size: 8, packetInfo: true });
    expect(off.packetInfo).toBeUndefined();
    expect(off.controlTruncated).toBe(false);
    rx.setOption("receivePacketInfoV4", true);
    tx.sendTo(encoder.encode("b"), { family: "inet", host: "127.0.0.5", port: rx.port });
    const noRoom = rx.recvMsg({ size: 8 });
    expect(text(noRoom.data)).toBe("b");
    expect(noRoom.packetInfo).toBeUndefined();
    expect(noRoom.controlTruncated).toBe(true);
  });

  test.skipIf(!hasV6Loopback)("dual-stack socket on ::: ::1 natively, IPv4 as ::ffff:a.b.c.d", () => {
    using rx = wildcard("inet6");
    expect(rx.getOption("receivePacketInfoV6")).toBe(true);
    using tx6 = new Socket("inet6", "dgram");
    tx6.sendTo(encoder.encode("six"), { family: "inet6", host: "::1", port: rx.port });
    const r6 = rx.recvMsg({ size: 8, packetInfo: true });
    expect(r6.packetInfo).toEqual({ family: "ipv6", address: "::1", destination: "::1", interfaceIndex: loIndex });
    using tx4 = new Socket("inet", "dgram");
    tx4.sendTo(encoder.encode("four"), { family: "inet", host: "127.0.0.6", port: rx.port });
    const r4 = rx.recvMsg({ size: 8, packetInfo: true });
    expect(text(r4.data)).toBe("four");
    expect(r4.packetInfo).toEqual({ family: "ipv6", address: "::ffff:127.0.0.6", destination: "::ffff:127.0.0.6", interfaceIndex: loIndex });
  });

  test.skipIf(!hasV6Loopback)("dual-stack socket with both options: one merged packetInfo, nothing left raw", () => {
    using rx = wildcard("inet6");
    rx.setOption("receivePacketInfoV4", true); // IP_PKTINFO on an AF_INET6 socket applies to its IPv4 datagrams
    using tx = new Socket("inet", "dgram");
    tx.sendTo(encoder.encode("x"), { family: "inet", host: "127.0.0.8", port: rx.port });
    const r = rx.recvMsg({ size: 8, packetInfo: true });
    expect(r.controlTruncated).toBe(false);
    expect(r.packetInfo).toEqual({ family: "ipv6", address: "::ffff:127.0.0.8", destination: "::ffff:127.0.0.8", interfaceIndex: loIndex });
    expect(r.control).toEqual([]);
  });

  // A broadcast's destination can never be a reply's source. IPV6_PKTINFO alone only knows the
  // destination; IP_PKTINFO's ipi_spec_dst knows the interface's address, and wins when both came.
  for (const family of ["inet", "inet6"] as const) {
    test.skipIf(family === "inet6" && !hasV6Loopback)(`${family === "inet" ? "0.0.0.0" : ":: with both options"}: a broadcast to 127.255.255.255 is answered from 127.0.0.1`, () => {
      using rx = wildcard(family);
      if (family === "inet6") rx.setOption("receivePacketInfoV4", true);
      using tx = new Socket("inet", "dgram");
      tx.setOption("broadcast", true);
      tx.timeout = 2000;
      tx.sendTo(encoder.encode("all"), { family: "inet", host: "127.255.255.255", port: rx.port });
      const r = rx.recvMsg({ size: 8, packetInfo: true });
      const mapped = family === "inet6" ? "::ffff:" : "";
      expect(r.packetInfo).toEqual({ family: family === "inet" ? "ipv4" : "ipv6", address: `${mapped}127.0.0.1`, destination: `${mapped}127.255.255.255`, interfaceIndex: loIndex });
      rx.sendMsg({ data: r.data, address: r.address as Address, source: r.packetInfo! });
      expect(text(tx.recvFrom(8)[0])).toBe("all");
    });
  }
});

describe("decodePacketInfo: the exported decoder", () => {
  const L = platform.table.structs.in6_pktinfo;
  test.skipIf(!L || !linux)("a multicast or limited-broadcast destination gives the unspecified address to answer from", () => {
    const message = (addr: number[]): Uint8Array => {
      const b = new Uint8Array(L!.size);
      b.set(addr, L!.fields.ipi6_addr!.offset);
      new DataView(b.buffer).setUint32(L!.fields.ipi6_ifindex!.offset, 7, true);
      return b;
    };
    const level = platform.table.constants.SOL_IPV6!;
    const type = platform.table.constants.IPV6_PKTINFO!;
    const mapped = (a: number[]): number[] => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, ...a];
    expect(decodePacketInfo(level, type, message([0xff, 2, ...Array(13).fill(0), 1]))).toEqual({ family: "ipv6", address: "::", destination: "ff02::1", interfaceIndex: 7 });
    expect(decodePacketInfo(level, type, message(mapped([239, 1, 2, 3])))?.address).toBe("::ffff:0.0.0.0");
    expect(decodePacketInfo(level, type, message(mapped([255, 255, 255, 255])))?.address).toBe("::ffff:0.0.0.0");
    expect(decodePacketInfo(level, type, message(mapped([127, 0, 0, 9])))?.address).toBe("::ffff:127.0.0.9");
    expect(decodePacketInfo(level, type, message([0x20, 1, 0xd, 0xb8, ...Array(11).fill(0), 1]))?.address).toBe("2001:db8::1");
  });

  test.skipIf(!L || !linux)("any ArrayBufferView is read as its bytes; anything else is a TypeError naming data", () => {
    const bytes = new Uint8Array(L!.size);
    bytes.set([0x20, 1, 0xd, 0xb8, ...Array(11).fill(0), 5], L!.fields.ipi6_addr!.offset);
    const level = platform.table.constants.SOL_IPV6!;
    const type = platform.table.constants.IPV6_PKTINFO!;
    const want = decodePacketInfo(level, type, bytes);
    expect(want?.destination).toBe("2001:db8::5");
    expect(decodePacketInfo(level, type, new Uint16Array(bytes.slice().buffer))).toEqual(want);
    expect(decodePacketInfo(level, type, new DataView(bytes.slice().buffer))).toEqual(want);
    expect(decodePacketInfo(level, type, bytes.subarray(0, L!.size - 1))).toBeUndefined(); // too short
    for (const bad of [null, undefined, "x", [1, 2], { byteLength: 20 }]) {
      expect(() => decodePacketInfo(level, type, bad as unknown as Uint8Array)).toThrow(/^decodePacketInfo: data must be/);
    }
  });
});

describe.skipIf(!linux || !python)("sendMsg source: the address a datagram leaves from (python3 receivers)", () => {
  test("IPv4: a text source and { address, interfaceIndex } from a socket bound to 0.0.0.0", async () => {
    using tx = wildcard("inet");
    for (const source of ["127.0.0.5", { address: "127.3.4.5", interfaceIndex: loIndex }] as const) {
      const rx = await receiver("127.0.0.9");
      expect(tx.sendMsg({ data: "hi", address: { family: "inet", host: "127.0.0.9", port: rx.port }, source })).toBe(2);
      const host = typeof source === "string" ? source : source.address;
      expect(await rx.result).toBe(`${host} ${tx.port} hi`);
    }
  });

  test.skipIf(!hasV6Loopback)("dual-stack socket: an IPv4 source reaches an IPv4 peer through its mapped address", async () => {
    using tx = wildcard("inet6");
    const rx = await receiver("127.0.0.9");
    tx.sendMsg({ data: "v4", address: { family: "inet6", host: "::ffff:127.0.0.9", port: rx.port }, source: "127.0.0.6" });
    expect(await rx.result).toBe(`127.0.0.6 ${tx.port} v4`);
  });

  test("a client connected to 127.0.0.5 drops a plain sendTo reply (it comes from 127.0.0.1) and gets one sent with source", async () => {
    using server = wildcard("inet");
    const client = start([python!, "-c", PY_CONNECTED_CLIENT, JSON.stringify({ host: "127.0.0.5", port: server.port, count: 2, waitS: 0.7 })]);
    // First ping: answered as a server without packet info would (the kernel picks 127.0.0.1).
    const first = server.recvMsg({ size: 64, packetInfo: true });
    expect(first.packetInfo?.address).toBe("127.0.0.5");
    server.sendTo(first.data, first.address as Address);
    // Second ping: answered from the address it was sent to.
    const second = server.recvMsg({ size: 64, packetInfo: true });
    server.sendMsg({ data: second.data, address: second.address as Address, source: second.packetInfo! });
    const o = await client.done;
    expect(o.stderr).toBe("");
    expect(o.stdout).toBe("timeout\nping 1\n");
  });

  test("AsyncSocket: recvMsg packetInfo and sendMsg source answer connected clients on three addresses", async () => {
    await using server = AsyncSocket.from(wildcard("inet"));
    const port = (server.localAddress as { port: number }).port;
    const hosts = ["127.0.0.1", "127.0.0.7", "127.42.0.1"];
    const clients = hosts.map((host) => start([python!, "-c", PY_CONNECTED_CLIENT, JSON.stringify({ host, port, count: 2, waitS: 5 })]));
    const seen: string[] = [];
    for (let i = 0; i < hosts.length * 2; i++) {
      const r = await server.recvMsg({ size: 64, packetInfo: true }, { timeout: 10_000 });
      seen.push(r.packetInfo!.address);
      expect(r.packetInfo!.interfaceIndex).toBe(loIndex);
      await server.sendMsg({ data: r.data, address: r.address as Address, source: r.packetInfo! }, { timeout: 1000 });
    }
    expect(seen.sort()).toEqual([...hosts, ...hosts].sort());
    for (const c of clients) expect(await c.done).toMatchObject({ code: 0, stdout: "ping 0\nping 1\n", stderr: "" });
  });
});

describe.skipIf(!linux)("sendMsg source: refused before the kernel, or by it", () => {
  test("a source that is not one of this host's addresses is refused by sendmsg (EINVAL or ENETUNREACH), nothing sent", () => {
    using tx = wildcard("inet");
    using rx = wildcard("inet");
    const to: Address = { family: "inet", host: "127.0.0.1", port: rx.port };
    const e = errorOf(() => tx.sendMsg({ data: "x", address: to, source: "192.0.2.1" }));
    expect(e).toBeInstanceOf(SocketError);
    expect((e as SocketError).syscall).toBe("sendmsg");
    // The route lookup for a foreign source fails: ENETUNREACH on 6.x kernels, EINVAL on older ones.
    expect(["EINVAL", "ENETUNREACH"]).toContain((e as SocketError).code);
    rx.timeout = 100;
    expect(() => rx.recvMsg({ size: 8 })).toThrow(/timed out/);
  });

  test("malformed sources are TypeError/RangeError naming the field", () => {
    using tx = wildcard("inet");
    const to: Address = { family: "inet", host: "127.0.0.1", port: 9 };
    const bad: [unknown, ErrorConstructor | RangeErrorConstructor | TypeErrorConstructor, RegExp][] = [
      ["localhost", TypeError, /not a numeric IPv4 or IPv6 address/],
      ["127.0.0.256", TypeError, /not a numeric/],
      [42, TypeError, /source must be an address string/],
      [null, TypeError, /source must be an address string.*, got null$/],
      [new String("127.0.0.1"), TypeError, /source must be an address string.*, got a String object/],
      [["127.0.0.1"], TypeError, /source must be an address string.*, got an array$/],
      [{ address: 5 }, TypeError, /source\.address must be a string/],
      [{ address: "127.0.0.1", interfaceIndex: -1 }, RangeError, /interfaceIndex/],
      [{ address: "127.0.0.1", interfaceIndex: 1.5 }, RangeError, /interfaceIndex/],
      [{ address: "127.0.0.1", interfaceIndex: 2 ** 31 }, RangeError, /at most 2147483647/],
      ["::1", TypeError, /is IPv6 but the socket is IPv4/],
      ["::1%no-such-if0", TypeError, /^sendMsg: source "::1%no-such-if0" names an unknown network interface/],
      ["::1%-1", RangeError, /^sendMsg: source scope/],
      ["::1%4294967296", RangeError, /^sendMsg: source scope/],
    ];
    for (const [source, type, message] of bad) {
      const e = errorOf(() => tx.sendMsg({ data: "x", address: to, source: source as string }));
      expect(e).toBeInstanceOf(type);
      expect(String((e as Error).message)).toMatch(message);
    }
  });

  test.skipIf(!hasV6Loopback)("IPv6: a zone that disagrees with interfaceIndex is a TypeError; a non-local source EINVAL", () => {
    using tx = wildcard("inet6");
    const to: Address = { family: "inet6", host: "::1", port: 9 };
    expect(() => tx.sendMsg({ data: "x", address: to, source: { address: "::1%lo", interfaceIndex: loIndex + 1 } })).toThrow(/names interface/);
    const e = errorOf(() => tx.sendMsg({ data: "x", address: to, source: "2001:db8::1" }));
    expect((e as SocketError).code).toBe("EINVAL");
  });
});

describe.skipIf(!linux)("sendMsg source and recvMsg packetInfo: refused where the kernel would ignore them", () => {
  test("a source on a TCP or unix socket is a TypeError, nothing sent", async () => {
    using listener = new Socket("inet", "stream");
    listener.bind({ family: "inet", host: "127.0.0.1", port: 0 });
    listener.listen(1);
    using tcp = new Socket("inet", "stream");
    tcp.connect(listener.localAddress as Address);
    using conn = listener.accept()[0];
    expect(() => tcp.sendMsg({ data: "x", source: "127.0.0.1" })).toThrow(/^sendMsg: source needs an IPv4 or IPv6 datagram or raw socket/);
    const [a, b] = Socket.pair("unix", "dgram");
    using _a = a;
    using _b = b;
    expect(() => a.sendMsg({ data: "x", source: "127.0.0.1" })).toThrow(TypeError);
    await using asyncTcp = await AsyncSocket.connect(listener.localAddress as Address);
    await expect(asyncTcp.sendMsg({ data: "x", source: "127.0.0.1" })).rejects.toThrow(/source needs an IPv4 or IPv6 datagram/);
    conn.timeout = 50;
    expect(() => conn.recv(8)).toThrow(/timed out/);
    using conn2 = listener.accept()[0];
    conn2.timeout = 50;
    expect(() => conn2.recv(8)).toThrow(/timed out/);
    b.timeout = 50;
    expect(() => b.recv(8)).toThrow(/timed out/);
  });

  test("recvMsg's room switches must be booleans (\"false\" is not false)", () => {
    using rx = wildcard("inet");
    for (const name of ["packetInfo", "timestamp", "credentials", "segmentSize"]) {
      expect(() => rx.recvMsg({ size: 8, [name]: "false" })).toThrow(new RegExp(`^recvMsg: ${name} must be a boolean, got string`));
    }
  });
});

describe("the exported decoders read only the view's own memory", () => {
  test("a Uint8Array with a shadowed byteLength is read by its real length (nothing past it)", async () => {
    const { decodeTimestamp } = await import("../src/socket/msg.ts");
    const { decodeZeroCopy } = await import("../src/linux/zerocopy.ts");
    const C = platform.table.constants;
    const backing = new Uint8Array(256).fill(0x7f);
    const short = backing.subarray(0, 4);
    Object.defineProperty(short, "byteLength", { value: 200 });
    expect(short.byteLength).toBe(200);
    if (C.SOL_IPV6 !== null) expect(decodePacketInfo(C.SOL_IPV6, C.IPV6_PKTINFO, short)).toBeUndefined();
    if (C.SOL_IP !== null && C.IP_PKTINFO !== null) expect(decodePacketInfo(C.SOL_IP, C.IP_PKTINFO, short)).toBeUndefined();
    expect(decodeTimestamp(C.SOL_SOCKET, C.SO_TIMESTAMP ?? 29, short)).toBeUndefined();
    if (C.SOL_IP !== null && C.IP_RECVERR !== null) expect(decodeZeroCopy(C.SOL_IP, C.IP_RECVERR, short)).toBeUndefined();
  });
});
