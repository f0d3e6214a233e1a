/**
 * Every family × type pair Linux supports, against python3's socket module as an independent
 * peer, in both directions (bsdsock server ↔ python client, python server ↔ bsdsock client):
 * inet and inet6 stream/dgram; unix stream/dgram/seqpacket on pathname and abstract addresses.
 * Payloads are byte-exact (every byte value), and addresses round-trip exactly: the address
 * bsdsock reports for its own socket is what python sees as the peer, and vice versa
 * (abstract names with NULs inside, IPv6 flowinfo/scope id, unnamed unix peers, autobind).
 * Also: MSG_TRUNC on an oversized UDP datagram, and socketpairs shared with a python child.
 *
 * Linux-only here: abstract and autobind unix addresses, SOCK_SEQPACKET on unix sockets
 * (macOS has none), MSG_TRUNC returning the real datagram length.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { platform } from "../src/index.ts";
import type { Address, Inet6Address, InetAddress, RawAddress } from "../src/core/sockaddr.ts";
import { Socket } from "../src/socket/socket.ts";
import { expectNoFdLeaks, ownSockets, root, scratchDir, start, type Outcome, type Running } from "./helpers.ts";

const python = Bun.which("python3");
const linux = platform.key.startsWith("linux-");
const skipReason = !python ? "no python3 on PATH" : !linux ? "the family matrix here is Linux's (abstract names, seqpacket)" : null;
if (skipReason) console.warn(`SKIP families.test.ts: ${skipReason}`);

expectNoFdLeaks();

const MSG_TRUNC = platform.table.constants.MSG_TRUNC;
const dir = scratchDir();
const TIMEOUT = 10_000; // ms for every blocking bsdsock call: a broken peer fails the test, never hangs it

/** Sockets made by a test, closed after it whatever happened. */
const own = ownSockets();

/** Payload k of n bytes: every byte value once n ≥ 256 (7 is coprime with 256). Same formula in python. */
function payload(n: number, k: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + k) & 0xff;
  return b;
}
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

/** An address as plain JSON (abstract names as byte arrays), the form python reports. */
function plain(a: Address | RawAddress): object {
  if (typeof a.family === "number") return a;
  if (a.family === "unix" && a.abstract !== undefined) {
    const bytes = typeof a.abstract === "string" ? new TextEncoder().encode(a.abstract) : a.abstract;
    return { family: "unix", abstract: [...bytes] };
  }
  return { ...a };
}

let unique = 0;
/** A fresh abstract name with NULs (and a non-UTF-8 byte) inside. */
function abstractName(tag: string): Uint8Array {
  const text = new TextEncoder().encode(`bsdsock\0${tag}\0${process.pid}-${++unique}`);
  return Uint8Array.from([...text, 0xff, 0x00, 0x01]);
}
const pathName = (tag: string) => join(dir, `${tag}-${++unique}.sock`);

/** What both sides share: address JSON ↔ python tuples, payloads, exact reads. */
const PRELUDE = String.raw`
import json, os, socket, sys, time
def addr_json(fam, a):
    if fam == socket.AF_INET: return {"family": "inet", "host": a[0], "port": a[1]}
    if fam == socket.AF_INET6: return {"family": "inet6", "host": a[0], "port": a[1], "flowinfo": a[2], "scopeId": a[3]}
    if a is None or a == "" or a == b"": return {"family": "unix"}
    if isinstance(a, bytes):
        if a[:1] == b"\0": return {"family": "unix", "abstract": list(a[1:])}
        return {"family": "unix", "path": os.fsdecode(a)}
    return {"family": "unix", "path": a}
def to_py(j):
    if j["family"] == "inet": return (j["host"], j["port"])
    if j["family"] == "inet6": return (j["host"], j["port"], j.get("flowinfo", 0), j.get("scopeId", 0))
    if "path" in j: return j["path"]
    if "abstract" in j: return b"\0" + bytes(j["abstract"])
    return ""
FAM = {"inet": socket.AF_INET, "inet6": socket.AF_INET6, "unix": socket.AF_UNIX}
TYP = {"stream": socket.SOCK_STREAM, "dgram": socket.SOCK_DGRAM, "seqpacket": socket.SOCK_SEQPACKET}
def payload(n, k): return bytes((i * 7 + k) & 255 for i in range(n))
def recv_exact(s, n):
    b = bytearray()
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: break
        b += c
    return bytes(b)
def rendezvous(obj):
    tmp = cfg["rendezvous"] + ".tmp"
    with open(tmp, "w") as f: json.dump(obj, f)
    os.rename(tmp, cfg["rendezvous"])
cfg = json.loads(sys.argv[1])
fam, typ = FAM[cfg["family"]], TYP[cfg["type"]]
`;

