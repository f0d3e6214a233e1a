/**
 * Hot-path profile of bsdsock (not part of `npm run bench`): run with
 *   bun bench/profile/hotpath.ts [calls]
 *
 * 1. FFI signature cost, without a syscall: strnlen(const char *, size_t) -> size_t declared
 *    with each candidate type ("ptr" vs "buffer" for the pointer, i64_fast/u64_fast/i64/i32 for
 *    the result), ns per call.
 * 2. Each layer's cost per call on real syscalls (unix datagram socketpair, send 64 B + recv):
 *    libc directly, src/core/sys.ts, Socket, posix; and UDP sendto + recvfrom on loopback.
 * 3. Allocations per call: JS heap cells created by 10 000 calls (bun:jsc heapStats diff with no
 *    GC in between), by type.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { heapStats } from "bun:jsc";
import { table } from "../../ffi/platform.ts";
import { libc } from "../../ffi/libc.ts";
import * as P from "../../src/posix.ts";
import { Socket } from "../../src/socket/socket.ts";
import * as sys from "../../src/core/sys.ts";

const N = Number(process.argv[2] ?? 1_000_000);
const C = table.constants;

function time(label: string, calls: number, f: () => void): number {
  for (let i = 0; i < Math.min(calls, 20_000); i++) f(); // warm up (JIT)
  const t = Bun.nanoseconds();
  for (let i = 0; i < calls; i++) f();
  const ns = (Bun.nanoseconds() - t) / calls;
  console.log(`  ${label.padEnd(58)} ${ns.toFixed(1).padStart(8)} ns/call`);
  return ns;
}

/** Heap cells created by `calls` calls of f, by type (after a full GC; no GC expected in between). */
function allocations(label: string, f: () => void, calls = 10_000): void {
  for (let i = 0; i < 1000; i++) f();
  Bun.gc(true);
  const before = heapStats().objectTypeCounts as Record<string, number>;
  for (let i = 0; i < calls; i++) f();
  const after = heapStats().objectTypeCounts as Record<string, number>;
  const diff = Object.keys(after)
    .map((k) => [k, ((after[k] ?? 0) - (before[k] ?? 0)) / calls] as const)
    .filter(([, d]) => d >= 0.5)
    .sort((a, b) => b[1] - a[1]);
  const text = diff.length ? diff.map(([k, d]) => `${k} ×${d.toFixed(1)}`).join(", ") : "none";
  console.log(`  ${label.padEnd(58)} ${text}`);
}

// --- 1. FFI signatures ---------------------------------------------------------------------------

console.log(`FFI signature cost (strnlen, no syscall), ${N} calls each`);
const variants = {
  ptr_i64fast: { args: ["ptr", "u64"], returns: FFIType.i64_fast },
  buffer_i64fast: { args: ["buffer", "u64"], returns: FFIType.i64_fast },
  ptr_u64fast: { args: ["ptr", "u64"], returns: FFIType.u64_fast },
  ptr_i64: { args: ["ptr", "u64"], returns: "i64" },
  ptr_i32: { args: ["ptr", "u64"], returns: "i32" },
  ptr_u32len_i32: { args: ["ptr", "u32"], returns: "i32" },
} as const;
const path = libc === undefined ? "" : "libc.so.6";
const syms: Record<string, (...a: unknown[]) => unknown> = {};
for (const [name, sig] of Object.entries(variants)) {
  syms[name] = dlopen(path, { strnlen: sig }).symbols.strnlen as unknown as (...a: unknown[]) => unknown;
}
const s64 = new Uint8Array(64).fill(1);
const s64ptr = ptr(s64);
time(`"ptr" + Uint8Array, "u64" → i64_fast (bsdsock today)`, N, () => syms.ptr_i64fast!(s64, 64));
time(`"ptr" + number from ptr(), "u64" → i64_fast`, N, () => syms.ptr_i64fast!(s64ptr, 64));
time(`"buffer" + Uint8Array, "u64" → i64_fast`, N, () => syms.buffer_i64fast!(s64, 64));
time(`"ptr", "u64" → u64_fast`, N, () => syms.ptr_u64fast!(s64, 64));
time(`"ptr", "u64" → i64 (BigInt)`, N, () => syms.ptr_i64!(s64, 64));
time(`"ptr", "u64" → i32`, N, () => syms.ptr_i32!(s64, 64));
time(`"ptr", "u32" → i32 (not ABI-safe for size_t; reference only)`, N, () => syms.ptr_u32len_i32!(s64, 64));

// --- 2. per layer, real syscalls -----------------------------------------------------------------

