/**
 * A parent and a child process talking over a socketpair.
 *
 *   bun run examples/socketpair.ts [--type stream|dgram|seqpacket] [--count N]
 *
 * The parent makes a connected unix socket pair, spawns this same script in the child role
 * and hands it one end as the child's fd 3 (`Bun.spawn(cmd, { stdio: [in, out, err, fd] })`
 * dup2()s the fd into the child, even though bsdsock opens it close-on-exec), then closes its
 * copy of that end. The child adopts fd 3 with `Socket.fromFd(3)` (family and type read back
 * from the kernel), and the two run a small request/response protocol: the parent sends
 * "square N" for N = 1..count, the child answers "N^2 = M", and "bye" ends it. Each message is
 * one send: with dgram and seqpacket the boundaries are kept by the kernel; with stream the
 * messages are newline-framed.
 *
 * A separate process (rather than a Worker) shows the classic use: socketpair() + fork/exec,
 * e.g. a privilege-separated helper. Exit status: 0 when every answer was right.
 */
import { parseArgs } from "node:util";
import { Socket } from "../src/socket/socket.ts";

const { values } = parseArgs({
  options: { type: { type: "string" }, count: { type: "string" }, child: { type: "boolean" } },
});
const kind = (values.type ?? "stream") as "stream" | "dgram" | "seqpacket";
if (!["stream", "dgram", "seqpacket"].includes(kind)) {
  process.stderr.write("usage: socketpair.ts [--type stream|dgram|seqpacket] [--count N]\n");
  process.exit(2);
}
const count = Number(values.count ?? 3);
if (!Number.isInteger(count) || count < 1 || count > 10_000) {
  process.stderr.write("--count must be an integer in [1, 10000]\n");
  process.exit(2);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Message I/O: one send per message; stream messages end with "\n". */
class Channel {
  #pending = "";
  constructor(readonly sock: Socket) {}
  send(text: string): void {
    this.sock.sendAll(encoder.encode(kind === "stream" ? `${text}\n` : text));
  }
  /** The next message, or null at end of stream / empty record. */
  receive(): string | null {
    if (kind !== "stream") {
      const m = this.sock.recv(4096);
      return m.length === 0 ? null : decoder.decode(m);
    }
    for (;;) {
      const nl = this.#pending.indexOf("\n");
      if (nl >= 0) {
        const line = this.#pending.slice(0, nl);
        this.#pending = this.#pending.slice(nl + 1);
        return line;
      }
      const m = this.sock.recv(4096);
      if (m.length === 0) return null;
      this.#pending += decoder.decode(m, { stream: true });
    }
  }
}

if (values.child) {
  // Child: fd 3 is our end. Answer until "bye" or end of stream.
  const sock = Socket.fromFd(3);
  const ch = new Channel(sock);
  ch.send(`hello from child pid ${process.pid} on ${sock}`);
  for (let i = 0; i < count + 1; i++) {
    const m = ch.receive();
    if (m === null || m === "bye") break;
    const n = Number(m.replace(/^square /, ""));
    ch.send(`${n}^2 = ${n * n}`);
  }
  sock.close();
} else {
  const [mine, theirs] = Socket.pair("unix", kind);
  const child = Bun.spawn(
    [process.execPath, import.meta.path, "--child", "--type", kind, "--count", String(count)],
    { stdio: ["ignore", "inherit", "inherit", theirs.fd] },
  );
  theirs.close(); // the child holds its own copy now
  const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  let ok = 0;
  try {
    mine.timeout = 5000; // never wait forever on a child that died
    const ch = new Channel(mine);
    console.log(`parent pid ${process.pid} on ${mine}; child says: ${ch.receive()}`);
    for (let n = 1; n <= count; n++) {
      ch.send(`square ${n}`);
      const answer = ch.receive();
      const right = answer === `${n}^2 = ${n * n}`;
      if (right) ok++;
      console.log(`parent: square ${n} -> ${answer}${right ? "" : "  (WRONG)"}`);
    }
    ch.send("bye");
  } finally {
    mine.close();
  }
  const code = await child.exited;
  clearTimeout(killer);
  console.log(`${ok}/${count} answers right over a unix ${kind} socketpair; child exited ${code}`);
  process.exitCode = ok === count && code === 0 ? 0 : 1;
}
