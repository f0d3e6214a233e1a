/**
 * Generates ffi/tables/darwin-arm64.ts and ffi/tables/darwin-x64.ts without a Mac: it
 * cross-compiles (never runs) a variant of the probe against Apple's open-source headers.
 *
 * How: a minimal macOS SDK include tree is assembled in a temp dir from the Apple repos below,
 * laid out as the SDK installs them (usr/include/...). The probe is rendered from names.ts with
 * every fact as an element of one constant array (`#ifdef` → present flag + value, `sizeof`,
 * `_Alignof`, `offsetof`), compiled with `clang -target <arch>-apple-macos -S`, and the array's
 * `.quad` values are read back from the assembly (the cgo -godefs technique). Errno names are
 * found with `-dM -E` on <errno.h> for the darwin target, exactly as generate.ts does on a host.
 * The result is a ProbeResult, written with generate.ts's renderTable().
 *
 * Reproduce (tags used for the committed tables; any checkout works, its tag lands in `source`):
 *
 *   Check out each public repository apple-oss-distributions/<repo> at <tag> into /tmp/apple/<tag>:
 *     xnu @ xnu-11417.101.15, Libc @ Libc-1725.0.11, Libinfo @ Libinfo-600,
 *     libpthread @ libpthread-539, libmalloc @ libmalloc-792.1.1,
 *     AvailabilityVersions @ AvailabilityVersions-155
 *   cd /work/main && bun run ffi/gen/darwin.ts \
 *     --xnu /tmp/apple/xnu-11417.101.15 --libc /tmp/apple/Libc-1725.0.11 \
 *     --libinfo /tmp/apple/Libinfo-600 --libpthread /tmp/apple/libpthread-539 \
 *     --libmalloc /tmp/apple/libmalloc-792.1.1 --availability /tmp/apple/AvailabilityVersions-155
 *
 * Commits of those tags: xnu e3723e1f17661b24996789d8afc084c0c3303b26,
 * Libc 55b54c0a0c37b3b24393b42b90a4c561d6c606b1, Libinfo 39b70c515baee5b609e7e91693edbd934b6845a1,
 * libpthread 42d026df5b07825070f60134b980a1ec2552dfee, libmalloc 81c0f67a777adf665c667fa2bd49ff6219fdfb9e,
 * AvailabilityVersions 97f1225840fe7e2d97371c8e8beff6e149fce595.
 *
 * Options: --clang <cmd> (default clang; any clang with the AArch64 and X86 targets),
 * --arch arm64|x64 (default both), --check (exit 1 if a committed table differs),
 * --keep <dir> (keep the sysroot and probe sources there, for inspection).
 * Needs on the host: clang, bash and python3 (Apple's own header-generation scripts run as in
 * their builds: AvailabilityVersions' `availability`, xnu's make_symbol_aliasing.sh and
 * make_posix_availability.sh).
 */
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync,
  statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import {
  discoverErrnoNames, missingRequired, probePrelude, renderTable, tablePath, type ProbeResult, type TableProvenance,
} from "./generate.ts";
import {
  constantCondition, expressions, headers, optionalConstants, requiredConstants, scalars, structs, type StructSpec,
} from "./names.ts";

/** The Apple repositories the sysroot is built from (command-line flag → repo name). */
const repos = ["xnu", "libc", "libinfo", "libpthread", "libmalloc", "availability"] as const;
type Repo = (typeof repos)[number];
type Roots = Record<Repo, string>;

/** Target triples, as the brief for the tables asks: the oldest macOS each arch is built for. */
const targets = {
  arm64: "arm64-apple-macos11",
  x64: "x86_64-apple-macos10.15",
} as const;
type Arch = keyof typeof targets;

/**
 * xnu's public headers are installed with `unifdef $(SINCFRAME_UNIFDEF)` (makedefs/MakeInc.def):
 * -DXNU_PLATFORM_MacOSX -D_OPEN_SOURCE_ -D__OPEN_SOURCE__ and -U of every private/kernel guard.
 * The undefined guards are undefined anyway; the defined ones are passed to the compiler.
 */
const unifdefDefines = ["-DXNU_PLATFORM_MacOSX", "-D_OPEN_SOURCE_", "-D__OPEN_SOURCE__"];

