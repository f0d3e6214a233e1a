/**
 * Fuzz targets for the control-message code of src/socket/msg.ts: walkControl on arbitrary bytes and
 * lengths (never reads past the length, never throws, every data view inside it), encodeControl
 * → walkControl round trips, CMSG_* arithmetic, and the kernel paths: fd passing (every fd
 * received is a new fd for the file that was sent at that position; none is invented, none
 * leaks when the control buffer is too small) and scatter/gather (bytes land in order).
 */
import fc from "fast-check";
import { closeSync, openSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { table } from "../ffi/platform.ts";
import { cmsgAlign, cmsgLen, cmsgSpace, CMSG_ALIGNMENT, decodeTimestamp, encodeControl, walkControl } from "../src/socket/msg.ts";
import { decodePacketInfo, sourceMessage } from "../src/socket/pktinfo.ts";
import { decodeZeroCopy, ZeroCopyLedger } from "../src/linux/zerocopy.ts";
import { parseIPv4, parseIPv6 } from "../src/core/sockaddr.ts";
import * as P from "../src/posix.ts";
import { Socket } from "../src/socket/socket.ts";
import { bytesEq, eq, ok, outcome, sameOutcome } from "./check.ts";
import type { Target } from "./context.ts";

const C = table.constants;
const X = table.expressions;
const HDR = table.structs.cmsghdr;
const LE = X.LITTLE_ENDIAN === 1;
const INT = table.sizes.int;

/** A control buffer built from plausible headers: lengths that are right, short, long, huge or zero. */
const plausibleControl = fc.array(
  fc.record({
    clen: fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: 0, max: 64 }).map((n) => cmsgLen(n)) },
      fc.integer({ min: 0, max: 40 }),
      fc.constantFrom(0, 1, 15, 16, 17, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1),
    ),
    level: fc.oneof(fc.constant(C.SOL_SOCKET), fc.integer()),
    type: fc.oneof(fc.constantFrom(C.SCM_RIGHTS, C.SCM_CREDENTIALS ?? 2), fc.integer()),
    data: fc.uint8Array({ maxLength: 64 }),
  }),
  { maxLength: 6 },
).map((ms) => {
  const parts: Uint8Array[] = [];
  for (const m of ms) {
    const b = new Uint8Array(cmsgSpace(m.data.length));
    const v = new DataView(b.buffer);
    if (HDR.fields.cmsg_len.size === 8) v.setBigUint64(HDR.fields.cmsg_len.offset, BigInt(m.clen), LE);
    else v.setUint32(HDR.fields.cmsg_len.offset, m.clen >>> 0, LE);
    v.setInt32(HDR.fields.cmsg_level.offset, m.level, LE);
    v.setInt32(HDR.fields.cmsg_type.offset, m.type, LE);
    b.set(m.data, cmsgLen(0));
    parts.push(b);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
});

const message = fc.record({ level: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), type: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), data: fc.uint8Array({ maxLength: 80 }) });

/** The targets of /proc/self/fd entries, for identity checks. */
const target = (fd: number): string => readlinkSync(`/proc/self/fd/${fd}`);
/** Open fds (without the one the directory listing itself used, which is closed by now). */
const openFdSet = (): Set<number> => new Set(readdirSync("/proc/self/fd").map(Number).filter((fd) => {
  try { readlinkSync(`/proc/self/fd/${fd}`); return true; } catch { return false; }
}));

/** The timestamp message types this platform has (SCM_TIMESTAMP; Linux adds NS and TIMESTAMPING). */
const stampTypes = [C.SCM_TIMESTAMP, C.SCM_TIMESTAMPNS, C.SCM_TIMESTAMPING].filter((t): t is number => t !== null);

