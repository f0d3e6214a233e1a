/**
 * The C probe: ffi/'s constants, errno numbers, scalar sizes and struct layouts must be what
 * the C compiler says for this machine. Compiles ffi/gen's probe, runs it and compares every
 * value with the table the running process selected, then checks the committed file is exactly
 * what the generator writes (so nobody edited it by hand).
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { missingRequired, platformKey as keyOf, renderTable, runProbe, tablePath, type ProbeResult } from "../ffi/gen/generate.ts";
import { platformKey, table } from "../ffi/platform.ts";
import { expectNoFdLeaks, noCompilerReason } from "./helpers.ts";

expectNoFdLeaks();

if (noCompilerReason) console.warn(`SKIP C probe: ${noCompilerReason}`);

describe.skipIf(noCompilerReason !== null)("C probe agrees with ffi/ on this machine", () => {
  let probe: ProbeResult;
  const get = (): ProbeResult => (probe ??= runProbe());

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
    expect(readFileSync(tablePath(platformKey), "utf8")).toBe(renderTable(get()));
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
