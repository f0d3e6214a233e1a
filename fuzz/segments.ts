/**
 * Fuzz targets for Socket.sendSegments (src/linux/gso.ts): any data length and segment size, sent
 * over UDP loopback (segmentation offload, several chunks per call) and unix datagram sockets
 * (sendmmsg batches), arrives as exactly the expected datagrams — ⌊n / size⌋ of `size` bytes,
 * then the rest — with the bytes in order and nothing else queued; views with offsets, strings
 * and wide typed arrays included; invalid segment sizes throw before any syscall.
 */
import fc from "fast-check";
import { SocketError } from "../src/core/errors.ts";
import { MAX_SEND_BYTES } from "../src/linux/gso.ts";
import type { Address } from "../src/core/sockaddr.ts";
import { Socket } from "../src/socket/socket.ts";
import { bytesEq, eq, ok, outcome } from "./check.ts";
import type { Target } from "./context.ts";

/** Lengths of the datagrams `n` bytes in segments of `size` become. */
function split(n: number, size: number): number[] {
  const out: number[] = [];
  for (let o = 0; o < n; o += size) out.push(Math.min(size, n - o));
  return out;
}

/** Receives until EAGAIN (bounded), returning each datagram. */
function drain(rx: Socket, max: number): Uint8Array[] {
  const got: Uint8Array[] = [];
  rx.timeout = 0;
  for (let i = 0; i <= max; i++) {
    try {
      got.push(rx.recv(70_000));
    } catch (e) {
      if (e instanceof SocketError && e.code === "EAGAIN") break;
      throw e;
    }
  }
  return got;
}

export const segmentTargets: readonly Target[] = [
  {
    name: "segments.kernel",
    doc: "sendSegments of any data (views with offsets, strings, wide arrays) and segment size arrives over UDP and unix dgram as exactly ⌊n/size⌋ full datagrams plus the rest, bytes in order, nothing more",
    kernel: true,
    make: (ctx) => {
      const sockets = new Map<string, { rx: Socket; tx: Socket; to: Address }>();
      ctx.defer(() => { for (const s of sockets.values()) { s.rx.close(); s.tx.close(); } });
      const pairOf = (kind: "inet" | "unix") => {
        let p = sockets.get(kind);
        if (!p) {
          const rx = new Socket(kind, "dgram");
          rx.bind(kind === "inet" ? { family: "inet", host: "127.0.0.1", port: 0 } : { family: "unix", path: `${ctx.tmp}/seg.sock` });
          const tx = new Socket(kind, "dgram");
          tx.timeout = 2000; // a unix receiver's full queue must fail the case, not hang it
          p = { rx, tx, to: rx.localAddress as Address };
          sockets.set(kind, p);
        }
        return p;
      };
      return fc.property(
        fc.constantFrom("inet" as const, "unix" as const),
        fc.integer({ min: 0, max: 2 * MAX_SEND_BYTES }),
        fc.integer({ min: 1, max: 70_000 }),
        fc.constantFrom("u8", "sub", "i32", "str"),
        fc.integer({ min: 0, max: 255 }),
        (kind, wanted, size, form, seed) => {
          // Bounded so that everything sent fits what is queued without a reader: the UDP
          // receive buffer (rmem_default, ~200 KiB of datagrams and their overhead), a unix
          // receiver's max_dgram_qlen (10) and the unix sender's buffer (~200 KiB).
          const maxCount = kind === "unix" ? 8 : 100;
          const n = Math.min(wanted, size * maxCount, 100_000);
          const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
          let data: Uint8Array | Int32Array | string = bytes;
          let expected = bytes;
          if (form === "sub") {
            const big = new Uint8Array(n + 7).fill(0xee);
            big.set(bytes, 3);
            data = big.subarray(3, 3 + n);
          } else if (form === "i32") {
            expected = bytes.subarray(0, n & ~3);
            data = new Int32Array(expected.slice().buffer);
          } else if (form === "str") {
            const s = Array.from(bytes.subarray(0, 400), (x) => String.fromCharCode(32 + (x % 90))).join("");
            data = s;
            expected = new TextEncoder().encode(s);
          }
          const { rx, tx, to } = pairOf(kind);
          const tooBig = size > 0xffff;
          const r = outcome(() => tx.sendSegments(data, size, to));
          if (tooBig) {
            ok(!r.ok && r.kind === "RangeError", `segment size ${size}: expected RangeError, got ${r.ok ? r.value : r.kind}`);
            eq(drain(rx, 1).length, 0, "nothing sent after a refused segment size");
            return;
          }
          const lengths = split(expected.length, size);
          // One datagram larger than UDP can carry is EMSGSIZE, as a plain sendto would be.
          const oversize = kind === "inet" && lengths.some((l) => l > MAX_SEND_BYTES);
          if (oversize) {
            ok(!r.ok && r.error instanceof SocketError && r.error.code === "EMSGSIZE", `expected EMSGSIZE, got ${r.ok ? r.value : r.kind}`);
            drain(rx, lengths.length);
            return;
          }
          ok(r.ok, `sendSegments threw ${r.ok ? "" : r.kind}: ${r.ok ? "" : String(r.error)}`);
          eq(r.value, expected.length, "returned byte count");
          const got = drain(rx, lengths.length + 1);
          eq(got.map((g) => g.length), lengths, "datagram lengths");
          const joined = new Uint8Array(expected.length);
          let o = 0;
          for (const g of got) { joined.set(g, o); o += g.length; }
          bytesEq(joined, expected, "bytes in order");
        },
      );
    },
  },
];
