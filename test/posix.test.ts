/**
 * The C-shaped layer on real sockets: each call's result and errno on real failures, byte
 * order, address conversion, struct bytes compared with what a C program puts in the same
 * struct, and perror's output compared with C's perror.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, openSync } from "node:fs";
import { platformKey } from "../ffi/platform.ts";
import * as P from "../src/posix.ts";
import { bun, compileC, expectNoFdLeaks, noCompilerReason, run, scratchDir } from "./helpers.ts";

expectNoFdLeaks();

/** fds opened by a test, closed at the end even if the test failed. */
const opened: number[] = [];
function track(fd: number): number {
  expect(fd).toBeGreaterThanOrEqual(0);
  opened.push(fd);
  return fd;
}
afterEach(() => { for (const fd of opened.splice(0)) P.close(fd); });

/** A number no fd of this process has (far above anything Bun or the tests open). */
const UNUSED_FD = 987_654;

function loopback(port: number): P.sockaddr_in {
  const a = new P.sockaddr_in();
  a.sin_family = P.AF_INET;
  a.sin_port = P.htons(port);
  a.sin_addr.s_addr = P.htonl(P.INADDR_LOOPBACK);
  return a;
}

function portOf(fd: number): number {
  const a = new P.sockaddr_in();
  const len = new P.socklen_t(P.sizeof(a));
  expect(P.getsockname(fd, a, len)).toBe(0);
  return P.ntohs(a.sin_port);
}

/** A listening TCP socket on 127.0.0.1 with a kernel-chosen port. */
function listener(): { fd: number; port: number } {
  const fd = track(P.socket(P.AF_INET, P.SOCK_STREAM, 0));
  expect(P.bind(fd, loopback(0), P.sockaddr_in.size)).toBe(0);
  expect(P.listen(fd, 8)).toBe(0);
  return { fd, port: portOf(fd) };
}

/** Expects a call to have failed with -1 and the given errno. */
function expectErrno(result: number, errno: number): void {
  expect(result).toBe(-1);
  expect(P.errnoName(P.errno())).toBe(P.errnoName(errno));
}

