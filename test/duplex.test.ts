/**
 * AsyncSocket.toDuplex() and the WHATWG streams carrying the JavaScript protocol ecosystem
 * (node:tls, node:http, WebSocket) against real peers: openssl s_server, curl, python3's
 * http.server, the ws package. Every test checks that no socket fd is left open afterwards.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { Duplex } from "node:stream";
import { join } from "node:path";
import tls from "node:tls";
import { AsyncSocket } from "../src/async/async.ts";
import { SocketDuplex } from "../src/async/duplex.ts";
import { reactorReady } from "../src/async/reactor.ts";
import { SocketError } from "../src/core/errors.ts";
import { Socket } from "../src/socket/socket.ts";
import { bun, expectNoFdLeaks, freePort, root, run, start, waitListening, type Running } from "./helpers.ts";

expectNoFdLeaks();

const curl = Bun.which("curl");
const openssl = Bun.which("openssl");
const python3 = Bun.which("python3");
const noCurl = curl ? null : "curl not on PATH";
const noOpenssl = openssl ? null : "openssl not on PATH";
const noPython = python3 ? null : "python3 not on PATH";
for (const reason of [noCurl, noOpenssl, noPython]) if (reason) console.log(`skipping the tests that need it: ${reason}`);

const loopback = { family: "inet", host: "127.0.0.1", port: 0 } as const;
const portOf = (s: AsyncSocket | Socket): number => (s.localAddress as { port: number }).port;
const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

let dir = "";
let key: Buffer;
let cert: Buffer;
beforeAll(async () => {
  await reactorReady(); // its fds exist before any test counts
  dir = mkdtempSync(join(tmpdir(), "bsdsock-duplex-"));
  if (openssl) {
    const r = await run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "2", "-subj", "/CN=localhost",
      "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]);
    if (r.code !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
    key = readFileSync(join(dir, "key.pem"));
    cert = readFileSync(join(dir, "cert.pem"));
  }
  return () => rmSync(dir, { recursive: true, force: true });
});

/** This process's socket fds ("socket:[inode]"). */
function socketFds(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith("socket:")) out.push(`${fd} -> ${target}`);
    } catch { /* the listing's own fd */ }
  }
  return out;
}

let socketsBefore: string[] = [];
const cleanups: Array<() => unknown> = [];
/** Runs after the test, whatever happened (servers, listeners, child processes). */
function later(f: () => unknown): void {
  cleanups.push(f);
}
beforeEach(() => {
  socketsBefore = socketFds();
});
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
  // Every socket a test opened is closed once its peers are done: waited for (bounded), then asserted.
  const leaked = (): string[] => socketFds().filter((s) => !socketsBefore.includes(s));
  for (let i = 0; i < 100 && leaked().length > 0; i++) await Bun.sleep(20);
  expect(leaked()).toEqual([]);
});

