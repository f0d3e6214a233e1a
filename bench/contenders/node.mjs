// node:net / node:dgram contender, run both under Bun (its node compatibility layer) and under
// node. Plain JavaScript so node can run it. Same workloads, arguments and JSON fields as
// bench/c/client.c (see bsdsock.ts for the list). Measurement helpers mirror measure.ts.
import * as dgram from "node:dgram";
import * as fs from "node:fs";
import * as net from "node:net";

const [workload, ...args] = process.argv.slice(2);
const host = "127.0.0.1";

const begin = () => ({ cpu0: process.cpuUsage(), t0: performance.now() });
function finish(p) {
  const wall_s = (performance.now() - p.t0) / 1e3;
  const c = process.cpuUsage(p.cpu0);
  return { wall_s, user_s: c.user / 1e6, sys_s: c.system / 1e6, cpu_s: (c.user + c.system) / 1e6 };
}
const print = (r) => process.stdout.write(`${JSON.stringify(r)}\n`);
function latencyStats(lat, wall_s) {
  const n = lat.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += lat[i];
  const s = lat.slice().sort();
  return { rtts: n, median_us: s[n >> 1] * 1e3, p99_us: s[Math.floor(n * 0.99)] * 1e3, mean_us: (sum / n) * 1e3, per_rtt_wall_us: (wall_s / n) * 1e6 };
}
const int = (i) => {
  const v = Number(args[i]);
  if (!Number.isSafeInteger(v)) throw new Error(`argument ${i} must be an integer, got ${args[i]}`);
  return v;
};
function datagram(size, run) {
  const b = Buffer.alloc(Math.max(size, 5));
  b.writeUInt32LE(run, 1);
  return b;
}

const where = (w) => (typeof w === "string" ? { path: w } : { host, port: w, noDelay: true });

function pingpong(kind, target, rtts, warmup, size) {
  return new Promise((resolve, reject) => {
    const out = Buffer.alloc(size);
    const lat = new Float64Array(rtts);
    let i = -warmup, got = 0, t = 0, p = begin();
    const sock = net.connect(where(kind === "tcp" ? Number(target) : target), () => {
      if (kind === "tcp") sock.setNoDelay(true);
      if (warmup === 0) p = begin();
      t = performance.now();
      sock.write(out);
    });
    sock.on("data", (d) => {
      got += d.length;
      while (got >= size) {
        got -= size;
        if (i >= 0) lat[i] = performance.now() - t;
        i++;
        if (i === 0) p = begin();
        if (i >= rtts) {
          const f = finish(p);
          print({ ...f, ...latencyStats(lat, f.wall_s) });
          sock.destroy();
          resolve();
          return;
        }
        t = performance.now();
        sock.write(out);
      }
    });
    sock.on("error", reject);
  });
}

/** A file to the sink, read in 64 KiB chunks (readSync) and written with net.Socket write + drain. */
function file(port, path, total, method) {
  if (method !== "readsend") throw new Error("node:net has no sendfile");
  return new Promise((resolve, reject) => {
    const fd = fs.openSync(path, "r");
    let sent = 0, p = begin();
    const sock = net.connect(where(port), () => { p = begin(); pump(); });
    function pump() {
      while (sent < total) {
        const buf = Buffer.allocUnsafe(Math.min(1 << 16, total - sent)); // write() keeps what it queues
        const n = fs.readSync(fd, buf, 0, buf.length, null);
        if (n <= 0) { reject(new Error("file shorter than expected")); return; }
        sent += n;
        if (!sock.write(n === buf.length ? buf : buf.subarray(0, n))) { sock.once("drain", pump); return; }
      }
      sock.end();
    }
    sock.on("data", () => {});
    sock.on("close", () => {
      const f = finish(p);
      fs.closeSync(fd);
      print({ ...f, bytes: sent, gib_per_s: sent / f.wall_s / 2 ** 30 });
      resolve();
    });
    sock.on("error", reject);
  });
}

