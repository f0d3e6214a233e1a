/**
 * The C library, opened with bun:ffi. The one place that knows C function signatures:
 * every symbol bsdsock calls is declared here with its C prototype. Nothing outside ffi/
 * calls dlopen or names an FFI type.
 *
 * Type choices: size_t/ssize_t are 64-bit on every supported platform (LP64), so they are
 * "u64"/"i64_fast" (a JS number for any value below 2^53, no BigInt on the hot path);
 * socklen_t is "u32"; pointers are "ptr" and accept a TypedArray (Bun passes its data
 * pointer, byteOffset included) or null.
 */
import { dlopen, FFIType, type FFIFunction } from "bun:ffi";
import { platformKey } from "./platform.ts";

/** Symbols every supported libc has. */
const common = {
  // int socket(int domain, int type, int protocol);
  socket: { args: ["i32", "i32", "i32"], returns: "i32" },
  // int socketpair(int domain, int type, int protocol, int sv[2]);
  socketpair: { args: ["i32", "i32", "i32", "ptr"], returns: "i32" },
  // int bind(int fd, const struct sockaddr *addr, socklen_t len);
  bind: { args: ["i32", "ptr", "u32"], returns: "i32" },
  // int listen(int fd, int backlog);
  listen: { args: ["i32", "i32"], returns: "i32" },
  // int accept(int fd, struct sockaddr *addr, socklen_t *len);
  accept: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  // int connect(int fd, const struct sockaddr *addr, socklen_t len);
  connect: { args: ["i32", "ptr", "u32"], returns: "i32" },
  // ssize_t send(int fd, const void *buf, size_t len, int flags);
  send: { args: ["i32", "ptr", "u64", "i32"], returns: FFIType.i64_fast },
  // ssize_t recv(int fd, void *buf, size_t len, int flags);
  recv: { args: ["i32", "ptr", "u64", "i32"], returns: FFIType.i64_fast },
  // ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen);
  sendto: { args: ["i32", "ptr", "u64", "i32", "ptr", "u32"], returns: FFIType.i64_fast },
  // ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from, socklen_t *fromlen);
  recvfrom: { args: ["i32", "ptr", "u64", "i32", "ptr", "ptr"], returns: FFIType.i64_fast },
  // ssize_t sendmsg(int fd, const struct msghdr *msg, int flags);
  sendmsg: { args: ["i32", "ptr", "i32"], returns: FFIType.i64_fast },
  // ssize_t recvmsg(int fd, struct msghdr *msg, int flags);
  recvmsg: { args: ["i32", "ptr", "i32"], returns: FFIType.i64_fast },
  // int shutdown(int fd, int how);
  shutdown: { args: ["i32", "i32"], returns: "i32" },
  // int close(int fd);
  close: { args: ["i32"], returns: "i32" },
  // int clock_gettime(clockid_t clock, struct timespec *tp);
  clock_gettime: { args: ["i32", "ptr"], returns: "i32" },
  // ssize_t read(int fd, void *buf, size_t count);
  read: { args: ["i32", "ptr", "u64"], returns: FFIType.i64_fast },
  // ssize_t write(int fd, const void *buf, size_t count);
  write: { args: ["i32", "ptr", "u64"], returns: FFIType.i64_fast },
  // int dup(int fd);
  dup: { args: ["i32"], returns: "i32" },
  // int getsockname(int fd, struct sockaddr *addr, socklen_t *len);
  getsockname: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  // int getpeername(int fd, struct sockaddr *addr, socklen_t *len);
  getpeername: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  // int setsockopt(int fd, int level, int name, const void *val, socklen_t len);
  setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
  // int getsockopt(int fd, int level, int name, void *val, socklen_t *len);
  getsockopt: { args: ["i32", "i32", "i32", "ptr", "ptr"], returns: "i32" },
  // int inet_pton(int af, const char *src, void *dst);
  inet_pton: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  // const char *inet_ntop(int af, const void *src, char *dst, socklen_t size);
  inet_ntop: { args: ["i32", "ptr", "ptr", "u32"], returns: "ptr" },
  // char *strerror(int errnum);  (strerror_r differs between glibc and XSI; strerror is portable)
  strerror: { args: ["i32"], returns: "ptr" },
  // int fcntl(int fd, int cmd, ... /* int arg */);
  // Variadic: declared with a fixed int third argument. That is the same call on x86_64 and
  // Linux arm64 (variadic ints travel in registers); Apple arm64 passes variadic arguments on
  // the stack, so there F_SETFL needs another route (see the platform notes in README).
  fcntl: { args: ["i32", "i32", "i32"], returns: "i32" },
  // int poll(struct pollfd *fds, nfds_t nfds, int timeout);  nfds_t: unsigned long (Linux), unsigned int (macOS)
  poll: { args: ["ptr", "u64", "i32"], returns: "i32" },
  // unsigned int if_nametoindex(const char *ifname);
  if_nametoindex: { args: ["ptr"], returns: "u32" },
  // char *if_indextoname(unsigned int ifindex, char *ifname);  (ifname: IF_NAMESIZE bytes)
  if_indextoname: { args: ["u32", "ptr"], returns: "ptr" },
  // int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res);
  getaddrinfo: { args: ["ptr", "ptr", "ptr", "ptr"], returns: "i32" },
  // void freeaddrinfo(struct addrinfo *res);
  freeaddrinfo: { args: ["ptr"], returns: "void" },
  // const char *gai_strerror(int errcode);
  gai_strerror: { args: ["i32"], returns: "ptr" },
  // int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen,
  //                 char *serv, socklen_t servlen, int flags);
  getnameinfo: { args: ["ptr", "u32", "ptr", "u32", "ptr", "u32", "i32"], returns: "i32" },
} as const satisfies Record<string, FFIFunction>;