/** Resolves when `emitter` emits `event`, rejects after `ms`. */
function once<T = unknown>(emitter: NodeJS.EventEmitter, event: string, ms = 10_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${ms} ms`)), ms);
    emitter.once(event, (v: T) => { clearTimeout(timer); resolve(v); });
  });
}

/** Resolves once the Duplex has emitted 'close' (at once if it already has). */
function whenClosed(d: Duplex, ms = 10_000): Promise<void> {
  return d.closed ? Promise.resolve() : once(d, "close", ms).then(() => undefined);
}

/** All of a readable's bytes, up to its 'end' (events, not for-await, which destroys the stream when done). */
function collect(r: NodeJS.ReadableStream, ms = 20_000): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error(`no 'end' within ${ms} ms`)), ms);
    r.on("data", (c: Buffer | string) => parts.push(typeof c === "string" ? Buffer.from(c) : c));
    r.once("end", () => { clearTimeout(timer); resolve(Buffer.concat(parts)); });
    r.once("error", (e) => { clearTimeout(timer); reject(e); });
    r.resume(); // also when paused explicitly
  });
}

/** Serves accepted AsyncSockets to `use` (each through toDuplex) until the listener closes. */
function serve(listener: AsyncSocket, use: (d: SocketDuplex) => void): { closed: () => number; opened: () => number } {
  let opened = 0;
  let closed = 0;
  void (async () => {
    for await (const c of listener.connections()) {
      const d = c.toDuplex();
      opened++;
      d.on("close", () => closed++);
      use(d);
    }
  })();
  later(() => listener.close());
  return { opened: () => opened, closed: () => closed };
}

/** An http.Server answering GET with the path and POST with the body's length and sha256 (and the body back on /echo). */
function httpApp(): http.Server {
  return http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d));
    req.on("end", () => {
      const body = Buffer.concat(parts);
      if (req.url === "/echo") res.end(body);
      else if (req.url?.startsWith("/big/")) res.end(Buffer.alloc(Number(req.url.slice(5)), 0x61));
      else res.end(`${req.method} ${req.url} ${body.length} ${sha256(body)}\n`);
    });
  });
}

describe("toDuplex(): the Duplex itself", () => {
  test("bytes both ways, end() is shutdown(SHUT_WR), and the fd closes exactly once when both sides are done", async () => {
    const [a, b] = AsyncSocket.pair("unix", "stream");
    const da = a.toDuplex();
    const db = b.toDuplex();
    let closes = 0;
    da.on("close", () => closes++);
    da.write("hello ");
    da.end("world");
    expect((await collect(db)).toString()).toBe("hello world"); // db's readable ended: the peer's shutdown
    expect(a.closed).toBe(false); // da's readable has not ended yet
    db.end("back");
    expect((await collect(da)).toString()).toBe("back");
    await whenClosed(da);
    await whenClosed(db);
    expect([a.closed, b.closed, closes]).toEqual([true, true, 1]);
    da.destroy(); // after the fact: nothing more happens
    expect(closes).toBe(1);
  });

  test("allowHalfOpen false ends the writable side when the peer ends; destroy() closes at once", async () => {
    const [a, b] = AsyncSocket.pair("unix", "stream");
    const da = a.toDuplex({ allowHalfOpen: false });
    const db = b.toDuplex();
    db.end("bye");
    expect((await collect(da)).toString()).toBe("bye");
    await whenClosed(da);
    expect(a.closed).toBe(true);
    expect((await collect(db)).length).toBe(0); // da ended its side too
    db.destroy();
    expect(b.closed).toBe(true);
  });

  test("read backpressure: no recv while push() says stop, then every byte in order", async () => {
    const [a, b] = AsyncSocket.pair("unix", "stream");
    const d = a.toDuplex({ readableHighWaterMark: 16 * 1024 });
    const data = randomBytes(4 << 20);
    const sending = b.sendAll(data);
    d.pause();
    d.read(0); // one read: fills up to the high-water mark, then stops
    await Bun.sleep(200);
    // At most the high-water mark plus one recv (64 KiB) is buffered in JavaScript; the rest waits in the kernel.
    expect(d.readableLength).toBeLessThanOrEqual(16 * 1024 + 65536);
    expect(d.bytesRead).toBeLessThanOrEqual(16 * 1024 + 65536);
    const all = collect(d);
    await sending;
    b.shutdown("write");
    expect(sha256(await all)).toBe(sha256(data));
    d.end();
    await whenClosed(d);
    b.close();
  });

  test("end() after the peer reset the connection is no error (ENOTCONN/EPIPE mean done)", async () => {
    const listener = AsyncSocket.listen(loopback);
    later(() => listener.close());
    const client = await AsyncSocket.connect({ ...loopback, port: portOf(listener) });
    const [peer] = await listener.accept();
    const d = client.toDuplex(); // not read: no recv sees the reset, only the shutdown does
    const errors: unknown[] = [];
    d.on("error", (e) => errors.push(e));
    peer.setOption("linger", { onoff: true, seconds: 0 });
    peer.close(); // RST: the connection is gone, shutdown(2) says ENOTCONN
    await Bun.sleep(50);
    const finished = once(d, "finish");
    d.end();
    await finished;
    expect(errors).toEqual([]);
    d.destroy();
    expect(client.closed).toBe(true);
  });

  test("net.Socket's members: addresses, setNoDelay, setKeepAlive, setTimeout, address()", async () => {
    const listener = AsyncSocket.listen(loopback);
    later(() => listener.close());
    const client = await AsyncSocket.connect({ ...loopback, port: portOf(listener) });
    const [peer] = await listener.accept();
    const d = client.toDuplex();
    expect([d.remoteAddress, d.remotePort, d.remoteFamily]).toEqual(["127.0.0.1", portOf(listener), "IPv4"]);
    expect([d.localAddress, d.localPort, d.localFamily]).toEqual(["127.0.0.1", portOf(client), "IPv4"]);
    expect(d.address()).toEqual({ address: "127.0.0.1", family: "IPv4", port: portOf(client) });
    d.setNoDelay(true);
    expect(client.getOption("noDelay")).toBe(true);
    d.setKeepAlive(true, 5000);
    expect([client.getOption("keepAlive"), client.getOption("keepAliveIdle")]).toEqual([true, 5]);
    const t0 = performance.now();
    d.setTimeout(100);
    await once(d, "timeout");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(90);
    expect(d.destroyed).toBe(false); // a timeout only tells; the listener decides
    d.setTimeout(0);
    expect(d.timeout).toBe(0);
    expect(() => d.setTimeout(-1)).toThrow(RangeError);
    const localPort = d.localPort;
    d.destroy();
    expect([d.remoteAddress, d.localPort]).toEqual(["127.0.0.1", localPort]); // still known after close
    peer.close();

    const [u, v] = AsyncSocket.pair("unix", "stream");
    const du = u.toDuplex();
    expect([du.remoteAddress, du.remotePort, du.localAddress]).toEqual([undefined, undefined, undefined]);
    expect(du.address()).toEqual({});
    du.setNoDelay(true).setKeepAlive(true, 1000); // no-ops on a unix socket, as net.Socket over a pipe
    du.destroy();
    v.close();
  });

  test("refused: datagram and raw sockets (TypeError), listeners, a socket whose readable is in use, bad sizes", () => {
    const [x, y] = AsyncSocket.pair("unix", "dgram");
    expect(() => x.toDuplex()).toThrow(TypeError);
    const listener = AsyncSocket.listen(loopback);
    expect(() => listener.toDuplex()).toThrow(/listening socket/);
    listener.close();
    const [a, b] = AsyncSocket.pair("unix", "stream");
    void a.readable;
    expect(() => a.toDuplex()).toThrow(/already go to another stream/);
    expect(() => b.toDuplex({ readSize: 0 })).toThrow(RangeError);
    expect(() => b.toDuplex({ readSize: 2 ** 40 })).toThrow(RangeError);
    expect(() => b.toDuplex({ recordSize: -1 })).toThrow(RangeError);
    const d = b.toDuplex();
    expect(() => b.toDuplex()).toThrow(TypeError);
    expect(() => b.readable).toThrow(/toDuplex/);
    expect(() => b.writable).toThrow(/toDuplex/);
    d.destroy();
    const closed = new AsyncSocket("unix", "stream");
    closed.close();
    expect(() => closed.toDuplex()).toThrow(SocketError);
    for (const s of [x, y, a, b]) s.close();
  });

  test("seqpacket: each write() is one record, each record one chunk; too long is EMSGSIZE unless recordSize splits it", async () => {
    const [a, b] = AsyncSocket.pair("unix", "seqpacket");
    const da = a.toDuplex();
    const db = b.toDuplex();
    const chunks: Buffer[] = [];
    db.on("data", (c: Buffer) => chunks.push(c));
    const sizes = [1, 70_000, 150_000, 3];
    for (const n of sizes) da.write(Buffer.alloc(n, n & 0xff));
    await new Promise<void>((r) => da.write("", () => r()));
    for (let i = 0; i < 100 && chunks.length < sizes.length; i++) await Bun.sleep(10);
    expect(chunks.map((c) => c.length)).toEqual(sizes);
    const error = once<Error>(da, "error");
    da.write(Buffer.alloc(4 << 20));
    expect(((await error) as SocketError).code).toBe("EMSGSIZE");
    expect(a.closed).toBe(true); // an error destroys: the fd is released
    db.destroy();

    const [c, e] = AsyncSocket.pair("unix", "seqpacket");
    const dc = c.toDuplex({ recordSize: 65536 });
    const de = e.toDuplex();
    const big = randomBytes(1 << 20);
    dc.resume(); // its readable must be consumed to reach 'end'
    dc.end(big);
    const got = await collect(de);
    expect(sha256(got)).toBe(sha256(big));
    de.end();
    await whenClosed(dc);
    await whenClosed(de);
    expect([c.closed, e.closed]).toEqual([true, true]);
  });
});

describe("node:tls over toDuplex()", () => {
  /** openssl s_server -rev for one connection, on a TCP port or a unix path. */
  async function sServer(where: { port: number } | { path: string }): Promise<Running> {
    const accept = "port" in where ? ["-accept", `127.0.0.1:${where.port}`] : ["-unix", where.path];
    const s = start([openssl!, "s_server", ...accept, "-naccept", "1", "-cert", join(dir, "cert.pem"), "-key", join(dir, "key.pem"), "-rev", "-quiet"], {}, 20_000);
    later(() => s.proc.kill());
    if ("port" in where) await waitListening(where.port, 10_000, s);
    else {
      for (let i = 0; i < 500 && !existsSync(where.path) && s.proc.exitCode === null; i++) await Bun.sleep(10);
      if (!existsSync(where.path)) {
        s.proc.kill();
        const o = await s.done;
        throw new Error(`openssl s_server -unix did not listen: ${o.stdout} ${o.stderr}`);
      }
    }
    return s;
  }

  async function reverseOver(sock: AsyncSocket): Promise<void> {
    const t = tls.connect({ socket: sock.toDuplex(), ca: cert, servername: "localhost" });
    await once(t, "secureConnect");
    expect(t.authorized).toBe(true);
    expect(t.getProtocol()).toBe("TLSv1.3");
    t.write("hello bsdsock\n");
    const line = await once<Buffer>(t, "data");
    expect(line.toString()).toBe("kcosdsb olleh\n");
    t.end();
    await once(t, "close");
    for (let i = 0; i < 100 && !sock.closed; i++) await Bun.sleep(10);
    expect(sock.closed).toBe(true);
  }

  test.skipIf(noOpenssl !== null)("tls.connect({ socket }) to openssl s_server over TCP: verified TLS 1.3, bytes both ways, fd released", async () => {
    const port = freePort();
    const s = await sServer({ port });
    await reverseOver(await AsyncSocket.connect({ ...loopback, port }));
    expect((await s.done).code).toBe(0);
  });

  test.skipIf(noOpenssl !== null)("tls.connect({ socket }) to openssl s_server on a unix socket", async () => {
    // A short path: openssl 3's s_server -unix fails ("addr_strings: system lib") on paths of ~36+ bytes.
    const path = join(tmpdir(), `bsds-${process.pid}.sock`);
    rmSync(path, { force: true });
    const s = await sServer({ path });
    await reverseOver(await AsyncSocket.connect({ family: "unix", path }));
    expect((await s.done).code).toBe(0);
    rmSync(path, { force: true });
  });

  test.skipIf(noOpenssl !== null || noCurl !== null)("HTTPS server: tls.TLSSocket(duplex, { isServer }) fed by an accept loop answers curl (self-signed CA)", async () => {
    const app = httpApp();
    const listener = AsyncSocket.listen(loopback);
    const counts = serve(listener, (d) => app.emit("connection", new tls.TLSSocket(d, { isServer: true, key, cert, ALPNProtocols: ["http/1.1"] })));
    const port = portOf(listener);
    const r = await run([curl!, "-sS", "--cacert", join(dir, "cert.pem"), `https://localhost:${port}/one`, `https://localhost:${port}/two`,
      "--next", "--cacert", join(dir, "cert.pem"), "-H", "Connection: close", `https://localhost:${port}/three`]);
    expect(r.stderr).toBe("");
    expect(r.stdout.split("\n").map((l) => l.split(" ").slice(0, 2).join(" "))).toEqual(["GET /one", "GET /two", "GET /three", ""]);
    for (let i = 0; i < 100 && counts.closed() < counts.opened(); i++) await Bun.sleep(10);
    expect(counts.opened()).toBe(1); // curl kept one connection for all three; the server closed it after "Connection: close"
    expect(counts.closed()).toBe(1);
  });
});

