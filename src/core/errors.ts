/**
 * errno numbers ↔ names ↔ messages, and SocketError: the one error type every failing
 * socket call throws. Messages come from the platform's own strerror, so they read exactly
 * like perror's.
 */
import { CString } from "bun:ffi";
import { libc } from "../../ffi/libc.ts";
import { table } from "../../ffi/platform.ts";

/**
 * Names that share a number with a more common name, never chosen as the canonical code
 * (ELAST is macOS's "highest errno" marker, not an error of its own).
 */
const aliases = new Set(["EWOULDBLOCK", "ENOTSUP", "EDEADLOCK", "ELAST"]);

const nameByNumber = new Map<number, string>();
for (const [name, value] of Object.entries(table.errno)) {
  const known = nameByNumber.get(value);
  if (known === undefined || (aliases.has(known) && !aliases.has(name))) nameByNumber.set(value, name);
}

/** errno numbers of the running platform, by name (`errnoNumbers.ECONNREFUSED`). */
export const errnoNumbers = table.errno;

/** The symbolic name of an errno value (`111` → `"ECONNREFUSED"` on Linux), or `"E<n>"` if unknown. */
export function errnoName(errno: number): string {
  return nameByNumber.get(errno) ?? `E${errno}`;
}

/** libc's message for an errno value, exactly as strerror/perror print it. */
export function strerror(errno: number): string {
  if (!Number.isInteger(errno) || errno < -0x80000000 || errno > 0x7fffffff) {
    throw new RangeError(`strerror: errno must be a 32-bit integer, got ${String(errno)}`);
  }
  const p = libc.strerror(errno);
  return p ? new CString(p).toString() : `Unknown error ${errno}`;
}

/** Details attached to a SocketError besides syscall and errno. */
export interface SocketErrorDetails {
  /** The address the call was about, printed like `127.0.0.1:8080` or a unix path. */
  readonly address?: string;
  /** Extra context appended to the message, e.g. "socket is closed". */
  readonly note?: string;
}

/**
 * A failed system call. `syscall` is the libc function, `errno` the number, `code` its name
 * (`"ECONNREFUSED"`), and the message reads like perror: `connect: Connection refused`
 * (with ` (127.0.0.1:1)` appended when an address is known).
 */
export class SocketError extends Error {
  override readonly name: string = "SocketError";
  /** The libc function that failed, e.g. `"connect"`. */
  readonly syscall: string;
  /** The errno value. */
  readonly errno: number;
  /** The errno name, e.g. `"ECONNREFUSED"`. */
  readonly code: string;
  /** The address involved, when there is one. */
  readonly address: string | undefined;
  /** The context the message adds after the address (e.g. "socket is closed"), when there is one. */
  readonly note: string | undefined;
  /** For sendAll: how many bytes were sent before the failure. */
  bytesSent?: number;

  /** An error for `syscall` failing with `errno` (message from strerror, like perror). */
  constructor(syscall: string, errno: number, details: SocketErrorDetails = {}) {
    const context = [details.address, details.note].filter((x) => x !== undefined).join("; ");
    super(`${syscall}: ${strerror(errno)}${context ? ` (${context})` : ""}`);
    this.syscall = syscall;
    this.errno = errno;
    this.code = errnoName(errno);
    this.address = details.address;
    this.note = details.note;
  }
}

/**
 * A timeout set with `socket.timeout` expired. A SocketError with code ETIMEDOUT, so one
 * `catch (e) { if (e instanceof SocketError) ... }` handles it too.
 */
export class SocketTimeoutError extends SocketError {
  override readonly name: string = "SocketTimeoutError";
  /** The timeout that expired, in milliseconds. */
  readonly timeoutMs: number;

  /** A timeout of `timeoutMs` that expired during `syscall`. */
  constructor(syscall: string, timeoutMs: number, details: SocketErrorDetails = {}) {
    super(syscall, table.errno.ETIMEDOUT, { ...details, note: details.note ?? `timed out after ${timeoutMs} ms` });
    this.timeoutMs = timeoutMs;
  }
}

/**
 * An AbortSignal ended a write that reports its progress (AsyncSocket's sendAll, sendSegments,
 * sendFile): a SocketError with code ECANCELED and `name` "AbortError" (so the usual
 * `e.name === "AbortError"` check holds), the signal's reason as `cause`, and `bytesSent`
 * saying how far the stream got. Other operations reject with the signal's reason itself.
 */
export class SocketAbortError extends SocketError {
  override readonly name: string = "AbortError";

  /** `syscall` was aborted with `reason` after `bytesSent` bytes. */
  constructor(syscall: string, reason: unknown, bytesSent: number) {
    super(syscall, table.errno.ECANCELED, { note: `aborted after ${bytesSent} bytes sent` });
    this.cause = reason;
    this.bytesSent = bytesSent;
  }
}

/**
 * `e` naming `address` (formatted, e.g. `127.0.0.1:8080`) when it is a SocketError without
 * one, keeping its timeout and `bytesSent`; anything else unchanged.
 */
export function withAddress(e: unknown, address: string): unknown {
  // Exactly these two kinds: a SocketAbortError (or any subclass) stays what it is.
  if (!(e instanceof SocketError) || e.address !== undefined) return e;
  let out: SocketError;
  const kind: unknown = e.constructor;
  const details = e.note === undefined ? { address } : { address, note: e.note };
  if (kind === SocketTimeoutError) out = new SocketTimeoutError(e.syscall, (e as SocketTimeoutError).timeoutMs, details);
  else if (kind === SocketError) out = new SocketError(e.syscall, e.errno, details);
  else return e;
  if (e.bytesSent !== undefined) out.bytesSent = e.bytesSent;
  return out;
}
