/**
 * systemd socket activation: listenFds() in a child started the way systemd starts a service
 * (the sockets at fds 3, 4, … and LISTEN_PID set to the child's own pid, by `sh -c 'exec'`,
 * which keeps the pid), examples/echo.ts server --systemd on the sockets it is handed, and the
 * same under the real systemd-socket-activate when the machine has it.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { AsyncSocket } from "../src/async/async.ts";
import { platform } from "../src/index.ts";
import type { InetAddress } from "../src/core/sockaddr.ts";
import { Socket } from "../src/socket/socket.ts";
import { bun, expectNoFdLeaks, freePort, root, scratchDir, waitListening } from "./helpers.ts";

expectNoFdLeaks();

const linux = platform.key.startsWith("linux-");
const activate = Bun.which("systemd-socket-activate");
const dir = scratchDir();
const echo = join(root, "examples", "echo.ts");
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/**
 * Starts `cmd` with `fds` at 3, 4, … and the activation variables, LISTEN_PID being the
 * child's own pid (the shell execs, keeping its pid). `pid: "other"` sets another pid.
 */
function activated(cmd: string[], fds: number[], extra: Record<string, string> = {}, pid: "self" | "other" = "self"): ReturnType<typeof Bun.spawn> {
  const script = `${pid === "self" ? "LISTEN_PID=$$" : "LISTEN_PID=1"} exec "$@"`;
  return Bun.spawn(["sh", "-c", script, "sh", ...cmd], {
    cwd: root,
    env: { ...process.env, LISTEN_FDS: String(fds.length), ...extra },
    stdio: ["ignore", "pipe", "pipe", ...fds],
  });
}

/** A bun child that prints what listenFds() returned, and the variables left afterwards. */
const probe = [bun, "-e", `
  import { listenFds } from ${JSON.stringify(join(root, "src", "linux", "activation.ts"))};
  try {
    const got = listenFds().map(({ socket, name, listening }) => ({ fd: socket.fd, name, listening, family: socket.family, type: socket.type }));
    console.log(JSON.stringify({ got, left: [process.env.LISTEN_PID, process.env.LISTEN_FDS, process.env.LISTEN_FDNAMES] }));
  } catch (e) {
    console.log(JSON.stringify({ error: e.message }));
  }
`];

async function outputOf(proc: ReturnType<typeof Bun.spawn>): Promise<{ got?: unknown[]; left?: unknown[]; error?: string }> {
  const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
  const out = await new Response(proc.stdout as ReadableStream).text();
  await proc.exited;
  clearTimeout(timer);
  return JSON.parse(out);
}

describe.skipIf(!linux)("listenFds()", () => {
  test("adopts the passed sockets in fd order with their names, kinds and listening state, and unsets the variables", async () => {
    using tcp = Socket.listen({ family: "inet", host: "127.0.0.1", port: 0 });
    using udp = new Socket("inet6", "dgram");
    udp.bind({ family: "inet6", host: "::1", port: 0 });
    using unixListener = Socket.listen({ family: "unix", path: join(dir, "a.sock") }, { type: "seqpacket" });
    const r = await outputOf(activated(probe, [tcp.fd, udp.fd, unixListener.fd], { LISTEN_FDNAMES: "web:dns:control" }));
    const C = platform.table.constants;
    expect(r.got).toEqual([
      { fd: 3, name: "web", listening: true, family: C.AF_INET, type: C.SOCK_STREAM },
      { fd: 4, name: "dns", listening: false, family: C.AF_INET6, type: C.SOCK_DGRAM },
      { fd: 5, name: "control", listening: true, family: C.AF_UNIX, type: C.SOCK_SEQPACKET },
    ]);
    expect(r.left).toEqual([null, null, null]); // JSON of undefined in an array
  });

  test("without names each is \"unknown\"; LISTEN_PID of another process gives [] (and still unsets)", async () => {
    using tcp = Socket.listen({ family: "inet", host: "127.0.0.1", port: 0 });
    const r = await outputOf(activated(probe, [tcp.fd]));
    expect(r.got).toEqual([expect.objectContaining({ fd: 3, name: "unknown" })]);
    const other = await outputOf(activated(probe, [tcp.fd], {}, "other"));
    expect(other.got).toEqual([]);
    expect(other.left).toEqual([null, null, null]);
  });

  test("a passed fd that is not a socket, or a wrong count of names, is refused before anything is adopted", async () => {
    const file = Bun.file(join(dir, "plain.txt"));
    await Bun.write(file, "not a socket");
    const fs = await import("node:fs");
    const fd = fs.openSync(join(dir, "plain.txt"), "r");
    try {
      const r = await outputOf(activated(probe, [fd]));
      expect(r.error).toContain("Socket operation on non-socket");
      expect(r.error).toContain("LISTEN_FDS fd 3");
    } finally {
      fs.closeSync(fd);
    }
    using tcp = Socket.listen({ family: "inet", host: "127.0.0.1", port: 0 });
    const bad = await outputOf(activated(probe, [tcp.fd], { LISTEN_FDNAMES: "a:b" }));
    expect(bad.error).toContain("LISTEN_FDNAMES has 2 names for 1 fds");
    const junk = await outputOf(activated(probe, [tcp.fd], { LISTEN_FDS: "1x" }));
    expect(junk.error).toContain("LISTEN_FDS is not a count");
  });
});

