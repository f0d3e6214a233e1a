/**
 * The "bsdsock async" contender: the same workloads as bsdsock.ts through AsyncSocket, written
 * the way a Bun program would (await every call; the event loop stays free).
 *
 *   bun bench/contenders/bsdsock-async.ts pingpong tcp <port> <rtts> <warmup> <size>
 *   ... pingpong unix <path> <rtts> <warmup> <size>
 *   ... bulk <port> <total bytes> <write size>
 *   ... udp <port> <count> <size> <run id> <warm-up> <one|many|segments>
 *   ... connrate <port> <count>
 *   ... file <port> <path> <total> <sendfile|readsend>   AsyncSocket.sendFile, or readSync + sendAll
 *   ... server [workers]   (prints "PORT <n>", serves until killed; workers > 1: that many
 *                           processes on the port with SO_REUSEPORT, this one included)
 *   ... httpserver         node:http fed by AsyncSocket.toDuplex() (the README's recipe); prints "PORT <n>"
 */
import { closeSync, openSync, readSync } from "node:fs";
import http from "node:http";
import { AsyncSocket } from "../../src/async/async.ts";
import { begin, datagram, endMarker, finish, intArg, latencyStats, print, type Phase } from "./measure.ts";

const [workload, ...args] = process.argv.slice(2);
const loopback = "127.0.0.1";
/** Datagrams per sendMany / sendSegments call (as bench/c/client.c). */
const BATCH = 64;

async function pingpong(kind: string, where: string, rtts: number, warmup: number, size: number): Promise<void> {
  const out = new Uint8Array(size);
  const inb = new Uint8Array(65536);
  const lat = new Float64Array(rtts);
  const sock = kind === "tcp"
    ? await AsyncSocket.connect({ family: "inet", host: loopback, port: Number(where) })
    : await AsyncSocket.connect({ family: "unix", path: where });
  if (kind === "tcp") sock.setOption("noDelay", true);
  const once = async (): Promise<void> => {
    if ((await sock.send(out)) !== size) throw new Error("short send");
    let got = 0;
    while (got < size) {
      const r = await sock.recvInto(inb);
      if (r === 0) throw new Error("peer closed");
      got += r;
    }
  };
  for (let i = 0; i < warmup; i++) await once();
  const p = begin();
  for (let i = 0; i < rtts; i++) {
    const a = performance.now();
    await once();
    lat[i] = performance.now() - a;
  }
  const f = finish(p);
  print({ ...f, ...latencyStats(lat, f.wall_s) });
  sock.close();
}

async function bulk(port: number, total: number, wsize: number): Promise<void> {
  const buf = new Uint8Array(wsize).fill(0x78);
  let sent = 0;
  const sock = await AsyncSocket.connect({ family: "inet", host: loopback, port });
  const p = begin();
  while (sent < total) {
    const n = Math.min(wsize, total - sent);
    await sock.sendAll(n === wsize ? buf : buf.subarray(0, n));
    sent += n;
  }
  await endStream(sock, p, sent);
}

/**
 * Bulk with MSG_ZEROCOPY as the docs show it: sendZeroCopy with a few writes in flight (each
 * promise settles on its completion), so waiting for acknowledgements overlaps the sending.
 */
async function bulkZeroCopy(port: number, total: number, wsize: number): Promise<void> {
  const IN_FLIGHT = 4;
  const buf = new Uint8Array(wsize).fill(0x78);
  const sock = await AsyncSocket.connect({ family: "inet", host: loopback, port });
  const p = begin();
  const flying = new Set<Promise<void>>();
  let sent = 0;
  let copied = false;
  while (sent < total) {
    const n = Math.min(wsize, total - sent);
    const done: Promise<void> = sock.sendZeroCopy(n === wsize ? buf : buf.subarray(0, n), { timeout: 60_000 })
      .then((r) => { copied ||= r.copied; flying.delete(done); });
    flying.add(done);
    sent += n;
    if (flying.size >= IN_FLIGHT) await Promise.race(flying);
  }
  await Promise.all(flying);
  await endStream(sock, p, sent, { copied: copied ? 1 : 0 });
}

/** After a one-way stream: FIN, wait for the sink's close (it has read everything), report. */
async function endStream(sock: AsyncSocket, p: Phase, sent: number, extra: Record<string, number> = {}): Promise<void> {
  const tail = new Uint8Array(16);
  sock.shutdown("write");
  while ((await sock.recvInto(tail)) > 0) { /* the sink closes once it has read everything */ }
  const f = finish(p);
  print({ ...f, bytes: sent, gib_per_s: sent / f.wall_s / 2 ** 30, ...extra });
  sock.close();
}

async function udp(port: number, count: number, size: number, run: number, warmup: number, method: string): Promise<void> {
  const buf = datagram(size, run);
  const end = endMarker(run);
  const to = { family: "inet", host: loopback, port } as const;
  const sock = new AsyncSocket("inet", "dgram");
  let kind = (k: number): void => { buf[0] = k; };
  let send: (n: number) => Promise<number>;
  if (method === "one") {
    send = async (n) => {
      let errors = 0;
      for (let i = 0; i < n; i++) {
        try { await sock.sendTo(buf, to); } catch { errors++; }
      }
      return errors;
    };
  } else if (method === "many") {
    const full: Uint8Array[] = new Array(BATCH).fill(buf);
    send = async (n) => {
      let errors = 0;
      let i = 0;
      while (i < n) {
        const k = Math.min(BATCH, n - i);
        try {
          i += await sock.sendMany(k === BATCH ? full : full.slice(0, k), to);
        } catch {
          errors++;
          i++;
        }
      }
      return errors;
    };
  } else if (method === "segments") {
    const block = new Uint8Array(BATCH * buf.length);
    for (let k = 0; k < BATCH; k++) block.set(buf, k * buf.length);
    kind = (v) => { for (let k = 0; k < BATCH; k++) block[k * buf.length] = v; };
    send = async (n) => {
      let errors = 0;
      for (let i = 0; i < n; i += BATCH) {
        const k = Math.min(BATCH, n - i);
        try { await sock.sendSegments(k === BATCH ? block : block.subarray(0, k * buf.length), buf.length, to); } catch { errors += k; }
      }
      return errors;
    };
  } else {
    throw new Error(`unknown udp method ${method}`);
  }
  kind(2);
  await send(warmup);
  kind(0);
  const p = begin();
  const errors = await send(count);
  const f = finish(p);
  for (let k = 0; k < 5; k++) { await Bun.sleep(10); await sock.sendTo(end, to); }
  sock.close();
  print({ ...f, sent: count - errors, send_errors: errors, sent_per_s: (count - errors) / f.wall_s });
}

