/**
 * The C-shaped layer: libc's socket API with C's names and C's contract, for near-literal
 * ports of C programs (see server.ts and client.ts).
 *
 * - Calls return what C returns (an fd, a count, 0) or -1, and then `errno()` holds the
 *   errno value, read immediately after the failing call. Like C, nothing is retried and
 *   errno is left unchanged by successful calls.
 * - `perror(s)` prints `s: <strerror(errno)>\n` on stderr, byte for byte as C's perror.
 * - Structs (`sockaddr_in`, ...) are byte-backed objects filled field by field; pass them
 *   where C passes `(struct sockaddr *)&addr`.
 *
 * Where C would have undefined behaviour this layer refuses before calling libc, so no JS
 * value can corrupt memory: a non-number or non-integer argument throws TypeError/RangeError;
 * a length larger than the buffer it describes (`send(fd, buf, 2048, 0)` with a 1024-byte
 * buffer, or `*addrlen` beyond the address struct) throws RangeError; a value outside the C
 * type (port 65536 to htons) throws RangeError. These are programming errors, not errno
 * conditions, so they are exceptions rather than -1. Everything the kernel itself checks
 * (a closed fd → EBADF, a bad family → EAFNOSUPPORT) is left to the kernel, as in C.
 */
import { writeSync } from "node:fs";
import { libc } from "../ffi/libc.ts";
import { readErrno } from "../ffi/errno.ts";
import { table } from "../ffi/platform.ts";
import * as check from "./core/check.ts";
import { strerror as messageOf } from "./core/errors.ts";

export { errnoName } from "./core/errors.ts";
import { CStruct, LITTLE_ENDIAN, in6_addr, in_addr } from "./core/structs.ts";

export {
  array, in6_addr, in_addr, linger, pollfd, sockaddr, sockaddr_in, sockaddr_in6, sockaddr_storage,
  sockaddr_un, timeval, type CArray,
} from "./core/structs.ts";

const C = table.constants;

/** Address families. */
export const { AF_UNSPEC, AF_UNIX, AF_LOCAL, AF_INET, AF_INET6 } = C;
/** Socket types (Linux also accepts SOCK_NONBLOCK | SOCK_CLOEXEC or-ed in). */
export const { SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET, SOCK_RDM, SOCK_NONBLOCK, SOCK_CLOEXEC } = C;
/** Protocols. */
export const { IPPROTO_IP, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_IPV6, IPPROTO_ICMPV6, IPPROTO_RAW } = C;
/** Option levels and common socket options. */
export const {
  SOL_SOCKET, SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, SO_BROADCAST, SO_ERROR, SO_TYPE, SO_LINGER,
  SO_RCVBUF, SO_SNDBUF, SO_RCVTIMEO, SO_SNDTIMEO, SO_ACCEPTCONN, TCP_NODELAY, IPV6_V6ONLY, IP_TTL,
} = C;
/** send/recv flags. */
export const {
  MSG_OOB, MSG_PEEK, MSG_DONTROUTE, MSG_TRUNC, MSG_CTRUNC, MSG_DONTWAIT, MSG_WAITALL, MSG_EOR, MSG_NOSIGNAL,
} = C;
/** shutdown() modes. */
export const { SHUT_RD, SHUT_WR, SHUT_RDWR } = C;
/** Special IPv4 addresses, in host byte order (use htonl before storing, except INADDR_ANY). */
export const { INADDR_ANY, INADDR_LOOPBACK, INADDR_BROADCAST, INADDR_NONE } = C;
/** Buffer sizes for inet_ntop. */
export const { INET_ADDRSTRLEN, INET6_ADDRSTRLEN, SOMAXCONN } = C;
/** fcntl() and poll() constants. */
export const { F_GETFL, F_SETFL, F_GETFD, F_SETFD, O_NONBLOCK, FD_CLOEXEC, POLLIN, POLLOUT, POLLERR, POLLHUP, POLLNVAL } = C;
/** exit() statuses. */
export const { EXIT_SUCCESS, EXIT_FAILURE } = C;
/** errno values, to compare with `errno()`. */
export const {
  EPERM, ENOENT, EINTR, EBADF, EAGAIN, EWOULDBLOCK, EACCES, EFAULT, EINVAL, EMFILE, EPIPE, ENOTSOCK,
  EDESTADDRREQ, EMSGSIZE, EPROTOTYPE, ENOPROTOOPT, EPROTONOSUPPORT, ESOCKTNOSUPPORT, EOPNOTSUPP,
  EAFNOSUPPORT, EADDRINUSE, EADDRNOTAVAIL, ENETUNREACH, ECONNABORTED, ECONNRESET, ENOBUFS, EISCONN,
  ENOTCONN, ETIMEDOUT, ECONNREFUSED, EHOSTUNREACH, EALREADY, EINPROGRESS, ENOSPC, ENAMETOOLONG,
} = table.errno;

