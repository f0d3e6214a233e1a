/**
 * bsdsock contenders: the blocking Socket API ("socket") and the C-shaped posix layer ("posix"),
 * the same workloads with the same arguments as bench/c/client.c, plus an echo server for the
 * concurrent echo workload (poll() over every connection; bsdsock has no event loop of its own yet).
 *
 *   bun bench/contenders/bsdsock.ts <socket|posix> pingpong tcp <port> <rtts> <warmup> <size>
 *   ... pingpong unix <path> <rtts> <warmup> <size>
 *   ... bulk <port> <total bytes> <write size>
 *   ... udp <port> <count> <size> <run id> <warm-up> <one|many|segments>
 *                         one: sendTo (socket) / sendto (posix) per datagram; socket only:
 *                         many = sendMany (sendmmsg, 64 per call), segments = sendSegments
 *                         (UDP_SEGMENT, 64 datagrams per sendmsg)
 *   bun bench/contenders/bsdsock.ts ffi udp <port> <count> <size> <run id> <warm-up> one
 *                         the floor: libc.sendto through bun:ffi with nothing around it
 *   ... connrate <port> <count>
 *   ... server            (prints "PORT <n>", serves until killed)
 *   bun bench/contenders/bsdsock.ts socket file <port> <path> <total> <sendfile|readsend>
 *                         a file to the sink: Socket.sendFile, or readSync + sendAll (64 KiB)
 */
import { closeSync, openSync, readSync } from "node:fs";
import { libc } from "../../ffi/libc.ts";
import { table } from "../../ffi/platform.ts";
import * as P from "../../src/posix.ts";
import { Poller } from "../../src/poller/poller.ts";
import { encodeAddress, SOCKADDR_MAX } from "../../src/core/sockaddr.ts";
import { Socket } from "../../src/socket/socket.ts";
import { begin, datagram, endMarker, finish, intArg, latencyStats, print, type Phase } from "./measure.ts";

const C = table.constants;
const [api, workload, ...rest] = process.argv.slice(2);
if (api !== "socket" && api !== "posix" && api !== "ffi") throw new Error(`api must be socket, posix or ffi, got ${api}`);
if (api === "ffi" && workload !== "udp") throw new Error("the ffi floor contender runs the udp workload only");
/** Datagrams per sendMany / sendSegments call (as bench/c/client.c). */
const BATCH = 64;

const loopback = "127.0.0.1";
const one = new Int32Array([1]);
/** Linux has both; other platforms may not (then the flags are simply not used). */
const CLOEXEC = P.SOCK_CLOEXEC ?? 0;
const NOSIGNAL = P.MSG_NOSIGNAL ?? 0;

function fail(what: string): never {
  throw new Error(`${what}: ${P.strerror(P.errno())}`);
}

/** A connected TCP (or unix) socket fd through the posix layer. */
function posixConnect(port: number | string): number {
  if (typeof port === "string") {
    const fd = P.socket(P.AF_UNIX, P.SOCK_STREAM | CLOEXEC, 0);
    const a = new P.sockaddr_un();
    a.sun_family = P.AF_UNIX;
    P.strncpy(a.sun_path, port, a.sun_path.length - 1);
    if (P.connect(fd, a, P.sizeof(a)) < 0) fail("connect");
    return fd;
  }
  const fd = P.socket(P.AF_INET, P.SOCK_STREAM | CLOEXEC, 0);
  if (fd < 0) fail("socket");
  if (P.connect(fd, inetAddr(port), P.sockaddr_in.size) < 0) fail("connect");
  return fd;
}

function inetAddr(port: number): P.sockaddr_in {
  const a = new P.sockaddr_in();
  a.sin_family = P.AF_INET;
  a.sin_port = P.htons(port);
  a.sin_addr.s_addr = P.htonl(P.INADDR_LOOPBACK);
  return a;
}

