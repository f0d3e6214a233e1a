/**
 * What a fuzz target may use: a scratch directory (removed by `close`), and a registry of
 * things to release at the end. Targets that make syscalls create their sockets per case and
 * close them before the case ends; the context only holds long-lived fixtures (pipes to pass).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { IProperty } from "fast-check";

export interface FuzzContext {
  /** A fresh directory for unix socket paths (short: /tmp/bsdsock-fuzz-XXXXXX). */
  readonly tmp: string;
  /** Registers a cleanup step, run in reverse order by close(). */
  defer(fn: () => void): void;
  close(): void;
}

export function makeContext(): FuzzContext {
  const tmp = mkdtempSync(join(tmpdir(), "bsdsock-fuzz-"));
  const steps: (() => void)[] = [() => rmSync(tmp, { recursive: true, force: true })];
  return {
    tmp,
    defer: (fn) => void steps.push(fn),
    close() {
      for (const fn of steps.splice(0).reverse()) {
        try { fn(); } catch { /* best effort: report the first failure, not cleanup noise */ }
      }
    },
  };
}

/** One fuzz target: a fast-check property over generated inputs. */
export interface Target {
  /** "area.what.invariant", e.g. "sockaddr.inet.kernel-roundtrip". */
  readonly name: string;
  /** One line: the invariant checked. */
  readonly doc: string;
  /** Makes syscalls (sockets, files): slower per run. */
  readonly kernel: boolean;
  // biome-ignore lint: the property's tuple type differs per target
  make(ctx: FuzzContext): IProperty<any>;
}