function bulk(port, total, wsize) {
  return new Promise((resolve, reject) => {
    const buf = Buffer.alloc(wsize, 0x78); // real bytes in every contender (see client.c)
    let sent = 0, p = begin();
    const sock = net.connect(where(port), () => { p = begin(); pump(); });
    // write() queues what the kernel does not take; false = wait for drain
    function pump() {
      while (sent < total) {
        const n = Math.min(wsize, total - sent);
        sent += n;
        if (!sock.write(n === wsize ? buf : buf.subarray(0, n))) { sock.once("drain", pump); return; }
      }
      sock.end(); // FIN after the queue is flushed; the sink closes once it has read everything
    }
    sock.on("data", () => {});
    sock.on("close", () => {
      const f = finish(p);
      print({ ...f, bytes: sent, gib_per_s: sent / f.wall_s / 2 ** 30 });
      resolve();
    });
    sock.on("error", reject);
  });
}

async function udp(port, count, size, run, warmup, method) {
  if (method !== "one") throw new Error(`node:dgram has no ${method} method`);
  const buf = datagram(size, run);
  const sock = dgram.createSocket("udp4");
  await new Promise((r) => sock.bind(0, host, r));
  // send() is asynchronous: keep at most `window` datagrams in flight
  const window = 1024;
  let inflight = 0, errors = 0, wake = null;
  const done = (err) => {
    if (err) errors++;
    inflight--;
    if (wake && inflight <= window / 2) { const w = wake; wake = null; w(); }
  };
  const send = async (n) => {
    for (let i = 0; i < n; i++) {
      if (inflight >= window) await new Promise((r) => { wake = r; });
      inflight++;
      sock.send(buf, port, host, done);
    }
    while (inflight > 0) await new Promise((r) => { wake = r; setTimeout(r, 5); });
  };
  // warm-up datagrams (kind 2, ignored by the sink); every one has completed when send() returns
  buf[0] = 2;
  await send(warmup);
  buf[0] = 0;
  errors = 0;
  const p = begin();
  await send(count);
  const f = finish(p);
  const end = datagram(5, run);
  end[0] = 1;
  for (let k = 0; k < 5; k++) {
    await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => sock.send(end, port, host, r));
  }
  sock.close();
  print({ ...f, sent: count - errors, send_errors: errors, sent_per_s: (count - errors) / f.wall_s });
}

async function connrate(port, count) {
  const p = begin();
  for (let i = 0; i < count; i++) {
    await new Promise((resolve, reject) => {
      const s = net.connect({ host, port });
      s.on("data", () => {});
      s.on("end", () => s.end());
      s.on("close", resolve);
      s.on("error", reject);
    });
  }
  const f = finish(p);
  print({ ...f, conns: count, conn_per_s: count / f.wall_s });
}

function server() {
  const srv = net.createServer((s) => {
    s.setNoDelay(true);
    s.on("data", (d) => s.write(d));
    s.on("error", () => s.destroy());
  });
  srv.listen({ host, port: 0, backlog: 4096 }, () => process.stdout.write(`PORT ${srv.address().port}\n`));
}

// node:http, the same handler as the others' (a 12-byte body): on its own net server, or with
// "emit" fed each connection of a net.Server by emit("connection", socket) — the path a
// connection from elsewhere (toDuplex) takes, which Bun serves without its native HTTP parser.
async function httpServer(how) {
  const http = await import("node:http");
  const app = http.createServer((_req, res) => res.end("hello world\n"));
  process.on("SIGTERM", () => process.exit(0));
  const srv = how === "emit" ? net.createServer((s) => { s.setNoDelay(true); app.emit("connection", s); }) : app;
  srv.listen({ host, port: 0, backlog: 4096 }, () => process.stdout.write(`PORT ${srv.address().port}\n`));
}

switch (workload) {
  case "pingpong": await pingpong(args[0], args[1], int(2), int(3), int(4)); break;
  case "bulk": await bulk(int(0), int(1), int(2)); break;
  case "udp": await udp(int(0), int(1), int(2), int(3), int(4), args[5] ?? "one"); break;
  case "connrate": await connrate(int(0), int(1)); break;
  case "file": await file(int(0), args[1], int(2), args[3] ?? "readsend"); break;
  case "server": server(); break;
  case "httpserver": await httpServer(args[0]); break;
  default: throw new Error(`unknown workload ${workload}`);
}
