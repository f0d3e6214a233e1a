/**
 * Fuzz targets for the option codecs of src/socket/options.ts: encode → decode round trips on arbitrary
 * valid values, the exact error class for invalid ones (TypeError: wrong kind; RangeError: out
 * of range), encode writing nothing past the length it returns, decode of any length ≤ size
 * never reading past it (poisoned bytes beyond it change nothing), and a kernel round trip
 * (setsockopt → getsockopt) for options whose value the kernel keeps exactly.
 */
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { table } from "../ffi/platform.ts";
import { SocketError } from "../src/core/errors.ts";
import {
  bool, inAddr, int, linger, membershipV4, membershipV6, string, tcpInfo, timeval, ucred, uint, type Codec,
} from "../src/socket/options.ts";
import { formatIP, interfaceIndex, parseIPv4, parseIPv6 } from "../src/core/sockaddr.ts";
import { Socket } from "../src/socket/socket.ts";
import { eq, ok, onlyCheckErrors, outcome, sameOutcome, show } from "./check.ts";
import type { Target } from "./context.ts";
import { usv } from "./sockaddr.ts";

const S = table.structs;
const POISON = 0x5a;
const I32_MIN = -0x80000000;
const I32_MAX = 0x7fffffff;
const U32_MAX = 0xffffffff;

/** Encodes into a zeroed buffer of codec.size followed by poison; returns the bytes and length. */
function encodeChecked<T>(codec: Codec<T>, value: T): { out: Uint8Array; view: DataView; len: number } {
  const out = new Uint8Array(codec.size + 16);
  out.fill(POISON, codec.size);
  const view = new DataView(out.buffer);
  const len = codec.encode("fuzz", value, out, view);
  ok(Number.isInteger(len) && len >= 0 && len <= codec.size, `${codec.name}: encode returned ${len} (size ${codec.size})`);
  for (let i = len; i < codec.size; i++) ok(out[i] === 0, `${codec.name}: encode wrote byte ${i} past its length ${len}`);
  for (let i = codec.size; i < out.length; i++) ok(out[i] === POISON, `${codec.name}: encode wrote byte ${i} past the codec size ${codec.size}`);
  return { out, view, len };
}

function roundTrip<T>(codec: Codec<T>, value: T): T {
  const { out, view, len } = encodeChecked(codec, value);
  return codec.decode("fuzz", out, view, len);
}

/** The class encode must throw for `v`, or null if `v` is valid (a model of the codec's checks). */
type Model = (v: unknown) => "TypeError" | "RangeError" | null;

function checkInvalid<T>(codec: Codec<T>, v: unknown, model: Model): void {
  const want = model(v);
  const got = outcome(() => encodeChecked(codec, v as T));
  onlyCheckErrors(got, `${codec.name}: encode(${show(v)})`);
  if (want === null) ok(got.ok, `${codec.name}: encode refused the valid ${show(v)}: ${got.ok ? "" : String(got.error)}`);
  else ok(!got.ok && got.kind === want, `${codec.name}: encode(${show(v)}) should throw ${want}, ${got.ok ? "returned" : `threw ${got.kind}`}`);
}

const intModel = (min: number, max: number): Model => (v) =>
  typeof v !== "number" ? "TypeError" : !Number.isInteger(v) || v < min || v > max ? "RangeError" : null;

/** Values of every kind, with numbers near the C type boundaries. */
const junk = fc.oneof(
  fc.constantFrom<unknown>(null, undefined, true, false, "", "1", "0x10", [], {}, [1], NaN, Infinity, -Infinity, -0, 0.5, 1.5, -1,
    2 ** 31, 2 ** 31 - 1, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32, 2 ** 32 - 1, 2 ** 53, 1n, Symbol.iterator, () => 1, new Uint8Array(4), new Date(0)),
  fc.double(),
  fc.integer(),
  fc.string({ maxLength: 8 }),
  fc.bigInt(),
  fc.object({ maxDepth: 1 }),
);

const multicastV4 = fc.tuple(fc.integer({ min: 224, max: 239 }), fc.uint8Array({ minLength: 3, maxLength: 3 })).map(([a, r]) => `${a}.${r[0]}.${r[1]}.${r[2]}`);
const ipv4Text = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => formatIP(b));
const multicastV6 = fc.uint8Array({ minLength: 15, maxLength: 15 }).map((r) => formatIP(Uint8Array.of(0xff, ...r)));
const LO = interfaceIndex("lo");

