/**
 * What the Poller's backends share: the READY_* bits they report, the Backend contract the
 * Poller drives, and the helpers that pack their kernel structs by the generated layouts.
 */
import { platformKey, table } from "../../ffi/platform.ts";
import type { FieldLayout, StructLayout } from "../../ffi/table.ts";

const LE = table.expressions.LITTLE_ENDIAN === 1;

/** `waitInto` bits: the fd is readable (data, EOF, a connection), or a read would fail at once. */
export const READY_READ = 1;
/** `waitInto` bits: the fd is writable, or a write would fail at once. */
export const READY_WRITE = 2;
/** `waitInto` bits: hangup (see Readiness.hangup). */
export const READY_HANGUP = 4;
/** `waitInto` bits: error pending (see Readiness.error). */
export const READY_ERROR = 8;

/** Interest bit: readable. */
export const READ = 1;
/** Interest bit: writable. */
export const WRITE = 2;

/** A constant the backend cannot work without; a missing one is a broken table, not a user error. */
export function need(name: string, value: number | null | undefined): number {
  if (value === null || value === undefined) throw new Error(`bsdsock: ${platformKey} table lacks ${name}`);
  return value;
}

/** A struct layout the backend needs, with every member it uses. */
export function layoutOf<L extends StructLayout>(name: string, layout: L | null): L {
  if (layout === null) throw new Error(`bsdsock: ${platformKey} table has no struct ${name}`);
  return layout;
}

/** Writes a non-negative integer below 2^53 into a 4- or 8-byte member (host byte order). */
export function putWord(view: DataView, base: number, f: FieldLayout, value: number): void {
  if (f.size === 4) view.setUint32(base + f.offset, value, LE);
  else if (f.size === 8) {
    const lo = value % 0x1_0000_0000;
    const hi = (value - lo) / 0x1_0000_0000;
    view.setUint32(base + f.offset + (LE ? 0 : 4), lo, LE);
    view.setUint32(base + f.offset + (LE ? 4 : 0), hi, LE);
  } else throw new Error(`bsdsock: unsupported member size ${f.size}`);
}

/** Reads a 4- or 8-byte unsigned member; values ≥ 2^53 lose precision (callers range-check). */
export function getWord(view: DataView, base: number, f: FieldLayout): number {
  if (f.size === 4) return view.getUint32(base + f.offset, LE);
  if (f.size === 8) {
    const lo = view.getUint32(base + f.offset + (LE ? 0 : 4), LE);
    const hi = view.getUint32(base + f.offset + (LE ? 4 : 0), LE);
    return hi * 0x1_0000_0000 + lo;
  }
  throw new Error(`bsdsock: unsupported member size ${f.size}`);
}

/** What a backend does; the Poller does all argument checks and bookkeeping around it. */
export interface Backend {
  /** The backend's own fd (epoll/kqueue), or -1 (poll). */
  readonly fd: number;
  add(fd: number, bits: number): void;
  modify(fd: number, bits: number, old: number): void;
  remove(fd: number, old: number): void;
  /**
   * Writes one `[fd, READY_* bits]` pair per ready fd into `out` (room for `max` pairs is the
   * caller's to provide) and returns how many; EINTR gives 0.
   */
  wait(timeoutMs: number, out: Int32Array): number;
  /** Releases the backend's resources (called once). */
  close(): void;
}
