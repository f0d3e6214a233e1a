/**
 * The literal port against the C originals: server.ts/client.ts and the seed's server.c/
 * client.c in all four pairings, plus the error paths, with stdout, stderr and exit codes
 * compared byte for byte. The C programs are compiled from ../shared/seed.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as P from "../src/posix.ts";
import {
  bun, ccAccepts, compileC, expectNoFdLeaks, freePort, isListening, noCompilerReason, run, scratchDir,
  seedDir, start, waitListening, type Outcome,
} from "./helpers.ts";

expectNoFdLeaks();

const seedMissing = existsSync(join(seedDir, "server.c")) ? null : `seed C programs not found in ${seedDir}`;
const skipReason = noCompilerReason ?? seedMissing;
if (skipReason) console.warn(`SKIP interop with the C programs: ${skipReason}`);

/** Replaces exactly one occurrence, so a changed seed fails loudly instead of silently. */
function replaceOnce(text: string, from: string, to: string): string {
  const parts = text.split(from);
  if (parts.length !== 2) throw new Error(`expected exactly one "${from}" in the seed, found ${parts.length - 1}`);
  return parts.join(to);
}

const portHelper = `
#include <stdlib.h>
static int seed_port(void) { const char *p = getenv("PORT"); return p && *p ? atoi(p) : 8080; }
`;

interface Programs {
  serverC: string; clientC: string; // seed with PORT from the environment
  pristineClientC: string;          // seed exactly as given (port 8080)
}
let progs: Programs;

const dir = scratchDir();
beforeAll(() => {
  if (skipReason) return;
  // server.c prints a buffer recv() did not NUL-terminate; zero-initialised locals make that
  // deterministic without touching the source.
  const flags = ccAccepts("-ftrivial-auto-var-init=zero") ? ["-ftrivial-auto-var-init=zero"] : [];
  const server = readFileSync(join(seedDir, "server.c"), "utf8");
  const client = readFileSync(join(seedDir, "client.c"), "utf8");
  let s = replaceOnce(server, "htons(8080)", "htons(seed_port())");
  s = replaceOnce(s, 'printf("Esperando conexiones en el puerto 8080...\\n");',
    'printf("Esperando conexiones en el puerto %d...\\n", seed_port());');
  const c = replaceOnce(client, "htons(8080)", "htons(seed_port())");
  progs = {
    serverC: compileC(dir, "server", portHelper + s, flags),
    clientC: compileC(dir, "client", portHelper + c, flags),
    pristineClientC: compileC(dir, "client_pristine", client, flags),
  };
});

const serverTs = [bun, "run", "server.ts"];
const clientTs = [bun, "run", "client.ts"];

/** Runs one server and one client against each other on `port`. */
async function pair(serverCmd: string[], clientCmd: string[], port: number, env: Record<string, string> = { PORT: String(port) }): Promise<{ server: Outcome; client: Outcome }> {
  const server = start(serverCmd, env);
  await waitListening(port, 10_000, server);
  const client = await run(clientCmd, env);
  return { server: await server.done, client };
}

const serverOk = (port: number): Outcome => ({
  code: 0, signal: null, stderr: "",
  stdout: `Esperando conexiones en el puerto ${port}...\nMensaje recibido: Hola, servidor!\n`,
});
const clientOk: Outcome = { code: 0, signal: null, stderr: "", stdout: "Mensaje recibido del servidor: Hola, cliente!\n" };