describe("errno on real failures", () => {
  test("EBADF: calls on an fd that is not open", () => {
    expectErrno(P.close(UNUSED_FD), P.EBADF);
    expectErrno(P.send(UNUSED_FD, "x", 1, 0), P.EBADF);
    expectErrno(P.listen(UNUSED_FD, 1), P.EBADF);
    expectErrno(P.shutdown(UNUSED_FD, P.SHUT_RDWR), P.EBADF);
  });

  test("EBADF: a socket used after close", () => {
    const fd = P.socket(P.AF_INET, P.SOCK_STREAM, 0);
    expect(fd).toBeGreaterThanOrEqual(0);
    expect(P.close(fd)).toBe(0);
    expectErrno(P.listen(fd, 1), P.EBADF);
  });

  test("errno is kept from the failing call, even after other JS and successful calls", () => {
    expectErrno(P.close(UNUSED_FD), P.EBADF);
    console.log("(console output between the call and errno(), which can set the real errno to ENOTTY)");
    const fd = track(P.socket(P.AF_INET, P.SOCK_DGRAM, 0)); // success leaves errno alone, as in C
    expect(fd).toBeGreaterThan(2);
    expect(P.errno()).toBe(P.EBADF);
  });

  test("ECONNREFUSED: connect to a port nobody listens on", () => {
    const { fd: l, port } = listener();
    P.close(l); opened.splice(opened.indexOf(l), 1); // now nothing listens on port
    const fd = track(P.socket(P.AF_INET, P.SOCK_STREAM, 0));
    expectErrno(P.connect(fd, loopback(port), P.sockaddr_in.size), P.ECONNREFUSED);
  });

  test("EADDRINUSE: bind to a port another socket listens on", () => {
    const { port } = listener();
    const fd = track(P.socket(P.AF_INET, P.SOCK_STREAM, 0));
    expectErrno(P.bind(fd, loopback(port), P.sockaddr_in.size), P.EADDRINUSE);
  });

  test("EAFNOSUPPORT, EINVAL, EPROTONOSUPPORT: bad socket() arguments", () => {
    expectErrno(P.socket(12345, P.SOCK_STREAM, 0), P.EAFNOSUPPORT);
    expectErrno(P.socket(P.AF_INET, 9999, 0), P.EINVAL);
    expectErrno(P.socket(P.AF_INET, P.SOCK_STREAM, P.IPPROTO_UDP), P.EPROTONOSUPPORT);
  });

  test("EINVAL: addrlen too short for the family; EAFNOSUPPORT: wrong family in the address", () => {
    const fd = track(P.socket(P.AF_INET, P.SOCK_STREAM, 0));
    expectErrno(P.bind(fd, loopback(0), 2), P.EINVAL);
    const six = new P.sockaddr_in6();
    six.sin6_family = P.AF_INET6;
    expectErrno(P.bind(fd, six, P.sockaddr_in6.size), P.EAFNOSUPPORT);
  });

  test("ENOTCONN: peer address, recv and shutdown on an unconnected TCP socket", () => {
    const fd = track(P.socket(P.AF_INET, P.SOCK_STREAM, 0));
    const a = new P.sockaddr_in();
    expectErrno(P.getpeername(fd, a, new P.socklen_t(P.sizeof(a))), P.ENOTCONN);
    expectErrno(P.recv(fd, new Uint8Array(8), 8, P.MSG_DONTWAIT), P.ENOTCONN);
    expectErrno(P.shutdown(fd, P.SHUT_RDWR), P.ENOTCONN);
  });

  test("EISCONN: connect twice; EINVAL: accept on a socket that is not listening", () => {
    const { fd: l, port } = listener();
    const fd = track(P.socket(P.AF_INET, P.SOCK_STREAM, 0));
    expect(P.connect(fd, loopback(port), P.sockaddr_in.size)).toBe(0);
    expectErrno(P.connect(fd, loopback(port), P.sockaddr_in.size), P.EISCONN);
    track(P.accept(l, null, null));
    expectErrno(P.accept(fd, null, null), P.EINVAL);
  });

  test("EOPNOTSUPP: listen on a datagram socket", () => {
    const fd = track(P.socket(P.AF_INET, P.SOCK_DGRAM, 0));
    expectErrno(P.listen(fd, 1), P.EOPNOTSUPP);
  });

  test("EPIPE: send after the peer closed, with MSG_NOSIGNAL (no SIGPIPE)", () => {
    const sv = new Int32Array(2);
    expect(P.socketpair(P.AF_UNIX, P.SOCK_STREAM, 0, sv)).toBe(0);
    track(sv[0]!);
    expect(P.close(sv[1]!)).toBe(0);
    expectErrno(P.send(sv[0]!, "x", 1, P.MSG_NOSIGNAL!), P.EPIPE);
  });

  test("EAGAIN: non-blocking recv with nothing to read", () => {
    const sv = new Int32Array(2);
    expect(P.socketpair(P.AF_UNIX, P.SOCK_DGRAM, 0, sv)).toBe(0);
    track(sv[0]!); track(sv[1]!);
    expectErrno(P.recv(sv[0]!, new Uint8Array(4), 4, P.MSG_DONTWAIT), P.EAGAIN);
  });

  test("ENOTSOCK: a socket call on a regular file; ENOPROTOOPT: unknown option", () => {
    const file = openSync("/dev/null", "r");
    try {
      expectErrno(P.listen(file, 1), P.ENOTSOCK);
    } finally {
      closeSync(file);
    }
    const fd = track(P.socket(P.AF_INET, P.SOCK_STREAM, 0));
    const v = new Int32Array(1);
    expectErrno(P.getsockopt(fd, P.SOL_SOCKET, 99999, v, new P.socklen_t(4)), P.ENOPROTOOPT);
  });
});