function run(cmd: string[], what: string, env?: Record<string, string>): string {
  const out = Bun.spawnSync(cmd, env ? { env: { ...process.env, ...env } } : {});
  if (out.exitCode !== 0) {
    throw new Error(`${what} failed (${cmd.join(" ")}):\n${out.stderr.toString()}${out.stdout.toString()}`);
  }
  return out.stdout.toString();
}

/** The tag (or commit) of a repository checkout; its directory name if it is not a git work tree. */
function repoLabel(dir: string): string {
  const top = Bun.spawnSync(["git", "-C", dir, "rev-parse", "--show-toplevel"]);
  if (top.exitCode === 0 && resolve(top.stdout.toString().trim()) === resolve(dir)) {
    const tag = Bun.spawnSync(["git", "-C", dir, "describe", "--tags", "--exact-match"]);
    if (tag.exitCode === 0) return tag.stdout.toString().trim();
    const head = Bun.spawnSync(["git", "-C", dir, "rev-parse", "HEAD"]);
    if (head.exitCode === 0) return `${basename(resolve(dir))}@${head.stdout.toString().trim()}`;
  }
  return basename(resolve(dir));
}

/** Copies the `.h` files under `from` (recursively, keeping subdirectories) into `to`. */
function copyHeaders(from: string, to: string, skip: (rel: string) => boolean = () => false): void {
  if (!existsSync(from)) throw new Error(`missing header directory ${from}`);
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(from, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      if (skip(r)) continue;
      if (statSync(join(from, r)).isDirectory()) walk(r);
      else if (name.endsWith(".h")) {
        mkdirSync(dirname(join(to, r)), { recursive: true });
        cpSync(join(from, r), join(to, r));
      }
    }
  };
  walk("");
}

function copyFile(from: string, to: string): void {
  if (!existsSync(from)) throw new Error(`missing header ${from}`);
  mkdirSync(dirname(to), { recursive: true });
  cpSync(from, to);
}

/**
 * Lays out <sdk>/usr/include as the macOS SDK installs these projects' public headers.
 * Only the pieces the probe's includes reach are taken (clang -H lists them).
 */
function buildSysroot(roots: Roots, sdk: string): string {
  const inc = join(sdk, "usr", "include");
  mkdirSync(inc, { recursive: true });
  // Libc: include/ → usr/include (its include/sys/cdefs.h says "Not to be installed"; xnu's is).
  copyHeaders(join(roots.libc, "include"), inc,
    (rel) => rel === "sys/cdefs.h" || rel === "FreeBSD" || rel === "NetBSD");
  // Libinfo: netdb.h.
  copyFile(join(roots.libinfo, "lookup.subproj", "netdb.h"), join(inc, "netdb.h"));
  // libpthread: the sys/_pthread types that sys/_types.h includes, and sys/qos.h.
  copyHeaders(join(roots.libpthread, "include", "sys"), join(inc, "sys"));
  // libmalloc: malloc/ (stdlib.h includes malloc/_malloc.h).
  copyHeaders(join(roots.libmalloc, "include", "malloc"), join(inc, "malloc"));
  // xnu: bsd/<dir> → usr/include/<dir>; libkern/libkern → libkern; osfmk/mach → mach;
  // libsyscall's gethostuuid.h (unistd.h includes it).
  for (const d of ["sys", "netinet", "netinet6", "net", "machine", "arm", "i386"]) {
    copyHeaders(join(roots.xnu, "bsd", d), join(inc, d));
  }
  copyHeaders(join(roots.xnu, "libkern", "libkern"), join(inc, "libkern"));
  copyHeaders(join(roots.xnu, "osfmk", "mach"), join(inc, "mach"));
  copyFile(join(roots.xnu, "libsyscall", "wrappers", "gethostuuid.h"), join(inc, "gethostuuid.h"));

  // AvailabilityVersions: its build preprocesses `availability` (embedding the DSL) into
  // usr/local/libexec/availability.pl and the header templates into usr/include.
  const av = roots.availability;
  const avTool = join(sdk, "usr", "local", "libexec", "availability.pl");
  mkdirSync(dirname(avTool), { recursive: true });
  run(["python3", join(av, "availability"), "--preprocess", join(av, "availability"), avTool], "availability");
  chmodSync(avTool, 0o755);
  for (const h of ["Availability.h", "AvailabilityInternal.h", "AvailabilityInternalLegacy.h",
    "AvailabilityMacros.h", "AvailabilityVersions.h"]) {
    run(["python3", avTool, "--preprocess", join(av, "templates", h), join(inc, h)], `availability ${h}`);
  }
  mkdirSync(join(inc, "os"), { recursive: true });
  run(["python3", avTool, "--preprocess", join(av, "templates", "os_availability.h"),
    join(inc, "os", "availability.h")], "availability os/availability.h");

  // xnu's generated sys headers, made by its own scripts.
  const aliasing = join(inc, "sys", "_symbol_aliasing.h");
  run(["bash", join(roots.xnu, "bsd", "sys", "make_symbol_aliasing.sh"), sdk, aliasing], "make_symbol_aliasing.sh");
  if (!readFileSync(aliasing, "utf8").includes("__DARWIN_ALIAS_STARTING_MAC___MAC_10_6(")) {
    throw new Error(`${aliasing} lacks the macOS aliases: did availability.pl run?`);
  }
  run(["bash", join(roots.xnu, "bsd", "sys", "make_posix_availability.sh"),
    join(inc, "sys", "_posix_availability.h")], "make_posix_availability.sh");
  return inc;
}

