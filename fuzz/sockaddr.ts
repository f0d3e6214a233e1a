/**
 * Fuzz targets for src/core/sockaddr.ts: every packer/parser (inet, inet6 with flowinfo and scope,
 * unix pathname with its 107-byte limit, abstract names with embedded NULs, unnamed), the
 * kernel round trip (encode → bind → getsockname → decode gives the original), decodeAddress
 * on garbage (never reads past the length it is given, never throws), and the two caches
 * (AddressEncoder/AddressDecoder) against the uncached functions.
 */
import fc from "fast-check";
import { unlinkSync } from "node:fs";
import { join } from "node:path";
import { table } from "../ffi/platform.ts";
import { SocketError } from "../src/core/errors.ts";
import {
  AddressDecoder, AddressEncoder, decodeAddress, encodeAddress, formatIP, parseIPv4, parseIPv6, SOCKADDR_MAX,
  SUN_PATH_MAX, type Address,
} from "../src/core/sockaddr.ts";
import { Socket } from "../src/socket/socket.ts";
import { bytesEq, eq, ok, onlyCheckErrors, outcome, sameOutcome, throwsExactly } from "./check.ts";
import type { Target } from "./context.ts";

const C = table.constants;
const S = table.structs;
const PATH_OFF = S.sockaddr_un.fields.sun_path.offset;
const POISON = 0xa5;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What a JS string becomes after a UTF-8 round trip (lone surrogates → U+FFFD). */
export const usv = (s: string): string => decoder.decode(encoder.encode(s));

/** Encodes into a buffer poisoned past the sockaddr; checks nothing is written past `len`. */
function encodeChecked(addr: Address): { bytes: Uint8Array; len: number } {
  const out = new Uint8Array(SOCKADDR_MAX + 16).fill(POISON);
  const len = encodeAddress(addr, out);
  ok(Number.isInteger(len) && len >= 2 && len <= SOCKADDR_MAX, `encodeAddress returned length ${len}`);
  for (let i = len; i < out.length; i++) {
    // inet/inet6 zero their whole struct (== len); unix zeroes all of sockaddr_un, maybe past len.
    if (i < S.sockaddr_un.size && addr.family === "unix") continue;
    ok(out[i] === POISON, `encodeAddress wrote byte ${i} past the returned length ${len}`);
  }
  return { bytes: out, len };
}

const bytes4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const bytes16 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const port = fc.integer({ min: 0, max: 65535 });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

/** Abstract names: arbitrary bytes, NULs over-represented. */
const abstractName = (min: number, max: number) =>
  fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 255 })), { minLength: min, maxLength: max }).map((a) => Uint8Array.from(a));

/** Strings that are exactly what a filename can hold: no NUL, no '/', valid Unicode. */
const fileChar = fc.string({ unit: "binary", minLength: 1, maxLength: 1 }).filter((c) => c !== "\0" && c !== "/");

/** Lone surrogates and other awkward code units. */
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const anyString = (maxLength: number) =>
  fc.string({ unit: fc.oneof(fc.string({ unit: "binary", minLength: 1, maxLength: 1 }), loneSurrogate, fc.constant("\0")), maxLength });

// --- strict reference parsers -------------------------------------------------------------------

const OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
const DOTTED = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** inet_pton(AF_INET) as POSIX/glibc define it: four decimal octets, no leading zeros. */
export function referenceIPv4(s: string): Uint8Array | null {
  const m = DOTTED.exec(s);
  return m ? Uint8Array.from(m.slice(1, 5).map(Number)) : null;
}

