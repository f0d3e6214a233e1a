/**
 * Bun's native sockets: Bun.connect / Bun.listen / Bun.udpSocket, the same workloads and
 * arguments as bench/c/client.c (see bsdsock.ts for the list), driven by Bun's event loop.
 */
import type { Socket as BunSocket, TCPSocketConnectOptions, UnixSocketOptions } from "bun";
import { closeSync, openSync, readSync } from "node:fs";
import { begin, datagram, endMarker, finish, intArg, latencyStats, print } from "./measure.ts";

const [workload, ...args] = process.argv.slice(2);
const hostname = "127.0.0.1";

type Handlers = TCPSocketConnectOptions<undefined>["socket"];

function connect(where: number | string, socket: Handlers): Promise<BunSocket<undefined>> {
  if (typeof where === "string") return Bun.connect({ unix: where, socket } as UnixSocketOptions<undefined>);
  return Bun.connect({ hostname, port: where, socket });
}

async function pingpong(kind: string, where: string, rtts: number, warmup: number, size: number): Promise<void> {
  const out = new Uint8Array(size);
  const lat = new Float64Array(rtts);
  let i = -warmup;
  let got = 0;
  let t = 0;
  let p = begin();
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const sock = await connect(kind === "tcp" ? Number(where) : where, {
    data(s, d) {
      got += d.length;
      while (got >= size) {
        got -= size;
        if (i >= 0) lat[i] = performance.now() - t;
        i++;
        if (i === 0) p = begin();
        if (i >= rtts) { resolve(); return; }
        t = performance.now();
        if (s.write(out) !== size) reject(new Error("short write"));
      }
    },
    close() { if (i < rtts) reject(new Error("peer closed")); },
    error(_s, e) { reject(e); },
  });
  if (kind === "tcp") sock.setNoDelay(true);
  if (warmup === 0) p = begin();
  t = performance.now();
  sock.write(out);
  await promise;
  const f = finish(p);
  print({ ...f, ...latencyStats(lat, f.wall_s) });
  sock.end();
}

/** A file to the sink, read in 64 KiB chunks (readSync) and written with Bun.connect's write + drain. */
async function file(port: number, path: string, total: number, method: string): Promise<void> {
  if (method !== "readsend") throw new Error("Bun has no sendfile for sockets");
  const fd = openSync(path, "r");
  const buf = new Uint8Array(1 << 16);
  let sent = 0;
  let n = 0;
  let off = 0;
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const pump = (s: BunSocket<undefined>): void => {
    for (;;) {
      if (off === n) {
        if (sent >= total) { s.shutdown(); return; }
        n = readSync(fd, buf, 0, Math.min(buf.length, total - sent), null);
        off = 0;
        if (n <= 0) { reject(new Error("file shorter than expected")); return; }
        sent += n;
      }
      const w = s.write(buf, off, n - off);
      if (w < 0) { reject(new Error("write failed")); return; }
      off += w;
      if (off < n) return; // wait for drain
    }
  };
  let p = begin();
  await connect(port, {
    open(s) { p = begin(); pump(s); },
    drain(s) { pump(s); },
    data() {},
    end(s) { s.end(); },
    close() { if (sent < total || off < n) reject(new Error("closed early")); else resolve(); },
    error(_s, e) { reject(e); },
  });
  await promise;
  const f = finish(p);
  closeSync(fd);
  print({ ...f, bytes: sent, gib_per_s: sent / f.wall_s / 2 ** 30 });
}

async function bulk(port: number, total: number, wsize: number): Promise<void> {
  const buf = new Uint8Array(wsize).fill(0x78); // real bytes in every contender (see client.c)
  let sent = 0;
  let off = 0;
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  // write() returns how much the kernel took; the rest waits for drain (no copy kept by Bun)
  const pump = (s: BunSocket<undefined>): void => {
    while (sent < total) {
      const n = Math.min(wsize, total - sent);
      const w = s.write(buf, off, n - off);
      if (w < 0) { reject(new Error("write failed")); return; }
      off += w;
      if (off < n) return; // wait for drain
      off = 0;
      sent += n;
    }
    s.shutdown(); // FIN; the sink closes once it has read everything
  };
  let p = begin();
  await connect(port, {
    open(s) { p = begin(); pump(s); },
    drain(s) { pump(s); },
    data() {},
    end(s) { s.end(); },
    close() { if (sent < total) reject(new Error("closed early")); else resolve(); },
    error(_s, e) { reject(e); },
  });
  await promise;
  const f = finish(p);
  print({ ...f, bytes: sent, gib_per_s: sent / f.wall_s / 2 ** 30 });
}

