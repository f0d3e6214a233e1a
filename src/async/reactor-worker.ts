/**
 * The readiness thread of src/async/reactor.ts: blocks in the kernel's wait (epoll_wait / kevent) on
 * the reactor's Poller, so the main thread never has to, and hands each batch of events over
 * through shared memory:
 *
 *   state 0 → this thread waits in the kernel; when events come it writes `[fd, bits]` pairs,
 *   stores their count in state and notifies; the main thread (Atomics.waitAsync) dispatches
 *   them and stores 0 again, which lets this thread wait in the kernel once more.
 *
 * It exits when the reactor sets the stop word and wakes it through its wake socket. Any
 * failure is reported as state -1 (the main thread then fails every waiter, never hangs).
 */
import { Poller, type PollerHandle } from "../poller/poller.ts";

/** What the reactor posts to start this thread. */
export interface ReactorWorkerStart {
  readonly handle: PollerHandle;
  /** [0] state (0 | n pairs | -1 failed), [1] stop word; then 2 × maxEvents Int32 pairs. */
  readonly shared: SharedArrayBuffer;
}

declare const self: Worker;

self.onmessage = (event: MessageEvent<ReactorWorkerStart>): void => {
  const { handle, shared } = event.data;
  const control = new Int32Array(shared, 0, 2);
  const pairs = new Int32Array(shared, 8, 2 * handle.maxEvents);
  let poller: Poller | null = null;
  try {
    poller = Poller.attach(handle);
    self.postMessage({ ready: true }); // modules loaded, attached: this thread needs no more fds
    for (;;) {
      const n = poller.waitInto(-1, pairs);
      if (Atomics.load(control, 1) !== 0) break;
      if (n === 0) continue; // EINTR
      Atomics.store(control, 0, n);
      Atomics.notify(control, 0);
      // Until the main thread has consumed the batch (it stores 0), or asks us to stop.
      while (Atomics.load(control, 0) === n && Atomics.load(control, 1) === 0) Atomics.wait(control, 0, n);
      if (Atomics.load(control, 1) !== 0) break;
    }
  } catch (e) {
    Atomics.store(control, 0, -1);
    Atomics.notify(control, 0);
    self.postMessage({ error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
  } finally {
    poller?.close(); // attached: releases nothing but the view
  }
  self.postMessage({ stopped: true });
};