/** Linux-only symbols (glibc and musl). */
const linux = {
  // int *__errno_location(void);
  __errno_location: { args: [], returns: "ptr" },
  // int open(const char *path, int flags, ... /* mode_t mode */);  (variadic: declared with the
  // mode as a fixed unsigned int, the same call on x86_64 and Linux arm64)
  open: { args: ["ptr", "i32", "u32"], returns: "i32" },
  // int ioctl(int fd, unsigned long request, ... /* void *arg */);  (variadic: a fixed pointer)
  ioctl: { args: ["i32", "u64", "ptr"], returns: "i32" },
  // int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
  accept4: { args: ["i32", "ptr", "ptr", "i32"], returns: "i32" },
  // int epoll_create1(int flags);
  epoll_create1: { args: ["i32"], returns: "i32" },
  // int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event);
  epoll_ctl: { args: ["i32", "i32", "i32", "ptr"], returns: "i32" },
  // int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout);
  epoll_wait: { args: ["i32", "ptr", "i32", "i32"], returns: "i32" },
  // int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags);
  sendmmsg: { args: ["i32", "ptr", "u32", "i32"], returns: "i32" },
  // int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags, struct timespec *timeout);
  recvmmsg: { args: ["i32", "ptr", "u32", "i32", "ptr"], returns: "i32" },
  // ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count);   (Linux's; macOS has another)
  sendfile: { args: ["i32", "i32", "ptr", "u64"], returns: FFIType.i64_fast },
  // int pthread_sigmask(int how, const sigset_t *set, sigset_t *oldset);
  pthread_sigmask: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  // int sigemptyset(sigset_t *set);
  sigemptyset: { args: ["ptr"], returns: "i32" },
  // int sigaddset(sigset_t *set, int signum);
  sigaddset: { args: ["ptr", "i32"], returns: "i32" },
  // int sigismember(const sigset_t *set, int signum);
  sigismember: { args: ["ptr", "i32"], returns: "i32" },
  // int sigpending(sigset_t *set);
  sigpending: { args: ["ptr"], returns: "i32" },
  // int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *timeout);
  sigtimedwait: { args: ["ptr", "ptr", "ptr"], returns: "i32" },
} as const satisfies Record<string, FFIFunction>;

/** macOS-only symbols. */
const darwin = {
  // int *__error(void);
  __error: { args: [], returns: "ptr" },
  // int kqueue(void);
  kqueue: { args: [], returns: "i32" },
  // int kevent(int kq, const struct kevent *changelist, int nchanges, struct kevent *eventlist,
  //            int nevents, const struct timespec *timeout);
  kevent: { args: ["i32", "ptr", "i32", "ptr", "i32", "ptr"], returns: "i32" },
} as const satisfies Record<string, FFIFunction>;

/** The shared object to open: the libc this process already has mapped. */
function libraryPath(): string {
  if (platformKey.startsWith("darwin-")) return "libSystem.B.dylib";
  if (platformKey.endsWith("-musl")) {
    // musl's libc is its dynamic loader; open the very file this process runs on.
    const maps = require("node:fs").readFileSync("/proc/self/maps", "utf8") as string;
    const m = /(\/\S*ld-musl-[^/\s]*\.so\.1)/.exec(maps);
    if (m?.[1]) return m[1];
    return "libc.so";
  }
  return "libc.so.6";
}

const isDarwin = platformKey.startsWith("darwin-");
const path = libraryPath();

const lib = isDarwin
  ? dlopen(path, { ...common, ...darwin })
  : dlopen(path, { ...common, ...linux });

/**
 * i64_fast returns a JS number whenever the value fits in 2^53, which every ssize_t result
 * does (it is bounded by a buffer length or -1); the declared `number | bigint` is narrowed.
 */
type Narrow<S> = {
  [K in keyof S]: S[K] extends (...a: infer A) => number | bigint ? (...a: A) => number : S[K];
};
type Common = Narrow<ReturnType<typeof dlopen<typeof common>>["symbols"]>;
type Linux = Narrow<ReturnType<typeof dlopen<typeof linux>>["symbols"]>;
type Darwin = Narrow<ReturnType<typeof dlopen<typeof darwin>>["symbols"]>;

/** libc's functions. Linux-only ones are undefined on macOS, macOS-only ones on Linux. */
export const libc: Common & Partial<Linux> & Partial<Darwin> =
  lib.symbols as unknown as Common & Partial<Linux> & Partial<Darwin>;

/** The path that was opened, for diagnostics. */
export const libcPath: string = path;

/** Returns the address of the calling thread's errno (stable for the thread's lifetime). */
export const errnoLocation: () => number = (() => {
  const syms = lib.symbols as Partial<Linux> & { __error?: () => unknown };
  const fn = syms.__errno_location ?? syms.__error;
  if (!fn) throw new Error(`bsdsock: ${path} exports neither __errno_location nor __error`);
  return () => Number(fn());
})();
