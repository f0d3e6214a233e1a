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

/** An integer in [min, max] (`what` says what it is, e.g. a size in bytes). */
export function inRange(fn: string, what: string, v: unknown, min: number, max: number): number {
  return integer(fn, what, v, min, max, "integer");
}

/** A C `int`. */
export function int32(fn: string, what: string, v: unknown): number {
  if (typeof v === "number" && (v | 0) === v) return v; // the common case, without coercion
  return integer(fn, what, v, I32_MIN, I32_MAX, "int");
}

/** A C `unsigned int` / `socklen_t`. */
export function uint32(fn: string, what: string, v: unknown): number {
  if (typeof v === "number" && v >>> 0 === v) return v; // the common case, without coercion
  return integer(fn, what, v, 0, U32_MAX, "unsigned int");
}

/** A C `size_t` length: a non-negative safe integer. */
export function size(fn: string, what: string, v: unknown): number {
  return integer(fn, what, v, 0, Number.MAX_SAFE_INTEGER, "size_t");
}

/**
 * A zeroed buffer of a checked size_t `v`: when the engine cannot allocate that much, a
 * RangeError naming the call and the size (not the engine's bare "Out of memory").
 */
export function allocate(fn: string, what: string, v: unknown): Uint8Array {
  const n = size(fn, what, v);
  try {
    return new Uint8Array(n);
  } catch (e) {
    throw new RangeError(`${fn}: cannot allocate ${n} bytes for ${what} (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
}

/** An unsigned integer of `bits` bits (8, 16 or 32). */
export function unsigned(fn: string, what: string, v: unknown, bits: 8 | 16 | 32): number {
  return integer(fn, what, v, 0, 2 ** bits - 1, `uint${bits}_t`);
}

// The built-in getters of typed arrays and DataViews. A JS object can shadow `byteLength` (an own
// property, a subclass getter, a Proxy); the kernel must only ever see lengths read through these.
type Getter = (this: unknown) => unknown;
function intrinsic(proto: object, name: string): Getter {
  const get = Object.getOwnPropertyDescriptor(proto, name)?.get;
  if (!get) throw new Error(`no built-in ${name} getter`);
  return get as Getter;
}
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;
const typedByteLength = intrinsic(TypedArrayPrototype, "byteLength");
const typedByteOffset = intrinsic(TypedArrayPrototype, "byteOffset");
const typedBuffer = intrinsic(TypedArrayPrototype, "buffer");
const viewByteLength = intrinsic(DataView.prototype, "byteLength");
const viewByteOffset = intrinsic(DataView.prototype, "byteOffset");
const viewBuffer = intrinsic(DataView.prototype, "buffer");
/** The typed arrays' own Symbol.toStringTag getter: a genuine one's kind, undefined for anything else. */
const typedKind = Object.getOwnPropertyDescriptor(TypedArrayPrototype, Symbol.toStringTag)!.get as Getter;

/**
 * Whether `v` is a genuine Uint8Array (or Buffer), by its internal slot: no Proxy trap and no
 * getter of a look-alike runs, and another typed array given Uint8Array's prototype is not one.
 */
export function isUint8Array(v: unknown): v is Uint8Array {
  return typedKind.call(v) === "Uint8Array";
}

/** Whether `v` is a genuine typed array (not a DataView, not a look-alike). */
function isTypedArray(v: ArrayBufferView): boolean {
  try {
    typedByteLength.call(v);
    return true;
  } catch {
    return false;
  }
}

/**
 * The real size in bytes of a typed array or DataView, read through the built-in getter (a
 * shadowed or faked `byteLength` is ignored). Anything else throws TypeError.
 */
export function byteLength(fn: string, what: string, v: unknown): number {
  // The common case first, in one call: the getter throws for anything but a genuine typed array.
  try {
    return typedByteLength.call(v) as number;
  } catch { /* a DataView or not a view at all */ }
  if (!ArrayBuffer.isView(v)) throw new TypeError(`${fn}: ${what} must be a Uint8Array or other ArrayBufferView, got ${describe(v)}`);
  try {
    return viewByteLength.call(v) as number;
  } catch {
    return 0; // a DataView over a detached buffer: no bytes, like a detached typed array
  }
}

/**
 * The real byte length of a genuine typed array, or -1 for anything else (a DataView, a
 * look-alike, not a view): one built-in getter call, for hot paths that then take the slow
 * path on -1.
 */
export function typedLengthOrNone(v: unknown): number {
  try {
    return typedByteLength.call(v) as number;
  } catch {
    return -1;
  }
}

/** The real byte length of a genuine typed array (TypeError for a look-alike). */
export function typedLength(v: ArrayBufferView): number {
  return typedByteLength.call(v) as number;
}

/** Materializes a typed array's ArrayBuffer through the built-in getter (no caller getter runs). */
export function materialize(v: ArrayBufferView): void {
  typedBuffer.call(v);
}

/**
 * Whether a view has lost its memory: its buffer was detached (transferred), or it is a view on
 * a resizable ArrayBuffer that has no bytes now (a length-tracking view shrunk to nothing, a
 * fixed view pushed out of bounds). A receive into it would return 0 and read as end of stream.
 */
export function isEmptied(v: ArrayBufferView): boolean {
  const buffer = (isTypedArray(v) ? typedBuffer : viewBuffer).call(v) as ArrayBuffer & { detached?: boolean; resizable?: boolean };
  if (buffer.detached === true) return true;
  return buffer.resizable === true && byteLength("isEmptied", "view", v) === 0;
}

/** The TypeError for `what`, a view with no memory left (see isEmptied), passed to `fn`. */
export function noMemory(fn: string, what: string): TypeError {
  return new TypeError(`${fn}: ${what} has no memory (detached, or its resizable buffer shrank)`);
}

/** Whether a view's buffer has been detached (transferred): it has no memory left. */
export function isDetached(v: ArrayBufferView): boolean {
  const buffer = (isTypedArray(v) ? typedBuffer : viewBuffer).call(v) as ArrayBuffer & { detached?: boolean };
  return buffer.detached === true;
}

/** A socket fd for the typed API: a non-negative C int (negative numbers never reach the kernel). */
export function fd(fn: string, v: unknown): number {
  return integer(fn, "fd", v, 0, I32_MAX, "int, >= 0");
}

/** A Uint8Array whose buffer is detached: what an emptied DataView or Int32Array re-views as. */
const EMPTIED: Uint8Array = (() => {
  const b = new ArrayBuffer(0);
  const u = new Uint8Array(b);
  b.transfer();
  return u;
})();

/**
 * Bytes of any ArrayBufferView (Uint8Array, Buffer, DataView, Int32Array...) as a Uint8Array.
 * A genuine Uint8Array comes back as it is (no allocation); anything else is re-viewed through
 * the built-in getters. Look-alikes (Proxies, objects with a typed array prototype) throw.
 */
export function bytes(fn: string, what: string, v: unknown): Uint8Array {
  if (!ArrayBuffer.isView(v)) throw new TypeError(`${fn}: ${what} must be a Uint8Array or other ArrayBufferView, got ${describe(v)}`);
  if (v instanceof Uint8Array && isTypedArray(v) && (v as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT === 1) return v;
  return freshView(fn, what, v);
}

/**
 * A new Uint8Array over exactly the memory of `v` (a typed array or DataView), built from the
 * built-in getters: safe to keep when `v`'s own properties cannot be trusted.
 */
export function freshView(fn: string, what: string, v: unknown): Uint8Array {
  // A view with no memory left (detached, or out of bounds of a shrunk resizable buffer) maps
  // to one that says so too, so that isEmptied() downstream refuses it as it would `v`.
  if (byteLength(fn, what, v) === 0) return isEmptied(v as ArrayBufferView) ? EMPTIED : new Uint8Array(0);
  return isTypedArray(v as ArrayBufferView)
    ? new Uint8Array(typedBuffer.call(v) as ArrayBuffer, typedByteOffset.call(v) as number, typedByteLength.call(v) as number)
    : new Uint8Array(viewBuffer.call(v) as ArrayBuffer, viewByteOffset.call(v) as number, viewByteLength.call(v) as number);
}

/** Throws unless `len` bytes fit in a buffer of `available` bytes (NaN/undefined never fit). */
export function fits(fn: string, what: string, len: number, available: number): void {
  if (!(len <= available)) {
    throw new RangeError(`${fn}: ${what} ${len} exceeds the ${available}-byte buffer it describes`);
  }
}
