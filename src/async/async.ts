/**
 * AsyncSocket: the Socket API with promises, on Bun's event loop. Every call that can wait
 * (connect, accept, send*, recv*) returns a promise; nothing blocks the thread and nothing polls
 * on a timer.
 *
 * Why a separate class rather than async methods on Socket: a socket is either blocking (its
 * calls wait in the kernel, honoring `timeout`) or driven by the event loop (non-blocking fd,
 * registered with the reactor); mixing both on one fd makes neither's timeouts mean anything.
 * An AsyncSocket owns a non-blocking Socket (`.socket`, for ownership, options and addresses)
 * and runs the same attempts as Socket (src/socket/attempts.ts: every argument check, policy
 * and encoder, one system call each), so both behave the same byte for byte; only waiting
 * differs. Socket knows nothing of AsyncSocket.
 *
 * How an operation runs (Go's internal/poll shape): try the attempt now; if it returns
 * WOULD_BLOCK, await readiness from the reactor (src/async/reactor.ts: an edge-triggered
 * Poller watched by a Worker), then try again.
 *
 * Concurrency rule: operations queue per direction. At most one read-side operation (recv*,
 * accept) and one write-side operation (send*, connect) run at a time on one socket; others
 * wait their turn in call order, their timeout and AbortSignal counting while they wait. A
 * reader and a writer proceed independently.
 */
import { lookup } from "node:dns/promises";
import { table } from "../../ffi/platform.ts";
import * as check from "../core/check.ts";
import { familyValue, protocolValue, typeValue, type Family, type Protocol, type SocketType } from "../core/constants.ts";
import { Guard, signalOf, sleep, timeoutOf } from "./cancel.ts";
import { Turn } from "./turn.ts";
import { SocketDuplex, type ToDuplexOptions } from "./duplex.ts";
import { SocketAbortError, SocketError, SocketTimeoutError, withAddress } from "../core/errors.ts";
import type { ReceivedDatagram } from "../socket/mmsg.ts";
import type { RecvMsgOptions, RecvMsgResult, SendMsgOptions } from "../socket/msg.ts";
import { ERRQUEUE, READ, WRITE, closedWhileWaiting, reactor, type Parked, type Watch } from "./reactor.ts";
import { AddressInfoError } from "../socket/resolve.ts";
import { formatAddress, type Address, type Inet6Address, type InetAddress, type RawAddress } from "../core/sockaddr.ts";
import * as attempt from "../socket/attempts.ts";
import { WOULD_BLOCK, bytesOf } from "../socket/attempts.ts";
import { connectionFailed, zeroCopyLedger, zeroCopyRefusal, type ZeroCopyLedger, type ZeroCopyResult, type ZeroCopyTicket } from "../linux/zerocopy.ts";
import { hasAccept4 } from "../core/sys.ts";
import { Socket, sendFileArguments, type Data, type FromFdOptions, type ListenOptions, type SendFileOptions } from "../socket/socket.ts";
import { encodeAddress, SOCKADDR_MAX } from "../core/sockaddr.ts";

const C = table.constants;
const E = table.errno;
const RESOLVED: Promise<void> = Promise.resolve();

/** Per-operation controls, accepted by every AsyncSocket call that can wait. */
export interface OperationOptions {
  /** Abort the wait: the promise rejects with `signal.reason` (an AbortError by default). */
  readonly signal?: AbortSignal;
  /**
   * Time limit for this operation in ms (SocketTimeoutError, code ETIMEDOUT); overrides the
   * socket's `timeout`. null: none. 0: fail at once if it would have to wait.
   */
  readonly timeout?: number | null;
}

/** recv/recvFrom/recvMany options. */
export interface AsyncRecvOptions extends OperationOptions {
  /** MSG_* flags (MSG_PEEK, MSG_TRUNC, ...). */
  readonly flags?: number;
}

/** recvInto/recvFromInto options. */
export interface AsyncRecvIntoOptions extends AsyncRecvOptions {
  /** Receive into the first `nbytes` bytes of the buffer; default all of it. */
  readonly nbytes?: number;
}

/** send* options. */
export interface AsyncSendOptions extends OperationOptions {
  /** MSG_* flags; MSG_NOSIGNAL is always added. */
  readonly flags?: number;
}

/** Options for `AsyncSocket.connect()` (the static one). */
export interface AsyncConnectOptions extends OperationOptions {
  /** Bind to this local address before connecting. */
  readonly localAddress?: Address;
  /** Socket type; default "stream". */
  readonly type?: SocketType;
  /** Protocol; default the type's own (0). `"mptcp"` makes an MPTCP socket (Linux 5.6+) that falls back to TCP with a peer without it. */
  readonly protocol?: Protocol;
}

/** Options for `AsyncSocket.createConnection()`. */
export interface AsyncCreateConnectionOptions extends OperationOptions {
  /** Only this family; default whatever the name resolves to, in resolver order. */
  readonly family?: "inet" | "inet6";
  /** Bind here before connecting. */
  readonly localAddress?: Address;
  /** Protocol of each attempt's socket: `"mptcp"` for MPTCP (Linux). Default TCP. */
  readonly protocol?: "tcp" | "mptcp";
}

/** Options for `AsyncSocket.connections()`. */
export interface ConnectionsOptions {
  /** Ends the iteration (quietly) when aborted. */
  readonly signal?: AbortSignal;
  /** Called with each accept error the iteration outlives (EMFILE..., ECONNABORTED), e.g. to log it. */
  readonly onError?: (error: SocketError) => void;
}

/** accept() errors that say "out of fds or memory for now": a server waits and tries again. */
function isExhaustion(e: unknown): boolean {
  if (!(e instanceof SocketError)) return false;
  return e.errno === E.EMFILE || e.errno === E.ENFILE || e.errno === E.ENOBUFS || e.errno === E.ENOMEM;
}

/** A datagram from `datagrams()` / iteration: its bytes and sender. */
export type Datagram = [data: Uint8Array, from: Address | RawAddress];

const NO_BYTES = new Uint8Array(0);
/** #recvRecord's first peek (never read: the kernel only copies into it). */
const ONE_BYTE = new Uint8Array(1);
/** #recvRecord's peek: leave the record queued, report its real length where the kernel can. */
const PEEK_LENGTH = C.MSG_PEEK | C.MSG_TRUNC;

/** accept4 flags of the async driver: close-on-exec, and non-blocking from birth where it can. */
const ACCEPT_FLAGS = (C.SOCK_CLOEXEC ?? 0) | (C.SOCK_NONBLOCK ?? 0);
/** Whether ACCEPT_FLAGS makes the connection non-blocking (accept4 exists and takes the flag). */
const ACCEPT_NONBLOCK = (C.SOCK_NONBLOCK ?? 0) !== 0 && hasAccept4;

/** Checks, before an operation queues, that `data` can be sent (bytes or a string). */
function checkData(fn: string, data: unknown): void {
  if (typeof data !== "string") check.bytes(fn, "data", data);
}

/** Checks, before an operation queues, that `buffer` can be received into. */
function checkBuffer(fn: string, buffer: unknown): void {
  if (!(buffer instanceof Uint8Array)) throw new TypeError(`${fn}: buffer must be a Uint8Array`);
}

const addressScratch = new Uint8Array(SOCKADDR_MAX);
/** Checks, before an operation queues, that `address` encodes (the attempt encodes it again). */
function checkAddress(address: Address): void {
  encodeAddress(address, addressScratch);
}

