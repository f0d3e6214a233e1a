/**
 * Socket.sendSegments on real sockets: one buffer leaves as consecutive datagrams of
 * segmentSize bytes (the last takes the rest), over UDP v4/v6 by segmentation offload
 * (UDP_SEGMENT, proven by a python3 receiver with UDP_GRO seeing one coalesced buffer) and over
 * unix datagram sockets by sendmmsg batches; chunking at 64 segments and at 65 507 bytes per
 * call, connected sockets, errors with bytesSent, hostile arguments refused before any syscall.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { SocketError } from "../src/core/errors.ts";
import { kernelHasUdpSegment, MAX_SEGMENTS, MAX_SEND_BYTES } from "../src/linux/gso.ts";
import type { Address } from "../src/core/sockaddr.ts";
import { Socket } from "../src/socket/socket.ts";
import { table } from "../ffi/platform.ts";
import { expectNoFdLeaks, ownSockets, scratchDir, start } from "./helpers.ts";

expectNoFdLeaks();
const own = ownSockets();
const dir = scratchDir();
const python = Bun.which("python3");
const linux = process.platform === "linux";
const C = table.constants;

/** `n` bytes, byte i = i mod 251 (a prime, so no two segments of a sane size look alike). */
const pattern = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i % 251);

/** A bound receiver (2 s timeout: a bug fails the test, never hangs it) and a sender. */
function pairOf(kind: "inet" | "inet6" | "unix", name: string): { rx: Socket; tx: Socket; to: Address } {
  const addr: Address = kind === "unix" ? { family: "unix", path: join(dir, `${name}.sock`) }
    : kind === "inet" ? { family: "inet", host: "127.0.0.1", port: 0 } : { family: "inet6", host: "::1", port: 0 };
  const rx = own(new Socket(kind, "dgram"));
  rx.bind(addr);
  rx.timeout = 2000;
  const tx = own(new Socket(kind, "dgram"));
  return { rx, tx, to: rx.localAddress as Address };
}

/** Receives `n` datagrams (one recv each), returning their lengths and bytes joined. */
function receive(rx: Socket, n: number): { lengths: number[]; joined: Uint8Array } {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < n; i++) parts.push(rx.recv(70_000));
  const joined = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { joined.set(p, o); o += p.length; }
  return { lengths: parts.map((p) => p.length), joined };
}

