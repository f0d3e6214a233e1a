/**
 * The service manager's notification protocol (sd_notify(3)): a service started by systemd with
 * Type=notify, WatchdogSec=, FileDescriptorStoreMax= (or by any supervisor speaking the same
 * protocol) finds in NOTIFY_SOCKET the address of an AF_UNIX datagram socket, and tells the
 * manager about itself by sending one datagram of newline-separated `KEY=VALUE` assignments:
 *
 *   READY=1            start-up finished (Type=notify waits for it)
 *   STATUS=text        a line for `systemctl status`
 *   WATCHDOG=1         keep-alive, at least every WATCHDOG_USEC (see startWatchdog)
 *   FDSTORE=1          keep the fds sent with this datagram (SCM_RIGHTS) for the next start
 *   RELOADING=1, STOPPING=1, MAINPID=n, ERRNO=n, EXTEND_TIMEOUT_USEC=n, …
 *
 * `notify()` sends like sd_pid_notify_with_fds: a fresh close-on-exec SOCK_DGRAM socket per
 * call, the state as its one datagram, this process's credentials as SCM_CREDENTIALS (Linux), the
 * given fds as SCM_RIGHTS, and the socket closed before it returns, whatever happened.
 * NOTIFY_SOCKET is a filesystem path ("/run/systemd/notify") or a Linux abstract name
 * ("@name": the "@" stands for the leading NUL). systemd also knows AF_VSOCK addresses
 * ("vsock:CID:PORT", for a manager outside a VM); those are refused here, never connected.
 *
 * `watchdogInterval()` reads WATCHDOG_USEC/WATCHDOG_PID as sd_watchdog_enabled(3) does;
 * `startWatchdog()` sends WATCHDOG=1 at half that interval from an unref'd timer.
 */
import { table } from "../../ffi/platform.ts";
import { SocketError, SocketTimeoutError } from "../core/errors.ts";
import { formatAddress, SUN_PATH_MAX, type UnixAddress } from "../core/sockaddr.ts";
import { Socket } from "../socket/socket.ts";

const C = table.constants;
const E = table.errno;

/**
 * What `notify` sends: a string, sent byte for byte as UTF-8 (like sd_notify's `state`), or an
 * object whose entries become `KEY=VALUE` lines in insertion order (booleans as 1/0).
 */
export type NotifyState = string | Readonly<Record<string, string | number | boolean>>;

/** Options for notify(). */
export interface NotifyOptions {
  /**
   * fds to send with the message (one SCM_RIGHTS control message, at most SCM_MAX_FD), for
   * `FDSTORE=1` (with `FDNAME=`). The manager receives its own copies; these stay open and yours.
   */
  readonly fds?: readonly number[];
  /** Delete NOTIFY_SOCKET from `env` afterwards, sent or not, like sd_notify's unset_environment. Default false. */
  readonly unsetEnvironment?: boolean;
  /** The environment to read NOTIFY_SOCKET from (default process.env). */
  readonly env?: Record<string, string | undefined>;
  /**
   * Longest wait in ms while the manager's receive queue is full (SocketTimeoutError after it;
   * 0: fail at once with EAGAIN). Default null: block, as sd_notify does.
   */
  readonly timeout?: number | null;
}

/** Options for watchdogInterval(). */
export interface WatchdogIntervalOptions {
  /** The environment to read WATCHDOG_USEC and WATCHDOG_PID from (default process.env). */
  readonly env?: Record<string, string | undefined>;
  /** Delete WATCHDOG_USEC and WATCHDOG_PID from `env` afterwards, like sd_watchdog_enabled's unset_environment. Default false. */
  readonly unsetEnvironment?: boolean;
}

/** Options for startWatchdog(). */
export interface StartWatchdogOptions {
  /** The environment to read WATCHDOG_USEC, WATCHDOG_PID and NOTIFY_SOCKET from (default process.env). */
  readonly env?: Record<string, string | undefined>;
  /** Per-ping send timeout in ms, as NotifyOptions.timeout. Default null (block, as sd_notify does). */
  readonly timeout?: number | null;
  /**
   * Called with the error when a timer ping fails (the timer keeps running; the next ping may
   * succeed). Default: `process.emitWarning(error)`, since a throw from a timer would end the process.
   */
  readonly onError?: (error: unknown) => void;
}