// ---------------------------------------------------------------------------------------
// errno

let lastErrno = 0;

/** Records errno after a failed call; returns C's -1 (or the given failure value). */
function fail<T = number>(result: T = -1 as T): T {
  lastErrno = readErrno();
  return result;
}

/** The errno of the last failed call made through this layer (C's `errno`). */
export function errno(): number {
  return lastErrno;
}

/** Sets errno, like C's `errno = value` (e.g. `set_errno(0)` before a call). */
export function set_errno(value: number): void {
  lastErrno = check.int32("set_errno", "value", value);
}

/** libc's message for an errno value. */
export function strerror(errnum: number): string {
  return messageOf(errnum);
}

/** C's perror: prints `s: <message for errno>\n` (or just the message when `s` is empty) on stderr. */
export function perror(s?: string | null): void {
  const message = messageOf(lastErrno);
  writeAll(2, encoder.encode(s ? `${s}: ${message}\n` : `${message}\n`));
}

// ---------------------------------------------------------------------------------------
// byte order

const swap16 = (x: number): number => ((x & 0xff) << 8) | ((x >>> 8) & 0xff);
const swap32 = (x: number): number =>
  (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | ((x >>> 24) & 0xff)) >>> 0;

/** Host to network byte order, 16 bits. */
export function htons(x: number): number {
  check.unsigned("htons", "value", x, 16);
  return LITTLE_ENDIAN ? swap16(x) : x;
}
/** Network to host byte order, 16 bits. */
export function ntohs(x: number): number {
  check.unsigned("ntohs", "value", x, 16);
  return LITTLE_ENDIAN ? swap16(x) : x;
}
/** Host to network byte order, 32 bits. */
export function htonl(x: number): number {
  check.unsigned("htonl", "value", x, 32);
  return LITTLE_ENDIAN ? swap32(x) : x;
}
/** Network to host byte order, 32 bits. */
export function ntohl(x: number): number {
  check.unsigned("ntohl", "value", x, 32);
  return LITTLE_ENDIAN ? swap32(x) : x;
}

// ---------------------------------------------------------------------------------------
// memory helpers with C's names

/** Anything with a size in bytes: a struct object, a struct class, or a buffer. */
export type Sized = CStruct | { readonly size: number } | ArrayBufferView;

/** C's sizeof: `sizeof(server_addr)`, `sizeof(sockaddr_in)`, `sizeof(buffer)`. */
export function sizeof(x: Sized): number {
  if (x instanceof CStruct) return CStruct.storage(x).byteLength;
  if (ArrayBuffer.isView(x)) return check.byteLength("sizeof", "x", x);
  if (typeof x === "function" || (typeof x === "object" && x !== null && "size" in x)) return x.size;
  throw new TypeError("sizeof: expected a struct, a struct class or a buffer");
}

/**
 * Bytes of a struct or buffer argument, and their real length. A struct's memory is read from
 * its private field; a buffer's length through the built-in getter (never a shadowed one).
 */
function memory(fn: string, what: string, x: CStruct | ArrayBufferView): Uint8Array {
  return x instanceof CStruct ? CStruct.storage(x) : check.bytes(fn, what, x);
}
const sizeOf = (fn: string, what: string, b: Uint8Array): number => check.byteLength(fn, what, b);

/** C's memset on a buffer or struct; `n` may not exceed its size. */
export function memset(s: CStruct | ArrayBufferView, c: number, n: number): void {
  const b = memory("memset", "s", s);
  check.int32("memset", "c", c);
  check.fits("memset", "n", check.size("memset", "n", n), sizeOf("memset", "s", b));
  b.fill(c & 0xff, 0, n);
}