describe("node:http over toDuplex()", () => {
  /** curl over `n` URLs (keep-alive or Connection: close), each line "code connects". */
  async function curlMany(base: string[], url: (i: number) => string, n: number, close: boolean): Promise<{ codes: Set<string>; connects: number }> {
    const cfg = join(dir, `urls-${close}.cfg`);
    writeFileSync(cfg, Array.from({ length: n }, (_, i) => `url = "${url(i)}"\noutput = "/dev/null"\n`).join(""));
    const r = await run([curl!, "-sS", ...base, ...(close ? ["-H", "Connection: close"] : []), "-w", "%{http_code} %{num_connects}\\n", "-K", cfg], {}, 60_000);
    expect(r.stderr).toBe("");
    const lines = r.stdout.trim().split("\n");
    expect(lines.length).toBe(n);
    return { codes: new Set(lines.map((l) => l.split(" ")[0]!)), connects: lines.reduce((s, l) => s + Number(l.split(" ")[1]), 0) };
  }

  for (const where of ["tcp", "unix"] as const) {
    test.skipIf(noCurl !== null)(`${where}: 1 000 curl connections (Connection: close), then keep-alive, then an 8 MiB POST echoed; every fd released`, async () => {
      const app = httpApp();
      const path = join(dir, "http.sock");
      const listener = where === "tcp" ? AsyncSocket.listen(loopback) : AsyncSocket.listen({ family: "unix", path });
      later(() => rmSync(path, { force: true }));
      const counts = serve(listener, (d) => app.emit("connection", d));
      const base = where === "tcp" ? [] : ["--unix-socket", path];
      const host = where === "tcp" ? `http://127.0.0.1:${portOf(listener)}` : "http://localhost";
      const closing = await curlMany(base, (i) => `${host}/c${i}`, 1000, true);
      expect([...closing.codes]).toEqual(["200"]);
      expect(closing.connects).toBe(1000);
      const kept = await curlMany(base, (i) => `${host}/k${i}`, 200, false);
      expect([...kept.codes]).toEqual(["200"]);
      expect(kept.connects).toBe(1);
      const body = randomBytes(8 << 20);
      const file = join(dir, "body.bin");
      writeFileSync(file, body);
      const out = join(dir, "echoed.bin");
      const r = await run([curl!, "-sS", ...base, "--data-binary", `@${file}`, "-o", out, `${host}/echo`], {}, 60_000);
      expect(r.stderr).toBe("");
      expect(sha256(readFileSync(out))).toBe(sha256(body));
      const big = await run([curl!, "-sS", ...base, `${host}/big/${5 << 20}`, "-o", out], {}, 60_000);
      expect(big.stderr).toBe("");
      expect(readFileSync(out).length).toBe(5 << 20);
      for (let i = 0; i < 200 && counts.closed() < counts.opened(); i++) await Bun.sleep(10);
      expect([counts.opened(), counts.closed()]).toEqual([1003, 1003]);
    }, 90_000);
  }

  test.skipIf(noPython !== null)("http.request({ createConnection }) to python3 -m http.server: the file, byte for byte", async () => {
    const served = join(dir, "www");
    rmSync(served, { recursive: true, force: true });
    mkdirSync(served);
    const content = randomBytes(3 << 20);
    writeFileSync(join(served, "blob.bin"), content);
    const port = freePort();
    const py = start([python3!, "-m", "http.server", "--bind", "127.0.0.1", "--directory", served, String(port)], {}, 30_000);
    later(() => py.proc.kill());
    await waitListening(port, 10_000, py);
    const socks: AsyncSocket[] = [];
    for (const name of ["blob.bin", "blob.bin"]) {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = http.request({
          host: "127.0.0.1", port, path: `/${name}`,
          createConnection: (_opts: unknown, callback: (err: Error | null, s?: Duplex) => void) => {
            AsyncSocket.connect({ ...loopback, port }).then((s) => { socks.push(s); callback(null, s.toDuplex()); }, (e: Error) => callback(e));
            return undefined;
          },
        } as http.RequestOptions, resolve);
        req.on("error", reject);
        req.end();
      });
      expect(res.statusCode).toBe(200);
      expect(sha256(await collect(res))).toBe(sha256(content));
    }
    for (let i = 0; i < 100 && socks.some((s) => !s.closed); i++) await Bun.sleep(10);
    expect(socks.map((s) => s.closed)).toEqual([true, true]);
  });

  test("HTTP/1.1 over a seqpacket socketpair: 1 MiB request and response bodies (recordSize 64 KiB)", async () => {
    const app = httpApp();
    const body = randomBytes(1 << 20);
    const pairs: AsyncSocket[][] = [];
    for (let i = 0; i < 2; i++) {
      const [a, b] = AsyncSocket.pair("unix", "seqpacket");
      pairs.push([a, b]);
      app.emit("connection", a.toDuplex({ recordSize: 65536 }));
      // (Bun 1.4.4 ignores createConnection when agent is false: the default agent is used.)
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = http.request({ path: "/echo", method: "POST", createConnection: () => b.toDuplex({ recordSize: 65536 }) } as http.RequestOptions, resolve);
        req.on("error", reject);
        req.end(body);
      });
      expect(res.statusCode).toBe(200);
      expect(sha256(await collect(res))).toBe(sha256(body));
      res.socket?.destroy();
    }
    for (let i = 0; i < 200 && pairs.flat().some((s) => !s.closed); i++) await Bun.sleep(10);
    expect(pairs.flat().map((s) => s.closed)).toEqual([true, true, true, true]);
  });

  test("a peer that resets mid-body, and a client that aborts mid-response, leave nothing open", async () => {
    const app = httpApp();
    const listener = AsyncSocket.listen(loopback);
    const counts = serve(listener, (d) => app.emit("connection", d));
    const port = portOf(listener);
    // Clients on this thread are async: a blocking one would stop the server it talks to.
    // Mid-request: a POST announcing 1 MiB, 1 KiB sent, then RST.
    const c = await AsyncSocket.connect({ ...loopback, port });
    await c.sendAll(`POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: ${1 << 20}\r\n\r\n${"z".repeat(1024)}`);
    await Bun.sleep(50);
    c.setOption("linger", { onoff: true, seconds: 0 });
    c.close();
    // Mid-response: a 32 MiB answer, 64 KiB of it read, then RST.
    const d = await AsyncSocket.connect({ ...loopback, port });
    d.setOption("receiveBufferSize", 4096);
    await d.sendAll(`GET /big/${32 << 20} HTTP/1.1\r\nHost: h\r\n\r\n`);
    let got = 0;
    while (got < 65536) got += (await d.recv(65536, { timeout: 5000 })).length;
    d.setOption("linger", { onoff: true, seconds: 0 });
    d.close();
    for (let i = 0; i < 200 && counts.closed() < 2; i++) await Bun.sleep(10);
    expect([counts.opened(), counts.closed()]).toEqual([2, 2]);
  });
});

