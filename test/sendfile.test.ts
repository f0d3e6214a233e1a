/**
 * sendFile (sendfile(2)) on real sockets: whole files, offset/count ranges, the file position
 * when no offset is given, end of file before count, files larger than the socket buffers on
 * the async API against a slow reader (checksummed), a python3 reader as an independent peer,
 * timeouts with bytesSent, and the errors (a non-file input, bad arguments, a closed socket).
 * SIGPIPE with the default action restored is in test/faults.test.ts.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, openSync, readSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AsyncSocket } from "../src/async/async.ts";
import { SocketError, SocketTimeoutError } from "../src/core/errors.ts";
import { platform } from "../src/index.ts";
import type { InetAddress } from "../src/core/sockaddr.ts";
import { Socket } from "../src/socket/socket.ts";
import { expectNoFdLeaks, scratchDir, start } from "./helpers.ts";

expectNoFdLeaks();

const linux = platform.key.startsWith("linux-");
const python = Bun.which("python3");
const dir = scratchDir();

/** A file of `n` pattern bytes; returns its path and contents. */
function makeFile(name: string, n: number): { path: string; data: Uint8Array } {
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) data[i] = (i * 31 + (i >> 9)) & 0xff;
  const path = join(dir, name);
  writeFileSync(path, data);
  return { path, data };
}

const opened: number[] = [];
function openFile(path: string): number {
  const fd = openSync(path, "r");
  opened.push(fd);
  return fd;
}
afterEach(() => { for (const fd of opened.splice(0)) closeSync(fd); });

/** Reads everything the peer sends until end of stream. */
async function drain(s: AsyncSocket, chunk = 65536): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of s.chunks(chunk, { signal: AbortSignal.timeout(20_000) })) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