async function connrate(port: number, count: number): Promise<void> {
  const b = new Uint8Array(1);
  const to = { family: "inet", host: loopback, port } as const;
  const p = begin();
  for (let i = 0; i < count; i++) {
    const s = await AsyncSocket.connect(to);
    while ((await s.recvInto(b)) > 0) { /* EOF: accepted and closed by the peer */ }
    s.close();
  }
  const f = finish(p);
  print({ ...f, conns: count, conn_per_s: count / f.wall_s });
}

async function file(port: number, path: string, total: number, method: string): Promise<void> {
  const fd = openSync(path, "r");
  const sock = await AsyncSocket.connect({ family: "inet", host: loopback, port });
  const p = begin();
  let sent = 0;
  if (method === "sendfile") sent = await sock.sendFile(fd, { count: total });
  else {
    const buf = new Uint8Array(1 << 16);
    while (sent < total) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, total - sent), null);
      if (n <= 0) throw new Error("file shorter than expected");
      await sock.sendAll(n === buf.length ? buf : buf.subarray(0, n));
      sent += n;
    }
  }
  await endStream(sock, p, sent);
  closeSync(fd);
}

/** One connection of the echo server, written as the README's first async example: the chunks until end of stream, each echoed. */
async function serve(conn: AsyncSocket): Promise<void> {
  using c = conn;
  try {
    for await (const chunk of c.chunks()) await c.sendAll(chunk);
  } catch { /* reset by the load client at the end */ }
}

/** The concurrent echo server: an accept loop and one async loop per connection. */
async function server(workers: number, port: number): Promise<void> {
  const listener = AsyncSocket.listen({ family: "inet", host: loopback, port }, { backlog: 4096, reusePort: workers > 1 || port !== 0 });
  const bound = (listener.localAddress as { port: number }).port;
  const children: ReturnType<typeof Bun.spawn>[] = [];
  for (let i = 1; i < workers; i++) {
    const child = Bun.spawn([process.execPath, import.meta.path, "server", "1", String(bound)], {
      env: { ...process.env, BENCH_ECHO_CHILD: "1" }, stdin: "pipe", stdout: "pipe", stderr: "inherit",
    });
    children.push(child);
    const reader = (child.stdout as ReadableStream<Uint8Array>).getReader();
    await reader.read(); // its PORT line: bound and listening
    reader.releaseLock();
  }
  const stop = (): void => {
    for (const c of children) c.kill("SIGTERM");
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  if (process.env.BENCH_ECHO_CHILD === "1") {
    // A worker process ends with its parent: its stdin (a pipe from the parent) reaches EOF.
    void (async () => {
      for await (const _ of Bun.stdin.stream()) { /* nothing is sent */ }
      process.exit(0);
    })();
  }
  process.stdout.write(`PORT ${bound}\n`);
  for await (const conn of listener.connections()) {
    conn.setOption("noDelay", true);
    void serve(conn);
  }
}

/** node:http on bsdsock: an AsyncSocket accept loop emitting each connection's toDuplex(), as the README shows. */
async function httpServer(): Promise<void> {
  const app = http.createServer((_req, res) => res.end("hello world\n"));
  const listener = AsyncSocket.listen({ family: "inet", host: loopback, port: 0 }, { backlog: 4096 });
  process.on("SIGTERM", () => process.exit(0));
  process.stdout.write(`PORT ${(listener.localAddress as { port: number }).port}\n`);
  for await (const conn of listener.connections()) app.emit("connection", conn.toDuplex());
}

switch (workload) {
  case "pingpong": await pingpong(args[0]!, args[1]!, intArg(args, 2, "rtts"), intArg(args, 3, "warmup"), intArg(args, 4, "size")); break;
  case "bulk": await bulk(intArg(args, 0, "port"), intArg(args, 1, "total"), intArg(args, 2, "write size")); break;
  case "bulkzc": await bulkZeroCopy(intArg(args, 0, "port"), intArg(args, 1, "total"), intArg(args, 2, "write size")); break;
  case "udp": await udp(intArg(args, 0, "port"), intArg(args, 1, "count"), intArg(args, 2, "size"), intArg(args, 3, "run"), intArg(args, 4, "warm-up"), args[5] ?? "one"); break;
  case "connrate": await connrate(intArg(args, 0, "port"), intArg(args, 1, "count")); break;
  case "file": await file(intArg(args, 0, "port"), args[1]!, intArg(args, 2, "total"), args[3] ?? "sendfile"); break;
  case "server": await server(args[0] === undefined ? 1 : intArg(args, 0, "workers"), args[1] === undefined ? 0 : intArg(args, 1, "port")); break;
  case "httpserver": await httpServer(); break;
  default: throw new Error(`unknown workload ${workload}`);
}
