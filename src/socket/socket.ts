/**
 * Socket: a safe, typed object over one socket fd, in the spirit of Python's `socket` and
 * Rust's socket2. It owns the fd (close() is idempotent; `using` closes it), never touches the
 * fd number after close, and applies the policies every caller wants: close-on-exec, no
 * SIGPIPE (MSG_NOSIGNAL / SO_NOSIGPIPE), EINTR retried, optional timeouts.
 *
 * Calls block the calling thread like their C counterparts unless a timeout is set (`timeout =
 * 0` makes the socket non-blocking; would-block then throws a SocketError with code EAGAIN).
 */
import { isMainThread } from "node:worker_threads";
import { table } from "../../ffi/platform.ts";
import * as check from "../core/check.ts";
import {
  familyLabel, familyValue, protocolValue, shutdownValue, typeLabel, typeValue, type Family,
  type Protocol, type ShutdownHow, type SocketType,
} from "../core/constants.ts";
import { SocketError, SocketTimeoutError } from "../core/errors.ts";
import { kernelHasUdpSegment, SegmentSender } from "../linux/gso.ts";
import { countOf, sharedBatch, type ReceivedDatagram } from "./mmsg.ts";
import { IncomingMessage, OutgoingMessage, type RecvMsgOptions, type RecvMsgResult, type SendMsgOptions } from "./msg.ts";
import { getOptionFd, setOptionFd, type GettableOption, type OptionValue, type SettableOption } from "./options.ts";
import {
  AddressDecoder, AddressEncoder, decodeAddress, encodeAddress, familyNumber, formatAddress, SOCKADDR_MAX,
  type Address, type RawAddress,
} from "../core/sockaddr.ts";
import { writeIntField } from "../core/structs.ts";
import * as sys from "../core/sys.ts";
import { WOULD_BLOCK } from "../core/sys.ts";

const C = table.constants;
const E = table.errno;

/** Flags every send carries: MSG_NOSIGNAL where it exists (a dead peer gives EPIPE, not SIGPIPE). */
const SEND_FLAGS = C.MSG_NOSIGNAL ?? 0;
/** Creation flags: atomic close-on-exec where the platform has it. */
const CLOEXEC = C.SOCK_CLOEXEC ?? 0;

const POLLIN = C.POLLIN;
const POLLOUT = C.POLLOUT;

// Scratch buffers for addresses: calls are synchronous, so one set per thread suffices and the
// hot path allocates nothing.
const addrOut = new Uint8Array(SOCKADDR_MAX);
const addrIn = new Uint8Array(SOCKADDR_MAX);
const addrLen = new Uint32Array(1);
/** sendTo's destination and recvFrom's source, each remembering the last address. */
const sendToAddress = new AddressEncoder();
const recvFromAddress = new AddressDecoder();
/** sendSegments' msghdr, iovec and UDP_SEGMENT control message (one per thread, like the above). */
let segmentSender: SegmentSender | null = null;

const encoder = new TextEncoder();

/** Data to send: bytes (any ArrayBufferView) or a string, sent as UTF-8. */
export type Data = ArrayBufferView | string;

function bytesOf(fn: string, data: Data): Uint8Array {
  if (typeof data === "string") return encoder.encode(data);
  return check.bytes(fn, "data", data);
}

/** The real size of a buffer (built-in getter; a shadowed byteLength is ignored). */
const sizeOf = (fn: string, buf: Uint8Array): number => check.byteLength(fn, "buffer", buf);

function flagsOf(fn: string, flags: number): number {
  return check.int32(fn, "flags", flags);
}

/** The bytes `sendable` checked last; the caller reads it at once and calls `sent()` after. */
let sendableBytes: Uint8Array = new Uint8Array(0);
const NO_BYTES = sendableBytes;

/**
 * The hot-path check of a send's data: returns its real byte length and leaves the bytes in
 * `sendableBytes`. A genuine Uint8Array's length is read once (one built-in getter call);
 * anything else takes bytesOf's checks. No allocation for a Uint8Array.
 */
function sendable(fn: string, data: Data): number {
  const n = data instanceof Uint8Array ? check.typedLengthOrNone(data) : -1;
  if (n > 0) {
    sendableBytes = data as Uint8Array;
    return n;
  }
  sendableBytes = n === 0 ? data as Uint8Array : bytesOf(fn, data);
  const size = n === 0 ? 0 : sizeOf(fn, sendableBytes);
  // A view with no memory left is a mistake, never "0 bytes": it would send an empty datagram
  // (or make a stream send loop spin), so it is refused as a receive into it is.
  if (size === 0 && typeof data !== "string" && check.isEmptied(data)) {
    sendableBytes = NO_BYTES;
    throw new TypeError(`${fn}: data has no memory (detached, or its resizable buffer shrank)`);
  }
  return size;
}

/** Forgets the last `sendable` buffer (so a big one is not kept alive). */
function sent(): void {
  sendableBytes = NO_BYTES;
}

/** An int32 flags value (one comparison when it already is one), plus MSG_NOSIGNAL. */
function sendFlagsOf(fn: string, flags: number): number {
  return (typeof flags === "number" && (flags | 0) === flags ? flags : flagsOf(fn, flags)) | SEND_FLAGS;
}

/** Closes fds of Sockets that were garbage-collected without close() (a leak, not a contract). */
const finalizer = new FinalizationRegistry<number>((fd) => {
  threadFds?.delete(fd);
  try { sys.close(fd); } catch { /* nothing to report to: the owner is gone */ }
});

/**
 * In a Worker thread, the fds its Sockets own, closed when the thread exits (its own
 * process.exit() or the end of its work), so its peers see end of stream. A Worker stopped with
 * terminate() runs no exit hook in Bun: its fds stay open (documented with the Worker notes).
 * The main thread needs none of this: the process's exit closes everything.
 */
