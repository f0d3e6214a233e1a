/**
 * errno of the calling thread. The address comes from __errno_location (Linux) or __error
 * (macOS) once per thread (module instances are per Worker, so per thread); reading it is then
 * a plain memory load with no call in between, so it must happen right after the failing
 * call, before any other JS (even a console.log can set errno to ENOTTY).
 */
import { read } from "bun:ffi";
import { errnoLocation } from "./libc.ts";

const errnoAddress = errnoLocation();

/** The current value of errno. Call immediately after the libc call that failed. */
export function readErrno(): number {
  return read.i32(errnoAddress as never, 0);
}
