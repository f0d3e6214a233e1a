/**
 * One thin function per libc call for the typed API: checks its arguments, calls libc, reads
 * errno immediately, retries EINTR where retrying is right, and throws SocketError otherwise.
 *
 * Would-block is not an error here: calls that can meet EAGAIN/EWOULDBLOCK (or EINPROGRESS for
 * connect) return WOULD_BLOCK so the Socket layer can wait and retry without an exception.
 * The hot path (send/recv) allocates nothing.
 */
import { libc } from "../../ffi/libc.ts";
import { readErrno } from "../../ffi/errno.ts";
import { table } from "../../ffi/platform.ts";
import * as check from "./check.ts";
import { SocketError } from "./errors.ts";

const E = table.errno;
const C = table.constants;

/** Returned instead of a count when a non-blocking call would block. */
export const WOULD_BLOCK = -1;

/** Whether this platform's accept4 exists (Linux). */
export const hasAccept4 = libc.accept4 !== undefined;

/** Throws the SocketError for the errno just read. */
function raise(syscall: string, errno: number): never {
  throw new SocketError(syscall, errno);
}

const wouldBlock = (errno: number): boolean => errno === E.EAGAIN || errno === E.EWOULDBLOCK;

/** What `outcome` returns for EINTR: make the same call again (PEP 475's rule). */
export const INTERRUPTED = -2;

/**
 * The one policy for a call that failed with `errno` (read right after the call): INTERRUPTED
 * (EINTR: call again), WOULD_BLOCK (EAGAIN/EWOULDBLOCK), or it throws SocketError(syscall).
 * Every attempt in bsdsock ends its call this way: `for (;;) { r = call; if (r >= 0) return r;
 * const o = outcome(name, readErrno()); if (o !== INTERRUPTED) return o; }` — written inline
 * rather than through a callback so the hot paths allocate no closure.
 */
export function outcome(syscall: string, errno: number): number {
  if (errno === E.EINTR) return INTERRUPTED;
  if (errno === E.EAGAIN || errno === E.EWOULDBLOCK) return WOULD_BLOCK;
  throw new SocketError(syscall, errno);
}

/**
 * Calls `call` (a libc call returning -1 on failure) until it is not interrupted: its result,
 * or WOULD_BLOCK; other errors throw SocketError(syscall). For calls off the hot path.
 */
export function retrying(syscall: string, call: () => number): number {
  for (;;) {
    const r = call();
    if (r >= 0) return r;
    const o = outcome(syscall, readErrno());
    if (o !== INTERRUPTED) return o;
  }
}

/** `retrying` for calls that cannot would-block: EAGAIN is an error like any other. */
function retryingBlocking(syscall: string, call: () => number): number {
  for (;;) {
    const r = call();
    if (r >= 0) return r;
    const errno = readErrno();
    if (errno !== E.EINTR) raise(syscall, errno);
  }
}

/**
 * Checks that `length` bytes fit in `buf`, by its real size (the built-in getter: a shadowed
 * `byteLength` or a look-alike object is never trusted). Every buffer sys passes to libc with a
 * length goes through here or through a fixed-size internal buffer.
 */
function span(fn: string, buf: Uint8Array, length: number): void {
  check.fits(fn, "length", check.size(fn, "length", length), check.byteLength(fn, "buffer", buf));
}

/** `socket()`; flags such as SOCK_CLOEXEC may be or-ed into type. */
export function socket(domain: number, type: number, protocol: number): number {
  return retryingBlocking("socket", () => libc.socket(domain, type, protocol));
}

/** `socketpair()` into a reused pair buffer; returns both fds. */
const pair = new Int32Array(2);
export function socketpair(domain: number, type: number, protocol: number): [number, number] {
  retryingBlocking("socketpair", () => libc.socketpair(domain, type, protocol, pair));
  return [pair[0]!, pair[1]!];
}

/** `bind()` to `len` bytes of an encoded address. */
export function bind(fd: number, addr: Uint8Array, len: number): void {
  span("bind", addr, len);
  if (libc.bind(fd, addr, len) !== 0) raise("bind", readErrno());
}

/**
 * `connect()`. Returns 0 when connected, or the negated errno of a condition the caller
 * resolves itself: -EINPROGRESS / -EALREADY (in progress: wait writable, read SO_ERROR), -EINTR
 * (interrupted: call again; TCP then says EALREADY or EISCONN, while Linux abandons an
 * interrupted unix connect so the new call starts over), -EAGAIN (unix: the listener's backlog
 * is full) and -EISCONN (an error, except after an interruption). Anything else throws.
 */
