/**
 * Small assertion helpers for the fuzz targets: they throw a plain Error with a message that
 * fast-check prints next to the (shrunk) counterexample. No test-runner dependency, so the same
 * targets run under `npm run fuzz` (plain bun) and inside `bun test`.
 */

/** Throws unless `cond`. */
export function ok(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

/** Deep equality (Uint8Array contents compared, key order ignored, undefined keys ignored). */
export function eq(actual: unknown, expected: unknown, msg: string): void {
  if (!Bun.deepEquals(actual, expected)) {
    throw new Error(`${msg}\n  actual:   ${show(actual)}\n  expected: ${show(expected)}`);
  }
}

/** Byte-equal views. */
export function bytesEq(a: Uint8Array, b: Uint8Array, msg: string): void {
  if (a.length !== b.length || a.some((x, i) => x !== b[i])) {
    throw new Error(`${msg}\n  actual:   [${Array.from(a).join(",")}]\n  expected: [${Array.from(b).join(",")}]`);
  }
}

export function show(v: unknown): string {
  return Bun.inspect(v, { depth: 4 }).replace(/\s+/g, " ").slice(0, 600);
}

/** What a call did: its value, or the constructor name of what it threw. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown; kind: string };

export function outcome<T>(fn: () => T): Outcome<T> {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    const kind = error instanceof Error ? error.constructor.name : `non-Error ${typeof error}`;
    return { ok: false, error, kind };
  }
}

/** The call throws an instance of `cls` (exactly that class, not a subclass). */
export function throwsExactly(fn: () => unknown, cls: ErrorConstructor, msg: string): void {
  const o = outcome(fn);
  if (o.ok) throw new Error(`${msg}: expected ${cls.name}, returned ${show(o.value)}`);
  if (!(o.error instanceof cls) || (o.error as Error).constructor !== cls) {
    throw new Error(`${msg}: expected ${cls.name}, threw ${o.kind}: ${String(o.error)}`);
  }
}

/** Two outcomes are the same: equal values, or errors of the same class. */
export function sameOutcome<T>(a: Outcome<T>, b: Outcome<T>, msg: string): void {
  if (a.ok !== b.ok) throw new Error(`${msg}: one call ${a.ok ? "returned" : "threw"}, the other ${b.ok ? "returned" : "threw"} (${show(a.ok ? a.value : a.error)} vs ${show(b.ok ? b.value : b.error)})`);
  if (a.ok && b.ok) eq(a.value, b.value, msg);
  else if (!a.ok && !b.ok && a.kind !== b.kind) throw new Error(`${msg}: threw ${a.kind} vs ${b.kind}`);
}

/** Only TypeError / RangeError (checked input) may escape; anything else is a bug. */
export function onlyCheckErrors(o: Outcome<unknown>, msg: string): void {
  if (!o.ok && o.kind !== "TypeError" && o.kind !== "RangeError") {
    throw new Error(`${msg}: threw ${o.kind}: ${String(o.error)}`);
  }
}
