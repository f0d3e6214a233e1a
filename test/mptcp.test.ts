/**
 * MPTCP on real sockets (Linux): MPTCP to MPTCP both ways with python3 peers, `isMptcp` true on
 * both ends and false against plain TCP (either side), cross-checked with the kernel's own
 * TCP_IS_MPTCP as python3 reads it; `mptcpInfo` decoded (64-bit sequence numbers as bigints);
 * EOPNOTSUPP where there is no MPTCP state; the error that names net.mptcp.enabled = 0 inside a
 * network namespace that turns MPTCP off; the async API and createConnection with "mptcp".
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { AsyncSocket } from "../src/async/async.ts";
import { SocketError } from "../src/core/errors.ts";
import { createConnection, errnoNumbers, platform } from "../src/index.ts";
import type { Address } from "../src/core/sockaddr.ts";
import { Socket } from "../src/socket/socket.ts";
import { bun, expectNoFdLeaks, root, run, start, startWithPort } from "./helpers.ts";

expectNoFdLeaks();

const C = platform.table.constants;
const python = Bun.which("python3");
const unshare = Bun.which("unshare");
const isRoot = process.getuid?.() === 0;

/** Why MPTCP tests cannot run here, or null. */
const mptcpReason: string | null = (() => {
  if (!platform.key.startsWith("linux-")) return "Linux only";
  if (C.IPPROTO_MPTCP === null || C.SOL_MPTCP === null || !platform.table.structs.mptcp_info) return `no MPTCP in the ${platform.key} table`;
  if (!existsSync("/proc/sys/net/mptcp/enabled")) return "this kernel has no MPTCP (no /proc/sys/net/mptcp)";
  if (readFileSync("/proc/sys/net/mptcp/enabled", "utf8").trim() !== "1") return "MPTCP is disabled here (net.mptcp.enabled = 0)";
  return null;
})();
if (mptcpReason) console.warn(`SKIP mptcp: ${mptcpReason}`);

const loopback = (port = 0): Address => ({ family: "inet", host: "127.0.0.1", port });
const portOf = (s: Socket | AsyncSocket): number => (s.localAddress as { port: number }).port;
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected a throw");
}

/** A connected pair: listener and client protocols as given; returns [client, accepted]. */
function connected(listenProto: "tcp" | "mptcp", connectProto: "tcp" | "mptcp"): [Socket, Socket, Socket] {
  const l = Socket.listen(loopback(), { protocol: listenProto });
  try {
    const c = Socket.connect(l.localAddress as Address, { protocol: connectProto, timeout: 5000 });
    const [a] = l.accept();
    return [l, c, a];
  } catch (e) {
    l.close();
    throw e;
  }
}

/**
 * python3 peer. "server": listens (MPTCP if asked), prints its port, echoes one message, prints
 * what the kernel says of the accepted socket. "client": connects (MPTCP if asked), sends, reads
 * the echo, prints it and the same facts. The facts: TCP_IS_MPTCP (43 in include/uapi/linux/
 * tcp.h, which these headers predate; read here as an independent check) and whether
 * MPTCP_INFO answers.
 */
const PY_PEER = String.raw`
import socket, sys, json
c = json.loads(sys.argv[1])
proto = c["IPPROTO_MPTCP"] if c["mptcp"] else 0
def facts(s):
    try:
        s.getsockopt(c["SOL_MPTCP"], c["MPTCP_INFO"], 48); info = "ok"
    except OSError as e: info = e.errno
    return {"tcpIsMptcp": s.getsockopt(socket.IPPROTO_TCP, 43), "mptcpInfo": info}
if c["role"] == "server":
    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto); l.bind(("127.0.0.1", 0)); l.listen(); l.settimeout(10)
    print(l.getsockname()[1], flush=True)
    a, _ = l.accept(); a.settimeout(10)
    a.sendall(a.recv(100)); f = facts(a); a.close()
    print(json.dumps(f))
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto); s.settimeout(10)
    s.connect(("127.0.0.1", c["port"])); s.sendall(b"over mptcp?")
    got = s.recv(100).decode(); f = facts(s); s.close()
    print(json.dumps({"echo": got, **f}))
`;

const pyConfig = (o: object): string => JSON.stringify({ IPPROTO_MPTCP: C.IPPROTO_MPTCP, SOL_MPTCP: C.SOL_MPTCP, MPTCP_INFO: C.MPTCP_INFO, ...o });

/** Starts the python3 server; `result` is its facts line. */
async function pyServer(mptcp: boolean): Promise<{ port: number; result: Promise<{ tcpIsMptcp: number; mptcpInfo: string | number }> }> {
  const { port, rest } = await startWithPort([python!, "-c", PY_PEER, pyConfig({ role: "server", mptcp })]);
  return { port, result: rest.then((lines) => JSON.parse(lines[0]!) as { tcpIsMptcp: number; mptcpInfo: string | number }) };
}

