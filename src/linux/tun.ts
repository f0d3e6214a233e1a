/**
 * TUN/TAP devices (Linux): a virtual network interface whose packets (TUN: IP packets; TAP:
 * Ethernet frames) are read and written by this process. `TunDevice.open()` opens
 * /dev/net/tun and attaches it to an interface with TUNSETIFF (creating it; the name is the
 * kernel's when none is given, e.g. "tun0"); `read`/`write` move one packet each, without
 * blocking the thread: the fd is non-blocking and the async API's reactor watches it. Configure
 * the interface (addresses, up) with Rtnetlink. Needs CAP_NET_ADMIN: without it open() throws
 * SocketError EPERM whose message names the capability.
 *
 * Reads take turns in call order, writes too (AsyncSocket's concurrency rule); a queued one's
 * timeout and signal count from its call, so it can end before its turn comes, and it then
 * leaves the queue at once. Every failure of read/write is a rejection, bad arguments included.
 */
import { table } from "../../ffi/platform.ts";
import { signalOf, timeoutOf } from "../async/cancel.ts";
import { Turn } from "../async/turn.ts";
import { READ, WRITE, reactor, type Watch } from "../async/reactor.ts";
import type { OperationOptions } from "../async/async.ts";
import * as check from "../core/check.ts";
import { present } from "../core/constants.ts";
import { SocketError, SocketTimeoutError } from "../core/errors.ts";
import * as sys from "../core/sys.ts";
import { WOULD_BLOCK } from "../core/sys.ts";
import { interfaceIndex } from "../core/sockaddr.ts";

const C = table.constants;
const E = table.errno;
const need = <T>(what: string, v: T | null | undefined): T => present("TUN/TAP", what, v);
const LE = table.expressions.LITTLE_ENDIAN === 1;

/**
 * Checks `v` (read's buffer, write's packet) before the operation queues: a genuine Uint8Array
 * (a Proxy, or an object with a typed array prototype, is a TypeError) with memory (a detached
 * or emptied one is check.noMemory's TypeError). The attempt checks the memory again.
 */
function packetView(fn: string, what: string, v: unknown): Uint8Array {
  if (!check.isUint8Array(v)) throw new TypeError(`${fn}: ${what} must be a Uint8Array`);
  if (check.isEmptied(v)) throw check.noMemory(fn, what);
  return v;
}

/**
 * The length to pass for `view` in one attempt, read now through the built-in getter (a
 * length-tracking view on a resizable buffer has its current length): the buffer can be
 * transferred or shrunk while the operation waits, and read(…, 0) would return 0, which is no
 * packet, so a view with no memory left is check.noMemory's TypeError.
 */
function lengthNow(fn: string, what: string, view: Uint8Array): number {
  if (check.isEmptied(view)) throw check.noMemory(fn, what);
  return check.byteLength(fn, what, view);
}

/** Options for TunDevice.open(). */
export interface TunOptions {
  /** The interface name (at most IF_NAMESIZE - 1 bytes; may contain %d, as "tun%d"); default the kernel's choice. */
  readonly name?: string;
  /** "tun" (IP packets, default) or "tap" (Ethernet frames). */
  readonly mode?: "tun" | "tap";
}

/** A TUN/TAP interface and its file descriptor (see the module comment). */
export class TunDevice implements Disposable {
  #fd: number;
  #watch: Watch | null = null;
  /** Reads wait one after another, writes too (one reactor slot each). */
  readonly #reads = new Turn();
  readonly #writes = new Turn();
  /** The interface's name, as the kernel made it ("tun0"). */
  readonly name: string;
  /** Its interface index (for Rtnetlink.addAddress / setLinkUp). */
  readonly index: number;
  /** "tun" (IP packets) or "tap" (Ethernet frames). */
  readonly mode: "tun" | "tap";

  private constructor(fd: number, name: string, mode: "tun" | "tap") {
    this.#fd = fd;
    this.name = name;
    this.mode = mode;
    this.index = interfaceIndex(name);
  }