describe.skipIf(!linux)("examples/echo.ts server --systemd", () => {
  test("serves a passed TCP listener, a unix seqpacket listener and a UDP socket at once", async () => {
    const tcp = Socket.listen({ family: "inet", host: "127.0.0.1", port: 0 });
    const path = join(dir, "echo.sock");
    const unixListener = Socket.listen({ family: "unix", path }, { type: "seqpacket" });
    const udp = new Socket("inet", "dgram");
    udp.bind({ family: "inet", host: "127.0.0.1", port: 0 });
    const addresses = [tcp.localAddress as InetAddress, udp.localAddress as InetAddress];
    // A Type=notify manager's socket: the server must say READY=1 once it serves.
    const manager = new Socket("unix", "dgram");
    const managerName = `bsdsock-notify-${process.pid}-${Date.now()}`;
    manager.bind({ family: "unix", abstract: managerName });
    manager.timeout = 10_000;
    const server = activated([bun, echo, "server", "--systemd"], [tcp.fd, unixListener.fd, udp.fd], { LISTEN_FDNAMES: "tcp:unix:udp", NOTIFY_SOCKET: `@${managerName}` });
    // The child has its own copies now.
    tcp.close();
    unixListener.close();
    udp.close();
    try {
      const reader = (server.stdout as ReadableStream<Uint8Array>).getReader();
      let lines = "";
      while (lines.split("\n").length < 4) {
        const { value, done } = await reader.read();
        if (done) break;
        lines += text(value);
      }
      reader.releaseLock();
      expect(lines).toBe(`listening 127.0.0.1:${addresses[0]!.port}\nlistening ${path}\nlistening 127.0.0.1:${addresses[1]!.port}\n`);
      expect(text(manager.recv(4096))).toBe("READY=1\nSTATUS=echoing on 3 sockets");

      await using c1 = await AsyncSocket.connect(addresses[0]!, { timeout: 5000 });
      await c1.sendAll("over tcp");
      expect(text(await c1.recv(64, { timeout: 5000 }))).toBe("over tcp");
      await using c2 = await AsyncSocket.connect({ family: "unix", path }, { type: "seqpacket", timeout: 5000 });
      await c2.send("over seqpacket");
      expect(text(await c2.recv(64, { timeout: 5000 }))).toBe("over seqpacket");
      await using c3 = new AsyncSocket("inet", "dgram");
      await c3.connect(addresses[1]!);
      await c3.send("over udp");
      expect(text(await c3.recv(64, { timeout: 5000 }))).toBe("over udp");
    } finally {
      server.kill("SIGTERM");
      const timer = setTimeout(() => server.kill("SIGKILL"), 5000);
      expect(await server.exited).toBe(0);
      clearTimeout(timer);
      try {
        expect(text(manager.recv(4096))).toBe("STOPPING=1");
      } finally {
        manager.close();
      }
    }
  });

  test("with no sockets passed it says so and exits 2", async () => {
    const p = Bun.spawn([bun, echo, "server", "--systemd"], { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LISTEN_FDS: undefined, LISTEN_PID: undefined } });
    const err = await new Response(p.stderr as ReadableStream).text();
    expect(await p.exited).toBe(2);
    expect(err).toContain("no sockets were passed");
  });

  test.skipIf(!activate)("under systemd-socket-activate -l PORT (package systemd)", async () => {
    const port = freePort();
    const sa = Bun.spawn([activate!, "-l", `127.0.0.1:${port}`, bun, echo, "server", "--systemd"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    try {
      await waitListening(port, 10_000); // systemd-socket-activate listens; it starts the server on the first connection
      await using c = await AsyncSocket.connect({ family: "inet", host: "127.0.0.1", port }, { timeout: 10_000 });
      await c.sendAll("activated");
      expect(text(await c.recv(64, { timeout: 10_000 }))).toBe("activated");
    } finally {
      sa.kill("SIGTERM");
      const timer = setTimeout(() => sa.kill("SIGKILL"), 5000);
      await sa.exited;
      clearTimeout(timer);
    }
  });
});
if (!activate) console.warn("SKIP systemd-socket-activate test: not installed (Debian package systemd)");
