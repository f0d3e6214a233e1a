/**
 * Pointers inside structs handed to libc (msghdr.msg_iov, iovec.iov_base, msg_name...): the one
 * place that takes a buffer's address and writes or reads pointer-sized and length fields by
 * the platform table's offset AND size (musl's msghdr has 4-byte msg_iovlen/msg_controllen).
 * Used by src/socket/msg.ts (sendmsg/recvmsg) and src/socket/mmsg.ts (sendmmsg/recvmmsg).
 */
import { ptr } from "bun:ffi";
import { table } from "../../ffi/platform.ts";
import type { FieldLayout } from "../../ffi/table.ts";
import * as check from "./check.ts";

const LE = table.expressions.LITTLE_ENDIAN === 1;

/** A buffer's real length (built-in getter: an own `byteLength` cannot fake an iov_len). */
export const realLength = (b: Uint8Array): number => check.typedLength(b);

/**
 * The address of a buffer's first byte, for writing into a struct; 0 (NULL) for an empty one.
 *
 * The storage is materialized first (through the built-in `buffer` getter, so no caller getter
 * runs): a small typed array lives inline in a GC cell until its ArrayBuffer is first asked for,
 * and then its bytes MOVE (measured with Bun 1.4.4: `ptr(a)` changes after `a.buffer` or
 * `a.subarray()`). After that the storage stays put for as long as the array is alive, so the
 * caller must keep `buf` referenced until the libc call that uses the address has returned.
 */
export function addressOf(buf: Uint8Array): number {
  if (realLength(buf) === 0) return 0;
  check.materialize(buf);
  return ptr(buf);
}

/** New zeroed bytes whose storage is already materialized (their address never moves). */
export function bytes(n: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(n));
}

/** Writes an unsigned value into a field of 4 or 8 bytes, in the platform's byte order. */
export function putUint(view: DataView, base: number, f: FieldLayout, v: number, what: string): void {
  const off = base + f.offset;
  if (f.size === 4) {
    if (v > 0xffffffff) throw new RangeError(`${what} ${v} does not fit its 4-byte field`);
    view.setUint32(off, v, LE);
  } else if (f.size === 8) {
    view.setUint32(off + (LE ? 0 : 4), v % 0x100000000, LE);
    view.setUint32(off + (LE ? 4 : 0), Math.floor(v / 0x100000000), LE);
  } else {
    throw new Error(`bsdsock: unsupported ${f.size}-byte field for ${what}`);
  }
}

/** Reads an unsigned field of 4 or 8 bytes. */
export function getUint(view: DataView, base: number, f: FieldLayout): number {
  const off = base + f.offset;
  if (f.size === 4) return view.getUint32(off, LE);
  if (f.size === 8) return view.getUint32(off + (LE ? 4 : 0), LE) * 0x100000000 + view.getUint32(off + (LE ? 0 : 4), LE);
  throw new Error(`bsdsock: unsupported ${f.size}-byte field`);
}
