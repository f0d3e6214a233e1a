/**
 * Which platform table applies to the running process. Selected by OS, CPU architecture and
 * (on Linux) the C library actually loaded; an unknown combination is refused, never guessed.
 */
import { readFileSync } from "node:fs";
import type { PlatformTable } from "./table.ts";
/**
 * The platforms bsdsock ships a table for, each ffi/tables/<key>.ts. linux-x64-glibc is verified
 * by test/probe.test.ts on this machine; linux-arm64-glibc (cross compiler, probe and tests run
 * under qemu-aarch64) and linux-x64-musl (musl-gcc) by `npm run test:cross`
 * (scripts/cross/run.sh); the darwin tables are cross-compiled from Apple's headers
 * (ffi/gen/darwin.ts) and have not been run on a Mac.
 */
export const supportedPlatforms = ["linux-x64-glibc", "linux-arm64-glibc", "linux-x64-musl", "darwin-arm64", "darwin-x64"] as const;

/**
 * The table of platform `key`, or undefined when none ships. Only the one asked for is loaded:
 * each is some 30 KB of source, and every process (and reactor Worker) starts by loading one.
 */
export function loadTable(key: string): PlatformTable | undefined {
  if (!(supportedPlatforms as readonly string[]).includes(key)) return undefined;
  const t = (require(`./tables/${key}.ts`) as { default: PlatformTable }).default;
  if (t.platform !== key) throw new Error(`bsdsock: ffi/tables/${key}.ts is the table of ${t.platform}`);
  return t;
}

/** "glibc" or "musl", read from the libraries mapped into this process. */
function linuxLibc(): "glibc" | "musl" | "unknown" {
  let maps = "";
  try {
    maps = readFileSync("/proc/self/maps", "utf8");
  } catch (e) {
    // Never a guess: e.g. a thread started while the process is out of fds (EMFILE) says so.
    throw new Error(`bsdsock: cannot tell which C library is loaded: reading /proc/self/maps failed (${e instanceof Error ? e.message : String(e)})`);
  }
  // musl's libc is its own dynamic loader, /lib/ld-musl-<arch>.so.1 (Alpine). Where that is a
  // symlink the kernel lists its target: /usr/lib/x86_64-linux-musl/libc.so (Debian's musl),
  // /usr/lib/libc.so (Void). glibc's unversioned libc.so is a linker script, never mapped.
  if (/\/ld-musl-[^/\s]*\.so/.test(maps) || /\/libc\.musl-/.test(maps) || /\/libc\.so$/m.test(maps)) return "musl";
  if (/\/libc\.so\.6\b/.test(maps) || /\/libc-2\.\d+\.so/.test(maps)) return "glibc";
  return "unknown";
}

/** The platform key of the running process, e.g. "linux-x64-glibc" or "darwin-arm64". */
export function hostPlatformKey(): string {
  const os = process.platform;
  const arch = process.arch;
  return os === "linux" ? `${os}-${arch}-${linuxLibc()}` : `${os}-${arch}`;
}

/** The platform key this process runs on. */
export const platformKey: string = hostPlatformKey();

const selected = loadTable(platformKey);
if (!selected) {
  throw new Error(
    `bsdsock: no platform table for ${platformKey} (supported: ${supportedPlatforms.join(", ")}). ` +
      "Constants and struct layouts differ between platforms and are never guessed; " +
      "generate one with `bun run ffi/gen/generate.ts` on that platform.",
  );
}

/** The constants, errno numbers, sizes and struct layouts of the running platform. */
export const table: PlatformTable = selected;