describe("a full exchange through the C-shaped calls", () => {
  test("socket → bind → listen → accept / connect → send/recv → shutdown → close", () => {
    const { fd: l, port } = listener();
    const c = track(P.socket(P.AF_INET, P.SOCK_STREAM, 0));
    expect(P.connect(c, loopback(port), P.sockaddr_in.size)).toBe(0);
    const peer = new P.sockaddr_in();
    const len = new P.socklen_t(P.sizeof(peer));
    const s = track(P.accept(l, peer, len));
    expect(len.value).toBe(P.sockaddr_in.size);
    expect(peer.sin_family).toBe(P.AF_INET);
    expect(P.ntohs(peer.sin_port)).toBe(portOf(c));
    expect(P.inet_ntop(P.AF_INET, peer.sin_addr)).toBe("127.0.0.1");

    expect(P.send(c, "ping", 4, 0)).toBe(4);
    const buf = new Uint8Array(16);
    expect(P.recv(s, buf, buf.length, 0)).toBe(4);
    expect(P.cstr(buf)).toBe("ping");
    expect(P.shutdown(c, P.SHUT_WR)).toBe(0);
    expect(P.recv(s, buf, buf.length, 0)).toBe(0); // orderly EOF
  });

  test("sendto/recvfrom report the sender's address", () => {
    const a = track(P.socket(P.AF_INET, P.SOCK_DGRAM, 0));
    const b = track(P.socket(P.AF_INET, P.SOCK_DGRAM, 0));
    expect(P.bind(a, loopback(0), P.sockaddr_in.size)).toBe(0);
    expect(P.bind(b, loopback(0), P.sockaddr_in.size)).toBe(0);
    expect(P.sendto(a, "hola", 4, 0, loopback(portOf(b)), P.sockaddr_in.size)).toBe(4);
    const from = new P.sockaddr_in();
    const len = new P.socklen_t(P.sizeof(from));
    const buf = new Uint8Array(8);
    expect(P.recvfrom(b, buf, 8, 0, from, len)).toBe(4);
    expect(P.ntohs(from.sin_port)).toBe(portOf(a));
    expect(P.inet_ntop(P.AF_INET, from.sin_addr)).toBe("127.0.0.1");
  });

  test("setsockopt/getsockopt round trip an int option", () => {
    const fd = track(P.socket(P.AF_INET, P.SOCK_STREAM, 0));
    const one = new Int32Array([1]);
    expect(P.setsockopt(fd, P.SOL_SOCKET, P.SO_REUSEADDR, one, 4)).toBe(0);
    const out = new Int32Array(1);
    const len = new P.socklen_t(4);
    expect(P.getsockopt(fd, P.SOL_SOCKET, P.SO_REUSEADDR, out, len)).toBe(0);
    expect(out[0]).toBe(1);
    expect(P.getsockopt(fd, P.SOL_SOCKET, P.SO_TYPE, out, len)).toBe(0);
    expect(out[0]).toBe(P.SOCK_STREAM);
  });

  test("fcntl sets O_NONBLOCK; poll reports readiness", () => {
    const sv = new Int32Array(2);
    expect(P.socketpair(P.AF_UNIX, P.SOCK_STREAM, 0, sv)).toBe(0);
    const [x, y] = [track(sv[0]!), track(sv[1]!)];
    const flags = P.fcntl(x, P.F_GETFL);
    expect(P.fcntl(x, P.F_SETFL, flags | P.O_NONBLOCK)).toBe(0);
    expect(P.fcntl(x, P.F_GETFL) & P.O_NONBLOCK).toBe(P.O_NONBLOCK);
    expectErrno(P.recv(x, new Uint8Array(1), 1, 0), P.EAGAIN);

    const fds = P.array(P.pollfd, 1);
    fds[0]!.fd = x;
    fds[0]!.events = P.POLLIN;
    expect(P.poll(fds, 1, 0)).toBe(0);
    expect(P.write(y, "z", 1)).toBe(1);
    expect(P.poll(fds, 1, 1000)).toBe(1);
    expect(fds[0]!.revents & P.POLLIN).toBe(P.POLLIN);
  });
});

describe("byte order and address text", () => {
  test("htons/htonl/ntohs/ntohl swap on this little-endian host and reject out-of-range values", () => {
    expect(P.htons(8080)).toBe(0x901f);
    expect(P.ntohs(0x901f)).toBe(8080);
    expect(P.htonl(P.INADDR_LOOPBACK)).toBe(0x0100007f);
    expect(P.ntohl(0x0100007f)).toBe(0x7f000001);
    expect(P.htonl(0xfffffffe)).toBe(0xfeffffff);
    expect(() => P.htons(65536)).toThrow(RangeError);
    expect(() => P.htonl(-1)).toThrow(RangeError);
  });

  test("inet_pton/inet_ntop for IPv4 and IPv6, with C's return values", () => {
    const a = new P.in_addr();
    expect(P.inet_pton(P.AF_INET, "192.0.2.33", a)).toBe(1);
    expect([...a.bytes]).toEqual([192, 0, 2, 33]);
    expect(P.inet_ntop(P.AF_INET, a)).toBe("192.0.2.33");
    expect(P.inet_pton(P.AF_INET, "256.1.1.1", a)).toBe(0);
    expect(P.inet_pton(P.AF_INET, "127.0.0.1\0junk", a)).toBe(0);
    const six = new P.in6_addr();
    expect(P.inet_pton(P.AF_INET6, "::ffff:10.0.0.1", six)).toBe(1);
    expect(P.inet_ntop(P.AF_INET6, six)).toBe("::ffff:10.0.0.1");
    expect(P.inet_pton(P.AF_INET6, "2001:db8::1", six)).toBe(1);
    expect(P.inet_ntop(P.AF_INET6, six)).toBe("2001:db8::1");
    expectErrno(P.inet_pton(12345, "1.2.3.4", a), P.EAFNOSUPPORT);
    expect(P.inet_ntop(P.AF_INET6, six, new Uint8Array(4), 4)).toBeNull();
    expect(P.errnoName(P.errno())).toBe("ENOSPC");
  });
});