function pingpong(kind: string, where: string, rtts: number, warmup: number, size: number): void {
  const out = new Uint8Array(size);
  const inb = new Uint8Array(65536);
  const lat = new Float64Array(rtts);
  if (api === "socket") {
    const sock = kind === "tcp"
      ? Socket.connect({ family: "inet", host: loopback, port: Number(where) })
      : Socket.connect({ family: "unix", path: where });
    if (kind === "tcp") sock.setRawOption(C.IPPROTO_TCP, C.TCP_NODELAY, 1);
    const once = (): void => {
      if (sock.send(out) !== size) throw new Error("short send");
      let got = 0;
      while (got < size) {
        const r = sock.recvInto(inb);
        if (r === 0) throw new Error("peer closed");
        got += r;
      }
    };
    for (let i = 0; i < warmup; i++) once();
    const p = begin();
    for (let i = 0; i < rtts; i++) {
      const a = performance.now();
      once();
      lat[i] = performance.now() - a;
    }
    const f = finish(p);
    print({ ...f, ...latencyStats(lat, f.wall_s) });
    sock.close();
    return;
  }
  const fd = posixConnect(kind === "tcp" ? Number(where) : where);
  if (kind === "tcp") P.setsockopt(fd, P.IPPROTO_TCP, P.TCP_NODELAY, one, 4);
  const flags = NOSIGNAL;
  const once = (): void => {
    if (P.send(fd, out, size, flags) !== size) fail("send");
    let got = 0;
    while (got < size) {
      const r = P.recv(fd, inb, inb.length, 0);
      if (r <= 0) fail("recv");
      got += r;
    }
  };
  for (let i = 0; i < warmup; i++) once();
  const p = begin();
  for (let i = 0; i < rtts; i++) {
    const a = performance.now();
    once();
    lat[i] = performance.now() - a;
  }
  const f = finish(p);
  print({ ...f, ...latencyStats(lat, f.wall_s) });
  P.close(fd);
}

/** Bulk with MSG_ZEROCOPY as the docs show it: sendZeroCopy per write, each returning on its completion. */
function bulkZeroCopy(port: number, total: number, wsize: number): void {
  if (api !== "socket") fail("bulkzc is for the Socket layer");
  const buf = new Uint8Array(wsize).fill(0x78);
  const sock = Socket.connect({ family: "inet", host: loopback, port });
  sock.timeout = 60_000;
  const p = begin();
  let sent = 0;
  let copied = false;
  while (sent < total) {
    const n = Math.min(wsize, total - sent);
    copied = sock.sendZeroCopy(n === wsize ? buf : buf.subarray(0, n)).copied || copied;
    sent += n;
  }
  sock.timeout = null;
  endStream(sock, p, sent, { copied: copied ? 1 : 0 });
}

function bulk(port: number, total: number, wsize: number): void {
  const buf = new Uint8Array(wsize).fill(0x78); // real bytes in every contender (see client.c)
  const tail = new Uint8Array(16);
  let sent = 0;
  if (api === "socket") {
    const sock = Socket.connect({ family: "inet", host: loopback, port });
    const p = begin();
    while (sent < total) {
      const n = Math.min(wsize, total - sent);
      sock.sendAll(n === wsize ? buf : buf.subarray(0, n));
      sent += n;
    }
    endStream(sock, p, sent);
    return;
  }
  const fd = posixConnect(port);
  const p = begin();
  while (sent < total) {
    const n = Math.min(wsize, total - sent);
    let off = 0;
    while (off < n) {
      // the posix layer mirrors C: no offset argument, so a partial send continues from a view
      const r = off === 0 ? P.send(fd, buf, n, NOSIGNAL) : P.send(fd, buf.subarray(off), n - off, NOSIGNAL);
      if (r < 0) { if (P.errno() === P.EINTR) continue; fail("send"); }
      off += r;
    }
    sent += n;
  }
  P.shutdown(fd, P.SHUT_WR);
  while (P.recv(fd, tail, tail.length, 0) > 0) { /* wait for the sink's close */ }
  const f = finish(p);
  print({ ...f, bytes: sent, gib_per_s: sent / f.wall_s / 2 ** 30 });
  P.close(fd);
}

