/**
 * C structs as byte-backed objects, for the C-shaped layer: `new sockaddr_in()` owns exactly
 * sizeof(struct sockaddr_in) bytes laid out as the platform's headers say, and its fields are
 * read and written in host byte order, like C. Offsets and sizes come from the generated table.
 */
import { table } from "../../ffi/platform.ts";
import type { FieldLayout, StructLayout } from "../../ffi/table.ts";
import * as check from "./check.ts";

const layouts = table.structs;

/** True on little-endian hosts (x86_64, arm64): fields are stored in host order like C. */
export const LITTLE_ENDIAN = table.expressions.LITTLE_ENDIAN === 1;

/** Reads an integer field of 1, 2, 4 or 8 bytes in host order, unsigned unless `signed`. */
export function readIntField(view: DataView, f: FieldLayout, signed: boolean): number {
  switch (f.size) {
    case 1: return signed ? view.getInt8(f.offset) : view.getUint8(f.offset);
    case 2: return signed ? view.getInt16(f.offset, LITTLE_ENDIAN) : view.getUint16(f.offset, LITTLE_ENDIAN);
    case 4: return signed ? view.getInt32(f.offset, LITTLE_ENDIAN) : view.getUint32(f.offset, LITTLE_ENDIAN);
    case 8: return Number(signed ? view.getBigInt64(f.offset, LITTLE_ENDIAN) : view.getBigUint64(f.offset, LITTLE_ENDIAN));
    default: throw new Error(`unsupported field size ${f.size}`);
  }
}

/**
 * Writes an integer field of 1, 2, 4 or 8 bytes in host order. The caller range-checks `value`
 * for the field's C type; the bits stored are the same for its signed and unsigned reading.
 */
export function writeIntField(view: DataView, f: FieldLayout, value: number): void {
  switch (f.size) {
    case 1: view.setUint8(f.offset, value & 0xff); return;
    case 2: view.setUint16(f.offset, value & 0xffff, LITTLE_ENDIAN); return;
    case 4: view.setUint32(f.offset, value >>> 0, LITTLE_ENDIAN); return;
    case 8: view.setBigInt64(f.offset, BigInt(value), LITTLE_ENDIAN); return;
    default: throw new Error(`unsupported field size ${f.size}`);
  }
}

/** A struct: its bytes and a DataView over them. */
export abstract class CStruct {
  // Private, so no JS code can swap the memory a struct passes to libc for something else.
  readonly #bytes: Uint8Array;
  protected readonly view: DataView;

  constructor(layout: StructLayout, bytes?: Uint8Array) {
    const name = new.target.name;
    let own: Uint8Array;
    if (bytes === undefined) own = new Uint8Array(layout.size);
    else {
      // A fresh view through the built-in getters: exactly the struct's bytes, nothing shadowed.
      const b = check.freshView(name, "bytes", bytes);
      check.fits(name, "struct size", layout.size, b.byteLength);
      own = b.byteLength === layout.size ? b : b.subarray(0, layout.size);
    }
    this.#bytes = own;
    this.view = new DataView(own.buffer, own.byteOffset, own.byteLength);
  }

  /** The struct's memory, exactly sizeof(struct) bytes (a view when built over other bytes). */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /**
   * The memory of a real struct object, for code that hands it to libc: reads the private
   * field, so a subclass overriding `bytes` or a look-alike object cannot redirect it.
   */
  static storage(s: CStruct): Uint8Array {
    return s.#bytes;
  }

  /** Reads an integer member of 1, 2, 4 or 8 bytes, unsigned unless `signed`. */
  protected getInt(f: FieldLayout, signed = false): number {
    return readIntField(this.view, f, signed);
  }

  /** Writes an integer member; a value outside the C type's range throws RangeError. */
  protected setInt(name: string, f: FieldLayout, value: number, signed = false): void {
    const bits = f.size * 8;
    const min = signed ? -(2 ** (bits - 1)) : 0;
    const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(`${this.constructor.name}.${name} must be an integer in [${min}, ${max}], got ${String(value)}`);
    }
    writeIntField(this.view, f, value);
  }

  /** A view of a member's bytes (for nested structs and arrays). */
  protected member(f: FieldLayout): Uint8Array {
    return this.bytes.subarray(f.offset, f.offset + f.size);
  }
}

/**
 * Installs accessors for integer members on a struct class. Members missing on this platform
 * (e.g. sin_len outside macOS) get no accessor: reading gives undefined, as the field does not exist.
 */
function integerFields(cls: { prototype: CStruct }, layout: StructLayout, names: readonly string[], signed: readonly string[] = []): void {
  const fields = layout.fields as Readonly<Record<string, FieldLayout | undefined>>;
  for (const name of names) {
    const f = fields[name];
    if (!f) continue;
    const isSigned = signed.includes(name);
    Object.defineProperty(cls.prototype, name, {
      get(this: CStruct) { return (this as unknown as Accessors).getInt(f, isSigned); },
      set(this: CStruct, value: number) { (this as unknown as Accessors).setInt(name, f, value, isSigned); },
      enumerable: true,
      configurable: false,
    });
  }
}
/** The protected accessors, as the installed properties call them. */
interface Accessors {
  getInt(f: FieldLayout, signed: boolean): number;
  setInt(name: string, f: FieldLayout, value: number, signed: boolean): void;
}

