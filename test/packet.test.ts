/**
 * AF_PACKET capture: examples/sniff.ts on the loopback interface sees every UDP datagram sent
 * to its port and nothing else (the BPF filter is the kernel's), as many as tcpdump counts on
 * the same traffic where tcpdump is installed; the filter program against frames the kernel
 * really carries; and without CAP_NET_RAW a clear message and exit code 2, no stack trace.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { platform } from "../src/index.ts";
import { attachFilter, bpf, htons16, udpPortFilter } from "../src/linux/packet.ts";
import type { InetAddress } from "../src/core/sockaddr.ts";
import { Socket } from "../src/socket/socket.ts";
import { asNobody, bun, expectNoFdLeaks, nobodyCannotRun, root, run, start } from "./helpers.ts";

expectNoFdLeaks();

const linux = platform.key.startsWith("linux-");
const C = platform.table.constants;
const isRoot = process.getuid?.() === 0;
const tcpdump = Bun.which("tcpdump");
const sniff = join(root, "examples", "sniff.ts");
const reason = !linux ? "Linux only" : !isRoot ? "not root: no CAP_NET_RAW for AF_PACKET" : null;
if (reason) console.warn(`SKIP packet capture tests: ${reason}`);

/**
 * A UDP port held on 127.0.0.1 and ::1 for the test (the datagrams sent to it are delivered and
 * dropped unread): while it is held, no other socket can get it as its ephemeral source port,
 * so no unrelated datagram can match the port filter.
 */
function holdPort(): { port: number } & Disposable {
  for (let i = 0; i < 20; i++) {
    const v4 = new Socket("inet", "dgram");
    v4.bind({ family: "inet", host: "127.0.0.1", port: 0 });
    const { port } = v4.localAddress as InetAddress;
    const v6 = new Socket("inet6", "dgram");
    try {
      v6.bind({ family: "inet6", host: "::1", port });
      return { port, [Symbol.dispose]: () => { v4.close(); v6.close(); } };
    } catch {
      v4.close();
      v6.close();
    }
  }
  throw new Error("no UDP port free on both 127.0.0.1 and ::1");
}

/** Sends `n` datagrams to `port` over IPv4 and IPv6 loopback (alternating), and others elsewhere. */
function sendTraffic(port: number, n: number): void {
  using v4 = new Socket("inet", "dgram");
  using v6 = new Socket("inet6", "dgram");
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) v4.sendTo(`datagram ${i}`, { family: "inet", host: "127.0.0.1", port });
    else v6.sendTo(`datagram ${i}`, { family: "inet6", host: "::1", port });
    v4.sendTo("noise", { family: "inet", host: "127.0.0.1", port: port === 65535 ? 1 : port + 1 });
  }
}