/** scripts/cross/run.sh sets this under qemu-user, where the foreign-arch bun cannot exec another bun. */
const noSpawnBun = process.env.BSDSOCK_NO_SPAWN_BUN === "1";
if (noSpawnBun) console.warn("SKIP perror vs C: BSDSOCK_NO_SPAWN_BUN=1 (this bun cannot start a bun child here)");

describe.skipIf(noCompilerReason !== null)("compared with C", () => {
  const dir = scratchDir();

  test("sockaddr_in / sockaddr_in6 / sockaddr_un filled field by field hold the same bytes as in C", async () => {
    const bin = compileC(dir, "sockaddr_bytes", `
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/un.h>
static void dump(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
  printf("\\n");
}
int main(void) {
  struct sockaddr_in a; memset(&a, 0, sizeof a);
  a.sin_family = AF_INET; a.sin_port = htons(8080);
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  dump(&a, sizeof a);
  struct sockaddr_in6 s; memset(&s, 0, sizeof s);
  s.sin6_family = AF_INET6; s.sin6_port = htons(443); s.sin6_flowinfo = htonl(0x12345);
  s.sin6_scope_id = 7; inet_pton(AF_INET6, "fe80::1", &s.sin6_addr);
  dump(&s, sizeof s);
  struct sockaddr_un u; memset(&u, 0, sizeof u);
  u.sun_family = AF_UNIX; strncpy(u.sun_path, "/tmp/x.sock", sizeof u.sun_path - 1);
  dump(&u, sizeof u);
  return 0;
}`);
    const out = await run([bin]);
    expect(out.code).toBe(0);

    const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
    const a = new P.sockaddr_in();
    a.sin_family = P.AF_INET;
    a.sin_port = P.htons(8080);
    P.inet_pton(P.AF_INET, "127.0.0.1", a.sin_addr);
    const s = new P.sockaddr_in6();
    s.sin6_family = P.AF_INET6;
    s.sin6_port = P.htons(443);
    s.sin6_flowinfo = P.htonl(0x12345);
    s.sin6_scope_id = 7;
    P.inet_pton(P.AF_INET6, "fe80::1", s.sin6_addr);
    const u = new P.sockaddr_un();
    u.sun_family = P.AF_UNIX;
    P.strncpy(u.sun_path, "/tmp/x.sock", P.sizeof(u.sun_path) - 1);
    expect(out.stdout).toBe(`${hex(a.bytes)}\n${hex(s.bytes)}\n${hex(u.bytes)}\n`);
  });

  test.skipIf(noSpawnBun)("perror prints exactly what C's perror prints", async () => {
    const c = compileC(dir, "perror_c", `
#include <stdio.h>
#include <unistd.h>
#include <errno.h>
#include <sys/socket.h>
int main(void) {
  close(987654); perror("Error al cerrar");
  socket(12345, SOCK_STREAM, 0); perror("");
  errno = ECONNREFUSED; perror("Error al conectar al servidor");
  errno = 4000; perror("unknown");
  return 0;
}`);
    const script = `${dir}/perror_ts.ts`;
    await Bun.write(script, `
import * as P from ${JSON.stringify(`${import.meta.dir}/../src/posix.ts`)};
P.close(987654); P.perror("Error al cerrar");
P.socket(12345, P.SOCK_STREAM, 0); P.perror("");
P.set_errno(P.ECONNREFUSED); P.perror("Error al conectar al servidor");
P.set_errno(4000); P.perror("unknown");
`);
    const fromC = await run([c]);
    const fromTs = await run([bun, "run", script]);
    expect(fromC.stderr).toBe(
      "Error al cerrar: Bad file descriptor\nAddress family not supported by protocol\n" +
      "Error al conectar al servidor: Connection refused\nunknown: " +
      (platformKey.endsWith("-musl") ? "No error information" : "Unknown error 4000") + "\n", // musl's text for any unknown errno
    );
    expect(fromTs).toEqual(fromC);
  });
});
