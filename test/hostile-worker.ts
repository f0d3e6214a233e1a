/**
 * Worker for test/hostile.test.ts: given fd numbers owned by the main thread, it adopts a
 * dup() of each (Socket.fromFd(fd, { duplicate: true })), uses it, and closes it, `rounds`
 * times, while the main thread creates and closes sockets. It must never close the originals.
 */
import { Socket } from "../src/socket/socket.ts";

declare const self: Worker;

self.onmessage = (e: MessageEvent) => {
  const { fds, rounds } = e.data as { fds: number[]; rounds: number };
  const errors: string[] = [];
  let closes = 0;
  const deadline = Date.now() + 15_000;
  for (let i = 0; i < rounds && Date.now() < deadline; i++) {
    const fd = fds[i % fds.length]!;
    try {
      const s = Socket.fromFd(fd, { duplicate: true });
      if (s.fd === fd) errors.push(`duplicate returned the original fd ${fd}`);
      s.getOption("type");
      s.close();
      s.close(); // idempotent: must not close whatever reuses the number
      closes += 2;
    } catch (err) {
      errors.push(String(err));
    }
  }
  postMessage({ closes, errors });
};