/** The probe: one `long long` array, framed by two magic numbers. */
interface Probe {
  readonly source: string;
  readonly slots: readonly string[];
}

const MAGIC_START = 0x6273647370726f62n; // "bsdsprob"
const MAGIC_END = 0x6273647365656e64n; // "bsdseend"
const ARRAY = "bsdsock_probe";

/** Renders the compile-time probe. Every value is a constant expression; nothing runs. */
export function renderConstProbe(errnoNames: readonly string[]): Probe {
  const slots: string[] = [];
  const body: string[] = [];
  const value = (key: string, expr: string): void => {
    slots.push(key);
    body.push(`  (long long)(${expr}),`);
  };
  /** Two slots, `key?` (1 if cond holds) and `key`; the expression is only compiled where cond holds. */
  const guarded = (key: string, cond: string, exprs: readonly [string, string][]): void => {
    slots.push(`${key}?`, ...exprs.map(([k]) => k));
    body.push(`#if ${cond}`, "  1,", ...exprs.map(([, e]) => `  (long long)(${e}),`),
      "#else", `  0,${" 0,".repeat(exprs.length)}`, "#endif");
  };
  const src: string[] = [
    "/* GENERATED by ffi/gen/darwin.ts from ffi/gen/names.ts: every platform fact as a constant. */",
    ...probePrelude,
  ];
  for (const h of headers) {
    if (h.guard) src.push(`#if ${h.guard}`, `#include <${h.header}>`, "#endif");
    else src.push(`#include <${h.header}>`);
  }
  guarded("m\tapple", "defined(__APPLE__)", []);
  guarded("m\tx64", "defined(__x86_64__)", []);
  guarded("m\tarm64", "defined(__aarch64__) || defined(__arm64__)", []);
  for (const name of [...requiredConstants, ...optionalConstants]) {
    guarded(`c\t${name}`, constantCondition(name), [[`c\t${name}`, name]]);
  }
  for (const [name, expr] of Object.entries(expressions)) value(`x\t${name}`, expr);
  for (const t of scalars) value(`s\t${t}`, `sizeof(${t})`);
  for (const [name, spec] of Object.entries(structs) as [string, StructSpec][]) {
    const sguard = spec.guard ?? "1";
    guarded(`S\t${name}`, sguard, [[`S\t${name}\tsize`, `sizeof(${spec.type})`],
      [`S\t${name}\talign`, `_Alignof(${spec.type})`]]);
    for (const f of spec.fields) {
      const [fname, fguard] = typeof f === "string" ? [f, "1"] : [f.name, f.guard];
      guarded(`f\t${name}\t${fname}`, `(${sguard}) && (${fguard})`, [
        [`f\t${name}\t${fname}\toffset`, `offsetof(${spec.type}, ${fname})`],
        [`f\t${name}\t${fname}\tsize`, `sizeof(((${spec.type} *)0)->${fname})`],
      ]);
    }
  }
  for (const name of errnoNames) guarded(`e\t${name}`, `defined(${name})`, [[`e\t${name}`, name]]);
  src.push(
    `__attribute__((used)) const long long ${ARRAY}[] = {`,
    `  ${MAGIC_START}LL,`,
    ...body,
    `  ${MAGIC_END}LL,`,
    "};",
    "",
  );
  return { source: src.join("\n"), slots };
}