/** Python client for a bsdsock server: sends payload(n, 1), reads the reply, reports addresses. */
const PY_CLIENT = PRELUDE + String.raw`
s = socket.socket(fam, typ)
s.settimeout(10)
if cfg.get("bind") is not None: s.bind(to_py(cfg["bind"]))
server = to_py(cfg["server"])
data = payload(cfg["n"], 1)
if cfg["type"] == "dgram":
    if cfg.get("connect"):
        s.connect(server); s.send(data); reply = s.recv(65536); peer = s.getpeername()
    else:
        s.sendto(data, server); reply, peer = s.recvfrom(65536)
elif cfg["type"] == "seqpacket":
    s.connect(server); s.send(data); reply = s.recv(65536); peer = s.getpeername()
else:
    s.connect(server); s.sendall(data); reply = recv_exact(s, cfg["m"]); peer = s.getpeername()
print(json.dumps({"local": addr_json(fam, s.getsockname()), "peer": addr_json(fam, peer), "got": reply.hex()}))
`;

/** Python server for a bsdsock client: reads payload(n, 1), replies payload(m, 2), reports addresses. */
const PY_SERVER = PRELUDE + String.raw`
s = socket.socket(fam, typ)
s.settimeout(10)
if fam == socket.AF_INET6: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.bind(to_py(cfg["bind"]))
out = {"local": addr_json(fam, s.getsockname())}
if cfg["type"] == "dgram":
    rendezvous(out["local"])
    data, peer = s.recvfrom(65536)
    s.sendto(payload(cfg["m"], 2), peer)
else:
    s.listen(1)
    rendezvous(out["local"])
    c, peer = s.accept()
    c.settimeout(10)
    data = recv_exact(c, cfg["n"]) if cfg["type"] == "stream" else c.recv(65536)
    c.sendall(payload(cfg["m"], 2))
    out["connLocal"] = addr_json(fam, c.getsockname())
    out["connPeer"] = addr_json(fam, c.getpeername())
    c.close()
out["peer"] = addr_json(fam, peer)
out["got"] = data.hex()
print(json.dumps(out))
`;

function runPython(script: string, cfg: object): Running {
  return start([python!, "-c", script, JSON.stringify(cfg)], {}, 15_000);
}

/** Parses the python peer's one JSON line; a failed peer fails the test with its stderr. */
function report(o: Outcome): { local: object; peer: object; got: string; connLocal?: object; connPeer?: object } {
  if (o.code !== 0) throw new Error(`python peer exited ${o.code} ${o.signal ?? ""}\n${o.stderr}`);
  return JSON.parse(o.stdout);
}

/** Waits (bounded) for the python server's address file. */
async function rendezvous(file: string, peer: Running, timeoutMs = 10_000): Promise<Address> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(file)) {
      const j = JSON.parse(readFileSync(file, "utf8"));
      rmSync(file);
      return j.abstract ? { family: "unix", abstract: Uint8Array.from(j.abstract) } : j;
    }
    if (peer.proc.exitCode !== null) throw new Error(`python server exited early:\n${(await peer.done).stderr}`);
    await Bun.sleep(5);
  }
  throw new Error(`python server did not report its address within ${timeoutMs} ms`);
}

type Kind = "stream" | "dgram" | "seqpacket";
interface Combo {
  name: string;
  family: "inet" | "inet6" | "unix";
  type: Kind;
  /** The server's bind address (fresh per call). */
  server(): Address;
  /** The client's bind address, or null to leave it unbound (unnamed unix / ephemeral port). */
  client(): Address | null;
}

