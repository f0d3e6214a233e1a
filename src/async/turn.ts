/**
 * FIFO turn-taking: the one queue every async operation of bsdsock waits in (AsyncSocket's two
 * directions, TunDevice's, Rtnetlink's requests). A queued operation keeps its own deadline and
 * AbortSignal (a Guard) and leaves the queue at once when either ends it, releasing everything
 * it holds; the turn passes only when its holder releases it.
 */
import { Guard } from "./cancel.ts";

/** A queued operation's place in a Turn (a doubly linked list: a cancelled one leaves at once). */
class Place {
  prev: Place | null = null;
  next: Place | null = null;
  constructor(readonly grant: () => void, readonly guard: Guard) {}
}

/** FIFO turn-taking for one direction of one socket or device, or one netlink socket's requests. */
export class Turn {
  #busy = false;
  #head: Place | null = null;
  #tail: Place | null = null;

  /** Whether an operation holds the turn (others would queue). */
  get busy(): boolean {
    return this.#busy;
  }

  /**
   * Undefined when the turn is ours now; else a promise resolved when it is. While queued the
   * operation's own limits still hold: the promise rejects with `signal.reason` on abort and
   * with SocketTimeoutError at `deadline`, and the place in the queue (with everything it
   * holds) is given up at once.
   */
  acquire(syscall: string, signal: AbortSignal | null, deadline: number, timeoutMs: number): Promise<void> | undefined {
    if (!this.#busy) {
      this.#busy = true;
      return undefined;
    }
    return new Promise<void>((resolve, reject) => {
      const guard = new Guard(syscall, signal, deadline, timeoutMs);
      const place = new Place(resolve, guard);
      this.#append(place);
      guard.arm((reason) => {
        this.#remove(place);
        reject(reason);
      });
    });
  }

  /** Hands the turn to the next queued operation, or frees it. */
  release(): void {
    const next = this.#head;
    if (next === null) {
      this.#busy = false;
      return;
    }
    this.#remove(next);
    next.guard.disarm();
    next.grant();
  }

  #append(place: Place): void {
    place.prev = this.#tail;
    if (this.#tail === null) this.#head = place;
    else this.#tail.next = place;
    this.#tail = place;
  }

  #remove(place: Place): void {
    if (place.prev === null) this.#head = place.next;
    else place.prev.next = place.next;
    if (place.next === null) this.#tail = place.prev;
    else place.next.prev = place.prev;
    place.prev = place.next = null;
  }
}