export function connect(fd: number, addr: Uint8Array, len: number): number {
  span("connect", addr, len);
  if (libc.connect(fd, addr, len) === 0) return 0;
  const errno = readErrno();
  if (errno === E.EINPROGRESS || errno === E.EALREADY || errno === E.EINTR || wouldBlock(errno) || errno === E.EISCONN) {
    return -(wouldBlock(errno) ? E.EAGAIN : errno);
  }
  raise("connect", errno);
}

/** `listen()`. */
export function listen(fd: number, backlog: number): void {
  if (libc.listen(fd, backlog) !== 0) raise("listen", readErrno());
}

/**
 * `accept4()` (or `accept()` where there is none) with the peer address written into `addr`
 * and its length into `len[0]` (which must hold the buffer size on entry).
 */
export function accept(fd: number, addr: Uint8Array, len: Uint32Array, flags: number): number {
  span("accept", addr, len[0]!);
  const accept4 = libc.accept4;
  return retrying("accept", accept4 ? () => accept4(fd, addr, len, flags) : () => libc.accept(fd, addr, len));
}

/** `send()` of the first `length` bytes of `buf`; WOULD_BLOCK on EAGAIN. */
export function send(fd: number, buf: Uint8Array, length: number, flags: number): number {
  span("send", buf, length);
  return sendChecked(fd, buf, length, flags);
}

/** `send()` for a caller that has checked `length` against `buf`'s real byteLength itself (see sendtoChecked). */
export function sendChecked(fd: number, buf: Uint8Array, length: number, flags: number): number {
  for (;;) {
    const r = libc.send(fd, buf, length, flags);
    if (r >= 0) return r;
    const o = outcome("send", readErrno());
    if (o !== INTERRUPTED) return o;
  }
}

/** `recv()` into the first `length` bytes of `buf`; WOULD_BLOCK on EAGAIN. */
export function recv(fd: number, buf: Uint8Array, length: number, flags: number): number {
  span("recv", buf, length);
  for (;;) {
    const r = libc.recv(fd, buf, length, flags);
    if (r >= 0) return r;
    const o = outcome("recv", readErrno());
    if (o !== INTERRUPTED) return o;
  }
}

/** `sendto()`; WOULD_BLOCK on EAGAIN. */
export function sendto(fd: number, buf: Uint8Array, length: number, flags: number, addr: Uint8Array, addrLen: number): number {
  span("sendto", buf, length);
  span("sendto", addr, addrLen);
  return sendtoChecked(fd, buf, length, flags, addr, addrLen);
}

/**
 * `sendto()` for a caller that has already checked both pairs: `length` is at most `buf`'s
 * real byteLength (read through the built-in getter) and `addrLen` at most `addr`'s. The
 * Socket hot path reads them once itself; WOULD_BLOCK on EAGAIN.
 */
export function sendtoChecked(fd: number, buf: Uint8Array, length: number, flags: number, addr: Uint8Array, addrLen: number): number {
  for (;;) {
    const r = libc.sendto(fd, buf, length, flags, addr, addrLen);
    if (r >= 0) return r;
    const o = outcome("sendto", readErrno());
    if (o !== INTERRUPTED) return o;
  }
}

/** `recvfrom()` with the sender written into `addr`/`len`; WOULD_BLOCK on EAGAIN. */
export function recvfrom(fd: number, buf: Uint8Array, length: number, flags: number, addr: Uint8Array, len: Uint32Array): number {
  span("recvfrom", buf, length);
  span("recvfrom", addr, len[0]!);
  for (;;) {
    const r = libc.recvfrom(fd, buf, length, flags, addr, len);
    if (r >= 0) return r;
    const o = outcome("recvfrom", readErrno());
    if (o !== INTERRUPTED) return o;
  }
}

/** `shutdown()`. */
export function shutdown(fd: number, how: number): void {
  if (libc.shutdown(fd, how) !== 0) raise("shutdown", readErrno());
}

/**
 * `close()`. Never retried: on Linux the fd is released even when close reports EINTR, and a
 * retry could close an fd another thread just received. EINTR is therefore not an error.
 */
export function close(fd: number): void {
  if (libc.close(fd) !== 0) {
    const errno = readErrno();
    if (errno !== E.EINTR) raise("close", errno);
  }
}

