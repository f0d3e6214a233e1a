/**
 * The fuzz targets of fuzz/ (sockaddr packers/parsers, option codecs, control messages) with a
 * CI-sized number of generated inputs each. `npm run fuzz` runs the same targets with 10^6.
 *
 * BSDSOCK_FUZZ_RUNS=N (default 500) and BSDSOCK_FUZZ_SEED=S (default fixed) to vary.
 * Bugs the fuzzers found are kept at the end as regression tests.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { table } from "../ffi/platform.ts";
import { decodeAddress, SOCKADDR_MAX } from "../src/core/sockaddr.ts";
import { Socket } from "../src/socket/socket.ts";
import { makeContext, targets } from "../fuzz/targets.ts";
import { expectNoFdLeaks } from "./helpers.ts";

expectNoFdLeaks();

const C = table.constants;
const envInt = (name: string, dflt: number): number => {
  const v = Number(process.env[name]);
  return Number.isSafeInteger(v) && v > 0 ? v : dflt;
};
const RUNS = envInt("BSDSOCK_FUZZ_RUNS", 500);
const SEED = envInt("BSDSOCK_FUZZ_SEED", 0x0b5d50c);


describe("fuzz targets (fast-check)", () => {
  for (const t of targets) {
    test(`${t.name}: ${t.doc}`, () => {
      // A failure throws with the shrunk counterexample, the seed and the replay path.
      const ctx = makeContext();
      try {
        fc.assert(t.make(ctx), { numRuns: RUNS, seed: SEED, interruptAfterTimeLimit: 10_000, markInterruptAsFailure: true });
      } finally {
        ctx.close();
      }
    });
  }

  test("there is a target for every packer/parser, codec and control-message decoder", () => {
    const names = targets.map((t) => t.name).join(" ");
    for (const area of ["inet.", "inet6.", "ipv4.parse", "ipv6.parse", "unix.path", "unix.abstract", "unix.unnamed", "decode.garbage",
      "decoder.cache", "encoder.cache", "options.bool", "options.int", "options.linger", "options.timeval", "options.ucred",
      "options.string", "options.inAddr", "options.membershipV4", "options.membershipV6", "options.tcpInfo", "decode.poison",
      "walkControl", "encodeControl", "msg.fds", "scatter-gather", "msg.timestamp.decode", "netlink.parseMessages", "netlink.parseAttributes", "netlink.decode"]) {
      expect(names).toContain(area);
    }
  });
});

// --- regressions: bugs the fuzzers found, fixed ------------------------------------------------------

describe("found by fuzzing (fixed)", () => {
  // decodeAddress once clamped `len` with Math.min only: a negative length read everything but
  // the last byte, and NaN read the family from outside the length.
  test("decodeAddress with a negative length reads nothing", () => {
    const b = new Uint8Array(SOCKADDR_MAX).fill(0xee);
    const r = decodeAddress(b, -1) as { bytes?: Uint8Array };
    expect(r.bytes?.length ?? 0).toBe(0);
  });
  test("decodeAddress with a NaN length reads nothing (not even the family)", () => {
    const b = new Uint8Array(SOCKADDR_MAX);
    new DataView(b.buffer).setUint16(0, C.AF_UNIX, true);
    expect(decodeAddress(b, NaN)).toEqual({ family: C.AF_UNSPEC, bytes: new Uint8Array(0) });
  });

  // The empty abstract name is a real, distinct address on Linux (getsockname reports the
  // family and one NUL); it once decoded as the unnamed address.
  test("abstract name \"\" round-trips through bind/getsockname", () => {
    using s = new Socket("unix", "dgram");
    s.bind({ family: "unix", abstract: "" });
    expect(s.localAddress).toEqual({ family: "unix", abstract: new Uint8Array(0) });
  });
});