/** Copies `src` into a member view; a nested-struct assignment like `a.sin_addr = b.sin_addr`. */
function assign(dst: Uint8Array, src: CStruct | Uint8Array, what: string): void {
  const s = src instanceof CStruct ? CStruct.storage(src) : check.bytes(what, "value", src);
  const n = check.byteLength(what, "value", s);
  if (n !== dst.byteLength) throw new RangeError(`${what} must be ${dst.byteLength} bytes, got ${n}`);
  dst.set(s);
}

/** `struct in_addr`: an IPv4 address; `s_addr` is in network byte order, as in C. */
export class in_addr extends CStruct {
  /** sizeof(struct) on this platform, from the generated table. */
  static readonly size = layouts.in_addr.size;
  /** The IPv4 address as a 32-bit number in network byte order (assign `htonl(INADDR_LOOPBACK)`). */
  declare s_addr: number;
  /** A zeroed struct, or a view over the first sizeof(struct) bytes of `bytes` (RangeError if shorter). */
  constructor(bytes?: Uint8Array) { super(layouts.in_addr, bytes); }
}
integerFields(in_addr, layouts.in_addr, ["s_addr"]);

/** `struct in6_addr`: an IPv6 address; `s6_addr` is its 16 bytes. */
export class in6_addr extends CStruct {
  /** sizeof(struct) on this platform, from the generated table. */
  static readonly size = layouts.in6_addr.size;
  /** A zeroed struct, or a view over the first sizeof(struct) bytes of `bytes` (RangeError if shorter). */
  constructor(bytes?: Uint8Array) { super(layouts.in6_addr, bytes); }
  /** The 16 address bytes (a live view). */
  get s6_addr(): Uint8Array { return this.member(layouts.in6_addr.fields.s6_addr); }
  set s6_addr(v: Uint8Array) { assign(this.s6_addr, v, "in6_addr.s6_addr"); }
}

/** `struct sockaddr`: the generic address header. */
export class sockaddr extends CStruct {
  /** sizeof(struct) on this platform, from the generated table. */
  static readonly size = layouts.sockaddr.size;
  /** Address family (AF_*). */
  declare sa_family: number;
  /** Only on platforms whose sockaddr starts with a length byte (macOS). */
  declare sa_len?: number;
  /** A zeroed struct, or a view over the first sizeof(struct) bytes of `bytes` (RangeError if shorter). */
  constructor(bytes?: Uint8Array) { super(layouts.sockaddr, bytes); }
  /** The address bytes after the family (a live view). */
  get sa_data(): Uint8Array { return this.member(layouts.sockaddr.fields.sa_data); }
}
integerFields(sockaddr, layouts.sockaddr, ["sa_len", "sa_family"]);

/** `struct sockaddr_in`: an IPv4 socket address, filled field by field like the C struct. */
export class sockaddr_in extends CStruct {
  /** sizeof(struct) on this platform, from the generated table. */
  static readonly size = layouts.sockaddr_in.size;
  /** AF_INET. */
  declare sin_family: number;
  /** Port in network byte order: assign `htons(port)`. */
  declare sin_port: number;
  /** Only on platforms with a length byte (macOS). */
  declare sin_len?: number;
  /** A zeroed struct, or a view over the first sizeof(struct) bytes of `bytes` (RangeError if shorter). */
  constructor(bytes?: Uint8Array) { super(layouts.sockaddr_in, bytes); }
  /** The address (a live view into this struct): `addr.sin_addr.s_addr = INADDR_ANY`. */
  get sin_addr(): in_addr { return new in_addr(this.member(layouts.sockaddr_in.fields.sin_addr)); }
  set sin_addr(v: in_addr) { assign(this.member(layouts.sockaddr_in.fields.sin_addr), v, "sockaddr_in.sin_addr"); }
  /** Padding, zero (a live view). */
  get sin_zero(): Uint8Array { return this.member(layouts.sockaddr_in.fields.sin_zero); }
}
integerFields(sockaddr_in, layouts.sockaddr_in, ["sin_len", "sin_family", "sin_port"]);

/** `struct sockaddr_in6`: an IPv6 socket address. */
export class sockaddr_in6 extends CStruct {
  /** sizeof(struct) on this platform, from the generated table. */
  static readonly size = layouts.sockaddr_in6.size;
  /** AF_INET6. */
  declare sin6_family: number;
  /** Port in network byte order: assign `htons(port)`. */
  declare sin6_port: number;
  /** Flow information in network byte order. */
  declare sin6_flowinfo: number;
  /** Interface index for link-local addresses (host byte order). */
  declare sin6_scope_id: number;
  /** Only on platforms with a length byte (macOS). */
  declare sin6_len?: number;
  /** A zeroed struct, or a view over the first sizeof(struct) bytes of `bytes` (RangeError if shorter). */
  constructor(bytes?: Uint8Array) { super(layouts.sockaddr_in6, bytes); }
  /** The address (a live view into this struct). */
  get sin6_addr(): in6_addr { return new in6_addr(this.member(layouts.sockaddr_in6.fields.sin6_addr)); }
  set sin6_addr(v: in6_addr) { assign(this.member(layouts.sockaddr_in6.fields.sin6_addr), v, "sockaddr_in6.sin6_addr"); }
}
integerFields(sockaddr_in6, layouts.sockaddr_in6, ["sin6_len", "sin6_family", "sin6_port", "sin6_flowinfo", "sin6_scope_id"]);