/** A running watchdog keep-alive (startWatchdog). `using` stops it. */
export interface Watchdog extends Disposable {
  /** WATCHDOG_USEC in milliseconds: the manager's deadline between two pings. */
  readonly intervalMs: number;
  /** How often the timer sends WATCHDOG=1, in ms: half the interval (at least 1, at most 2^31 − 1). */
  readonly periodMs: number;
  /** Whether stop() was called. */
  readonly stopped: boolean;
  /** Sends WATCHDOG=1 now (throws SocketError on failure), e.g. from a long synchronous job. */
  ping(): void;
  /** Stops the timer. Idempotent. */
  stop(): void;
}

const encoder = new TextEncoder();

/**
 * Variable names as the manager's well-known ones are spelled (READY, STATUS, EXTEND_TIMEOUT_USEC;
 * sd_notify(3) suggests X_ for one's own): environment-variable names in upper case. A leading
 * digit is refused as in an environment block, which also keeps JS from reordering integer-like
 * keys: entries go out in insertion order.
 */
const KEY = /^[A-Z_][A-Z0-9_]*$/;

/**
 * Separators and bytes a value must not hold: the manager splits a message at "\n" AND "\r"
 * (systemd's NEWLINE), and ignores a message with an embedded NUL.
 */
const FORBIDDEN_IN_VALUE = /[\n\r\0]/;

/** The message bytes of `state`: a string as UTF-8, an object as checked KEY=VALUE lines. */
function encodeState(state: NotifyState): Uint8Array {
  if (typeof state === "string") return encoder.encode(state);
  if (state === null || typeof state !== "object" || Array.isArray(state)) {
    throw new TypeError("notify: state must be a string or an object of KEY: value entries");
  }
  const lines: string[] = [];
  for (const [key, value] of Object.entries(state)) {
    if (!KEY.test(key)) {
      throw new TypeError(`notify: ${JSON.stringify(key)} is not a variable name (A-Z, 0-9 and _, not starting with a digit)`);
    }
    lines.push(`${key}=${valueText(key, value)}`);
  }
  // Newline-separated without a trailing newline: the bytes systemd-notify and the sd_notify(3)
  // examples send (the manager reads a last line the same either way).
  return encoder.encode(lines.join("\n"));
}

/** One value as text: booleans 1/0, integers in full decimal (never "1e+21"), strings checked. */
function valueText(key: string, value: unknown): string {
  switch (typeof value) {
    case "boolean":
      return value ? "1" : "0";
    case "number":
      if (!Number.isFinite(value)) throw new RangeError(`notify: ${key} must be a finite number, got ${value}`);
      return Number.isInteger(value) ? BigInt(value).toString() : String(value);
    case "string":
      if (FORBIDDEN_IN_VALUE.test(value)) {
        throw new TypeError(`notify: ${key}'s value contains a newline, carriage return or NUL byte (${JSON.stringify(value)})`);
      }
      return value;
    default:
      throw new TypeError(`notify: ${key} must be a string, number or boolean, got ${value === null ? "null" : typeof value}`);
  }
}

/**
 * NOTIFY_SOCKET's text as a unix address, by systemd's rules (socket_address_parse_unix): "/"
 * a filesystem path, "@" an abstract name, 2 to SUN_PATH_MAX − 1 bytes in all (the NUL
 * terminator must fit). Anything else is refused with an Error naming the value.
 */
function notifyAddress(text: string): UnixAddress {
  // systemd's other form: vsock:CID:PORT (and vsock-stream:/vsock-dgram:/vsock-seqpacket:).
  if (/^vsock(-[a-z]+)?:/.test(text)) {
    throw new Error(`notify: NOTIFY_SOCKET=${JSON.stringify(text)} is an AF_VSOCK address; only AF_UNIX notify sockets ("/path", "@name") are supported`);
  }
  if (text[0] !== "/" && text[0] !== "@") {
    throw new Error(`notify: NOTIFY_SOCKET must be an absolute path ("/run/…") or an abstract name ("@name"), got ${JSON.stringify(text)}`);
  }
  const bytes = encoder.encode(text).length;
  if (bytes < 2 || bytes > SUN_PATH_MAX - 1) {
    throw new Error(`notify: NOTIFY_SOCKET is ${bytes} bytes; an address has 2 to ${SUN_PATH_MAX - 1}: ${JSON.stringify(text)}`);
  }
  return text[0] === "@" ? { family: "unix", abstract: text.slice(1) } : { family: "unix", path: text };
}

