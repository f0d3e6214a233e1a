/**
 * Every fuzz target, in one list: `npm run fuzz` (fuzz/run.ts) runs each with ≥ 10^6 generated
 * inputs; test/fuzz.test.ts runs each with a CI-sized count inside `bun test`.
 */
import type { Target } from "./context.ts";
import { msgTargets } from "./msg.ts";
import { netlinkTargets } from "./netlink.ts";
import { optionTargets } from "./options.ts";
import { segmentTargets } from "./segments.ts";
import { sockaddrTargets } from "./sockaddr.ts";

export const targets: readonly Target[] = [...sockaddrTargets, ...optionTargets, ...msgTargets, ...segmentTargets, ...netlinkTargets];
export { makeContext, type FuzzContext, type Target } from "./context.ts";
