/**
 * The documentation's programs, run as a reader would run them.
 *
 * - Every ```ts block of docs/API.md, and every ```ts block of README.md whose first line is
 *   `// runnable` (the README also has fragments, which are left alone), is written into
 *   `.docs-tmp/` inside the repository (so the package's `bsdsock` self-reference resolves)
 *   and run with this bun in a child process under a 10 s deadline, two at a time. Each must
 *   exit 0 and write to stderr exactly the lines it announces with `// stderr: <line>`
 *   comments, in order (usually none).
 * - All those blocks are type-checked together with the repository's tsc and tsconfig; only
 *   diagnostics inside the blocks count.
 * - The options table in docs/API.md is compared with `options`, and every runtime export of
 *   `bsdsock` and `bsdsock/posix` (and every exported type of src/index.ts) must be named in
 *   docs/API.md.
 *
 * Failures name the block by file, line and heading.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import * as api from "../src/index.ts";
import * as posix from "../src/posix.ts";
import { bun, expectNoFdLeaks, root, run, type Outcome } from "./helpers.ts";

expectNoFdLeaks();

/** Per-block deadline; a block still running then is killed and fails. */
const DEADLINE_MS = 10_000;
/** Blocks running at once. */
const PARALLEL = 2;
/** README blocks run only when their first line is exactly this. */
const README_MARKER = "// runnable";
/** A comment announcing one line the block writes to stderr. */
const STDERR_LINE = /\/\/ stderr: (.*)$/;

interface Block {
  /** The markdown file, relative to the repository. */
  readonly source: string;
  /** 1-based line of the block's first code line in `source`. */
  readonly line: number;
  /** The nearest heading above the block. */
  readonly heading: string;
  readonly code: string;
  /** Where the block is written to run. */
  readonly file: string;
}

const tmpRoot = join(root, ".docs-tmp");
const workDir = join(tmpRoot, `run-${process.pid}`);

/** The ```ts blocks of a markdown file that `keep` accepts. */
function blocksOf(source: string, keep: (code: string) => boolean): Block[] {
  const lines = readFileSync(join(root, source), "utf8").split("\n");
  const out: Block[] = [];
  let heading = "(top)";
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\S*)\s*$/.exec(lines[i]!);
    if (!fence) {
      const h = /^#{1,6}\s+(.*)$/.exec(lines[i]!);
      if (h) heading = h[1]!.trim();
      continue;
    }
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    if (end >= lines.length) throw new Error(`${source}:${i + 1}: unterminated code block`);
    const code = lines.slice(start, end).join("\n") + "\n";
    if (fence[1] === "ts" && keep(code)) {
      const name = `${source.replace(/[^A-Za-z0-9]+/g, "-")}-L${start + 1}.ts`;
      out.push({ source, line: start + 1, heading, code, file: join(workDir, name) });
    }
    i = end;
  }
  return out;
}

const apiBlocks = blocksOf("docs/API.md", () => true);
const readmeBlocks = blocksOf("README.md", (code) => code.split("\n")[0]!.trim() === README_MARKER);
const blocks = [...apiBlocks, ...readmeBlocks];

const where = (b: Block): string => `${b.source}:${b.line} (${b.heading})`;

mkdirSync(workDir, { recursive: true });
for (const b of blocks) writeFileSync(b.file, b.code);

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
  try {
    if (readdirSync(tmpRoot).length === 0) rmdirSync(tmpRoot);
  } catch { /* another run is using it */ }
});

/** Runs every block, PARALLEL at a time, in order; started on first use. */
let outcomes: Map<Block, Promise<Outcome>> | null = null;
function outcomeOf(block: Block): Promise<Outcome> {
  if (outcomes === null) {
    const map = new Map<Block, Promise<Outcome>>();
    const resolvers = new Map<Block, (o: Outcome) => void>();
    for (const b of blocks) map.set(b, new Promise<Outcome>((r) => resolvers.set(b, r)));
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < blocks.length) {
        const b = blocks[next++]!;
        let o: Outcome;
        try {
          o = await run([bun, b.file], {}, DEADLINE_MS);
        } catch (e) {
          o = { code: null, signal: null, stdout: "", stderr: `could not run: ${String(e)}` };
        }
        resolvers.get(b)!(o);
      }
    };
    for (let i = 0; i < PARALLEL; i++) void worker();
    outcomes = map;
  }
  return outcomes.get(block)!;
}

function expectedStderr(code: string): string {
  return code.split("\n").flatMap((l) => {
    const m = STDERR_LINE.exec(l);
    return m ? [`${m[1]}\n`] : [];
  }).join("");
}

