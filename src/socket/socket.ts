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
import { SocketError, SocketTimeoutError, withAddress as addressed } from "../core/errors.ts";
import * as attempt from "./attempts.ts";
import { bytesOf, flagsOf, sizeOf, type Data } from "./attempts.ts";
import type { ReceivedDatagram } from "./mmsg.ts";
import type { RecvMsgOptions, RecvMsgResult, SendMsgOptions } from "./msg.ts";
import { getOptionFd, setOptionFd, type GettableOption, type OptionValue, type SettableOption } from "./options.ts";
import { decodeAddress, encodeAddress, familyNumber, formatAddress, SOCKADDR_MAX, type Address, type RawAddress } from "../core/sockaddr.ts";
import { writeIntField } from "../core/structs.ts";
import * as sys from "../core/sys.ts";
import { explainSocketFailure, mptcpRefusal } from "../linux/mptcp.ts";
import { connectionFailed, zeroCopyLedger, zeroCopyRefusal, type ZeroCopyLedger, type ZeroCopyResult } from "../linux/zerocopy.ts";
import { WOULD_BLOCK } from "../core/sys.ts";

const C = table.constants;
const E = table.errno;

/** Creation flags: atomic close-on-exec where the platform has it. */
const CLOEXEC = C.SOCK_CLOEXEC ?? 0;

const POLLIN = C.POLLIN;
const POLLOUT = C.POLLOUT;

// Scratch buffers for addresses: calls are synchronous, so one set per thread suffices and the
// hot path allocates nothing.
const addrOut = new Uint8Array(SOCKADDR_MAX);
const addrIn = new Uint8Array(SOCKADDR_MAX);
const addrLen = new Uint32Array(1);
export type { Data };

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

/** The constructor option (module-private) that wraps an fd this process already owns. */
const ADOPT: unique symbol = Symbol("adopt");

/** What the ADOPT option carries. */
interface Adopted {
  readonly fd: number;
  readonly family: number;
  readonly type: number;
  readonly protocol: number;
}

/** Options for `new Socket()`. */
export interface SocketOptions {
  /**
   * Initial timeout in ms (see `Socket.timeout`); default null (blocking). 0 creates the
   * socket non-blocking in the same call (SOCK_NONBLOCK where the platform has it).
   */
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
  /** Protocol; default the type's own (0). `"mptcp"` makes an MPTCP socket (Linux 5.6+) that falls back to TCP with a peer without it. */
  readonly protocol?: Protocol;
}

/** Options for `sendFile()`. */
export interface SendFileOptions {
  /** Byte offset in the file to start at; default: the file's own position, which then advances. */
  readonly offset?: number;
  /** Bytes to send; default: up to the end of the file. */
  readonly count?: number;
}

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
  /** Protocol; default the type's own (0). `"mptcp"` makes an MPTCP socket (Linux 5.6+) that falls back to TCP with a peer without it. */
  readonly protocol?: Protocol;
}

