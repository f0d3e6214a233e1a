/**
 * systemd socket activation (sd_listen_fds(3)): a service started by a `.socket` unit, by
 * `systemd-socket-activate`, or by any supervisor speaking the same protocol receives its
 * listening sockets already open, as fds 3, 4, … and three environment variables:
 *
 *   LISTEN_PID      the pid the fds are meant for (a child that inherited the environment must
 *                   not take them)
 *   LISTEN_FDS      how many fds, starting at SD_LISTEN_FDS_START = 3
 *   LISTEN_FDNAMES  optional, colon-separated names (FileDescriptorName= in the unit)
 *
 * `listenFds()` adopts them as Sockets, after checking that each really is a socket and
 * reading its family, type and whether it listens, and unsets the variables as sd_listen_fds
 * does (so children do not see them). Works on any platform (the protocol is plain fds and
 * environment variables); only Linux has systemd itself.
 */
import { table } from "../../ffi/platform.ts";
import { SocketError } from "../core/errors.ts";
import { Socket } from "../socket/socket.ts";
import * as sys from "../core/sys.ts";

const C = table.constants;

/** The first passed fd: SD_LISTEN_FDS_START in sd-daemon.h (fixed by the protocol, not a libc fact). */
export const SD_LISTEN_FDS_START = 3;

/** Refuse absurd LISTEN_FDS values before touching any fd. */
const MAX_LISTEN_FDS = 65536;

/** One socket handed over by the service manager. */
export interface ActivatedSocket {
  /** The socket (owned by you now: close-on-exec set, like sd_listen_fds does). */
  readonly socket: Socket;
  /** Its name from LISTEN_FDNAMES, or "unknown" when none was given (as sd_listen_fds_with_names). */
  readonly name: string;
  /** SO_ACCEPTCONN: the socket is listening (a stream/seqpacket listener), not a datagram socket or a connection. */
  readonly listening: boolean;
}

/** Options for listenFds(). */
export interface ListenFdsOptions {
  /** Unset LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES (default true, as sd_listen_fds(1) does). */
  readonly unsetEnvironment?: boolean;
  /** The environment to read (default process.env). */
  readonly env?: Record<string, string | undefined>;
}

/**
 * The sockets systemd (or systemd-socket-activate, or any manager using the protocol) passed to
 * this process, in fd order: `[]` when there are none or they are meant for another pid.
 * Throws, before adopting any fd, when the variables are malformed (Error) or a passed fd is
 * not an open socket (SocketError ENOTSOCK / EBADF, naming the fd).
 *
 * ```ts
 * for (const { socket, name, listening } of listenFds()) { ... }
 * ```
 */
export function listenFds(options: ListenFdsOptions = {}): ActivatedSocket[] {
  const env = options.env ?? process.env;
  const pidText = env.LISTEN_PID;
  const fdsText = env.LISTEN_FDS;
  const namesText = env.LISTEN_FDNAMES;
  if (options.unsetEnvironment ?? true) {
    delete env.LISTEN_PID;
    delete env.LISTEN_FDS;
    delete env.LISTEN_FDNAMES;
  }
  if (pidText === undefined || fdsText === undefined) return [];
  if (!/^[0-9]+$/.test(pidText)) throw new Error(`listenFds: LISTEN_PID is not a pid: ${JSON.stringify(pidText)}`);
  if (Number(pidText) !== process.pid) return []; // inherited: meant for a parent
  if (!/^[0-9]+$/.test(fdsText) || Number(fdsText) > MAX_LISTEN_FDS) {
    throw new Error(`listenFds: LISTEN_FDS is not a count of fds: ${JSON.stringify(fdsText)}`);
  }
  const count = Number(fdsText);
  const names = namesText === undefined || namesText === "" ? null : namesText.split(":");
  if (names !== null && names.length !== count) {
    throw new Error(`listenFds: LISTEN_FDNAMES has ${names.length} names for ${count} fds`);
  }
  // Check every fd first, so a bad one leaves all of them untouched.
  const listening: boolean[] = [];
  for (let i = 0; i < count; i++) {
    const fd = SD_LISTEN_FDS_START + i;
    try {
      sys.getIntOption(fd, C.SOL_SOCKET, C.SO_TYPE); // ENOTSOCK / EBADF for anything else
      listening.push(sys.getIntOption(fd, C.SOL_SOCKET, C.SO_ACCEPTCONN) !== 0);
    } catch (e) {
      if (e instanceof SocketError) throw new SocketError(e.syscall, e.errno, { note: `LISTEN_FDS fd ${fd}` });
      throw e;
    }
  }
  const out: ActivatedSocket[] = [];
  for (let i = 0; i < count; i++) {
    const fd = SD_LISTEN_FDS_START + i;
    sys.setCloseOnExec(fd);
    out.push({ socket: Socket.fromFd(fd), name: names?.[i] ?? "unknown", listening: listening[i]! });
  }
  return out;
}