export const msgTargets: Target[] = [
  {
    name: "msg.timestamp.decode",
    doc: "decodeTimestamp on any level/type/bytes: never throws, reads only inside the data (bytes past it change nothing), and a decoded stamp has integer seconds and nanoseconds from the data",
    kernel: false,
    make: () => fc.property(
      fc.oneof(fc.constant(C.SOL_SOCKET), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
      fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...stampTypes) }, fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
      fc.uint8Array({ maxLength: 80 }),
      fc.integer({ min: 0, max: 16 }),
      (level, type, bytes, slack) => {
        const a = new Uint8Array(bytes.length + slack);
        a.set(bytes);
        const view = a.subarray(0, bytes.length);
        const b = a.slice();
        for (let i = bytes.length; i < b.length; i++) b[i] = ~b[i]! & 255;
        const ra = outcome(() => decodeTimestamp(level, type, view));
        const rb = outcome(() => decodeTimestamp(level, type, b.subarray(0, bytes.length)));
        ok(ra.ok, `decodeTimestamp threw ${ra.ok ? "" : String(ra.error)}`);
        sameOutcome(ra, rb, "decodeTimestamp read past the data");
        const t = ra.value;
        if (t !== undefined) {
          ok(level === C.SOL_SOCKET && stampTypes.includes(type), `decoded a stamp from level ${level} type ${type}`);
          ok(Number.isInteger(t.seconds) && Number.isInteger(t.nanoseconds), `non-integer stamp ${JSON.stringify(t)}`);
        }
      },
    ),
  },
  {
    name: "msg.packetInfo.decode",
    doc: "decodePacketInfo on any level/type/bytes: never throws, reads only inside the data, decodes only IP_PKTINFO/IPV6_PKTINFO of full size, its address texts parse back to the bytes they came from (a multicast or limited-broadcast IPv6 destination answers from the unspecified address), and any other view of the bytes decodes alike",
    kernel: false,
    make: () => fc.property(
      fc.oneof({ weight: 3, arbitrary: fc.constantFrom(C.SOL_IP ?? 0, C.SOL_IPV6 ?? 41) }, fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
      fc.oneof({ weight: 3, arbitrary: fc.constantFrom(C.IP_PKTINFO ?? 8, C.IPV6_PKTINFO) }, fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
      fc.uint8Array({ maxLength: 40 }),
      fc.integer({ min: 0, max: 16 }),
      (level, type, bytes, slack) => {
        const a = new Uint8Array(bytes.length + slack);
        a.set(bytes);
        const b = a.slice();
        for (let i = bytes.length; i < b.length; i++) b[i] = ~b[i]! & 255;
        const ra = outcome(() => decodePacketInfo(level, type, a.subarray(0, bytes.length)));
        const rb = outcome(() => decodePacketInfo(level, type, b.subarray(0, bytes.length)));
        ok(ra.ok, `decodePacketInfo threw ${ra.ok ? "" : String(ra.error)}`);
        sameOutcome(ra, rb, "decodePacketInfo read past the data");
        const info = ra.value;
        if (info === undefined) return;
        const v4 = level === C.SOL_IP && type === C.IP_PKTINFO;
        const v6 = level === C.SOL_IPV6 && type === C.IPV6_PKTINFO;
        ok(v4 || v6, `decoded packet info from level ${level} type ${type}`);
        const L = v4 ? table.structs.in_pktinfo! : table.structs.in6_pktinfo!;
        ok(bytes.length >= L.size, `decoded ${bytes.length} bytes, shorter than ${L.size}`);
        if (v4) {
          const f = table.structs.in_pktinfo!.fields;
          bytesEq(parseIPv4(info.destination)!, bytes.subarray(f.ipi_addr.offset, f.ipi_addr.offset + 4), "ipi_addr text");
          bytesEq(parseIPv4(info.address)!, bytes.subarray(f.ipi_spec_dst.offset, f.ipi_spec_dst.offset + 4), "ipi_spec_dst text");
        } else {
          const f = table.structs.in6_pktinfo!.fields;
          const addr = bytes.subarray(f.ipi6_addr.offset, f.ipi6_addr.offset + 16);
          bytesEq(parseIPv6(info.destination)!, addr, "ipi6_addr text");
          // Multicast and the IPv4 limited broadcast are never a source: the unspecified address instead.
          const mapped = addr.subarray(0, 12).every((x, i) => x === (i < 10 ? 0 : 255));
          const never = addr[0] === 255 || (mapped && ((addr[12]! & 0xf0) === 0xe0 || addr.subarray(12).every((x) => x === 255)));
          eq(info.address, never ? (mapped ? "::ffff:0.0.0.0" : "::") : info.destination, "address to answer from");
        }
        ok(Number.isInteger(info.interfaceIndex), "interface index is not an integer");
        // Any other view of the same bytes decodes alike.
        const copy = bytes.slice();
        const wide = copy.byteLength % 2 === 0 ? new Uint16Array(copy.buffer) : new DataView(copy.buffer);
        eq(JSON.stringify(decodePacketInfo(level, type, wide)), JSON.stringify(info), "a non-Uint8Array view decodes differently");
      },
    ),
  },
  {
    name: "msg.zeroCopy.decode",
    doc: "decodeZeroCopy on any level/type/bytes: never throws, reads only inside the data, decodes only IP_RECVERR/IPV6_RECVERR with a full sock_extended_err of origin SO_EE_ORIGIN_ZEROCOPY and errno 0, its range and copied flag the struct's fields; a ledger counts any range against tickets without exceeding them",
    kernel: false,
    make: () => fc.property(
      fc.oneof({ weight: 3, arbitrary: fc.constantFrom(C.SOL_IP ?? 0, C.SOL_IPV6 ?? 41) }, fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
      fc.oneof({ weight: 3, arbitrary: fc.constantFrom(C.IP_RECVERR ?? 11, C.IPV6_RECVERR ?? 25) }, fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
      fc.uint8Array({ maxLength: 48 }),
      fc.boolean(),
      fc.integer({ min: 0, max: 16 }),
      fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }),
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      (level, type, raw, plausible, slack, counts, start) => {
        const S = table.structs.sock_extended_err;
        const bytes = raw.slice();
        if (plausible && S && bytes.length >= S.size) {
          bytes[S.fields.ee_origin.offset] = C.SO_EE_ORIGIN_ZEROCOPY ?? 5;
          bytes.fill(0, S.fields.ee_errno.offset, S.fields.ee_errno.offset + 4);
        }
        const a = new Uint8Array(bytes.length + slack);
        a.set(bytes);
        const b = a.slice();
        for (let i = bytes.length; i < b.length; i++) b[i] = ~b[i]! & 255;
        const ra = outcome(() => decodeZeroCopy(level, type, a.subarray(0, bytes.length)));
        const rb = outcome(() => decodeZeroCopy(level, type, b.subarray(0, bytes.length)));
        ok(ra.ok, `decodeZeroCopy threw ${ra.ok ? "" : String(ra.error)}`);
        sameOutcome(ra, rb, "decodeZeroCopy read past the data");
        const c = ra.value;
        if (c === undefined) return;
        ok((level === C.SOL_IP && type === C.IP_RECVERR) || (level === C.SOL_IPV6 && type === C.IPV6_RECVERR), `decoded from level ${level} type ${type}`);
        ok(S !== null && bytes.length >= S.size, "decoded a short sock_extended_err");
        const v = new DataView(bytes.buffer);
        eq(c.first, v.getUint32(S!.fields.ee_info.offset, LE), "first = ee_info");
        eq(c.last, v.getUint32(S!.fields.ee_data.offset, LE), "last = ee_data");
        eq(c.copied, (bytes[S!.fields.ee_code.offset]! & (C.SO_EE_CODE_ZEROCOPY_COPIED ?? 1)) !== 0, "copied = ee_code bit");
        // Tickets of `counts` sends each from `start` on: a completion never over-completes one.
        const ledger = new ZeroCopyLedger();
        ledger.startAt(start);
        const tickets = counts.map((n) => {
          const t = ledger.open(new Uint8Array(1));
          for (let i = 0; i < n; i++) ledger.recordSend(t);
          return t;
        });
        ledger.complete(c);
        for (const t of tickets) ok(t.completed >= 0 && t.completed <= t.count, `ticket completed ${t.completed} of ${t.count}`);
      },
    ),
  },
  {
    name: "msg.packetInfo.source",
    doc: "sourceMessage on any value: a TypeError/RangeError or a message, never another error; a message decodes back (decodePacketInfo) to the same address and interface index",
    kernel: false,
    make: () => fc.property(
      fc.oneof(
        fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 40 }), fc.constantFrom("::ffff:127.0.0.1", "fe80::1%1", "fe80::1%lo", "1.2.3.4%lo", "::1%", ""),
        fc.record({ address: fc.oneof(fc.ipV4(), fc.ipV6(), fc.anything()), interfaceIndex: fc.oneof(fc.integer({ min: -5, max: 2 ** 32 + 5 }), fc.double(), fc.anything()) }, { requiredKeys: ["address"] }),
        fc.anything(),
      ),
      (source) => {
        const r = outcome(() => sourceMessage("sendMsg", source as never));
        if (!r.ok) {
          ok(r.error instanceof TypeError || r.error instanceof RangeError, `sourceMessage threw ${String(r.error)}`);
          return;
        }
        const m = r.value;
        const back = decodePacketInfo(m.level, m.type, m.data);
        ok(back !== undefined, "sourceMessage built a message decodePacketInfo does not read");
        const text = typeof source === "string" ? source : (source as { address: string }).address;
        const host = text.includes("%") ? text.slice(0, text.indexOf("%")) : text;
        const want = parseIPv4(host) ?? parseIPv6(host);
        // IP_PKTINFO carries the source in ipi_spec_dst (decoded as address), IPV6_PKTINFO in
        // ipi6_addr (decoded as destination; address differs for a multicast one).
        const carried = back!.family === "ipv4" ? back!.address : back!.destination;
        const got = parseIPv4(carried) ?? parseIPv6(carried);
        bytesEq(got!, want!, `source ${JSON.stringify(text)} came back as ${carried}`);
        const index = typeof source === "object" && source !== null ? (source as { interfaceIndex?: number }).interfaceIndex : undefined;
        if (index !== undefined) eq(back!.interfaceIndex, index + 0, "interface index"); // -0 is 0
      },
    ),
  },
  {
    name: "msg.walkControl.garbage",
    doc: "walkControl on arbitrary or plausible control bytes and any length: never throws, every message's data lies inside [0, len), and bytes past len change nothing",
    kernel: false,
    make: () => fc.property(
      fc.oneof(plausibleControl, fc.uint8Array({ maxLength: 300 })),
      fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 320 }) }, fc.constantFrom(-1, 2 ** 31, 2 ** 32 - 1, 2 ** 53)),
      fc.integer({ min: 0, max: 16 }),
      (bytes, lenRaw, slack) => {
        // Put the buffer at an offset inside a larger one, with poison before and after.
        const len = lenRaw;
        const base = new Uint8Array(bytes.length + slack + 32);
        const a = base.subarray(16, 16 + bytes.length + slack);
        a.set(bytes);
        const cut = Math.max(0, Math.min(len, a.length));
        const b = a.slice();
        for (let i = cut; i < b.length; i++) b[i] = ~b[i]! & 255;
        const before = a.slice();
        const ra = outcome(() => walkControl(a, len).map((m) => ({ ...m, off: m.data.byteOffset - a.byteOffset })));
        const rb = outcome(() => walkControl(b, len).map((m) => ({ ...m, off: m.data.byteOffset - b.byteOffset })));
        ok(ra.ok, `walkControl threw ${ra.ok ? "" : String(ra.error)}`);
        sameOutcome(ra, rb, `walkControl read past length ${len}`);
        bytesEq(a, before, "walkControl mutated its input");
        ok(ra.value.length <= Math.floor(cut / cmsgLen(0)), `${ra.value.length} messages in ${cut} bytes`);
        for (const m of ra.value) {
          ok(m.data.buffer === a.buffer, "data is not a view into the control buffer");
          ok(m.off >= cmsgLen(0) && m.off + m.data.length <= cut, `data [${m.off}, ${m.off + m.data.length}) outside [0, ${cut})`);
          ok(m.off % CMSG_ALIGNMENT === 0, `message data at unaligned offset ${m.off}`);
        }
      },
    ),
  },
  {
    name: "msg.encodeControl.roundtrip",
    doc: "encodeControl(list) → walkControl gives the list back; layout = Σ CMSG_SPACE(n), cmsg_len = CMSG_LEN(n), padding zero; any prefix length yields a prefix of the list",
    kernel: false,
    make: () => fc.property(fc.array(message, { maxLength: 8 }), fc.nat(), (list, t) => {
      const out = encodeControl(list);
      ok(out.length === list.reduce((n, m) => n + cmsgSpace(m.data.length), 0), `encodeControl size ${out.length}`);
      const back = walkControl(out, out.length).map((m) => ({ level: m.level, type: m.type, data: m.data.slice() }));
      eq(back, list.map((m) => ({ level: m.level, type: m.type, data: m.data })), "walkControl(encodeControl(x))");
      let off = 0;
      for (const m of list) {
        const v = new DataView(out.buffer, out.byteOffset + off);
        const clen = HDR.fields.cmsg_len.size === 8 ? Number(v.getBigUint64(HDR.fields.cmsg_len.offset, LE)) : v.getUint32(HDR.fields.cmsg_len.offset, LE);
        ok(clen === cmsgLen(m.data.length), `cmsg_len ${clen} for ${m.data.length} bytes`);
        for (let i = off + cmsgLen(m.data.length); i < off + cmsgSpace(m.data.length); i++) ok(out[i] === 0, `padding byte ${i} not zero`);
        off += cmsgSpace(m.data.length);
      }
      // A truncated buffer (as with MSG_CTRUNC) gives complete messages first, then at most one cut short.
      const cutAt = out.length ? t % (out.length + 1) : 0;
      const part = walkControl(out, cutAt);
      ok(part.length <= list.length, "more messages from a prefix than from the whole");
      part.forEach((m, i) => {
        const want = list[i]!;
        ok(m.level === want.level && m.type === want.type, `prefix message ${i} header differs`);
        bytesEq(m.data, want.data.subarray(0, m.data.length), `prefix message ${i} data`);
        if (i < part.length - 1) ok(m.data.length === want.data.length, `message ${i} cut short but not last`);
      });
    }),
  },
  {
    name: "msg.cmsg.arithmetic",
    doc: "CMSG_LEN/CMSG_SPACE/CMSG_ALIGN for any n: LEN = LEN(0)+n, SPACE = LEN(0)+ALIGN(n), ALIGN(n) ≥ n, < n+alignment, multiple of the alignment; matches the table's CMSG_SPACE(0/1/4/8)",
    kernel: false,
    make: () => fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (n) => {
      const a = cmsgAlign(n);
      ok(a >= n && a < n + CMSG_ALIGNMENT && a % CMSG_ALIGNMENT === 0, `CMSG_ALIGN(${n}) = ${a}`);
      ok(cmsgLen(n) === X.CMSG_LEN_0 + n, `CMSG_LEN(${n})`);
      ok(cmsgSpace(n) === X.CMSG_LEN_0 + a, `CMSG_SPACE(${n})`);
      eq([cmsgSpace(0), cmsgSpace(1), cmsgSpace(4), cmsgSpace(8)], [X.CMSG_SPACE_0, X.CMSG_SPACE_1, X.CMSG_SPACE_4, X.CMSG_SPACE_8], "table CMSG_SPACE values");
    }),
  },
  {
    name: "msg.fds.kernel",
    doc: "pass 0–20 fds (repeats allowed) with any control room: received count = what fits, each a NEW fd for the same file as the one sent at that position, none invented, none leaked when truncated",
    kernel: true,
    make: (ctx) => {
      // Fixtures, kept open for the whole run: three files, /dev/null, and both ends of a socketpair.
      const pool: number[] = [];
      for (let i = 0; i < 3; i++) pool.push(openSync(join(ctx.tmp, `passed-${i}`), "w+"));
      pool.push(openSync("/dev/null", "r"));
      ctx.defer(() => { for (const fd of pool) closeSync(fd); });
      const fixture = Socket.pair();
      ctx.defer(() => { fixture[0].close(); fixture[1].close(); });
      pool.push(fixture[0].fd, fixture[1].fd);
      const pairs = new Map<string, [Socket, Socket]>();
      ctx.defer(() => { for (const [a, b] of pairs.values()) { a.close(); b.close(); } });
      const pairOf = (type: "stream" | "dgram" | "seqpacket") => {
        let p = pairs.get(type);
        if (!p) pairs.set(type, (p = Socket.pair("unix", type)));
        return p;
      };
      return fc.property(
        fc.array(fc.integer({ min: 0, max: pool.length - 1 }), { maxLength: 20 }),
        fc.oneof(fc.record({ maxFds: fc.integer({ min: 0, max: 24 }) }), fc.record({ controlSize: fc.integer({ min: 0, max: 200 }) })),
        fc.constantFrom("stream" as const, "dgram" as const, "seqpacket" as const),
        fc.uint8Array({ minLength: 1, maxLength: 32 }),
        (picks, room, type, data) => {
          const [a, b] = pairOf(type);
          const sent = picks.map((i) => pool[i]!);
          const openBefore = openFdSet();
          ok(a.sendMsg({ data, fds: sent }) === data.length, "sendMsg count");
          const r = b.recvMsg({ size: 64, ...room });
          try {
            bytesEq(r.data, data, "payload");
            const controlSize = "controlSize" in room ? room.controlSize : room.maxFds ? cmsgSpace(room.maxFds * INT) : 0;
            const fit = controlSize >= cmsgLen(0) ? Math.floor((controlSize - cmsgLen(0)) / INT) : 0;
            const want = Math.min(sent.length, fit);
            ok(r.fds.length === want, `received ${r.fds.length} fds, expected ${want} (sent ${sent.length}, room ${controlSize})`);
            eq(r.controlTruncated, r.fds.length < sent.length, "MSG_CTRUNC iff fds were dropped");
            ok(new Set(r.fds).size === r.fds.length, "a received fd number repeats");
            r.fds.forEach((fd, i) => {
              ok(!openBefore.has(fd), `received fd ${fd} was already open before the call (not new)`);
              eq(target(fd), target(sent[i]!), `received fd ${i} is not the file sent at that position`);
            });
          } finally {
            for (const fd of r.fds) P.close(fd);
          }
          eq(openFdSet(), openBefore, "open fds after closing the received ones");
        },
      );
    },
  },
  {
    name: "msg.scatter-gather.kernel",
    doc: "sendMsg gathers any list of views (subarrays, DataViews, Int16Arrays, strings) and recvMsg scatters into any list of buffers: bytes in order, truncation flagged, nothing written past the room",
    kernel: true,
    make: (ctx) => {
      const pairs = new Map<string, [Socket, Socket]>();
      ctx.defer(() => { for (const [a, b] of pairs.values()) { a.close(); b.close(); } });
      const piece = fc.record({
        kind: fc.constantFrom("u8", "sub", "dv", "i16", "str"),
        bytes: fc.uint8Array({ maxLength: 300 }),
        off: fc.integer({ min: 0, max: 7 }),
      });
      return fc.property(
        fc.array(piece, { maxLength: 8 }),
        fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 6 }),
        fc.constantFrom("dgram" as const, "seqpacket" as const),
        (pieces, rooms, type) => {
          let p = pairs.get(type);
          if (!p) pairs.set(type, (p = Socket.pair("unix", type)));
          const [a, b] = p;
          const expected: number[] = [];
          const data = pieces.map((pc) => {
            switch (pc.kind) {
              case "u8": expected.push(...pc.bytes); return pc.bytes;
              case "sub": {
                const big = new Uint8Array(pc.bytes.length + pc.off + 9).fill(0xee);
                big.set(pc.bytes, pc.off);
                expected.push(...pc.bytes);
                return big.subarray(pc.off, pc.off + pc.bytes.length);
              }
              case "dv": {
                const big = new Uint8Array(pc.bytes.length + pc.off + 3).fill(0xdd);
                big.set(pc.bytes, pc.off);
                expected.push(...pc.bytes);
                return new DataView(big.buffer, pc.off, pc.bytes.length);
              }
              case "i16": {
                const n = pc.bytes.length & ~1;
                const i16 = new Int16Array(n / 2);
                new Uint8Array(i16.buffer).set(pc.bytes.subarray(0, n));
                expected.push(...pc.bytes.subarray(0, n));
                return i16;
              }
              default: {
                const s = Array.from(pc.bytes.subarray(0, 40), (x) => String.fromCharCode(32 + (x % 90))).join("");
                expected.push(...new TextEncoder().encode(s));
                return s;
              }
            }
          });
          const sent = a.sendMsg({ data });
          ok(sent === expected.length, `sendMsg sent ${sent} of ${expected.length}`);
          const buffers = rooms.map((n) => new Uint8Array(n + 8).fill(0x77).subarray(4, 4 + n));
          const room = rooms.reduce((x, y) => x + y, 0);
          const r = b.recvMsg({ buffers });
          const got = Math.min(expected.length, room);
          ok(r.bytes === got, `recvMsg returned ${r.bytes}, expected ${got}`);
          eq(r.truncated, expected.length > room, "MSG_TRUNC iff the datagram exceeded the room");
          bytesEq(r.data, Uint8Array.from(expected.slice(0, got)), "received bytes");
          let off = 0;
          for (const buf of buffers) {
            const full = new Uint8Array(buf.buffer);
            ok(full[0] === 0x77 && full[3] === 0x77 && full[full.length - 1] === 0x77 && full[full.length - 4] === 0x77, "recvMsg wrote outside a scatter buffer");
            const take = Math.max(0, Math.min(buf.length, got - off));
            bytesEq(buf.subarray(0, take), Uint8Array.from(expected.slice(off, off + take)), "scatter buffer contents");
            for (let i = take; i < buf.length; i++) ok(buf[i] === 0x77, "recvMsg wrote past the received bytes");
            off += buf.length;
          }
        },
      );
    },
  },
];