describe("WebSocket over toDuplex()", () => {
  const requireHere = createRequire(import.meta.url);
  // Bun maps the bare "ws" specifier to its own built-in; the npm package is loaded by path.
  const wsPackage = join(root, "node_modules", "ws", "lib");
  const noWs = existsSync(join(wsPackage, "websocket.js")) ? null : "the ws package is not installed (npm install)";
  const implementations: Array<[string, () => { WebSocket: typeof import("ws").WebSocket; WebSocketServer: typeof import("ws").WebSocketServer }]> = [
    ["the ws package", () => ({ WebSocket: requireHere(join(wsPackage, "websocket.js")), WebSocketServer: requireHere(join(wsPackage, "websocket-server.js")) })],
    ["Bun's built-in ws", () => requireHere("ws")],
  ];
  for (const [name, load] of implementations) {
    for (const over of ["a unix socketpair", "TCP"] as const) {
      test.skipIf(noWs !== null)(`${name}: echo over ${over}, text and a 1 MiB binary message; close releases both fds`, async () => {
        const { WebSocket, WebSocketServer } = load();
        const wss = new WebSocketServer({ noServer: true });
        const app = http.createServer();
        app.on("upgrade", (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => ws.on("message", (m, binary) => ws.send(m, { binary }))));
        let a: AsyncSocket;
        let b: AsyncSocket;
        if (over === "TCP") {
          const listener = AsyncSocket.listen(loopback);
          const connecting = AsyncSocket.connect({ ...loopback, port: portOf(listener) });
          [a] = await listener.accept();
          b = await connecting;
          listener.close();
        } else [a, b] = AsyncSocket.pair("unix", "stream");
        app.emit("connection", a.toDuplex());
        const ws = new WebSocket("ws://localhost/echo", { createConnection: () => b.toDuplex() } as unknown as ConstructorParameters<typeof WebSocket>[1]);
        await once(ws, "open");
        const big = randomBytes(1 << 20);
        const replies: Buffer[] = [];
        const done = new Promise<void>((resolve) => ws.on("message", (m: Buffer) => { replies.push(m); if (replies.length === 2) resolve(); }));
        ws.send("hi bsdsock");
        ws.send(big);
        await done;
        expect(replies[0]!.toString()).toBe("hi bsdsock");
        expect(sha256(replies[1]!)).toBe(sha256(big));
        ws.close(1000, "done");
        await once(ws, "close");
        for (let i = 0; i < 200 && !(a.closed && b.closed); i++) await Bun.sleep(10);
        expect([a.closed, b.closed]).toEqual([true, true]);
        wss.close();
      });
    }
  }
});