const threadFds: Set<number> | null = isMainThread ? null : new Set();
if (threadFds !== null) {
  process.on("exit", () => {
    for (const fd of threadFds) {
      try { sys.close(fd); } catch { /* the thread is ending: nothing to report to */ }
    }
    threadFds.clear();
  });
}

/** `sock` owns `fd` from now on (closed by the finalizer if it is collected unclosed). */
function own(sock: Socket, fd: number): void {
  finalizer.register(sock, fd, sock);
  threadFds?.add(fd);
}

/** `sock` no longer owns `fd` (closed or detached). */
function disown(sock: Socket, fd: number): void {
  finalizer.unregister(sock);
  threadFds?.delete(fd);
}

/**
 * What a Socket in async mode (inside an AsyncSocket, src/async/async.ts) throws where a call would
 * wait: one preallocated object, not an Error, so the would-block path captures no stack. The
 * caller awaits readiness and calls again. `progress` is how far a multi-call operation
 * (sendSegments) got before it would have blocked.
 */
export const WOULD_BLOCK_SIGNAL: { progress: number } = { progress: 0 };

/** Puts a Socket in async mode (src/async/async.ts only): see WOULD_BLOCK_SIGNAL. */
export let enterAsyncMode: (sock: Socket) => void;

/**
 * For AsyncSocket's fast paths (src/async/async.ts only): one send()/recv() attempt with exactly the
 * checks of Socket.send/recvInto, returning WOULD_BLOCK (-1) instead of waiting or throwing.
 */
export let trySend: (sock: Socket, data: Data, flags: number) => number;
/** See trySend. */
export let tryRecvInto: (sock: Socket, buffer: Uint8Array, nbytes: number | undefined, flags: number) => number;

/** A new Socket created non-blocking (SOCK_NONBLOCK: no fcntl), timeout 0 (src/async/async.ts only). */
export let newNonBlockingSocket: (family: number, type: number, protocol: number) => Socket;

/** Set by newNonBlockingSocket for the constructor call it makes. */
let creatingNonBlocking = false;

/** Set by Socket.#adopt for the constructor call it makes (synchronous, so never seen twice). */
let adopting: { fd: number; family: number; type: number; protocol: number } | null = null;

/** Options for `new Socket()`. */
export interface SocketOptions {
  /** Initial timeout in ms (see `Socket.timeout`); default null (blocking). */
  readonly timeout?: number | null;
}

/** Options for `Socket.fromFd()`. */
export interface FromFdOptions {
  /** Own a dup() of the fd instead of the fd itself. */
  readonly duplicate?: boolean;
}

/** Options for `Socket.connect()`. */
export interface ConnectOptions {
  /**
   * Connect timeout in ms, also kept as the socket's timeout afterwards. Default: none (block).
   * 0 connects without blocking: the socket comes back while a TCP handshake is in progress
   * (wait for writability, then read the `error` option).
   */
  readonly timeout?: number | null;
  /** Bind to this local address before connecting. */
  readonly localAddress?: Address;
  /** Socket type; default "stream". */
  readonly type?: SocketType;
}

/** Options for `sendFile()`. */
export interface SendFileOptions {
  /** Byte offset in the file to start at; default: the file's own position, which then advances. */
  readonly offset?: number;
  /** Bytes to send; default: up to the end of the file. */
  readonly count?: number;
}

/** Bytes asked of one sendfile call (any size works; Linux caps a call at 0x7ffff000). */
const SENDFILE_CHUNK = 1 << 30;

/** Options for `Socket.listen()`. */
export interface ListenOptions {
  /** listen() backlog; default SOMAXCONN. */
  readonly backlog?: number;
  /** SO_REUSEADDR (default true for IP, as CPython's create_server does). */
  readonly reuseAddress?: boolean;
  /** SO_REUSEPORT (default false). */
  readonly reusePort?: boolean;
  /** For an IPv6 address: also accept IPv4 (IPV6_V6ONLY off). Default false. */
  readonly dualStack?: boolean;
  /** Socket type; default "stream". */
  readonly type?: SocketType;
}

/** A socket fd owned by a JS object. */
export class Socket implements Disposable {
  #fd: number;
  #timeout: number | null = null;
  /** sendSegments: set once the kernel refused UDP_SEGMENT here (EIO, EINVAL): batches from then on. */
  #segmentationRefused = false;
  /** Owned by an AsyncSocket: non-blocking, and would-block throws WOULD_BLOCK_SIGNAL. */
  #async = false;

