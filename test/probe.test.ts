/**
 * The C probe: ffi/'s constants, errno numbers, scalar sizes and struct layouts must be what
 * the C compiler says for this machine. Compiles ffi/gen's probe, runs it and compares every
 * value with the table the running process selected, then checks the committed file is exactly
 * what the generator writes (so nobody edited it by hand).
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import {
  missingRequired, platformKey as keyOf, renderTable, runProbe, tablePath, type ProbeOptions, type ProbeResult,
} from "../ffi/gen/generate.ts";
import { loadTable, platformKey, supportedPlatforms, table } from "../ffi/platform.ts";
import { expectNoFdLeaks, noCompilerReason } from "./helpers.ts";

expectNoFdLeaks();

/**
 * The probe's toolchain: the host's `cc`, or another compiler and a command prefix that runs
 * its output (scripts/cross/run.sh: BSDSOCK_PROBE_CC=aarch64-linux-gnu-gcc,
 * BSDSOCK_PROBE_RUN="qemu-aarch64 -L /usr/aarch64-linux-gnu" when this bun runs under qemu).
 */
const probeCc = process.env.BSDSOCK_PROBE_CC || undefined;
const probeRun = process.env.BSDSOCK_PROBE_RUN || undefined;
const probeOptions: ProbeOptions = { ...(probeCc ? { cc: probeCc } : {}), ...(probeRun ? { run: probeRun } : {}) };
const noProbeReason = probeCc
  ? Bun.which(probeCc.split(" ")[0]!) ? null : `BSDSOCK_PROBE_CC=${probeCc} is not on PATH`
  : noCompilerReason;

if (noProbeReason) console.warn(`SKIP C probe: ${noProbeReason}`);

describe.skipIf(noProbeReason !== null)("C probe agrees with ffi/ on this machine", () => {
  let probe: ProbeResult;
  const get = (): ProbeResult => (probe ??= runProbe(probeOptions));

  test("the probe identifies this platform as the selected table", () => {
    expect(keyOf(get())).toBe(platformKey);
    expect(table.platform).toBe(platformKey);
    expect(missingRequired(get())).toEqual([]);
  });

  test("every constant", () => {
    expect({ ...table.constants }).toEqual(get().constants as typeof table.constants);
  });

  test("every errno number", () => {
    expect({ ...table.errno }).toEqual(get().errno as typeof table.errno);
  });

  test("scalar sizes and macro expressions", () => {
    expect({ ...table.sizes }).toEqual(get().sizes as typeof table.sizes);
    expect({ ...table.expressions }).toEqual(get().expressions as typeof table.expressions);
  });

  test("every struct: size, alignment, and offset and size of each member", () => {
    expect(JSON.parse(JSON.stringify(table.structs))).toEqual(get().structs);
  });

  test("the committed table is exactly the generator's output (not edited by hand)", () => {
    // The source line names compiler and header versions; a routine distro update changes them
    // without changing any value, so it is compared apart from the rest (and reported).
    const sourceLines = /^\/\/ Source: .*$|^ {2}"source": .*$/gm;
    const committed = readFileSync(tablePath(platformKey), "utf8");
    const fresh = renderTable(get());
    expect(committed.replace(sourceLines, "<source>")).toBe(fresh.replace(sourceLines, "<source>"));
    if (committed.match(sourceLines)?.[0] !== fresh.match(sourceLines)?.[0]) {
      console.warn(`note: table generated with other tool versions than this machine's: ${fresh.match(sourceLines)?.[0]}`);
    }
  });
});

describe("table selection", () => {
  test("each shipped table loads under its own key, the running one is the selected table, an unknown key has none", () => {
    for (const key of supportedPlatforms) expect(loadTable(key)?.platform).toBe(key);
    expect(loadTable(platformKey)).toBe(table);
    for (const key of ["plan9-x64", "linux-x64-unknown", "../table", "linux-x64-glibc/../darwin-x64"]) expect(loadTable(key)).toBeUndefined();
  });
});

describe("table facts the code relies on", () => {
  test("ssize_t/size_t are 64-bit, so FFI declares them as 64-bit integers", () => {
    expect(table.sizes.size_t).toBe(8);
    expect(table.sizes.ssize_t).toBe(8);
    expect(table.sizes["void *"]).toBe(8);
    expect(table.sizes.socklen_t).toBe(4);
  });
});
