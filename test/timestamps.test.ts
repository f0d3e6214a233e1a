/**
 * Kernel receive timestamps (SO_TIMESTAMP, SO_TIMESTAMPNS, SO_TIMESTAMPING software stamps),
 * decoded from recvMsg control messages on real UDP sockets and compared with the wall clock;
 * the decoder against control messages built byte by byte from the table's layouts; and
 * examples/ping.ts's round-trip times from kernel stamps against iputils ping in the same run.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { AsyncSocket } from "../src/async/async.ts";
import { platform } from "../src/index.ts";
import { decodeTimestamp, timestampMs, type KernelTimestamp, type RecvMsgResult } from "../src/socket/msg.ts";
import type { Address } from "../src/core/sockaddr.ts";
import { Socket } from "../src/socket/socket.ts";
import { bun, expectNoFdLeaks, root, run } from "./helpers.ts";

expectNoFdLeaks();

const T = platform.table;
const C = T.constants;
const LE = T.expressions.LITTLE_ENDIAN === 1;
const linux = platform.key.startsWith("linux-");

/** Writes an 8-byte or 4-byte signed integer field. */
function put(dv: DataView, offset: number, size: number, v: number): void {
  if (size === 8) dv.setBigInt64(offset, BigInt(v), LE);
  else dv.setInt32(offset, v, LE);
}

describe("decodeTimestamp (control messages built from the table's layouts)", () => {
  test("SCM_TIMESTAMP carries a struct timeval: microseconds become nanoseconds", () => {
    const tv = T.structs.timeval;
    const b = new Uint8Array(tv.size);
    const dv = new DataView(b.buffer);
    put(dv, tv.fields.tv_sec.offset, tv.fields.tv_sec.size, 1_700_000_000);
    put(dv, tv.fields.tv_usec.offset, tv.fields.tv_usec.size, 123_456);
    expect(decodeTimestamp(C.SOL_SOCKET, C.SCM_TIMESTAMP!, b)).toEqual({ seconds: 1_700_000_000, nanoseconds: 123_456_000, source: "timestamp" });
    expect(decodeTimestamp(C.SOL_SOCKET, C.SCM_TIMESTAMP!, b.subarray(0, tv.size - 1))).toBeUndefined(); // short: not read
    expect(decodeTimestamp(C.IPPROTO_IP, C.SCM_TIMESTAMP!, b)).toBeUndefined(); // another level
  });

  test.skipIf(!linux)("SCM_TIMESTAMPNS (struct timespec) and SCM_TIMESTAMPING (software stamp first, else hardware)", () => {
    const ts = T.structs.timespec;
    const one = new Uint8Array(ts.size);
    const dv = new DataView(one.buffer);
    put(dv, ts.fields.tv_sec.offset, ts.fields.tv_sec.size, 42);
    put(dv, ts.fields.tv_nsec.offset, ts.fields.tv_nsec.size, 999_999_999);
    expect(decodeTimestamp(C.SOL_SOCKET, C.SCM_TIMESTAMPNS!, one)).toEqual({ seconds: 42, nanoseconds: 999_999_999, source: "timestampNs" });
    const three = new Uint8Array(T.structs.scm_timestamping!.size);
    three.set(one, 2 * ts.size); // only the hardware stamp set
    expect(decodeTimestamp(C.SOL_SOCKET, C.SCM_TIMESTAMPING!, three)).toEqual({ seconds: 42, nanoseconds: 999_999_999, source: "timestamping" });
    three.set(one.map((x, i) => (i === ts.fields.tv_sec.offset ? 7 : 0)), 0); // a software stamp of 7 s wins
    expect(decodeTimestamp(C.SOL_SOCKET, C.SCM_TIMESTAMPING!, three)?.seconds).toBe(7);
    expect(decodeTimestamp(C.SOL_SOCKET, C.SCM_TIMESTAMPING!, new Uint8Array(three.length))).toBeUndefined(); // no stamp set
  });
});

