/**
 * The runnable examples, run as a user would: echo.ts server + client for every family/type
 * (the server's `listening <address>` line parsed for the address; SIGTERM/SIGINT end it and
 * its socket file is removed), also against python3 as a foreign client; ping.ts on 127.0.0.1
 * and ::1, privileged (raw) and unprivileged (setpriv; the ICMP datagram socket or the
 * CAP_NET_RAW message, as net.ipv4.ping_group_range says); socketpair.ts.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { platform } from "../src/index.ts";
import { asNobody, bun, expectNoFdLeaks, firstLine, nobodyCannotRun, root, run, scratchDir } from "./helpers.ts";

expectNoFdLeaks();

const linux = platform.key.startsWith("linux-");
const python = Bun.which("python3");
const dir = scratchDir();
const echo = join(root, "examples", "echo.ts");
const ping = join(root, "examples", "ping.ts");

// --- a server whose first stdout line is read while it runs --------------------------------

interface Server {
  proc: ReturnType<typeof Bun.spawn>;
  line: string;
  /** Resolves when the process ends: the rest of stdout, all of stderr, exit code, signal. */
  finished: Promise<{ rest: string; stderr: string; code: number | null; signal: string | null }>;
}

const servers = new Set<ReturnType<typeof Bun.spawn>>();
afterAll(() => { for (const p of servers) p.kill("SIGKILL"); });