const v4 = (): Address => ({ family: "inet", host: "127.0.0.1", port: 0 });
const v6 = (): Address => ({ family: "inet6", host: "::1", port: 0 });
const combos: Combo[] = [
  { name: "inet stream", family: "inet", type: "stream", server: v4, client: () => null },
  { name: "inet dgram", family: "inet", type: "dgram", server: v4, client: v4 },
  { name: "inet6 stream", family: "inet6", type: "stream", server: v6, client: () => null },
  { name: "inet6 dgram", family: "inet6", type: "dgram", server: v6, client: v6 },
];
for (const type of ["stream", "dgram", "seqpacket"] as const) {
  // Connection-oriented pathname clients stay unbound (the peer sees an unnamed address);
  // abstract clients bind an abstract name with NULs; datagram clients must bind to get replies.
  combos.push({
    name: `unix ${type} pathname`, family: "unix", type,
    server: () => ({ family: "unix", path: pathName(`srv-${type}`) }),
    client: () => (type === "dgram" ? { family: "unix", path: pathName(`cli-${type}`) } : null),
  });
  combos.push({
    name: `unix ${type} abstract`, family: "unix", type,
    server: () => ({ family: "unix", abstract: abstractName(`srv-${type}`) }),
    client: () => ({ family: "unix", abstract: abstractName(`cli-${type}`) }),
  });
}

/** bytes sent bsdsock → python and back: big enough for partial stream reads, one datagram otherwise. */
const sizes = (type: Kind) => (type === "stream" ? { n: 100_000, m: 70_001 } : { n: 1000, m: 777 });

function recvExact(sock: Socket, n: number): Uint8Array {
  const buf = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const k = sock.recvInto(buf.subarray(got));
    if (k === 0) break;
    got += k;
  }
  return buf.subarray(0, got);
}

describe.skipIf(!!skipReason)("bsdsock server ↔ python client", () => {
  for (const c of combos) {
    test(c.name, async () => {
      const { n, m } = sizes(c.type);
      const bindAddr = c.server();
      const server = own(c.type === "dgram" ? new Socket(c.family, "dgram") : Socket.listen(bindAddr, { type: c.type }));
      if (c.type === "dgram") server.bind(bindAddr);
      server.timeout = TIMEOUT;
      const serverAddr = server.localAddress;
      // Our own address reads back exactly as bound (plus the kernel-chosen port).
      if (bindAddr.family === "unix") expect(plain(serverAddr)).toEqual(plain(bindAddr));
      else expect(serverAddr).toEqual({ ...(bindAddr as InetAddress | Inet6Address), port: (serverAddr as { port: number }).port, ...(bindAddr.family === "inet6" ? { flowinfo: 0, scopeId: 0 } : {}) });

      const clientBind = c.client();
      const peerProc = runPython(PY_CLIENT, {
        family: c.family, type: c.type, n, m, server: plain(serverAddr),
        bind: clientBind && plain(clientBind), connect: c.family !== "unix", // IP: connected UDP; unix: sendto
      });
      let received: Uint8Array;
      let peerAddr: Address | RawAddress;
      if (c.type === "dgram") {
        const [data, from] = server.recvFrom(65536);
        received = data;
        peerAddr = from;
        expect(server.sendTo(payload(m, 2), from as Address)).toBe(m);
      } else {
        const [conn, from] = server.accept();
        own(conn);
        conn.timeout = TIMEOUT;
        peerAddr = from;
        expect(plain(conn.remoteAddress)).toEqual(plain(from));
        expect(plain(conn.localAddress)).toEqual(plain(serverAddr));
        received = c.type === "stream" ? recvExact(conn, n) : conn.recv(65536);
        conn.sendAll(payload(m, 2));
      }
      const r = report(await peerProc.done);
      expect(hex(received)).toBe(hex(payload(n, 1)));
      expect(r.got).toBe(hex(payload(m, 2)));
      expect(r.peer).toEqual(plain(serverAddr)); // what python sees as its peer = our getsockname
      expect(plain(peerAddr)).toEqual(r.local); // what we see as the peer = python's getsockname
      if (clientBind?.family === "unix") expect(r.local).toEqual(plain(clientBind));
      if (c.family === "unix" && clientBind === null) expect(plain(peerAddr)).toEqual({ family: "unix" });
    });
  }
});