/** Texts of an IPv6 address: any RFC 4291 §2.2 spelling (case, leading zeros, one "::", dotted tail). */
const ipv6Spelling = fc.record({
  bytes: bytes16,
  zeroRun: fc.tuple(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 8 })),
  compress: fc.boolean(),
  dotted: fc.boolean(),
  pad: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 8, maxLength: 8 }),
  upper: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
}).map(({ bytes, zeroRun, compress, dotted, pad, upper }) => {
  const b = bytes.slice();
  const [lo, hi] = zeroRun[0] <= zeroRun[1] ? zeroRun : [zeroRun[1], zeroRun[0]];
  b.fill(0, lo * 2, hi * 2);
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) {
    let g = ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16);
    g = g.padStart(Math.min(4, g.length + pad[i]!), "0");
    groups.push(upper[i] ? g.toUpperCase() : g);
  }
  let tail: string[] = [];
  let heads = groups;
  if (dotted) {
    heads = groups.slice(0, 6);
    tail = [`${b[12]}.${b[13]}.${b[14]}.${b[15]}`];
  }
  let text: string;
  const n = heads.length;
  const clo = Math.min(lo, n);
  const chi = Math.min(hi, n);
  if (compress && chi > clo) {
    const left = heads.slice(0, clo).join(":");
    const right = [...heads.slice(chi), ...tail].join(":");
    text = `${left}::${right}`;
  } else {
    text = [...heads, ...tail].join(":");
  }
  return { text, bytes: b };
});

// --- targets ------------------------------------------------------------------------------------

