/**
 * The wall clock kernel timestamps are taken on (CLOCK_REALTIME), read through clock_gettime:
 * what a receive timestamp is compared with, as iputils ping compares SO_TIMESTAMP with
 * gettimeofday taken just before sendto.
 */
import { libc } from "../../ffi/libc.ts";
import { readErrno } from "../../ffi/errno.ts";
import { table } from "../../ffi/platform.ts";
import { SocketError } from "./errors.ts";
import type { WallTime } from "../socket/msg.ts";
import { readIntField } from "./structs.ts";

const TS = table.structs.timespec;
const ts = new Uint8Array(TS.size);
const view = new DataView(ts.buffer);

/**
 * clock_gettime(CLOCK_REALTIME): seconds and nanoseconds since the Unix epoch, on the clock of
 * every kernel receive timestamp. `timestampMs()` turns either into ms for a difference.
 */
export function realtimeNow(): WallTime {
  if (libc.clock_gettime(table.constants.CLOCK_REALTIME!, ts) !== 0) throw new SocketError("clock_gettime", readErrno());
  return {
    seconds: readIntField(view, TS.fields.tv_sec, true),
    nanoseconds: readIntField(view, TS.fields.tv_nsec, true),
  };
}