describe.skipIf(!!mptcpReason)("MPTCP sockets (bsdsock on both ends)", () => {
  test("MPTCP to MPTCP: isMptcp true on the listener, client and accepted socket; data flows", () => {
    const [l, c, a] = connected("mptcp", "mptcp");
    using _l = l, _c = c, _a = a;
    expect(l.protocol).toBe(C.IPPROTO_MPTCP!);
    expect(c.protocol).toBe(C.IPPROTO_MPTCP!);
    expect([l.getOption("isMptcp"), c.getOption("isMptcp"), a.getOption("isMptcp")]).toEqual([true, true, true]);
    c.timeout = a.timeout = 5000;
    c.sendAll("hello");
    expect(text(a.recv(16))).toBe("hello");
  });

  test("mptcpInfo: every struct member, 64-bit sequence numbers as bigints that move with the data", () => {
    const [l, c, a] = connected("mptcp", "mptcp");
    using _l = l, _c = c, _a = a;
    c.timeout = a.timeout = 5000;
    c.sendAll("x");
    a.recv(1);
    const before = c.getOption("mptcpInfo");
    const names = Object.keys(platform.table.structs.mptcp_info!.fields).map((n) => n.replace(/^mptcpi_/, "").replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase()));
    expect(Object.keys(before).sort()).toEqual(names.sort());
    expect(typeof before.writeSeq).toBe("bigint");
    expect(typeof before.subflows).toBe("number");
    expect(before.flags & C.MPTCP_INFO_FLAG_FALLBACK!).toBe(0);
    expect(before.flags & C.MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED!).not.toBe(0); // the handshake completed
    expect(before.token).not.toBe(0);
    // The subflow limit is the namespace's MPTCP path manager setting (ip mptcp limits).
    expect(before.subflowsMax).toBeGreaterThanOrEqual(0);
    c.sendAll(new Uint8Array(1000));
    let got = 0;
    for (let i = 0; i < 100 && got < 1000; i++) got += a.recv(1000).length;
    const after = c.getOption("mptcpInfo");
    expect(after.writeSeq - before.writeSeq).toBe(1000n); // data sequence space, exactly the bytes sent
    const peer = a.getOption("mptcpInfo");
    expect(peer.rcvNxt).toBe(after.writeSeq); // the receiver expects what the sender will send next
  });

  test("against plain TCP either way: isMptcp false on both ends, mptcpInfo EOPNOTSUPP", () => {
    for (const [lp, cp] of [["tcp", "mptcp"], ["mptcp", "tcp"], ["tcp", "tcp"]] as const) {
      const [l, c, a] = connected(lp, cp);
      using _l = l, _c = c, _a = a;
      expect([c.getOption("isMptcp"), a.getOption("isMptcp")]).toEqual([false, false]);
      expect(l.getOption("isMptcp")).toBe(lp === "mptcp"); // an MPTCP listener stays one
      for (const s of [c, a]) {
        const e = errorOf(() => s.getOption("mptcpInfo"));
        expect(e).toBeInstanceOf(SocketError);
        expect((e as SocketError).code).toBe("EOPNOTSUPP");
        expect((e as SocketError).syscall).toBe("getsockopt");
      }
    }
  });

  test("inet6 plain TCP: mptcpInfo is ENOPROTOOPT (the kernel's IPv6 answer), isMptcp false", () => {
    using l = Socket.listen({ family: "inet6", host: "::1", port: 0 });
    using c = Socket.connect(l.localAddress as Address, { timeout: 5000 });
    using _a = l.accept()[0];
    expect(c.getOption("isMptcp")).toBe(false);
    expect((errorOf(() => c.getOption("mptcpInfo")) as SocketError).code).toBe("ENOPROTOOPT");
  });

  test("isMptcp on sockets that are no TCP at all is false; isMptcp/mptcpInfo are read-only", () => {
    using u = new Socket("unix", "stream");
    using d = new Socket("inet", "dgram");
    expect([u.getOption("isMptcp"), d.getOption("isMptcp")]).toEqual([false, false]);
    using m = new Socket("inet6", "stream", "mptcp");
    expect(m.getOption("isMptcp")).toBe(true); // not connected yet: an MPTCP socket until it falls back
    expect(() => (m.setOption as (n: string, v: unknown) => void)("isMptcp", true)).toThrow(/read-only/);
    expect(() => (m.setOption as (n: string, v: unknown) => void)("mptcpInfo", {})).toThrow(/read-only/);
  });

  test("MPTCP on a datagram, raw or unix socket: EPROTONOSUPPORT saying what MPTCP is for", () => {
    // raw is refused before socket(): the kernel would make a raw socket for protocol 262, whose
    // low byte (6) no packet's 8-bit protocol field could match it by.
    for (const [f, t, why] of [["inet", "dgram", "SOCK_STREAM"], ["inet", "raw", "SOCK_STREAM"], ["inet6", "raw", "SOCK_STREAM"], ["unix", "stream", "AF_INET or AF_INET6"]] as const) {
      const e = errorOf(() => new Socket(f, t, "mptcp"));
      expect((e as SocketError).code).toBe("EPROTONOSUPPORT");
      expect((e as Error).message).toBe(`socket: Protocol not supported (MPTCP sockets are ${why})`);
    }
  });

  test("AsyncSocket.listen/connect and createConnection with protocol mptcp", async () => {
    await using l = AsyncSocket.listen(loopback(), { protocol: "mptcp" });
    const accepting = l.accept({ timeout: 5000 });
    await using c = await AsyncSocket.connect(loopback(portOf(l)), { protocol: "mptcp", timeout: 5000 });
    await using a = (await accepting)[0];
    expect([c.getOption("isMptcp"), a.getOption("isMptcp")]).toEqual([true, true]);
    await c.sendAll("async");
    expect(text(await a.recv(16, { timeout: 5000 }))).toBe("async");
    const accepting2 = l.accept({ timeout: 5000 });
    await using c2 = await AsyncSocket.createConnection("127.0.0.1", portOf(l), { protocol: "mptcp", timeout: 5000 });
    await using _a2 = (await accepting2)[0];
    expect(c2.getOption("isMptcp")).toBe(true);
    using s = new Socket("inet", "stream", "mptcp");
    s.bind(loopback());
    s.listen();
    using c3 = createConnection("127.0.0.1", portOf(s), { protocol: "mptcp", timeout: 5000 });
    using _a3 = s.accept()[0];
    expect(c3.getOption("isMptcp")).toBe(true);
  });
});

