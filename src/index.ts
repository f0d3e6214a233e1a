/**
 * bsdsock: the BSD socket API for Bun through bun:ffi.
 *
 * - `Socket`: a safe object over one socket fd (typed errors, timeouts, close-on-exec, no
 *   SIGPIPE, idempotent close, `using`), for every family and type the platform has.
 * - `AsyncSocket`: the same calls as promises on Bun's event loop (AbortSignal, timeouts,
 *   async iterators, WHATWG streams); `stopReactor` releases its readiness thread.
 * - `getaddrinfo`, `getnameinfo`, `createConnection`: name resolution through libc.
 * - `listenFds`: the sockets of systemd socket activation (LISTEN_FDS).
 * - `notify`, `watchdogInterval`, `startWatchdog`: systemd's sd_notify protocol (READY=1, STATUS=,
 *   FDSTORE= fds, the watchdog keep-alive).
 * - `Rtnetlink`: interfaces, addresses, routes and their changes over AF_NETLINK (Linux).
 * - `attachFilter`, `setPromiscuous`: packet capture on AF_PACKET sockets (Linux).
 * - `Poller`: wait for readiness on many fds (epoll, kqueue or poll).
 * - `posix`: the C-shaped layer (socket/bind/listen/accept/connect/send/recv/close returning -1
 *   and setting errno, perror, htons, inet_pton, sockaddr_in...), for near-literal C ports.
 * - `SocketError`, `SocketTimeoutError`, `AddressInfoError`: errors with syscall, errno, code.
 * - `constants`, `platform`: the running platform's generated constants and layouts.
 */
import { platformKey, table } from "../ffi/platform.ts";
import type { Constants, PlatformTable } from "../ffi/table.ts";

/** The C-shaped layer (also importable as "bsdsock/posix"): C names, -1 and errno. */
export * as posix from "./posix.ts";
export {
  Socket, type ConnectOptions, type Data, type FromFdOptions, type ListenOptions, type SendFileOptions, type SocketOptions,
} from "./socket/socket.ts";
export {
  AsyncSocket, type AsyncConnectOptions, type AsyncCreateConnectionOptions, type AsyncRecvIntoOptions,
  type AsyncRecvOptions, type AsyncSendOptions, type ConnectionsOptions, type Datagram, type OperationOptions,
} from "./async/async.ts";
export { SocketDuplex, type DuplexAddressInfo, type ToDuplexOptions } from "./async/duplex.ts";
export { reactorReady, stopReactor } from "./async/reactor.ts";
export { SD_LISTEN_FDS_START, listenFds, type ActivatedSocket, type ListenFdsOptions } from "./linux/activation.ts";
export {
  notify, startWatchdog, watchdogInterval, type NotifyOptions, type NotifyState, type StartWatchdogOptions, type Watchdog,
  type WatchdogIntervalOptions,
} from "./linux/notify.ts";
export {
  SocketAbortError, SocketError, SocketTimeoutError, errnoName, errnoNumbers, strerror, type SocketErrorDetails,
} from "./core/errors.ts";
export {
  AddressInfoError, createConnection, getaddrinfo, getnameinfo, interfaceName, type AddrInfo,
  type CreateConnectionOptions, type LookupOptions, type NameInfoOptions,
} from "./socket/resolve.ts";
export {
  formatAddress, type Address, type Inet6Address, type InetAddress, type NetlinkAddress, type PacketAddress, type RawAddress,
  type UnixAddress,
} from "./core/sockaddr.ts";
export { attachFilter, bpf, detachFilter, htons16, setPromiscuous, udpPortFilter, type BpfInstruction } from "./linux/packet.ts";
export {
  Rtnetlink, dumpRequest, parseAddress, parseAttributes, parseLink, parseMessages, type Attribute, type InterfaceAddress,
  type LinkInfo, type NetlinkMessage, type RoutesOptions, type RtEvent, type RtnetlinkOptions,
} from "./linux/netlink.ts";
export { formatRoute, listedByIp, parseRoute, tableId, type NextHop, type Route, type RouteCacheInfo } from "./linux/routes.ts";
export { formatLinkAddress, formatNeighbour, listedByIpNeigh, parseNeighbour, type Neighbour } from "./linux/neighbours.ts";
export {
  options, type GettableOption, type Linger, type MembershipV4, type MembershipV6, type OptionName,
  type MptcpInfo, type OptionValue, type SettableOption, type TcpInfo, type Ucred,
} from "./socket/options.ts";
export {
  SCM_MAX_FD, cmsgLen, cmsgSpace, decodeTimestamp, timestampMs, type ControlMessage, type Credentials, type KernelTimestamp,
  type RecvMsgOptions, type RecvMsgResult, type SendMsgOptions, type WallTime,
} from "./socket/msg.ts";
export { decodePacketInfo, type PacketInfo, type PacketSource } from "./socket/pktinfo.ts";
export { decodeZeroCopy, type ZeroCopyCompletion, type ZeroCopyResult } from "./linux/zerocopy.ts";
export { TunDevice, type TunOptions } from "./linux/tun.ts";
export { realtimeNow } from "./core/clock.ts";
export { type ReceivedDatagram } from "./socket/mmsg.ts";
export {
  Poller, READY_ERROR, READY_HANGUP, READY_READ, READY_WRITE, availableBackends, defaultBackend, type Interest,
  type PollerBackend, type PollerHandle, type PollerOptions, type Readiness,
} from "./poller/poller.ts";
export {
  familyLabel, typeLabel, type Family, type Protocol, type ShutdownHow, type SocketType,
} from "./core/constants.ts";

/** The running platform's socket constants (AF_INET, SOCK_STREAM, MSG_PEEK...), generated from its headers. */
export const constants: Constants = table.constants;

/** The running platform: its key (e.g. "linux-x64-glibc") and full generated table. */
export const platform: { readonly key: string; readonly table: PlatformTable } = { key: platformKey, table };
