/**
 * `ip route` over rtnetlink, in TypeScript: the main table's routes from an RTM_GETROUTE dump,
 * each printed as iproute2 prints it (src/linux/routes.ts formats them; protocol, scope and
 * table names come from the /etc/iproute2 files `ip` reads).
 *
 *   bun run examples/ip-route.ts        # like `ip route`
 *   bun run examples/ip-route.ts -6     # like `ip -6 route`
 *   bun run examples/ip-route.ts --table local|all|N   # like `ip route show table ...`
 *   bun run examples/ip-route.ts --default   # the default gateway: "via ADDR dev NAME", or nothing
 *
 * Linux only (netlink is Linux's); exits 2 with the reason elsewhere.
 */
import { parseArgs } from "node:util";
import { platform, SocketError } from "../src/index.ts";
import { Rtnetlink } from "../src/linux/netlink.ts";
import { formatRoute, listedByIp, tableId, type Route } from "../src/linux/routes.ts";

function fail(message: string): never {
  process.stderr.write(`ip-route: ${message}\n`);
  process.exit(2);
}

const usage = "usage: bun run examples/ip-route.ts [-4|-6] [--table main|local|default|all|N] [--default]";
const { values } = (() => {
  try {
    return parseArgs({ options: { ipv4: { type: "boolean", short: "4" }, ipv6: { type: "boolean", short: "6" }, default: { type: "boolean" }, table: { type: "string" }, help: { type: "boolean", short: "h" } } });
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

// As ip: one table (main by default) means IPv4 unless -6; "table all" means every family unless -4/-6.
const family = values.ipv6 ? "inet6" : values.ipv4 || values.table !== "all" ? "inet" : undefined;
using rt = Rtnetlink.open();
if (values.default) {
  const gw = await rt.defaultGateway(family, { timeout: 5000 });
  if (gw) process.stdout.write(`via ${gw.gateway} dev ${gw.interfaceName ?? gw.interfaceIndex}\n`);
} else {
  // As `ip route show table T`: one table (its name is then not printed), or all of them.
  const which = values.table === undefined ? "main" : values.table;
  const id = which === "all" ? null : tableId(which);
  if (id === undefined) fail(`unknown table ${JSON.stringify(which)}`);
  let routes: Route[];
  try {
    // One table: filtered by the kernel, which refuses a table that does not exist, as for ip.
    routes = await rt.routes(family, id === null ? { timeout: 5000 } : { table: id, timeout: 5000 });
  } catch (e) {
    if (!(e instanceof SocketError)) throw e;
    // As ip: the kernel's own text when it gave one, else the errno's.
    process.stderr.write(`${e.note !== undefined ? `Error: ${e.note}.` : e.message}\nDump terminated\n`);
    process.exit(2);
  }
  let out = "";
  for (const r of routes) if (listedByIp(r, id)) out += `${formatRoute(r, { showTable: id === null })}\n`;
  process.stdout.write(out);
}