/** Reads the array's elements back from clang's assembly (`.quad N`, `.space N` / `.zero N`). */
export function readArrayFromAsm(asm: string, symbol: string): bigint[] {
  const lines = asm.split("\n");
  const start = lines.findIndex((l) => l.trim() === `_${symbol}:` || l.trim() === `${symbol}:`);
  if (start < 0) throw new Error(`symbol ${symbol} not found in the assembly`);
  const values: bigint[] = [];
  for (const raw of lines.slice(start + 1)) {
    const line = raw.replace(/\s*(;|##|\/\/|@).*$/, "").trim();
    if (!line) continue;
    let m = /^\.quad\s+(-?\d+)$/.exec(line);
    if (m?.[1]) { values.push(BigInt(m[1])); continue; }
    m = /^\.(?:space|zero)\s+(\d+)$/.exec(line);
    if (m?.[1]) {
      const n = Number(m[1]);
      if (n % 8 !== 0) throw new Error(`unaligned zero fill in the probe array: ${raw}`);
      for (let i = 0; i < n / 8; i++) values.push(0n);
      continue;
    }
    break; // next label or directive: the array is over
  }
  return values;
}

/** Turns the array's values into a ProbeResult, in the same key order as generate.ts's probe. */
function toProbeResult(slots: readonly string[], values: readonly bigint[], meta: Record<string, string>): ProbeResult {
  if (values.length !== slots.length + 2 || values[0] !== MAGIC_START || values[values.length - 1] !== MAGIC_END) {
    throw new Error(`probe array has ${values.length} values for ${slots.length} slots, or bad framing`);
  }
  const v = new Map<string, number>();
  slots.forEach((key, i) => {
    const x = values[i + 1]!;
    if (x > BigInt(Number.MAX_SAFE_INTEGER) || x < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new Error(`${key.replaceAll("\t", " ")} = ${x} does not fit a JS number`);
    }
    v.set(key, Number(x));
  });
  const get = (key: string): number => {
    const x = v.get(key);
    if (x === undefined) throw new Error(`no slot ${key}`);
    return x;
  };
  const has = (key: string): boolean => get(`${key}?`) === 1;

  const r: ProbeResult = { meta: {}, constants: {}, expressions: {}, sizes: {}, structs: {}, errno: {} };
  if (has("m\tapple")) r.meta.os = "darwin";
  if (has("m\tx64")) r.meta.arch = "x64";
  else if (has("m\tarm64")) r.meta.arch = "arm64";
  Object.assign(r.meta, meta);
  for (const name of [...requiredConstants, ...optionalConstants]) {
    r.constants[name] = has(`c\t${name}`) ? get(`c\t${name}`) : null;
  }
  for (const name of Object.keys(expressions)) r.expressions[name] = get(`x\t${name}`);
  for (const t of scalars) r.sizes[t] = get(`s\t${t}`);
  for (const [name, spec] of Object.entries(structs) as [string, StructSpec][]) {
    if (!has(`S\t${name}`)) { r.structs[name] = null; continue; }
    const fields: Record<string, { offset: number; size: number }> = {};
    for (const f of spec.fields) {
      const fname = typeof f === "string" ? f : f.name;
      const k = `f\t${name}\t${fname}`;
      if (has(k)) fields[fname] = { offset: get(`${k}\toffset`), size: get(`${k}\tsize`) };
    }
    r.structs[name] = { size: get(`S\t${name}\tsize`), align: get(`S\t${name}\talign`), fields };
  }
  for (const key of slots) {
    if (key.startsWith("e\t") && !key.endsWith("?") && has(key)) r.errno[key.slice(2)] = get(key);
  }
  return r;
}

/** The compiler's __VERSION__ for the target, as generate.ts's probe prints it. */
function compilerVersion(cc: readonly string[]): string {
  const out = run([...cc, "-dM", "-E", "-x", "c", "/dev/null"], "clang -dM -E");
  const m = /^#define __VERSION__ "(.*)"$/m.exec(out);
  if (!m?.[1]) throw new Error("clang did not define __VERSION__");
  return m[1];
}

/** Cross-compiles the probe for one arch against the sysroot; returns its answers. */
export function probeDarwin(opts: { clang: string; arch: Arch; include: string; headers: string; work: string }): ProbeResult {
  const resourceDir = run([...opts.clang.split(" "), "-print-resource-dir"], "clang -print-resource-dir").trim();
  const cc = [...opts.clang.split(" "), "-target", targets[opts.arch], "-nostdinc",
    "-isystem", join(resourceDir, "include"), "-isystem", opts.include, ...unifdefDefines];
  if (cc.some((a) => /\s/.test(a))) throw new Error(`paths with spaces are not supported: ${cc.join(" ")}`);
  const probe = renderConstProbe(discoverErrnoNames(cc.join(" ")));
  const src = join(opts.work, `probe-${opts.arch}.c`);
  const asmPath = join(opts.work, `probe-${opts.arch}.s`);
  writeFileSync(src, probe.source);
  run([...cc, "-std=c11", "-Wall", "-Werror", "-S", "-o", asmPath, src], `clang (${targets[opts.arch]})`);
  const values = readArrayFromAsm(readFileSync(asmPath, "utf8"), ARRAY);
  const r = toProbeResult(probe.slots, values, { compiler: compilerVersion(cc), headers: opts.headers });
  if (r.meta.os !== "darwin" || r.meta.arch !== opts.arch) {
    throw new Error(`target ${targets[opts.arch]} reported os=${r.meta.os} arch=${r.meta.arch}`);
  }
  return r;
}

export const darwinProvenance: TableProvenance = {
  generatedBy: "ffi/gen/darwin.ts from Apple's open-source headers (cross-compiled, not run)",
  regenerate: "Regenerate with ffi/gen/darwin.ts (see its header for the repositories and command).",
};

if (import.meta.main) {
  const args = process.argv.slice(2);
  const opt = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const roots = {} as Roots;
  for (const r of repos) {
    const dir = opt(`--${r}`);
    if (!dir) {
      console.error(`usage: bun run ffi/gen/darwin.ts ${repos.map((x) => `--${x} <dir>`).join(" ")} ` +
        "[--clang <cmd>] [--arch arm64|x64] [--check] [--keep <dir>]  (see the file's header)");
      process.exit(2);
    }
    roots[r] = resolve(dir);
  }
  const archOpt = opt("--arch");
  const archs: Arch[] = archOpt ? [archOpt as Arch] : ["arm64", "x64"];
  if (!archs.every((a) => a in targets)) throw new Error(`unknown --arch ${archOpt}`);
  const keep = opt("--keep");
  const work = keep ? resolve(keep) : mkdtempSync(join(tmpdir(), "bsdsock-darwin-"));
  mkdirSync(work, { recursive: true });
  let failed = false;
  try {
    const include = buildSysroot(roots, join(work, "sdk"));
    const label = repos.map((r) => repoLabel(roots[r])).join(" ");
    for (const arch of archs) {
      const result = probeDarwin({ clang: opt("--clang") ?? "clang", arch, include, headers: label, work });
      const missing = missingRequired(result);
      if (missing.length) {
        console.error(`darwin-${arch}: required names missing: ${missing.join(", ")}`);
        failed = true;
        continue;
      }
      const path = tablePath(`darwin-${arch}`);
      const text = renderTable(result, darwinProvenance);
      if (args.includes("--check")) {
        let old = "";
        try { old = readFileSync(path, "utf8"); } catch { /* missing counts as different */ }
        if (old !== text) { console.error(`${path} is out of date`); failed = true; }
        else console.log(`${path} matches the headers`);
      } else {
        writeFileSync(path, text);
        console.log(`wrote ${path} (darwin-${arch})`);
      }
    }
  } finally {
    if (!keep) rmSync(work, { recursive: true, force: true });
  }
  if (failed) process.exit(1);
}