/** The error for a resumable write whose buffer shrank or was detached while it waited. */
function bufferChanged(fn: string, sent: number, total: number): TypeError & { bytesSent: number } {
  // Zero-copy pages already queued are read by the kernel later, from wherever they now belong.
  const pinned = fn === "sendZeroCopy" && sent > 0 ? "; the kernel may still read the bytes already queued, from the same memory" : "";
  const e = new TypeError(`${fn}: the data's buffer shrank, was resized or was transferred while waiting (${sent} of ${total} bytes sent${pinned})`);
  return Object.assign(e, { bytesSent: sent });
}

/** Sockets taken by an AsyncSocket: each may have one. */
const owned = new WeakSet<Socket>();

/**
 * A resumable write's failure with its progress: the error gets `bytesSent` (when it has none
 * yet), and the operation's own abort becomes a SocketAbortError carrying it.
 */
function withProgress(syscall: string, e: unknown, op: OperationOptions | undefined, sent: number): unknown {
  const signal = op?.signal;
  if (signal instanceof AbortSignal && signal.aborted && Object.is(e, signal.reason)) return new SocketAbortError(syscall, e, sent);
  // Every error of a resumable write says how far the stream got, the TypeErrors too (a
  // socket made blocking underneath, say): the caller must know where to resume or give up.
  if (e instanceof Error && (e as { bytesSent?: unknown }).bytesSent === undefined && Object.isExtensible(e)) {
    (e as { bytesSent?: number }).bytesSent = sent;
  }
  return e;
}

/**
 * A socket driven by Bun's event loop. Create it like a Socket (`new AsyncSocket("inet",
 * "dgram")`, `AsyncSocket.listen(...)`, `await AsyncSocket.connect(...)`, `AsyncSocket.pair()`,
 * `AsyncSocket.from(socket)`); every waiting call returns a promise and takes
 * `{ signal, timeout }` (OperationOptions).
 *
 * ```ts
 * await using server = AsyncSocket.listen({ family: "inet", host: "127.0.0.1", port: 0 });
 * for await (const conn of server) {           // accept loop
 *   void (async () => { using c = conn; for await (const chunk of c) await c.sendAll(chunk); })();
 * }
 * ```
 */
export class AsyncSocket implements Disposable, AsyncDisposable, AsyncIterable<unknown> {
  /**
   * The Socket underneath (non-blocking, timeout 0): use it for anything not mirrored here.
   * Do not change its timeout: an AsyncSocket refuses to run an attempt on a blocking fd (it
   * would stop the thread), with a TypeError, until the timeout is 0 again. Its own methods
   * throw EAGAIN where they would wait.
   */
  readonly socket: Socket;
  #watch: Watch | null = null;
  readonly #reads = new Turn();
  readonly #writes = new Turn();
  #timeout: number | null = null;
  readonly #stream: boolean;
  #readable: ReadableStream<Uint8Array> | null = null;
  /** recv()'s reusable receive buffer: null while a read holds it (or before the first read). */
  #scratch: Uint8Array | null = null;
  /** Aborted by close()/detach(): ends a #pause (made on the first one). */
  #closing: AbortController | null = null;
  #writable: WritableStream<Data> | null = null;
  /** `readable` has ended (end of stream, cancel or error) / `writable` has closed (or failed). */
  #readableDone = false;
  #writableDone = false;
  /** toDuplex() was called: its Duplex reads and writes this socket. */
  #duplex = false;

  /**
   * A new socket: `new AsyncSocket("inet", "stream")`, `new AsyncSocket("unix", "seqpacket")`,
   * `new AsyncSocket("inet", "raw", "icmp")`, non-blocking (from creation) and close-on-exec;
   * or `new AsyncSocket(socket)`, taking ownership of a Socket (it becomes non-blocking; as
   * `AsyncSocket.from`).
   */
  constructor(family: Family, type: SocketType, protocol?: Protocol);
  constructor(socket: Socket);
  constructor(family: Family | Socket, type?: SocketType, protocol: Protocol = 0) {
    let sock: Socket;
    if (family instanceof Socket) {
      sock = family;
      // One owner: a second AsyncSocket would wait on the same fd with its own queues, and its
      // waits would hang when the first closes it. Refused without closing (it is not ours).
      if (owned.has(sock)) throw new TypeError("AsyncSocket: this Socket already belongs to another AsyncSocket (use that one)");
      try {
        if (sock.timeout !== 0) sock.timeout = 0; // accept4 with SOCK_NONBLOCK made it so already
      } catch (e) {
        sock.close();
        throw e;
      }
    } else {
      if (type === undefined) throw new TypeError("AsyncSocket: a socket type is required");
      sock = new Socket(familyValue(family), typeValue(type), protocolValue(protocol), { timeout: 0 });
    }
    this.socket = sock;
    owned.add(sock);
    this.#stream = sock.type === C.SOCK_STREAM;
    // The reactor (and its Worker, which must load its modules: files, fds) starts with the
    // first AsyncSocket, not its first wait: a server that runs out of fds later can still wait.
    // Best effort: if it cannot start now, the first wait says why (and tries again).
    try {
      reactor();
    } catch { /* reported by the first wait */ }
  }

  /** The parked form of this socket's recvInto (one reader at a time: one object, reused). */
  #parkedRecv: (Parked & { start(buffer: Uint8Array): Promise<number> }) | null = null;

  /**
   * recvInto waiting in the reactor with no options: the reactor runs the recv attempt itself
   * when the fd is ready and this settles the caller's promise, without wait()'s promise and
   * the async-function resume of #io. Holds the read turn while parked.
   */
  static #parkedRecvOf(sock: AsyncSocket): Parked & { start(buffer: Uint8Array): Promise<number> } {
    let buffer: Uint8Array = new Uint8Array(0);
    let resolve: (n: number) => void = () => {};
    let reject: (e: unknown) => void = () => {};
    return {
      start(b: Uint8Array): Promise<number> {
        buffer = b;
        const p = new Promise<number>((res, rej) => {
          resolve = res;
          reject = rej;
        });
        return p;
      },
      ready(): boolean {
        const r = attempt.recvInto(sock.#fd("recv"), buffer, undefined, 0);
        if (r === WOULD_BLOCK) return false; // a stale edge: stay parked
        buffer = NO_BYTES;
        sock.#reads.release();
        resolve(r);
        return true;
      },
      fail(error: unknown): void {
        buffer = NO_BYTES;
        sock.#reads.release();
        reject(error);
      },
    };
  }