/** Starts the echo server and waits (bounded) for its first line. */
async function startServer(args: string[], timeoutMs = 15_000, env: Record<string, string> = {}): Promise<Server> {
  const proc = Bun.spawn([bun, echo, "server", ...args], { cwd: root, env: { ...process.env, ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  servers.add(proc);
  const killer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const stderr = new Response(proc.stderr as ReadableStream).text();
  const { line, rest } = await firstLine(proc.stdout as ReadableStream<Uint8Array>);
  const finished = (async () => {
    const after = await rest;
    await proc.exited;
    clearTimeout(killer);
    servers.delete(proc);
    return { rest: after, stderr: await stderr, code: proc.exitCode, signal: proc.signalCode === null ? null : String(proc.signalCode) };
  })();
  if (line === null) {
    proc.kill("SIGKILL");
    const f = await finished;
    throw new Error(`echo server printed no line: ${JSON.stringify(f.rest)}\nstderr: ${f.stderr}`); // all of stdout: no first line
  }
  return { proc, line, finished };
}

/** `listening <address>` → the client's address options. */
function clientOptions(family: string, line: string): string[] {
  const m = /^listening (.+)$/.exec(line);
  if (!m) throw new Error(`not a listening line: ${JSON.stringify(line)}`);
  const addr = m[1]!;
  if (family === "inet") {
    const ip = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(addr);
    if (!ip) throw new Error(`not an IPv4 address: ${addr}`);
    return ["--host", ip[1]!, "--port", ip[2]!];
  }
  if (family === "inet6") {
    const ip = /^\[([0-9a-f:]+)\]:(\d+)$/.exec(addr);
    if (!ip) throw new Error(`not an IPv6 address: ${addr}`);
    return ["--host", ip[1]!, "--port", ip[2]!];
  }
  return addr.startsWith("@") ? ["--abstract", addr.slice(1)] : ["--path", addr];
}

interface EchoCombo { family: "inet" | "inet6" | "unix"; type: "stream" | "dgram" | "seqpacket"; where: string[]; label: string }
let unique = 0;
const echoCombos: EchoCombo[] = [
  { family: "inet", type: "stream", where: [], label: "" },
  { family: "inet", type: "dgram", where: [], label: "" },
  { family: "inet6", type: "stream", where: [], label: "" },
  { family: "inet6", type: "dgram", where: [], label: "" },
];
for (const type of ["stream", "dgram", "seqpacket"] as const) {
  echoCombos.push({ family: "unix", type, where: ["--path"], label: " pathname" });
  echoCombos.push({ family: "unix", type, where: ["--abstract"], label: " abstract" });
}
const whereArgs = (c: EchoCombo): string[] =>
  c.where[0] === "--path" ? ["--path", join(dir, `echo-${++unique}.sock`)]
    : c.where[0] === "--abstract" ? ["--abstract", `bsdsock-echo-${process.pid}-${++unique}`] : [];

/** A python echo client: count messages of size bytes, every byte checked; prints "ok N". */
const PY_ECHO_CLIENT = String.raw`
import socket, sys, json
cfg = json.loads(sys.argv[1])
fam = {"inet": socket.AF_INET, "inet6": socket.AF_INET6, "unix": socket.AF_UNIX}[cfg["family"]]
typ = {"stream": socket.SOCK_STREAM, "dgram": socket.SOCK_DGRAM, "seqpacket": socket.SOCK_SEQPACKET}[cfg["type"]]
s = socket.socket(fam, typ); s.settimeout(10)
if fam == socket.AF_UNIX and typ == socket.SOCK_DGRAM: s.bind("")  # autobind, so the server can reply
s.connect(tuple(cfg["addr"]) if isinstance(cfg["addr"], list) else (b"\0" + cfg["abstract"].encode() if cfg.get("abstract") else cfg["addr"]))
ok = 0
for i in range(cfg["count"]):
    m = bytes((j * 11 + i) & 255 for j in range(cfg["size"]))
    s.sendall(m) if typ == socket.SOCK_STREAM else s.send(m)
    if typ == socket.SOCK_STREAM:
        b = bytearray()
        while len(b) < len(m):
            c = s.recv(65536)
            if not c: break
            b += c
    else:
        b = s.recv(65536)
    ok += bytes(b) == m
print("ok", ok)
`;

function pythonTarget(family: string, opts: string[]): object {
  const get = (k: string) => opts[opts.indexOf(k) + 1]!;
  if (family !== "unix") return { addr: [get("--host"), Number(get("--port"))] };
  return opts[0] === "--abstract" ? { addr: null, abstract: get("--abstract") } : { addr: get("--path") };
}

describe.skipIf(!linux)("echo.ts", () => {
  for (const c of echoCombos) {
    test(`${c.family} ${c.type}${c.label}: server line, bsdsock client, python client, SIGTERM`, async () => {
      const where = whereArgs(c);
      const server = await startServer(["--family", c.family, "--type", c.type, ...where]);
      try {
        const opts = clientOptions(c.family, server.line);
        if (c.family === "inet") expect(opts.slice(0, 2)).toEqual(["--host", "127.0.0.1"]);
        if (c.family === "inet6") expect(opts.slice(0, 2)).toEqual(["--host", "::1"]);
        if (c.family !== "unix") expect(Number(opts[3])).toBeGreaterThan(0); // the real port, not 0
        if (c.family === "unix") expect(opts).toEqual(where); // the path / name given
        if (where[0] === "--path") expect(existsSync(where[1]!)).toBe(true);

        const size = c.type === "stream" ? 200_000 : 3000;
        const client = await run([bun, echo, "client", "--family", c.family, "--type", c.type, ...opts, "--count", "4", "--size", String(size)]);
        expect(client.stderr).toBe("");
        expect(client.stdout).toMatch(new RegExp(`^4/4 echoes of ${size} bytes matched, .+ -> .+ \\(${c.family} ${c.type}\\), [\\d.]+ ms\\n$`));
        expect(client.code).toBe(0);

        if (python) {
          const py = await run([python, "-c", PY_ECHO_CLIENT, JSON.stringify({ family: c.family, type: c.type, count: 3, size: 1000, ...pythonTarget(c.family, opts) })]);
          expect(py.stderr).toBe("");
          expect(py.stdout).toBe("ok 3\n");
        }
      } finally {
        server.proc.kill("SIGTERM");
      }
      const end = await server.finished;
      expect(end.signal).toBeNull(); // handled, not killed by the signal
      expect(end.code).toBe(0);
      expect(end.rest).toBe(""); // exactly one stdout line
      expect(end.stderr).toContain("SIGTERM: shutting down");
      if (where[0] === "--path") expect(existsSync(where[1]!)).toBe(false);
    });
  }

  test("SIGINT with a client connected and idle ends the server promptly; the socket file goes", async () => {
    const path = join(dir, `echo-${++unique}.sock`);
    const server = await startServer(["--family", "unix", "--type", "stream", "--path", path]);
    const idle = Bun.spawn([python ?? "sleep", ...(python ? ["-c", `import socket,time\ns=socket.socket(socket.AF_UNIX);s.connect(${JSON.stringify(path)});time.sleep(5)`] : ["0"])], { stdio: ["ignore", "ignore", "ignore"] });
    try {
      await Bun.sleep(200);
      const t0 = performance.now();
      server.proc.kill("SIGINT");
      const end = await server.finished;
      expect(end.code).toBe(0);
      expect(end.stderr).toContain("SIGINT: shutting down");
      expect(performance.now() - t0).toBeLessThan(2000);
      expect(existsSync(path)).toBe(false);
    } finally {
      idle.kill("SIGKILL");
      await idle.exited;
    }
  });

  test("an unnamed unix server autobinds and prints its abstract name; a \\x00 escape reaches the kernel", async () => {
    const auto = await startServer(["--family", "unix", "--type", "dgram"]);
    auto.proc.kill("SIGTERM");
    expect(auto.line).toMatch(/^listening @[0-9a-f]{5}$/);
    expect((await auto.finished).code).toBe(0);

    const name = `bsdsock\\x00esc-${process.pid}`;
    const esc = await startServer(["--family", "unix", "--type", "seqpacket", "--abstract", name]);
    try {
      expect(esc.line).toBe(`listening @bsdsock@esc-${process.pid}`); // formatAddress shows NULs as "@"
      const client = await run([bun, echo, "client", "--family", "unix", "--type", "seqpacket", "--abstract", name, "--count", "2", "--size", "10"]);
      expect(client.code).toBe(0);
      // Without the NUL it is another name: nobody listens there.
      const wrong = await run([bun, echo, "client", "--family", "unix", "--type", "seqpacket", "--abstract", `bsdsock@esc-${process.pid}`]);
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toContain("Connection refused");
    } finally {
      esc.proc.kill("SIGTERM");
    }
    expect((await esc.finished).code).toBe(0);
  });

  test.skipIf(!python)("the client exits 1 and says where when an echo differs (python server corrupting one byte)", async () => {
    const path = join(dir, `bad-${++unique}.sock`);
    const bad = Bun.spawn([python!, "-c", String.raw`
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.bind(sys.argv[1]); s.listen(1)
print("ready", flush=True)
c, _ = s.accept(); c.settimeout(10)
for i in range(2):
    m = bytearray(c.recv(65536))
    if i == 1: m[123] ^= 1
    c.send(bytes(m))
`, path], { stdio: ["ignore", "pipe", "ignore"] });
    try {
      const reader = (bad.stdout as ReadableStream<Uint8Array>).getReader();
      let text = "";
      const deadline = Date.now() + 10_000;
      while (!text.includes("\n") && Date.now() < deadline) {
        const r = await Promise.race([reader.read(), Bun.sleep(Math.max(1, deadline - Date.now())).then(() => null)]);
        if (r === null || r.done) break;
        text += new TextDecoder().decode(r.value);
      }
      expect(text).toBe("ready\n");
      reader.releaseLock();
      const client = await run([bun, echo, "client", "--family", "unix", "--type", "seqpacket", "--path", path, "--count", "2", "--size", "500"]);
      expect(client.code).toBe(1);
      expect(client.stdout).toMatch(/^1\/2 echoes of 500 bytes matched/);
      expect(client.stderr).toContain("message 2: echo differs at byte 123");
    } finally {
      bad.kill("SIGKILL");
      await bad.exited;
    }
  });

  test("usage errors exit 2 before any socket", async () => {
    const r = await run([bun, echo, "server", "--family", "inet", "--type", "stream", "--path", "/x"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--path/--abstract are for unix");
    const sctp = await run([bun, echo, "server", "--family", "inet", "--type", "seqpacket"]);
    expect(sctp.code).toBe(2); // SCTP: usually "Socket type not supported" or "Protocol not supported"
    expect(sctp.stdout).toBe("");
  });
});

const isRoot = process.getuid?.() === 0;
const unshare = Bun.which("unshare");
const ipTool = Bun.which("ip");

// --- MPTCP ------------------------------------------------------------------------------------

const C = platform.table.constants;
const mptcpReason: string | null = !linux ? "Linux only"
  : C.IPPROTO_MPTCP === null ? `no IPPROTO_MPTCP in the ${platform.key} table`
  : !existsSync("/proc/sys/net/mptcp/enabled") ? "this kernel has no MPTCP"
  : readFileSync("/proc/sys/net/mptcp/enabled", "utf8").trim() !== "1" ? "MPTCP is disabled here (net.mptcp.enabled = 0)" : null;

/** A python3 echo server (MPTCP when argv[2] is the protocol number): prints its port, echoes one connection. */
const PY_STREAM_ECHO = String.raw`
import socket, sys
l = socket.socket(int(sys.argv[1]), socket.SOCK_STREAM, int(sys.argv[2])); l.bind((sys.argv[3], 0)); l.listen(); l.settimeout(10)
print(l.getsockname()[1], flush=True)
a, _ = l.accept(); a.settimeout(10)
while True:
    b = a.recv(65536)
    if not b: break
    a.sendall(b)
`;

describe.skipIf(!!mptcpReason)("echo.ts --mptcp", () => {
  for (const family of ["inet", "inet6"] as const) {
    test(`${family}: the MPTCP server serves bsdsock and python3 MPTCP clients and plain TCP ones, each as what it is`, async () => {
      const server = await startServer(["--family", family, "--type", "stream", "--mptcp"], 15_000, { ECHO_VERBOSE: "1" });
      try {
        const opts = clientOptions(family, server.line);
        const mp = await run([bun, echo, "client", "--family", family, "--type", "stream", ...opts, "--mptcp", "--count", "3", "--size", "100000"]);
        expect(mp.stderr).toBe("");
        expect(mp.stdout).toMatch(new RegExp(`^3/3 echoes of 100000 bytes matched, .+ \\(${family} stream, MPTCP\\), [\\d.]+ ms\\n$`));
        const many = await run([bun, echo, "client", "--family", family, "--type", "stream", ...opts, "--mptcp", "--concurrency", "20", "--count", "2"]);
        expect(many.stdout).toMatch(/^40\/40 echoes of 1000 bytes matched over 20 connections to .+ stream, MPTCP\), /);
        const plain = await run([bun, echo, "client", "--family", family, "--type", "stream", ...opts, "--count", "2"]);
        expect(plain.stdout).toMatch(new RegExp(`\\(${family} stream\\), `));
        if (python) {
          const mptcpClient = PY_ECHO_CLIENT.replace("s = socket.socket(fam, typ)", `s = socket.socket(fam, typ, ${C.IPPROTO_MPTCP})`);
          expect(mptcpClient).not.toBe(PY_ECHO_CLIENT);
          const py = await run([python, "-c", mptcpClient, JSON.stringify({ family, type: "stream", count: 3, size: 5000, ...pythonTarget(family, opts) })]);
          expect(py.stderr).toBe("");
          expect(py.stdout).toBe("ok 3\n");
        }
      } finally {
        server.proc.kill("SIGTERM");
      }
      const end = await server.finished;
      expect(end.code).toBe(0);
      // The server's own view of each connection (ECHO_VERBOSE): 1 + 20 + python's MPTCP, 1 plain.
      expect(end.stderr.match(/accepted .+ \(MPTCP\)$/gm)?.length).toBe(python ? 22 : 21);
      expect(end.stderr.match(/accepted .+ \(plain TCP\)$/gm)?.length).toBe(1);
    });
  }

  test.skipIf(!python)("the MPTCP client against a python3 plain TCP server falls back and says so; against an MPTCP one it does not", async () => {
    for (const proto of [0, C.IPPROTO_MPTCP!]) {
      const proc = Bun.spawn([python!, "-c", PY_STREAM_ECHO, String(C.AF_INET), String(proto), "127.0.0.1"], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
      try {
        const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
        const first = await Promise.race([reader.read(), Bun.sleep(10_000).then(() => null)]);
        const port = first && !first.done ? Number(new TextDecoder().decode(first.value).trim()) : 0;
        expect(port).toBeGreaterThan(0);
        const o = await run([bun, echo, "client", "--family", "inet", "--type", "stream", "--host", "127.0.0.1", "--port", String(port), "--mptcp", "--count", "2"]);
        expect(o.stderr).toBe("");
        expect(o.stdout).toContain(proto === 0 ? "(inet stream, MPTCP fell back to TCP)" : "(inet stream, MPTCP)");
        expect(o.code).toBe(0);
      } finally {
        proc.kill("SIGKILL");
        await proc.exited;
      }
    }
  });

  test("--mptcp is refused for unix and dgram; with MPTCP switched off the server says which sysctl", async () => {
    for (const args of [["--family", "unix", "--type", "stream"], ["--family", "inet", "--type", "dgram"]]) {
      const r = await run([bun, echo, "server", ...args, "--mptcp"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("--mptcp is for inet/inet6 stream");
    }
    if (!unshare || !isRoot) return console.warn("SKIP echo.ts --mptcp with MPTCP off: needs unshare and root");
    const off = await run([unshare, "--net", "sh", "-c", 'ip link set lo up && sysctl -qw net.mptcp.enabled=0 && exec "$@"', "sh", bun, echo, "server", "--family", "inet", "--type", "stream", "--mptcp"]);
    if (/unshare: .*(Operation not permitted|Permission denied)/.test(off.stderr)) return console.warn(`SKIP netns: ${off.stderr.trim()}`);
    expect(off.code).toBe(2);
    expect(off.stdout).toBe("");
    expect(off.stderr).toBe("echo server: socket: Protocol not available (MPTCP is disabled in this network namespace: sysctl net.mptcp.enabled = 0)\n");
  });
});

// --- UDP answers from the address each datagram was sent to -----------------------------------

/**
 * Connected python3 UDP clients, one per target: each optionally binds `bind`, connects to
 * host:port, sends one datagram and waits `waitS` for the echo. Prints "<host> ok" or
 * "<host> timeout" per target (a connected UDP socket drops a reply from any other address).
 */
const PY_CONNECTED_CLIENTS = String.raw`
import socket, sys, json
c = json.loads(sys.argv[1])
for t in c["targets"]:
    s = socket.socket(socket.AF_INET6 if ":" in t["host"] else socket.AF_INET, socket.SOCK_DGRAM)
    if t.get("bind"): s.bind((t["bind"], 0))
    s.connect((t["host"], c["port"]))
    s.settimeout(c["waitS"])
    m = ("to " + t["host"]).encode()
    s.send(m)
    try: print(t["host"], "ok" if s.recv(100) == m else "wrong")
    except socket.timeout: print(t["host"], "timeout")
    s.close()
`;

/**
 * Starts `echo.ts server ARGS`, runs the client `client(port)` builds against it, then stops the
 * server, which must end cleanly having logged no failed reply; the client's output.
 */
async function againstDgramServer(args: string[], client: (port: number) => string[]): Promise<{ stdout: string; stderr: string }> {
  const server = await startServer(args);
  let o: { stdout: string; stderr: string };
  try {
    const port = Number(/:(\d+)$/.exec(server.line)?.[1]);
    expect(port).toBeGreaterThan(0);
    o = await run(client(port));
  } finally {
    server.proc.kill("SIGTERM");
  }
  const end = await server.finished;
  expect(end.code).toBe(0);
  expect(end.stderr).not.toContain("sendto"); // no failed reply was logged
  return o;
}

describe.skipIf(!linux || !python)("echo.ts datagram server on a wildcard address answers from each datagram's destination", () => {
  for (const [family, host, targets] of [
    ["inet", "0.0.0.0", ["127.0.0.1", "127.0.0.5", "127.3.4.5"]],
    ["inet6", "::", ["::1", "::ffff:127.0.0.7", "127.0.0.5"]], // dual-stack: IPv4 clients too
  ] as const) {
    test(`--family ${family} --host ${host}: connected clients to ${targets.join(", ")} all get their replies`, async () => {
      const o = await againstDgramServer(["--family", family, "--type", "dgram", "--host", host],
        (port) => [python!, "-c", PY_CONNECTED_CLIENTS, JSON.stringify({ port, waitS: 3, targets: targets.map((h) => ({ host: h })) })]);
      expect(o.stderr).toBe("");
      expect(o.stdout).toBe(targets.map((h) => `${h} ok\n`).join(""));
    });
  }

  // A broadcast to lo's 127.255.255.255: the reply must leave from a real address (127.0.0.1, the
  // interface's), never from the broadcast destination; on :: that needs IP_PKTINFO's spec_dst.
  const PY_BROADCAST_CLIENT = String.raw`
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.settimeout(3)
s.sendto(b"to everyone", ("127.255.255.255", int(sys.argv[1])))
try:
    data, addr = s.recvfrom(100)
    print(addr[0], data.decode())
except socket.timeout: print("timeout")
`;
  for (const [family, host] of [["inet", "0.0.0.0"], ["inet6", "::"]] as const) {
    test(`--host ${host} (the family, ${family}, from the host): a broadcast to 127.255.255.255 is answered from 127.0.0.1`, async () => {
      const o = await againstDgramServer(["--type", "dgram", "--host", host], (port) => [python!, "-c", PY_BROADCAST_CLIENT, String(port)]);
      expect(o.stderr).toBe("");
      expect(o.stdout).toBe("127.0.0.1 to everyone\n");
    });
  }

  test.skipIf(!unshare || !isRoot)("--host :: stays dual-stack under net.ipv6.bindv6only=1 (in a private netns)", async () => {
    const driver = String.raw`
import socket, subprocess, sys
p = subprocess.Popen([sys.argv[1], sys.argv[2], "server", "--type", "dgram", "--host", "::"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
port = int(p.stdout.readline().rsplit(":", 1)[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(b"four", ("127.0.0.1", port))
try: print(s.recvfrom(100)[0].decode())
except socket.timeout: print("timeout")
p.terminate(); p.wait(10)
`;
    const o = await run([unshare!, "--net", "sh", "-c", 'ip link set lo up && sysctl -qw net.ipv6.bindv6only=1 && exec "$@"', "sh", python!, "-c", driver, bun, echo], {}, 30_000);
    if (/unshare: .*(Operation not permitted|Permission denied)/.test(o.stderr)) return console.warn(`SKIP bindv6only: ${o.stderr.trim()}`);
    expect(o.stderr).toBe("");
    expect(o.stdout).toBe("four\n");
  });

  // Two addresses on a veth interface in a network namespace of our own (documentation ranges);
  // each client binds the other address and connects to one, so a reply that routing sourced
  // (from the client's own address) would be dropped. A python echo server answering with plain
  // sendto on the same addresses is the control: its clients time out.
  const netnsReason = !unshare || !ipTool ? "no unshare/ip on PATH" : !isRoot ? "not root: cannot create a network namespace" : null;
  test.skipIf(!!netnsReason)("in a private netns: two IPv4 and two IPv6 addresses on a veth interface, clients bound to the other one", async () => {
    const driver = String.raw`
import json, socket, subprocess, sys
bun, echo, client = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}
def clients(port, pairs, wait):
    targets = [{"host": h, "bind": b} for h, b in pairs]
    r = subprocess.run([sys.executable, "-c", client, json.dumps({"port": port, "waitS": wait, "targets": targets})], capture_output=True, text=True, timeout=30)
    return r.stdout + r.stderr
v4 = [("198.51.100.1", "198.51.100.2"), ("198.51.100.2", "198.51.100.1")]
v6 = [("2001:db8::1", "2001:db8::2"), ("2001:db8::2", "2001:db8::1")]
for fam, host, pairs in [("inet", "0.0.0.0", v4), ("inet6", "::", v6 + v4)]:
    p = subprocess.Popen([bun, echo, "server", "--family", fam, "--type", "dgram", "--host", host], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    out[fam] = clients(int(line.rsplit(":", 1)[1]), pairs, 3)
    p.terminate(); p.wait(10)
# The control: a wildcard server that answers with plain sendto.
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("::", 0)); port = s.getsockname()[1]
c = subprocess.Popen([sys.executable, "-c", client, json.dumps({"port": port, "waitS": 0.5, "targets": [{"host": h, "bind": b} for h, b in v6 + v4]})], stdout=subprocess.PIPE, text=True)
s.settimeout(5)
for _ in range(4):
    data, addr = s.recvfrom(100); s.sendto(data, addr)
out["control"] = c.communicate(timeout=30)[0]
print(json.dumps(out))
`;
    const setup = [
      "ip link set lo up", "ip link add d0 type veth peer name d1", "ip link set d0 up", "ip link set d1 up",
      "ip addr add 198.51.100.1/24 dev d0", "ip addr add 198.51.100.2/24 dev d0",
      "ip addr add 2001:db8::1/64 dev d0 nodad", "ip addr add 2001:db8::2/64 dev d0 nodad",
    ].join(" && ");
    const o = await run([unshare!, "--net", "sh", "-c", `${setup} && exec "$@"`, "sh", python!, "-c", driver, bun, echo, PY_CONNECTED_CLIENTS], {}, 60_000);
    if (/unshare: .*(Operation not permitted|Permission denied)/.test(o.stderr)) {
      console.warn(`SKIP netns echo: ${o.stderr.trim()}`);
      return;
    }
    expect(o.stderr).toBe("");
    const out = JSON.parse(o.stdout) as Record<string, string>;
    expect(out.inet).toBe("198.51.100.1 ok\n198.51.100.2 ok\n");
    expect(out.inet6).toBe("2001:db8::1 ok\n2001:db8::2 ok\n198.51.100.1 ok\n198.51.100.2 ok\n");
    // The control fails where routing picks another source: IPv6 prefers the destination's own
    // address (the client's), IPv4 the interface's primary address (198.51.100.1), so only the
    // client aiming at the primary one gets a reply.
    expect(out.control).toBe("2001:db8::1 timeout\n2001:db8::2 timeout\n198.51.100.1 ok\n198.51.100.2 timeout\n");
  }, 90_000);
});

// --- ping ------------------------------------------------------------------------------------

const hasV6Loopback = existsSync("/proc/net/if_inet6") && /^0{31}1 /m.test(readFileSync("/proc/net/if_inet6", "utf8"));
const dropPrivileges = asNobody;
const unprivilegedReason: string | null = !linux ? "Linux only" : nobodyCannotRun(ping);
if (unprivilegedReason) console.warn(`SKIP unprivileged ping: ${unprivilegedReason}`);

/** Whether gid 65534 lies in the ping_group_range text "lo hi". */
function allowsNobody(range: string): boolean {
  const [lo, hi] = range.trim().split(/\s+/).map(Number);
  return lo! <= 65534 && 65534 <= hi!;
}

const REPLY_V4 = /^64 bytes from 127\.0\.0\.1: icmp_seq=(\d+) ttl=(\d+) time=\d+\.\d{3} ms$/gm;
// Without an IP header the TTL / hop limit comes from the IP_TTL / IPV6_HOPLIMIT control message.
const REPLY_DGRAM_V4 = /^64 bytes from 127\.0\.0\.1: icmp_seq=(\d+) ttl=\d+ time=\d+\.\d{3} ms$/gm;
const REPLY_V6 = /^64 bytes from ::1: icmp_seq=(\d+) ttl=\d+ time=\d+\.\d{3} ms$/gm;

function seqs(re: RegExp, text: string): number[] {
  return [...text.matchAll(re)].map((m) => Number(m[1]));
}

function expectUnprivilegedOutcome(o: { code: number | null; stdout: string; stderr: string }, allowed: boolean, host: "127.0.0.1" | "::1"): void {
  if (allowed) {
    expect(o.stdout).toContain("unprivileged ICMP datagram socket");
    expect(seqs(host === "::1" ? REPLY_V6 : REPLY_DGRAM_V4, o.stdout).length).toBeGreaterThanOrEqual(1);
    expect(o.code).toBe(0);
  } else {
    expect(o.code).toBe(2);
    expect(o.stdout).toBe("");
    expect(o.stderr).toContain("CAP_NET_RAW");
    expect(o.stderr).toContain("net.ipv4.ping_group_range");
  }
}

describe.skipIf(!linux)("ping.ts", () => {
  test.skipIf(!isRoot)("raw IPv4: -c 2 127.0.0.1 (root: SOCK_RAW, TTL from the IP header)", async () => {
    const o = await run([bun, ping, "-c", "2", "-i", "0.2", "127.0.0.1"]);
    expect(o.stderr).toBe("");
    expect(o.stdout.split("\n")[0]).toBe("PING 127.0.0.1 (127.0.0.1) 56 data bytes, raw ICMP socket, kernel transmit and receive timestamps");
    expect(seqs(REPLY_V4, o.stdout)).toEqual([1, 2]);
    for (const m of o.stdout.matchAll(REPLY_V4)) expect(Number(m[2])).toBe(64); // Linux's default TTL on lo
    expect(o.stdout).toContain("--- 127.0.0.1 ping statistics ---\n2 packets transmitted, 2 received, 0% packet loss");
    expect(o.stdout).toMatch(/^rtt min\/avg\/max\/mdev = [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ ms$/m);
    expect(o.code).toBe(0);
  });

  test.skipIf(!isRoot || !hasV6Loopback)("raw IPv6: -c 2 -6 ::1", async () => {
    const o = await run([bun, ping, "-c", "2", "-i", "0.2", "-6", "::1"]);
    expect(o.stderr).toBe("");
    expect(o.stdout.split("\n")[0]).toBe("PING ::1 (::1) 56 data bytes, raw ICMP socket, kernel transmit and receive timestamps");
    expect(seqs(REPLY_V6, o.stdout)).toEqual([1, 2]);
    expect(o.stdout).toContain("2 packets transmitted, 2 received, 0% packet loss");
    expect(o.code).toBe(0);
  });

  test("refuses a name it would have to resolve", async () => {
    const o = await run([bun, ping, "-c", "1", "example.invalid"]);
    expect(o.code).toBe(2);
    expect(o.stderr).toContain("not a numeric IP address");
  });

  test.skipIf(!!unprivilegedReason)("unprivileged (setpriv uid/gid 65534, no caps): as this host's net.ipv4.ping_group_range says", async () => {
    const range = readFileSync("/proc/sys/net/ipv4/ping_group_range", "utf8");
    const o = await run([...dropPrivileges, bun, ping, "-c", "1", "127.0.0.1"]);
    expectUnprivilegedOutcome(o, allowsNobody(range), "127.0.0.1");
    if (!allowsNobody(range)) expect(o.stderr).toContain(`net.ipv4.ping_group_range = "${range.trim().replace(/\s+/, " ")}"`);
  });

  // Both outcomes regardless of the host: in a network namespace of our own (only its lo, and
  // its own copy of the sysctl) the range is set each way, then privileges are dropped.
  const netnsReason = unprivilegedReason ?? (!unshare || !ipTool ? "no unshare/ip on PATH" : null);
  for (const [range, allowed] of [["0 2147483647", true], ["1 0", false]] as const) {
    for (const host of ["127.0.0.1", "::1"] as const) {
      test.skipIf(!!netnsReason)(`unprivileged in a private netns with ping_group_range "${range}": ${host} ${allowed ? "works via SOCK_DGRAM" : "fails naming CAP_NET_RAW"}`, async () => {
        const script = `ip link set lo up && sysctl -qw net.ipv4.ping_group_range="${range}" && exec "$@"`;
        const o = await run([unshare!, "--net", "sh", "-c", script, "sh", ...dropPrivileges, bun, ping, "-c", "2", "-i", "0.2", ...(host === "::1" ? ["-6"] : []), host]);
        if (/unshare: .*(Operation not permitted|Permission denied)/.test(o.stderr)) {
          console.warn(`SKIP netns ping: ${o.stderr.trim()}`);
          return;
        }
        expectUnprivilegedOutcome(o, allowed, host);
        if (allowed) expect(seqs(host === "::1" ? REPLY_V6 : REPLY_DGRAM_V4, o.stdout)).toEqual([1, 2]);
        else expect(o.stderr).toContain(`net.ipv4.ping_group_range = "${range}"`);
      });
    }
  }
});

// --- socketpair ------------------------------------------------------------------------------

describe("socketpair.ts", () => {
  for (const type of ["stream", "dgram", "seqpacket"] as const) {
    test.skipIf(type === "seqpacket" && !linux)(`parent and child over a unix ${type} socketpair`, async () => {
      const o = await run([bun, join(root, "examples", "socketpair.ts"), "--type", type, "--count", "4"]);
      expect(o.stderr).toBe("");
      const lines = o.stdout.trimEnd().split("\n");
      const T = `SOCK_${type.toUpperCase()}`;
      expect(lines[0]).toMatch(new RegExp(`^parent pid \\d+ on Socket\\(fd=\\d+, AF_UNIX, ${T}\\); child says: hello from child pid \\d+ on Socket\\(fd=3, AF_UNIX, ${T}\\)$`));
      expect(lines.slice(1, 5)).toEqual([1, 2, 3, 4].map((n) => `parent: square ${n} -> ${n}^2 = ${n * n}`));
      expect(lines[5]).toBe(`4/4 answers right over a unix ${type} socketpair; child exited 0`);
      expect(o.code).toBe(0);
    });
  }
});