describe.skipIf(!!mptcpReason || !python)("MPTCP with python3 peers (the kernel's TCP_IS_MPTCP as the referee)", () => {
  for (const pyMptcp of [true, false]) {
    test(`bsdsock MPTCP client -> python3 ${pyMptcp ? "MPTCP" : "plain TCP"} server: isMptcp ${pyMptcp} on both ends`, async () => {
      const server = await pyServer(pyMptcp);
      using c = Socket.connect(loopback(server.port), { protocol: "mptcp", timeout: 5000 });
      c.sendAll("ping");
      expect(text(c.recv(16))).toBe("ping");
      expect(c.getOption("isMptcp")).toBe(pyMptcp);
      const facts = await server.result;
      expect(facts.tcpIsMptcp).toBe(pyMptcp ? 1 : 0);
      expect(facts.mptcpInfo === "ok").toBe(pyMptcp);
    });

    test(`python3 ${pyMptcp ? "MPTCP" : "plain TCP"} client -> bsdsock MPTCP server: isMptcp ${pyMptcp} on both ends`, async () => {
      using l = Socket.listen(loopback(), { protocol: "mptcp" });
      const client = start([python!, "-c", PY_PEER, pyConfig({ role: "client", mptcp: pyMptcp, port: portOf(l) })]);
      l.timeout = 10_000;
      const [a] = l.accept();
      using _a = a;
      a.timeout = 5000;
      a.sendAll(a.recv(100));
      // The client has read its echo before it asks, so the answer holds for the whole exchange.
      expect(a.getOption("isMptcp")).toBe(pyMptcp);
      const o = await client.done;
      expect(o.stderr).toBe("");
      const facts = JSON.parse(o.stdout) as { echo: string; tcpIsMptcp: number; mptcpInfo: string | number };
      expect(facts).toEqual({ echo: "over mptcp?", tcpIsMptcp: pyMptcp ? 1 : 0, mptcpInfo: pyMptcp ? "ok" : errnoNumbers.EOPNOTSUPP });
    });
  }
});

const netnsReason = mptcpReason ?? (!unshare ? "no unshare on PATH" : !isRoot ? "not root: cannot create a network namespace" : null);
describe.skipIf(!!netnsReason)("MPTCP switched off (net.mptcp.enabled = 0 in a namespace of our own)", () => {
  test("new Socket(…, 'mptcp') fails with ENOPROTOOPT naming the sysctl; plain TCP still works", async () => {
    const probe = `
      import { Socket } from ${JSON.stringify(`${root}/src/index.ts`)};
      try { new Socket("inet", "stream", "mptcp"); console.log("created"); }
      catch (e) { console.log(e.code + " | " + e.message); }
      new Socket("inet", "stream").close();
      console.log("tcp ok");`;
    const o = await run([unshare!, "--net", "sh", "-c", 'sysctl -qw net.mptcp.enabled=0 && exec "$@"', "sh", bun, "-e", probe]);
    if (/unshare: .*(Operation not permitted|Permission denied)/.test(o.stderr)) {
      console.warn(`SKIP netns mptcp: ${o.stderr.trim()}`);
      return;
    }
    expect(o.stderr).toBe("");
    expect(o.stdout).toBe("ENOPROTOOPT | socket: Protocol not available (MPTCP is disabled in this network namespace: sysctl net.mptcp.enabled = 0)\ntcp ok\n");
  });
});