  /**
   * The fd for one attempt (EBADF naming `syscall` once closed). The Socket underneath must
   * stay non-blocking: an attempt on a blocking fd would stop the thread, so it is refused.
   */
  #fd(syscall: string): number {
    const sock = this.socket;
    if (sock.closed) throw new SocketError(syscall, E.EBADF, { note: "socket is closed" });
    if (this.#zeroCopy !== null && this.#zeroCopy.lostError !== 0) {
      // Taken from the kernel for zero-copy's sake: reported once more, here.
      throw this.#zeroCopy.reportLost(syscall);
    }
    if (sock.timeout !== 0) throw new TypeError(`${syscall}: the Socket under an AsyncSocket must stay non-blocking (its timeout was changed; set AsyncSocket.timeout instead)`);
    return sock.fd;
  }

  /** Takes ownership of a Socket (it becomes non-blocking; closing this closes it). */
  static from(socket: Socket): AsyncSocket {
    if (!(socket instanceof Socket)) throw new TypeError("AsyncSocket.from: expected a Socket");
    check.fd("AsyncSocket.from", socket.fd);
    return new AsyncSocket(socket);
  }

  /** Socket.fromFd, then async: adopts an existing socket fd (or a dup of it). */
  static fromFd(fd: number, options: FromFdOptions = {}): AsyncSocket {
    return new AsyncSocket(Socket.fromFd(fd, options)); // the constructor closes it if it fails
  }

  /** A connected pair (socketpair), both async; disposable like Socket.pair's. */
  static pair(family: Family = "unix", type: SocketType = "stream", protocol: Protocol = 0): [AsyncSocket, AsyncSocket] & Disposable {
    const [a, b] = Socket.pair(family, type, protocol);
    let wa: AsyncSocket | null = null;
    try {
      wa = new AsyncSocket(a);
      const wb = new AsyncSocket(b);
      return Object.assign([wa, wb] as [AsyncSocket, AsyncSocket], {
        [Symbol.dispose](): void {
          wa!.close();
          wb.close();
        },
      });
    } catch (e) {
      if (wa) wa.close();
      else a.close();
      b.close();
      throw e;
    }
  }

  /** Like Socket.listen (bind + listen, SO_REUSEADDR for IP), as an AsyncSocket. Synchronous. */
  static listen(address: Address, options: ListenOptions = {}): AsyncSocket {
    return new AsyncSocket(Socket.listen(address, options)); // the constructor closes it if it fails
  }

  /** A connected socket to `address` (any family; stream unless `type` says otherwise). Closed on failure. */
  static async connect(address: Address, options: AsyncConnectOptions = {}): Promise<AsyncSocket> {
    const sock = new AsyncSocket(address.family, options.type ?? "stream", options.protocol ?? 0);
    try {
      if (options.localAddress) sock.bind(options.localAddress);
      await sock.connect(address, options);
      return sock;
    } catch (e) {
      sock.close();
      throw e;
    }
  }

  /**
   * Like Python's create_connection, without blocking: resolves `host` (numeric at once, a
   * name through Bun's asynchronous resolver) and tries each address in order; the timeout
   * and signal apply to each attempt. Throws the last error if none connects.
   */
  static async createConnection(host: string, port: number, options: AsyncCreateConnectionOptions = {}): Promise<AsyncSocket> {
    if (typeof host !== "string") throw new TypeError("createConnection: host must be a string");
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`createConnection: port must be an integer in [0, 65535], got ${String(port)}`);
    const family = options.family === "inet" ? 4 : options.family === "inet6" ? 6 : 0;
    let found: Array<{ address: string; family: number }>;
    try {
      found = await lookup(host, { all: true, family, order: "verbatim" });
    } catch {
      throw new AddressInfoError("getaddrinfo", C.EAI_NONAME, host);
    }
    const { family: _f, localAddress, protocol, ...op } = options;
    let last: unknown = new AddressInfoError("getaddrinfo", C.EAI_NONAME, host);
    for (const a of found) {
      const address: InetAddress | Inet6Address = a.family === 6
        ? { family: "inet6", host: a.address, port }
        : { family: "inet", host: a.address, port };
      try {
        return await AsyncSocket.connect(address, { ...op, ...(localAddress ? { localAddress } : {}), ...(protocol ? { protocol } : {}) });
      } catch (e) {
        if (op.signal?.aborted) throw e;
        last = e;
      }
    }
    throw last;
  }

  // --- state -------------------------------------------------------------------------------------

  /**
   * Default time limit in ms for each waiting operation that gives none (SocketTimeoutError);
   * null (the default) waits as long as it takes.
   */
  get timeout(): number | null {
    return this.#timeout;
  }
  set timeout(ms: number | null) {
    this.#timeout = timeoutOf("timeout", ms);
  }

  // --- the operation loop ------------------------------------------------------------------------

  /** This socket's registration with the thread's reactor (made on its first wait). */
  #watched(): Watch {
    const w = this.#watch;
    if (w !== null && !w.reactor.stopped) return w;
    return (this.#watch = reactor().watch(this.socket.fd));
  }

  /** Unregisters (before the fd is closed or handed away); pending waits reject with EBADF. */
  #unwatch(): void {
    const w = this.#watch;
    this.#watch = null;
    if (w !== null) w.reactor.unwatch(w);
  }

  /**
   * The driver: runs `tryOnce` (one attempt from src/socket/attempts.ts, given the fd and the
   * flags) until it does not return WOULD_BLOCK, awaiting readiness in `dir` in between; one
   * operation per direction at a time.
   */
  async #io<T>(dir: number, syscall: string, op: AsyncRecvOptions | undefined, tryOnce: (fd: number, flags: number) => T | typeof WOULD_BLOCK, waitFirst = false): Promise<T> {
    // Inside this async function, a throwing option getter rejects like any other failure;
    // flags are checked before the operation queues (the attempt checks them again).
    const given = op?.flags;
    const flags = given === undefined ? 0 : check.int32(syscall, "flags", given);
    const { signal, timeout, deadline } = this.#limits(syscall, op);
    const turn = dir === READ ? this.#reads : this.#writes;
    const queued = turn.acquire(syscall, signal, deadline, timeout ?? 0);
    if (queued) await queued;
    try {
      for (let first = true; ; first = false) {
        if (!(first && waitFirst)) {
          const r = tryOnce(this.#fd(syscall), flags);
          if (r !== WOULD_BLOCK) return r as T;
        }
        const w = this.#watched();
        await w.reactor.wait(w, dir, syscall, signal, deadline, timeout ?? 0);
      }
    } finally {
      turn.release();
    }
  }

  /**
   * Sleeps `ms` for a wait no readiness announces (a backoff); ends early, with the signal's
   * reason on abort and with EBADF "socket closed while waiting" on close()/detach().
   */
  async #pause(syscall: string, ms: number, signal: AbortSignal | null): Promise<void> {
    if (this.closed) throw closedWhileWaiting(syscall);
    const closing = (this.#closing ??= new AbortController()).signal;
    try {
      await sleep(ms, signal === null ? closing : AbortSignal.any([signal, closing]));
    } catch (e) {
      if (closing.aborted && !signal?.aborted) throw closedWhileWaiting(syscall);
      throw e;
    }
  }

  /** An operation's signal, timeout (its own or the socket's) and deadline, counted from now. */
  #limits(syscall: string, op: OperationOptions | undefined): { signal: AbortSignal | null; timeout: number | null; deadline: number } {
    const signal = op === undefined ? null : signalOf(syscall, op.signal);
    if (signal?.aborted) throw signal.reason;
    const timeout = op === undefined || op.timeout === undefined ? this.#timeout : timeoutOf(syscall, op.timeout);
    return { signal, timeout, deadline: timeout === null ? Infinity : performance.now() + timeout };
  }

  // --- connection setup --------------------------------------------------------------------------

  /**
   * accept(): the next connection, as an AsyncSocket (non-blocking from birth), and the peer's
   * address. `using` the result closes the connection. Out of fds or memory (EMFILE, ENFILE,
   * ENOBUFS, ENOMEM), the rejection comes after a macrotask, so a loop that retries at once
   * still lets timers and other I/O run; `connections()` retries such errors with a backoff.
   */
  async accept(op?: OperationOptions): Promise<[AsyncSocket, Address | RawAddress] & Disposable> {
    let sock: Socket;
    let peer: Address | RawAddress;
    try {
      const listener = this.socket;
      const [fd, from] = await this.#io(READ, "accept", op, (lfd) => attempt.accept(lfd, listener.family, ACCEPT_FLAGS));
      sock = Socket.adoptAccepted(listener, fd, ACCEPT_NONBLOCK);
      peer = from;
    } catch (e) {
      if (isExhaustion(e)) await new Promise<void>((resolve) => setImmediate(resolve));
      throw e;
    }
    let conn: AsyncSocket;
    try {
      conn = new AsyncSocket(sock);
    } catch (e) {
      sock.close();
      throw e;
    }
    return Object.assign([conn, peer] as [AsyncSocket, Address | RawAddress], {
      [Symbol.dispose](): void { conn.close(); },
    });
  }

  /**
   * connect(): resolves once connected (TCP handshake done; unix connected). A refused or
   * failed handshake rejects with its SocketError (ECONNREFUSED, ...), carrying the address.
   * A unix listener with a full backlog (EAGAIN, which no readiness signals) is retried with a
   * short backoff (1 to 50 ms) until the timeout or abort.
   */
  async connect(address: Address, op?: OperationOptions): Promise<void> {
    const turn = this.#writes;
    const { signal, timeout, deadline } = this.#limits("connect", op);
    const queued = turn.acquire("connect", signal, deadline, timeout ?? 0);
    if (queued) await queued;
    try {
      await this.#connectHeld(address, signal, deadline, timeout);
    } finally {
      turn.release();
    }
  }

  /** connect()'s work, with the write turn held by the caller. */
  async #connectHeld(address: Address, signal: AbortSignal | null, deadline: number, timeout: number | null): Promise<void> {
    const sock = this.socket;
    let backoff = 1;
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      try {
        sock.connect(address);
        return;
      } catch (e) {
        if (!(e instanceof SocketError)) throw e;
        if (e.errno === E.EAGAIN) {
          const remaining = deadline - performance.now();
          if (remaining <= 0) throw new SocketTimeoutError("connect", timeout ?? 0, { address: formatAddress(address) });
          await this.#pause("connect", Math.min(backoff, remaining), signal);
          backoff = Math.min(backoff * 2, 50);
          continue;
        }
        if (e.errno !== E.EINPROGRESS && e.errno !== E.EALREADY) throw e;
      }
      try {
        const w = this.#watched();
        await w.reactor.wait(w, WRITE, "connect", signal, deadline, timeout ?? 0);
      } catch (e) {
        if (e instanceof SocketTimeoutError) throw new SocketTimeoutError("connect", e.timeoutMs, { address: formatAddress(address) });
        throw e;
      }
      const err = sock.getOption("error");
      if (err !== 0) throw new SocketError("connect", err, { address: formatAddress(address) });
      if (isConnected(sock)) return;
      // Writable with neither a peer nor an error: Linux abandoned an interrupted unix
      // connect, or the edge came early; connect() again says which (EALREADY: keep waiting).
    }
  }

  // --- data --------------------------------------------------------------------------------------

  /** send(): bytes sent (may be fewer than given on a stream: see sendAll). */
  send(data: Data, op?: AsyncSendOptions): Promise<number> {
    let waitFirst = false;
    try {
      if (op === undefined && !this.#writes.busy) {
        // Fast path: nothing queued, no options: one attempt now, no async machinery.
        const r = attempt.send(this.#fd("send"), data, 0);
        if (r !== WOULD_BLOCK) return Promise.resolve(r);
        waitFirst = true;
      } else checkData("send", data); // a bad argument rejects now, not when its turn comes
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#io(WRITE, "send", op, (fd, flags) => attempt.send(fd, data, flags), waitFirst);
  }

  /**
   * Sends all of `data`, awaiting room in the send buffer between partial sends: nothing is
   * buffered in JS, so a slow reader slows this promise, not memory. Do not modify `data`
   * until it resolves. The timeout bounds the whole call; on error `bytesSent` says how much
   * went out (SocketError, SocketTimeoutError, SocketAbortError, or the TypeError of a buffer
   * shrunk or detached meanwhile).
   */
  sendAll(data: Data, op?: AsyncSendOptions): Promise<void> {
    let buf: Uint8Array;
    let total: number;
    let off = 0;
    try {
      buf = bytesOf("sendAll", data);
      total = check.byteLength("sendAll", "data", buf);
      if (total === 0 && check.isEmptied(buf)) throw check.noMemory("sendAll", "data");
      if (op === undefined && !this.#writes.busy) {
        // Fast path: as much as the send buffer takes now, with no closure or promise; the
        // async machinery only for the rest.
        const fd = this.#fd("send");
        while (off < total) {
          const r = attempt.send(fd, off === 0 ? buf : buf.subarray(off, total), 0);
          if (r === WOULD_BLOCK) return this.#sendAllRest(buf, total, off, op, true);
          off += r;
        }
        return RESOLVED;
      }
    } catch (e) {
      return Promise.reject(withProgress("send", e, op, off));
    }
    return this.#sendAllRest(buf, total, 0, op, false);
  }

  /**
   * send() with MSG_ZEROCOPY (Linux TCP/UDP), without blocking: all of `data` goes to the kernel
   * under the socket's write turn (as sendAll), and the promise resolves with
   * `{ bytes, copied }` once the kernel reports, on the error queue, that it no longer reads
   * `data` (on TCP: the peer acknowledged it). Until then `data` must stay unmodified, and must
   * not be resized or transferred (it stays referenced, so it cannot be collected). The write
   * turn is released as soon as the bytes are queued, so several sends can be in flight and
   * their completions awaited together. If the connection fails first (a reset purges the
   * unsent data), the promise rejects, never resolves: with the kernel's error when zero-copy
   * took it (the next operation on this AsyncSocket then fails with it too: the kernel reports
   * a socket error only once), or EPIPE when another operation took it first. A timeout or
   * abort rejects with `bytesSent`; after the bytes went, the kernel may then still read
   * `data` (the error says so). On UDP, empty data is an empty datagram, sent without
   * MSG_ZEROCOPY (nothing to pin). See Socket.sendZeroCopy for when it pays off.
   */
  async sendZeroCopy(data: ArrayBufferView, op?: OperationOptions): Promise<ZeroCopyResult> {
    const refusal = zeroCopyRefusal("sendZeroCopy", this.family, this.type, data);
    if (refusal) throw refusal;
    const buf = bytesOf("sendZeroCopy", data);
    const total = check.byteLength("sendZeroCopy", "data", buf);
    if (total === 0 && check.isEmptied(buf)) throw check.noMemory("sendZeroCopy", "data");
    const turn = this.#writes;
    const ledger = (this.#zeroCopy = zeroCopyLedger(this.socket));
    const progress = { sent: 0 };
    let ticket: ZeroCopyTicket | undefined;
    let limits: { signal: AbortSignal | null; timeout: number | null; deadline: number };
    try {
      limits = this.#limits("sendZeroCopy", op);
      const { signal, timeout, deadline } = limits;
      const queued = turn.acquire("sendZeroCopy", signal, deadline, timeout ?? 0);
      if (queued) await queued;
      try {
        if (total === 0) {
          // A stream has nothing to send; a datagram socket sends an empty datagram.
          if (this.type !== C.SOCK_STREAM) await this.#writeAll("sendZeroCopy", buf, 0, progress, signal, deadline, timeout, (fd, b) => attempt.send(fd, b, 0), true);
          return { bytes: 0, copied: false };
        }
        ledger.enable(this.#fd("send"));
        ticket = ledger.open(buf);
        const t = ticket;
        try {
          await this.#writeAll("sendZeroCopy", buf, total, progress, signal, deadline, timeout, (fd, b) => ledger.send(t, fd, b, 0));
        } finally {
          ledger.seal(t);
        }
        // This drain may read others' completions too: their edge is gone with them (epoll
        // computes EPOLLERR when it reports, from a queue now empty), so settle them here.
        this.#collectCompletions();
      } finally {
        turn.release();
      }
    } catch (e) {
      if (ticket !== undefined && this.#stream && ledger.isConnectionFailure(e)) {
        // Its own send got the reset: the sends still waiting were purged with it (and the
        // kernel's error is gone), and the next operation reports it too.
        ledger.keep(e);
        this.#failCompletions(connectionFailed(e.errno));
      }
      throw withProgress("send", e, op, progress.sent);
    }
    if (ticket.done) return { bytes: total, copied: ticket.copied };
    return this.#completion(ticket, total, limits.signal, limits.deadline, limits.timeout);
  }

  /**
   * Sends `buf` (its first `total` bytes) from `progress.sent` on with `send`, awaiting room
   * between partial sends; the write turn is the caller's. The buffer is re-checked before
   * every attempt: the caller may shrink, detach or transfer it while this waits. `once`: one
   * attempt even when there is nothing to send (an empty datagram).
   */
  async #writeAll(fn: string, buf: Uint8Array, total: number, progress: { sent: number }, signal: AbortSignal | null, deadline: number, timeout: number | null, send: (fd: number, bytes: Uint8Array) => number | typeof WOULD_BLOCK, once = false): Promise<void> {
    while (progress.sent < total || once) {
      if (signal?.aborted) throw signal.reason;
      if (check.byteLength(fn, "data", buf) < total || (total === 0 && check.isEmptied(buf))) throw bufferChanged(fn, progress.sent, total);
      const off = progress.sent;
      const r = send(this.#fd("send"), off === 0 && buf.length === total ? buf : buf.subarray(off, total));
      if (r === WOULD_BLOCK) await this.#awaitWritable("send", signal, deadline, timeout);
      else {
        progress.sent += r;
        once = false;
      }
    }
  }

  /** Tickets whose callers wait for their completion, and how each ends. */
  readonly #completions = new Map<ZeroCopyTicket, { total: number; resolve: (r: ZeroCopyResult) => void; reject: (e: unknown) => void; guard: Guard | null }>();
  /** Ends the completion pump's wait when nobody waits any more (so the process can exit). */
  #pumpStop: AbortController | null = null;
  /** The socket's zero-copy ledger once sendZeroCopy ran (its lostError: the next operation reports it). */
  #zeroCopy: ZeroCopyLedger | null = null;

  /** A promise for `ticket`'s completion (its own deadline and signal), read by one pump per socket. */
  #completion(ticket: ZeroCopyTicket, total: number, signal: AbortSignal | null, deadline: number, timeout: number | null): Promise<ZeroCopyResult> {
    return new Promise<ZeroCopyResult>((resolve, reject) => {
      const guard = signal !== null || deadline !== Infinity ? new Guard("sendZeroCopy", signal, deadline, timeout ?? 0) : null;
      this.#completions.set(ticket, { total, resolve, reject, guard });
      guard?.arm((reason) => {
        // The caller stops waiting; the ledger keeps the buffer until the kernel lets it go.
        this.#completions.delete(ticket);
        if (this.#completions.size === 0) this.#pumpStop?.abort();
        const aborted = signal !== null && signal.aborted && Object.is(reason, signal.reason);
        const e = aborted ? new SocketAbortError("sendZeroCopy", reason, total) : reason; // else the Guard's SocketTimeoutError
        if (e instanceof SocketError) {
          e.bytesSent = total;
          e.message += " (all bytes sent; the kernel may still read the buffer)";
        }
        reject(e);
      });
      if (this.#pumpStop === null && this.#completions.size > 0) void this.#pumpCompletions();
    });
  }

  /**
   * Drains the error queue, then resolves every waiting ticket the ledger has seen complete,
   * or, when the socket holds an error (the connection failed: its completions come from the
   * purge, not from acknowledgements), rejects them all with it and keeps it for the next
   * operation. Every drain goes through here (in sendZeroCopy and in the pump), so a
   * completion read by either is never left waiting for an edge that will not come.
   */
  #collectCompletions(): void {
    // #zeroCopy is set: only sendZeroCopy makes tickets to collect.
    const err = this.#zeroCopy!.drainAndCheck(this.#fd("sendZeroCopy"), this.#stream);
    if (err !== 0) {
      const e = connectionFailed(err);
      this.#failCompletions(e);
      throw e;
    }
    for (const [t, c] of this.#completions) {
      if (!t.done) continue;
      this.#completions.delete(t);
      c.guard?.disarm();
      c.resolve({ bytes: c.total, copied: t.copied });
    }
  }

  /** Rejects every waiting ticket with `e` (each with its own bytesSent: all of its data). */
  #failCompletions(e: unknown): void {
    for (const [t, c] of this.#completions) {
      this.#completions.delete(t);
      c.guard?.disarm();
      // One error object per waiter: each carries its own bytesSent.
      const own = e instanceof SocketError ? new SocketError(e.syscall, e.errno, { ...(e.address === undefined ? {} : { address: e.address }), ...(e.note === undefined ? {} : { note: e.note }) }) : e;
      c.reject(own instanceof Error && Object.isExtensible(own) ? Object.assign(own, { bytesSent: c.total }) : own);
    }
  }

  /** Reads completions while anyone waits for one: each error-queue edge, a collect. */
  async #pumpCompletions(): Promise<void> {
    const stop = (this.#pumpStop = new AbortController());
    try {
      while (this.#completions.size > 0) {
        const w = this.#watched();
        await w.reactor.wait(w, ERRQUEUE, "sendZeroCopy", stop.signal, Infinity, 0);
        this.#collectCompletions();
      }
    } catch (e) {
      // Stopped because nobody waits: nothing to report. Otherwise (a close, a socket error),
      // everyone still waiting hears it.
      if (!stop.signal.aborted) this.#failCompletions(e);
    } finally {
      if (this.#pumpStop === stop) this.#pumpStop = null;
    }
  }

  /** Waits (edge-triggered) for the socket's next write-side readiness or error. */
  async #awaitWritable(syscall: string, signal: AbortSignal | null, deadline: number, timeout: number | null): Promise<void> {
    const w = this.#watched();
    await w.reactor.wait(w, WRITE, syscall, signal, deadline, timeout ?? 0);
  }

  /** sendAll from byte `sent` on, through the driver (waiting first when `waitFirst`). */
  #sendAllRest(buf: Uint8Array, total: number, sent: number, op: AsyncSendOptions | undefined, waitFirst: boolean): Promise<void> {
    let off = sent;
    /** Sends what the kernel takes now: WOULD_BLOCK, or the total once everything went. */
    const pump = (fd: number, flags: number): number => {
      while (off < total) {
        // Re-checked before every attempt: the caller may shrink or detach the buffer while this waits.
        if (check.byteLength("sendAll", "data", buf) < total) throw bufferChanged("sendAll", off, total);
        const r = attempt.send(fd, off === 0 && buf.length === total ? buf : buf.subarray(off, total), flags);
        if (r === WOULD_BLOCK) return WOULD_BLOCK;
        off += r;
      }
      return total;
    };
    return this.#io(WRITE, "send", op, pump, waitFirst).then(() => undefined, (e: unknown) => {
      throw withProgress("send", e, op, off);
    });
  }

  /**
   * recv(): up to `maxBytes` bytes (a new array, never shared with a later read); an empty
   * array at end of stream. Receives into a buffer the socket keeps while reads are small
   * and copies the bytes out, so `recv(65536)` of 64 bytes costs a 64-byte array, not a zeroed
   * 64 KiB one; a read that fills more than half of it gets the buffer itself.
   */
  async recv(maxBytes: number, op?: AsyncRecvOptions): Promise<Uint8Array> {
    const size = check.size("recv", "maxBytes", maxBytes);
    const buf = this.#takeScratch("recv", size);
    let n: number;
    try {
      n = await this.recvInto(buf.length === size ? buf : buf.subarray(0, size), op);
    } catch (e) {
      this.#scratch ??= buf;
      throw e;
    }
    return this.#received(buf, n);
  }

  /** A buffer of at least `size` bytes for one read: the kept one if free and big enough. */
  #takeScratch(fn: string, size: number): Uint8Array {
    const buf = this.#scratch;
    if (buf !== null && buf.length >= size) {
      this.#scratch = null; // this read's until it ends
      return buf;
    }
    return check.allocate(fn, "maxBytes", size);
  }

  /**
   * The `n` bytes a read put in `buf` as an array of their own: copied out when they fill at
   * most half of it (the buffer is kept for the next read), else the buffer itself (forgotten).
   */
  #received(buf: Uint8Array, n: number): Uint8Array {
    if (n * 2 <= buf.length) {
      const out = buf.slice(0, n);
      this.#scratch ??= buf;
      return out;
    }
    return n === buf.length ? buf : buf.subarray(0, n);
  }

  /** recv() into `buffer` (its first `nbytes`); the count, 0 at end of stream. */
  recvInto(buffer: Uint8Array, op?: AsyncRecvIntoOptions): Promise<number> {
    // Every recv is attempted before it waits: a short read does not prove the queue empty (a
    // unix stream stops at passed fds or other credentials, TCP at urgent data), and a skipped
    // attempt would wait for an edge that never comes.
    try {
      if (op === undefined && !this.#reads.busy) {
        // Fast path: nothing queued, no options: one attempt now, no async machinery.
        const r = attempt.recvInto(this.#fd("recv"), buffer, undefined, 0);
        if (r !== WOULD_BLOCK) return Promise.resolve(r);
        if (this.#timeout === null) {
          // Park: the reactor runs the recv when the fd is ready.
          const w = this.#watched();
          this.#reads.acquire("recv", null, Infinity, 0); // free: taken at once, released by ready/fail
          const parked = (this.#parkedRecv ??= AsyncSocket.#parkedRecvOf(this));
          const promise = parked.start(buffer);
          w.reactor.park(w, READ, "recv", parked);
          return promise;
        }
        return this.#io(READ, "recv", op, (fd) => attempt.recvInto(fd, buffer, undefined, 0), true);
      }
      checkBuffer("recvInto", buffer);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#io(READ, "recv", op, (fd, flags) => attempt.recvInto(fd, buffer, op?.nbytes, flags));
  }

  /**
   * connect() with `data` (TCP Fast Open client, Linux), without blocking: one
   * sendto(MSG_FASTOPEN), so with a cached cookie the data rides in the SYN; without one the SYN
   * asks for a cookie and the data follows the handshake. Resolves with the bytes sent, all of
   * `data`; the timeout and signal apply to the connect and to sending the rest, each. See
   * Socket.connectWithData.
   */
  async connectWithData(address: Address, data: Data, op?: AsyncSendOptions): Promise<number> {
    const refusal = attempt.fastOpenRefusal(this.family, this.type, this.protocol);
    if (refusal) throw refusal;
    checkAddress(address);
    const buf = bytesOf("connectWithData", data);
    const total = check.byteLength("connectWithData", "data", buf);
    if (total === 0 && check.isEmptied(buf)) throw check.noMemory("connectWithData", "data");
    const turn = this.#writes;
    const progress = { sent: 0 };
    try {
      const given = op?.flags;
      const flags = given === undefined ? 0 : check.int32("connectWithData", "flags", given);
      const { signal, timeout, deadline } = this.#limits("connectWithData", op);
      // The write turn for the whole call: no other write may land between the SYN's data and the rest.
      const queued = turn.acquire("connect", signal, deadline, timeout ?? 0);
      if (queued) await queued;
      try {
        const fd = this.#fd("connect");
        // On a connected socket the kernel would ignore MSG_FASTOPEN and the address and just send.
        if (isConnected(this.socket)) throw new SocketError("connect", E.EISCONN);
        if (check.byteLength("connectWithData", "data", buf) < total) throw bufferChanged("connectWithData", 0, total);
        // One attempt, never retried: a second sendto(MSG_FASTOPEN) would be another connect.
        const first = attempt.fastOpen(fd, buf.length === total ? buf : buf.subarray(0, total), address, flags);
        // WOULD_BLOCK: the handshake is under way, wait for it; FAST_OPEN_OFF: connect as usual.
        if (first === WOULD_BLOCK || first === attempt.FAST_OPEN_OFF) await this.#connectHeld(address, signal, deadline, timeout);
        else progress.sent = first;
        await this.#writeAll("connectWithData", buf, total, progress, signal, deadline, timeout, (f, b) => attempt.send(f, b, flags));
      } finally {
        turn.release();
      }
    } catch (e) {
      throw withAddress(withProgress("send", e, op, progress.sent), formatAddress(address));
    }
    return total;
  }

  /** sendto(): one datagram to `address`; bytes sent. */
  sendTo(data: Data, address: Address, op?: AsyncSendOptions): Promise<number> {
    try {
      checkData("sendTo", data);
      checkAddress(address);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#io(WRITE, "sendto", op, (fd, flags) => attempt.sendTo(fd, data, address, flags));
  }

  /** recvfrom(): the data (up to maxBytes) and the sender. */
  async recvFrom(maxBytes: number, op?: AsyncRecvOptions): Promise<[Uint8Array, Address | RawAddress]> {
    const size = check.size("recvFrom", "maxBytes", maxBytes);
    const buf = this.#takeScratch("recvFrom", size);
    let n: number;
    let from: Address | RawAddress;
    try {
      [n, from] = await this.recvFromInto(buf.length === size ? buf : buf.subarray(0, size), op);
    } catch (e) {
      this.#scratch ??= buf;
      throw e;
    }
    return [this.#received(buf, Math.min(n, size)), from]; // MSG_TRUNC may report more than fits
  }

  /** recvfrom() into `buffer`: the count and the sender (with MSG_TRUNC: the real length). */
  recvFromInto(buffer: Uint8Array, op?: AsyncRecvIntoOptions): Promise<[number, Address | RawAddress]> {
    try {
      checkBuffer("recvFromInto", buffer);
    } catch (e) {
      return Promise.reject(e);
    }
    const family = this.socket.family;
    return this.#io(READ, "recvfrom", op, (fd, flags) => attempt.recvFromInto(fd, family, buffer, op?.nbytes, flags));
  }

  /** sendmsg(): gather, destination, fds (SCM_RIGHTS), credentials; see Socket.sendMsg. */
  sendMsg(message: SendMsgOptions, op?: OperationOptions): Promise<number> {
    return this.#io(WRITE, "sendmsg", op, (fd) => attempt.sendMsg(fd, message, this));
  }

  /** recvmsg(): data, sender, fds (yours to close), credentials; see Socket.recvMsg. */
  recvMsg(message: RecvMsgOptions = {}, op?: OperationOptions): Promise<RecvMsgResult> {
    return this.#io(READ, "recvmsg", op, (fd) => attempt.recvMsg(fd, message));
  }

  /** sendmmsg(): datagrams in one call; how many went (see Socket.sendMany). */
  sendMany(datagrams: readonly Uint8Array[], address?: Address, op?: AsyncSendOptions): Promise<number> {
    return this.#io(WRITE, "sendmmsg", op, (fd, flags) => attempt.sendMany(fd, datagrams, address, flags));
  }

  /** recvmmsg(): waits for the first datagram, then takes what is queued (see Socket.recvMany). */
  recvMany(buffers: readonly Uint8Array[], op?: AsyncRecvOptions): Promise<ReceivedDatagram[]> {
    const family = this.socket.family;
    return this.#io(READ, "recvmmsg", op, (fd, flags) => attempt.recvMany(fd, family, buffers, flags));
  }

  /**
   * Sends `data` as datagrams of `segmentSize` bytes (UDP segmentation offload where the
   * kernel has it; see Socket.sendSegments), awaiting room between calls. Resolves to the byte
   * count; on error `bytesSent` says how many bytes (whole datagrams) went out.
   */
  async sendSegments(data: Data, segmentSize: number, address?: Address, op?: AsyncSendOptions): Promise<number> {
    const buf = bytesOf("sendSegments", data);
    const total = check.byteLength("sendSegments", "data", buf);
    const target = this.socket;
    let done = 0;
    try {
      await this.#io(WRITE, "sendmsg", op, (fd, flags) => {
        // Checked and laid out again at every attempt: the caller may change the buffer while this waits.
        if (check.byteLength("sendSegments", "data", buf) < total) throw bufferChanged("sendSegments", done, total);
        attempt.prepareSegments(buf.length === total ? buf : buf.subarray(0, total), segmentSize, address);
        try {
          while (done < total) {
            const r = attempt.sendSegmentsStep(fd, target, done, flags);
            if (r === WOULD_BLOCK) return WOULD_BLOCK;
            done += r;
          }
          return done;
        } finally {
          attempt.releaseSegments();
        }
      });
      return total;
    } catch (e) {
      throw withProgress("sendmsg", e, op, done);
    }
  }

  /**
   * sendfile(2) without blocking: `count` bytes (default: to the end) of the open file `file`
   * from `offset` (default: the file's position), awaiting room between partial sends. Resolves
   * to the bytes sent (fewer than `count` only at end of file); see Socket.sendFile.
   */
  async sendFile(file: number, options: SendFileOptions = {}, op?: OperationOptions): Promise<number> {
    const { inFd, offset, count } = sendFileArguments(file, options);
    let sent = 0;
    try {
      return await this.#io(WRITE, "sendfile", op, (fd) => {
        while (sent < count) {
          const r = attempt.sendFileStep(fd, inFd, offset, count - sent);
          if (r === WOULD_BLOCK) return WOULD_BLOCK;
          if (r === 0) break; // end of file
          sent += r;
        }
        return sent;
      });
    } catch (e) {
      throw withProgress("sendfile", e, op, sent);
    }
  }

  // --- iteration and streams ---------------------------------------------------------------------

  /**
   * The connections of a listening socket, as they arrive. Ends (without error) when the
   * listener is closed or `signal` aborts. Keeps serving through what a server must outlive:
   * a connection reset while queued (ECONNABORTED, EPROTO) is skipped, and running out of fds
   * or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) waits 5 ms, doubling to 1 s (Go's net/http
   * backoff), then tries again: the queued clients are served once fds are freed. `onError`
   * sees each such error (to log it). Other errors are thrown.
   */
  connections(op: ConnectionsOptions = {}): AsyncGenerator<AsyncSocket, void, undefined> {
    const signal = signalOf("connections", op.signal);
    const onError = op.onError;
    if (onError !== undefined && typeof onError !== "function") throw new TypeError("connections: onError must be a function");
    const wait = signal ? { signal } : undefined;
    return this.#iterate(op, async () => {
      for (let backoff = 5; ;) {
        try {
          return (await this.accept(wait))[0];
        } catch (e) {
          const skip = e instanceof SocketError && (e.errno === E.ECONNABORTED || e.errno === E.EPROTO);
          if (this.closed || !(skip || isExhaustion(e))) throw e;
          onError?.(e as SocketError);
          if (skip) continue;
          await this.#pause("accept", backoff, signal);
          backoff = Math.min(backoff * 2, 1000);
        }
      }
    });
  }

  /** The datagrams of a datagram (or raw, or seqpacket) socket, each with its sender. Ends on close or abort. */
  datagrams(maxBytes = 65536, op: { readonly signal?: AbortSignal } = {}): AsyncGenerator<Datagram, void, undefined> {
    check.size("datagrams", "maxBytes", maxBytes);
    const wait = op.signal ? { signal: op.signal } : undefined;
    return this.#iterate(op, () => this.recvFrom(maxBytes, wait));
  }

  /** The bytes of a stream socket as they arrive (chunks of up to `maxBytes`), until end of stream. */
  chunks(maxBytes = 65536, op: { readonly signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array, void, undefined> {
    check.size("chunks", "maxBytes", maxBytes);
    const wait = op.signal ? { signal: op.signal } : undefined;
    return this.#iterate(op, () => this.recv(maxBytes, wait), (chunk) => chunk.length === 0);
  }

  /**
   * Yields `next()`'s results until `end(result)` says so, the socket is closed or the signal
   * aborts (both end the iteration quietly); any other error is thrown.
   */
  async *#iterate<T>(op: { readonly signal?: AbortSignal }, next: () => Promise<T>, end?: (v: T) => boolean): AsyncGenerator<T, void, undefined> {
    for (;;) {
      let v: T;
      try {
        v = await next();
      } catch (e) {
        if (this.closed || op.signal?.aborted) return;
        throw e;
      }
      if (end?.(v)) return;
      yield v;
    }
  }

  /**
   * `for await (const x of sock)`: connections of a listening socket (AsyncSocket), datagrams
   * of a datagram/raw socket (`[data, from]`), otherwise the chunks of a stream (Uint8Array).
   */
  [Symbol.asyncIterator](): AsyncIterator<AsyncSocket | Datagram | Uint8Array> {
    const t = this.socket.type;
    if ((t === C.SOCK_STREAM || t === C.SOCK_SEQPACKET) && this.socket.getOption("acceptConn")) return this.connections();
    if (t === C.SOCK_DGRAM || t === C.SOCK_RAW || t === C.SOCK_SEQPACKET) return this.datagrams();
    return this.chunks();
  }

  /**
   * The socket's incoming bytes as a WHATWG ReadableStream (pull-based: one recv per read, so
   * nothing is read ahead of the consumer). Ends at end of stream; cancel() shuts down reading.
   * On a record socket (seqpacket, datagram, raw) each chunk is one whole record, whatever its
   * size: its length is peeked first (MSG_PEEK | MSG_TRUNC), so nothing is ever cut.
   * When this stream has ended (end of stream, cancel or error) and `writable` has closed
   * (or aborted or failed), the socket closes: `Duplex.fromWeb(sock)` releases its fd.
   */
  get readable(): ReadableStream<Uint8Array> {
    if (this.#duplex) throw new TypeError("readable: this socket's bytes go to its toDuplex() stream");
    return (this.#readable ??= new ReadableStream<Uint8Array>({
      pull: async (controller): Promise<void> => {
        let chunk: Uint8Array;
        try {
          chunk = this.#stream ? await this.recv(65536) : await this.#recvRecord();
        } catch (e) {
          this.#streamDone("readable");
          throw e;
        }
        // A datagram socket has no end of stream: an empty datagram is a chunk like any other.
        // On seqpacket an empty record and end of stream both read 0 bytes: taken as the end.
        if (chunk.length === 0 && (this.#stream || this.socket.type === C.SOCK_SEQPACKET)) {
          controller.close();
          this.#streamDone("readable");
        } else controller.enqueue(chunk);
      },
      cancel: (): void => {
        try { this.shutdown("read"); } catch { /* closed or not connected: nothing to stop */ }
        this.#streamDone("readable");
      },
    }, { highWaterMark: 0 }));
  }

  /** One of the WHATWG streams is done; with both done, the socket has no more use: closed. */
  #streamDone(side: "readable" | "writable"): void {
    if (side === "readable") this.#readableDone = true;
    else this.#writableDone = true;
    if (this.#readableDone && this.#writableDone) this.close();
  }

  /**
   * A node:stream Duplex over this stream or seqpacket socket, for node:tls (`tls.connect({
   * socket })`, `new tls.TLSSocket(duplex, { isServer: true })`), node:http
   * (`server.emit("connection", duplex)`, `http.request({ createConnection })`) and WebSocket
   * libraries. Reads wait for demand; write() is sendAll; end() is shutdown("write") (a peer
   * already gone is no error); destroy() closes; the fd closes exactly once, when the readable
   * side has ended and the writable side has finished, or on destroy or error. On seqpacket each
   * write() is one record (longer than `recordSize`: several) and each record one chunk. Throws TypeError on datagram and raw
   * sockets (no stream to carry), on a listening socket, and when `readable`/`writable` or
   * another Duplex already read this socket.
   */
  toDuplex(options: ToDuplexOptions = {}): SocketDuplex {
    const t = this.socket.type;
    if (t !== C.SOCK_STREAM && t !== C.SOCK_SEQPACKET) throw new TypeError("toDuplex: needs a stream or seqpacket socket (a datagram socket has no stream to carry)");
    if (this.socket.closed) throw new SocketError("toDuplex", E.EBADF);
    if (this.socket.getOption("acceptConn")) throw new TypeError("toDuplex: a listening socket carries no stream (accept() first)");
    if (this.#readable !== null || this.#writable !== null || this.#duplex) throw new TypeError("toDuplex: this socket's bytes already go to another stream (readable, writable or toDuplex)");
    const readSize = options.readSize ?? 65536;
    check.inRange("toDuplex", "readSize", readSize, 1, 2 ** 30);
    if (options.recordSize !== undefined) {
      check.inRange("toDuplex", "recordSize", options.recordSize, 1, Number.MAX_SAFE_INTEGER);
    }
    this.#duplex = true;
    // Stream reads go through recvInto (the reactor's parked fast path) into one buffer kept for
    // the Duplex; each chunk is copied out, since node:http and tls keep the chunks they get.
    let scratch: Uint8Array | null = null;
    const readStream = async (): Promise<Uint8Array> => {
      scratch ??= new Uint8Array(readSize);
      const n = await this.recvInto(scratch);
      return scratch.slice(0, n);
    };
    const read = t === C.SOCK_SEQPACKET ? (): Promise<Uint8Array> => this.#recvRecord() : readStream;
    return new SocketDuplex(this, read, options);
  }

  /**
   * One whole record (a seqpacket record, a datagram), however long, as one read-side
   * operation (so no other receive can take the record between the peek and the receive):
   * peeks its length with MSG_PEEK | MSG_TRUNC into one byte (Linux then reports the real
   * length; where a peek reports no more than it was given, peeks again with ever larger
   * buffers until one is not filled), then receives exactly that.
   */
  #recvRecord(): Promise<Uint8Array> {
    return this.#io(READ, "recv", undefined, (fd) => {
      let probe = ONE_BYTE;
      let length = attempt.recvInto(fd, probe, undefined, PEEK_LENGTH);
      while (length === probe.length && length > 0) {
        probe = new Uint8Array(probe.length === 1 ? 65536 : probe.length * 2);
        length = attempt.recvInto(fd, probe, undefined, PEEK_LENGTH);
      }
      if (length === WOULD_BLOCK) return WOULD_BLOCK;
      const record = new Uint8Array(length);
      const n = attempt.recvInto(fd, record, undefined, 0);
      if (n === WOULD_BLOCK) return WOULD_BLOCK; // taken by another process meanwhile: wait again
      return n === length ? record : record.subarray(0, n);
    });
  }

  /**
   * A WHATWG WritableStream into the socket: each chunk (bytes or a string) goes out with
   * sendAll before the next is taken (highWaterMark 1: backpressure reaches the writer).
   * close() shuts down writing (the peer reads end of stream; a peer already gone is no
   * error); abort() ends a write waiting for room at once and closes the socket. Once this
   * stream has closed (or failed) and `readable` has ended, the socket closes.
   */
  get writable(): WritableStream<Data> {
    // The controller's signal aborts as soon as abort() is called, while the sink's abort()
    // would only run after the pending write settled: a write waiting for room never would.
    if (this.#duplex) throw new TypeError("writable: this socket's bytes go to its toDuplex() stream");
    let signal: AbortSignal | null = null;
    return (this.#writable ??= new WritableStream<Data>({
      start: (controller): void => {
        signal = (controller as WritableStreamDefaultController & { readonly signal?: AbortSignal }).signal ?? null;
      },
      write: async (chunk): Promise<void> => {
        try {
          await this.sendAll(chunk, signal === null ? undefined : { signal });
        } catch (e) {
          this.#streamDone("writable"); // the stream is errored: no more writes
          throw e;
        }
      },
      close: (): void => {
        try {
          this.shutdown("write");
        } catch (e) {
          // The peer already gone (or the socket closed) is no reason to fail a close.
          if (!(e instanceof SocketError && (e.errno === E.ENOTCONN || e.errno === E.EPIPE || e.errno === E.EBADF))) throw e;
        } finally {
          this.#streamDone("writable");
        }
      },
      abort: (): void => this.close(),
    }, { highWaterMark: 1 }));
  }

  // --- lifetime ----------------------------------------------------------------------------------

  /**
   * Closes the socket. Pending operations reject with SocketError EBADF ("socket closed while
   * waiting"); queued ones with EBADF when their turn comes. Idempotent.
   */
  close(): void {
    if (this.socket.closed) return;
    this.#unwatch();
    this.socket.close();
    this.#closing?.abort();
  }

  /** `using sock = ...` closes it. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** `await using sock = ...` closes it. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  /**
   * Gives up ownership and returns the fd (still non-blocking), e.g. for
   * `Bun.listen({ fd })` or `net.createServer().listen({ fd })`, which own it from then on.
   * Pending operations reject with EBADF.
   */
  detach(): number {
    const fd = this.socket.fd;
    this.#unwatch();
    this.socket.detach();
    this.#closing?.abort();
    return fd;
  }

  /** e.g. `AsyncSocket(fd=7, AF_INET, SOCK_STREAM)`. */
  toString(): string {
    return `Async${this.socket.toString()}`;
  }

  /** How console.log prints it: the same as toString(). */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