describe.skipIf(!linux)("Socket.sendFile / AsyncSocket.sendFile", () => {
  test("a whole file, byte for byte, and the count sent; the file stays open", async () => {
    const { path, data } = makeFile("whole.bin", 3 << 20);
    const fd = openFile(path);
    const [a, b] = AsyncSocket.pair("unix", "stream");
    try {
      const reading = drain(b);
      expect(await a.sendFile(fd)).toBe(data.length);
      a.shutdown("write");
      expect(Buffer.compare(await reading, data)).toBe(0);
      const probe = Buffer.alloc(4);
      expect(readSync(fd, probe, 0, 4, 0)).toBe(4); // still open
    } finally {
      a.close();
      b.close();
    }
  });

  test("offset and count send exactly that range and leave the file position alone; without offset the position advances", async () => {
    const { path, data } = makeFile("range.bin", 100_000);
    const fd = openFile(path);
    using pair = Socket.pair("unix", "stream");
    const [a, b] = pair;
    b.timeout = 2000;
    expect(a.sendFile(fd, { offset: 1000, count: 5000 })).toBe(5000);
    const got = new Uint8Array(5000);
    let n = 0;
    while (n < 5000) n += b.recvInto(got.subarray(n));
    expect(Buffer.compare(got, data.subarray(1000, 6000))).toBe(0);
    // The position is still 0: a positionless send starts at the beginning and moves it.
    expect(a.sendFile(fd, { count: 10 })).toBe(10);
    expect([...b.recv(10)]).toEqual([...data.subarray(0, 10)]);
    const next = Buffer.alloc(3);
    expect(readSync(fd, next, 0, 3, null)).toBe(3); // reads at the current position
    expect([...next]).toEqual([...data.subarray(10, 13)]);
  });

  test("end of file before count: returns what there was; an offset past the end sends nothing", () => {
    const { path } = makeFile("short.bin", 1234);
    const fd = openFile(path);
    using pair = Socket.pair("unix", "stream");
    const [a] = pair;
    expect(a.sendFile(fd, { offset: 1000, count: 1_000_000 })).toBe(234);
    expect(a.sendFile(fd, { offset: 5000 })).toBe(0);
  });

  test("a file larger than every buffer, on the async API, to a reader that sleeps between reads: nothing lost, nothing buffered in JS", async () => {
    const { path, data } = makeFile("big.bin", 16 << 20);
    const fd = openFile(path);
    await using server = AsyncSocket.listen({ family: "inet", host: "127.0.0.1", port: 0 });
    const accepted = server.accept({ timeout: 5000 });
    await using client = await AsyncSocket.connect(server.localAddress as InetAddress, { timeout: 5000 });
    const [conn] = await accepted;
    await using _ = conn;
    conn.setOption("receiveBufferSize", 65536);
    // The reader checks each chunk against the file as it comes, into one reused buffer.
    const reading = (async () => {
      const buf = new Uint8Array(65536);
      let total = 0;
      let mismatches = 0;
      for (let reads = 1; ; reads++) {
        const n = await conn.recvInto(buf, { timeout: 30_000 });
        if (n === 0) return { total, mismatches };
        if (Buffer.compare(buf.subarray(0, n), data.subarray(total, total + n)) !== 0) mismatches++;
        total += n;
        if (reads % 32 === 0) await Bun.sleep(1); // a slow reader
      }
    })();
    const rss = process.memoryUsage().rss;
    expect(await client.sendFile(fd, {}, { timeout: 30_000 })).toBe(data.length);
    expect(process.memoryUsage().rss - rss).toBeLessThan(12 << 20); // the 16 MiB never passed through JS
    client.shutdown("write");
    expect(await reading).toEqual({ total: data.length, mismatches: 0 });
  });

  test.skipIf(!python)("python3 reads what sendFile sent over TCP (sha256 compared)", async () => {
    const { path, data } = makeFile("py.bin", 1 << 20);
    const fd = openFile(path);
    using listener = Socket.listen({ family: "inet", host: "127.0.0.1", port: 0 });
    const { port } = listener.localAddress as InetAddress;
    const py = start(["python3", "-c", [
      "import socket, hashlib",
      `c = socket.create_connection(("127.0.0.1", ${port}))`,
      "h = hashlib.sha256()",
      "while True:",
      "    d = c.recv(65536)",
      "    if not d: break",
      "    h.update(d)",
      "print(h.hexdigest())",
    ].join("\n")]);
    listener.timeout = 5000;
    const [conn] = listener.accept();
    using _ = conn;
    conn.timeout = 10_000;
    expect(conn.sendFile(fd)).toBe(data.length);
    conn.shutdown("write");
    const o = await py.done;
    expect(o.stdout.trim()).toBe(new Bun.CryptoHasher("sha256").update(data).digest("hex"));
  });

  test("a timeout bounds the whole call and says how much went out", () => {
    const { path } = makeFile("timeout.bin", 8 << 20);
    const fd = openFile(path);
    using pair = Socket.pair("unix", "stream"); // nobody reads the other end
    const [a] = pair;
    a.timeout = 100;
    let e: unknown;
    try { a.sendFile(fd); } catch (x) { e = x; }
    expect(e).toBeInstanceOf(SocketTimeoutError);
    expect((e as SocketError).syscall).toBe("sendfile");
    expect((e as SocketError).bytesSent).toBeGreaterThan(0);
    expect((e as SocketError).bytesSent).toBeLessThan(8 << 20);
  });

  test("errors: a socket as the input (EINVAL), bad arguments before any syscall, a closed socket (EBADF)", async () => {
    using pair = Socket.pair("unix", "stream");
    const [a, b] = pair;
    let e: unknown;
    try { a.sendFile(b.fd); } catch (x) { e = x; }
    expect(e).toBeInstanceOf(SocketError);
    expect((e as SocketError).code).toBe("EINVAL");
    const { path } = makeFile("args.bin", 10);
    const fd = openFile(path);
    expect(() => a.sendFile(fd, { offset: -1 })).toThrow(RangeError);
    expect(() => a.sendFile(fd, { count: 1.5 })).toThrow(RangeError);
    expect(() => a.sendFile(-3)).toThrow(RangeError);
    expect(() => a.sendFile(fd, null as unknown as object)).toThrow(TypeError);
    const c = new Socket("unix", "stream");
    c.close();
    expect(() => c.sendFile(fd)).toThrow(expect.objectContaining({ code: "EBADF" }));
    const [x, y] = AsyncSocket.pair("unix", "stream");
    x.close();
    y.close();
    await expect(x.sendFile(fd)).rejects.toHaveProperty("code", "EBADF");
  });
});
