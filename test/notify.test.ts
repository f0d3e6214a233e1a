/**
 * sd_notify: notify() against a python3 receiver that binds the notify socket the way a service
 * manager does (AF_UNIX SOCK_DGRAM, SO_PASSCRED, recvmsg with room for credentials and fds) on
 * a filesystem path and on an abstract name, checking the exact bytes, the credentials, and fds
 * for FDSTORE=1 (the receiver reads and writes through a passed socket); the refusals (bad
 * state, bad or vsock addresses, nobody listening) without leaking an fd; watchdogInterval()'s
 * parsing as sd_watchdog_enabled; startWatchdog()'s pings, from this process and from a child
 * that its unref'd timer lets exit; and systemd-notify(1) as a reference sender.
 */
import { describe, expect, test } from "bun:test";
import { closeSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { table } from "../ffi/platform.ts";
import { SocketError } from "../src/core/errors.ts";
import { notify, startWatchdog, watchdogInterval, type Watchdog } from "../src/linux/notify.ts";
import { Socket } from "../src/socket/socket.ts";
import { bun, expectNoFdLeaks, openFds, root, run, scratchDir } from "./helpers.ts";

expectNoFdLeaks();

const linux = table.platform.startsWith("linux-");
const python = Bun.which("python3");
const systemdNotify = Bun.which("systemd-notify");
const dir = scratchDir();
const decoder = new TextDecoder();
const text = (b: Uint8Array): string => decoder.decode(b);
const notifyModule = JSON.stringify(join(root, "src", "linux", "notify.ts"));

const noSpawnBun = process.env.BSDSOCK_NO_SPAWN_BUN === "1";
if (!python) console.warn("SKIP notify receiver tests: no python3 on PATH");
if (noSpawnBun) console.warn("SKIP startWatchdog child tests: BSDSOCK_NO_SPAWN_BUN=1 (this bun cannot start a bun child here)");
if (!systemdNotify) console.warn("SKIP systemd-notify comparison: not installed (Debian package systemd)");

/** This process's credentials, as SCM_CREDENTIALS carries them. */
const me = { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() };

/**
 * The receiver: binds `address` ("/path" or "@abstract"), turns on SO_PASSCRED, prints
 * {"ready": true}, then one JSON line per datagram: the payload (base64), msg_flags, the
 * SCM_CREDENTIALS it carried, and each SCM_RIGHTS fd's kind; with fdMode "echo" it reads a
 * message from each passed socket and answers "python got <it>" through it. Received fds are
 * closed. Exits after `count` datagrams, or (traceback) after `timeout` s without one.
 */
const RECEIVER = `
import array, base64, json, os, socket, stat, struct, sys, time
cfg = json.loads(sys.argv[1])
addr = cfg["address"]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(b"\\0" + addr[1:].encode() if addr.startswith("@") else addr.encode())
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.settimeout(cfg["timeout"])
print(json.dumps({"ready": True}), flush=True)
for _ in range(cfg["count"]):
    data, anc, flags, _a = s.recvmsg(65536, socket.CMSG_SPACE(12) + socket.CMSG_SPACE(4 * 253))
    out = {"data": base64.b64encode(data).decode(), "flags": flags, "creds": [], "fds": [], "t": time.monotonic()}
    for level, kind, cdata in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            out["creds"].append(dict(zip(("pid", "uid", "gid"), struct.unpack("iII", cdata[:12]))))
        elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(cdata[: len(cdata) - len(cdata) % 4])
            for fd in fds:
                mode = os.fstat(fd).st_mode
                kind_ = "socket" if stat.S_ISSOCK(mode) else "fifo" if stat.S_ISFIFO(mode) else "file" if stat.S_ISREG(mode) else "other"
                info = {"kind": kind_}
                if cfg["fdMode"] == "echo" and kind_ == "socket":
                    c = socket.socket(fileno=fd)
                    c.settimeout(5)
                    got = c.recv(256)
                    c.sendall(b"python got " + got)
                    c.close()
                    info["read"] = got.decode()
                else:
                    os.close(fd)
                out["fds"].append(info)
    print(json.dumps(out), flush=True)
`;
const receiverScript = join(dir, "receiver.py");
writeFileSync(receiverScript, RECEIVER);

/** One datagram as the receiver saw it. */
interface Received {
  readonly data: Uint8Array;
  readonly flags: number;
  readonly creds: { pid: number; uid: number; gid: number }[];
  readonly fds: { kind: string; read?: string }[];
  /** time.monotonic() at receipt, in seconds. */
  readonly t: number;
}

/** What Receiver needs of its stdout reader. */
interface ChunkReader {
  read(): Promise<{ done: true; value?: Uint8Array | undefined } | { done: false; value: Uint8Array }>;
  cancel(reason?: unknown): Promise<void>;
}
type ReadResult = Awaited<ReturnType<ChunkReader["read"]>>;

/** A running python receiver; `next()` waits (bounded) for its next datagram. */
class Receiver implements AsyncDisposable {
  readonly #proc: ReturnType<typeof Bun.spawn>;
  readonly #reader: ChunkReader;
  readonly #stderr: Promise<string>;
  readonly #killTimer: ReturnType<typeof setTimeout>;
  #buffer = "";
  #pending: Promise<ReadResult> | null = null;

  private constructor(address: string, options: { count?: number; fdMode?: "echo" | "close"; timeoutS?: number }) {
    const cfg = { address, count: options.count ?? 1000, fdMode: options.fdMode ?? "close", timeout: options.timeoutS ?? 20 };
    this.#proc = Bun.spawn([python!, receiverScript, JSON.stringify(cfg)], { cwd: root, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    this.#killTimer = setTimeout(() => this.#proc.kill("SIGKILL"), 30_000); // whatever happens, it ends
    this.#stderr = new Response(this.#proc.stderr as ReadableStream).text();
    this.#reader = (this.#proc.stdout as ReadableStream<Uint8Array>).getReader();
  }

  /** Starts a receiver on `address` and waits until it is bound. */
  static async start(address: string, options: { count?: number; fdMode?: "echo" | "close"; timeoutS?: number } = {}): Promise<Receiver> {
    const r = new Receiver(address, options);
    try {
      const line = await r.#line(10_000);
      if (JSON.parse(line).ready !== true) throw new Error(`receiver: unexpected first line ${line}`);
      return r;
    } catch (e) {
      await r.close();
      throw e;
    }
  }

  /** The next output line, within `timeoutMs`. */
  async #line(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nl = this.#buffer.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        return line;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`receiver: nothing within ${timeoutMs} ms`);
      // One read stays pending across calls, so no chunk is lost to a timeout.
      this.#pending ??= this.#reader.read();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const result = await Promise.race([
        this.#pending,
        new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), remaining); }),
      ]);
      clearTimeout(timer);
      if (result === null) continue;
      this.#pending = null;
      if (result.done) throw new Error(`receiver exited (code ${await this.#proc.exited}): ${await this.#stderr}`);
      this.#buffer += decoder.decode(result.value, { stream: true });
    }
  }

  /** The next datagram, within `timeoutMs`. */
  async next(timeoutMs = 10_000): Promise<Received> {
    const o = JSON.parse(await this.#line(timeoutMs));
    return { ...o, data: new Uint8Array(Buffer.from(o.data, "base64")) };
  }

  /** Datagrams until one whose payload is `last` (included), within `timeoutMs` in all. */
  async until(last: string, timeoutMs = 10_000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    const out: Received[] = [];
    for (;;) {
      const d = await this.next(Math.max(1, deadline - Date.now()));
      out.push(d);
      if (text(d.data) === last) return out;
    }
  }

  /** Kills it (if still running) and waits until its pipes are closed. */
  async close(): Promise<void> {
    this.#proc.kill("SIGKILL");
    await this.#proc.exited;
    clearTimeout(this.#killTimer);
    await this.#reader.cancel().catch(() => {});
    await this.#stderr;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

let names = 0;
/** A fresh abstract name ("@…") and a fresh socket path, unique to this run. */
const abstractName = (): string => `@bsdsock-notify-${process.pid}-${++names}`;
const socketPath = (): string => join(dir, `notify-${++names}.sock`);

/** Open fds now (the listing's own fd excluded), to compare around synchronous calls. */
const fdsNow = (): string[] => openFds().filter((f) => !f.endsWith("(closed)"));
/** The fds open now that were not in `before` (Bun may close some of its own meanwhile). */
const newFds = (before: readonly string[]): string[] => fdsNow().filter((f) => !before.includes(f));

/** Runs `fn` with process.env[name] set to `value` (deleted when undefined), restoring it after. */
function withProcessEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  try {
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe("notify(): state and environment", () => {
  test("false when NOTIFY_SOCKET is unset or empty, from process.env or a given env, opening nothing", () => {
    const before = fdsNow();
    expect(notify("READY=1", { env: {} })).toBe(false);
    expect(notify({ READY: true }, { env: { NOTIFY_SOCKET: "" } })).toBe(false);
    withProcessEnv({ NOTIFY_SOCKET: undefined }, () => {
      expect(notify("READY=1")).toBe(false);
    });
    expect(newFds(before)).toEqual([]);
  });

  test("an object's keys and values are checked before anything is sent, even with NOTIFY_SOCKET unset", () => {
    const before = fdsNow();
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ ready: 1 }, /"ready" is not a variable name/],
      [{ "A=B": 1 }, /"A=B" is not a variable name/],
      [{ "A\nB": 1 }, /is not a variable name/],
      [{ "": 1 }, /"" is not a variable name/],
      [{ "1X": 1 }, /"1X" is not a variable name/],
      [{ STATUS: "two\nlines" }, /STATUS's value contains a newline/],
      [{ STATUS: "cr\rhere" }, /carriage return/],
      [{ STATUS: "nul\0here" }, /NUL byte/],
      [{ MAINPID: Number.NaN }, /MAINPID must be a finite number/],
      [{ ERRNO: Number.POSITIVE_INFINITY }, /ERRNO must be a finite number/],
      [{ STATUS: null }, /STATUS must be a string, number or boolean, got null/],
      [{ STATUS: { x: 1 } }, /STATUS must be a string, number or boolean, got object/],
    ];
    for (const [state, message] of bad) {
      expect(() => notify(state as Record<string, string>, { env: {} })).toThrow(message);
      expect(() => notify(state as Record<string, string>, { env: { NOTIFY_SOCKET: "@bsdsock-never-bound" } })).toThrow(message);
    }
    expect(() => notify(42 as unknown as string, { env: {} })).toThrow(TypeError);
    expect(() => notify(["READY=1"] as unknown as string, { env: {} })).toThrow(TypeError);
    expect(newFds(before)).toEqual([]);
  });

  test("malformed addresses are refused with an Error naming them; vsock ones explicitly; no fd is opened", () => {
    const before = fdsNow();
    const cases: [string, RegExp][] = [
      ["run/notify", /must be an absolute path \("\/run\/…"\) or an abstract name \("@name"\), got "run\/notify"/],
      ["./notify.sock", /must be an absolute path/],
      ["unix:/run/notify", /must be an absolute path/],
      ["vsock:2:1234", /NOTIFY_SOCKET="vsock:2:1234" is an AF_VSOCK address; only AF_UNIX notify sockets/],
      ["vsock-stream:2:1234", /AF_VSOCK/],
      ["vsock-dgram:1:99", /AF_VSOCK/],
      ["vsock-seqpacket:2:5", /AF_VSOCK/],
      ["/", /is 1 bytes; an address has 2 to 107/],
      ["@", /is 1 bytes/],
      [`/${"x".repeat(107)}`, /is 108 bytes; an address has 2 to 107/],
      [`@${"é".repeat(54)}`, /is 109 bytes/],
    ];
    for (const [address, message] of cases) {
      let error: unknown;
      try {
        notify("READY=1", { env: { NOTIFY_SOCKET: address } });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(SocketError);
      expect((error as Error).message).toMatch(message);
    }
    expect(newFds(before)).toEqual([]);
  });

  test.skipIf(!linux)("nobody there: SocketError ENOENT for a missing path, ECONNREFUSED for a stale socket file or an unbound name; no fd leaks", () => {
    const before = fdsNow();
    const missing = join(dir, "missing.sock");
    const stale = socketPath();
    const s = new Socket("unix", "dgram");
    s.bind({ family: "unix", path: stale });
    s.close(); // the file stays, nobody is bound to it
    const cases: [string, string][] = [[missing, "ENOENT"], [stale, "ECONNREFUSED"], [abstractName(), "ECONNREFUSED"]];
    for (const [address, code] of cases) {
      let error: unknown;
      try {
        notify({ READY: true }, { env: { NOTIFY_SOCKET: address } });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SocketError);
      const se = error as SocketError;
      expect({ code: se.code, syscall: se.syscall, address: se.address }).toEqual({ code, syscall: "sendmsg", address });
      expect(se.message).toContain(`(${address}; NOTIFY_SOCKET)`);
    }
    expect(newFds(before)).toEqual([]);
  });

  test("unsetEnvironment deletes NOTIFY_SOCKET whatever the outcome; from process.env, children no longer see it", async () => {
    const sent: Record<string, string | undefined> = { NOTIFY_SOCKET: "" };
    expect(notify("READY=1", { env: sent, unsetEnvironment: true })).toBe(false);
    expect("NOTIFY_SOCKET" in sent).toBe(false);
    const refused: Record<string, string | undefined> = { NOTIFY_SOCKET: "vsock:2:1" };
    expect(() => notify("READY=1", { env: refused, unsetEnvironment: true })).toThrow(/AF_VSOCK/);
    expect("NOTIFY_SOCKET" in refused).toBe(false);
    const badState: Record<string, string | undefined> = { NOTIFY_SOCKET: "/run/whatever" };
    expect(() => notify({ lower: 1 }, { env: badState, unsetEnvironment: true })).toThrow(TypeError);
    expect("NOTIFY_SOCKET" in badState).toBe(false);
    const kept: Record<string, string | undefined> = { NOTIFY_SOCKET: "" };
    notify("READY=1", { env: kept });
    expect(kept.NOTIFY_SOCKET).toBe("");

    if (!python || !linux) return;
    const address = abstractName();
    await using r = await Receiver.start(address);
    withProcessEnv({ NOTIFY_SOCKET: address }, () => {
      expect(notify("READY=1", { unsetEnvironment: true })).toBe(true);
      expect(process.env.NOTIFY_SOCKET).toBeUndefined();
      const child = Bun.spawnSync(["sh", "-c", 'echo "${NOTIFY_SOCKET-unset}"']);
      expect(child.stdout.toString()).toBe("unset\n");
      expect(notify("READY=1")).toBe(false); // gone for us too
    });
    expect(text((await r.next()).data)).toBe("READY=1");
  });
});

describe.skipIf(!python || !linux)("notify(): to a python3 receiver", () => {
  for (const kind of ["path", "abstract"] as const) {
    test(`${kind}: the exact bytes of an object and of a string, with this process's credentials`, async () => {
      const address = kind === "path" ? socketPath() : abstractName();
      await using r = await Receiver.start(address);
      const before = fdsNow();
      expect(notify({ READY: true, STATUS: "x" }, { env: { NOTIFY_SOCKET: address } })).toBe(true);
      expect(notify({ STOPPING: false, MAINPID: 4711, EXTEND_TIMEOUT_USEC: 1e21, X_RATIO: 0.5, X_EMPTY: "", X_NEG: -0 }, { env: { NOTIFY_SOCKET: address } })).toBe(true);
      // A string goes byte for byte: UTF-8, its own trailing newline, "=" anywhere, lower case.
      const raw = "STATUS=héllo ✓ = fine\nx-custom=1\n";
      expect(notify(raw, { env: { NOTIFY_SOCKET: address } })).toBe(true);
      expect(notify("", { env: { NOTIFY_SOCKET: address } })).toBe(true); // an empty datagram, as sd_notify(0, "") sends
      expect(newFds(before)).toEqual([]); // each call's socket is closed

      const got = [await r.next(), await r.next(), await r.next(), await r.next()];
      expect(got.map((d) => text(d.data))).toEqual([
        "READY=1\nSTATUS=x",
        "STOPPING=0\nMAINPID=4711\nEXTEND_TIMEOUT_USEC=1000000000000000000000\nX_RATIO=0.5\nX_EMPTY=\nX_NEG=0",
        raw,
        "",
      ]);
      expect(got[2]!.data).toEqual(new TextEncoder().encode(raw));
      for (const d of got) {
        expect(d.creds).toEqual([me]); // one SCM_CREDENTIALS: ours
        expect(d.fds).toEqual([]);
        expect(d.flags).toBe(0); // no MSG_TRUNC / MSG_CTRUNC
      }
    });
  }

  test("FDSTORE=1 with a socket: the receiver reads from it and answers through it; our fd stays ours", async () => {
    const address = abstractName();
    await using r = await Receiver.start(address, { fdMode: "echo" });
    using pair = Socket.pair("unix", "stream");
    const [mine, theirs] = pair;
    mine.timeout = 5000;
    mine.sendAll("hello through SCM_RIGHTS");
    expect(notify({ FDSTORE: 1, FDNAME: "conn-1" }, { env: { NOTIFY_SOCKET: address }, fds: [theirs.fd] })).toBe(true);
    const d = await r.next();
    expect(text(d.data)).toBe("FDSTORE=1\nFDNAME=conn-1");
    expect(d.creds).toEqual([me]);
    expect(d.fds).toEqual([{ kind: "socket", read: "hello through SCM_RIGHTS" }]);
    expect(text(mine.recv(64))).toBe("python got hello through SCM_RIGHTS");
    expect(theirs.closed).toBe(false);
    theirs.send("still open here"); // ours is still usable
    expect(text(mine.recv(64))).toBe("still open here");
  });

  test("several fds of different kinds arrive in one SCM_RIGHTS message; too many is a RangeError before sending", async () => {
    const address = socketPath();
    await using r = await Receiver.start(address);
    using pair = Socket.pair("unix", "dgram");
    const file = join(dir, "stored.txt");
    writeFileSync(file, "stored");
    const fd = openSync(file, "r");
    try {
      const before = fdsNow();
      expect(notify("FDSTORE=1\nFDNAME=two", { env: { NOTIFY_SOCKET: address }, fds: [pair[1].fd, fd] })).toBe(true);
      expect(() => notify("FDSTORE=1", { env: { NOTIFY_SOCKET: address }, fds: new Array(254).fill(fd) })).toThrow(RangeError);
      expect(newFds(before)).toEqual([]);
      expect(notify("X_AFTER=1", { env: { NOTIFY_SOCKET: address }, fds: [] })).toBe(true); // no fds: no SCM_RIGHTS
    } finally {
      closeSync(fd);
    }
    const d = await r.next();
    expect(text(d.data)).toBe("FDSTORE=1\nFDNAME=two");
    expect(d.fds).toEqual([{ kind: "socket" }, { kind: "file" }]);
    const after = await r.next(); // the refused one never went out
    expect(text(after.data)).toBe("X_AFTER=1");
    expect(after.fds).toEqual([]);
  });

  test("NOTIFY_SOCKET from process.env by default", async () => {
    const address = socketPath();
    await using r = await Receiver.start(address);
    withProcessEnv({ NOTIFY_SOCKET: address }, () => {
      expect(notify({ RELOADING: 1, MONOTONIC_USEC: 123 })).toBe(true);
    });
    expect(text((await r.next()).data)).toBe("RELOADING=1\nMONOTONIC_USEC=123");
  });
});

describe("watchdogInterval()", () => {
  const pid = String(process.pid);
  test("milliseconds when enabled for this process (or for anyone), null when unset or for another pid", () => {
    expect(watchdogInterval({ env: {} })).toBeNull();
    expect(watchdogInterval({ env: { WATCHDOG_PID: pid } })).toBeNull(); // no interval: not enabled
    expect(watchdogInterval({ env: { WATCHDOG_USEC: "30000000" } })).toBe(30_000);
    expect(watchdogInterval({ env: { WATCHDOG_USEC: "30000000", WATCHDOG_PID: pid } })).toBe(30_000);
    expect(watchdogInterval({ env: { WATCHDOG_USEC: "1500", WATCHDOG_PID: pid } })).toBe(1.5);
    expect(watchdogInterval({ env: { WATCHDOG_USEC: "1" } })).toBe(0.001);
    expect(watchdogInterval({ env: { WATCHDOG_USEC: "18446744073709551614" } })).toBe(Number(18446744073709551614n) / 1000); // the largest
    expect(watchdogInterval({ env: { WATCHDOG_USEC: "30000000", WATCHDOG_PID: "1" } })).toBeNull();
    expect(watchdogInterval({ env: { WATCHDOG_USEC: "30000000", WATCHDOG_PID: String(process.pid + 1) } })).toBeNull();
    withProcessEnv({ WATCHDOG_USEC: "2000000", WATCHDOG_PID: pid }, () => {
      expect(watchdogInterval()).toBe(2000);
    });
    withProcessEnv({ WATCHDOG_USEC: undefined, WATCHDOG_PID: undefined }, () => {
      expect(watchdogInterval()).toBeNull();
    });
  });

  test("garbage is an Error, as sd_watchdog_enabled returns one: WATCHDOG_USEC checked first, then WATCHDOG_PID", () => {
    for (const usec of ["", "abc", "-1", "+5", " 5", "1.5", "5s", "0", "18446744073709551615", "18446744073709551616", "99999999999999999999999"]) {
      expect(() => watchdogInterval({ env: { WATCHDOG_USEC: usec } })).toThrow(`WATCHDOG_USEC is not a number of microseconds in [1, 2^64 - 2]: ${JSON.stringify(usec)}`);
      // Malformed even when meant for another process.
      expect(() => watchdogInterval({ env: { WATCHDOG_USEC: usec, WATCHDOG_PID: "1" } })).toThrow(/WATCHDOG_USEC/);
    }
    for (const p of ["", "x", "0", "-5", "12a", "2147483648"]) {
      expect(() => watchdogInterval({ env: { WATCHDOG_USEC: "1000000", WATCHDOG_PID: p } })).toThrow(`WATCHDOG_PID is not a pid: ${JSON.stringify(p)}`);
    }
  });

  test("unsetEnvironment deletes both whatever the outcome", () => {
    const ok: Record<string, string | undefined> = { WATCHDOG_USEC: "1000000", WATCHDOG_PID: pid, OTHER: "x" };
    expect(watchdogInterval({ env: ok, unsetEnvironment: true })).toBe(1000);
    expect(ok).toEqual({ OTHER: "x" });
    const bad: Record<string, string | undefined> = { WATCHDOG_USEC: "junk", WATCHDOG_PID: pid };
    expect(() => watchdogInterval({ env: bad, unsetEnvironment: true })).toThrow(/WATCHDOG_USEC/);
    expect(bad).toEqual({});
    const other: Record<string, string | undefined> = { WATCHDOG_USEC: "1000000", WATCHDOG_PID: "1" };
    expect(watchdogInterval({ env: other, unsetEnvironment: true })).toBeNull();
    expect(other).toEqual({});
  });
});

describe("startWatchdog()", () => {
  test("null when the watchdog is not enabled here or there is no NOTIFY_SOCKET; a bad address is an Error", () => {
    const pid = String(process.pid);
    expect(startWatchdog({ env: {} })).toBeNull();
    expect(startWatchdog({ env: { NOTIFY_SOCKET: "@x", WATCHDOG_USEC: "20000", WATCHDOG_PID: "1" } })).toBeNull();
    expect(startWatchdog({ env: { WATCHDOG_USEC: "20000", WATCHDOG_PID: pid } })).toBeNull();
    expect(startWatchdog({ env: { NOTIFY_SOCKET: "", WATCHDOG_USEC: "20000" } })).toBeNull();
    expect(() => startWatchdog({ env: { NOTIFY_SOCKET: "vsock:2:1", WATCHDOG_USEC: "20000" } })).toThrow(/AF_VSOCK/);
    expect(() => startWatchdog({ env: { NOTIFY_SOCKET: "@x", WATCHDOG_USEC: "soon" } })).toThrow(/WATCHDOG_USEC/);
    // Periods: half the interval, at least 1 ms, at most the longest timer delay.
    for (const [usec, period] of [["20000", 10], ["1", 1], ["3000", 1], ["18446744073709551614", 2 ** 31 - 1]] as const) {
      using w = startWatchdog({ env: { NOTIFY_SOCKET: "@bsdsock-never-bound", WATCHDOG_USEC: usec }, onError: () => {} })!;
      expect(w.periodMs).toBe(period);
    }
  });

  test.skipIf(!python || !linux)("sends WATCHDOG=1 every half interval until stopped; ping() sends one now; using stops it", async () => {
    const address = socketPath();
    await using r = await Receiver.start(address);
    const env: Record<string, string | undefined> = { NOTIFY_SOCKET: address, WATCHDOG_USEC: "40000", WATCHDOG_PID: String(process.pid) };
    const errors: unknown[] = [];
    const started = performance.now();
    const w = startWatchdog({ env, onError: (e) => errors.push(e) })!;
    try {
      expect({ intervalMs: w.intervalMs, periodMs: w.periodMs, stopped: w.stopped }).toEqual({ intervalMs: 40, periodMs: 20, stopped: false });
      delete env.NOTIFY_SOCKET; // read at start: later changes do not matter
      const pings = [await r.next(5000), await r.next(5000), await r.next(5000), await r.next(5000)];
      for (const p of pings) {
        expect(text(p.data)).toBe("WATCHDOG=1");
        expect(p.creds).toEqual([me]);
      }
      // Paced by the timer, not sent in a burst: the 4th ping comes 4 periods (80 ms) after the
      // start at the earliest (timers run late, never early; 10 ms of slack for rounding).
      expect(performance.now() - started).toBeGreaterThanOrEqual(70);
      expect(pings[3]!.t - pings[0]!.t).toBeGreaterThan(0.03); // and the receiver saw them spread out
    } finally {
      w.stop();
    }
    expect(w.stopped).toBe(true);
    w.stop(); // idempotent
    // Datagrams arrive in order: after the marker, nothing but what is sent explicitly.
    notify("X_MARKER=1", { env: { NOTIFY_SOCKET: address } });
    await Bun.sleep(150); // 7 periods
    w.ping();
    notify("X_END=1", { env: { NOTIFY_SOCKET: address } });
    const rest = await r.until("X_END=1");
    const afterMarker = rest.slice(rest.findIndex((d) => text(d.data) === "X_MARKER=1") + 1).map((d) => text(d.data));
    expect(afterMarker).toEqual(["WATCHDOG=1", "X_END=1"]); // only the explicit ping
    expect(errors).toEqual([]);

    let escaped: Watchdog | null = null;
    {
      using scoped = startWatchdog({ env: { NOTIFY_SOCKET: address, WATCHDOG_USEC: "20000" } })!;
      expect(text((await r.next(5000)).data)).toBe("WATCHDOG=1");
      expect(scoped.stopped).toBe(false);
      escaped = scoped;
    }
    expect(escaped.stopped).toBe(true);
  });

  test("a failed ping goes to onError and the timer keeps trying", async () => {
    const errors: unknown[] = [];
    const w = startWatchdog({ env: { NOTIFY_SOCKET: join(dir, "nobody.sock"), WATCHDOG_USEC: "10000" }, onError: (e) => errors.push(e) })!;
    try {
      const deadline = Date.now() + 5000;
      while (errors.length < 2 && Date.now() < deadline) await Bun.sleep(5);
    } finally {
      w.stop();
    }
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(errors[0]).toBeInstanceOf(SocketError);
    expect((errors[0] as SocketError).code).toBe("ENOENT");
    expect(() => w.ping()).toThrow(SocketError); // ping() itself throws
  });

  test.skipIf(!python || !linux || noSpawnBun)("in a child: pings with the child's credentials, and the unref'd timer does not keep it alive", async () => {
    const address = abstractName();
    await using r = await Receiver.start(address);
    const code = `
      import { startWatchdog } from ${notifyModule};
      const w = startWatchdog();
      console.log(JSON.stringify({ pid: process.pid, periodMs: w?.periodMs }));
      setTimeout(() => {}, 200); // alive for 200 ms, then it ends with the watchdog still started
    `;
    // No WATCHDOG_PID: the interval applies to whoever reads it.
    const child = Bun.spawn([bun, "-e", code], {
      cwd: root,
      env: { ...process.env, NOTIFY_SOCKET: address, WATCHDOG_USEC: "20000", WATCHDOG_PID: undefined },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
    expect({ code: await child.exited, signal: child.signalCode, err }).toEqual({ code: 0, signal: null, err: "" });
    clearTimeout(killer);
    expect(JSON.parse(out)).toEqual({ pid: child.pid, periodMs: 10 });
    const first = await r.next(5000);
    expect(text(first.data)).toBe("WATCHDOG=1");
    expect(first.creds).toEqual([{ ...me, pid: child.pid }]);
  });

  test.skipIf(noSpawnBun)("without onError a failed ping is a process warning, not a crash", async () => {
    const code = `
      import { startWatchdog } from ${notifyModule};
      startWatchdog();
      setTimeout(() => console.log("still alive"), 100);
    `;
    const o = await run([bun, "-e", code], { NOTIFY_SOCKET: join(dir, "nobody-here.sock"), WATCHDOG_USEC: "40000" }, 15_000);
    expect(o.code).toBe(0);
    expect(o.stdout).toBe("still alive\n");
    expect(o.stderr).toContain("sendmsg: No such file or directory");
  });
});

describe.skipIf(!systemdNotify || !python || !linux)("systemd-notify(1) as the reference sender", () => {
  /** Runs systemd-notify with NOTIFY_SOCKET=address; its exit code and the pid it ran as. */
  async function systemdNotifyRun(address: string, args: string[]): Promise<{ code: number; pid: number; stderr: string }> {
    const p = Bun.spawn([systemdNotify!, ...args], { env: { ...process.env, NOTIFY_SOCKET: address }, stdio: ["ignore", "ignore", "pipe"] });
    const killer = setTimeout(() => p.kill("SIGKILL"), 15_000);
    const stderr = await new Response(p.stderr).text();
    const code = await p.exited;
    clearTimeout(killer);
    return { code, pid: p.pid, stderr };
  }

  test("the same bytes as systemd-notify --no-block for the same assignments, in the same order", async () => {
    for (const address of [socketPath(), abstractName()]) {
      await using r = await Receiver.start(address);
      const ref1 = await systemdNotifyRun(address, ["--no-block", "--ready", "--status=x"]);
      expect(ref1).toEqual({ code: 0, pid: ref1.pid, stderr: "" });
      const theirs1 = await r.next();
      notify({ READY: 1, STATUS: "x" }, { env: { NOTIFY_SOCKET: address } });
      const ours1 = await r.next();
      expect(ours1.data).toEqual(theirs1.data);
      expect(text(ours1.data)).toBe("READY=1\nSTATUS=x");

      const ref2 = await systemdNotifyRun(address, ["--no-block", "--ready", "--status=a b = c", "X_B=2", "X_A=1"]);
      expect(ref2.code).toBe(0);
      const theirs2 = await r.next();
      notify({ READY: true, STATUS: "a b = c", X_B: 2, X_A: "1" }, { env: { NOTIFY_SOCKET: address } });
      const ours2 = await r.next();
      expect(text(ours2.data)).toBe(text(theirs2.data));
      expect(ours2.data).toEqual(theirs2.data);

      // Both carry one SCM_CREDENTIALS. systemd-notify speaks for its parent (us) where it may
      // (CAP_SYS_ADMIN), else the kernel keeps its own pid.
      for (const [d, ref] of [[theirs1, ref1], [theirs2, ref2]] as const) {
        expect(d.creds.length).toBe(1);
        expect([process.pid, ref.pid]).toContain(d.creds[0]!.pid);
        expect(d.fds).toEqual([]);
      }
      expect(ours1.creds).toEqual([me]);
    }
  });

  test("its barrier (no --no-block): BARRIER=1 with one fd; notify sends the same shape, and closing the copy signals us", async () => {
    const address = abstractName();
    await using r = await Receiver.start(address); // closes received fds: the barrier completes
    const ref = await systemdNotifyRun(address, ["--ready"]);
    expect(ref.code).toBe(0);
    const ready = await r.next();
    const barrier = await r.next();
    expect(text(ready.data)).toBe("READY=1");
    expect(text(barrier.data)).toBe("BARRIER=1");
    expect(barrier.fds).toEqual([{ kind: "fifo" }]); // the write end of its pipe

    // The same with notify(): a socket stands in for the pipe; EOF on our end once the
    // receiver closed its copy is the barrier's "processed".
    using pair = Socket.pair("unix", "stream");
    const [mine, theirs] = pair;
    mine.timeout = 5000;
    notify({ BARRIER: 1 }, { env: { NOTIFY_SOCKET: address }, fds: [theirs.fd] });
    theirs.close();
    const ours = await r.next();
    expect(ours.data).toEqual(barrier.data);
    expect(ours.fds).toEqual([{ kind: "socket" }]);
    expect(mine.recv(1).length).toBe(0); // end of stream: the last copy is closed
  });
});
