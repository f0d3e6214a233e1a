/**
 * `ip neigh` over rtnetlink, in TypeScript: the ARP and NDP tables from an RTM_GETNEIGH dump,
 * each entry printed as iproute2 prints it (src/linux/neighbours.ts).
 *
 *   bun run examples/ip-neigh.ts         # like `ip neigh`
 *   bun run examples/ip-neigh.ts -4|-6   # like `ip -4 neigh` / `ip -6 neigh`
 *
 * Linux only (netlink is Linux's); exits 2 with the reason elsewhere.
 */
import { parseArgs } from "node:util";
import { platform } from "../src/index.ts";
import { Rtnetlink } from "../src/linux/netlink.ts";
import { formatNeighbour, listedByIpNeigh } from "../src/linux/neighbours.ts";

function fail(message: string): never {
  process.stderr.write(`ip-neigh: ${message}\n`);
  process.exit(2);
}

const usage = "usage: bun run examples/ip-neigh.ts [-4|-6]";
const { values } = (() => {
  try {
    return parseArgs({ options: { ipv4: { type: "boolean", short: "4" }, ipv6: { type: "boolean", short: "6" }, help: { type: "boolean", short: "h" } } });
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

using rt = Rtnetlink.open();
let out = "";
for (const n of await rt.neighbours(values.ipv4 ? "inet" : values.ipv6 ? "inet6" : undefined, { timeout: 5000 })) {
  if (listedByIpNeigh(n)) out += `${formatNeighbour(n)}\n`;
}
process.stdout.write(out);