/** C's strlen: bytes before the first NUL (or the whole buffer if it has none, instead of overrunning). */
export function strlen(s: ArrayBufferView | string): number {
  if (typeof s === "string") return encoder.encode(s).length;
  const b = check.freshView("strlen", "s", s);
  const nul = b.indexOf(0);
  return nul < 0 ? b.byteLength : nul;
}

/** C's strncpy into a buffer: copies at most n bytes of src, NUL-padding the rest of the n. */
export function strncpy(dst: ArrayBufferView, src: string | ArrayBufferView, n: number): void {
  const d = check.freshView("strncpy", "dst", dst);
  check.fits("strncpy", "n", check.size("strncpy", "n", n), d.byteLength);
  const s = typeof src === "string" ? encoder.encode(src) : check.freshView("strncpy", "src", src);
  const len = Math.min(strlen(s), n);
  d.set(s.subarray(0, len), 0);
  d.fill(0, len, n);
}

/** A `char buf[size]` initialised from a string, like `char buffer[1024] = "Hola";`. */
export function char(size: number, init = ""): Uint8Array {
  const b = check.allocate("char", "size", size);
  const s = encoder.encode(init);
  check.fits("char", "initializer length", s.length, size);
  b.set(s);
  return b;
}

/** The text of a NUL-terminated buffer (bytes before the first NUL), decoded as UTF-8. */
export function cstr(b: ArrayBufferView): string {
  const bytes = check.freshView("cstr", "buffer", b);
  return decoder.decode(bytes.subarray(0, strlen(bytes)));
}

