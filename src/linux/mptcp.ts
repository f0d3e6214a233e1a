/**
 * MPTCP (Multipath TCP, Linux 5.6+): what socket() failing for protocol "mptcp" means.
 *
 * An MPTCP socket is `new Socket("inet" | "inet6", "stream", "mptcp")`; it speaks TCP to a peer
 * without MPTCP (a fallback, which `getOption("isMptcp")` reports as false) and otherwise uses
 * the options `isMptcp` and `mptcpInfo`. When the kernel refuses the socket, its errno alone
 * does not say why, so the error gets a note: ENOPROTOOPT is a namespace with
 * net.mptcp.enabled = 0, EPROTONOSUPPORT a kernel built without CONFIG_MPTCP or a family/type
 * MPTCP does not serve.
 */
import { readFileSync } from "node:fs";
import { table } from "../../ffi/platform.ts";
import { SocketError } from "../core/errors.ts";

const C = table.constants;

/** The sysctl that switches MPTCP on and off, per network namespace. */
const ENABLED = "/proc/sys/net/mptcp/enabled";

/** The note for a failed socket(family, type, IPPROTO_MPTCP), or undefined when there is none. */
function mptcpNote(code: string, family: number, type: number): string | undefined {
  if (family !== C.AF_INET && family !== C.AF_INET6) return "MPTCP sockets are AF_INET or AF_INET6";
  if (type !== C.SOCK_STREAM) return "MPTCP sockets are SOCK_STREAM";
  if (code === "ENOPROTOOPT") {
    let enabled: string | undefined;
    try {
      enabled = readFileSync(ENABLED, "utf8").trim();
    } catch {
      // No such sysctl: not Linux, or no MPTCP at all.
    }
    return enabled === "0" ? "MPTCP is disabled in this network namespace: sysctl net.mptcp.enabled = 0" : "MPTCP is not available here";
  }
  if (code === "EPROTONOSUPPORT") return "this kernel has no MPTCP (CONFIG_MPTCP), or it is older than Linux 5.6";
  return undefined;
}

/**
 * `e` with the reason MPTCP was refused in its message, when socket() was asked for
 * IPPROTO_MPTCP; `e` itself otherwise.
 */
export function explainSocketFailure(e: unknown, family: number, type: number, protocol: number): unknown {
  if (C.IPPROTO_MPTCP === null || protocol !== C.IPPROTO_MPTCP || !(e instanceof SocketError) || e.syscall !== "socket") return e;
  const note = mptcpNote(e.code, family, type);
  return note === undefined ? e : new SocketError("socket", e.errno, { note });
}

/**
 * The refusal of socket(family, type, IPPROTO_MPTCP) for a type MPTCP does not serve, made
 * before the call: the kernel refuses SOCK_DGRAM itself but creates a SOCK_RAW socket for
 * protocol 262, which no packet's 8-bit protocol field can ever match. Null when it may go on.
 */
export function mptcpRefusal(family: number, type: number, protocol: number): SocketError | null {
  if (C.IPPROTO_MPTCP === null || protocol !== C.IPPROTO_MPTCP || type === C.SOCK_STREAM) return null;
  return new SocketError("socket", table.errno.EPROTONOSUPPORT, { note: mptcpNote("EPROTONOSUPPORT", family, type) ?? "MPTCP sockets are SOCK_STREAM" });
}