/** Datagrams per sendMany call (as bench/c/client.c). */
const BATCH = 64;

async function udp(port: number, count: number, size: number, run: number, warmup: number, method: string): Promise<void> {
  if (method !== "one" && method !== "many") throw new Error(`Bun.udpSocket has no ${method} method`);
  const buf = datagram(size, run);
  let drained: (() => void) | null = null;
  const sock = await Bun.udpSocket({ socket: { drain() { drained?.(); } } });
  let blocked = 0;
  const wait = (): Promise<void> => new Promise<void>((r) => { drained = r; setTimeout(r, 5); });
  // sendMany takes [data, port, address, data, port, address, ...]
  const packets: (Uint8Array | string | number)[] = [];
  for (let k = 0; k < BATCH; k++) packets.push(buf, port, hostname);
  const send = async (n: number): Promise<void> => {
    if (method === "one") {
      for (let i = 0; i < n; i++) {
        while (!sock.send(buf, port, hostname)) {
          // not sent (would block): wait for drain and send it again
          blocked++;
          await wait();
        }
      }
      return;
    }
    let i = 0;
    while (i < n) {
      const k = Math.min(BATCH, n - i);
      const sent = sock.sendMany(k === BATCH ? packets : packets.slice(0, k * 3));
      if (sent === 0) { blocked++; await wait(); }
      i += sent;
    }
  };
  buf[0] = 2; // warm-up datagrams: the sink ignores them
  await send(warmup);
  buf[0] = 0;
  const p = begin();
  await send(count);
  const f = finish(p);
  for (let k = 0; k < 5; k++) { await Bun.sleep(10); sock.send(endMarker(run), port, hostname); }
  sock.close();
  print({ ...f, sent: count, send_errors: 0, blocked, sent_per_s: count / f.wall_s });
}

async function connrate(port: number, count: number): Promise<void> {
  const p = begin();
  for (let i = 0; i < count; i++) {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    await connect(port, {
      data() {},
      end(s) { s.end(); },
      close() { resolve(); },
      error(_s, e) { reject(e); },
    });
    await promise;
  }
  const f = finish(p);
  print({ ...f, conns: count, conn_per_s: count / f.wall_s });
}

function server(): void {
  // a partial write keeps the rest in socket.data until drain
  const srv = Bun.listen<{ pending: Uint8Array | null }>({
    hostname,
    port: 0,
    socket: {
      open(s) { s.data = { pending: null }; s.setNoDelay(true); },
      data(s, d) {
        if (s.data.pending) { s.data.pending = concat(s.data.pending, d); return; }
        const w = s.write(d);
        if (w < d.length) s.data.pending = d.subarray(Math.max(w, 0));
      },
      drain(s) {
        const p = s.data.pending;
        if (!p) return;
        const w = s.write(p);
        s.data.pending = w < p.length ? p.subarray(Math.max(w, 0)) : null;
      },
    },
  });
  process.stdout.write(`PORT ${srv.port}\n`);
}

/** Bun.serve answering every request with the same 12-byte body. */
function httpServer(): void {
  const srv = Bun.serve({ hostname, port: 0, fetch: () => new Response("hello world\n") });
  process.on("SIGTERM", () => process.exit(0));
  process.stdout.write(`PORT ${srv.port}\n`);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const c = new Uint8Array(a.length + b.length);
  c.set(a);
  c.set(b, a.length);
  return c;
}

switch (workload) {
  case "pingpong": await pingpong(args[0]!, args[1]!, intArg(args, 2, "rtts"), intArg(args, 3, "warmup"), intArg(args, 4, "size")); break;
  case "bulk": await bulk(intArg(args, 0, "port"), intArg(args, 1, "total"), intArg(args, 2, "write size")); break;
  case "udp": await udp(intArg(args, 0, "port"), intArg(args, 1, "count"), intArg(args, 2, "size"), intArg(args, 3, "run"), intArg(args, 4, "warm-up"), args[5] ?? "one"); break;
  case "connrate": await connrate(intArg(args, 0, "port"), intArg(args, 1, "count")); break;
  case "file": await file(intArg(args, 0, "port"), args[1]!, intArg(args, 2, "total"), args[3] ?? "readsend"); break;
  case "server": server(); break;
  case "httpserver": httpServer(); break;
  default: throw new Error(`unknown workload ${workload}`);
}
