/**
 * TUN/TAP devices (Linux): a virtual network interface whose packets (TUN: IP packets; TAP:
 * Ethernet frames) are read and written by this process. `TunDevice.open()` opens
 * /dev/net/tun and attaches it to an interface with TUNSETIFF (creating it; the name is the
 * kernel's when none is given, e.g. "tun0"); `read`/`write` move one packet each, without
 * blocking the thread: the fd is non-blocking and the async API's reactor watches it. Configure
 * the interface (addresses, up) with Rtnetlink. Needs CAP_NET_ADMIN: without it open() throws
 * SocketError EPERM whose message names the capability.
 */
import { table } from "../../ffi/platform.ts";
import { signalOf, timeoutOf } from "../async/cancel.ts";
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
  #readTail: Promise<unknown> = Promise.resolve();
  #writeTail: Promise<unknown> = Promise.resolve();
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

  /** Runs `attempt` when it can proceed, in turn with the other operations of its direction. */
  #io<T extends number>(dir: number, fn: string, op: OperationOptions | undefined, attempt: (fd: number) => T | typeof WOULD_BLOCK): Promise<T> {
    let timeout: number | null;
    let signal: AbortSignal | null;
    try {
      if (op !== undefined && (op === null || typeof op !== "object")) throw new TypeError(`${fn}: options must be an object`);
      timeout = op?.timeout === undefined ? null : timeoutOf(fn, op.timeout);
      signal = signalOf(fn, op?.signal);
    } catch (e) {
      return Promise.reject(e);
    }
    const deadline = timeout === null ? Infinity : performance.now() + timeout;
    const run = async (): Promise<T> => {
      for (;;) {
        if (signal?.aborted) throw signal.reason;
        const r = attempt(this.#open(fn));
        if (r !== WOULD_BLOCK) return r as T;
        if (deadline <= performance.now()) throw new SocketTimeoutError(fn, timeout ?? 0);
        const w = this.#watched();
        await w.reactor.wait(w, dir, fn, signal, deadline, timeout ?? 0);
      }
    };
    const tail = dir === READ ? this.#readTail : this.#writeTail;
    const p = tail.then(run, run);
    if (dir === READ) this.#readTail = p.catch(() => {});
    else this.#writeTail = p.catch(() => {});
    return p;
  }

  /** Reads one packet into `buffer` (a longer one is cut to its size): its length. */
  read(buffer: Uint8Array, op?: OperationOptions): Promise<number> {
    if (!(buffer instanceof Uint8Array)) return Promise.reject(new TypeError("TunDevice.read: buffer must be a Uint8Array"));
    // A read into no memory would return 0, which no packet is.
    if (check.isEmptied(buffer)) return Promise.reject(check.noMemory("TunDevice.read", "buffer"));
    return this.#io(READ, "read", op, (fd) => sys.read(fd, buffer, check.byteLength("read", "buffer", buffer)));
  }

  /** Writes one packet (a whole IP packet for TUN, an Ethernet frame for TAP): bytes written. */
  write(packet: Uint8Array, op?: OperationOptions): Promise<number> {
    if (!(packet instanceof Uint8Array)) return Promise.reject(new TypeError("TunDevice.write: packet must be a Uint8Array"));
    if (check.isEmptied(packet)) return Promise.reject(check.noMemory("TunDevice.write", "packet"));
    return this.#io(WRITE, "write", op, (fd) => sys.write(fd, packet, check.byteLength("write", "packet", packet)));
  }

  /** Closes the fd (the interface goes with it unless made persistent); pending reads reject EBADF. Idempotent. */
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