describe("docs/API.md and README.md programs run", () => {
  test("docs/API.md has runnable blocks", () => {
    expect(apiBlocks.length).toBeGreaterThan(20);
  });

  for (const b of blocks) {
    test(where(b), async () => {
      const o = await outcomeOf(b);
      const report = `${where(b)}: exit ${o.code}${o.signal ? ` (${o.signal}${o.signal === "SIGKILL" ? `: over the ${DEADLINE_MS} ms deadline` : ""})` : ""}\n` +
        `--- stderr ---\n${o.stderr}--- stdout ---\n${o.stdout}`;
      expect({ code: o.code, stderr: o.stderr }, report).toEqual({ code: 0, stderr: expectedStderr(b.code) });
    }, DEADLINE_MS + 15_000);
  }
});

describe("docs type-check", () => {
  test("every block type-checks against the sources", async () => {
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
    if (!existsSync(tsc)) throw new Error(`no TypeScript compiler at ${tsc}; run npm install`);
    const config = join(workDir, "tsconfig.json");
    writeFileSync(config, JSON.stringify({
      extends: relative(workDir, join(root, "tsconfig.json")),
      compilerOptions: { noEmit: true },
      include: blocks.map((b) => relative(workDir, b.file)),
    }));
    const o = await run([bun, tsc, "-p", config, "--pretty", "false"], {}, 60_000);
    // Diagnostics start at column 0 with "path(line,col): error"; continuation lines are indented.
    const byFile = new Map(blocks.map((b) => [b.file, b] as const));
    const problems: string[] = [];
    let current: string[] | null = null;
    for (const line of o.stdout.split("\n")) {
      const m = /^(.+?)\((\d+),(\d+)\): (error|warning) (.*)$/.exec(line);
      if (m) {
        current = null;
        const block = byFile.get(join(root, m[1]!)) ?? byFile.get(m[1]!);
        if (block) {
          current = problems;
          problems.push(`${block.source}:${block.line + Number(m[2]) - 1}:${m[3]} (${block.heading}): ${m[5]}`);
        }
      } else if (current && /^\s/.test(line)) {
        current.push(`    ${line.trim()}`);
      }
    }
    if (o.code !== 0 && problems.length === 0 && !/\): error /.test(o.stdout)) {
      throw new Error(`tsc failed without diagnostics: exit ${o.code}\n${o.stdout}${o.stderr}`);
    }
    expect(problems.join("\n")).toBe("");
  }, 90_000);
});

describe("docs/API.md covers the API", () => {
  const doc = readFileSync(join(root, "docs", "API.md"), "utf8");

  test("the options table matches `options`", () => {
    const start = doc.indexOf("<!-- options-table");
    expect(start).toBeGreaterThan(0);
    const rows = doc.slice(start).split("\n").slice(1);
    const table: string[][] = [];
    for (const row of rows) {
      if (!row.startsWith("|")) break;
      const cells = row.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim().replaceAll("\\|", "|"));
      table.push(cells);
    }
    const body = table.slice(2); // header and separator
    const names = body.map((c) => c[0]!.replaceAll("`", ""));
    expect(names).toEqual(Object.keys(api.options));
    if (api.platform.key !== "linux-x64-glibc") return; // C names and ranges are this platform's
    for (const [name, cname, level, access, type, doc] of body) {
      const o = api.options[name!.replaceAll("`", "") as keyof typeof api.options];
      expect({ name, cname, level, access, type, doc }).toEqual({
        name: `\`${o.name}\``, cname: `\`${o.cname}\``, level: o.level, access: o.access, type: o.type, doc: o.doc,
      });
    }
  });

  test("every export of bsdsock and bsdsock/posix is named in docs/API.md", () => {
    const mentioned = (name: string): boolean => new RegExp(`(?<![A-Za-z0-9_$])${name.replace(/\$/g, "\\$")}(?![A-Za-z0-9_$])`).test(doc);
    const types = [...readFileSync(join(root, "src", "index.ts"), "utf8").matchAll(/\btype (\w+)/g)]
      .map((m) => m[1]!).filter((n) => n !== "Constants" && n !== "PlatformTable");
    const posixTypes = [...readFileSync(join(root, "src", "posix.ts"), "utf8").matchAll(/^export type (\w+)|\btype (CArray)\b/gm)]
      .map((m) => (m[1] ?? m[2])!);
    const missing = [...Object.keys(api), ...types, ...Object.keys(posix), ...posixTypes].filter((n) => !mentioned(n));
    expect(missing).toEqual([]);
  });
});