/** After the expected datagrams, nothing else is queued. */
function expectEmpty(rx: Socket): void {
  rx.timeout = 0;
  let err: unknown;
  try { rx.recv(16); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(SocketError);
  expect((err as SocketError).code).toBe("EAGAIN");
}

for (const kind of ["inet", "inet6", "unix"] as const) {
  describe(`${kind} dgram`, () => {
    test("1037 bytes in segments of 100: ten datagrams of 100 and one of 37, in order", () => {
      const { rx, tx, to } = pairOf(kind, "short-last");
      const data = pattern(1037);
      expect(tx.sendSegments(data, 100, to)).toBe(1037);
      const got = receive(rx, 11);
      expect(got.lengths).toEqual([...Array(10).fill(100), 37]);
      expect(got.joined).toEqual(data);
      expectEmpty(rx);
    });

    test("a string is sent as its UTF-8 bytes; one segment is an ordinary datagram", () => {
      const { rx, tx, to } = pairOf(kind, "string");
      expect(tx.sendSegments("añb", 2, to)).toBe(4); // "a", 0xc3 0xb1, "b"... split bytewise
      expect(tx.sendSegments("single", 100, to)).toBe(6);
      const got = receive(rx, 3);
      expect(got.lengths).toEqual([2, 2, 6]);
      expect(new TextDecoder().decode(got.joined)).toBe("añbsingle");
      expectEmpty(rx);
    });

    test("empty data sends nothing and returns 0", () => {
      const { rx, tx, to } = pairOf(kind, "empty");
      expect(tx.sendSegments(new Uint8Array(0), 10, to)).toBe(0);
      expect(tx.sendSegments("", 10, to)).toBe(0);
      expectEmpty(rx);
    });

    test("a connected socket needs no address; an unconnected one without it is EDESTADDRREQ (or ENOTCONN) with bytesSent 0", () => {
      const { rx, tx, to } = pairOf(kind, "connected");
      let err: unknown;
      try { tx.sendSegments(pattern(30), 10); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(SocketError);
      expect(["EDESTADDRREQ", "ENOTCONN"]).toContain((err as SocketError).code);
      expect((err as SocketError).bytesSent).toBe(0);
      tx.connect(to);
      expect(tx.sendSegments(pattern(30), 10)).toBe(30);
      expect(receive(rx, 3).lengths).toEqual([10, 10, 10]);
      expectEmpty(rx);
    });

    test("the address is read once per call, as by one sendTo, however many chunks or batches it takes", () => {
      const { rx, tx, to } = pairOf(kind, "getters");
      let reads = 0;
      const counted = (): Address => new Proxy(to, { get(t, k, r) { if (k === "family") reads++; return Reflect.get(t, k, r); } });
      expect(tx.sendTo(pattern(4), counted())).toBe(4); // what one encoding reads
      const perEncoding = reads;
      expect(perEncoding).toBeGreaterThan(0);
      receive(rx, 1);
      reads = 0;
      const count = kind === "unix" ? 8 : 150; // unix receivers queue max_dgram_qlen (10) at a time
      expect(tx.sendSegments(pattern(count * 4), 4, counted())).toBe(count * 4);
      expect(reads).toBe(perEncoding);
      expect(receive(rx, count).joined).toEqual(pattern(count * 4));
    });
  });
}

describe("UDP chunking", () => {
  test(`more than ${MAX_SEGMENTS} segments: 200 datagrams of 64 B, intact and in order`, () => {
    const { rx, tx, to } = pairOf("inet", "many");
    const data = pattern(200 * 64);
    expect(tx.sendSegments(data, 64, to)).toBe(200 * 64);
    const got = receive(rx, 200);
    expect(got.lengths).toEqual(Array(200).fill(64));
    expect(got.joined).toEqual(data);
    expectEmpty(rx);
  });

  test(`more than ${MAX_SEND_BYTES} bytes: 47 datagrams of 1400 B (46 fit one call) arrive whole`, () => {
    const { rx, tx, to } = pairOf("inet6", "bytes");
    const data = pattern(47 * 1400);
    expect(data.length).toBeGreaterThan(MAX_SEND_BYTES);
    expect(tx.sendSegments(data, 1400, to)).toBe(data.length);
    const got = receive(rx, 47);
    expect(got.lengths).toEqual(Array(47).fill(1400));
    expect(got.joined).toEqual(data);
    expectEmpty(rx);
  });

  test("a single segment larger than a UDP datagram can be is EMSGSIZE, bytesSent 0", () => {
    const { rx, tx, to } = pairOf("inet", "too-big");
    let err: unknown;
    try { tx.sendSegments(pattern(65_535), 65_535, to); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(SocketError);
    expect((err as SocketError).code).toBe("EMSGSIZE");
    expect((err as SocketError).bytesSent).toBe(0);
    expectEmpty(rx);
  });
});

describe("with a udpSegment socket option", () => {
  test.skipIf(!linux || !kernelHasUdpSegment())("sendSegments' own segment size wins, and a one-segment send stays one datagram", () => {
    const { rx, tx, to } = pairOf("inet", "sockopt");
    tx.setOption("udpSegment", 7);
    expect(tx.sendSegments(pattern(300), 1000, to)).toBe(300); // one segment: not cut into 7s
    expect(tx.sendSegments(pattern(1037), 100, to)).toBe(1037);
    const got = receive(rx, 12);
    expect(got.lengths).toEqual([300, ...Array(10).fill(100), 37]);
    expectEmpty(rx);
  });
});

describe("when the kernel refuses the offload", () => {
  test.skipIf(!linux || !kernelHasUdpSegment())("SO_NO_CHECK makes UDP_SEGMENT EINVAL: sendSegments falls back to batches, same datagrams", () => {
    const { rx, tx, to } = pairOf("inet", "nocheck");
    tx.setRawOption(C.SOL_SOCKET, C.SO_NO_CHECK!, 1);
    // the kernel's answer to a segmented send on this socket (what sendSegments must absorb)
    const refused = (() => {
      try { tx.sendMsg({ data: pattern(300), address: to, segmentSize: 100 }); return "sent"; } catch (e) { return (e as SocketError).code; }
    })();
    expect(refused).toBe("EINVAL");
    const data = pattern(70 * 64 + 5); // 71 datagrams: two batches per call
    expect(tx.sendSegments(data, 64, to)).toBe(data.length);
    expect(tx.sendSegments(data, 64, to)).toBe(data.length); // and again, straight to batches
    const got = receive(rx, 142);
    expect(got.lengths).toEqual([...Array(70).fill(64), 5, ...Array(70).fill(64), 5]);
    expect(got.joined).toEqual(new Uint8Array([...data, ...data]));
    expectEmpty(rx);
  });
});

describe("arguments", () => {
  test("a bad segmentSize is a TypeError or RangeError before any syscall; a closed socket is EBADF", () => {
    const { rx, tx, to } = pairOf("inet", "args");
    const kinds = (v: unknown): string => {
      try { tx.sendSegments("abc", v as number, to); return "sent"; } catch (e) { return (e as Error).constructor.name; }
    };
    for (const v of [0, -1, 65_536, 2 ** 32, 1.5, NaN, Infinity]) expect([v, kinds(v)]).toEqual([v, "RangeError"]);
    for (const v of ["10", null, undefined, {}, 10n]) expect([String(v), kinds(v)]).toEqual([String(v), "TypeError"]);
    expectEmpty(rx);
    tx.close();
    let err: unknown;
    try { tx.sendSegments("abc", 1, to); } catch (e) { err = e; }
    expect((err as SocketError).code).toBe("EBADF");
  });
});

// UDP_GRO on the receiver coalesces a segmented send back into one buffer (with its gso_size in
// a control message) — only possible if the datagrams left as one segmented send. Separate
// sendto calls would arrive as separate datagrams.
const groSkip = !python ? "no python3 on PATH" : !linux ? "UDP_SEGMENT/UDP_GRO are Linux's" : !kernelHasUdpSegment() ? "kernel without UDP_SEGMENT (before 4.18)" : null;
if (groSkip) console.log(`segmentation-offload proof skipped: ${groSkip}`);

test.skipIf(groSkip !== null)("python3 receiver with UDP_GRO gets 64 segments of 100 B as ONE coalesced buffer: UDP_SEGMENT was used", async () => {
  const portFile = join(dir, "gro.port");
  const script = `
import os, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(17, 104, 1)  # SOL_UDP, UDP_GRO
s.bind(("127.0.0.1", 0))
s.settimeout(5)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
data, anc, flags, addr = s.recvmsg(70000, socket.CMSG_SPACE(4))
gso = [struct.unpack("i", d[:4])[0] for (lvl, typ, d) in anc if (lvl, typ) == (17, 104)]
print(len(data), gso[0] if gso else 0, data == bytes(i % 251 for i in range(6400)))
`;
  const py = start([python!, "-c", script, portFile], {}, 10_000);
  try {
    let port = 0;
    for (let i = 0; i < 200 && !port; i++) {
      const f = Bun.file(portFile);
      if (await f.exists()) port = Number(await f.text());
      else await Bun.sleep(25);
    }
    expect(port).toBeGreaterThan(0);
    const tx = own(new Socket("inet", "dgram"));
    expect(tx.sendSegments(pattern(6400), 100, { family: "inet", host: "127.0.0.1", port })).toBe(6400);
    const out = await py.done;
    expect(out.code).toBe(0);
    expect(out.stdout.trim()).toBe("6400 100 True");
  } finally {
    py.proc.kill();
  }
});