export const sockaddrTargets: Target[] = [
  {
    name: "sockaddr.netlink.roundtrip",
    doc: "any netlink pid and groups: encode → decode gives them back (host order, sockaddr_nl); Linux only, a RangeError elsewhere",
    kernel: false,
    make: () => fc.property(u32, u32, (pid, groups) => {
      if (S.sockaddr_nl === null) {
        ok(!outcome(() => encodeChecked({ family: "netlink", pid, groups })).ok, "netlink encoded without sockaddr_nl");
        return;
      }
      const { bytes, len } = encodeChecked({ family: "netlink", pid, groups });
      ok(len === S.sockaddr_nl.size, `netlink length ${len}`);
      eq(decodeAddress(bytes, len), { family: "netlink", pid, groups }, "netlink decode(encode(x))");
    }),
  },
  {
    name: "sockaddr.packet.roundtrip",
    doc: "any interface index, EtherType, hardware type, packet type and ≤ 8-byte hardware address: encode → decode gives them back (protocol big-endian in sll_protocol); longer addresses a RangeError",
    kernel: false,
    make: () => fc.property(
      fc.integer({ min: 0, max: 0x7fffffff }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 10 }),
      (ifindex, protocol, hatype, pkttype, address) => {
        const a = { family: "packet", ifindex, protocol, hatype, pkttype, address } as const;
        if (S.sockaddr_ll === null || address.length > S.sockaddr_ll.fields.sll_addr.size) {
          ok(!outcome(() => encodeChecked(a)).ok, "an impossible packet address was encoded");
          return;
        }
        const { bytes, len } = encodeChecked(a);
        ok(len === S.sockaddr_ll.size, `packet length ${len}`);
        ok(new DataView(bytes.buffer).getUint16(S.sockaddr_ll.fields.sll_protocol.offset, false) === protocol, "sll_protocol not big-endian");
        eq(decodeAddress(bytes, len), { ...a, address: Uint8Array.from(address) }, "packet decode(encode(x))");
      },
    ),
  },
  {
    name: "sockaddr.inet.roundtrip",
    doc: "any IPv4 address and port: encode → decode gives it back; the bytes are sockaddr_in (family, port BE, address); nothing written past the length",
    kernel: false,
    make: () => fc.property(bytes4, port, (ip, p) => {
      const host = formatIP(ip);
      const { bytes, len } = encodeChecked({ family: "inet", host, port: p });
      ok(len === S.sockaddr_in.size, `inet length ${len}`);
      ok(new DataView(bytes.buffer).getUint16(S.sockaddr_in.fields.sin_port.offset, false) === p, "port not big-endian at sin_port");
      bytesEq(bytes.subarray(4, 8), ip, "sin_addr bytes");
      eq(decodeAddress(bytes, len), { family: "inet", host, port: p }, "inet decode(encode(x))");
      bytesEq(parseIPv4(host)!, ip, "parseIPv4(formatIP(x))");
    }),
  },
  {
    name: "sockaddr.inet.kernel-roundtrip",
    doc: "bind a UDP socket to 127.x.y.z port 0; getsockname decodes to the same host and a real port",
    kernel: true,
    make: () => fc.property(fc.integer({ min: 0, max: 0xffffff }), fc.constantFrom("dgram", "stream") , (low, type) => {
      const host = `127.${low >> 16}.${(low >> 8) & 255}.${low & 255}`;
      const s = new Socket("inet", type);
      try {
        s.bind({ family: "inet", host, port: 0 });
        const a = s.localAddress;
        ok(a.family === "inet", `family ${String(a.family)}`);
        eq(a.host, host, "getsockname host");
        ok(a.port >= 1 && a.port <= 65535, `port ${a.port}`);
      } finally {
        s.close();
      }
    }),
  },
  {
    name: "sockaddr.inet6.roundtrip",
    doc: "any IPv6 address, port, flowinfo and scope id (as a field or a numeric %zone): encode → decode gives them back",
    kernel: false,
    make: () => fc.property(bytes16, port, u32, u32, fc.boolean(), (ip, p, flowinfo, scopeId, zoneInText) => {
      const host = formatIP(ip);
      const addr: Address = zoneInText
        ? { family: "inet6", host: `${host}%${scopeId}`, port: p, flowinfo }
        : { family: "inet6", host, port: p, flowinfo, scopeId };
      const { bytes, len } = encodeChecked(addr);
      ok(len === S.sockaddr_in6.size, `inet6 length ${len}`);
      bytesEq(bytes.subarray(8, 24), ip, "sin6_addr bytes");
      eq(decodeAddress(bytes, len), { family: "inet6", host, port: p, flowinfo, scopeId }, "inet6 decode(encode(x))");
      bytesEq(parseIPv6(host)!, ip, "parseIPv6(formatIP(x))");
    }),
  },
  {
    name: "sockaddr.inet6.kernel-roundtrip",
    doc: "bind to ::1 or ::ffff:127.x.y.z (port 0); getsockname decodes to the same host",
    kernel: true,
    make: () => fc.property(fc.option(fc.integer({ min: 0, max: 0xffffff }), { nil: null }), fc.constantFrom("dgram", "stream"), (low, type) => {
      const host = low === null ? "::1" : `::ffff:127.${low >> 16}.${(low >> 8) & 255}.${low & 255}`;
      const s = new Socket("inet6", type);
      try {
        s.bind({ family: "inet6", host, port: 0 });
        const a = s.localAddress;
        ok(a.family === "inet6", `family ${String(a.family)}`);
        eq(a.host, host, "getsockname host");
        ok(a.port >= 1 && a.port <= 65535, `port ${a.port}`);
        eq([a.flowinfo, a.scopeId], [0, 0], "flowinfo/scopeId of a bound loopback socket");
      } finally {
        s.close();
      }
    }),
  },
  {
    name: "sockaddr.ipv4.parse",
    doc: "parseIPv4 accepts exactly the strict dotted quads (no leading zeros, ≤255, no zone) and returns their bytes",
    kernel: false,
    make: () => fc.property(
      fc.oneof(
        fc.ipV4(),
        fc.ipV4Extended(),
        fc.string({ unit: fc.constantFrom("0", "1", "2", "5", "9", ".", "x", " ", "-", "+", ":", "%", "\0", "a", "٣"), maxLength: 20 }),
        anyString(20),
      ),
      (s) => {
        const got = parseIPv4(s);
        const want = referenceIPv4(s);
        eq(got, want, `parseIPv4(${JSON.stringify(s)})`);
      },
    ),
  },
  {
    name: "sockaddr.ipv6.parse",
    doc: "every RFC 4291 spelling of an address parses to its bytes; formatIP → parseIPv6 is the identity; garbage gives null or bytes that re-format stably",
    kernel: false,
    make: () => fc.property(
      ipv6Spelling,
      fc.oneof(fc.ipV6(), fc.string({ unit: fc.constantFrom("0", "f", "F", ":", ".", "1", "%", "\0", " ", "g", "::"), maxLength: 45 }), anyString(45)),
      (spelled, junk) => {
        const got = parseIPv6(spelled.text);
        ok(got !== null, `parseIPv6 rejected the valid spelling ${JSON.stringify(spelled.text)}`);
        bytesEq(got, spelled.bytes, `parseIPv6(${JSON.stringify(spelled.text)})`);
        bytesEq(parseIPv6(formatIP(spelled.bytes))!, spelled.bytes, "parseIPv6(formatIP(x))");
        const j = parseIPv6(junk);
        if (j !== null) {
          ok(j.length === 16, "parseIPv6 returned a non-16-byte array");
          ok(!junk.includes("\0") && !junk.includes("%"), `parseIPv6 accepted ${JSON.stringify(junk)} with a NUL or zone`);
          bytesEq(parseIPv6(formatIP(j))!, j, `re-parse of ${JSON.stringify(junk)}`);
        }
      },
    ),
  },
  {
    name: "sockaddr.unix.path.roundtrip",
    doc: "any string as a unix path: TypeError (NUL, not a string) / RangeError (empty, > 107 UTF-8 bytes), or encode → decode gives its UTF-8 round trip",
    kernel: false,
    make: () => fc.property(
      fc.oneof(anyString(120), fc.string({ unit: "binary", minLength: 1, maxLength: 40 }).map((s) => s.repeat(Math.ceil(107 / s.length)).slice(0, 107))),
      (path) => {
        const n = encoder.encode(path).length;
        const r = outcome(() => encodeChecked({ family: "unix", path }));
        if (path.includes("\0")) return throwsExactly(() => encodeAddress({ family: "unix", path }, new Uint8Array(SOCKADDR_MAX)), TypeError, "path with NUL");
        if (n === 0 || n > SUN_PATH_MAX - 1) {
          ok(!r.ok && r.kind === "RangeError", `path of ${n} bytes: ${r.ok ? "accepted" : r.kind}`);
          return;
        }
        ok(r.ok, `path of ${n} bytes refused: ${r.ok ? "" : String(r.error)}`);
        ok(r.value.len === PATH_OFF + n + 1, `unix path length ${r.value.len} for ${n} bytes`);
        eq(decodeAddress(r.value.bytes, r.value.len, C.AF_UNIX), { family: "unix", path: usv(path) }, "path decode(encode(x))");
        // The kernel may also report the length without the NUL (or the whole sun_path): same path.
        eq(decodeAddress(r.value.bytes, r.value.len - 1, C.AF_UNIX), { family: "unix", path: usv(path) }, "path decode without the NUL");
      },
    ),
  },
  {
    name: "sockaddr.unix.path.kernel-roundtrip",
    doc: "bind a unix socket to a path of 1–107 bytes (any filename characters) in a temp dir: getsockname decodes to the same path; 108 bytes is a RangeError and creates nothing",
    kernel: true,
    make: (ctx) => {
      let serial = 0;
      return fc.property(fc.array(fileChar, { minLength: 1, maxLength: 110 }), fc.integer({ min: 0, max: 200 }), fc.constantFrom("dgram", "stream"), (chars, wantLen, type) => {
        // Aim for a total UTF-8 length of `wantLen` (clamped to what the prefix allows), so the
        // 105..108-byte boundary is hit often.
        const prefix = `${ctx.tmp}/${(serial++ % 1000).toString(36)}-`;
        let name = "";
        for (const c of chars) {
          if (encoder.encode(prefix + name + c).length > Math.max(wantLen, prefix.length + 1)) break;
          name += c;
        }
        if (name === "" || name === "." || name === "..") name = "x";
        const path = prefix + name;
        const n = encoder.encode(path).length;
        const s = new Socket("unix", type);
        try {
          if (n > SUN_PATH_MAX - 1) {
            throwsExactly(() => s.bind({ family: "unix", path }), RangeError, `${n}-byte path`);
            ok(outcome(() => unlinkSync(path)).ok === false, `a refused ${n}-byte path was created`);
            return;
          }
          s.bind({ family: "unix", path });
          eq(s.localAddress, { family: "unix", path }, `getsockname of a ${n}-byte path`);
        } finally {
          s.close();
          try { unlinkSync(path); } catch { /* refused or never bound */ }
        }
      });
    },
  },
  {
    name: "sockaddr.unix.abstract.roundtrip",
    doc: "abstract names of 1–107 bytes with embedded NULs (bytes or string): encode → decode gives the same bytes; 108+ is a RangeError",
    kernel: false,
    make: () => fc.property(fc.oneof(abstractName(1, 112), anyString(60).filter((s) => s.length > 0)), (name) => {
      const raw = typeof name === "string" ? encoder.encode(name) : name;
      const r = outcome(() => encodeChecked({ family: "unix", abstract: name }));
      if (raw.length > SUN_PATH_MAX - 1) {
        ok(!r.ok && r.kind === "RangeError", `${raw.length}-byte abstract name: ${r.ok ? "accepted" : r.kind}`);
        return;
      }
      ok(r.ok, `abstract name refused: ${r.ok ? "" : String(r.error)}`);
      ok(r.value.len === PATH_OFF + 1 + raw.length, `abstract length ${r.value.len} for ${raw.length} bytes`);
      ok(r.value.bytes[PATH_OFF] === 0, "abstract name without its leading NUL");
      eq(decodeAddress(r.value.bytes, r.value.len, C.AF_UNIX), { family: "unix", abstract: raw }, "abstract decode(encode(x))");
    }),
  },
  {
    name: "sockaddr.unix.abstract.kernel-roundtrip",
    doc: "bind to an abstract name of 1–107 arbitrary bytes (NULs included): getsockname gives exactly those bytes",
    kernel: true,
    make: () => fc.property(abstractName(1, 107), fc.constantFrom("dgram", "stream", "seqpacket"), (name, type) => {
      const s = new Socket("unix", type);
      try {
        const b = outcome(() => s.bind({ family: "unix", abstract: name }));
        // Another process may hold the same short name (e.g. a lone NUL) at this moment.
        if (!b.ok && b.error instanceof SocketError && b.error.code === "EADDRINUSE") return;
        if (!b.ok) throw b.error;
        eq(s.localAddress, { family: "unix", abstract: name }, `getsockname of a ${name.length}-byte abstract name`);
      } finally {
        s.close();
      }
    }),
  },
  {
    name: "sockaddr.unix.unnamed",
    doc: "an unnamed unix address encodes to just the family; socketpair ends and a 0/2-byte kernel length decode as unnamed; autobind gives a 5-byte abstract name",
    kernel: true,
    make: () => fc.property(fc.constantFrom("dgram", "stream", "seqpacket"), fc.boolean(), (type, autobind) => {
      const { bytes, len } = encodeChecked({ family: "unix" });
      ok(len === PATH_OFF, `unnamed length ${len}`);
      eq(decodeAddress(bytes, len, C.AF_UNIX), { family: "unix" }, "unnamed decode(encode(x))");
      eq(decodeAddress(bytes, 0, C.AF_UNIX), { family: "unix" }, "0-length unix address");
      const [a, b] = Socket.pair("unix", type);
      try {
        eq(a.localAddress, { family: "unix" }, "socketpair end localAddress");
        eq(b.remoteAddress, { family: "unix" }, "socketpair end remoteAddress");
        if (autobind) {
          const s = new Socket("unix", type);
          try {
            s.bind({ family: "unix" });
            const got = s.localAddress as { abstract?: Uint8Array };
            ok(got.abstract instanceof Uint8Array && got.abstract.length === 5, `autobind name ${String(got.abstract)}`);
            ok(/^[0-9a-f]{5}$/.test(decoder.decode(got.abstract)), "autobind name is 5 hex digits");
          } finally {
            s.close();
          }
        }
      } finally {
        a.close();
        b.close();
      }
    }),
  },
  {
    name: "sockaddr.decode.garbage",
    doc: "decodeAddress on arbitrary bytes and any length 0..len+8 (and 2^31, 2^32-1): never throws, never mutates, and bytes past the length do not change the result",
    kernel: false,
    make: () => fc.property(
      fc.uint8Array({ maxLength: SOCKADDR_MAX + 16 }),
      fc.option(fc.constantFrom(C.AF_INET, C.AF_INET6, C.AF_UNIX, C.AF_UNSPEC, 17, 0xffff), { nil: undefined }),
      fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 140 }) }, fc.constantFrom(0x7fffffff, 0x80000000, 0xffffffff, 2 ** 53)),
      fc.option(fc.constantFrom(C.AF_INET, C.AF_INET6, C.AF_UNIX), { nil: undefined }),
      fc.uint8Array({ minLength: 1, maxLength: 1 }),
      (content, family, len, socketFamily, poison) => {
        const a = content.slice();
        if (family !== undefined && a.length >= 2) new DataView(a.buffer).setUint16(0, family, true);
        const b = a.slice();
        const cut = Math.min(len, a.length);
        for (let i = cut; i < b.length; i++) b[i] = (b[i]! ^ 0xff ^ poison[0]!) & 255;
        const before = a.slice();
        const ra = outcome(() => decodeAddress(a, len, socketFamily));
        const rb = outcome(() => decodeAddress(b, len, socketFamily));
        ok(ra.ok, `decodeAddress threw ${ra.ok ? "" : String(ra.error)}`);
        sameOutcome(ra, rb, `bytes past length ${len} changed the result`);
        bytesEq(a, before, "decodeAddress mutated its input");
        const r = ra.value as { family: unknown; bytes?: Uint8Array; path?: string; abstract?: Uint8Array };
        if (r.bytes) ok(r.bytes.length <= cut, `raw address of ${r.bytes.length} bytes from a ${cut}-byte length`);
        if (r.abstract) ok(r.abstract.length <= cut - PATH_OFF - 1, `abstract of ${r.abstract.length} bytes from ${cut}`);
        if (r.path !== undefined) ok(encoder.encode(r.path).length <= 3 * Math.max(0, cut - PATH_OFF), "path longer than its bytes");
      },
    ),
  },
  {
    name: "sockaddr.decoder.cache",
    doc: "AddressDecoder (recvFrom's cache) equals decodeAddress on every call of a sequence that rewrites one buffer in place, as the kernel does",
    kernel: false,
    make: () => {
      const pool = [
        { family: "inet", host: "127.0.0.1", port: 1 }, { family: "inet", host: "127.0.0.1", port: 2 },
        { family: "inet6", host: "::1", port: 1, flowinfo: 0, scopeId: 0 }, { family: "inet6", host: "::1", port: 1, flowinfo: 0, scopeId: 1 },
        { family: "unix", path: "/a" }, { family: "unix", path: "/b" }, { family: "unix", abstract: new Uint8Array([0, 1]) }, { family: "unix" },
      ] as const;
      const encoded = pool.map((a) => { const b = new Uint8Array(SOCKADDR_MAX); return { b, len: encodeAddress(a, b) }; });
      const step = fc.oneof(
        { weight: 4, arbitrary: fc.record({ pick: fc.integer({ min: 0, max: pool.length - 1 }), lenDelta: fc.constantFrom(0, 0, 0, -1, 1), fam: fc.constantFrom(C.AF_INET, C.AF_INET6, C.AF_UNIX) }) },
        fc.record({ raw: fc.uint8Array({ maxLength: SOCKADDR_MAX }), len: fc.integer({ min: 0, max: SOCKADDR_MAX }), fam: fc.constantFrom(C.AF_INET, C.AF_INET6, C.AF_UNIX) }),
      );
      return fc.property(fc.array(step, { minLength: 1, maxLength: 12 }), (steps) => {
        const dec = new AddressDecoder();
        const buf = new Uint8Array(SOCKADDR_MAX);
        for (const st of steps) {
          let len: number;
          if ("pick" in st) {
            const e = encoded[st.pick]!;
            buf.set(e.b);
            len = Math.max(0, e.len + st.lenDelta);
          } else {
            buf.fill(0);
            buf.set(st.raw);
            len = st.len;
          }
          const want = decodeAddress(buf.slice(), len, st.fam);
          eq(dec.decode(buf, len, st.fam), want, `AddressDecoder after ${steps.indexOf(st)} steps`);
        }
      });
    },
  },
  {
    name: "sockaddr.encoder.cache",
    doc: "AddressEncoder (sendTo's cache) gives the same bytes or the same error class as encodeAddress after any sequence of in-place field changes",
    kernel: false,
    make: () => {
      const field = fc.oneof(
        fc.record({ k: fc.constant("family"), v: fc.constantFrom<unknown>("inet", "inet6", "unix", "bogus", 2, undefined) }),
        fc.record({ k: fc.constant("host"), v: fc.constantFrom<unknown>("127.0.0.1", "127.0.0.2", "::1", "::2", "fe80::1%1", "fe80::1%lo", "::1%nope0", "1.2.3", "", undefined, 7) }),
        fc.record({ k: fc.constant("port"), v: fc.constantFrom<unknown>(0, 1, 80, 65535, 65536, -1, 1.5, NaN, "80", undefined) }),
        fc.record({ k: fc.constant("flowinfo"), v: fc.constantFrom<unknown>(undefined, 0, 1, 0xfffff, 2 ** 32, -1) }),
        fc.record({ k: fc.constant("scopeId"), v: fc.constantFrom<unknown>(undefined, 0, 1, 2 ** 32 - 1, 2 ** 32) }),
        fc.record({ k: fc.constant("path"), v: fc.constantFrom<unknown>(undefined, "/tmp/x", "/tmp/y", "", "a\0b", "p".repeat(108)) }),
        fc.record({ k: fc.constant("abstract"), v: fc.constantFrom<unknown>(undefined, "name", "na\0me", "SHARED", new Uint8Array([1, 2])) }),
        fc.record({ k: fc.constant("mutateAbstractBytes"), v: fc.integer({ min: 0, max: 255 }) }),
        fc.record({ k: fc.constant("newObject"), v: fc.constant(undefined) }),
      );
      return fc.property(fc.array(field, { minLength: 1, maxLength: 16 }), (ops) => {
        const enc = new AddressEncoder();
        const shared = new Uint8Array([9, 9, 9]);
        let a: Record<string, unknown> = { family: "inet", host: "127.0.0.1", port: 1 };
        for (const op of ops) {
          if (op.k === "newObject") a = { ...a };
          else if (op.k === "mutateAbstractBytes") shared[0] = op.v as number;
          else if (op.k === "abstract" && op.v === "SHARED") a.abstract = shared;
          else if (op.v === undefined) delete a[op.k];
          else a[op.k] = op.v;
          const fresh = new Uint8Array(SOCKADDR_MAX);
          const want = outcome(() => { const n = encodeAddress(a as unknown as Address, fresh); return fresh.slice(0, n); });
          const got = outcome(() => { const n = enc.encode(a as unknown as Address); return enc.bytes.slice(0, n); });
          onlyCheckErrors(want, "encodeAddress");
          sameOutcome(got, want, `AddressEncoder vs encodeAddress for ${JSON.stringify(a, (_k, v) => v instanceof Uint8Array ? Array.from(v) : v)}`);
        }
      });
    },
  },
];