/** `socklen_t` you can pass by pointer: `const len = new socklen_t(sizeof(addr)); accept(fd, addr, len)`. */
export class socklen_t {
  // Private: libc reads and writes exactly this memory, and the checks read exactly this value.
  readonly #bytes = new Uint32Array(1);
  /** A socklen_t holding `value` (e.g. `sizeof(addr)`). */
  constructor(value = 0) { this.value = value; }
  /** The length (C's `*addrlen`): set it before the call, read what the kernel wrote after. */
  get value(): number { return this.#bytes[0]!; }
  set value(v: number) { this.#bytes[0] = check.uint32("socklen_t", "value", v); }
  /** The four bytes libc reads and writes (a live view). */
  get bytes(): Uint32Array { return this.#bytes; }
  /** The memory of a real socklen_t (not a subclass override or a look-alike). */
  static storage(l: socklen_t): Uint32Array {
    if (!(l instanceof socklen_t)) throw new TypeError("expected a socklen_t");
    return l.#bytes;
  }
}

// ---------------------------------------------------------------------------------------
// stdio

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}

/** A printf argument: numbers for %d/%u/%x/%c, strings or NUL-terminated buffers for %s. */
export type PrintfArg = number | bigint | string | ArrayBufferView;

/**
 * C's sprintf, returning bytes: %d %i %u %x %X %o %c %s %p %%, with flags (-, 0, +, space),
 * width, precision and length modifiers (ignored, as JS numbers are wide). `%s` of a buffer
 * prints its raw bytes up to the first NUL (bounded by the buffer, never past it).
 */
export function format(fmt: string, ...args: PrintfArg[]): Uint8Array {
  const out: Uint8Array[] = [];
  let i = 0;
  const next = (spec: string): PrintfArg => {
    if (i >= args.length) throw new TypeError(`printf: missing argument for %${spec}`);
    return args[i++] as PrintfArg;
  };
  const re = /%([-+ 0#]*)(\d+|\*)?(?:\.(\d+|\*))?(?:hh|h|ll|l|z|j|t|L)?([diouxXcsp%])/g;
  let last = 0;
  for (let m = re.exec(fmt); m; m = re.exec(fmt)) {
    out.push(encoder.encode(fmt.slice(last, m.index)));
    last = re.lastIndex;
    const [, flags = "", w, p, conv = ""] = m;
    if (conv === "%") { out.push(encoder.encode("%")); continue; }
    const width = w === "*" ? Number(next("*")) : w ? Number(w) : 0;
    const prec = p === "*" ? Number(next("*")) : p !== undefined ? Number(p) : undefined;
    let body: Uint8Array;
    if (conv === "s") {
      const a = next("s");
      let b = typeof a === "string" ? encoder.encode(a) : ArrayBuffer.isView(a) ? check.bytes("printf", "%s", a) : encoder.encode(String(a));
      b = b.subarray(0, strlen(b));
      if (prec !== undefined) b = b.subarray(0, prec);
      body = b;
    } else if (conv === "c") {
      body = Uint8Array.of(Number(next("c")) & 0xff);
    } else {
      const a = next(conv);
      if (typeof a !== "number" && typeof a !== "bigint") throw new TypeError(`printf: %${conv} needs a number`);
      let n = BigInt(typeof a === "number" ? Math.trunc(a) : a);
      const unsigned = "ouxXp".includes(conv);
      if (unsigned && n < 0n) n += 1n << 64n;
      const neg = n < 0n;
      let digits = (neg ? -n : n).toString(conv === "o" ? 8 : "xXp".includes(conv) ? 16 : 10);
      if (conv === "X") digits = digits.toUpperCase();
      if (prec !== undefined) digits = digits.padStart(prec, "0");
      let sign = neg ? "-" : flags.includes("+") && !unsigned ? "+" : flags.includes(" ") && !unsigned ? " " : "";
      if (conv === "p" || (flags.includes("#") && "xX".includes(conv) && n !== 0n)) sign += conv === "X" ? "0X" : "0x";
      if (flags.includes("0") && !flags.includes("-") && prec === undefined) digits = digits.padStart(width - sign.length, "0");
      body = encoder.encode(sign + digits);
    }
    const pad = Math.max(0, width - body.length);
    if (pad === 0) out.push(body);
    else if (flags.includes("-")) out.push(body, new Uint8Array(pad).fill(0x20));
    else out.push(new Uint8Array(pad).fill(0x20), body);
  }
  out.push(encoder.encode(fmt.slice(last)));
  const total = out.reduce((s, b) => s + b.length, 0);
  const result = new Uint8Array(total);
  let off = 0;
  for (const b of out) { result.set(b, off); off += b.length; }
  return result;
}

/** C's printf to stdout (written immediately, so output order matches the call order). */
export function printf(fmt: string, ...args: PrintfArg[]): number {
  const bytes = format(fmt, ...args);
  writeAll(1, bytes);
  return bytes.length;
}

/** C's fprintf to stderr. */
export function eprintf(fmt: string, ...args: PrintfArg[]): number {
  const bytes = format(fmt, ...args);
  writeAll(2, bytes);
  return bytes.length;
}

/** C's exit. */
export function exit(status: number): never {
  process.exit(check.int32("exit", "status", status));
}

// ---------------------------------------------------------------------------------------
// sockets

/** An address argument: a sockaddr struct object or raw bytes. */
export type SockaddrArg = CStruct | ArrayBufferView;

/** Checks an (address, length) pair going in: the length must fit in the struct. */
function addressIn(fn: string, addr: SockaddrArg | null, addrlen: number): Uint8Array | null {
  check.uint32(fn, "addrlen", addrlen);
  if (addr === null) return null;
  const b = memory(fn, "addr", addr);
  check.fits(fn, "addrlen", addrlen, sizeOf(fn, "addr", b));
  return b;
}

/** Checks an (address, *length) pair coming back: *length (as libc will read it) must fit. */
function addressOut(fn: string, addr: SockaddrArg | null, addrlen: socklen_t | null): [Uint8Array | null, Uint32Array | null] {
  if (addr === null) return [null, addrlen === null ? null : lenBytes(fn, addrlen)];
  if (addrlen === null) throw new TypeError(`${fn}: addrlen is required when addr is given`);
  const b = memory(fn, "addr", addr);
  const l = lenBytes(fn, addrlen);
  check.fits(fn, "*addrlen", l[0]!, sizeOf(fn, "addr", b));
  return [b, l];
}

function lenBytes(fn: string, addrlen: socklen_t): Uint32Array {
  if (!(addrlen instanceof socklen_t)) throw new TypeError(`${fn}: addrlen must be a socklen_t`);
  return socklen_t.storage(addrlen);
}

function fdArg(fn: string, fd: number): number {
  return check.int32(fn, "sockfd", fd);
}

/** Checks a (buffer, length) pair: the kernel never sees a length beyond the buffer. */
function bufferArg(fn: string, buf: ArrayBufferView | string, len: number): Uint8Array {
  // Hot path: a genuine Uint8Array (its real length, one built-in getter call) and an integer
  // length within it. Anything else takes the full checks and their precise errors.
  if (buf instanceof Uint8Array && typeof len === "number" && len >>> 0 === len && len <= check.typedLengthOrNone(buf)) return buf;
  const b = typeof buf === "string" ? encoder.encode(buf) : check.bytes(fn, "buf", buf);
  check.fits(fn, "len", check.size(fn, "len", len), sizeOf(fn, "buf", b));
  return b;
}

/** A buffer the kernel writes into: a string would be a temporary copy, so it is refused. */
function outBufferArg(fn: string, buf: ArrayBufferView, len: number): Uint8Array {
  if (typeof buf === "string") throw new TypeError(`${fn}: buf must be a buffer to receive into, not a string`);
  return bufferArg(fn, buf, len);
}

/** `int socket(int domain, int type, int protocol)`. */
export function socket(domain: number, type: number, protocol: number): number {
  const r = libc.socket(check.int32("socket", "domain", domain), check.int32("socket", "type", type), check.int32("socket", "protocol", protocol));
  return r < 0 ? fail() : r;
}

/** `int socketpair(int domain, int type, int protocol, int sv[2])`; `sv` is an Int32Array of length ≥ 2. */
export function socketpair(domain: number, type: number, protocol: number, sv: Int32Array): number {
  if (!(sv instanceof Int32Array)) throw new TypeError("socketpair: sv must be an Int32Array(2)");
  check.fits("socketpair", "2 fds (bytes)", 8, check.byteLength("socketpair", "sv", sv));
  const r = libc.socketpair(check.int32("socketpair", "domain", domain), check.int32("socketpair", "type", type), check.int32("socketpair", "protocol", protocol), sv);
  return r < 0 ? fail() : r;
}

/** `int bind(int sockfd, const struct sockaddr *addr, socklen_t addrlen)`. */
export function bind(sockfd: number, addr: SockaddrArg | null, addrlen: number): number {
  const fd = fdArg("bind", sockfd);
  const r = libc.bind(fd, addressIn("bind", addr, addrlen), addrlen);
  return r < 0 ? fail() : r;
}

/** `int connect(int sockfd, const struct sockaddr *addr, socklen_t addrlen)`. */
export function connect(sockfd: number, addr: SockaddrArg | null, addrlen: number): number {
  const fd = fdArg("connect", sockfd);
  const r = libc.connect(fd, addressIn("connect", addr, addrlen), addrlen);
  return r < 0 ? fail() : r;
}

/** `int listen(int sockfd, int backlog)`. */
export function listen(sockfd: number, backlog: number): number {
  const r = libc.listen(fdArg("listen", sockfd), check.int32("listen", "backlog", backlog));
  return r < 0 ? fail() : r;
}

/** `int accept(int sockfd, struct sockaddr *addr, socklen_t *addrlen)`; addr and addrlen may be null. */
export function accept(sockfd: number, addr: SockaddrArg | null, addrlen: socklen_t | null): number {
  const fd = fdArg("accept", sockfd);
  const [a, l] = addressOut("accept", addr, addrlen);
  const r = libc.accept(fd, a, l);
  return r < 0 ? fail() : r;
}

/** `int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags)` (Linux). */
export function accept4(sockfd: number, addr: SockaddrArg | null, addrlen: socklen_t | null, flags: number): number {
  const fd = fdArg("accept4", sockfd);
  const [a, l] = addressOut("accept4", addr, addrlen);
  const fl = check.int32("accept4", "flags", flags);
  if (!libc.accept4) throw new Error("accept4: not available on this platform");
  const r = libc.accept4(fd, a, l, fl);
  return r < 0 ? fail() : r;
}

/** `int getsockname(int sockfd, struct sockaddr *addr, socklen_t *addrlen)`. */
export function getsockname(sockfd: number, addr: SockaddrArg, addrlen: socklen_t): number {
  const fd = fdArg("getsockname", sockfd);
  const [a, l] = addressOut("getsockname", addr, addrlen);
  const r = libc.getsockname(fd, a, l);
  return r < 0 ? fail() : r;
}

/** `int getpeername(int sockfd, struct sockaddr *addr, socklen_t *addrlen)`. */
export function getpeername(sockfd: number, addr: SockaddrArg, addrlen: socklen_t): number {
  const fd = fdArg("getpeername", sockfd);
  const [a, l] = addressOut("getpeername", addr, addrlen);
  const r = libc.getpeername(fd, a, l);
  return r < 0 ? fail() : r;
}

/** `ssize_t send(int sockfd, const void *buf, size_t len, int flags)`; a string is sent as UTF-8. */
export function send(sockfd: number, buf: ArrayBufferView | string, len: number, flags: number): number {
  const fd = fdArg("send", sockfd);
  const b = bufferArg("send", buf, len);
  const r = libc.send(fd, b, len, check.int32("send", "flags", flags));
  return r < 0 ? fail() : r;
}

/** `ssize_t recv(int sockfd, void *buf, size_t len, int flags)`. */
export function recv(sockfd: number, buf: ArrayBufferView, len: number, flags: number): number {
  const fd = fdArg("recv", sockfd);
  const b = outBufferArg("recv", buf, len);
  const r = libc.recv(fd, b, len, check.int32("recv", "flags", flags));
  return r < 0 ? fail() : r;
}

/** `ssize_t sendto(int sockfd, const void *buf, size_t len, int flags, const struct sockaddr *dest_addr, socklen_t addrlen)`. */
export function sendto(sockfd: number, buf: ArrayBufferView | string, len: number, flags: number, dest_addr: SockaddrArg | null, addrlen: number): number {
  const fd = fdArg("sendto", sockfd);
  const b = bufferArg("sendto", buf, len);
  const a = addressIn("sendto", dest_addr, addrlen);
  const r = libc.sendto(fd, b, len, check.int32("sendto", "flags", flags), a, addrlen);
  return r < 0 ? fail() : r;
}

/** `ssize_t recvfrom(int sockfd, void *buf, size_t len, int flags, struct sockaddr *src_addr, socklen_t *addrlen)`. */
export function recvfrom(sockfd: number, buf: ArrayBufferView, len: number, flags: number, src_addr: SockaddrArg | null, addrlen: socklen_t | null): number {
  const fd = fdArg("recvfrom", sockfd);
  const b = outBufferArg("recvfrom", buf, len);
  const [a, l] = addressOut("recvfrom", src_addr, addrlen);
  const r = libc.recvfrom(fd, b, len, check.int32("recvfrom", "flags", flags), a, l);
  return r < 0 ? fail() : r;
}

/** `ssize_t read(int fd, void *buf, size_t count)`. */
export function read(fd: number, buf: ArrayBufferView, count: number): number {
  const f = check.int32("read", "fd", fd);
  const b = outBufferArg("read", buf, count);
  const r = libc.read(f, b, count);
  return r < 0 ? fail() : r;
}

/** `ssize_t write(int fd, const void *buf, size_t count)`. */
export function write(fd: number, buf: ArrayBufferView | string, count: number): number {
  const f = check.int32("write", "fd", fd);
  const b = bufferArg("write", buf, count);
  const r = libc.write(f, b, count);
  return r < 0 ? fail() : r;
}

/** `int shutdown(int sockfd, int how)`. */
export function shutdown(sockfd: number, how: number): number {
  const r = libc.shutdown(fdArg("shutdown", sockfd), check.int32("shutdown", "how", how));
  return r < 0 ? fail() : r;
}

/** `int close(int fd)`. Like C, closing twice closes whatever now has that number; the Socket class guards this. */
export function close(fd: number): number {
  const r = libc.close(check.int32("close", "fd", fd));
  return r < 0 ? fail() : r;
}

/** An option value: a struct, a buffer, or (setsockopt only) a number sent as a C int. */
export type OptvalArg = CStruct | ArrayBufferView;

/** `int setsockopt(int sockfd, int level, int optname, const void *optval, socklen_t optlen)`. */
export function setsockopt(sockfd: number, level: number, optname: number, optval: OptvalArg | null, optlen: number): number {
  const fd = fdArg("setsockopt", sockfd);
  check.uint32("setsockopt", "optlen", optlen);
  const v = optval === null ? null : memory("setsockopt", "optval", optval);
  if (v) check.fits("setsockopt", "optlen", optlen, sizeOf("setsockopt", "optval", v));
  const r = libc.setsockopt(fd, check.int32("setsockopt", "level", level), check.int32("setsockopt", "optname", optname), v, optlen);
  return r < 0 ? fail() : r;
}

/** `int getsockopt(int sockfd, int level, int optname, void *optval, socklen_t *optlen)`. */
export function getsockopt(sockfd: number, level: number, optname: number, optval: OptvalArg | null, optlen: socklen_t | null): number {
  const fd = fdArg("getsockopt", sockfd);
  const v = optval === null ? null : memory("getsockopt", "optval", optval);
  const l = optlen === null ? null : lenBytes("getsockopt", optlen);
  if (v) {
    if (l === null) throw new TypeError("getsockopt: optlen is required when optval is given");
    check.fits("getsockopt", "*optlen", l[0]!, sizeOf("getsockopt", "optval", v));
  }
  const r = libc.getsockopt(fd, check.int32("getsockopt", "level", level), check.int32("getsockopt", "optname", optname), v, l);
  return r < 0 ? fail() : r;
}

/** `int fcntl(int fd, int cmd, int arg)`: the integer-argument commands (F_GETFL, F_SETFL, F_GETFD, F_SETFD, F_DUPFD...). */
export function fcntl(fd: number, cmd: number, arg = 0): number {
  const r = libc.fcntl(check.int32("fcntl", "fd", fd), check.int32("fcntl", "cmd", cmd), check.int32("fcntl", "arg", arg));
  return r < 0 ? fail() : r;
}

/** `int poll(struct pollfd *fds, nfds_t nfds, int timeout)`; fds from `array(pollfd, n)`. */
export function poll(fds: { readonly bytes: Uint8Array } | ArrayBufferView | null, nfds: number, timeout: number): number {
  check.size("poll", "nfds", nfds);
  const b = fds === null ? null : ArrayBuffer.isView(fds) ? check.bytes("poll", "fds", fds) : check.freshView("poll", "fds.bytes", fds.bytes);
  check.fits("poll", "nfds × sizeof(struct pollfd) =", nfds * table.structs.pollfd.size, b === null ? 0 : sizeOf("poll", "fds", b));
  const r = libc.poll(b, nfds, check.int32("poll", "timeout", timeout));
  return r < 0 ? fail() : r;
}

// ---------------------------------------------------------------------------------------
// addresses

const addressSizes = new Map<number, number>([[AF_INET, in_addr.size], [AF_INET6, in6_addr.size]]);

/** The NUL-terminated bytes of a JS string, or null if it contains a NUL (which C would cut short). */
function cString(s: string): Uint8Array | null {
  if (s.includes("\0")) return null;
  return encoder.encode(`${s}\0`);
}

/**
 * `int inet_pton(int af, const char *src, void *dst)`: 1 on success, 0 if src is not a valid
 * address, -1 with errno EAFNOSUPPORT for an unknown family. dst: in_addr, in6_addr or bytes.
 */
export function inet_pton(af: number, src: string, dst: CStruct | ArrayBufferView): number {
  check.int32("inet_pton", "af", af);
  if (typeof src !== "string") throw new TypeError("inet_pton: src must be a string");
  const d = memory("inet_pton", "dst", dst);
  const need = addressSizes.get(af);
  if (need === undefined) { lastErrno = table.errno.EAFNOSUPPORT; return -1; }
  check.fits("inet_pton", "address size", need, sizeOf("inet_pton", "dst", d));
  const s = cString(src);
  if (s === null) return 0;
  const r = libc.inet_pton(af, s, d);
  return r < 0 ? fail() : r;
}

/**
 * `const char *inet_ntop(int af, const void *src, char *dst, socklen_t size)`: the text of the
 * address, also written NUL-terminated into dst when given; null with errno ENOSPC if `size`
 * is too small, EAFNOSUPPORT for an unknown family.
 */
export function inet_ntop(af: number, src: CStruct | ArrayBufferView, dst?: ArrayBufferView | null, size?: number): string | null {
  check.int32("inet_ntop", "af", af);
  const s = memory("inet_ntop", "src", src);
  const need = addressSizes.get(af);
  if (need === undefined) { lastErrno = table.errno.EAFNOSUPPORT; return null; }
  check.fits("inet_ntop", "address size", need, sizeOf("inet_ntop", "src", s));
  const out = dst == null ? new Uint8Array(INET6_ADDRSTRLEN) : check.freshView("inet_ntop", "dst", dst);
  const n = size ?? out.byteLength;
  check.fits("inet_ntop", "size", check.uint32("inet_ntop", "size", n), out.byteLength);
  const p = libc.inet_ntop(af, s, out, n);
  if (!p) return fail(null);
  return cstr(out);
}