  static {
    enterAsyncMode = (sock: Socket): void => {
      if (sock.#timeout !== 0) sock.timeout = 0; // accept() in async mode made it non-blocking already
      sock.#async = true;
    };
    trySend = (sock, data, flags) => sock.#sendOnce(data, flags);
    tryRecvInto = (sock, buffer, nbytes, flags) => sock.#recvOnce(buffer, nbytes, flags);
    newNonBlockingSocket = (family, type, protocol) => {
      creatingNonBlocking = true;
      try {
        return new Socket(family, type, protocol);
      } finally {
        creatingNonBlocking = false;
      }
    };
  }
  /** AF_* number. */
  readonly family: number;
  /** SOCK_* number (without SOCK_NONBLOCK/SOCK_CLOEXEC). */
  readonly type: number;
  /** IPPROTO_* number (0 when the kernel default was asked for). */
  readonly protocol: number;

  /**
   * Creates a socket: `new Socket("inet", "stream")`, `new Socket("unix", "dgram")`,
   * `new Socket("inet", "raw", "icmp")`. Raw numbers (AF_*, SOCK_*, IPPROTO_*) work too.
   */
  constructor(family: Family, type: SocketType, protocol: Protocol = 0, options: SocketOptions = {}) {
    if (adopting) {
      // Socket.#adopt: wrap an fd that already exists (accept, socketpair, fromFd).
      const a = adopting;
      adopting = null;
      this.#fd = a.fd;
      this.family = a.family;
      this.type = a.type;
      this.protocol = a.protocol;
      own(this, a.fd);
      return;
    }
    const f = familyValue(family);
    const t = typeValue(type);
    const p = protocolValue(protocol);
    const nonBlocking = creatingNonBlocking ? (C.SOCK_NONBLOCK ?? 0) : 0;
    creatingNonBlocking = false;
    const fd = sys.socket(f, t | CLOEXEC | nonBlocking, p);
    this.#fd = fd;
    if (nonBlocking) this.#timeout = 0;
    this.family = f;
    this.type = t;
    this.protocol = p;
    own(this, fd);
    try {
      this.#applyPolicy(fd, !CLOEXEC);
      if (options.timeout !== undefined) this.timeout = options.timeout;
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** Close-on-exec and no-SIGPIPE where they could not be asked for atomically. */
  #applyPolicy(fd: number, needCloexec: boolean): void {
    if (needCloexec) sys.setCloseOnExec(fd);
    // macOS: SO_NOSIGPIPE as well as MSG_NOSIGNAL, which older kernels ignore. (Linux has no SO_NOSIGPIPE.)
    if (C.SO_NOSIGPIPE !== null) sys.setIntOption(fd, C.SOL_SOCKET, C.SO_NOSIGPIPE, 1);
  }

  /**
   * Takes ownership of an existing socket fd (from another library, a parent process, SCM_RIGHTS).
   * Its family, type and protocol are read from the kernel; a non-socket fd throws ENOTSOCK.
   * With `duplicate: true` the fd is dup()ed and the copy is owned instead (like Python's
   * socket.fromfd), for fds that something else (e.g. a node:net socket) keeps owning; the copy
   * shares the file status flags, so changing its timeout (O_NONBLOCK) changes the original's.
   * An fd that is already non-blocking starts with timeout 0.
   */
  static fromFd(fd: number, options: FromFdOptions = {}): Socket {
    check.fd("Socket.fromFd", fd);
    if (options.duplicate) {
      // Check it is a socket before duplicating, so a wrong fd never yields a stray copy.
      sys.getIntOption(fd, C.SOL_SOCKET, C.SO_TYPE);
      // F_DUPFD_CLOEXEC: the copy is close-on-exec from birth (no window for an exec to leak it).
      const copy = sys.fcntl(fd, C.F_DUPFD_CLOEXEC, 0);
      try {
        return Socket.fromFd(copy);
      } catch (e) {
        sys.close(copy);
        throw e;
      }
    }
    const type = sys.getIntOption(fd, C.SOL_SOCKET, C.SO_TYPE);
    let family: number;
    if (C.SO_DOMAIN !== null) family = sys.getIntOption(fd, C.SOL_SOCKET, C.SO_DOMAIN);
    else {
      addrLen[0] = addrOut.length;
      sys.getsockname(fd, addrOut, addrLen);
      family = familyNumberOf(addrOut, addrLen[0]);
    }
    const protocol = C.SO_PROTOCOL !== null ? sys.getIntOption(fd, C.SOL_SOCKET, C.SO_PROTOCOL) : 0;
    const sock = Socket.#adopt(fd, family, type, protocol);
    // An fd that is already non-blocking behaves as timeout 0, and says so.
    if (sys.fcntl(fd, C.F_GETFL, 0) & C.O_NONBLOCK) sock.#timeout = 0;
    return sock;
  }

  /** Wraps an fd this process already owns, without any syscall that could fail. */
  static #adopt(fd: number, family: number, type: number, protocol: number): Socket {
    adopting = { fd, family, type, protocol };
    return new Socket(family, type, protocol);
  }

  /**
   * A connected pair (socketpair): unix stream by default; "dgram" and "seqpacket" work too.
   * The pair is disposable: `using pair = Socket.pair(); const [a, b] = pair;` closes both.
   */
  static pair(family: Family = "unix", type: SocketType = "stream", protocol: Protocol = 0): [Socket, Socket] & Disposable {
    const f = familyValue(family);
    const t = typeValue(type);
    const p = protocolValue(protocol);
    const [a, b] = sys.socketpair(f, t | CLOEXEC, p);
    const sa = Socket.#adopt(a, f, t, p);
    const sb = Socket.#adopt(b, f, t, p);
    try {
      sa.#applyPolicy(a, !CLOEXEC);
      sb.#applyPolicy(b, !CLOEXEC);
    } catch (e) {
      sa.close();
      sb.close();
      throw e;
    }
    return disposable([sa, sb], sa);
  }

  /**
   * Like Python's `create_connection`: a connected stream socket to `address` (IPv4, IPv6 or
   * unix), optionally bound first and with a connect timeout. The fd is closed on any failure.
   */
  static connect(address: Address, options: ConnectOptions = {}): Socket {
    const sock = new Socket(address.family, options.type ?? "stream");
    try {
      if (options.timeout !== undefined) sock.timeout = options.timeout;
      if (options.localAddress) sock.bind(options.localAddress);
      try {
        sock.connect(address);
      } catch (e) {
        // timeout 0 asks for a non-blocking connect: hand back the socket mid-handshake.
        if (!(options.timeout === 0 && e instanceof SocketError && e.code === "EINPROGRESS")) throw e;
      }
      return sock;
    } catch (e) {
      sock.close();
      throw e;
    }
  }

  /**
   * Like Python's `create_server`: a socket bound to `address` and listening. IP sockets get
   * SO_REUSEADDR unless `reuseAddress: false`; `dualStack` accepts IPv4 on an IPv6 socket.
   */
  static listen(address: Address, options: ListenOptions = {}): Socket {
    const sock = new Socket(address.family, options.type ?? "stream");
    try {
      const fd = sock.fd;
      const ip = address.family === "inet" || address.family === "inet6";
      if (ip && (options.reuseAddress ?? true)) sys.setIntOption(fd, C.SOL_SOCKET, C.SO_REUSEADDR, 1);
      if (options.reusePort) sys.setIntOption(fd, C.SOL_SOCKET, C.SO_REUSEPORT, 1);
      if (address.family === "inet6") sys.setIntOption(fd, C.IPPROTO_IPV6, C.IPV6_V6ONLY, options.dualStack ? 0 : 1);
      sock.bind(address);
      sock.listen(options.backlog);
      return sock;
    } catch (e) {
      sock.close();
      throw e;
    }
  }

  /** The fd. Throws EBADF once the socket is closed or detached. */
  get fd(): number {
    return this.#open("fd");
  }

  /** Whether close() or detach() was called. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  #open(syscall: string): number {
    const fd = this.#fd;
    if (fd < 0) throw new SocketError(syscall, E.EBADF, { note: "socket is closed" });
    return fd;
  }

  // --- timeouts ----------------------------------------------------------------------------------

  /**
   * Timeout in milliseconds for every blocking call (connect, accept, send, recv...): null
   * blocks forever (the default), 0 makes the socket non-blocking (would-block → EAGAIN), a
   * positive value throws SocketTimeoutError when it expires. Like Python's settimeout.
   */
  get timeout(): number | null {
    return this.#timeout;
  }
  set timeout(ms: number | null) {
    if (ms !== null && (typeof ms !== "number" || !(ms >= 0) || ms === Infinity)) {
      throw new RangeError(`timeout must be null or a finite number of ms >= 0, got ${String(ms)}`);
    }
    if (this.#async && ms !== 0) throw new TypeError("timeout: this Socket belongs to an AsyncSocket and stays non-blocking (set AsyncSocket.timeout instead)");
    sys.setNonBlocking(this.#open("fcntl"), ms !== null);
    this.#timeout = ms;
  }

  /** setBlocking(true) = timeout null; setBlocking(false) = timeout 0. */
  setBlocking(blocking: boolean): void {
    this.timeout = blocking ? null : 0;
  }

  /** Whether calls block (no timeout set). */
  get blocking(): boolean {
    return this.#timeout === null;
  }

  /** Deadline for one operation under the current timeout (Infinity when blocking). */
  #deadline(): number {
    return this.#timeout === null ? Infinity : performance.now() + this.#timeout;
  }

  /**
   * After WOULD_BLOCK: with a positive timeout, waits for readiness until the deadline (then
   * SocketTimeoutError). Non-blocking (0) or blocking (null: only a user-set SO_RCVTIMEO /
   * SO_SNDTIMEO or a foreign O_NONBLOCK gets here) report EAGAIN, as C would. `always` waits
   * regardless (an interrupted blocking connect must be completed, not reported).
   */
  #wait(syscall: string, fd: number, events: number, deadline: number, always = false): void {
    if (this.#async) throw WOULD_BLOCK_SIGNAL;
    if (!always && !this.#timeout) throw new SocketError(syscall, E.EAGAIN);
    for (;;) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) throw new SocketTimeoutError(syscall, this.#timeout ?? 0);
      const ms = remaining === Infinity ? -1 : Math.min(Math.ceil(remaining), 0x7fffffff);
      if (sys.pollOne(fd, events, ms) !== 0) return;
    }
  }

  // --- connection setup --------------------------------------------------------------------------

  /** bind(): `sock.bind({ family: "inet", host: "127.0.0.1", port: 0 })`. */
  bind(address: Address): void {
    const fd = this.#open("bind");
    const len = encodeAddress(address, addrIn);
    try {
      sys.bind(fd, addrIn, len);
    } catch (e) {
      throw withAddress(e, address);
    }
  }

  /** listen(); the backlog defaults to SOMAXCONN. */
  listen(backlog: number = C.SOMAXCONN): void {
    sys.listen(this.#open("listen"), check.int32("listen", "backlog", backlog));
  }

  /**
   * accept(): the connected socket (close-on-exec, blocking) and the peer's address.
   * Honors this socket's timeout. Disposable: `using conn = server.accept(); const [s, peer] = conn;`.
   */
  accept(): [Socket, Address | RawAddress] & Disposable {
    const fd = this.#open("accept");
    const deadline = this.#deadline();
    // In async mode the connection is born non-blocking (SOCK_NONBLOCK: no fcntl per accept).
    const nonBlocking = this.#async && sys.hasAccept4 ? (C.SOCK_NONBLOCK ?? 0) : 0;
    for (;;) {
      addrLen[0] = addrOut.length;
      const r = sys.accept(fd, addrOut, addrLen, CLOEXEC | nonBlocking);
      if (r !== WOULD_BLOCK) {
        const peer = decodeAddress(addrOut, addrLen[0]!, this.family);
        const sock = Socket.#adopt(r, this.family, this.type, this.protocol);
        try {
          sock.#applyPolicy(r, !sys.hasAccept4 || !CLOEXEC);
          if (nonBlocking) sock.#timeout = 0;
        } catch (e) {
          sock.close();
          throw e;
        }
        return disposable([sock, peer], sock);
      }
      this.#wait("accept", fd, POLLIN, deadline);
    }
  }

  /**
   * connect(). With a timeout, waits up to it for the handshake (SocketTimeoutError); with
   * timeout 0, an unfinished TCP handshake throws EINPROGRESS (finish it by waiting for
   * writability and reading the `error` option) and a full unix backlog EAGAIN.
   *
   * Interruptions are resolved, never reported as success: after EINTR connect() is called
   * again (TCP then reports EALREADY/EISCONN; Linux restarts an abandoned unix connect), and a
   * finished handshake is confirmed with getpeername. A blocking socket whose user-set
   * SO_SNDTIMEO expires throws EINPROGRESS, as C's connect() reports it.
   */
  connect(address: Address): void {
    const fd = this.#open("connect");
    const len = encodeAddress(address, addrIn);
    const deadline = this.#deadline();
    const timeout = this.#timeout;
    let interrupted = false;
    let backoff = 1;
    try {
      for (;;) {
        const r = sys.connect(fd, addrIn, len);
        if (r === 0) return;
        const errno = -r;
        if (errno === E.EINTR) { interrupted = true; continue; }
        if (errno === E.EISCONN) {
          if (interrupted) return; // the interrupted attempt completed meanwhile
          throw new SocketError("connect", errno);
        }
        if (errno === E.EAGAIN) {
          // A unix listener with a full backlog: a blocking connect would sleep until there is
          // room, but poll() cannot wait for that, so retry with a short backoff up to the deadline.
          if (!timeout) throw new SocketError("connect", errno);
          const remaining = deadline - performance.now();
          if (remaining <= 0) throw new SocketTimeoutError("connect", timeout);
          Bun.sleepSync(Math.min(backoff, remaining));
          backoff = Math.min(backoff * 2, 50);
          continue;
        }
        // EINPROGRESS / EALREADY: the handshake is under way.
        if (timeout === 0 || (timeout === null && !interrupted)) throw new SocketError("connect", E.EINPROGRESS);
        this.#wait("connect", fd, POLLOUT, deadline, true);
        const err = sys.getIntOption(fd, C.SOL_SOCKET, C.SO_ERROR);
        if (err !== 0) throw new SocketError("connect", err);
        if (this.#isConnected(fd)) return;
        interrupted = true; // writable without a peer: the attempt was dropped; start another
      }
    } catch (e) {
      throw withAddress(e, address);
    }
  }

  /** Whether the kernel reports a peer (getpeername succeeds). */
  #isConnected(fd: number): boolean {
    addrLen[0] = addrOut.length;
    try {
      sys.getpeername(fd, addrOut, addrLen);
      return true;
    } catch (e) {
      if (e instanceof SocketError && e.code === "ENOTCONN") return false;
      throw e;
    }
  }

  /** shutdown("read" | "write" | "both"). */
  shutdown(how: ShutdownHow = "both"): void {
    sys.shutdown(this.#open("shutdown"), shutdownValue(how));
  }

  // --- data --------------------------------------------------------------------------------------

  /** send(): bytes sent (may be fewer than given on a stream; see sendAll). */
  send(data: Data, flags = 0): number {
    let r = this.#sendOnce(data, flags);
    if (r === WOULD_BLOCK) {
      const deadline = this.#deadline();
      do {
        this.#wait("send", this.#fd, POLLOUT, deadline);
        r = this.#sendOnce(data, flags);
      } while (r === WOULD_BLOCK);
    }
    return r;
  }

  /** One send() with every check: the count, or WOULD_BLOCK. */
  #sendOnce(data: Data, flags: number): number {
    const fd = this.#open("send");
    const fl = sendFlagsOf("send", flags);
    const len = sendable("send", data);
    const buf = sendableBytes;
    sent();
    return sys.sendChecked(fd, buf, len, fl);
  }

  /**
   * Sends all of `data`, looping over partial sends. With a timeout, the timeout bounds the
   * whole call (as in CPython). On error, `SocketError.bytesSent` says how much went out.
   */
  sendAll(data: Data, flags = 0): void {
    const fd = this.#open("send");
    const buf = bytesOf("sendAll", data);
    const fl = flagsOf("sendAll", flags) | SEND_FLAGS;
    const deadline = this.#deadline();
    let off = 0;
    const total = sizeOf("sendAll", buf);
    if (total === 0 && check.isEmptied(buf)) throw new TypeError("sendAll: data has no memory (detached, or its resizable buffer shrank)");
    try {
      while (off < total) {
        const chunk = off === 0 ? buf : buf.subarray(off);
        const r = sys.send(fd, chunk, total - off, fl);
        if (r === WOULD_BLOCK) this.#wait("send", fd, POLLOUT, deadline);
        else off += r;
      }
    } catch (e) {
      if (e instanceof SocketError) e.bytesSent = off;
      throw e;
    }
  }

  /** recv(): up to `maxBytes` bytes (an empty array at end of stream). */
  recv(maxBytes: number, flags = 0): Uint8Array {
    const buf = new Uint8Array(check.size("recv", "maxBytes", maxBytes));
    const n = this.recvInto(buf, maxBytes, flags);
    return n === maxBytes ? buf : buf.subarray(0, n);
  }

  /** recv() into `buffer` (its first `nbytes`, default all of it); returns the count. No allocation. */
  recvInto(buffer: Uint8Array, nbytes?: number, flags = 0): number {
    let r = this.#recvOnce(buffer, nbytes, flags);
    if (r === WOULD_BLOCK) {
      const deadline = this.#deadline();
      do {
        this.#wait("recv", this.#fd, POLLIN, deadline);
        r = this.#recvOnce(buffer, nbytes, flags);
      } while (r === WOULD_BLOCK);
    }
    return r;
  }

  /** One recv() with every check: the count, or WOULD_BLOCK. */
  #recvOnce(buffer: Uint8Array, nbytes: number | undefined, flags: number): number {
    const fd = this.#open("recv");
    if (!(buffer instanceof Uint8Array)) throw new TypeError("recvInto: buffer must be a Uint8Array");
    const size = sizeOf("recvInto", buffer);
    // A transferred or shrunk buffer has no bytes: recv(…, 0) would return 0 and read as end of stream.
    if (size === 0 && check.isDetached(buffer)) throw new TypeError("recvInto: buffer is detached (transferred)");
    if (nbytes === undefined) nbytes = size;
    else check.fits("recvInto", "nbytes", check.size("recvInto", "nbytes", nbytes), size);
    if (size === 0 && check.isEmptied(buffer)) throw new TypeError("recvInto: buffer has no memory (its resizable buffer shrank)");
    return sys.recv(fd, buffer, nbytes, flagsOf("recv", flags));
  }

  /** sendto(): one datagram (or stream data) to `address`; returns bytes sent. */
  sendTo(data: Data, address: Address, flags = 0): number {
    const fd = this.#open("sendto");
    // The hot path of a datagram sender, so each fact is read once: the data's real length,
    // an int32 flags value, and the encoder's length, which never exceeds its own buffer.
    // Flags and address first: encoding may run the caller's getters, which could shrink or
    // detach the data's buffer; its length is read last, just before the call.
    const fl = sendFlagsOf("sendTo", flags);
    const len = sendToAddress.encode(address);
    const size = sendable("sendTo", data);
    const buf = sendableBytes;
    sent();
    const to = sendToAddress.bytes;
    let r = sys.sendtoChecked(fd, buf, size, fl, to, len);
    if (r === WOULD_BLOCK) {
      const deadline = this.#deadline();
      do {
        this.#wait("sendto", fd, POLLOUT, deadline);
        r = sys.sendtoChecked(fd, buf, size, fl, to, len);
      } while (r === WOULD_BLOCK);
    }
    return r;
  }

  /** recvfrom(): the data (up to maxBytes) and the sender's address. */
  recvFrom(maxBytes: number, flags = 0): [Uint8Array, Address | RawAddress] {
    const buf = new Uint8Array(check.size("recvFrom", "maxBytes", maxBytes));
    const [n, from] = this.recvFromInto(buf, maxBytes, flags);
    return [n === maxBytes ? buf : buf.subarray(0, n), from];
  }

  /**
   * recvfrom() into `buffer`: the count and the sender. With MSG_TRUNC in flags, Linux returns
   * the datagram's real length even when it was longer than the buffer.
   */
  recvFromInto(buffer: Uint8Array, nbytes?: number, flags = 0): [number, Address | RawAddress] {
    const fd = this.#open("recvfrom");
    if (!(buffer instanceof Uint8Array)) throw new TypeError("recvFromInto: buffer must be a Uint8Array");
    const size = sizeOf("recvFromInto", buffer);
    if (size === 0 && check.isDetached(buffer)) throw new TypeError("recvFromInto: buffer is detached (transferred)");
    if (nbytes === undefined) nbytes = size;
    else check.fits("recvFromInto", "nbytes", check.size("recvFromInto", "nbytes", nbytes), size);
    if (size === 0 && check.isEmptied(buffer)) throw new TypeError("recvFromInto: buffer has no memory (its resizable buffer shrank)");
    const fl = flagsOf("recvfrom", flags);
    addrLen[0] = addrOut.length;
    let r = sys.recvfrom(fd, buffer, nbytes, fl, addrOut, addrLen);
    if (r === WOULD_BLOCK) {
      const deadline = this.#deadline();
      do {
        this.#wait("recvfrom", fd, POLLIN, deadline);
        addrLen[0] = addrOut.length;
        r = sys.recvfrom(fd, buffer, nbytes, fl, addrOut, addrLen);
      } while (r === WOULD_BLOCK);
    }
    return [r, recvFromAddress.decode(addrOut, addrLen[0]!, this.family)];
  }

  // --- addresses and options ---------------------------------------------------------------------

  /** getsockname(): the local address. */
  get localAddress(): Address | RawAddress {
    addrLen[0] = addrOut.length;
    const n = sys.getsockname(this.#open("getsockname"), addrOut, addrLen);
    return decodeAddress(addrOut, n, this.family);
  }

  /** getpeername(): the connected peer's address (ENOTCONN if none). */
  get remoteAddress(): Address | RawAddress {
    addrLen[0] = addrOut.length;
    const n = sys.getpeername(this.#open("getpeername"), addrOut, addrLen);
    return decodeAddress(addrOut, n, this.family);
  }

  /** getsockopt() as raw bytes: up to `maxLength` bytes of option `name` at `level`. */
  getRawOption(level: number, name: number, maxLength: number): Uint8Array {
    const buf = new Uint8Array(check.size("getRawOption", "maxLength", maxLength));
    const len = Uint32Array.of(maxLength);
    const n = sys.getsockopt(this.#open("getsockopt"), check.int32("getsockopt", "level", level), check.int32("getsockopt", "name", name), buf, len);
    return buf.subarray(0, Math.min(n, maxLength));
  }

  /** setsockopt() with raw bytes (or a number, sent as a C int). */
  setRawOption(level: number, name: number, value: ArrayBufferView | number): void {
    const fd = this.#open("setsockopt");
    const lv = check.int32("setsockopt", "level", level);
    const nm = check.int32("setsockopt", "name", name);
    if (typeof value === "number") sys.setIntOption(fd, lv, nm, value);
    else {
      const b = check.bytes("setRawOption", "value", value);
      sys.setsockopt(fd, lv, nm, b, sizeOf("setRawOption", b));
    }
  }

  // --- typed options (src/socket/options.ts) -------------------------------------------------------------

  /**
   * A typed option (see src/socket/options.ts for the table): `sock.getOption("noDelay")` → boolean,
   * `sock.getOption("tcpInfo").rtt` → µs. Unknown, write-only or unsupported-here names throw
   * TypeError; a failing getsockopt throws SocketError.
   */
  getOption<K extends GettableOption>(name: K): OptionValue<K> {
    return getOptionFd(this.#open("getsockopt"), name);
  }

  /**
   * Sets a typed option: `sock.setOption("linger", { onoff: true, seconds: 0 })`. The value is
   * checked (TypeError/RangeError) before setsockopt; the kernel's refusal is a SocketError.
   */
  setOption<K extends SettableOption>(name: K, value: OptionValue<K>): void {
    setOptionFd(this.#open("setsockopt"), name, value);
  }

  // --- messages: sendmsg/recvmsg and control messages (src/socket/msg.ts) ---------------------------------

  /**
   * sendmsg(): data gathered from one buffer or several, plus optional destination address,
   * fds to pass (SCM_RIGHTS), credentials (SCM_CREDENTIALS) and raw control messages. Returns
   * bytes sent. Adds MSG_NOSIGNAL like send(); honors the timeout. Every argument is checked
   * before the call:
   * `sock.sendMsg({ data: ["hdr", body], fds: [fileFd] })`.
   */
  sendMsg(options: SendMsgOptions): number {
    const fd = this.#open("sendmsg");
    const msg = new OutgoingMessage("sendMsg", options, SEND_FLAGS);
    let r = msg.attempt(fd);
    if (r === WOULD_BLOCK) {
      const deadline = this.#deadline();
      do {
        this.#wait("sendmsg", fd, POLLOUT, deadline);
        r = msg.attempt(fd);
      } while (r === WOULD_BLOCK);
    }
    return r;
  }

  /**
   * recvmsg(): fills `buffers` (or one new buffer of `size` bytes) and returns the byte count,
   * data, sender, received fds (yours to close; close-on-exec), credentials, other control
   * messages and the MSG_TRUNC/MSG_CTRUNC outcome. Ask for room with `maxFds`/`credentials`
   * (or `controlSize`). Honors the timeout:
   * `const { data, fds } = sock.recvMsg({ size: 1024, maxFds: 4 })`.
   */
  recvMsg(options: RecvMsgOptions = {}): RecvMsgResult {
    const fd = this.#open("recvmsg");
    const msg = new IncomingMessage("recvMsg", options);
    let r = msg.attempt(fd);
    if (r === WOULD_BLOCK) {
      const deadline = this.#deadline();
      do {
        this.#wait("recvmsg", fd, POLLIN, deadline);
        r = msg.attempt(fd);
      } while (r === WOULD_BLOCK);
    }
    return msg.finish(r);
  }

  // --- batches: sendmmsg/recvmmsg (src/socket/mmsg.ts) ---------------------------------------------------

  /**
   * sendmmsg(): each Uint8Array one datagram, to `address` (or the connected peer), in one
   * syscall (a sendmsg loop where there is no sendmmsg). Returns how many were sent: fewer than
   * given is a partial send (send the rest again). Adds MSG_NOSIGNAL; honors the timeout while
   * not even the first can go. At most 1024 (UIO_MAXIOV) per call; every buffer is checked first.
   */
  sendMany(datagrams: readonly Uint8Array[], address?: Address, flags = 0): number {
    const fd = this.#open("sendmmsg");
    const fl = flagsOf("sendMany", flags) | SEND_FLAGS;
    const batch = sharedBatch(countOf(datagrams));
    const n = batch.prepareSend("sendMany", datagrams, address);
    let r = batch.attemptSend(fd, n, fl);
    if (r === WOULD_BLOCK) {
      const deadline = this.#deadline();
      do {
        this.#wait("sendmmsg", fd, POLLOUT, deadline);
        r = batch.attemptSend(fd, n, fl);
      } while (r === WOULD_BLOCK);
    }
    return r;
  }

  /**
   * Sends `data` as consecutive datagrams of `segmentSize` bytes each (the last one takes the
   * rest) to `address`, or to the connected peer when it is omitted. On a Linux UDP socket this
   * is UDP segmentation offload (UDP_SEGMENT): one sendmsg per 64 datagrams (at most 65 507
   * bytes), the stack walked once per call, so several times the datagram rate of one sendTo
   * each. Elsewhere (macOS, kernels before 4.18, unix datagram sockets, or a socket or route
   * the kernel refuses the offload for: SO_NO_CHECK, IPsec) the same datagrams go through
   * sendmmsg batches.
   *
   * Like sendAll: returns when every datagram was sent (the byte count, `data`'s length); a
   * timeout bounds the whole call; on error `SocketError.bytesSent` says how many bytes (whole
   * datagrams) went out. Empty data sends nothing. Adds MSG_NOSIGNAL.
   */
  sendSegments(data: Data, segmentSize: number, address?: Address, flags = 0): number {
    const fd = this.#open("sendmsg");
    const buf = bytesOf("sendSegments", data);
    const fl = flagsOf("sendSegments", flags) | SEND_FLAGS;
    const sender = (segmentSender ??= new SegmentSender());
    const total = sender.prepare("sendSegments", buf, segmentSize, address);
    const deadline = this.#deadline();
    let off = 0;
    try {
      while (off < total) {
        let r: number;
        if (!this.#segmentationRefused && this.#canSegment()) {
          try {
            r = sender.attempt(fd, off, fl);
          } catch (e) {
            // The kernel refuses the offload itself for this socket or route: EIO (an xfrm/IPsec
            // route), EINVAL (SO_NO_CHECK is on). Send the same datagrams in batches from now
            // on; an error that was not about segmentation comes back from the batch path.
            if (!(e instanceof SocketError && (e.errno === E.EIO || e.errno === E.EINVAL))) throw e;
            this.#segmentationRefused = true;
            continue;
          }
        } else {
          r = sender.attemptBatch(fd, off, fl);
        }
        if (r === WOULD_BLOCK) this.#wait("sendmsg", fd, POLLOUT, deadline);
        else off += r;
      }
    } catch (e) {
      if (e instanceof SocketError) e.bytesSent = off;
      else if (e === WOULD_BLOCK_SIGNAL) WOULD_BLOCK_SIGNAL.progress = off;
      throw e;
    } finally {
      sender.release();
    }
    return total;
  }

  /**
   * sendfile(2): sends `count` bytes (default: to the end) of the open file `file` (an fd, e.g.
   * from `fs.openSync`) from `offset` (default: the file's position, which advances), the
   * kernel copying from the page cache without a trip through JS. Loops over partial sends;
   * the timeout bounds the whole call; returns the bytes sent, fewer than `count` only at end
   * of file. On error `SocketError.bytesSent` says how many went out. A dead peer is EPIPE,
   * never SIGPIPE (blocked and consumed around the call, as sendfile has no MSG_NOSIGNAL).
   * Linux only: elsewhere it throws SocketError ENOSYS. The file is not closed.
   */
  sendFile(file: number, options: SendFileOptions = {}): number {
    const fd = this.#open("sendfile");
    const inFd = check.fd("sendFile", file);
    if (options === null || typeof options !== "object") throw new TypeError("sendFile: options must be an object");
    const count = options.count === undefined ? Infinity : check.size("sendFile", "count", options.count);
    let offset: Uint8Array | null = null;
    if (options.offset !== undefined) {
      offset = new Uint8Array(table.sizes.off_t);
      writeIntField(new DataView(offset.buffer), { offset: 0, size: offset.byteLength }, check.size("sendFile", "offset", options.offset));
    }
    const deadline = this.#deadline();
    let sent = 0;
    try {
      while (sent < count) {
        const r = sys.sendfile(fd, inFd, offset, Math.min(count - sent, SENDFILE_CHUNK));
        if (r === WOULD_BLOCK) this.#wait("sendfile", fd, POLLOUT, deadline);
        else if (r === 0) break; // end of file
        else sent += r;
      }
    } catch (e) {
      if (e instanceof SocketError) e.bytesSent = sent;
      else if (e === WOULD_BLOCK_SIGNAL) WOULD_BLOCK_SIGNAL.progress = sent;
      throw e;
    }
    return sent;
  }

  /** Whether sendSegments may use UDP_SEGMENT: a UDP socket on a kernel that has it. */
  #canSegment(): boolean {
    const udp = this.type === C.SOCK_DGRAM && (this.family === C.AF_INET || this.family === C.AF_INET6) &&
      (this.protocol === 0 || this.protocol === C.IPPROTO_UDP);
    return udp && kernelHasUdpSegment();
  }

  /**
   * recvmmsg(): up to one datagram per buffer, in one syscall. Waits (under the timeout) for
   * the first, then takes whatever else is queued (MSG_WAITFORONE is always added). Returns
   * each datagram's length, data (a view of its buffer), sender and truncation.
   */
  recvMany(buffers: readonly Uint8Array[], flags = 0): ReceivedDatagram[] {
    const fd = this.#open("recvmmsg");
    const fl = flagsOf("recvMany", flags) | (C.MSG_WAITFORONE ?? 0);
    const batch = sharedBatch(countOf(buffers));
    const n = batch.prepareRecv("recvMany", buffers, this.family);
    let r = batch.attemptRecv(fd, n, fl);
    if (r === WOULD_BLOCK) {
      const deadline = this.#deadline();
      do {
        this.#wait("recvmmsg", fd, POLLIN, deadline);
        r = batch.attemptRecv(fd, n, fl);
      } while (r === WOULD_BLOCK);
    }
    return batch.results();
  }

  // --- lifetime ----------------------------------------------------------------------------------

  /**
   * Closes the fd. Idempotent: later calls do nothing, and every other method then throws
   * EBADF without touching the old fd number (which the kernel may have reused).
   */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    disown(this, fd);
    sys.close(fd);
  }

  /** `using sock = new Socket(...)` closes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Gives up ownership: returns the fd, which this object will no longer use or close. */
  detach(): number {
    const fd = this.#open("detach");
    this.#fd = -1;
    disown(this, fd);
    return fd;
  }

  /** e.g. `Socket(fd=7, AF_INET, SOCK_STREAM)` or `Socket(closed, AF_UNIX, SOCK_DGRAM)`. */
  toString(): string {
    const where = this.#fd < 0 ? "closed" : `fd=${this.#fd}`;
    return `Socket(${where}, ${familyLabel(this.family)}, ${typeLabel(this.type)})`;
  }

  /** How console.log and Bun.inspect print a Socket: the same as toString(). */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

/** The family number at the start of a sockaddr (for fromFd on platforms without SO_DOMAIN). */
function familyNumberOf(bytes: Uint8Array, len: number): number {
  const a = decodeAddress(bytes, len);
  return typeof a.family === "number" ? a.family : familyNumber(a);
}

/** Makes a tuple disposable: disposing it closes `owner` (and the second socket of a pair). */
function disposable<T extends unknown[]>(items: T, owner: Socket): T & Disposable {
  return Object.assign(items, {
    [Symbol.dispose](): void {
      for (const item of items) if (item instanceof Socket) item.close();
      owner.close();
    },
  });
}

/** Adds the address to a SocketError from bind/connect, so the message says where. */
function withAddress(e: unknown, address: Address): unknown {
  if (e instanceof SocketError && e.address === undefined && !(e instanceof SocketTimeoutError)) {
    return new SocketError(e.syscall, e.errno, { address: formatAddress(address) });
  }
  if (e instanceof SocketTimeoutError && e.address === undefined) {
    return new SocketTimeoutError(e.syscall, e.timeoutMs, { address: formatAddress(address) });
  }
  return e;
}