describe("WHATWG streams release the fd", () => {
  test("readable ended and writable closed: the socket closes (and not before)", async () => {
    const [a, b] = AsyncSocket.pair("unix", "stream");
    const w = a.writable.getWriter();
    await w.write("ping");
    await w.close(); // shutdown(SHUT_WR)
    expect(a.closed).toBe(false);
    expect(new TextDecoder().decode(await b.recv(10))).toBe("ping");
    b.close();
    const r = a.readable.getReader();
    expect((await r.read()).done).toBe(true);
    expect(a.closed).toBe(true);
  });

  test("a closed writable after the peer left is no error", async () => {
    const [a, b] = AsyncSocket.pair("unix", "stream");
    b.close();
    await a.writable.close();
    a.close();
  });

  test.skipIf(noCurl !== null)("Duplex.fromWeb over readable/writable under node:http: 50 curl connections leave no fd (close and keep-alive)", async () => {
    const app = httpApp();
    const listener = AsyncSocket.listen(loopback);
    const socks: AsyncSocket[] = [];
    void (async () => {
      for await (const c of listener.connections()) {
        socks.push(c);
        app.emit("connection", Duplex.fromWeb({ readable: c.readable, writable: c.writable }));
      }
    })();
    later(() => listener.close());
    const port = portOf(listener);
    const urls = Array.from({ length: 25 }, (_, i) => `http://127.0.0.1:${port}/w${i}`);
    const r1 = await run([curl!, "-sS", "-H", "Connection: close", ...urls.flatMap((u) => ["-o", "/dev/null", u])], {}, 30_000);
    const r2 = await run([curl!, "-sS", ...urls.flatMap((u) => ["-o", "/dev/null", u])], {}, 30_000);
    expect([r1.stderr, r2.stderr]).toEqual(["", ""]);
    for (let i = 0; i < 200 && socks.some((s) => !s.closed); i++) await Bun.sleep(10);
    expect(socks.length).toBe(26);
    expect(socks.filter((s) => !s.closed).length).toBe(0);
  });
});