const calls = Math.max(10_000, Math.floor(N / 4));
console.log(`\nsend 64 B + recv on a unix datagram socketpair, ${calls} pairs each`);
const [a, b] = Socket.pair("unix", "dgram");
const fa = a.fd, fb = b.fd;
const msg = new Uint8Array(64);
const inb = new Uint8Array(2048);
const flags = C.MSG_NOSIGNAL ?? 0;
const base = time("libc.send + libc.recv (FFI only)", calls, () => { libc.send(fa, msg, 64, flags); libc.recv(fb, inb, 2048, 0); });
const sysT = time("sys.send + sys.recv", calls, () => { sys.send(fa, msg, 64, flags); sys.recv(fb, inb, 2048, 0); });
const sockT = time("Socket.send + Socket.recvInto", calls, () => { a.send(msg); b.recvInto(inb); });
const posT = time("posix.send + posix.recv", calls, () => { P.send(fa, msg, 64, flags); P.recv(fb, inb, 2048, 0); });
console.log(`  overhead per pair over raw FFI: sys ${(sysT - base).toFixed(0)} ns, Socket ${(sockT - base).toFixed(0)} ns, posix ${(posT - base).toFixed(0)} ns`);

console.log(`\nUDP loopback sendto + recvfrom (to itself), ${calls} pairs each`);
const u = new Socket("inet", "dgram");
u.bind({ family: "inet", host: "127.0.0.1", port: 0 });
const me = u.localAddress as { family: "inet"; host: string; port: number };
const uf = u.fd;
const sin = new P.sockaddr_in();
sin.sin_family = P.AF_INET;
sin.sin_port = P.htons(me.port);
sin.sin_addr.s_addr = P.htonl(P.INADDR_LOOPBACK);
const from = new P.sockaddr_in();
const fromLen = new P.socklen_t(P.sockaddr_in.size);
const fromLenRaw = new Uint32Array(1);
const ubase = time("libc.sendto + libc.recvfrom (FFI only)", calls, () => {
  libc.sendto(uf, msg, 64, 0, sin.bytes, 16);
  fromLenRaw[0] = 16;
  libc.recvfrom(uf, inb, 2048, 0, from.bytes, fromLenRaw);
});
const usock = time("Socket.sendTo + Socket.recvFromInto", calls, () => { u.sendTo(msg, me); u.recvFromInto(inb); });
const uconn = time("Socket.sendTo only + libc.recvfrom (isolates sendTo)", calls, () => {
  u.sendTo(msg, me);
  fromLenRaw[0] = 16;
  libc.recvfrom(uf, inb, 2048, 0, from.bytes, fromLenRaw);
});
const upos = time("posix.sendto + posix.recvfrom", calls, () => {
  P.sendto(uf, msg, 64, 0, sin, 16);
  fromLen.value = 16;
  P.recvfrom(uf, inb, 2048, 0, from, fromLen);
});
console.log(`  overhead per pair over raw FFI: Socket ${(usock - ubase).toFixed(0)} ns (sendTo alone ${(uconn - ubase).toFixed(0)} ns), posix ${(upos - ubase).toFixed(0)} ns`);

// --- 3. allocations ------------------------------------------------------------------------------

console.log("\nJS heap cells allocated per call (10 000 calls, no GC in between)");
allocations("libc.send + libc.recv", () => { libc.send(fa, msg, 64, flags); libc.recv(fb, inb, 2048, 0); });
allocations("Socket.send + Socket.recvInto", () => { a.send(msg); b.recvInto(inb); });
allocations("Socket.sendAll + Socket.recvInto", () => { a.sendAll(msg); b.recvInto(inb); });
allocations("posix.send + posix.recv", () => { P.send(fa, msg, 64, flags); P.recv(fb, inb, 2048, 0); });
allocations("Socket.sendTo (+ raw recvfrom)", () => {
  u.sendTo(msg, me);
  fromLenRaw[0] = 16;
  libc.recvfrom(uf, inb, 2048, 0, from.bytes, fromLenRaw);
});
allocations("Socket.recvFromInto (+ raw sendto)", () => { libc.sendto(uf, msg, 64, 0, sin.bytes, 16); u.recvFromInto(inb); });
allocations("posix.sendto + posix.recvfrom", () => {
  P.sendto(uf, msg, 64, 0, sin, 16);
  fromLen.value = 16;
  P.recvfrom(uf, inb, 2048, 0, from, fromLen);
});
allocations("Socket.send(buf.subarray(0, n)) — sending part of a buffer", () => { a.send(msg.subarray(0, 32)); b.recvInto(inb); });
a.close();
b.close();
u.close();