describe.skipIf(!!skipReason)("python server ↔ bsdsock client", () => {
  for (const c of combos) {
    test(c.name, async () => {
      const { n, m } = sizes(c.type);
      const rv = join(dir, `rv-${++unique}.json`);
      const serverBind = c.server();
      const peerProc = runPython(PY_SERVER, { family: c.family, type: c.type, n, m, bind: plain(serverBind), rendezvous: rv });
      const serverAddr = await rendezvous(rv, peerProc);
      if (serverBind.family === "unix") expect(plain(serverAddr)).toEqual(plain(serverBind));

      const client = own(new Socket(c.family, c.type));
      client.timeout = TIMEOUT;
      const clientBind = c.client();
      if (clientBind) client.bind(clientBind);
      let reply: Uint8Array;
      if (c.type === "dgram" && c.family !== "unix") {
        // Unconnected UDP: sendTo and recvFrom, which names the sender.
        expect(client.sendTo(payload(n, 1), serverAddr)).toBe(n);
        const [data, from] = client.recvFrom(65536);
        reply = data;
        expect(plain(from)).toEqual(plain(serverAddr));
      } else {
        client.connect(serverAddr);
        expect(plain(client.remoteAddress)).toEqual(plain(serverAddr));
        if (c.type === "dgram") expect(client.send(payload(n, 1))).toBe(n);
        else client.sendAll(payload(n, 1));
        reply = c.type === "stream" ? recvExact(client, m) : client.recv(65536);
      }
      const clientAddr = client.localAddress;
      const r = report(await peerProc.done);
      expect(r.got).toBe(hex(payload(n, 1)));
      expect(hex(reply)).toBe(hex(payload(m, 2)));
      expect(r.local).toEqual(plain(serverAddr));
      expect(r.peer).toEqual(plain(clientAddr)); // python's accept/recvfrom = our getsockname
      if (clientBind?.family === "unix") expect(plain(clientAddr)).toEqual(plain(clientBind));
      if (c.family === "unix" && !clientBind) expect(plain(clientAddr)).toEqual({ family: "unix" });
      if (r.connLocal !== undefined) {
        expect(r.connLocal).toEqual(plain(serverAddr));
        expect(r.connPeer).toEqual(plain(clientAddr));
      }
    });
  }
});

describe.skipIf(!!skipReason)("unix address edge cases against python", () => {
  test("an unbound python unix datagram sender is unnamed on both sides", async () => {
    const server = own(new Socket("unix", "dgram"));
    const path = pathName("unnamed");
    server.bind({ family: "unix", path });
    server.timeout = TIMEOUT;
    const peer = runPython(PRELUDE + String.raw`
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(payload(300, 5), cfg["to"])
print(json.dumps({"local": addr_json(socket.AF_UNIX, s.getsockname())}))
`, { family: "unix", type: "dgram", to: path });
    const [data] = server.recvFrom(1000);
    const r = report(await peer.done);
    expect(hex(data)).toBe(hex(payload(300, 5)));
    expect(r.local).toEqual({ family: "unix" });
  });

  // Linux's recvfrom() reports an unnamed unix datagram sender with *addrlen = 0; the socket's
  // own family says what that means.
  test("recvFrom names an unbound unix datagram sender { family: \"unix\" }", async () => {
    const server = own(new Socket("unix", "dgram"));
    const path = pathName("unnamed2");
    server.bind({ family: "unix", path });
    server.timeout = TIMEOUT;
    const peer = runPython(PRELUDE + String.raw`
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"x", cfg["to"])
`, { family: "unix", type: "dgram", to: path });
    const [, from] = server.recvFrom(10);
    await peer.done;
    expect(from).toEqual({ family: "unix" });
  });

  test("autobind: binding an unnamed address gets a 5-hex-digit abstract name python sees exactly", async () => {
    const rv = join(dir, `rv-${++unique}.json`);
    const peer = runPython(PY_SERVER, { family: "unix", type: "dgram", n: 64, m: 64, bind: { family: "unix", abstract: [...abstractName("auto")] }, rendezvous: rv });
    const serverAddr = await rendezvous(rv, peer);
    const client = own(new Socket("unix", "dgram"));
    client.timeout = TIMEOUT;
    client.bind({ family: "unix" });
    const mine = plain(client.localAddress) as { abstract: number[] };
    expect(String.fromCharCode(...mine.abstract)).toMatch(/^[0-9a-f]{5}$/);
    client.sendTo(payload(64, 1), serverAddr);
    const [reply, from] = client.recvFrom(1000);
    const r = report(await peer.done);
    expect(hex(reply)).toBe(hex(payload(64, 2)));
    expect(plain(from)).toEqual(plain(serverAddr));
    expect(r.peer).toEqual(mine);
  });

  test("an abstract name that is all NULs, and one of the maximum 107 bytes", async () => {
    for (const name of [new Uint8Array(4), payload(107, 3)]) {
      const server = own(new Socket("unix", "dgram"));
      server.bind({ family: "unix", abstract: name });
      server.timeout = TIMEOUT;
      expect(plain(server.localAddress)).toEqual({ family: "unix", abstract: [...name] });
      const peer = runPython(PY_CLIENT, {
        family: "unix", type: "dgram", n: 10, m: 0, server: plain(server.localAddress),
        bind: { family: "unix", abstract: [...abstractName("edge")] },
      });
      const [data, from] = server.recvFrom(100);
      server.sendTo(new Uint8Array(0), from as Address);
      const r = report(await peer.done);
      expect(hex(data)).toBe(hex(payload(10, 1)));
      expect(r.peer).toEqual({ family: "unix", abstract: [...name] });
      expect(plain(from)).toEqual(r.local);
      expect(r.got).toBe(""); // an empty datagram is a datagram
    }
    // 108 bytes do not fit: refused before any syscall.
    const s = own(new Socket("unix", "dgram"));
    expect(() => s.bind({ family: "unix", abstract: new Uint8Array(108) })).toThrow(RangeError);
  });
});