/** Sends one datagram to `address` from a fresh socket, closed before returning or throwing. */
function sendTo(address: UnixAddress, payload: Uint8Array, fds: readonly number[] | undefined, timeout: number | null | undefined): void {
  const sock = new Socket("unix", "dgram");
  try {
    if (timeout !== undefined) sock.timeout = timeout;
    const sent = sock.sendMsg({
      data: payload,
      address,
      ...(fds !== undefined && fds.length > 0 ? { fds } : {}),
      // Our own pid/uid/gid, as sd_pid_notify sends them; where SCM_CREDENTIALS does not exist
      // the receiver has to do without.
      ...(C.SCM_CREDENTIALS !== null ? { credentials: true as const } : {}),
    });
    // A datagram goes whole or not at all; systemd checks anyway (EIO), so do we.
    if (sent !== payload.byteLength) throw new SocketError("sendmsg", E.EIO, { note: `sent ${sent} of ${payload.byteLength} bytes` });
  } catch (e) {
    throw withAddress(e, address);
  } finally {
    sock.close();
  }
}

/** Names the notify socket in a SocketError (so "Connection refused" says where). */
function withAddress(e: unknown, address: UnixAddress): unknown {
  if (!(e instanceof SocketError) || e.address !== undefined) return e;
  const where = formatAddress(address);
  if (e instanceof SocketTimeoutError) return new SocketTimeoutError(e.syscall, e.timeoutMs, { address: where });
  return new SocketError(e.syscall, e.errno, { address: where, note: "NOTIFY_SOCKET" });
}

/**
 * Tells the service manager about this service, like sd_pid_notify_with_fds(3): sends `state`
 * as one datagram to NOTIFY_SOCKET with this process's credentials (SCM_CREDENTIALS) and
 * `fds` (SCM_RIGHTS). Returns true when sent, false when NOTIFY_SOCKET is unset or empty (not
 * started by a manager that listens). The state is checked first, even then: an object's keys
 * must be upper-case variable names and its values must not contain "\n", "\r" or NUL
 * (TypeError); a string is sent as it is. Throws Error for a NOTIFY_SOCKET that is neither a
 * path nor an "@abstract" name (AF_VSOCK ones included), and SocketError when sending fails
 * (ENOENT: no such path; ECONNREFUSED: nobody bound there), naming the address.
 *
 * ```ts
 * notify({ READY: true, STATUS: "listening on :8080" });   // "READY=1\nSTATUS=listening on :8080"
 * notify({ FDSTORE: 1, FDNAME: "conn-7" }, { fds: [conn.fd] });
 * ```
 */
export function notify(state: NotifyState, options: NotifyOptions = {}): boolean {
  const env = options.env ?? process.env;
  try {
    const payload = encodeState(state);
    const text = env.NOTIFY_SOCKET;
    if (text === undefined || text === "") return false;
    sendTo(notifyAddress(text), payload, options.fds, options.timeout);
    return true;
  } finally {
    // sd_notify unsets the variable whatever the outcome.
    if (options.unsetEnvironment) delete env.NOTIFY_SOCKET;
  }
}

/** sd_watchdog_enabled's "unset": 0 and USEC_INFINITY (2^64 − 1) mean no watchdog, and are errors there. */
const USEC_INFINITY = (1n << 64n) - 1n;
/** The largest pid_t. */
const PID_MAX = 0x7fffffffn;

/**
 * The watchdog interval the manager expects WATCHDOG=1 within, in milliseconds (WATCHDOG_USEC
 * / 1000, fractional when it is not whole ms), like sd_watchdog_enabled(3): null when
 * WATCHDOG_USEC is unset or WATCHDOG_PID names another process (an inherited environment).
 * Throws Error, as sd_watchdog_enabled returns an error, when WATCHDOG_USEC is not a decimal
 * number of microseconds in [1, 2^64 − 2] or WATCHDOG_PID is not a pid.
 */
