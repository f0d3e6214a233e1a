/**
 * bsdsock: the BSD socket API for Bun through bun:ffi.
 *
 * - `posix`: the C-shaped layer (socket/bind/listen/accept/connect/send/recv/close returning -1
 *   and setting errno, perror, htons, inet_pton, sockaddr_in...), for near-literal C ports.
 * - `SocketError`, `errnoName`, `strerror`: typed errors with syscall, errno and code.
 * - `constants`, `platform`: the running platform's generated constants and layouts.
 */
import { platformKey, table } from "../ffi/platform.ts";
import type { Constants, PlatformTable } from "../ffi/table.ts";

export * as posix from "./posix.ts";
export { SocketError, errnoName, errnoNumbers, strerror, type SocketErrorDetails } from "./errors.ts";

/** The running platform's socket constants (AF_INET, SOCK_STREAM, ...), generated from its headers. */
export const constants: Constants = table.constants;

/** The running platform: its key (e.g. "linux-x64-glibc") and full generated table. */
export const platform: { readonly key: string; readonly table: PlatformTable } = { key: platformKey, table };
