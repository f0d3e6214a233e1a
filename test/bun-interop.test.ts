/**
 * Handing sockets between bsdsock and Bun's own networking (Bun 1.4.4): what works is tested
 * here, and what does not is pinned by a test too, so a Bun change shows up.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { Socket } from "../src/socket/socket.ts";
import { expectNoFdLeaks } from "./helpers.ts";

expectNoFdLeaks();

const loopback = { family: "inet", host: "127.0.0.1", port: 0 } as const;
const portOf = (s: Socket): number => (s.localAddress as { port: number }).port;
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

// `fd` is accepted by Bun.connect/Bun.listen at run time but absent from bun-types 1.4.4,
// hence the casts below.

/** Resolves with the first value `register` delivers, or rejects after `ms`. */
function within<T>(ms: number, register: (resolve: (v: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nothing within ${ms} ms`)), ms);
    register((v) => { clearTimeout(timer); resolve(v); });
  });
}

describe("bsdsock fd → Bun", () => {
  test("Bun.connect({ fd }) adopts a connected bsdsock socket", async () => {
    using server = Socket.listen(loopback);
    const client = Socket.connect({ ...loopback, port: portOf(server) });
    const [peer] = server.accept();
    using _peer = peer;
    peer.timeout = 2000;
    let received!: (s: string) => void;
    const gotData = new Promise<string>((r) => { received = r; });
    const bunSocket = await Bun.connect({
      fd: client.detach(),
      socket: {
        data(_s: unknown, d: Uint8Array) { received(text(d)); },
        open(s: { write(d: string): number }) { s.write("from Bun"); },
      },
    } as unknown as Parameters<typeof Bun.connect>[0]);
    await Bun.sleep(20);
    expect(text(peer.recv(64))).toBe("from Bun");
    peer.send("to Bun");
    expect(await within(2000, (r) => { void gotData.then(r); })).toBe("to Bun");
    bunSocket.end();
  });

  test("Bun.listen({ fd }) serves on a bsdsock listening socket", async () => {
    const listener = Socket.listen(loopback);
    const port = portOf(listener);
    const bunServer = Bun.listen({
      fd: listener.detach(),
      socket: { open(s: { end(d: string): number }) { s.end("hello from Bun.listen"); }, data() {} },
    } as unknown as Parameters<typeof Bun.listen>[0]);
    try {
      using c = Socket.connect({ ...loopback, port });
      c.timeout = 2000;
      await Bun.sleep(20);
      expect(text(c.recv(64))).toBe("hello from Bun.listen");
    } finally {
      bunServer.stop(true);
    }
  });

  test("net.Server.listen({ fd }) serves on a bsdsock listening socket", async () => {
    const listener = Socket.listen(loopback);
    const port = portOf(listener);
    const server = net.createServer((s) => s.end("hello from node:net"));
    await within(2000, (r) => server.listen({ fd: listener.detach() }, () => r(undefined)));
    try {
      using c = Socket.connect({ ...loopback, port });
      c.timeout = 2000;
      await Bun.sleep(20);
      expect(text(c.recv(64))).toBe("hello from node:net");
    } finally {
      await within(2000, (r) => server.close(() => r(undefined)));
    }
  });

  test("known gap in Bun 1.4.4: new net.Socket({ fd }) fails (ERR_SOCKET_CLOSED) and leaves the fd open", async () => {
    const [a, b] = Socket.pair();
    using _b = b;
    const fd = a.detach();
    const inode = readlinkSync(`/proc/self/fd/${fd}`);
    const ns = new net.Socket({ fd, readable: true, writable: true });
    const err = await within<Error & { code?: string }>(2000, (r) => { ns.on("error", r); ns.write("x"); });
    expect(err.code).toBe("ERR_SOCKET_CLOSED");
    ns.destroy();
    await Bun.sleep(20);
    // Bun did not take ownership: the fd is still our socket, so we close it ourselves.
    expect(readlinkSync(`/proc/self/fd/${fd}`)).toBe(inode);
    Socket.fromFd(fd).close();
  });
});

describe("Bun → bsdsock", () => {
  test("a node:net socket's fd, duplicated with Socket.fromFd(fd, { duplicate: true })", async () => {
    using server = Socket.listen(loopback);
    const ns = net.connect(portOf(server), "127.0.0.1");
    await within(2000, (r) => ns.on("connect", () => r(undefined)));
    const [peer] = server.accept();
    using _peer = peer;
    const fd = (ns as unknown as { _handle?: { fd?: number } })._handle?.fd;
    expect(typeof fd).toBe("number");
    {
      using dup = Socket.fromFd(fd!, { duplicate: true });
      expect(dup.fd).not.toBe(fd);
      expect(dup.remoteAddress).toEqual(peer.localAddress);
      dup.send("through the dup");
    }
    peer.timeout = 2000;
    expect(text(peer.recv(64))).toBe("through the dup");
    ns.destroy();
  });
});

// TLS and HTTP hand-offs (Bun 1.4.4). Certificates come from openssl(1); without it these skip.
describe("bsdsock fd → Bun's TLS and HTTP servers", () => {
  const openssl = Bun.which("openssl");
  const noOpenssl = openssl ? null : "openssl not on PATH (needed for a certificate)";
  if (noOpenssl) console.log(`skipping TLS hand-off tests: ${noOpenssl}`);
  let key = "";
  let cert = "";
  beforeAll(() => {
    if (!openssl) return;
    const dir = mkdtempSync(join(tmpdir(), "bsdsock-interop-"));
    const r = Bun.spawnSync([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "2", "-subj", "/CN=localhost",
      "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], { stdio: ["ignore", "ignore", "pipe"] });
    if (r.exitCode !== 0) throw new Error(`openssl req: ${r.stderr.toString()}`);
    key = readFileSync(join(dir, "key.pem"), "utf8");
    cert = readFileSync(join(dir, "cert.pem"), "utf8");
    rmSync(dir, { recursive: true, force: true });
  });

  test.skipIf(noOpenssl !== null)("Bun.connect({ fd, tls }) speaks TLS on a connected bsdsock socket (write in handshake(): a write in open() is lost)", async () => {
    const server = tls.createServer({ key, cert }, (s) => s.on("data", (d: Buffer) => s.end(`tls echo: ${d}`)));
    await within(2000, (r) => server.listen(0, "127.0.0.1", () => r(undefined)));
    try {
      const port = (server.address() as { port: number }).port;
      const client = Socket.connect({ ...loopback, port });
      let got!: (s: string) => void;
      const reply = new Promise<string>((r) => { got = r; });
      const bunSocket = await Bun.connect({
        fd: client.detach(),
        tls: { ca: cert, serverName: "localhost" },
        socket: {
          handshake(s: { write(d: string): number }, ok: boolean) { if (ok) s.write("over bsdsock"); },
          data(_s: unknown, d: Uint8Array) { got(text(d)); },
        },
      } as unknown as Parameters<typeof Bun.connect>[0]);
      expect(await within(3000, (r) => { void reply.then(r); })).toBe("tls echo: over bsdsock");
      bunSocket.end();
    } finally {
      await within(2000, (r) => server.close(() => r(undefined)));
    }
  });

  test.skipIf(noOpenssl !== null)("Bun.listen({ fd, tls }) serves TLS on a bsdsock listening socket", async () => {
    const listener = Socket.listen(loopback);
    const port = portOf(listener);
    const bunServer = Bun.listen({
      fd: listener.detach(),
      tls: { key, cert },
      socket: { data(s: { end(d: string): number }, d: Uint8Array) { s.end(`bun tls: ${text(d)}`); } },
    } as unknown as Parameters<typeof Bun.listen>[0]);
    try {
      const c = tls.connect({ host: "127.0.0.1", port, ca: cert, servername: "localhost" });
      await within(3000, (r) => c.on("secureConnect", () => r(undefined)));
      c.write("hi");
      expect(await within<string>(3000, (r) => c.on("data", (d: Buffer) => r(d.toString())))).toBe("bun tls: hi");
      c.destroy();
    } finally {
      bunServer.stop(true);
    }
  });

  test.skipIf(noOpenssl !== null)("tls.createServer().listen({ fd }) serves TLS on a bsdsock listening socket", async () => {
    const listener = Socket.listen(loopback);
    const port = portOf(listener);
    const server = tls.createServer({ key, cert }, (s) => s.end("node tls on our fd"));
    await within(2000, (r) => server.listen({ fd: listener.detach() }, () => r(undefined)));
    try {
      const c = tls.connect({ host: "127.0.0.1", port, ca: cert, servername: "localhost" });
      expect(await within<string>(3000, (r) => c.on("data", (d: Buffer) => r(d.toString())))).toBe("node tls on our fd");
      c.destroy();
    } finally {
      await within(2000, (r) => server.close(() => r(undefined)));
    }
  });

  test("known gap in Bun 1.4.4: Bun.serve({ fd }) ignores the fd and binds a port of its own (oven-sh/bun#22559)", async () => {
    using listener = Socket.listen(loopback);
    const server = Bun.serve({ fd: listener.fd, port: 0, hostname: "127.0.0.1", fetch: () => new Response("ok") } as unknown as Parameters<typeof Bun.serve>[0]);
    try {
      expect(server.port).not.toBe(portOf(listener));
      expect(listener.getOption("acceptConn")).toBe(true); // still ours, never served
    } finally {
      await server.stop(true);
    }
  });

  test("known gap in Bun 1.4.4: http.Server.listen({ fd }) ignores the fd and binds a port of its own", async () => {
    using listener = Socket.listen(loopback);
    const server = http.createServer((_req, res) => res.end("ok"));
    await within(2000, (r) => server.listen({ fd: listener.fd }, () => r(undefined)));
    try {
      const address = server.address();
      expect(typeof address === "object" && address !== null ? address.port : null).not.toBe(portOf(listener));
    } finally {
      await within(2000, (r) => server.close(() => r(undefined)));
    }
  });

  test.skipIf(noOpenssl !== null)("known gap in Bun 1.4.4: https.Server.emit('connection', socket) answers in plain HTTP (use a TLSSocket with isServer)", async () => {
    const httpsServer = https.createServer({ key, cert }, (_req, res) => res.end("answered"));
    const plain = net.createServer((s) => httpsServer.emit("connection", s));
    await within(2000, (r) => plain.listen(0, "127.0.0.1", () => r(undefined)));
    try {
      const c = net.connect((plain.address() as { port: number }).port, "127.0.0.1");
      c.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      const reply = await within<string>(3000, (r) => { let all = ""; c.on("data", (d: Buffer) => { all += d; }); c.on("end", () => r(all)); });
      expect(reply).toStartWith("HTTP/1.1 200 OK"); // plaintext, no TLS handshake
      expect(reply).toEndWith("answered");
    } finally {
      await within(2000, (r) => plain.close(() => r(undefined)));
    }
  });

  test("known gap in Bun 1.4.4: http.request({ agent: false, createConnection }) ignores createConnection", async () => {
    let called = 0;
    const probe = Socket.listen(loopback);
    const port = portOf(probe);
    probe.close(); // a port that was free a moment ago: nothing listens there now
    const err = await within<Error & { code?: string }>(3000, (r) => {
      const req = http.request({ host: "127.0.0.1", port, agent: false, createConnection: () => { called++; return new net.Socket(); } } as http.RequestOptions);
      req.on("error", r);
      req.end();
    });
    expect(called).toBe(0);
    expect(err.code).toBe("ECONNREFUSED"); // Bun connected to host:port itself
  });
});
