/**
 * `ip route` over rtnetlink, in TypeScript: the main table's routes from an RTM_GETROUTE dump,
 * each printed as iproute2 prints it (src/linux/routes.ts formats them; protocol, scope and
 * table names come from the /etc/iproute2 files `ip` reads).
 *
 *   bun run examples/ip-route.ts        # like `ip route`
 *   bun run examples/ip-route.ts -6     # like `ip -6 route`
 *   bun run examples/ip-route.ts --table T   # like `ip route show table T`
 *   bun run examples/ip-route.ts --default   # the default gateway: "via ADDR dev NAME", or nothing
 *
 * T is read as ip reads it (tableId): a name from rt_tables, or a number as C's strtoul reads
 * it (`010` is 8, `0x64` 100, ` +254` 254); `all`, `0` and `unspec` are every table; `cache`
 * is main's cloned routes (the kernel's route exceptions: learned path MTUs, redirects); what
 * ip refuses gets ip's error and exit status 255. `--table -1` takes `-1` as T, as ip does.
 *
 * Linux only (netlink is Linux's); exits 2 with the reason elsewhere.
 */
import { parseArgs } from "node:util";
import { constants as C, platform, SocketError } from "../src/index.ts";
import { Rtnetlink } from "../src/linux/netlink.ts";
import { formatRoute, listedByIp, tableId } from "../src/linux/routes.ts";

function fail(message: string): never {
  process.stderr.write(`ip-route: ${message}\n`);
  process.exit(2);
}

const usage = "usage: bun run examples/ip-route.ts [-4|-6] [--table main|local|default|all|cache|N] [--default]";
// `--table X` takes the next argument whatever it is, as ip's `table X` does (parseArgs refuses
// a value that starts with "-" unless it is written `--table=-1`).
const args = process.argv.slice(2);
for (let i = 0; i < args.length - 1 && args[i] !== "--"; i++) if (args[i] === "--table") args.splice(i, 2, `--table=${args[i + 1]}`);
const { values } = (() => {
  try {
    return parseArgs({ args, options: { ipv4: { type: "boolean", short: "4" }, ipv6: { type: "boolean", short: "6" }, default: { type: "boolean" }, table: { type: "string" }, help: { type: "boolean", short: "h" } } });
  } catch (e) {
    return fail(`${(e as Error).message}\n${usage}`);
  }
})();
if (values.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
if (values.ipv4 && values.ipv6) fail("-4 and -6 exclude each other");
if (!platform.key.startsWith("linux-")) fail(`netlink exists only on Linux (this is ${platform.key})`);

// As `ip route show table T` (iproute_list_flush_or_save): T is a table, every table (null), or
// `cache`: main's cloned routes. What ip refuses gets its error and its exit status, 255.
const which = values.table ?? "main";
const id = values.default ? C.RT_TABLE_MAIN! : tableId(which);
if (id === undefined && which === "help") {
  process.stderr.write(`${usage}\n`);
  process.exit(255);
}
if (id === undefined && which !== "cache") {
  process.stderr.write(`Error: argument "${which}" is wrong: table id value is invalid\n\n`);
  process.exit(255);
}
const cache = id === undefined;
/** ip's filter.tb: the table asked for (main for `cache`), or 0 for every table. */
const tb = id === undefined ? C.RT_TABLE_MAIN! : id ?? 0;

// As ip: one table (main by default) means IPv4 unless -6; every table means every family unless -4/-6.
const family = values.ipv6 ? "inet6" : values.ipv4 || tb !== 0 ? "inet" : undefined;
if (values.default) {
  using rt = Rtnetlink.open();
  const gw = await rt.defaultGateway(family, { timeout: 5000 });
  if (gw) process.stdout.write(`via ${gw.gateway} dev ${gw.interfaceName ?? gw.interfaceIndex}\n`);
} else {
  let out = "";
  try {
    using rt = Rtnetlink.open();
    // One table: filtered by the kernel, which refuses a table that does not exist, as for ip.
    // `cache`: main's cloned routes (the library asks with RTM_F_CLONED and filters as ip does).
    const routes = await rt.routes(family, tb === 0 ? { timeout: 5000 } : { table: tb, cloned: cache, timeout: 5000 });
    // As `ip route show table T`: one table (its name is then not printed), or all of them;
    // formatRoute writes a cloned IPv4 route's `cache` line.
    for (const r of routes) if (cache || listedByIp(r, tb === 0 ? null : tb)) out += `${formatRoute(r, { showTable: tb === 0 })}\n`;
  } catch (e) {
    if (!(e instanceof SocketError)) throw e;
    // As ip (save_route_errhndlr): main not existing yet (a namespace without routes) is no
    // error, only nothing to show. Else the kernel's own text when it gave one, or the errno's.
    if (!(e.code === "ENOENT" && tb === C.RT_TABLE_MAIN)) {
      process.stderr.write(`${e.note !== undefined ? `Error: ${e.note}.` : e.message}\nDump terminated\n`);
      process.exit(2);
    }
  }
  process.stdout.write(out);
}