describe.skipIf(skipReason !== null)("server ↔ client, byte for byte", () => {
  const cases: [string, () => string[], () => string[]][] = [
    ["server.c ↔ client.c (reference)", () => [progs.serverC], () => [progs.clientC]],
    ["server.ts ↔ client.ts", () => serverTs, () => clientTs],
    ["server.ts ↔ client.c", () => serverTs, () => [progs.clientC]],
    ["server.c ↔ client.ts", () => [progs.serverC], () => clientTs],
  ];
  const reference: { server?: Outcome; client?: Outcome } = {};
  for (const [name, server, client] of cases) {
    test(name, async () => {
      const port = freePort();
      const r = await pair(server(), client(), port);
      expect(r.server).toEqual(serverOk(port));
      expect(r.client).toEqual(clientOk);
      if (!reference.server) Object.assign(reference, r);
      // Identical to what the C pair printed, apart from the port in the banner.
      expect(r.server.stdout.replace(String(port), "P")).toBe(reference.server!.stdout.replace(/\d+\.\.\./, "P..."));
      expect(r.client).toEqual(reference.client!);
    });
  }

  test("PORT=0: server.ts lets the kernel choose and prints the real port", async () => {
    const server = start(serverTs, { PORT: "0" });
    // The kernel picked the port; find it from the server's own listening socket.
    let port = 0;
    const deadline = Date.now() + 10_000;
    while (!port && Date.now() < deadline) {
      const found = (await listeningPortsOf(server.proc.pid)).at(0);
      if (found) port = found;
      else await Bun.sleep(10);
    }
    expect(port).toBeGreaterThan(0);
    const client = await run([progs.clientC], { PORT: String(port) });
    expect(client).toEqual(clientOk);
    expect(await server.done).toEqual(serverOk(port));
  });
});

/** TCP ports a process listens on, from /proc/<pid>/fd socket inodes matched in /proc/net/tcp. */
async function listeningPortsOf(pid: number): Promise<number[]> {
  const { readdirSync, readlinkSync } = await import("node:fs");
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    }
  } catch { return []; }
  const ports: number[] = [];
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[3] === "0A" && cols[9] && inodes.has(cols[9])) ports.push(parseInt(cols[1]!.split(":")[1]!, 16));
  }
  return ports;
}

describe.skipIf(skipReason !== null)("error paths match the C programs", () => {
  test("client with nothing listening: Connection refused, exit 1", async () => {
    const port = freePort(); // bound and closed: nothing listens there
    const c = await run([progs.clientC], { PORT: String(port) });
    const ts = await run(clientTs, { PORT: String(port) });
    const expected: Outcome = { code: 1, signal: null, stdout: "", stderr: "Error al conectar al servidor: Connection refused\n" };
    expect(c).toEqual(expected);
    expect(ts).toEqual(expected);
  });

  test("server on a port already taken: Address already in use, exit 1", async () => {
    const fd = P.socket(P.AF_INET, P.SOCK_STREAM, 0);
    const addr = new P.sockaddr_in();
    addr.sin_family = P.AF_INET;
    addr.sin_port = P.htons(freePort());
    addr.sin_addr.s_addr = P.INADDR_ANY;
    expect(P.bind(fd, addr, P.sizeof(addr))).toBe(0);
    expect(P.listen(fd, 1)).toBe(0);
    try {
      const env = { PORT: String(P.ntohs(addr.sin_port)) };
      const c = await run([progs.serverC], env);
      const ts = await run(serverTs, env);
      const expected: Outcome = { code: 1, signal: null, stdout: "", stderr: "Error al enlazar: Address already in use\n" };
      expect(c).toEqual(expected);
      expect(ts).toEqual(expected);
    } finally {
      P.close(fd);
    }
  });
});

/** Whether 8080 can be bound the way the seed server binds it (no SO_REUSEADDR). */
function port8080Free(): boolean {
    const fd = P.socket(P.AF_INET, P.SOCK_STREAM, 0);
    const addr = new P.sockaddr_in();
    addr.sin_family = P.AF_INET;
    addr.sin_port = P.htons(8080);
    const ok = P.bind(fd, addr, P.sizeof(addr)) === 0;
    P.close(fd);
    return ok;
}
const busy8080 = skipReason === null && !port8080Free();
if (busy8080) console.warn("SKIP default-port test: port 8080 is in use (or in TIME_WAIT from an earlier run)");

describe.skipIf(skipReason !== null || busy8080)("default port 8080, as in the C programs", () => {
  test("server.ts with no PORT ↔ the unmodified client.c", async () => {
    const env = { PORT: "" };
    const server = start(serverTs, env);
    await waitListening(8080, 10_000, server);
    const client = await run([progs.pristineClientC], env);
    expect(client).toEqual(clientOk);
    expect(await server.done).toEqual(serverOk(8080));
    expect(isListening(8080)).toBe(false);
  });
});