describe.skipIf(!!skipReason)("IPv6 specifics against python", () => {
  test("a dual-stack inet6 listener sees an IPv4 python client as ::ffff:127.0.0.1, both ends agreeing", async () => {
    // The IPv4-mapped loopback (not "::", which would listen on every interface).
    const server = own(Socket.listen({ family: "inet6", host: "::ffff:127.0.0.1", port: 0 }, { dualStack: true }));
    server.timeout = TIMEOUT;
    const port = (server.localAddress as { port: number }).port;
    const peer = runPython(PY_CLIENT, { family: "inet", type: "stream", n: 256, m: 256, server: { family: "inet", host: "127.0.0.1", port } });
    const [conn, from] = server.accept();
    own(conn);
    conn.timeout = TIMEOUT;
    const got = recvExact(conn, 256);
    conn.sendAll(payload(256, 2));
    const r = report(await peer.done);
    const local = r.local as { host: string; port: number };
    expect(hex(got)).toBe(hex(payload(256, 1)));
    expect(r.got).toBe(hex(payload(256, 2)));
    expect(from).toEqual({ family: "inet6", host: "::ffff:127.0.0.1", port: local.port, flowinfo: 0, scopeId: 0 });
    expect(local.host).toBe("127.0.0.1");
    expect(conn.localAddress).toEqual({ family: "inet6", host: "::ffff:127.0.0.1", port, flowinfo: 0, scopeId: 0 });
    expect(r.peer).toEqual({ family: "inet", host: "127.0.0.1", port });
  });

  test("a v6-only listener (the default) cannot take an IPv4-mapped address at all", () => {
    const s = own(new Socket("inet6", "stream"));
    s.setRawOption(platform.table.constants.IPPROTO_IPV6, platform.table.constants.IPV6_V6ONLY, 1);
    expect(() => s.bind({ family: "inet6", host: "::ffff:127.0.0.1", port: 0 })).toThrow(expect.objectContaining({ syscall: "bind", code: "EINVAL" }));
  });

  test("a v6-only ::1 listener is not reachable from IPv4", async () => {
    const server = own(Socket.listen(v6()));
    const port = (server.localAddress as { port: number }).port;
    const peer = await runPython(PY_CLIENT, { family: "inet", type: "stream", n: 1, m: 1, server: { family: "inet", host: "127.0.0.1", port } }).done;
    expect(peer.code).not.toBe(0);
    expect(peer.stderr).toContain("ConnectionRefusedError");
  });
});