function udp(port: number, count: number, size: number, run: number, warmup: number, method: string): void {
  const buf = datagram(size, run);
  const end = endMarker(run);
  const to = { family: "inet", host: loopback, port } as const;
  let send: (n: number) => number; // sends n datagrams; returns how many failed
  let kind = (k: number): void => { buf[0] = k; }; // byte 0 of every datagram sent
  let close: () => void;
  let sendEnd: () => void;
  if (api === "ffi") {
    // The floor: libc.sendto straight through bun:ffi, the sockaddr packed once, no checks at
    // all. No library can be faster than this from JS; it separates FFI cost from bsdsock's.
    if (method !== "one") throw new Error(`the ffi floor contender has no ${method} method`);
    const fd = Number(libc.socket(C.AF_INET, C.SOCK_DGRAM | CLOEXEC, 0));
    if (fd < 0) fail("socket");
    const sa = new Uint8Array(SOCKADDR_MAX);
    const salen = encodeAddress(to, sa);
    send = (n) => {
      let errors = 0;
      for (let i = 0; i < n; i++) if (libc.sendto(fd, buf, size, NOSIGNAL, sa, salen) < 0) errors++;
      return errors;
    };
    sendEnd = () => { libc.sendto(fd, end, end.length, NOSIGNAL, sa, salen); };
    close = () => { libc.close(fd); };
  } else if (api === "posix") {
    if (method !== "one") throw new Error(`the posix contender has no ${method} method`);
    const fd = P.socket(P.AF_INET, P.SOCK_DGRAM | CLOEXEC, 0);
    const sa = inetAddr(port);
    const len = P.sockaddr_in.size;
    send = (n) => {
      let errors = 0;
      for (let i = 0; i < n; i++) if (P.sendto(fd, buf, size, 0, sa, len) < 0) errors++;
      return errors;
    };
    sendEnd = () => { P.sendto(fd, end, end.length, 0, sa, len); };
    close = () => { P.close(fd); };
  } else {
    const sock = new Socket("inet", "dgram");
    sendEnd = () => { sock.sendTo(end, to); };
    close = () => { sock.close(); };
    if (method === "one") {
      send = (n) => {
        let errors = 0;
        for (let i = 0; i < n; i++) {
          try { sock.sendTo(buf, to); } catch { errors++; }
        }
        return errors;
      };
    } else if (method === "many") {
      // The same datagram BATCH times per sendmmsg (the iovecs may point at the same bytes).
      const full: Uint8Array[] = new Array(BATCH).fill(buf);
      send = (n) => {
        let errors = 0;
        let i = 0;
        while (i < n) {
          const k = Math.min(BATCH, n - i);
          try {
            i += sock.sendMany(k === BATCH ? full : full.slice(0, k), to); // partial: the rest goes next call
          } catch {
            errors++; // the first of the batch failed: count it as one lost datagram, as C does
            i++;
          }
        }
        return errors;
      };
    } else if (method === "segments") {
      // BATCH copies of the datagram, back to back: one sendSegments call per BATCH datagrams.
      const block = new Uint8Array(BATCH * buf.length);
      for (let k = 0; k < BATCH; k++) block.set(buf, k * buf.length);
      kind = (v) => { for (let k = 0; k < BATCH; k++) block[k * buf.length] = v; };
      send = (n) => {
        let errors = 0;
        for (let i = 0; i < n; i += BATCH) {
          const k = Math.min(BATCH, n - i);
          try { sock.sendSegments(k === BATCH ? block : block.subarray(0, k * buf.length), buf.length, to); } catch { errors += k; }
        }
        return errors;
      };
    } else {
      throw new Error(`unknown udp method ${method}`);
    }
  }
  kind(2); // warm-up datagrams: the sink ignores them; the JIT and the kernel's paths get warm
  send(warmup);
  kind(0);
  const p = begin();
  const errors = send(count);
  const f = finish(p);
  for (let k = 0; k < 5; k++) { Bun.sleepSync(10); sendEnd(); }
  close();
  print({ ...f, sent: count - errors, send_errors: errors, sent_per_s: (count - errors) / f.wall_s });
}

function connrate(port: number, count: number): void {
  const b = new Uint8Array(1);
  const p = begin();
  if (api === "socket") {
    const to = { family: "inet", host: loopback, port } as const;
    for (let i = 0; i < count; i++) {
      const s = Socket.connect(to);
      while (s.recvInto(b) > 0) { /* EOF: accepted and closed by the peer */ }
      s.close();
    }
  } else {
    for (let i = 0; i < count; i++) {
      const fd = posixConnect(port);
      while (P.recv(fd, b, 1, 0) > 0) { /* EOF */ }
      P.close(fd);
    }
  }
  const f = finish(p);
  print({ ...f, conns: count, conn_per_s: count / f.wall_s });
}

