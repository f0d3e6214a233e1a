/**
 * Worker for test/gc.test.ts: adopts the fd it is given and echoes everything back until EOF,
 * allocating a fresh buffer per read and collecting garbage as it goes; then reports the count.
 */
import { Socket } from "../src/socket/socket.ts";

declare const self: Worker;

self.onmessage = (e: MessageEvent) => {
  const sock = Socket.fromFd((e.data as { fd: number }).fd);
  sock.timeout = 15_000; // never outlive a failed test by much
  postMessage("ready");
  let echoed = 0;
  try {
    for (let i = 0; ; i++) {
      const buf = new Uint8Array(1 + (i % 5000));
      const n = sock.recvInto(buf);
      if (n === 0) break;
      sock.sendAll(buf.subarray(0, n));
      echoed += n;
      if (i % 50 === 0) Bun.gc(true);
    }
  } finally {
    sock.close();
  }
  postMessage({ echoed });
};