describe.skipIf(!linux)("receive timestamps on real UDP sockets", () => {
  const cases = [
    { option: "timestamp" as const, value: true, source: "timestamp" as const },
    { option: "timestampNs" as const, value: true, source: "timestampNs" as const },
    { option: "timestamping" as const, value: (C.SOF_TIMESTAMPING_RX_SOFTWARE ?? 0) | (C.SOF_TIMESTAMPING_SOFTWARE ?? 0), source: "timestamping" as const },
  ];
  for (const c of cases) {
    test(`${c.option}: the stamp is the wall-clock time of arrival (within the send→recv window)`, async () => {
      using rx = new Socket("inet", "dgram");
      rx.bind({ family: "inet", host: "127.0.0.1", port: 0 });
      rx.setOption(c.option, c.value as never);
      using tx = new Socket("inet", "dgram");
      rx.timeout = 2000;
      // The kernel turns receive stamping on asynchronously (a static key flipped from a work
      // queue): SO_TIMESTAMPING's software stamps, which have no fallback, may miss the first
      // packets after the option is set. Send until one is stamped (bounded).
      let m: RecvMsgResult | undefined;
      let before = 0;
      let after = 0;
      for (let i = 0; i < 50; i++) {
        before = Date.now();
        tx.sendTo("stamp me", rx.localAddress as Address);
        m = rx.recvMsg({ size: 64, timestamp: true });
        after = Date.now();
        if (m.timestamp !== undefined) break;
        Bun.sleepSync(2);
      }
      if (!m) throw new Error("nothing received");
      expect(new TextDecoder().decode(m.data)).toBe("stamp me");
      const t = m.timestamp as KernelTimestamp;
      expect(t.source).toBe(c.source);
      expect(t.nanoseconds).toBeGreaterThanOrEqual(0);
      expect(t.nanoseconds).toBeLessThan(1e9);
      expect(timestampMs(t)).toBeGreaterThanOrEqual(before - 1); // Date.now() is in whole ms
      expect(timestampMs(t)).toBeLessThanOrEqual(after + 1);
      expect(m.control).toEqual([]); // decoded, not left raw
    });
  }

  test("on the async API too", async () => {
    const [a, b] = [new AsyncSocket("inet6", "dgram"), new AsyncSocket("inet6", "dgram")];
    try {
      b.bind({ family: "inet6", host: "::1", port: 0 });
      b.setOption("timestampNs", true);
      const pending = b.recvMsg({ size: 16, timestamp: true }, { timeout: 2000 });
      await a.sendTo("x", b.localAddress as Address);
      expect((await pending).timestamp?.source).toBe("timestampNs");
    } finally {
      a.close();
      b.close();
    }
  });
});

const iputils = Bun.which("ping");
const canRaw = process.getuid?.() === 0;
if (!iputils) console.warn("SKIP ping.ts against iputils: iputils ping is not installed (.ci/run installs it)");

/** The statistics lines (from "--- HOST ping statistics ---" on) with every number as N. */
function statisticsShape(stdout: string): string[] {
  const lines = stdout.trimEnd().split("\n");
  const at = lines.findIndex((l) => / ping statistics ---$/.test(l));
  return lines.slice(at).map((l) => l.replace(/\d+(\.\d+)?/g, "N"));
}

describe.skipIf(!linux || !canRaw)("examples/ping.ts round-trip times from kernel timestamps", () => {
  const rtts = (out: string): number[] => [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));

  for (const host of ["127.0.0.1", "::1"]) {
    test(`${host}: every time is kernel to kernel (transmit stamp from the error queue, receive stamp), none falls back`, async () => {
      const o = await run([bun, join(root, "examples", "ping.ts"), "-c", "5", "-i", "0.05", ...(host === "::1" ? ["-6"] : []), host], {}, 15_000);
      expect(o.stderr).toBe("");
      expect(o.code).toBe(0);
      expect(o.stdout.split("\n")[0]).toBe(`PING ${host} (${host}) 56 data bytes, raw ICMP socket, kernel transmit and receive timestamps`);
      expect(o.stdout).not.toContain("no kernel stamp");
      const ours = rtts(o.stdout);
      expect(ours.length).toBe(5);
      for (const t of ours) expect(t).toBeGreaterThan(0); // a transmit stamp after the receive stamp would be a wrong match
    });

    test.skipIf(!iputils)(`${host}: the statistics lines have iputils ping's format exactly`, async () => {
      const args = ["-c", "3", "-i", "0.2", ...(host === "::1" ? ["-6"] : []), host];
      const [ours, theirs] = await Promise.all([
        run([bun, join(root, "examples", "ping.ts"), ...args], {}, 15_000),
        run([iputils!, ...args], {}, 15_000),
      ]);
      expect(theirs.code).toBe(0);
      expect(statisticsShape(ours.stdout)).toEqual(statisticsShape(theirs.stdout));
      expect(ours.stdout).toContain(`--- ${host} ping statistics ---`);
      expect(statisticsShape(ours.stdout).slice(1)).toEqual([
        "N packets transmitted, N received, N% packet loss, time Nms",
        "rtt min/avg/max/mdev = N/N/N/N ms",
      ]);
    });
  }
});