  /** Opens /dev/net/tun and creates (or attaches to) the interface. */
  static open(options: TunOptions = {}): TunDevice {
    if (options === null || typeof options !== "object") throw new TypeError("TunDevice.open: options must be an object");
    const { name = "", mode = "tun" } = options;
    if (mode !== "tun" && mode !== "tap") throw new TypeError(`TunDevice.open: mode must be "tun" or "tap", got ${JSON.stringify(mode)}`);
    if (typeof name !== "string") throw new TypeError("TunDevice.open: name must be a string");
    const R = need("struct ifreq", table.structs.ifreq);
    const bytes = new TextEncoder().encode(name);
    if (bytes.length >= R.fields.ifr_name.size || bytes.includes(0)) {
      throw new RangeError(`TunDevice.open: name must be 1..${R.fields.ifr_name.size - 1} bytes without NUL, got ${JSON.stringify(name)}`);
    }
    const flags = (mode === "tun" ? need("IFF_TUN", C.IFF_TUN) : need("IFF_TAP", C.IFF_TAP)) | need("IFF_NO_PI", C.IFF_NO_PI);
    let fd: number;
    try {
      fd = sys.open("/dev/net/tun", need("O_RDWR", C.O_RDWR) | need("O_CLOEXEC", C.O_CLOEXEC) | C.O_NONBLOCK);
    } catch (e) {
      if (e instanceof SocketError && e.code === "ENOENT") throw new SocketError("open", e.errno, { note: "/dev/net/tun: this kernel or container has no TUN/TAP device" });
      if (e instanceof SocketError && (e.code === "EACCES" || e.code === "EPERM")) {
        throw new SocketError("open", e.errno, { note: "/dev/net/tun: a TUN/TAP interface needs CAP_NET_ADMIN (and access to /dev/net/tun)" });
      }
      throw e;
    }
    try {
      const req = new Uint8Array(R.size);
      req.set(bytes, R.fields.ifr_name.offset);
      new DataView(req.buffer).setInt16(R.fields.ifr_flags.offset, flags, LE);
      try {
        sys.ioctl(fd, need("TUNSETIFF", C.TUNSETIFF), req);
      } catch (e) {
        if (e instanceof SocketError && e.code === "EPERM") {
          throw new SocketError("ioctl", e.errno, { note: "TUNSETIFF: creating a TUN/TAP interface needs CAP_NET_ADMIN" });
        }
        throw e;
      }
      const nameBytes = req.subarray(R.fields.ifr_name.offset, R.fields.ifr_name.offset + R.fields.ifr_name.size);
      const end = nameBytes.indexOf(0);
      return new TunDevice(fd, new TextDecoder().decode(nameBytes.subarray(0, end < 0 ? nameBytes.length : end)), mode);
    } catch (e) {
      sys.close(fd);
      throw e;
    }
  }

  /** The fd (-1 once closed). */
  get fd(): number {
    return this.#fd;
  }

  /** Whether close() has run. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  #open(fn: string): number {
    if (this.#fd < 0) throw new SocketError(fn, E.EBADF, { note: "the TUN device is closed" });
    return this.#fd;
  }

  #watched(): Watch {
    const w = this.#watch;
    if (w !== null && !w.reactor.stopped && !w.closed) return w;
    return (this.#watch = reactor().watch(this.#fd));
  }

  /**
   * Runs `attempt` when it can proceed, in turn with the other operations of its direction; an
   * async function, so that every failure (a throwing option getter too) is a rejection. The
   * timeout and the signal count from the call, while the operation is queued too.
   */
  async #io<T extends number>(dir: number, fn: string, op: OperationOptions | undefined, attempt: (fd: number) => T | typeof WOULD_BLOCK): Promise<T> {
    if (op !== undefined && (op === null || typeof op !== "object")) throw new TypeError(`${fn}: options must be an object`);
    const given = op?.timeout; // each option read once: a getter may answer differently twice
    const timeout = given === undefined ? null : timeoutOf(fn, given);
    const signal = signalOf(fn, op?.signal);
    if (signal?.aborted) throw signal.reason;
    const deadline = timeout === null ? Infinity : performance.now() + timeout;
    const turn = dir === READ ? this.#reads : this.#writes;
    const queued = turn.acquire(fn, signal, deadline, timeout ?? 0);
    if (queued) await queued;
    try {
      for (;;) {
        if (signal?.aborted) throw signal.reason;
        const r = attempt(this.#open(fn));
        if (r !== WOULD_BLOCK) return r as T;
        if (deadline <= performance.now()) throw new SocketTimeoutError(fn, timeout ?? 0);
        const w = this.#watched();
        await w.reactor.wait(w, dir, fn, signal, deadline, timeout ?? 0);
      }
    } finally {
      turn.release();
    }
  }

  /**
   * Reads one packet into `buffer` (a longer one is cut to its size): its length. A zero-length
   * buffer is a RangeError: the kernel would return 0 at once, which no packet is.
   */
  read(buffer: Uint8Array, op?: OperationOptions): Promise<number> {
    let view: Uint8Array;
    try {
      view = packetView("TunDevice.read", "buffer", buffer);
      if (check.typedLength(view) === 0) throw new RangeError("TunDevice.read: buffer has no room for a packet (0 bytes)");
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#io(READ, "read", op, (fd) => sys.read(fd, view, lengthNow("TunDevice.read", "buffer", view)));
  }

  /** Writes one packet (a whole IP packet for TUN, an Ethernet frame for TAP): bytes written. */
  write(packet: Uint8Array, op?: OperationOptions): Promise<number> {
    let view: Uint8Array;
    try {
      view = packetView("TunDevice.write", "packet", packet);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#io(WRITE, "write", op, (fd) => sys.write(fd, view, lengthNow("TunDevice.write", "packet", view)));
  }

  /**
   * Closes the fd (the interface goes with it unless made persistent); the waiting read or
   * write rejects EBADF, and so does each one queued behind it, at once. Idempotent.
   */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    if (this.#watch && !this.#watch.reactor.stopped) this.#watch.reactor.unwatch(this.#watch);
    this.#watch = null;
    this.#fd = -1;
    sys.close(fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