/** After a one-way stream (Socket API): FIN, wait for the sink's close, report. */
function endStream(sock: Socket, p: Phase, sent: number, extra: Record<string, number> = {}): void {
  const tail = new Uint8Array(16);
  sock.shutdown("write");
  while (sock.recvInto(tail) > 0) { /* the sink closes once it has read everything */ }
  const f = finish(p);
  print({ ...f, bytes: sent, gib_per_s: sent / f.wall_s / 2 ** 30, ...extra });
  sock.close();
}

function file(port: number, path: string, total: number, method: string): void {
  if (api !== "socket") throw new Error("the file workload runs on the Socket API");
  const fd = openSync(path, "r");
  const sock = Socket.connect({ family: "inet", host: loopback, port });
  const p = begin();
  let sent = 0;
  if (method === "sendfile") sent = sock.sendFile(fd, { count: total });
  else {
    const buf = new Uint8Array(1 << 16);
    while (sent < total) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, total - sent), null);
      if (n <= 0) throw new Error("file shorter than expected");
      sock.sendAll(n === buf.length ? buf : buf.subarray(0, n));
      sent += n;
    }
  }
  endStream(sock, p, sent);
  closeSync(fd);
}

/**
 * Echo server for the concurrent echo workload, Socket API: a Poller (epoll on Linux) over the
 * listener and every connection, non-blocking sockets (timeout 0), one reused buffer.
 */
function socketServer(): void {
  const listener = Socket.listen({ family: "inet", host: loopback, port: 0 }, { backlog: 4096 });
  listener.timeout = 0;
  const addr = listener.localAddress;
  process.stdout.write(`PORT ${"port" in addr ? addr.port : 0}\n`);
  const poller = new Poller({ maxEvents: 1024 });
  const lfd = listener.fd;
  poller.add(lfd, { read: true });
  const conns = new Map<number, Socket>();
  const buf = new Uint8Array(65536);
  for (;;) {
    for (const r of poller.wait(-1)) {
      if (r.fd === lfd) {
        for (;;) {
          let s: Socket;
          try { [s] = listener.accept(); } catch { break; } // EAGAIN: the queue is drained
          s.timeout = 0;
          s.setOption("noDelay", true);
          conns.set(s.fd, s);
          poller.add(s.fd, { read: true });
        }
        continue;
      }
      const s = conns.get(r.fd);
      if (!s) continue;
      let n = 0;
      try { n = s.recvInto(buf); } catch { n = 0; }
      if (n === 0) {
        poller.remove(r.fd);
        conns.delete(r.fd);
        s.close();
        continue;
      }
      // 64-byte echoes never fill the send buffer, so one send takes them all.
      s.send(buf.subarray(0, n));
    }
  }
}

/**
 * Echo server for the concurrent echo workload: one poll() over the listener and every
 * connection (array(pollfd, n) from the posix layer; its bytes are read through typed views,
 * 8-byte pollfd = int fd, short events, short revents), blocking sockets (poll says readable,
 * so recv does not block; 64-byte echoes never fill the send buffer).
 */