/** A socket fd owned by a JS object. */
export class Socket implements Disposable {
  #fd: number;
  #timeout: number | null = null;
  /** This socket's zero-copy ledger once sendZeroCopy ran (its lostError is the next call's to report). */
  #zeroCopy: ZeroCopyLedger | null = null;

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
    const a = (options as { readonly [ADOPT]?: Adopted })[ADOPT];
    if (a !== undefined) {
      // Socket.#adopt: wrap an fd that already exists (accept, socketpair, fromFd).
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
    const nonBlocking = options.timeout === 0 ? (C.SOCK_NONBLOCK ?? 0) : 0;
    const refusal = mptcpRefusal(f, t, p);
    if (refusal) throw refusal;
    let fd: number;
    try {
      fd = sys.socket(f, t | CLOEXEC | nonBlocking, p);
    } catch (e) {
      throw explainSocketFailure(e, f, t, p); // e.g. MPTCP disabled by sysctl
    }
    this.#fd = fd;
    if (nonBlocking) this.#timeout = 0;
    this.family = f;
    this.type = t;
    this.protocol = p;
    own(this, fd);
    try {
      this.#applyPolicy(fd, !CLOEXEC);
      if (options.timeout !== undefined && !(nonBlocking && options.timeout === 0)) this.timeout = options.timeout;
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
    return new Socket(family, type, protocol, { [ADOPT]: { fd, family, type, protocol } } as SocketOptions);
  }

  /**
   * Wraps the connection `fd` that accept4() just returned on `listener` (with `nonBlocking`
   * when it asked for SOCK_NONBLOCK): same family, type and protocol, the creation policy
   * applied. Closes the fd if that fails. For the drivers of the accept attempt.
   */
  static adoptAccepted(listener: Socket, fd: number, nonBlocking: boolean): Socket {
    const sock = Socket.#adopt(fd, listener.family, listener.type, listener.protocol);
    try {
      sock.#applyPolicy(fd, !sys.hasAccept4 || !CLOEXEC);
      if (nonBlocking) sock.#timeout = 0;
    } catch (e) {
      sock.close();
      throw e;
    }
    return sock;
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
    const sock = new Socket(address.family, options.type ?? "stream", options.protocol ?? 0);
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
    const sock = new Socket(address.family, options.type ?? "stream", options.protocol ?? 0);
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
    if (this.#zeroCopy !== null && this.#zeroCopy.lostError !== 0) {
      // Taken from the kernel by sendZeroCopy: reported once more, here, so that a recv after
      // a reset does not read as a clean end of stream.
      throw this.#zeroCopy.reportLost(syscall);
    }
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
    let r = attempt.accept(fd, this.family, CLOEXEC);
    if (r === WOULD_BLOCK) {
      const deadline = this.#deadline();
      do {
        this.#wait("accept", fd, POLLIN, deadline);
        r = attempt.accept(this.#open("accept"), this.family, CLOEXEC);
      } while (r === WOULD_BLOCK);
    }
    const sock = Socket.adoptAccepted(this, r[0], false);
    return disposable([sock, r[1]], sock);
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
    let r = attempt.send(this.#open("send"), data, flags);
    if (r === WOULD_BLOCK) {
      const deadline = this.#deadline();
      do {
        this.#wait("send", this.#fd, POLLOUT, deadline);
        r = attempt.send(this.#open("send"), data, flags);
      } while (r === WOULD_BLOCK);
    }
    return r;
  }

  /**
   * Sends all of `data`, looping over partial sends. With a timeout, the timeout bounds the
   * whole call (as in CPython). On error, `SocketError.bytesSent` says how much went out.
   */
  sendAll(data: Data, flags = 0): void {
    const fd = this.#open("send");
    const buf = bytesOf("sendAll", data);
    const fl = flagsOf("sendAll", flags);
    const deadline = this.#deadline();
    let off = 0;
    const total = sizeOf("sendAll", buf);
    if (total === 0 && check.isEmptied(buf)) throw check.noMemory("sendAll", "data");
    try {
      while (off < total) {
        const r = attempt.send(fd, off === 0 ? buf : buf.subarray(off), fl);
        if (r === WOULD_BLOCK) this.#wait("send", fd, POLLOUT, deadline);
        else off += r;
      }
    } catch (e) {
      if (e instanceof SocketError) e.bytesSent = off;
      throw e;
    }
  }

  /**
   * send() with MSG_ZEROCOPY (Linux TCP/UDP): the kernel sends from `data`'s own pages instead
   * of copying them, and this call returns once it reports (on the error queue) that it no
   * longer reads them — until then `data` must stay unmodified. Sends all of it (as sendAll; on
   * UDP one datagram) and returns `{ bytes, copied }`; `copied` says the kernel copied after
   * all (loopback always does), where a plain send is cheaper. It pays off for large sends
   * (around 10 KB and more per call) to a real network device. Turns on SO_ZEROCOPY first. The
   * socket's timeout bounds sending and the wait for the completion together; a
   * SocketTimeoutError there means the kernel may still read `data`. Needs a timeout or a
   * blocking socket (a TypeError on a non-blocking one: use AsyncSocket.sendZeroCopy).
   * Reads the socket's error queue: do not combine with other users of it on this socket.
   * On UDP, empty data is an empty datagram, sent without MSG_ZEROCOPY (nothing to pin).
   */
  sendZeroCopy(data: ArrayBufferView): ZeroCopyResult {
    const refusal = zeroCopyRefusal("sendZeroCopy", this.family, this.type, data);
    if (refusal) throw refusal;
    if (this.#timeout === 0) throw new TypeError("sendZeroCopy: waits for the kernel's completion, so it needs a blocking socket or a timeout (or AsyncSocket.sendZeroCopy)");
    const fd = this.#open("send");
    const buf = bytesOf("sendZeroCopy", data);
    const total = sizeOf("sendZeroCopy", buf);
    if (total === 0 && check.isEmptied(buf)) throw check.noMemory("sendZeroCopy", "data");
    if (total === 0) {
      // Nothing to pin: a stream sends nothing, a datagram socket an empty datagram (plain send).
      if (this.type !== C.SOCK_STREAM) this.send(buf);
      return { bytes: 0, copied: false };
    }
    const ledger = (this.#zeroCopy = zeroCopyLedger(this));
    ledger.enable(fd);
    const ticket = ledger.open(buf);
    const deadline = this.#deadline();
    let off = 0;
    try {
      while (off < total) {
        const r = ledger.send(ticket, fd, off === 0 ? buf : buf.subarray(off), 0);
        if (r === WOULD_BLOCK) this.#wait("send", fd, POLLOUT, deadline);
        else off += r;
      }
      ledger.seal(ticket);
      let woken = false;
      for (;;) {
        const before = ticket.completed;
        // A reset purges the unsent data, which completes the ticket too: the error the kernel
        // set before the purge decides (taken from the socket, so it is kept for the next call).
        const err = ledger.drainAndCheck(fd, this.type === C.SOCK_STREAM);
        if (err !== 0) throw connectionFailed(err);
        if (ticket.done) return { bytes: total, copied: ticket.copied };
        // Woken with nothing new: a hang-up (POLLHUP stays set); the completion follows shortly
        // (the kernel frees the pages as it purges the connection): wait a little, do not spin.
        if (woken && ticket.completed === before) Bun.sleepSync(1);
        const remaining = deadline - performance.now();
        if (remaining <= 0) throw new SocketTimeoutError("sendZeroCopy", this.#timeout ?? 0, { note: "sent, but the kernel has not released the buffer yet: it may still read it" });
        // poll() reports POLLERR (whatever the events asked) once the error queue has an entry.
        woken = sys.pollOne(fd, 0, remaining === Infinity ? -1 : Math.min(Math.ceil(remaining), 0x7fffffff)) !== 0;
      }
    } catch (e) {
      if (e instanceof SocketError) {
        e.bytesSent = off;
        // Its own send got the reset: the next call reports it too, as when the ledger takes it.
        if (this.type === C.SOCK_STREAM) ledger.keep(e);
      }
      throw e;
    }
  }

  /** recv(): up to `maxBytes` bytes (an empty array at end of stream). */
  recv(maxBytes: number, flags = 0): Uint8Array {
    const buf = check.allocate("recv", "maxBytes", maxBytes);
    const n = this.recvInto(buf, maxBytes, flags);
    return n === maxBytes ? buf : buf.subarray(0, n);
  }

  /** recv() into `buffer` (its first `nbytes`, default all of it); returns the count. No allocation. */
  recvInto(buffer: Uint8Array, nbytes?: number, flags = 0): number {
    let r = attempt.recvInto(this.#open("recv"), buffer, nbytes, flags);
    if (r === WOULD_BLOCK) {
      const deadline = this.#deadline();
      do {
        this.#wait("recv", this.#fd, POLLIN, deadline);
        r = attempt.recvInto(this.#open("recv"), buffer, nbytes, flags);
      } while (r === WOULD_BLOCK);
    }
    return r;
  }

  /**
   * connect() with `data` (TCP Fast Open client, Linux): one sendto(MSG_FASTOPEN). Once this
   * host holds a Fast Open cookie from the server (from an earlier connection, with
   * net.ipv4.tcp_fastopen's client bit set, the default), the data rides in the SYN and the
   * server can read it a round trip sooner; without one, the SYN asks for a cookie and the data
   * follows the handshake — the same bytes arrive either way. Returns the bytes sent: all of
   * `data` (the rest after the SYN via sendAll, within the socket's timeout), except on a
   * non-blocking socket (`timeout` 0), where it is what the SYN took — possibly 0, the
   * connection then under way without the data (wait for writability, read `error`, send).
   * Connection errors (ECONNREFUSED) are thrown here when the handshake is waited for, else by
   * the next call. An inet/inet6 stream socket only (TypeError otherwise, before any syscall);
   * `tcpInfo().options & constants.TCPI_OPT_SYN_DATA` says afterwards whether the SYN's data
   * was accepted.
   */
  connectWithData(address: Address, data: Data): number {
    const refusal = attempt.fastOpenRefusal(this.family, this.type, this.protocol);
    if (refusal) throw refusal;
    const fd = this.#open("sendto");
    const buf = bytesOf("connectWithData", data);
    const total = sizeOf("connectWithData", buf);
    // On a connected socket the kernel would ignore MSG_FASTOPEN and the address and just send.
    if (this.#isConnected(fd)) throw withAddress(new SocketError("connect", E.EISCONN), address);
    let first: number;
    try {
      first = attempt.fastOpen(fd, buf, address, 0);
    } catch (e) {
      throw withAddress(e, address); // e.g. ECONNREFUSED from a blocking handshake
    }
    if (first === attempt.FAST_OPEN_OFF) {
      // Fast Open's client side is off (net.ipv4.tcp_fastopen): an ordinary connect, then the data.
      if (this.#timeout === 0) {
        try {
          this.connect(address);
        } catch (e) {
          if (e instanceof SocketError && e.errno === E.EINPROGRESS) return 0;
          throw e;
        }
        const r = attempt.send(fd, buf, 0);
        return r === WOULD_BLOCK ? 0 : r;
      }
      this.connect(address);
    } else if (this.#timeout === 0) return Math.max(first, 0);
    else if (first === WOULD_BLOCK) {
      // No data went: the handshake is under way (EINPROGRESS, or EALREADY after an interrupted
      // blocking attempt). Wait for it as connect() does, then send everything.
      this.#wait("connect", fd, POLLOUT, this.#deadline(), true);
      const err = sys.getIntOption(fd, C.SOL_SOCKET, C.SO_ERROR);
      if (err !== 0) throw withAddress(new SocketError("connect", err), address);
    }
    const sent = Math.max(first, 0);
    if (sent < total) {
      try {
        this.sendAll(buf.subarray(sent, total));
      } catch (e) {
        if (e instanceof SocketError) e.bytesSent = sent + (e.bytesSent ?? 0);
        throw e;
      }
    }
    return total;
  }

  /** sendto(): one datagram (or stream data) to `address`; returns bytes sent. */
  sendTo(data: Data, address: Address, flags = 0): number {
    let r = attempt.sendTo(this.#open("sendto"), data, address, flags);
    if (r === WOULD_BLOCK) {
      const deadline = this.#deadline();
      do {
        this.#wait("sendto", this.#fd, POLLOUT, deadline);
        r = attempt.sendTo(this.#open("sendto"), data, address, flags);
      } while (r === WOULD_BLOCK);
    }
    return r;
  }

  /** recvfrom(): the data (up to maxBytes) and the sender's address. */
  recvFrom(maxBytes: number, flags = 0): [Uint8Array, Address | RawAddress] {
    const buf = check.allocate("recvFrom", "maxBytes", maxBytes);
    const [n, from] = this.recvFromInto(buf, maxBytes, flags);
    return [n === maxBytes ? buf : buf.subarray(0, n), from];
  }

  /**
   * recvfrom() into `buffer`: the count and the sender. With MSG_TRUNC in flags, Linux returns
   * the datagram's real length even when it was longer than the buffer.
   */
  recvFromInto(buffer: Uint8Array, nbytes?: number, flags = 0): [number, Address | RawAddress] {
    let r = attempt.recvFromInto(this.#open("recvfrom"), this.family, buffer, nbytes, flags);
    if (r === WOULD_BLOCK) {
      const deadline = this.#deadline();
      do {
        this.#wait("recvfrom", this.#fd, POLLIN, deadline);
        r = attempt.recvFromInto(this.#open("recvfrom"), this.family, buffer, nbytes, flags);
      } while (r === WOULD_BLOCK);
    }
    return r;
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
    const buf = check.allocate("getRawOption", "maxLength", maxLength);
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
    let r = attempt.sendMsg(this.#open("sendmsg"), options, this);
    if (r === WOULD_BLOCK) {
      const deadline = this.#deadline();
      do {
        this.#wait("sendmsg", this.#fd, POLLOUT, deadline);
        r = attempt.sendMsg(this.#open("sendmsg"), options, this);
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
    let r = attempt.recvMsg(this.#open("recvmsg"), options);
    if (r === WOULD_BLOCK) {
      const deadline = this.#deadline();
      do {
        this.#wait("recvmsg", this.#fd, POLLIN, deadline);
        r = attempt.recvMsg(this.#open("recvmsg"), options);
      } while (r === WOULD_BLOCK);
    }
    return r;
  }

  // --- batches: sendmmsg/recvmmsg (src/socket/mmsg.ts) ---------------------------------------------------

  /**
   * sendmmsg(): each Uint8Array one datagram, to `address` (or the connected peer), in one
   * syscall (a sendmsg loop where there is no sendmmsg). Returns how many were sent: fewer than
   * given is a partial send (send the rest again). Adds MSG_NOSIGNAL; honors the timeout while
   * not even the first can go. At most 1024 (UIO_MAXIOV) per call; every buffer is checked first.
   */
  sendMany(datagrams: readonly Uint8Array[], address?: Address, flags = 0): number {
    let r = attempt.sendMany(this.#open("sendmmsg"), datagrams, address, flags);
    if (r === WOULD_BLOCK) {
      const deadline = this.#deadline();
      do {
        this.#wait("sendmmsg", this.#fd, POLLOUT, deadline);
        r = attempt.sendMany(this.#open("sendmmsg"), datagrams, address, flags);
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
    flagsOf("sendSegments", flags);
    const total = attempt.prepareSegments(buf, segmentSize, address);
    const deadline = this.#deadline();
    let off = 0;
    try {
      while (off < total) {
        const r = attempt.sendSegmentsStep(fd, this, off, flags);
        if (r === WOULD_BLOCK) this.#wait("sendmsg", fd, POLLOUT, deadline);
        else off += r;
      }
    } catch (e) {
      if (e instanceof SocketError) e.bytesSent = off;
      throw e;
    } finally {
      attempt.releaseSegments();
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
    const { inFd, offset, count } = sendFileArguments(file, options);
    const deadline = this.#deadline();
    let sent = 0;
    try {
      while (sent < count) {
        const r = attempt.sendFileStep(fd, inFd, offset, count - sent);
        if (r === WOULD_BLOCK) this.#wait("sendfile", fd, POLLOUT, deadline);
        else if (r === 0) break; // end of file
        else sent += r;
      }
    } catch (e) {
      if (e instanceof SocketError) e.bytesSent = sent;
      throw e;
    }
    return sent;
  }

  /**
   * recvmmsg(): up to one datagram per buffer, in one syscall. Waits (under the timeout) for
   * the first, then takes whatever else is queued (MSG_WAITFORONE is always added). Returns
   * each datagram's length, data (a view of its buffer), sender and truncation.
   */
  recvMany(buffers: readonly Uint8Array[], flags = 0): ReceivedDatagram[] {
    let r = attempt.recvMany(this.#open("recvmmsg"), this.family, buffers, flags);
    if (r === WOULD_BLOCK) {
      const deadline = this.#deadline();
      do {
        this.#wait("recvmmsg", this.#fd, POLLIN, deadline);
        r = attempt.recvMany(this.#open("recvmmsg"), this.family, buffers, flags);
      } while (r === WOULD_BLOCK);
    }
    return r;
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

/**
 * sendFile's arguments, checked: the file fd, the off_t the kernel advances (null: the file's
 * own position) and the byte count (Infinity: to the end). Shared by both drivers.
 */
export function sendFileArguments(file: number, options: SendFileOptions): { inFd: number; offset: Uint8Array | null; count: number } {
  const inFd = check.fd("sendFile", file);
  if (options === null || typeof options !== "object") throw new TypeError("sendFile: options must be an object");
  const count = options.count === undefined ? Infinity : check.size("sendFile", "count", options.count);
  let offset: Uint8Array | null = null;
  if (options.offset !== undefined) {
    offset = new Uint8Array(table.sizes.off_t);
    writeIntField(new DataView(offset.buffer), { offset: 0, size: offset.byteLength }, check.size("sendFile", "offset", options.offset));
  }
  return { inFd, offset, count };
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
  return addressed(e, formatAddress(address));
}