describe.skipIf(reason !== null)("examples/sniff.ts and the BPF filter", () => {
  test("-i lo --udp-port P: every datagram to P, each once, with addresses and ports; no other frame", async () => {
    using held = holdPort();
    const { port } = held;
    const n = 10;
    const capture = start([bun, sniff, "-i", "lo", "-c", String(n), "--udp-port", String(port)], {}, 20_000);
    const td = tcpdump ? start([tcpdump, "-i", "lo", "-n", "-c", String(n), "udp", "port", String(port)], {}, 20_000) : null;
    // Both capture from the moment they say so on stderr (sniff: "capturing on", tcpdump:
    // "listening on"); the helper reads stderr only at exit, so wait by /proc instead: until
    // each has an AF_PACKET socket open (bounded).
    const hasPacketSocket = (pid: number): boolean => {
      try {
        const inodes = new Set(readdirSync(`/proc/${pid}/fd`).map((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`)).filter((l) => l.startsWith("socket:")).map((l) => l.slice(8, -1)));
        return readFileSync("/proc/net/packet", "utf8").split("\n").slice(1).some((row) => inodes.has(row.trim().split(/\s+/)[8] ?? ""));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 200 && !(hasPacketSocket(capture.proc.pid) && (!td || hasPacketSocket(td.proc.pid))); i++) await Bun.sleep(25);
    await Bun.sleep(200); // bound and filtered a moment after the socket exists
    sendTraffic(port, n);
    const o = await capture.done;
    expect(o.code).toBe(0);
    const lines = o.stdout.trim().split("\n");
    expect(lines.length).toBe(n);
    for (const [i, line] of lines.entries()) {
      expect(line).toMatch(i % 2 === 0
        ? new RegExp(`^lo In  IPv4 127\\.0\\.0\\.1\\.\\d+ > 127\\.0\\.0\\.1\\.${port}: UDP, length ${`datagram ${i}`.length}$`)
        : new RegExp(`^lo In  IPv6 ::1\\.\\d+ > ::1\\.${port}: UDP, length ${`datagram ${i}`.length}$`));
    }
    expect(o.stderr).toContain(`${n} frames`);
    if (td) {
      const t = await td.done;
      const theirs = t.stderr.match(/(\d+) packets captured/)?.[1];
      console.log(`sniff.ts ${lines.length} frames, tcpdump ${theirs} packets captured`);
      expect(Number(theirs)).toBe(lines.length);
    } else {
      console.warn("tcpdump not installed: the count is checked against the datagrams sent only");
    }
  });

  test("udpPortFilter in the kernel: a filtered socket receives only its port's UDP frames", () => {
    using held = holdPort();
    const { port } = held;
    using s = new Socket("packet", "raw", 0); // captures nothing until bound
    attachFilter(s, udpPortFilter(port));
    s.bind({ family: "packet", ifindex: 1, protocol: C.ETH_P_ALL! }); // lo is index 1 on Linux
    sendTraffic(port, 4);
    s.timeout = 1000;
    const frames: Uint8Array[] = [];
    try {
      for (let i = 0; i < 20; i++) frames.push(s.recv(65536));
    } catch (e) {
      expect((e as Error).name).toBe("SocketTimeoutError"); // no more frames: the rest were dropped
    }
    // Each datagram seen leaving and arriving on lo: 4 datagrams, 8 frames, all to `port`.
    expect(frames.length).toBe(8);
    for (const f of frames) {
      const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
      const v6 = dv.getUint16(12) === C.ETH_P_IPV6;
      expect(dv.getUint16(14 + (v6 ? 40 : 20) + 2)).toBe(port);
    }
  });

  test("bad programs are refused before the kernel sees them", () => {
    using s = new Socket("packet", "raw", htons16(C.ETH_P_ALL!));
    expect(() => attachFilter(s, [])).toThrow(TypeError);
    expect(() => attachFilter(s, [bpf(0x10000)])).toThrow(RangeError);
    expect(() => attachFilter(s, [bpf(C.BPF_RET! | C.BPF_K!, 0, 256)])).toThrow(RangeError);
    expect(() => attachFilter(s, [bpf(C.BPF_RET! | C.BPF_K!, 2 ** 32)])).toThrow(RangeError);
    // A program the kernel rejects (a jump past the end): EINVAL from setsockopt.
    expect(() => attachFilter(s, [bpf(C.BPF_JMP! | C.BPF_JEQ! | C.BPF_K!, 0, 5, 5)])).toThrow(expect.objectContaining({ code: "EINVAL" }));
  });
});

const dropReason = nobodyCannotRun(sniff);
if (dropReason) console.warn(`SKIP sniff.ts without CAP_NET_RAW: ${dropReason}`);

test.skipIf(dropReason !== null)("without CAP_NET_RAW: a clear message naming the capability, exit code 2, no stack trace", async () => {
  const o = await run([...asNobody, bun, sniff, "-c", "1"], {}, 10_000);
  expect(o.code).toBe(2);
  expect(o.stdout).toBe("");
  expect(o.stderr).toMatch(/^sniff: capturing needs CAP_NET_RAW/);
  expect(o.stderr).not.toContain("    at ");
});
