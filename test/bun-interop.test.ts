/**
 * Handing sockets between bsdsock and Bun's own networking (Bun 1.4.4): what works is tested
 * here, and what does not is pinned by a test too, so a Bun change shows up.
 */
import { describe, expect, test } from "bun:test";
import { readlinkSync } from "node:fs";
import net from "node:net";
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