/** `struct sockaddr_un`: a unix-domain socket address; `sun_path` is a live byte view. */
export class sockaddr_un extends CStruct {
  /** sizeof(struct) on this platform, from the generated table. */
  static readonly size = layouts.sockaddr_un.size;
  /** AF_UNIX. */
  declare sun_family: number;
  /** Only on platforms with a length byte (macOS). */
  declare sun_len?: number;
  /** A zeroed struct, or a view over the first sizeof(struct) bytes of `bytes` (RangeError if shorter). */
  constructor(bytes?: Uint8Array) { super(layouts.sockaddr_un, bytes); }
  /** The path bytes, NUL-terminated (Linux abstract names start with a NUL): a live view. */
  get sun_path(): Uint8Array { return this.member(layouts.sockaddr_un.fields.sun_path); }
}
integerFields(sockaddr_un, layouts.sockaddr_un, ["sun_len", "sun_family"]);

/** `struct sockaddr_storage`: room for any socket address. */
export class sockaddr_storage extends CStruct {
  /** sizeof(struct) on this platform, from the generated table. */
  static readonly size = layouts.sockaddr_storage.size;
  /** Address family (AF_*) of the address stored. */
  declare ss_family: number;
  /** Only on platforms with a length byte (macOS). */
  declare ss_len?: number;
  /** A zeroed struct, or a view over the first sizeof(struct) bytes of `bytes` (RangeError if shorter). */
  constructor(bytes?: Uint8Array) { super(layouts.sockaddr_storage, bytes); }
}
integerFields(sockaddr_storage, layouts.sockaddr_storage, ["ss_len", "ss_family"]);

/** `struct pollfd`. */
export class pollfd extends CStruct {
  /** sizeof(struct) on this platform, from the generated table. */
  static readonly size = layouts.pollfd.size;
  /** The fd to watch (negative: ignored). */
  declare fd: number;
  /** Requested events (POLLIN | POLLOUT ...). */
  declare events: number;
  /** Returned events, set by poll(). */
  declare revents: number;
  /** A zeroed struct, or a view over the first sizeof(struct) bytes of `bytes` (RangeError if shorter). */
  constructor(bytes?: Uint8Array) { super(layouts.pollfd, bytes); }
}
integerFields(pollfd, layouts.pollfd, ["fd", "events", "revents"], ["fd", "events", "revents"]);

/** `struct linger`, for SO_LINGER. */
export class linger extends CStruct {
  /** sizeof(struct) on this platform, from the generated table. */
  static readonly size = layouts.linger.size;
  /** Nonzero: linger on close. */
  declare l_onoff: number;
  /** Seconds to linger (0 with l_onoff: reset the connection). */
  declare l_linger: number;
  /** A zeroed struct, or a view over the first sizeof(struct) bytes of `bytes` (RangeError if shorter). */
  constructor(bytes?: Uint8Array) { super(layouts.linger, bytes); }
}
integerFields(linger, layouts.linger, ["l_onoff", "l_linger"], ["l_onoff", "l_linger"]);

/** `struct timeval`, for SO_RCVTIMEO/SO_SNDTIMEO. */
export class timeval extends CStruct {
  /** sizeof(struct) on this platform, from the generated table. */
  static readonly size = layouts.timeval.size;
  /** Seconds. */
  declare tv_sec: number;
  /** Microseconds. */
  declare tv_usec: number;
  /** A zeroed struct, or a view over the first sizeof(struct) bytes of `bytes` (RangeError if shorter). */
  constructor(bytes?: Uint8Array) { super(layouts.timeval, bytes); }
}
integerFields(timeval, layouts.timeval, ["tv_sec", "tv_usec"], ["tv_sec", "tv_usec"]);

/** A C array of structs (`struct pollfd fds[n]`): one buffer, indexable element views. */
export type CArray<T extends CStruct> = T[] & { readonly bytes: Uint8Array };

/** Allocates `struct T arr[n]`, zeroed: `const fds = array(pollfd, 2); fds[0].fd = s;`. */
export function array<T extends CStruct>(cls: { new (bytes?: Uint8Array): T; readonly size: number }, n: number): CArray<T> {
  check.size("array", "n", n);
  const bytes = new Uint8Array(cls.size * n);
  const items: T[] = [];
  for (let i = 0; i < n; i++) items.push(new cls(bytes.subarray(i * cls.size, (i + 1) * cls.size)));
  return Object.assign(items, { bytes });
}
