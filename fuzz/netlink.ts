/**
 * Fuzz targets for the rtnetlink parsers (src/linux/netlink.ts): the message walk, the attribute walk
 * and the link/address decoders on arbitrary and plausible bytes. Linux only (the layouts are
 * Linux's); elsewhere each target checks that the parsers refuse cleanly.
 */
import fc from "fast-check";
import { table } from "../ffi/platform.ts";
import { parseAddress, parseAttributes, parseLink, parseMessages, type NetlinkMessage } from "../src/linux/netlink.ts";
import { formatRoute, parseNamesFile, parseRoute, tableId } from "../src/linux/routes.ts";
import { formatNeighbour, parseNeighbour } from "../src/linux/neighbours.ts";
import { ackOf, dumpEndOf } from "../src/linux/rtrequest.ts";
import { bytesEq, ok, outcome, sameOutcome } from "./check.ts";
import type { Target } from "./context.ts";

const C = table.constants;
const LE = table.expressions.LITTLE_ENDIAN === 1;
const H = table.structs.nlmsghdr;
const linux = H !== null;

/** `head` followed by each attribute as a struct rtattr (length, type, data, RTA_ALIGN padding). */
function withAttributes(head: Uint8Array, attrs: readonly { type: number; data: Uint8Array }[]): Uint8Array {
  const parts: Uint8Array[] = [head];
  for (const at of attrs) {
    const b = new Uint8Array((4 + at.data.length + 3) & ~3);
    const v = new DataView(b.buffer);
    v.setUint16(0, 4 + at.data.length, LE);
    v.setUint16(2, at.type, LE);
    b.set(at.data, 4);
    parts.push(b);
  }
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * `read` (ackOf or dumpEndOf) on a message of sequence number 1 carrying `payload`, asked for
 * `seq`: checks that it never throws and reads only inside the payload (twoTails), and returns
 * its answer.
 */
function answerOf<T>(name: string, read: (m: NetlinkMessage, seq: number) => T, type: number, flags: number, payload: Uint8Array, seq: number, slack: number): T {
  const [a, b] = twoTails(payload, slack);
  const mk = (p: Uint8Array): NetlinkMessage => ({ type, flags, seq: 1, pid: 0, payload: p.subarray(0, payload.length) });
  const ra = outcome(() => read(mk(a), seq));
  const rb = outcome(() => read(mk(b), seq));
  ok(ra.ok, `${name} threw ${ra.ok ? "" : String(ra.error)}`);
  ok(JSON.stringify(ra.value) === JSON.stringify(rb.ok ? rb.value : null), `${name} read past the payload`);
  return ra.value as T;
}

/**
 * Two copies of `payload` followed by `slack` bytes that differ between them: a decoder given
 * only the payload's length must return the same from both (else it read past the payload).
 */
function twoTails(payload: Uint8Array, slack: number): [Uint8Array, Uint8Array] {
  const a = new Uint8Array(payload.length + slack);
  a.set(payload);
  const b = a.slice();
  for (let i = payload.length; i < b.length; i++) b[i] = ~b[i]! & 255;
  return [a, b];
}

/** Plausible streams: headers with small (sometimes wrong) lengths around random payloads. */
const plausibleStream = fc.array(
  fc.record({
    type: fc.constantFrom(C.RTM_NEWLINK ?? 16, C.RTM_NEWADDR ?? 20, C.NLMSG_DONE ?? 3, C.NLMSG_ERROR ?? 2, 0, 0xffff),
    body: fc.uint8Array({ maxLength: 120 }),
    lie: fc.integer({ min: -8, max: 8 }),
  }),
  { maxLength: 6 },
).map((msgs) => {
  if (!H) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  for (const m of msgs) {
    const len = H.size + m.body.length;
    const b = new Uint8Array((len + 3) & ~3);
    const v = new DataView(b.buffer);
    v.setUint32(H.fields.nlmsg_len.offset, Math.max(0, len + m.lie), LE);
    v.setUint16(H.fields.nlmsg_type.offset, m.type, LE);
    b.set(m.body, H.size);
    parts.push(b);
  }
  return new Uint8Array(Buffer.concat(parts));
});

export const netlinkTargets: Target[] = [
  {
    name: "netlink.parseMessages.garbage",
    doc: "parseMessages on arbitrary or plausible bytes and any length: never throws, every payload lies inside [0, len), bytes past len change nothing, input untouched",
    kernel: false,
    make: () => fc.property(
      fc.oneof(plausibleStream, fc.uint8Array({ maxLength: 400 })),
      fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 420 }) }, fc.constantFrom(-1, Number.NaN, 2 ** 32)),
      (bytes, len) => {
        if (!linux) { ok(!outcome(() => parseMessages(bytes, len)).ok, "parseMessages ran without netlink"); return; }
        const cut = len > 0 ? Math.min(Math.floor(len), bytes.length) : 0;
        const poisoned = bytes.slice();
        for (let i = cut; i < poisoned.length; i++) poisoned[i] = ~poisoned[i]! & 255;
        const before = bytes.slice();
        const a = outcome(() => parseMessages(bytes, len).map((m) => ({ ...m, off: m.payload.byteOffset, payload: [...m.payload] })));
        const b = outcome(() => parseMessages(poisoned, len).map((m) => ({ ...m, off: m.payload.byteOffset, payload: [...m.payload] })));
        ok(a.ok, `parseMessages threw ${a.ok ? "" : String(a.error)}`);
        sameOutcome(a, b, `parseMessages read past length ${len}`);
        bytesEq(bytes, before, "parseMessages mutated its input");
        for (const m of a.value) ok(m.off + m.payload.length <= cut, `payload ends at ${m.off + m.payload.length} > ${cut}`);
      },
    ),
  },
  {
    name: "netlink.parseAttributes.garbage",
    doc: "parseAttributes on arbitrary bytes: never throws, every attribute's data lies inside the bytes, bytes past them change nothing",
    kernel: false,
    make: () => fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 16 }), (bytes, slack) => {
      if (!linux) return;
      const big = new Uint8Array(bytes.length + slack);
      big.set(bytes);
      const view = big.subarray(0, bytes.length);
      const poisoned = big.slice();
      for (let i = bytes.length; i < poisoned.length; i++) poisoned[i] = ~poisoned[i]! & 255;
      const a = outcome(() => parseAttributes(view).map((x) => ({ type: x.type, data: [...x.data], end: x.data.byteOffset + x.data.length })));
      const b = outcome(() => parseAttributes(poisoned.subarray(0, bytes.length)).map((x) => ({ type: x.type, data: [...x.data], end: x.data.byteOffset + x.data.length })));
      ok(a.ok, `parseAttributes threw ${a.ok ? "" : String(a.error)}`);
      sameOutcome(a, b, "parseAttributes read past the bytes");
      for (const x of a.value) ok(x.end <= bytes.length, `attribute ends at ${x.end} > ${bytes.length}`);
    }),
  },
  {
    name: "netlink.decode.any",
    doc: "parseLink / parseAddress on any message type and payload: never throw; a decoded link or address comes only from its own message types",
    kernel: false,
    make: () => fc.property(
      fc.constantFrom(C.RTM_NEWLINK ?? 16, C.RTM_DELLINK ?? 17, C.RTM_NEWADDR ?? 20, C.RTM_DELADDR ?? 21, 0, 99),
      fc.uint8Array({ maxLength: 160 }),
      (type, payload) => {
        if (!linux) return;
        const m: NetlinkMessage = { type, flags: 0, seq: 0, pid: 0, payload };
        const l = outcome(() => parseLink(m));
        const a = outcome(() => parseAddress(m));
        ok(l.ok && a.ok, "a decoder threw");
        if (l.value !== null) ok(type === C.RTM_NEWLINK || type === C.RTM_DELLINK, `a link from type ${type}`);
        if (a.value !== null) ok(type === C.RTM_NEWADDR || type === C.RTM_DELADDR, `an address from type ${type}`);
      },
    ),
  },
  {
    name: "netlink.parseRoute.any",
    doc: "parseRoute on route messages whose rtmsg is followed by plausible attributes (addresses, metrics, multipath next hops, of right and wrong lengths): never throws, reads only inside the payload, decodes only RTM_NEWROUTE/RTM_DELROUTE, and formatRoute prints every decoded route",
    kernel: false,
    make: () => fc.property(
      fc.constantFrom(C.RTM_NEWROUTE ?? 24, C.RTM_DELROUTE ?? 25, C.RTM_NEWLINK ?? 16, 0),
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.array(fc.record({
        type: fc.oneof(fc.constantFrom(C.RTA_DST ?? 1, C.RTA_GATEWAY ?? 5, C.RTA_OIF ?? 4, C.RTA_PRIORITY ?? 6, C.RTA_PREFSRC ?? 7, C.RTA_METRICS ?? 8, C.RTA_MULTIPATH ?? 9, C.RTA_TABLE ?? 15, C.RTA_PREF ?? 20, C.RTA_EXPIRES ?? 23, C.RTA_CACHEINFO ?? 12), fc.integer({ min: 0, max: 40 })),
        data: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constantFrom(new Uint8Array(4), new Uint8Array(16), Uint8Array.of(8, 0, 0, 0, 1, 0, 0, 0, 8, 0, 2, 0, 0, 0, 0, 0))),
      }), { maxLength: 8 }),
      fc.integer({ min: 0, max: 16 }),
      (type, head, attrs, slack) => {
        if (!linux || !table.structs.rtmsg) return;
        head[0] = head[0]! & 1 ? (C.AF_INET) : (C.AF_INET6); // mostly a route family
        const payload = withAttributes(head, attrs);
        const [a, b] = twoTails(payload, slack);
        const mk = (p: Uint8Array): NetlinkMessage => ({ type, flags: 0, seq: 0, pid: 0, payload: p.subarray(0, payload.length) });
        const ra = outcome(() => parseRoute(mk(a)));
        const rb = outcome(() => parseRoute(mk(b)));
        ok(ra.ok, `parseRoute threw ${ra.ok ? "" : String(ra.error)}`);
        const strip = (r: unknown): unknown => (r === null ? r : JSON.stringify(r, (_k, v: unknown) => (v instanceof Map ? [...v] : v)));
        ok(strip(ra.value) === strip(rb.ok ? rb.value : null), "parseRoute read past the payload");
        const r = ra.value;
        if (r === null) return;
        ok(type === C.RTM_NEWROUTE || type === C.RTM_DELROUTE, `a route from type ${type}`);
        const f = outcome(() => formatRoute(r, { showTable: true }));
        ok(f.ok && typeof f.value === "string", `formatRoute threw ${f.ok ? "" : String(f.error)}`);
      },
    ),
  },
  {
    name: "netlink.parseNeighbour.any",
    doc: "parseNeighbour on neighbour messages (an ndmsg, then plausible NDA_* attributes of right and wrong lengths): never throws, reads only inside the payload, decodes only RTM_NEWNEIGH/RTM_DELNEIGH, and formatNeighbour prints every decoded entry",
    kernel: false,
    make: () => fc.property(
      fc.constantFrom(C.RTM_NEWNEIGH ?? 28, C.RTM_DELNEIGH ?? 29, C.RTM_NEWROUTE ?? 24, 0),
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.array(fc.record({
        type: fc.oneof(fc.constantFrom(C.NDA_DST ?? 1, C.NDA_LLADDR ?? 2, C.NDA_PROBES ?? 4, C.NDA_CACHEINFO ?? 3), fc.integer({ min: 0, max: 20 })),
        data: fc.oneof(fc.uint8Array({ maxLength: 24 }), fc.constantFrom(new Uint8Array(4), new Uint8Array(6), new Uint8Array(16))),
      }), { maxLength: 6 }),
      fc.integer({ min: 0, max: 16 }),
      (type, head, attrs, slack) => {
        if (!linux || !table.structs.ndmsg) return;
        head[0] = head[0]! & 1 ? C.AF_INET : C.AF_INET6;
        const payload = withAttributes(head, attrs);
        const [a, b] = twoTails(payload, slack);
        const mk = (p: Uint8Array): NetlinkMessage => ({ type, flags: 0, seq: 0, pid: 0, payload: p.subarray(0, payload.length) });
        const ra = outcome(() => parseNeighbour(mk(a)));
        const rb = outcome(() => parseNeighbour(mk(b)));
        ok(ra.ok, `parseNeighbour threw ${ra.ok ? "" : String(ra.error)}`);
        const text = (r: unknown): string => JSON.stringify(r, (_k, v: unknown) => (v instanceof Uint8Array ? [...v] : v));
        ok(text(ra.value) === text(rb.ok ? rb.value : null), "parseNeighbour read past the payload");
        const n = ra.value;
        if (n === null) return;
        ok(type === C.RTM_NEWNEIGH || type === C.RTM_DELNEIGH, `a neighbour from type ${type}`);
        const f = outcome(() => formatNeighbour(n));
        ok(f.ok, `formatNeighbour threw ${f.ok ? "" : String(f.error)}`);
      },
    ),
  },
  {
    name: "netlink.ack.any",
    doc: "ackOf on NLMSG_ERROR answers with any flags (ACK_TLVS, CAPPED) and payload, echoed lengths right and wrong: never throws, reads only inside the payload, answers only its own sequence number",
    kernel: false,
    make: () => fc.property(
      fc.constantFrom(C.NLMSG_ERROR ?? 2, C.NLMSG_DONE ?? 3, 16),
      fc.integer({ min: 0, max: 0xffff }),
      fc.uint8Array({ maxLength: 96 }),
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: 0, max: 16 }),
      (type, flags, payload, seq, slack) => {
        if (!linux) return;
        const ack = answerOf("ackOf", ackOf, type, flags, payload, seq, slack);
        if (ack !== undefined) ok(type === C.NLMSG_ERROR && seq === 1, "an ack for another type or sequence number");
      },
    ),
  },
  {
    name: "netlink.dumpEnd.any",
    doc: "dumpEndOf on NLMSG_DONE/NLMSG_ERROR/other messages with any flags and payload (an errno, extended-ack attributes or garbage after it): never throws, reads only inside the payload, ends only its own dump, only with DONE or ERROR, and a DONE's errno is its payload's first int negated",
    kernel: false,
    make: () => fc.property(
      fc.constantFrom(C.NLMSG_ERROR ?? 2, C.NLMSG_DONE ?? 3, 16),
      fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constant((C.NLM_F_ACK_TLVS ?? 0x200) | (C.NLM_F_MULTI ?? 2))),
      fc.oneof(
        fc.uint8Array({ maxLength: 96 }),
        // A plausible failed DONE: -errno, then an NLMSGERR_ATTR_MSG text.
        fc.tuple(fc.integer({ min: -200, max: 0 }), fc.string({ maxLength: 40 })).map(([err, text]) => {
          const head = new Uint8Array(4);
          new DataView(head.buffer).setInt32(0, err, LE);
          return withAttributes(head, [{ type: C.NLMSGERR_ATTR_MSG ?? 1, data: new TextEncoder().encode(`${text}\0`) }]);
        }),
      ),
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: 0, max: 16 }),
      (type, flags, payload, seq, slack) => {
        if (!linux) return;
        const end = answerOf("dumpEndOf", dumpEndOf, type, flags, payload, seq, slack);
        if (end === undefined) return;
        ok(seq === 1 && (type === C.NLMSG_ERROR || type === C.NLMSG_DONE), "ended a dump with another type or sequence number");
        if (type === C.NLMSG_DONE && payload.length >= 4) {
          ok(end.errno === -new DataView(payload.buffer, payload.byteOffset).getInt32(0, LE), "DONE errno is not the payload's int negated");
        }
      },
    ),
  },
  {
    name: "routes.tableId.numbers",
    doc: "tableId (ip route show table T's parse) on numbers written every way C's strtoul(T, &end, 0) reads them (leading white space, a + sign, decimal, 0x/0X hex, 0 octal) gives their value, 0 gives every table (null); on any other text it never throws and gives undefined, null or an id in 1..2^32-1",
    kernel: false,
    make: () => fc.property(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.constantFrom("dec", "hex", "HEX", "oct"),
      fc.string({ unit: fc.constantFrom(" ", "\t", "\n", "\v", "\f", "\r"), maxLength: 3 }),
      fc.boolean(),
      fc.string({ maxLength: 12 }),
      (value, base, space, plus, junk) => {
        const digits = base === "dec" ? String(value) : base === "oct" ? `0${value.toString(8)}` : `${base === "hex" ? "0x" : "0X"}${value.toString(16)}`;
        const text = `${space}${plus ? "+" : ""}${digits}`;
        const got = outcome(() => tableId(text));
        ok(got.ok, `tableId(${JSON.stringify(text)}) threw`);
        // A name in the machine's rt_tables could shadow a number; none of the usual ones does.
        ok(got.value === (value === 0 ? null : value), `tableId(${JSON.stringify(text)}) = ${String(got.value)}, not ${value}`);
        const any = outcome(() => tableId(junk));
        ok(any.ok, `tableId(${JSON.stringify(junk)}) threw`);
        const v = any.value;
        ok(v === undefined || v === null || (Number.isInteger(v) && v >= 1 && v <= 0xffffffff), `tableId(${JSON.stringify(junk)}) = ${String(v)}`);
      },
    ),
  },
  {
    name: "routes.namesFile.any",
    doc: "parseNamesFile (an rt_tables-style file, as ip's sscanf reads it) on arbitrary text never throws and gives ids that are C ints and names that are single non-empty words; a file of well-formed `ID NAME` lines (decimal or 0x hex, comments and blank lines between) gives exactly those entries, in order",
    kernel: false,
    make: () => fc.property(
      fc.string({ maxLength: 200 }),
      fc.array(fc.record({
        id: fc.integer({ min: 0, max: 0x7fffffff }),
        hex: fc.boolean(),
        name: fc.string({ unit: fc.constantFrom(..."abcXYZ019_-.#:/@"), minLength: 1, maxLength: 12 }),
        noise: fc.constantFrom("", "# a comment\n", "\n", "   \t\n"),
      }), { maxLength: 8 }),
      (junk, lines) => {
        const any = outcome(() => parseNamesFile(junk));
        ok(any.ok, "parseNamesFile threw");
        for (const e of any.value ?? []) {
          ok(Number.isInteger(e.id) && e.id >= -0x80000000 && e.id <= 0x7fffffff, `id ${e.id} is not a C int`);
          ok(e.name.length > 0 && !/[ \t\n\v\f\r]/.test(e.name), `name ${JSON.stringify(e.name)} is not one word`);
        }
        const text = lines.map((l) => `${l.noise}${l.hex ? `0x${l.id.toString(16)}` : l.id} ${l.name}\n`).join("");
        const got = parseNamesFile(text);
        ok(JSON.stringify(got) === JSON.stringify(lines.map((l) => ({ id: l.id, name: l.name }))), `parsed ${JSON.stringify(got)} from ${JSON.stringify(text)}`);
      },
    ),
  },
];