export function watchdogInterval(options: WatchdogIntervalOptions = {}): number | null {
  const env = options.env ?? process.env;
  const usecText = env.WATCHDOG_USEC;
  const pidText = env.WATCHDOG_PID;
  try {
    if (usecText === undefined) return null;
    // WATCHDOG_USEC first, as systemd checks it: a malformed one is an error whoever it is for.
    const usec = /^[0-9]+$/.test(usecText) ? BigInt(usecText) : -1n;
    if (usec <= 0n || usec >= USEC_INFINITY) {
      throw new Error(`watchdogInterval: WATCHDOG_USEC is not a number of microseconds in [1, 2^64 - 2]: ${JSON.stringify(usecText)}`);
    }
    if (pidText !== undefined) {
      const pid = /^[0-9]+$/.test(pidText) ? BigInt(pidText) : -1n;
      if (pid <= 0n || pid > PID_MAX) throw new Error(`watchdogInterval: WATCHDOG_PID is not a pid: ${JSON.stringify(pidText)}`);
      if (Number(pid) !== process.pid) return null; // inherited: meant for a parent
    }
    return Number(usec) / 1000;
  } finally {
    if (options.unsetEnvironment) {
      delete env.WATCHDOG_USEC;
      delete env.WATCHDOG_PID;
    }
  }
}

/** setTimeout/setInterval's longest delay; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const WATCHDOG_PING = encoder.encode("WATCHDOG=1");

/** The Watchdog startWatchdog returns. */
class WatchdogTimer implements Watchdog {
  readonly intervalMs: number;
  readonly periodMs: number;
  readonly #address: UnixAddress;
  readonly #timeout: number | null | undefined;
  readonly #onError: (error: unknown) => void;
  #timer: ReturnType<typeof setInterval> | null;

  constructor(address: UnixAddress, intervalMs: number, options: StartWatchdogOptions) {
    this.intervalMs = intervalMs;
    // Half the interval, as sd_watchdog_enabled(3) recommends; capped, since pinging more often
    // than needed is harmless but an over-long delay would fire immediately.
    this.periodMs = Math.min(Math.max(Math.floor(intervalMs / 2), 1), MAX_TIMER_MS);
    this.#address = address;
    this.#timeout = options.timeout;
    this.#onError = options.onError ?? ((error) => process.emitWarning(error instanceof Error ? error : String(error)));
    this.#timer = setInterval(() => this.#tick(), this.periodMs);
    this.#timer.unref(); // a keep-alive must not keep the process alive
  }

  get stopped(): boolean {
    return this.#timer === null;
  }

  ping(): void {
    sendTo(this.#address, WATCHDOG_PING, undefined, this.#timeout);
  }

  #tick(): void {
    try {
      this.ping();
    } catch (e) {
      this.#onError(e);
    }
  }

  stop(): void {
    if (this.#timer === null) return;
    clearInterval(this.#timer);
    this.#timer = null;
  }

  [Symbol.dispose](): void {
    this.stop();
  }
}

/**
 * Starts sending WATCHDOG=1 every half watchdogInterval() from an unref'd timer (it never keeps
 * the process alive), or returns null when the watchdog is not enabled for this process or
 * NOTIFY_SOCKET is unset or empty. NOTIFY_SOCKET is read and checked now (Error as in
 * notify), so a later `unsetEnvironment` does not stop the pings. A failed ping goes to
 * `onError`. `stop()` or `using` ends it.
 *
 * ```ts
 * using watchdog = startWatchdog();   // null outside a unit with WatchdogSec=
 * ```
 */
export function startWatchdog(options: StartWatchdogOptions = {}): Watchdog | null {
  const env = options.env ?? process.env;
  const intervalMs = watchdogInterval({ env });
  if (intervalMs === null) return null;
  const text = env.NOTIFY_SOCKET;
  if (text === undefined || text === "") return null;
  return new WatchdogTimer(notifyAddress(text), intervalMs, options);
}
