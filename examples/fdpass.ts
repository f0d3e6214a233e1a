/**
 * Passing an open file descriptor over a unix stream socket (SCM_RIGHTS).
 *
 *   bun run examples/fdpass.ts recv PATH        listen on PATH, accept one connection, receive
 *                                               one fd, print everything read from it
 *   bun run examples/fdpass.ts send PATH FILE   connect to PATH and send an open fd of FILE
 *                                               (with a 1-byte payload, as stream sockets need)
 *
 * The receiver never sees FILE's name: it reads through the fd the kernel installed for it.
 * Works against any SCM_RIGHTS peer, e.g. Python's socket.send_fds / socket.recv_fds.
 * Exit status: 0 done, 1 a system call failed (perror-style message), 2 bad arguments.
 */
import { closeSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { SocketError, strerror } from "../src/core/errors.ts";
import { Socket } from "../src/socket/socket.ts";

const usage = "usage: bun run examples/fdpass.ts recv PATH\n       bun run examples/fdpass.ts send PATH FILE\n";

/** Receives one fd on PATH and copies what it reads from it to stdout. */
function recv(path: string): void {
  const server = Socket.listen({ family: "unix", path });
  try {
    const [conn] = server.accept();
    using _conn = conn;
    const msg = conn.recvMsg({ size: 64, maxFds: 1 });
    const [fd, ...extra] = msg.fds;
    for (const x of extra) closeSync(x);
    if (fd === undefined) {
      throw new Error(msg.controlTruncated ? "recvmsg: control data truncated, no fd received" : "recvmsg: no fd received");
    }
    try {
      const buf = new Uint8Array(65536);
      for (;;) {
        const n = readSync(fd, buf);
        if (n === 0) break;
        for (let off = 0; off < n; ) off += writeSync(1, buf, off, n - off);
      }
    } finally {
      closeSync(fd);
    }
  } finally {
    server.close();
    rmSync(path, { force: true });
  }
}

/** Opens FILE and sends its fd to the listener on PATH. */
function send(path: string, file: string): void {
  const fd = openSync(file, "r");
  try {
    using sock = Socket.connect({ family: "unix", path });
    sock.sendMsg({ data: "F", fds: [fd] });
  } finally {
    closeSync(fd);
  }
}

/** perror-style text: "fdpass: connect: No such file or directory (/tmp/x.sock)". */
function describe(e: unknown, file?: string): string {
  if (e instanceof SocketError) return e.message;
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.errno === "number" && err.syscall) {
    // node:fs errors carry -errno; print libc's own message, as perror would.
    const where = err.path ?? file;
    return `${err.syscall}: ${strerror(Math.abs(err.errno))}${where ? ` (${where})` : ""}`;
  }
  return err instanceof Error ? err.message : String(e);
}

const [mode, path, file, ...rest] = process.argv.slice(2);
const valid = rest.length === 0 && path !== undefined && path !== "" &&
  ((mode === "recv" && file === undefined) || (mode === "send" && file !== undefined && file !== ""));
if (!valid) {
  process.stderr.write(usage);
  process.exit(2);
}
try {
  if (mode === "recv") recv(path!);
  else send(path!, file!);
} catch (e) {
  process.stderr.write(`fdpass: ${describe(e, file)}\n`);
  process.exit(1);
}