/** `open()` of a path (Linux only here: TUN/TAP's /dev/net/tun); the new fd. */
export function open(path: string, flags: number): number {
  if (!libc.open) throw new RangeError(`open: not bound on ${table.platform}`);
  if (path.includes("\0")) throw new TypeError("open: the path contains a NUL byte");
  const name = new TextEncoder().encode(`${path}\0`);
  return retryingBlocking("open", () => libc.open!(name, flags, 0));
}

/** `ioctl(fd, request, arg)` with a pointer argument of exactly `arg.byteLength` bytes (Linux only). */
export function ioctl(fd: number, request: number, arg: Uint8Array): number {
  if (!libc.ioctl) throw new RangeError(`ioctl: not bound on ${table.platform}`);
  return retryingBlocking("ioctl", () => libc.ioctl!(fd, request, arg));
}

/** `read()` of at most `length` bytes into `buf`: the count (0 at end), or WOULD_BLOCK. */
export function read(fd: number, buf: Uint8Array, length: number): number {
  span("read", buf, length);
  for (;;) {
    const r = Number(libc.read(fd, buf, length));
    if (r >= 0) return r;
    const o = outcome("read", readErrno());
    if (o !== INTERRUPTED) return o;
  }
}

/** `write()` of the first `length` bytes of `buf`: the count, or WOULD_BLOCK. */
export function write(fd: number, buf: Uint8Array, length: number): number {
  span("write", buf, length);
  for (;;) {
    const r = Number(libc.write(fd, buf, length));
    if (r >= 0) return r;
    const o = outcome("write", readErrno());
    if (o !== INTERRUPTED) return o;
  }
}

/** `getsockname()` into `addr`; returns the address length the kernel reported. */
export function getsockname(fd: number, addr: Uint8Array, len: Uint32Array): number {
  span("getsockname", addr, len[0]!);
  if (libc.getsockname(fd, addr, len) !== 0) raise("getsockname", readErrno());
  return len[0] ?? 0;
}

/** `getpeername()` into `addr`; returns the address length the kernel reported. */
export function getpeername(fd: number, addr: Uint8Array, len: Uint32Array): number {
  span("getpeername", addr, len[0]!);
  if (libc.getpeername(fd, addr, len) !== 0) raise("getpeername", readErrno());
  return len[0] ?? 0;
}

/** `setsockopt()` with the first `length` bytes of `value`. */
export function setsockopt(fd: number, level: number, name: number, value: Uint8Array, length: number): void {
  span("setsockopt", value, length);
  if (libc.setsockopt(fd, level, name, value, length) !== 0) raise("setsockopt", readErrno());
}

/** `getsockopt()` into `value`; `len[0]` holds the room on entry; returns the length written. */
export function getsockopt(fd: number, level: number, name: number, value: Uint8Array, len: Uint32Array): number {
  span("getsockopt", value, len[0]!);
  if (libc.getsockopt(fd, level, name, value, len) !== 0) raise("getsockopt", readErrno());
  return len[0] ?? 0;
}

/** `fcntl()` with an int argument. */
export function fcntl(fd: number, cmd: number, arg: number): number {
  return retryingBlocking("fcntl", () => libc.fcntl(fd, cmd, arg));
}

const pollfd = table.structs.pollfd;
const pollBytes = new Uint8Array(pollfd.size);
const pollView = new DataView(pollBytes.buffer);
const LE = table.expressions.LITTLE_ENDIAN === 1;

/**
 * Waits until `fd` has any of `events` (POLLIN/POLLOUT) or `timeoutMs` passes (-1: forever).
 * Returns the revents (0 on timeout or EINTR, so the caller recomputes its deadline).
 */
export function pollOne(fd: number, events: number, timeoutMs: number): number {
  pollView.setInt32(pollfd.fields.fd.offset, fd, LE);
  pollView.setInt16(pollfd.fields.events.offset, events, LE);
  pollView.setInt16(pollfd.fields.revents.offset, 0, LE);
  const r = libc.poll(pollBytes, 1, timeoutMs);
  if (r > 0) return pollView.getInt16(pollfd.fields.revents.offset, LE);
  if (r === 0) return 0;
  const errno = readErrno();
  if (errno === E.EINTR) return 0;
  raise("poll", errno);
}

// --- sendfile -------------------------------------------------------------------------------------