describe("examples/https-unix.ts and examples/http-client.ts", () => {
  /** Starts an example and waits for its first stdout line. */
  async function startExample(args: string[]): Promise<{ proc: ReturnType<typeof Bun.spawn>; line: string; rest: Promise<string>; stderr: Promise<string> }> {
    const proc = Bun.spawn([bun, ...args], { cwd: root, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const killer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
    later(() => { clearTimeout(killer); proc.kill("SIGKILL"); });
    const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const rest = (async () => {
      let more = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return more;
        more += new TextDecoder().decode(value);
      }
    })();
    return { proc, line: text.split("\n")[0]!, rest, stderr: new Response(proc.stderr as ReadableStream).text() };
  }

  test.skipIf(noCurl !== null || noOpenssl !== null)("https-unix.ts on a path: curl --unix-socket with its CA gets both answers; the socket file goes", async () => {
    const path = join(dir, "https.sock");
    const ex = await startExample(["examples/https-unix.ts", "--path", path, "--requests", "2"]);
    const m = /^https on unix:(.*), CA (.*)$/.exec(ex.line);
    expect(m?.[1]).toBe(path);
    const r = await run([curl!, "-sS", "--cacert", m![2]!, "--unix-socket", path, "https://localhost/one", "--data", "12345", "https://localhost/two"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`hello over TLS on unix:${path}: POST /one (5 bytes)\nhello over TLS on unix:${path}: POST /two (5 bytes)\n`);
    expect(await ex.proc.exited).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  test.skipIf(noCurl !== null || noOpenssl !== null)("https-unix.ts on an abstract name: curl --abstract-unix-socket; SIGTERM stops it with status 0", async () => {
    const name = `bsdsock-https-${process.pid}`;
    const ex = await startExample(["examples/https-unix.ts", "--abstract", name]);
    expect(ex.line).toStartWith(`https on unix:@${name}, CA `);
    const ca = ex.line.slice(ex.line.indexOf(", CA ") + 5);
    const r = await run([curl!, "-sS", "--cacert", ca, "--abstract-unix-socket", name, "https://localhost/abstract"]);
    expect(r.stdout).toBe(`hello over TLS on unix:@${name}: GET /abstract (0 bytes)\n`);
    ex.proc.kill("SIGTERM");
    expect(await ex.proc.exited).toBe(0);
    expect(await ex.stderr).toBe("");
  });

  test("https-unix.ts usage errors exit 2", async () => {
    for (const args of [[], ["--path", "/tmp/x", "--abstract", "y"], ["--path", "/tmp/x", "--cert", "c"], ["--path", "/tmp/x", "--requests", "0"]]) {
      const r = await run([bun, "examples/https-unix.ts", ...args]);
      expect([r.code, r.stderr.split("\n")[1]]).toEqual([2, expect.stringMatching(/^usage: https-unix.ts/)]);
    }
  });

  test("http-client.ts --local-port: the server sees the connection come from that port; refused is exit 1 with perror text", async () => {
    const listener = AsyncSocket.listen(loopback);
    const app = http.createServer((req, res) => res.end(`from port ${(req.socket as unknown as SocketDuplex).remotePort}\n`));
    serve(listener, (d) => app.emit("connection", d));
    const local = freePort();
    const device = process.getuid?.() === 0 ? ["--device", "lo"] : []; // SO_BINDTODEVICE needs CAP_NET_RAW before Linux 5.7
    const r = await run([bun, "examples/http-client.ts", `http://127.0.0.1:${portOf(listener)}/who`, "--local-port", String(local), ...device, "--include"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith("HTTP/1.1 200 OK\r\n");
    expect(r.stdout).toEndWith(`\r\n\r\nfrom port ${local}\n`);
    const refused = await run([bun, "examples/http-client.ts", `http://127.0.0.1:${freePort()}/`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^connect: Connection refused \(127\.0\.0\.1:\d+\)\n$/);
    const bad = await run([bun, "examples/http-client.ts", "ftp://x/"]);
    expect(bad.code).toBe(2);
  });

  test.skipIf(noOpenssl !== null)("http-client.ts over https with --cacert, from a chosen port, to an HTTPS server fed by toDuplex()", async () => {
    const listener = AsyncSocket.listen(loopback);
    // A TLSSocket over a Duplex does not forward remotePort: the Duplex's own is kept for it.
    const peerPort = new WeakMap<object, number | undefined>();
    const app = http.createServer((req, res) => res.end(`secure from port ${peerPort.get(req.socket)}\n`));
    serve(listener, (d) => {
      const t = new tls.TLSSocket(d, { isServer: true, key, cert });
      peerPort.set(t, d.remotePort);
      app.emit("connection", t);
    });
    const local = freePort();
    const r = await run([bun, "examples/http-client.ts", `https://127.0.0.1:${portOf(listener)}/`, "--local-port", String(local), "--cacert", join(dir, "cert.pem")]);
    expect(r.stderr).toBe("");
    expect([r.code, r.stdout]).toEqual([0, `secure from port ${local}\n`]);
  });
});