/**
 * What AsyncSocket takes from its Socket as it is, in one place: the synchronous calls (bind,
 * listen, shutdown, options) and the state (fd, closed, family, type, protocol, addresses).
 * Each is the Socket's own member, documented there, called on `asyncSocket.socket`.
 */
const FORWARDED_METHODS = ["bind", "listen", "shutdown", "getOption", "setOption", "getRawOption", "setRawOption"] as const;
const FORWARDED_GETTERS = ["fd", "closed", "family", "type", "protocol", "localAddress", "remoteAddress"] as const;

/** AsyncSocket's forwarded members (see FORWARDED_METHODS / FORWARDED_GETTERS). */
export interface AsyncSocket extends Pick<Socket, (typeof FORWARDED_METHODS)[number] | (typeof FORWARDED_GETTERS)[number]> {}

for (const name of FORWARDED_METHODS) {
  Object.defineProperty(AsyncSocket.prototype, name, {
    value: function forwarded(this: AsyncSocket, ...args: unknown[]): unknown {
      return (this.socket[name] as (...a: unknown[]) => unknown).apply(this.socket, args);
    },
    writable: true,
    configurable: true,
  });
}
for (const name of FORWARDED_GETTERS) {
  Object.defineProperty(AsyncSocket.prototype, name, {
    get(this: AsyncSocket): unknown {
      return this.socket[name];
    },
    configurable: true,
  });
}

/** getpeername succeeds. */
function isConnected(sock: Socket): boolean {
  try {
    void sock.remoteAddress;
    return true;
  } catch (e) {
    if (e instanceof SocketError && e.errno === E.ENOTCONN) return false;
    throw e;
  }
}
