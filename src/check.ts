/**
 * Argument checks that run before any pointer or integer reaches libc. A wrong JS value is a
 * programming error, so these throw (TypeError for a wrong kind of value, RangeError for a
 * number outside the C type or a length beyond its buffer); they never return a C error code.
 */

const I32_MIN = -0x80000000;
const I32_MAX = 0x7fffffff;
const U32_MAX = 0xffffffff;

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return `${v}n`;
  if (v !== null && typeof v === "object") return v.constructor?.name ?? "object";
  return String(v);
}

function integer(fn: string, what: string, v: unknown, min: number, max: number, ctype: string): number {
  if (typeof v !== "number") throw new TypeError(`${fn}: ${what} must be a number (${ctype}), got ${describe(v)}`);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${fn}: ${what} must be an integer in [${min}, ${max}] (${ctype}), got ${describe(v)}`);
  }
  return v;
}

/** A C `int`. */
export function int32(fn: string, what: string, v: unknown): number {
  return integer(fn, what, v, I32_MIN, I32_MAX, "int");
}

/** A C `unsigned int` / `socklen_t`. */
export function uint32(fn: string, what: string, v: unknown): number {
  return integer(fn, what, v, 0, U32_MAX, "unsigned int");
}

/** A C `size_t` length: a non-negative safe integer. */
export function size(fn: string, what: string, v: unknown): number {
  return integer(fn, what, v, 0, Number.MAX_SAFE_INTEGER, "size_t");
}

/** An unsigned integer of `bits` bits (8, 16 or 32). */
export function unsigned(fn: string, what: string, v: unknown, bits: 8 | 16 | 32): number {
  return integer(fn, what, v, 0, 2 ** bits - 1, `uint${bits}_t`);
}

/** Bytes of any ArrayBufferView (Uint8Array, Buffer, DataView, Int32Array...) as a Uint8Array view. */
export function bytes(fn: string, what: string, v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw new TypeError(`${fn}: ${what} must be a Uint8Array or other ArrayBufferView, got ${describe(v)}`);
}

/** Throws unless `len` bytes fit in a buffer of `available` bytes. */
export function fits(fn: string, what: string, len: number, available: number): void {
  if (len > available) {
    throw new RangeError(`${fn}: ${what} ${len} exceeds the ${available}-byte buffer it describes`);
  }
}
