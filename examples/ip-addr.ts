/**
 * `ip -brief addr` over rtnetlink, in TypeScript: every interface, its operational state and
 * its addresses with prefix lengths, from RTM_GETLINK and RTM_GETADDR dumps on an AF_NETLINK
 * socket (src/linux/netlink.ts parses the message stream).
 *
 *   bun run examples/ip-addr.ts            # like `ip -brief addr`
 *   bun run examples/ip-addr.ts --watch    # then print link and address changes until Ctrl-C
 *
 * The output has ip's layout: the name padded to 16, the state to 14, then each address as
 * `addr/prefix` followed by a space. --watch joins RTMGRP_LINK, RTMGRP_IPV4_IFADDR and
 * RTMGRP_IPV6_IFADDR first (so no change between the dump and the watch is missed), prints the
 * table, then one line per change: `link NAME STATE` / `link NAME deleted`,
 * `addr add ADDR/PREFIX dev NAME` / `addr del ...`. Linux only (netlink is Linux's); exits 2
 * with the reason elsewhere.
 */
import { parseArgs } from "node:util";
import { platform } from "../src/index.ts";
import { Rtnetlink, type InterfaceAddress, type LinkInfo } from "../src/linux/netlink.ts";

const C = platform.table.constants;

function fail(message: string): never {
  process.stderr.write(`ip-addr: ${message}\n`);
  process.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({ options: { watch: { type: "boolean" }, help: { type: "boolean", short: "h" } } });
  } catch (e) {
    return fail(`${(e as Error).message}\nusage: bun run examples/ip-addr.ts [--watch]`);
  }
})();
if (values.help) {
  process.stdout.write("usage: bun run examples/ip-addr.ts [--watch]\n");
  process.exit(0);
}
if (!platform.key.startsWith("linux-")) fail(`netlink exists only on Linux (this is ${platform.key})`);

/** `name` or `name@peer` as ip prints a link stacked on another (veth, vlan). */
function displayName(l: LinkInfo, byIndex: Map<number, LinkInfo>): string {
  if (l.link === undefined || l.link === l.index) return l.name;
  if (l.link === 0) return `${l.name}@NONE`;
  return `${l.name}@${byIndex.get(l.link)?.name ?? `if${l.link}`}`;
}

function addressText(a: InterfaceAddress): string {
  return `${a.address}${a.peer ? ` peer ${a.peer}` : ""}/${a.prefixLength}`;
}

const groups = values.watch ? (C.RTMGRP_LINK ?? 0) | (C.RTMGRP_IPV4_IFADDR ?? 0) | (C.RTMGRP_IPV6_IFADDR ?? 0) : 0;
// Events go to their own socket, joined before the dump, so none is missed in between.
using rt = Rtnetlink.open();
using watcher = values.watch ? Rtnetlink.open({ groups }) : null;

const links = await rt.links({ timeout: 5000 });
const addresses = await rt.addresses({ timeout: 5000 });
const byIndex = new Map(links.map((l) => [l.index, l]));
let out = "";
for (const l of links) {
  out += `${displayName(l, byIndex).padEnd(16)} ${l.operstate.padEnd(14)} `;
  for (const a of addresses) if (a.index === l.index) out += `${addressText(a)} `;
  out += "\n";
}
process.stdout.write(out);

if (watcher) {
  const stop = new AbortController();
  process.on("SIGINT", () => stop.abort());
  process.on("SIGTERM", () => stop.abort());
  process.stderr.write("ip-addr: watching link and address changes (Ctrl-C to stop)\n");
  for await (const e of watcher.events({ signal: stop.signal })) {
    if (e.kind === "link") {
      byIndex.set(e.link.index, e.link);
      process.stdout.write(e.action === "del" ? `link ${e.link.name} deleted\n` : `link ${displayName(e.link, byIndex)} ${e.link.operstate}\n`);
    } else if (e.kind === "address") {
      const dev = byIndex.get(e.address.index)?.name ?? `if${e.address.index}`;
      process.stdout.write(`addr ${e.action === "del" ? "del" : "add"} ${addressText(e.address)} dev ${dev}\n`);
    }
  }
}