/** Whether this platform has Linux's sendfile(2) wired (macOS's has another signature). */
export const hasSendfile = libc.sendfile !== undefined && libc.pthread_sigmask !== undefined && libc.sigtimedwait !== undefined;

const sigsetSize = table.sizes.sigset_t;
const pipeSet = new Uint8Array(sigsetSize);
const oldSet = new Uint8Array(sigsetSize);
const pendingSet = new Uint8Array(sigsetSize);
const zeroTime = new Uint8Array(table.structs.timespec.size);
let pipeSetReady = false;

/**
 * `sendfile(2)` from `inFd` to the socket `outFd`: bytes sent (0 at end of file), or
 * WOULD_BLOCK. `offset` holds an off_t the kernel reads and advances, or is null to use (and
 * advance) the file's own position. EINTR is retried.
 *
 * sendfile takes no MSG_NOSIGNAL, and a dead peer raises SIGPIPE, which kills a process that
 * restored the default action. So SIGPIPE is blocked in this thread for the call, and a
 * SIGPIPE the call raised (EPIPE) is consumed with sigtimedwait before unblocking, unless one
 * was already pending (that one is not ours to take): the technique of libcurl and OpenSSL.
 */
export function sendfile(outFd: number, inFd: number, offset: Uint8Array | null, count: number): number {
  if (!hasSendfile) throw new SocketError("sendfile", E.ENOSYS, { note: `sendfile(2) is Linux's; not wired on ${table.platform}` });
  if (offset !== null) check.fits("sendfile", "sizeof(off_t)", table.sizes.off_t, check.byteLength("sendfile", "offset", offset));
  const n = check.size("sendfile", "count", count);
  if (!pipeSetReady) {
    libc.sigemptyset!(pipeSet);
    libc.sigaddset!(pipeSet, C.SIGPIPE!);
    pipeSetReady = true;
  }
  libc.sigpending!(pendingSet);
  const alreadyPending = libc.sigismember!(pendingSet, C.SIGPIPE!) === 1;
  // pthread_sigmask returns its error number (it does not set errno).
  const err = libc.pthread_sigmask!(C.SIG_BLOCK!, pipeSet, oldSet);
  if (err !== 0) raise("pthread_sigmask", err);
  try {
    for (;;) {
      const r = libc.sendfile!(outFd, inFd, offset, n);
      if (r >= 0) return r;
      const errno = readErrno();
      if (errno === E.EPIPE && !alreadyPending) {
        // Take the SIGPIPE this call raised (a zero timeout: it is pending now or never was).
        // EAGAIN (none pending) comes back as WOULD_BLOCK; EINTR is retried.
        try {
          retrying("sigtimedwait", () => libc.sigtimedwait!(pipeSet, null, zeroTime));
        } catch { /* nothing to take: the EPIPE below is what matters */ }
      }
      const o = outcome("sendfile", errno);
      if (o !== INTERRUPTED) return o;
    }
  } finally {
    libc.pthread_sigmask!(C.SIG_SETMASK!, oldSet, null);
  }
}

/** Sets or clears O_NONBLOCK. */
export function setNonBlocking(fd: number, on: boolean): void {
  const flags = fcntl(fd, C.F_GETFL, 0);
  const next = on ? flags | C.O_NONBLOCK : flags & ~C.O_NONBLOCK;
  if (next !== flags) fcntl(fd, C.F_SETFL, next);
}

/** Sets FD_CLOEXEC (for platforms without SOCK_CLOEXEC/accept4, and for dup'ed fds). */
export function setCloseOnExec(fd: number): void {
  const flags = fcntl(fd, C.F_GETFD, 0);
  if (!(flags & C.FD_CLOEXEC)) fcntl(fd, C.F_SETFD, flags | C.FD_CLOEXEC);
}

/** Reads a C int option. */
const intBytes = new Uint8Array(4);
const intView = new DataView(intBytes.buffer);
const intLen = new Uint32Array(1);
export function getIntOption(fd: number, level: number, name: number): number {
  intLen[0] = 4;
  getsockopt(fd, level, name, intBytes, intLen);
  return intView.getInt32(0, LE);
}

/** Writes a C int option. */
export function setIntOption(fd: number, level: number, name: number, value: number): void {
  intView.setInt32(0, check.int32("setsockopt", "value", value), LE);
  setsockopt(fd, level, name, intBytes, 4);
}