describe.skipIf(!!skipReason)("MSG_TRUNC", () => {
  test("a UDP datagram larger than the buffer: MSG_TRUNC gives its real size, the rest is discarded", async () => {
    const sock = own(new Socket("inet", "dgram"));
    sock.bind(v4());
    sock.timeout = TIMEOUT;
    const peer = runPython(PRELUDE + String.raw`
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
to = to_py(cfg["to"])
s.sendto(payload(2000, 1), to)
s.sendto(payload(10, 2), to)
s.sendto(payload(3000, 3), to)
print(json.dumps({"local": addr_json(socket.AF_INET, s.getsockname())}))
`, { family: "inet", type: "dgram", to: plain(sock.localAddress) });
    const buf = new Uint8Array(100);
    const [n1, from] = sock.recvFromInto(buf, 100, MSG_TRUNC);
    expect(n1).toBe(2000); // the datagram's real length, larger than the buffer
    expect(hex(buf)).toBe(hex(payload(2000, 1).subarray(0, 100)));
    const [n2] = sock.recvFromInto(buf);
    expect(n2).toBe(10); // the next datagram, not the rest of the first
    expect(hex(buf.subarray(0, 10))).toBe(hex(payload(10, 2)));
    const [n3] = sock.recvFromInto(buf); // without MSG_TRUNC: just what fit
    expect(n3).toBe(100);
    expect(hex(buf)).toBe(hex(payload(3000, 3).subarray(0, 100)));
    const r = report(await peer.done);
    expect(plain(from)).toEqual(r.local);
  });
});

// --- socketpairs shared with a python child (fd 3) ----------------------------------------

const spawned = new Set<ReturnType<typeof Bun.spawn>>();
afterAll(() => { for (const p of spawned) p.kill("SIGKILL"); });

/** Starts `cmd` with `fd` as its fd 3, killed after a deadline. */
function startWithFd(cmd: string[], fd: number, timeoutMs = 15_000): Promise<Outcome> {
  const proc = Bun.spawn(cmd, { cwd: root, stdio: ["ignore", "pipe", "pipe", fd] });
  spawned.add(proc);
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  return (async () => {
    const [stdout, stderr] = await Promise.all([
      new Response(proc.stdout as ReadableStream).text(),
      new Response(proc.stderr as ReadableStream).text(),
    ]);
    await proc.exited;
    clearTimeout(timer);
    spawned.delete(proc);
    return { code: proc.exitCode, signal: proc.signalCode === null ? null : String(proc.signalCode), stdout, stderr };
  })();
}

describe.skipIf(!!skipReason)("socketpair with a python child", () => {
  for (const type of ["stream", "dgram", "seqpacket"] as const) {
    test(`unix ${type}: kind, unnamed addresses, bytes${type === "stream" ? "" : " and record boundaries"}`, async () => {
      const [mine, theirs] = Socket.pair("unix", type);
      own(mine);
      own(theirs);
      mine.timeout = TIMEOUT;
      const child = startWithFd([python!, "-c", PRELUDE + String.raw`
s = socket.socket(fileno=3)
s.settimeout(10)
if cfg["type"] == "stream":
    got = [recv_exact(s, 300 + 5).hex()]
else:
    got = [s.recv(65536).hex(), s.recv(65536).hex()]
s.sendall(payload(4000, 9))
print(json.dumps({"family": s.family == socket.AF_UNIX, "type": s.type == typ,
                  "local": addr_json(socket.AF_UNIX, s.getsockname()),
                  "peer": addr_json(socket.AF_UNIX, s.getpeername()), "got": got}))
`, JSON.stringify({ family: "unix", type })], theirs.fd);
      theirs.close();
      mine.sendAll(payload(300, 1));
      mine.sendAll(payload(5, 2));
      const back = type === "stream" ? recvExact(mine, 4000) : mine.recv(65536);
      const r = report(await child) as unknown as { family: boolean; type: boolean; local: object; peer: object; got: string[] };
      expect(r.family).toBe(true);
      expect(r.type).toBe(true);
      expect(r.local).toEqual({ family: "unix" });
      expect(r.peer).toEqual({ family: "unix" });
      expect(plain(mine.localAddress)).toEqual({ family: "unix" });
      expect(plain(mine.remoteAddress)).toEqual({ family: "unix" });
      expect(r.got).toEqual(type === "stream" ? [hex(payload(300, 1)) + hex(payload(5, 2))] : [hex(payload(300, 1)), hex(payload(5, 2))]);
      expect(hex(back)).toBe(hex(payload(4000, 9)));
    });
  }
});