function server(): void {
  const MAX = 8192;
  const fds = P.array(P.pollfd, MAX);
  const pf = table.structs.pollfd;
  if (pf.size !== 8 || pf.fields.fd.offset !== 0 || pf.fields.events.offset !== 4 || pf.fields.revents.offset !== 6) {
    throw new Error("unexpected struct pollfd layout");
  }
  const fd32 = new Int32Array(fds.bytes.buffer, fds.bytes.byteOffset, MAX * 2);
  const ev16 = new Int16Array(fds.bytes.buffer, fds.bytes.byteOffset, MAX * 4);
  const buf = new Uint8Array(65536);
  let nfds = 1;
  const socks: (Socket | null)[] = new Array(MAX).fill(null);
  let lfd: number;
  let listener: Socket | null = null;
  if (api === "socket") {
    listener = Socket.listen({ family: "inet", host: loopback, port: 0 }, { backlog: 4096 });
    lfd = listener.fd;
    const addr = listener.localAddress;
    process.stdout.write(`PORT ${"port" in addr ? addr.port : 0}\n`);
  } else {
    lfd = P.socket(P.AF_INET, P.SOCK_STREAM | CLOEXEC, 0);
    P.setsockopt(lfd, P.SOL_SOCKET, P.SO_REUSEADDR, one, 4);
    const a = inetAddr(0);
    if (P.bind(lfd, a, P.sockaddr_in.size) < 0) fail("bind");
    if (P.listen(lfd, 4096) < 0) fail("listen");
    const len = new P.socklen_t(P.sockaddr_in.size);
    P.getsockname(lfd, a, len);
    process.stdout.write(`PORT ${P.ntohs(a.sin_port)}\n`);
  }
  fd32[0] = lfd;
  ev16[2] = P.POLLIN;
  const remove = (i: number): void => {
    const last = nfds - 1;
    fd32[i * 2] = fd32[last * 2]!;
    ev16[i * 4 + 2] = ev16[last * 4 + 2]!;
    ev16[i * 4 + 3] = ev16[last * 4 + 3]!;
    socks[i] = socks[last]!;
    socks[last] = null;
    nfds = last;
  };
  for (;;) {
    let n = P.poll(fds, nfds, -1);
    if (n < 0) { if (P.errno() === P.EINTR) continue; fail("poll"); }
    for (let i = nfds - 1; i >= 0 && n > 0; i--) {
      const re = ev16[i * 4 + 3]!;
      if (re === 0) continue;
      n--;
      ev16[i * 4 + 3] = 0;
      if (i === 0) {
        if (nfds >= MAX) continue;
        let c: number;
        if (listener) {
          const [s] = listener.accept();
          s.setRawOption(C.IPPROTO_TCP, C.TCP_NODELAY, 1);
          socks[nfds] = s;
          c = s.fd;
        } else {
          c = P.accept4(lfd, null, null, CLOEXEC);
          if (c < 0) continue;
          P.setsockopt(c, P.IPPROTO_TCP, P.TCP_NODELAY, one, 4);
        }
        fd32[nfds * 2] = c;
        ev16[nfds * 4 + 2] = P.POLLIN;
        ev16[nfds * 4 + 3] = 0;
        nfds++;
        continue;
      }
      if (listener) {
        const s = socks[i]!;
        let r = 0;
        try { r = s.recvInto(buf); } catch { r = 0; }
        if (r === 0) { s.close(); remove(i); continue; }
        // Socket.send has no length argument: the first r bytes need a view (see README of bench)
        s.sendAll(buf.subarray(0, r));
      } else {
        const fd = fd32[i * 2]!;
        const r = P.recv(fd, buf, buf.length, 0);
        if (r <= 0) { P.close(fd); remove(i); continue; }
        let off = 0;
        while (off < r) {
          const w = off === 0 ? P.send(fd, buf, r, NOSIGNAL) : P.send(fd, buf.subarray(off), r - off, NOSIGNAL);
          if (w < 0) break;
          off += w;
        }
      }
    }
  }
}

const args = rest;
switch (workload) {
  case "pingpong": pingpong(args[0]!, args[1]!, intArg(args, 2, "rtts"), intArg(args, 3, "warmup"), intArg(args, 4, "size")); break;
  case "bulk": bulk(intArg(args, 0, "port"), intArg(args, 1, "total"), intArg(args, 2, "write size")); break;
  case "bulkzc": bulkZeroCopy(intArg(args, 0, "port"), intArg(args, 1, "total"), intArg(args, 2, "write size")); break;
  case "udp": udp(intArg(args, 0, "port"), intArg(args, 1, "count"), intArg(args, 2, "size"), intArg(args, 3, "run"), intArg(args, 4, "warm-up"), args[5] ?? "one"); break;
  case "connrate": connrate(intArg(args, 0, "port"), intArg(args, 1, "count")); break;
  case "file": file(intArg(args, 0, "port"), args[1]!, intArg(args, 2, "total"), args[3] ?? "sendfile"); break;
  case "server": if (api === "socket") socketServer(); else server(); break;
  default: throw new Error(`unknown workload ${workload}`);
}