/** Every codec instance, for the generic decode fuzz. */
const allCodecs: [string, Codec<unknown>][] = [
  ["bool", bool], ["int()", int()], ["int(0,255)", int(0, 255)], ["uint()", uint()], ["linger", linger], ["timeval", timeval],
  ["ucred", ucred], ["string(15,false)", string(15, false)], ["string(15,true)", string(15, true)], ["inAddr", inAddr],
  ["membershipV4", membershipV4], ["membershipV6", membershipV6], ["tcpInfo", tcpInfo],
] as [string, Codec<unknown>][];

export const optionTargets: Target[] = [
  {
    name: "options.bool",
    doc: "booleans round-trip; anything else is a TypeError",
    kernel: false,
    make: () => fc.property(fc.boolean(), junk, (b, v) => {
      eq(roundTrip(bool, b), b, "bool round trip");
      checkInvalid(bool, v, (x) => (typeof x === "boolean" ? null : "TypeError"));
    }),
  },
  {
    name: "options.int",
    doc: "int(min,max) and uint(min,max) for arbitrary bounds: values in range round-trip; non-numbers TypeError; non-integers and out-of-range RangeError",
    kernel: false,
    make: () => fc.property(
      fc.tuple(fc.integer({ min: I32_MIN, max: I32_MAX }), fc.integer({ min: I32_MIN, max: I32_MAX })).map(([a, b]): [number, number] => (a <= b ? [a, b] : [b, a])),
      fc.tuple(fc.integer({ min: 0, max: U32_MAX }), fc.integer({ min: 0, max: U32_MAX })).map(([a, b]): [number, number] => (a <= b ? [a, b] : [b, a])),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.oneof(junk, fc.integer({ min: I32_MIN, max: I32_MAX })),
      ([lo, hi], [ulo, uhi], t, v) => {
        const c = int(lo, hi);
        const x = Math.min(hi, lo + Math.floor(t * (hi - lo + 1)));
        eq(roundTrip(c, x), x, `int(${lo},${hi}) round trip of ${x}`);
        checkInvalid(c, v, intModel(lo, hi));
        const u = uint(ulo, uhi);
        const y = Math.min(uhi, ulo + Math.floor(t * (uhi - ulo + 1)));
        eq(roundTrip(u, y), y, `uint(${ulo},${uhi}) round trip of ${y}`);
        checkInvalid(u, v, intModel(ulo, uhi));
      },
    ),
  },
  {
    name: "options.linger",
    doc: "{ onoff, seconds ∈ [0, 2^31-1] } round-trips; wrong shapes TypeError, bad seconds RangeError",
    kernel: false,
    make: () => fc.property(
      fc.record({ onoff: fc.boolean(), seconds: fc.integer({ min: 0, max: I32_MAX }) }),
      fc.oneof(junk, fc.record({ onoff: fc.oneof(fc.boolean(), junk), seconds: fc.oneof(junk, fc.integer({ min: -5, max: I32_MAX })) })),
      (v, bad) => {
        eq(roundTrip(linger, v), v, "linger round trip");
        checkInvalid(linger, bad, (x) => {
          if (x === null || typeof x !== "object") return "TypeError";
          const o = x as Record<string, unknown>;
          if (typeof o.onoff !== "boolean") return "TypeError";
          return intModel(0, I32_MAX)(o.seconds);
        });
      },
    ),
  },
  {
    name: "options.timeval",
    doc: "ms → struct timeval → ms keeps the value to the µs, rounded up (never to 0 from a positive value); non-numbers TypeError; negative/NaN/∞/too large RangeError",
    kernel: false,
    make: () => {
      const maxMs = Math.floor(Number.MAX_SAFE_INTEGER / 1000);
      return fc.property(
        fc.oneof(fc.integer({ min: 0, max: maxMs }), fc.double({ min: 0, max: 1e9, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
        fc.oneof(junk, fc.double()),
        (ms, bad) => {
          const got = roundTrip(timeval, ms);
          const us = Math.ceil(ms * 1000);
          ok(Math.abs(got * 1000 - us) <= 1e-12 * Math.max(1, us), `timeval ${ms} ms → ${got} ms (expected ${us} µs)`);
          ok(ms === 0 || got > 0, `positive timeout ${ms} became 0 (infinite)`);
          ok(got >= ms * (1 - 1e-12), `timeval ${ms} rounded down to ${got}`);
          if (Number.isInteger(ms)) eq(got, ms, "integer ms round trip");
          checkInvalid(timeval, bad, (x) => (typeof x !== "number" ? "TypeError" : x >= 0 && x <= maxMs ? null : "RangeError"));
        },
      );
    },
  },
  {
    name: "options.ucred",
    doc: "{ pid ∈ [0, 2^31-1], uid, gid ∈ u32 } round-trips; bad shapes TypeError, bad numbers RangeError",
    kernel: false,
    make: () => fc.property(
      fc.record({ pid: fc.integer({ min: 0, max: I32_MAX }), uid: fc.integer({ min: 0, max: U32_MAX }), gid: fc.integer({ min: 0, max: U32_MAX }) }),
      fc.oneof(junk, fc.record({ pid: fc.oneof(junk, fc.nat()), uid: fc.oneof(junk, fc.nat()), gid: fc.oneof(junk, fc.nat()) })),
      (v, bad) => {
        eq(roundTrip(ucred, v), v, "ucred round trip");
        checkInvalid(ucred, bad, (x) => {
          if (x === null || typeof x !== "object") return "TypeError";
          const o = x as Record<string, unknown>;
          return intModel(0, I32_MAX)(o.pid) ?? intModel(0, U32_MAX)(o.uid) ?? intModel(0, U32_MAX)(o.gid);
        });
      },
    ),
  },
  {
    name: "options.string",
    doc: "string(max, allowEmpty) for any max: NUL-free strings of ≤ max UTF-8 bytes round-trip (as UTF-8); NUL or non-string TypeError; too long / empty RangeError",
    kernel: false,
    make: () => fc.property(
      fc.integer({ min: 1, max: 64 }),
      fc.boolean(),
      fc.oneof(
        fc.string({ unit: fc.oneof(fc.string({ unit: "binary", minLength: 1, maxLength: 1 }), fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), fc.constant("\0")), maxLength: 70 }),
        junk,
      ),
      (max, allowEmpty, v) => {
        const c = string(max, allowEmpty);
        const model: Model = (x) => {
          if (typeof x !== "string") return "TypeError";
          const b = new TextEncoder().encode(x);
          if (b.includes(0)) return "TypeError";
          if (b.length > max || (b.length === 0 && !allowEmpty)) return "RangeError";
          return null;
        };
        checkInvalid(c, v, model);
        if (model(v) === null) eq(roundTrip(c, v as string), usv(v as string), "string round trip");
      },
    ),
  },
  {
    name: "options.inAddr",
    doc: "dotted quads round-trip (canonical text); non-strings and non-addresses TypeError",
    kernel: false,
    make: () => fc.property(ipv4Text, fc.oneof(junk, fc.ipV4Extended(), fc.string({ maxLength: 16 })), (ip, bad) => {
      eq(roundTrip(inAddr, ip), ip, "in_addr round trip");
      checkInvalid(inAddr, bad, (x) => (typeof x === "string" && parseIPv4(x) ? null : "TypeError"));
    }),
  },
  {
    name: "options.membershipV4",
    doc: "ip_mreq (interface as IPv4 text) and ip_mreqn (index or name, optional address) round-trip; non-multicast groups RangeError; bad shapes TypeError",
    kernel: false,
    make: () => fc.property(
      multicastV4,
      fc.oneof(fc.constant(undefined), ipv4Text, fc.integer({ min: 0, max: I32_MAX }), fc.constant("lo")),
      fc.option(ipv4Text, { nil: undefined }),
      fc.oneof(junk, fc.record({ multiaddr: fc.oneof(ipv4Text, junk), interface: fc.oneof(ipv4Text, junk, fc.constant("no-such-if0")) })),
      (group, itf, address, bad) => {
        const byIndex = typeof itf === "number" || itf === "lo";
        const v = { multiaddr: group, ...(itf === undefined ? {} : { interface: itf }), ...(byIndex && address !== undefined ? { address } : {}) };
        const want = byIndex
          ? { multiaddr: group, interface: itf === "lo" ? LO : itf, address: address ?? "0.0.0.0" }
          : { multiaddr: group, interface: itf ?? "0.0.0.0" };
        const { out, view, len } = encodeChecked(membershipV4, v);
        ok(len === (byIndex ? S.ip_mreqn!.size : S.ip_mreq.size), `membershipV4 length ${len}`);
        eq(membershipV4.decode("fuzz", out, view, len), want, "membershipV4 round trip");
        if (!byIndex && address !== undefined) {
          const r = outcome(() => encodeChecked(membershipV4, { ...v, address }));
          ok(!r.ok && r.kind === "TypeError", "address with ip_mreq must be a TypeError");
        }
        const r = outcome(() => encodeChecked(membershipV4, bad as never));
        onlyCheckErrors(r, `membershipV4(${show(bad)})`);
        if (bad === null || typeof bad !== "object") ok(!r.ok && r.kind === "TypeError", `membershipV4(${show(bad)}) must be a TypeError`);
        else {
          const m = (bad as { multiaddr?: unknown }).multiaddr;
          const ip = typeof m === "string" ? parseIPv4(m) : null;
          if (!ip) ok(!r.ok && r.kind === "TypeError", `multiaddr ${show(m)} must be a TypeError`);
          else if (ip[0]! < 224 || ip[0]! > 239) ok(!r.ok && r.kind === "RangeError", `non-multicast ${show(m)} must be a RangeError`);
        }
      },
    ),
  },
  {
    name: "options.membershipV6",
    doc: "ipv6_mreq round-trips (group canonical, interface index; names resolved); non-ff00::/8 groups RangeError; bad shapes TypeError",
    kernel: false,
    make: () => fc.property(
      multicastV6,
      fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: U32_MAX }), fc.constant("lo")),
      fc.oneof(junk, fc.record({ multiaddr: fc.oneof(fc.ipV6(), junk, multicastV6), interface: fc.oneof(fc.nat(), junk) })),
      (group, itf, bad) => {
        const v = { multiaddr: group, ...(itf === undefined ? {} : { interface: itf }) };
        const want = { multiaddr: group, interface: itf === undefined ? 0 : itf === "lo" ? LO : itf };
        const { out, view, len } = encodeChecked(membershipV6, v);
        eq(membershipV6.decode("fuzz", out, view, len), want, "membershipV6 round trip");
        const r = outcome(() => encodeChecked(membershipV6, bad as never));
        onlyCheckErrors(r, `membershipV6(${show(bad)})`);
        if (bad === null || typeof bad !== "object") ok(!r.ok && r.kind === "TypeError", `membershipV6(${show(bad)}) must be a TypeError`);
        else {
          const o = bad as { multiaddr?: unknown; interface?: unknown };
          const ip = typeof o.multiaddr === "string" ? parseIPv6(o.multiaddr) : null;
          if (!ip) ok(!r.ok && r.kind === "TypeError", `multiaddr ${show(o.multiaddr)} must be a TypeError`);
          else if (ip[0] !== 0xff) ok(!r.ok && r.kind === "RangeError", `non-multicast ${show(o.multiaddr)} must be a RangeError`);
          else {
            const iw = o.interface === undefined ? null : typeof o.interface === "string" ? "TypeError" : intModel(0, U32_MAX)(o.interface);
            if (iw === null) ok(r.ok, `valid membership refused: ${r.ok ? "" : String(r.error)}`);
            else if (typeof o.interface !== "string") ok(!r.ok && r.kind === iw, `interface ${show(o.interface)} should be ${iw}`);
          }
        }
      },
    ),
  },
  {
    name: "options.tcpInfo",
    doc: "tcp_info is read-only (encode always TypeError); decode of ≥ struct bytes gives every field as an unsigned number, shorter is a RangeError",
    kernel: false,
    make: () => fc.property(fc.uint8Array({ minLength: tcpInfo.size, maxLength: tcpInfo.size }), fc.integer({ min: 0, max: tcpInfo.size }), junk, (b, len, v) => {
      const r = outcome(() => tcpInfo.encode("fuzz", v as never, new Uint8Array(tcpInfo.size), new DataView(new ArrayBuffer(tcpInfo.size))));
      ok(!r.ok && r.kind === "TypeError", "tcpInfo encode must be a TypeError");
      const d = outcome(() => tcpInfo.decode("fuzz", b, new DataView(b.buffer), len));
      onlyCheckErrors(d, "tcpInfo decode");
      if (d.ok) {
        const vals = Object.values(d.value as Record<string, number>);
        ok(vals.length > 10 && vals.every((x) => Number.isInteger(x) && x >= 0), "tcp_info fields must be unsigned integers");
      }
    }),
  },
  {
    name: "options.decode.poison",
    doc: "every codec's decode, for every length 0..size: only RangeError/TypeError, and bytes past the length (poisoned two ways) never change the result",
    kernel: false,
    make: () => fc.property(
      fc.integer({ min: 0, max: allCodecs.length - 1 }),
      fc.uint8Array({ minLength: 160, maxLength: 160 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.boolean(),
      (which, raw, t, zeroes) => {
        const [name, codec] = allCodecs[which]!;
        const size = codec.size;
        const len = Math.min(size, Math.floor(t * (size + 1)));
        const content = zeroes ? raw.map((x, i) => (i % 3 ? 0 : x)) : raw;
        const a = new Uint8Array(size + 16);
        const b = new Uint8Array(size + 16);
        a.set(content.subarray(0, size + 16));
        b.set(content.subarray(0, size + 16));
        for (let i = len; i < b.length; i++) { a[i] = 0x00; b[i] = 0xff ^ (i & 0x0f); }
        const before = a.slice();
        const ra = outcome(() => codec.decode("fuzz", a, new DataView(a.buffer), len));
        const rb = outcome(() => codec.decode("fuzz", b, new DataView(b.buffer), len));
        onlyCheckErrors(ra, `${name}.decode(len ${len})`);
        sameOutcome(ra, rb, `${name}.decode(len ${len}) read past its length`);
        eq(a, before, `${name}.decode mutated its buffer`);
      },
    ),
  },
  {
    name: "options.kernel-roundtrip",
    doc: "setOption → getOption on a fresh socket returns the value for options the kernel keeps exactly; values the kernel refuses are typed SocketErrors (EINVAL), never crashes",
    kernel: true,
    make: () => {
      let cc = ["reno"];
      try { cc = readFileSync("/proc/sys/net/ipv4/tcp_available_congestion_control", "utf8").trim().split(/\s+/); } catch { /* default */ }
      const cases = fc.oneof(
        fc.record({ s: fc.constant("udp" as const), name: fc.constant("ttl" as const), v: fc.integer({ min: 1, max: 255 }) }),
        fc.record({ s: fc.constant("udp" as const), name: fc.constant("tos" as const), v: fc.integer({ min: 0, max: 255 }) }),
        fc.record({ s: fc.constant("udp" as const), name: fc.constant("multicastTtlV4" as const), v: fc.integer({ min: 0, max: 255 }) }),
        fc.record({ s: fc.constantFrom("udp" as const, "tcp" as const), name: fc.constantFrom("reuseAddress" as const, "keepAlive" as const, "broadcast" as const, "outOfBandInline" as const), v: fc.boolean() }),
        fc.record({ s: fc.constant("tcp" as const), name: fc.constantFrom("noDelay" as const, "cork" as const), v: fc.boolean() }),
        fc.record({ s: fc.constantFrom("udp" as const, "tcp" as const), name: fc.constant("linger" as const), v: fc.record({ onoff: fc.boolean(), seconds: fc.integer({ min: 0, max: I32_MAX }) }) }),
        fc.record({ s: fc.constant("tcp" as const), name: fc.constantFrom("keepAliveIdle" as const, "keepAliveInterval" as const), v: fc.integer({ min: 1, max: 40000 }) }),
        fc.record({ s: fc.constant("tcp" as const), name: fc.constant("keepAliveCount" as const), v: fc.integer({ min: 1, max: 200 }) }),
        fc.record({ s: fc.constant("tcp" as const), name: fc.constant("userTimeout" as const), v: fc.integer({ min: 0, max: I32_MAX }) }),
        fc.record({ s: fc.constant("tcp" as const), name: fc.constant("congestionControl" as const), v: fc.constantFrom(...cc) }),
        fc.record({ s: fc.constant("udp6" as const), name: fc.constantFrom("unicastHopsV6" as const, "multicastHopsV6" as const), v: fc.integer({ min: 0, max: 255 }) }),
        fc.record({ s: fc.constant("udp6" as const), name: fc.constant("onlyV6" as const), v: fc.boolean() }),
      );
      return fc.property(cases, (c) => {
        const s = c.s === "udp" ? new Socket("inet", "dgram") : c.s === "tcp" ? new Socket("inet", "stream") : new Socket("inet6", "dgram");
        try {
          const set = outcome(() => s.setOption(c.name, c.v as never));
          if (!set.ok) {
            // Kernel limits (TCP_KEEPIDLE/KEEPINTVL ≤ 32767, KEEPCNT ≤ 127) are typed errors.
            ok(set.error instanceof SocketError && set.error.code === "EINVAL", `setOption(${c.name}, ${show(c.v)}) threw ${String(set.error)}`);
            return;
          }
          let want: unknown = c.v;
          if (c.name === "linger" && !(c.v as { onoff: boolean }).onoff) want = { onoff: false, seconds: 0 };
          eq(s.getOption(c.name), want, `${c.name} set → get`);
        } finally {
          s.close();
        }
      });
    },
  },
];
