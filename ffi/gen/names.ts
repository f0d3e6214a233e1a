/**
 * The names the platform tables carry: which constants, scalar types and struct fields
 * bsdsock needs from the C headers. Only names live here; every value is read from the
 * headers by compiling ffi/gen/probe.c (see generate.ts), never typed by hand.
 *
 * `required` names exist on every supported platform (Linux glibc/musl, macOS); the
 * generator fails if one is missing. `optional` names may be absent (null in the table).
 */

/** Headers the probe includes, in order. Platform-specific ones carry a guard. */
export const headers: readonly { readonly header: string; readonly guard?: string }[] = [
  { header: "stddef.h" },
  { header: "stdio.h" },
  { header: "stdlib.h" },
  { header: "errno.h" },
  { header: "fcntl.h" },
  { header: "poll.h" },
  { header: "unistd.h" },
  { header: "sys/types.h" },
  { header: "sys/socket.h" },
  { header: "sys/un.h" },
  { header: "sys/uio.h" },
  { header: "sys/time.h" },
  { header: "netinet/in.h" },
  { header: "netinet/tcp.h" },
  { header: "netinet/udp.h" },
  { header: "netinet/icmp6.h" },
  { header: "arpa/inet.h" },
  { header: "netdb.h" },
  { header: "net/if.h" },
  { header: "time.h" },
  { header: "signal.h" },
  { header: "sys/epoll.h", guard: "defined(__linux__)" },
  { header: "sys/event.h", guard: "defined(__APPLE__)" },
  { header: "linux/version.h", guard: "defined(__linux__)" },
  { header: "linux/net_tstamp.h", guard: "defined(__linux__)" },
  { header: "linux/errqueue.h", guard: "defined(__linux__)" },
  { header: "linux/netlink.h", guard: "defined(__linux__)" },
  { header: "linux/rtnetlink.h", guard: "defined(__linux__)" },
  // RTCF_* (the flags of a cloned IPv4 route, above rtm_flags' low 16 bits); macros only, no includes
  { header: "linux/in_route.h", guard: "defined(__linux__)" },
  // IF_OPER_*; glibc's <net/if.h> and <linux/if.h> coexist (linux/libc-compat.h), musl's do not.
  { header: "linux/if.h", guard: "defined(__linux__) && defined(__GLIBC__)" },
  { header: "linux/if_packet.h", guard: "defined(__linux__)" },
  // struct mptcp_info, MPTCP_INFO; it includes <linux/in.h>, which only glibc's headers coexist with.
  { header: "linux/mptcp.h", guard: "defined(__linux__) && defined(__GLIBC__)" },
  { header: "linux/if_ether.h", guard: "defined(__linux__)" },
  // TUNSETIFF, IFF_TUN/IFF_TAP/IFF_NO_PI (TUN/TAP devices); <sys/ioctl.h> brings the _IOW it uses
  { header: "sys/ioctl.h", guard: "defined(__linux__)" },
  { header: "linux/if_tun.h", guard: "defined(__linux__)" },
  // SIOCOUTQ, SIOCINQ: neither glibc's nor musl's <sys/ioctl.h> defines them (musl has only TIOCOUTQ/TIOCINQ)
  { header: "linux/sockios.h", guard: "defined(__linux__)" },
  // NDA_*, NUD_*, NTF_* (neighbour table). (<linux/icmpv6.h>, with ICMPV6_ROUTER_PREF_*, clashes
  // with <netinet/icmp6.h>; a route's preference is RFC 4191's two-bit field, see netlink.ts.)
  { header: "linux/neighbour.h", guard: "defined(__linux__)" },
  { header: "linux/filter.h", guard: "defined(__linux__)" },
  { header: "net/if_arp.h", guard: "defined(__linux__)" },
];

export const requiredConstants = [
  // families
  "AF_UNSPEC", "AF_UNIX", "AF_LOCAL", "AF_INET", "AF_INET6",
  // types
  "SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "SOCK_SEQPACKET", "SOCK_RDM",
  // levels
  "SOL_SOCKET",
  // SOL_SOCKET options
  "SO_DEBUG", "SO_REUSEADDR", "SO_REUSEPORT", "SO_TYPE", "SO_ERROR", "SO_DONTROUTE",
  "SO_BROADCAST", "SO_SNDBUF", "SO_RCVBUF", "SO_KEEPALIVE", "SO_OOBINLINE", "SO_LINGER",
  "SO_RCVLOWAT", "SO_SNDLOWAT", "SO_RCVTIMEO", "SO_SNDTIMEO", "SO_ACCEPTCONN", "SO_TIMESTAMP",
  // protocols
  "IPPROTO_IP", "IPPROTO_ICMP", "IPPROTO_IGMP", "IPPROTO_TCP", "IPPROTO_UDP", "IPPROTO_IPV6",
  "IPPROTO_ICMPV6", "IPPROTO_RAW",
  // IPv4 options
  "IP_TOS", "IP_TTL", "IP_HDRINCL", "IP_OPTIONS", "IP_RECVTTL", "IP_RECVTOS",
  "IP_MULTICAST_IF", "IP_MULTICAST_TTL", "IP_MULTICAST_LOOP", "IP_ADD_MEMBERSHIP",
  "IP_DROP_MEMBERSHIP", "IP_ADD_SOURCE_MEMBERSHIP", "IP_DROP_SOURCE_MEMBERSHIP",
  // IPv6 options
  "IPV6_V6ONLY", "IPV6_UNICAST_HOPS", "IPV6_MULTICAST_IF", "IPV6_MULTICAST_HOPS",
  "IPV6_MULTICAST_LOOP", "IPV6_JOIN_GROUP", "IPV6_LEAVE_GROUP", "IPV6_RECVPKTINFO",
  "IPV6_PKTINFO", "IPV6_RECVHOPLIMIT", "IPV6_HOPLIMIT", "IPV6_TCLASS", "IPV6_RECVTCLASS",
  "IPV6_CHECKSUM", "ICMP6_FILTER",
  // TCP options
  "TCP_NODELAY", "TCP_MAXSEG", "TCP_KEEPINTVL", "TCP_KEEPCNT", "TCP_FASTOPEN",
  // message flags
  "MSG_OOB", "MSG_PEEK", "MSG_DONTROUTE", "MSG_CTRUNC", "MSG_TRUNC", "MSG_DONTWAIT",
  "MSG_EOR", "MSG_WAITALL",
  // shutdown
  "SHUT_RD", "SHUT_WR", "SHUT_RDWR",
  // control messages
  "SCM_RIGHTS",
  // addresses and sizes
  "INADDR_ANY", "INADDR_LOOPBACK", "INADDR_BROADCAST", "INADDR_NONE",
  "INET_ADDRSTRLEN", "INET6_ADDRSTRLEN", "SOMAXCONN", "IF_NAMESIZE",
  // fcntl
  "F_GETFL", "F_SETFL", "F_GETFD", "F_SETFD", "F_DUPFD", "F_DUPFD_CLOEXEC", "O_NONBLOCK",
  "FD_CLOEXEC",
  // poll
  "POLLIN", "POLLPRI", "POLLOUT", "POLLERR", "POLLHUP", "POLLNVAL",
  // getaddrinfo / getnameinfo
  "EAI_AGAIN", "EAI_BADFLAGS", "EAI_FAIL", "EAI_FAMILY", "EAI_MEMORY", "EAI_NONAME",
  "EAI_SERVICE", "EAI_SOCKTYPE", "EAI_SYSTEM", "EAI_OVERFLOW",
  "AI_PASSIVE", "AI_CANONNAME", "AI_NUMERICHOST", "AI_NUMERICSERV", "AI_V4MAPPED", "AI_ALL",
  "AI_ADDRCONFIG", "NI_NUMERICHOST", "NI_NUMERICSERV", "NI_NAMEREQD", "NI_DGRAM", "NI_NOFQDN",
  "NI_MAXHOST", "NI_MAXSERV",
  // stdlib
  "EXIT_SUCCESS", "EXIT_FAILURE",
] as const;

export const optionalConstants = [
  "AF_NETLINK", "AF_PACKET", "AF_VSOCK",
  "SOCK_NONBLOCK", "SOCK_CLOEXEC",
  "SOL_IP", "SOL_IPV6", "SOL_TCP", "SOL_UDP",
  "SO_SNDBUFFORCE", "SO_RCVBUFFORCE", "SO_NO_CHECK", "SO_PRIORITY", "SO_BSDCOMPAT",
  "SO_PASSCRED", "SO_PEERCRED", "SO_BINDTODEVICE", "SO_DOMAIN", "SO_PROTOCOL", "SO_MARK",
  "SO_TIMESTAMPNS", "SO_BUSY_POLL", "SO_INCOMING_CPU", "SO_PEEK_OFF", "SO_PASSSEC",
  "SO_PEERSEC", "SO_ZEROCOPY", "SO_NOSIGPIPE", "SO_NREAD", "SO_NWRITE", "SO_LINGER_SEC",
  "SO_RCVTIMEO_OLD", "SO_SNDTIMEO_OLD", "SO_RCVTIMEO_NEW", "SO_SNDTIMEO_NEW",
  "IPPROTO_SCTP", "IPPROTO_UDPLITE", "IPPROTO_MPTCP",
  "IP_RECVERR", "IP_PKTINFO", "IP_MTU_DISCOVER", "IP_MTU", "IP_FREEBIND", "IP_TRANSPARENT",
  "IP_BIND_ADDRESS_NO_PORT", "IP_RECVORIGDSTADDR", "IP_BOUND_IF", "IP_RECVDSTADDR",
  "IPV6_ADD_MEMBERSHIP", "IPV6_DROP_MEMBERSHIP", "IPV6_RECVERR", "IPV6_MTU",
  "IPV6_MTU_DISCOVER", "IPV6_BOUND_IF",
  "TCP_CORK", "TCP_KEEPIDLE", "TCP_KEEPALIVE", "TCP_SYNCNT", "TCP_LINGER2",
  "TCP_DEFER_ACCEPT", "TCP_WINDOW_CLAMP", "TCP_INFO", "TCP_QUICKACK", "TCP_CONGESTION",
  "TCP_USER_TIMEOUT", "TCP_FASTOPEN_CONNECT", "TCP_NOTSENT_LOWAT", "TCP_CONNECTION_INFO",
  "UDP_CORK", "UDP_SEGMENT", "UDP_GRO",
  "MSG_NOSIGNAL", "MSG_MORE", "MSG_CMSG_CLOEXEC", "MSG_ERRQUEUE", "MSG_CONFIRM",
  "MSG_FASTOPEN", "MSG_ZEROCOPY", "MSG_WAITFORONE",
  "SCM_CREDENTIALS", "SCM_CREDS", "SCM_TIMESTAMP", "SCM_TIMESTAMPNS",
  // kernel timestamps (SO_TIMESTAMPING and its flags: Linux, <linux/net_tstamp.h>)
  "SO_TIMESTAMPING", "SCM_TIMESTAMPING", "SOF_TIMESTAMPING_TX_SOFTWARE",
  "SOF_TIMESTAMPING_RX_SOFTWARE", "SOF_TIMESTAMPING_SOFTWARE", "SOF_TIMESTAMPING_OPT_TSONLY", "SOF_TIMESTAMPING_OPT_ID", "SCM_TSTAMP_SND", "SO_EE_ORIGIN_TIMESTAMPING",
  // the error queue (<linux/errqueue.h>): MSG_ZEROCOPY completions
  "SO_EE_ORIGIN_ZEROCOPY", "SO_EE_CODE_ZEROCOPY_COPIED",
  // MPTCP (SOL_MPTCP options; TCP_IS_MPTCP is in kernel headers from 6.10 on) and TCP Fast Open
  "SOL_MPTCP", "MPTCP_INFO", "MPTCP_INFO_FLAG_FALLBACK", "MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED", "TCP_IS_MPTCP",
  "TCPI_OPT_SYN_DATA",
  // clocks (clock_gettime)
  "CLOCK_REALTIME", "CLOCK_MONOTONIC",
  // signals (sendfile has no MSG_NOSIGNAL: SIGPIPE is blocked and consumed around it)
  "SIGPIPE", "SIG_BLOCK", "SIG_SETMASK",
  // netlink / rtnetlink, AF_PACKET, classic BPF, interface flags (Linux)
  "NETLINK_ROUTE", "NLM_F_REQUEST", "NLM_F_MULTI", "NLM_F_ACK", "NLM_F_DUMP", "NLMSG_NOOP",
  "NLMSG_ERROR", "NLMSG_DONE", "NLMSG_ALIGNTO", "RTA_ALIGNTO", "RTM_NEWLINK", "RTM_DELLINK",
  "RTM_GETLINK", "RTM_NEWADDR", "RTM_DELADDR", "RTM_GETADDR", "RTMGRP_LINK", "RTMGRP_IPV4_IFADDR",
  // routes and neighbours (rtnetlink): attributes, types, scopes, tables, metrics, flags, states
  "RTA_DST", "RTA_SRC", "RTA_IIF", "RTA_OIF", "RTA_GATEWAY", "RTA_PRIORITY", "RTA_PREFSRC", "RTA_METRICS",
  "RTA_MULTIPATH", "RTA_FLOW", "RTA_CACHEINFO", "RTA_TABLE", "RTA_MARK", "RTA_PREF", "RTA_EXPIRES", "RTA_VIA",
  "RTA_NH_ID", "RTN_UNSPEC", "RTN_UNICAST", "RTN_LOCAL", "RTN_BROADCAST", "RTN_ANYCAST", "RTN_MULTICAST", "RTN_BLACKHOLE",
  "RTN_UNREACHABLE", "RTN_PROHIBIT", "RTN_THROW", "RTN_NAT", "RTN_XRESOLVE", "RT_SCOPE_UNIVERSE", "RT_SCOPE_SITE", "RT_SCOPE_LINK",
  "RT_SCOPE_HOST", "RT_SCOPE_NOWHERE", "RT_TABLE_UNSPEC", "RT_TABLE_DEFAULT", "RT_TABLE_MAIN", "RT_TABLE_LOCAL", "RTAX_LOCK", "RTAX_MTU",
  "RTAX_WINDOW", "RTAX_RTT", "RTAX_RTTVAR", "RTAX_SSTHRESH", "RTAX_CWND", "RTAX_ADVMSS", "RTAX_REORDERING", "RTAX_HOPLIMIT",
  "RTAX_INITCWND", "RTAX_FEATURES", "RTAX_RTO_MIN", "RTAX_INITRWND", "RTAX_QUICKACK", "RTAX_CC_ALGO", "RTAX_FASTOPEN_NO_COOKIE", "NDA_DST",
  "NDA_LLADDR", "NDA_CACHEINFO", "NDA_PROBES", "RTM_NEWROUTE", "RTM_DELROUTE", "RTM_GETROUTE", "RTM_NEWNEIGH", "RTM_DELNEIGH",
  "RTM_GETNEIGH", "RTMGRP_IPV4_ROUTE", "RTMGRP_IPV6_ROUTE", "RTMGRP_NEIGH", "RTPROT_UNSPEC", "RTPROT_REDIRECT", "RTPROT_KERNEL", "RTPROT_BOOT",
  "RTPROT_STATIC", "RTPROT_RA", "RTPROT_DHCP", "RTPROT_BABEL", "RTPROT_BGP", "RTPROT_ISIS", "RTPROT_OSPF", "RTPROT_RIP",
  "RTPROT_EIGRP", "RTNH_F_DEAD", "RTNH_F_PERVASIVE", "RTNH_F_ONLINK", "RTNH_F_OFFLOAD", "RTNH_F_LINKDOWN", "RTNH_F_UNRESOLVED", "RTNH_F_TRAP",
  "RTM_F_CLONED", "RTM_F_NOTIFY", "NUD_INCOMPLETE", "NUD_REACHABLE", "NUD_STALE", "NUD_DELAY", "NUD_PROBE", "NUD_FAILED",
  "NUD_NOARP", "NUD_PERMANENT", "NUD_NONE", "NTF_USE", "NTF_SELF", "NTF_MASTER", "NTF_PROXY", "NTF_EXT_LEARNED",
  "NTF_OFFLOADED", "NTF_ROUTER", "NLMSG_MIN_TYPE", "NLM_F_CREATE", "IFA_F_NODAD", "IFA_FLAGS", "NETLINK_EXT_ACK", "NLMSGERR_ATTR_MSG", "NLM_F_ACK_TLVS", "NLM_F_CAPPED", "NETLINK_GET_STRICT_CHK", "NLM_F_DUMP_FILTERED", "NLM_F_DUMP_INTR",
  // IPv4 routing cache flags (<linux/in_route.h>): a cloned route's rtm_flags, as `ip route show table cache` prints them
  "RTCF_LOCAL", "RTCF_REJECT", "RTCF_MULTICAST", "RTCF_BROADCAST", "RTCF_DNAT", "RTCF_SNAT", "RTCF_MASQ", "RTCF_DIRECTDST",
  "RTCF_DIRECTSRC", "RTCF_REDIRECTED", "RTCF_DOREDIRECT", "RTCF_FAST", "RTCF_NOTIFY", "RTCF_TPROXY",
  // TUN/TAP (/dev/net/tun) and opening it
  "TUNSETIFF", "IFF_TUN", "IFF_TAP", "IFF_NO_PI", "O_RDWR", "O_CLOEXEC",
  // socket queue ioctls (Linux): zero-copy sends use SIOCOUTQ (bytes sent but not yet acknowledged)
  // to tell whether a failed connection left data unacknowledged
  "SIOCOUTQ", "SIOCINQ",
  // tcpi_state's TCP_CLOSE (an enum in <netinet/tcp.h>, hence the guard): a connection that is
  // closed, not half-closed, when zero-copy sends find their completions after a hang-up
  "TCP_CLOSE",
  "NLM_F_EXCL", "NLM_F_REPLACE",
  "RTMGRP_IPV6_IFADDR", "SOL_NETLINK", "NETLINK_ADD_MEMBERSHIP", "IFF_UP", "IFF_LOOPBACK",
  "IFF_RUNNING", "IFF_BROADCAST", "IFF_MULTICAST", "IFF_NOARP", "IFF_POINTOPOINT", "SOL_PACKET",
  "PACKET_ADD_MEMBERSHIP", "PACKET_DROP_MEMBERSHIP", "PACKET_MR_PROMISC", "PACKET_HOST",
  "PACKET_BROADCAST", "PACKET_MULTICAST", "PACKET_OTHERHOST", "PACKET_OUTGOING", "ETH_P_ALL",
  "ETH_P_IP", "ETH_P_IPV6", "ETH_P_ARP", "ETH_HLEN", "ETH_ALEN", "SO_ATTACH_FILTER",
  "SO_DETACH_FILTER", "BPF_LD", "BPF_LDX", "BPF_JMP", "BPF_RET", "BPF_ALU", "BPF_W", "BPF_H",
  "BPF_B", "BPF_ABS", "BPF_IND", "BPF_MSH", "BPF_JEQ", "BPF_JGT", "BPF_JSET", "BPF_K", "BPF_X",
  "BPF_AND", "BPF_MAXINSNS", "ARPHRD_ETHER", "ARPHRD_LOOPBACK", "ARPHRD_NONE", "IFLA_ADDRESS",
  "IFLA_BROADCAST", "IFLA_IFNAME", "IFLA_MTU", "IFLA_LINK", "IFLA_OPERSTATE", "IFA_ADDRESS",
  "IFA_LOCAL", "IFA_LABEL", "IFA_BROADCAST", "IF_OPER_UNKNOWN", "IF_OPER_NOTPRESENT",
  "IF_OPER_DOWN", "IF_OPER_LOWERLAYERDOWN", "IF_OPER_TESTING", "IF_OPER_DORMANT", "IF_OPER_UP",
  "POLLRDHUP",
  "EAI_ADDRFAMILY", "EAI_NODATA",
  "EPOLLIN", "EPOLLPRI", "EPOLLOUT", "EPOLLERR", "EPOLLHUP", "EPOLLRDHUP", "EPOLLET",
  "EPOLLONESHOT", "EPOLLEXCLUSIVE", "EPOLL_CTL_ADD", "EPOLL_CTL_MOD", "EPOLL_CTL_DEL",
  "EPOLL_CLOEXEC",
  // kqueue (macOS, <sys/event.h>)
  "EVFILT_READ", "EVFILT_WRITE", "EV_ADD", "EV_DELETE", "EV_ENABLE", "EV_DISABLE", "EV_ONESHOT",
  "EV_CLEAR", "EV_EOF", "EV_ERROR",
] as const;

/**
 * Optional constants that are enum members rather than macros (so `#ifdef` cannot see them):
 * the probe reads them where the guard holds and records them absent elsewhere.
 */
export const constantGuards: { readonly [K in (typeof optionalConstants)[number]]?: string } = {
  TCP_CLOSE: "defined(__linux__)",
  SOF_TIMESTAMPING_TX_SOFTWARE: "defined(__linux__)",
  SOF_TIMESTAMPING_RX_SOFTWARE: "defined(__linux__)",
  SOF_TIMESTAMPING_SOFTWARE: "defined(__linux__)",
  SOF_TIMESTAMPING_OPT_TSONLY: "defined(__linux__)",
  SOF_TIMESTAMPING_OPT_ID: "defined(__linux__)",
  SCM_TSTAMP_SND: "defined(__linux__)",
  IFLA_ADDRESS: "defined(__linux__)",
  IFLA_BROADCAST: "defined(__linux__)",
  IFLA_IFNAME: "defined(__linux__)",
  IFLA_MTU: "defined(__linux__)",
  IFLA_LINK: "defined(__linux__)",
  IFLA_OPERSTATE: "defined(__linux__)",
  RTA_DST: "defined(__linux__)",
  RTA_SRC: "defined(__linux__)",
  RTA_IIF: "defined(__linux__)",
  RTA_OIF: "defined(__linux__)",
  RTA_GATEWAY: "defined(__linux__)",
  RTA_PRIORITY: "defined(__linux__)",
  RTA_PREFSRC: "defined(__linux__)",
  RTA_METRICS: "defined(__linux__)",
  RTA_MULTIPATH: "defined(__linux__)",
  RTA_FLOW: "defined(__linux__)",
  RTA_CACHEINFO: "defined(__linux__)",
  RTA_TABLE: "defined(__linux__)",
  RTA_MARK: "defined(__linux__)",
  RTA_PREF: "defined(__linux__)",
  RTA_EXPIRES: "defined(__linux__)",
  RTA_VIA: "defined(__linux__)",
  RTA_NH_ID: "defined(__linux__)",
  RTN_UNSPEC: "defined(__linux__)",
  RTN_UNICAST: "defined(__linux__)",
  RTN_LOCAL: "defined(__linux__)",
  RTN_BROADCAST: "defined(__linux__)",
  RTN_ANYCAST: "defined(__linux__)",
  RTN_MULTICAST: "defined(__linux__)",
  RTN_BLACKHOLE: "defined(__linux__)",
  RTN_UNREACHABLE: "defined(__linux__)",
  RTN_PROHIBIT: "defined(__linux__)",
  RTN_THROW: "defined(__linux__)",
  RTN_NAT: "defined(__linux__)",
  RTN_XRESOLVE: "defined(__linux__)",
  RT_SCOPE_UNIVERSE: "defined(__linux__)",
  RT_SCOPE_SITE: "defined(__linux__)",
  RT_SCOPE_LINK: "defined(__linux__)",
  RT_SCOPE_HOST: "defined(__linux__)",
  RT_SCOPE_NOWHERE: "defined(__linux__)",
  RT_TABLE_UNSPEC: "defined(__linux__)",
  RT_TABLE_DEFAULT: "defined(__linux__)",
  RT_TABLE_MAIN: "defined(__linux__)",
  RT_TABLE_LOCAL: "defined(__linux__)",
  RTAX_LOCK: "defined(__linux__)",
  RTAX_MTU: "defined(__linux__)",
  RTAX_WINDOW: "defined(__linux__)",
  RTAX_RTT: "defined(__linux__)",
  RTAX_RTTVAR: "defined(__linux__)",
  RTAX_SSTHRESH: "defined(__linux__)",
  RTAX_CWND: "defined(__linux__)",
  RTAX_ADVMSS: "defined(__linux__)",
  RTAX_REORDERING: "defined(__linux__)",
  RTAX_HOPLIMIT: "defined(__linux__)",
  RTAX_INITCWND: "defined(__linux__)",
  RTAX_FEATURES: "defined(__linux__)",
  RTAX_RTO_MIN: "defined(__linux__)",
  RTAX_INITRWND: "defined(__linux__)",
  RTAX_QUICKACK: "defined(__linux__)",
  RTAX_CC_ALGO: "defined(__linux__)",
  RTAX_FASTOPEN_NO_COOKIE: "defined(__linux__)",
  NDA_DST: "defined(__linux__)",
  NDA_LLADDR: "defined(__linux__)",
  NDA_CACHEINFO: "defined(__linux__)",
  NDA_PROBES: "defined(__linux__)",
  IFA_FLAGS: "defined(__linux__)",
  NLMSGERR_ATTR_MSG: "defined(__linux__)",
  IFA_ADDRESS: "defined(__linux__)",
  IFA_LOCAL: "defined(__linux__)",
  IFA_LABEL: "defined(__linux__)",
  IFA_BROADCAST: "defined(__linux__)",
  IF_OPER_UNKNOWN: "defined(__linux__) && defined(__GLIBC__)",
  IF_OPER_NOTPRESENT: "defined(__linux__) && defined(__GLIBC__)",
  IF_OPER_DOWN: "defined(__linux__) && defined(__GLIBC__)",
  IF_OPER_LOWERLAYERDOWN: "defined(__linux__) && defined(__GLIBC__)",
  IF_OPER_TESTING: "defined(__linux__) && defined(__GLIBC__)",
  IF_OPER_DORMANT: "defined(__linux__) && defined(__GLIBC__)",
  IF_OPER_UP: "defined(__linux__) && defined(__GLIBC__)",
};

/** The C #if condition under which constant `name` exists. */
export function constantCondition(name: string): string {
  return (constantGuards as Record<string, string | undefined>)[name] ?? `defined(${name})`;
}

/** C expressions whose value is a platform fact (macros with arguments, etc.). */
export const expressions = {
  CMSG_LEN_0: "CMSG_LEN(0)",
  CMSG_SPACE_0: "CMSG_SPACE(0)",
  CMSG_SPACE_1: "CMSG_SPACE(1)",
  CMSG_SPACE_4: "CMSG_SPACE(4)",
  CMSG_SPACE_8: "CMSG_SPACE(8)",
  LITTLE_ENDIAN: "(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)",
} as const;

/** Scalar C types whose size the FFI layer relies on. */
export const scalars = [
  "char", "short", "int", "long", "long long", "void *", "size_t", "ssize_t",
  "socklen_t", "sa_family_t", "in_port_t", "in_addr_t", "time_t", "suseconds_t",
  "nfds_t", "pid_t", "uid_t", "gid_t", "off_t", "sigset_t",
] as const;

/** A struct field: plain name, or a name present only where `guard` (a C #if expr) holds. */
export type FieldSpec = string | { readonly name: string; readonly guard: string };

export interface StructSpec {
  /** C type, e.g. "struct sockaddr_in". */
  readonly type: string;
  readonly fields: readonly FieldSpec[];
  /** C #if expression; the struct is absent (null) where it does not hold. */
  readonly guard?: string;
}

const apple = "defined(__APPLE__)";
const linux = "defined(__linux__)";

export const structs = {
  sockaddr: {
    type: "struct sockaddr",
    fields: [{ name: "sa_len", guard: apple }, "sa_family", "sa_data"],
  },
  sockaddr_in: {
    type: "struct sockaddr_in",
    fields: [{ name: "sin_len", guard: apple }, "sin_family", "sin_port", "sin_addr", "sin_zero"],
  },
  in_addr: { type: "struct in_addr", fields: ["s_addr"] },
  sockaddr_in6: {
    type: "struct sockaddr_in6",
    fields: [{ name: "sin6_len", guard: apple }, "sin6_family", "sin6_port", "sin6_flowinfo",
      "sin6_addr", "sin6_scope_id"],
  },
  in6_addr: { type: "struct in6_addr", fields: ["s6_addr"] },
  sockaddr_un: {
    type: "struct sockaddr_un",
    fields: [{ name: "sun_len", guard: apple }, "sun_family", "sun_path"],
  },
  sockaddr_storage: {
    type: "struct sockaddr_storage",
    fields: [{ name: "ss_len", guard: apple }, "ss_family"],
  },
  iovec: { type: "struct iovec", fields: ["iov_base", "iov_len"] },
  msghdr: {
    type: "struct msghdr",
    fields: ["msg_name", "msg_namelen", "msg_iov", "msg_iovlen", "msg_control",
      "msg_controllen", "msg_flags"],
  },
  cmsghdr: { type: "struct cmsghdr", fields: ["cmsg_len", "cmsg_level", "cmsg_type"] },
  pollfd: { type: "struct pollfd", fields: ["fd", "events", "revents"] },
  linger: { type: "struct linger", fields: ["l_onoff", "l_linger"] },
  timeval: { type: "struct timeval", fields: ["tv_sec", "tv_usec"] },
  timespec: { type: "struct timespec", fields: ["tv_sec", "tv_nsec"] },
  ip_mreq: { type: "struct ip_mreq", fields: ["imr_multiaddr", "imr_interface"] },
  ipv6_mreq: { type: "struct ipv6_mreq", fields: ["ipv6mr_multiaddr", "ipv6mr_interface"] },
  addrinfo: {
    type: "struct addrinfo",
    fields: ["ai_flags", "ai_family", "ai_socktype", "ai_protocol", "ai_addrlen", "ai_addr",
      "ai_canonname", "ai_next"],
  },
  ucred: { type: "struct ucred", fields: ["pid", "uid", "gid"], guard: linux },
  ip_mreqn: {
    type: "struct ip_mreqn",
    fields: ["imr_multiaddr", "imr_address", "imr_ifindex"],
    guard: linux,
  },
  mmsghdr: { type: "struct mmsghdr", fields: ["msg_hdr", "msg_len"], guard: linux },
  scm_timestamping: { type: "struct scm_timestamping", fields: ["ts"], guard: linux },
  sockaddr_nl: { type: "struct sockaddr_nl", fields: ["nl_family", "nl_pid", "nl_groups"], guard: linux },
  nlmsghdr: {
    type: "struct nlmsghdr",
    fields: ["nlmsg_len", "nlmsg_type", "nlmsg_flags", "nlmsg_seq", "nlmsg_pid"],
    guard: linux,
  },
  nlmsgerr: { type: "struct nlmsgerr", fields: ["error", "msg"], guard: linux },
  rtattr: { type: "struct rtattr", fields: ["rta_len", "rta_type"], guard: linux },
  ifinfomsg: {
    type: "struct ifinfomsg",
    fields: ["ifi_family", "ifi_type", "ifi_index", "ifi_flags", "ifi_change"],
    guard: linux,
  },
  rtmsg: {
    type: "struct rtmsg",
    fields: ["rtm_family", "rtm_dst_len", "rtm_src_len", "rtm_tos", "rtm_table", "rtm_protocol", "rtm_scope", "rtm_type", "rtm_flags"],
    guard: linux,
  },
  rtnexthop: { type: "struct rtnexthop", fields: ["rtnh_len", "rtnh_flags", "rtnh_hops", "rtnh_ifindex"], guard: linux },
  rta_cacheinfo: { type: "struct rta_cacheinfo", fields: ["rta_clntref", "rta_lastuse", "rta_expires", "rta_error", "rta_used", "rta_id", "rta_ts", "rta_tsage"], guard: linux },
  ndmsg: { type: "struct ndmsg", fields: ["ndm_family", "ndm_ifindex", "ndm_state", "ndm_flags", "ndm_type"], guard: linux },
  ifreq: { type: "struct ifreq", fields: ["ifr_name", "ifr_flags"], guard: linux },
  ifaddrmsg: {
    type: "struct ifaddrmsg",
    fields: ["ifa_family", "ifa_prefixlen", "ifa_flags", "ifa_scope", "ifa_index"],
    guard: linux,
  },
  sockaddr_ll: {
    type: "struct sockaddr_ll",
    fields: ["sll_family", "sll_protocol", "sll_ifindex", "sll_hatype", "sll_pkttype", "sll_halen", "sll_addr"],
    guard: linux,
  },
  packet_mreq: {
    type: "struct packet_mreq",
    fields: ["mr_ifindex", "mr_type", "mr_alen", "mr_address"],
    guard: linux,
  },
  sock_filter: { type: "struct sock_filter", fields: ["code", "jt", "jf", "k"], guard: linux },
  sock_fprog: { type: "struct sock_fprog", fields: ["len", "filter"], guard: linux },
  epoll_event: { type: "struct epoll_event", fields: ["events", "data"], guard: linux },
  kevent: {
    type: "struct kevent",
    fields: ["ident", "filter", "flags", "fflags", "data", "udata"],
    guard: apple,
  },
  tcp_info: {
    type: "struct tcp_info",
    guard: linux,
    fields: ["tcpi_state", "tcpi_ca_state", "tcpi_retransmits", "tcpi_probes", "tcpi_backoff",
      "tcpi_options", "tcpi_rto", "tcpi_ato", "tcpi_snd_mss", "tcpi_rcv_mss", "tcpi_unacked",
      "tcpi_sacked", "tcpi_lost", "tcpi_retrans", "tcpi_fackets", "tcpi_last_data_sent",
      "tcpi_last_ack_sent", "tcpi_last_data_recv", "tcpi_last_ack_recv", "tcpi_pmtu",
      "tcpi_rcv_ssthresh", "tcpi_rtt", "tcpi_rttvar", "tcpi_snd_ssthresh", "tcpi_snd_cwnd",
      "tcpi_advmss", "tcpi_reordering", "tcpi_rcv_rtt", "tcpi_rcv_space", "tcpi_total_retrans"],
  },
  in_pktinfo: { type: "struct in_pktinfo", fields: ["ipi_ifindex", "ipi_spec_dst", "ipi_addr"], guard: linux },
  in6_pktinfo: { type: "struct in6_pktinfo", fields: ["ipi6_addr", "ipi6_ifindex"], guard: linux },
  sock_extended_err: {
    type: "struct sock_extended_err",
    fields: ["ee_errno", "ee_origin", "ee_type", "ee_code", "ee_info", "ee_data"],
    guard: linux,
  },
  mptcp_info: {
    type: "struct mptcp_info",
    guard: "defined(__linux__) && defined(__GLIBC__)",
    fields: ["mptcpi_subflows", "mptcpi_add_addr_signal", "mptcpi_add_addr_accepted",
      "mptcpi_subflows_max", "mptcpi_add_addr_signal_max", "mptcpi_add_addr_accepted_max",
      "mptcpi_flags", "mptcpi_token", "mptcpi_write_seq", "mptcpi_snd_una", "mptcpi_rcv_nxt",
      "mptcpi_local_addr_used", "mptcpi_local_addr_max", "mptcpi_csum_enabled"],
  },
} as const satisfies Record<string, StructSpec>;

/** Errno names that bsdsock refers to by name; the generator also finds every other E* macro. */
export const requiredErrnos = [
  "EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "ENXIO", "E2BIG", "EBADF", "EAGAIN",
  "EWOULDBLOCK", "ENOMEM", "EACCES", "EFAULT", "EBUSY", "EEXIST", "ENODEV", "ENOTDIR",
  "EISDIR", "EINVAL", "ENFILE", "EMFILE", "ENOTTY", "ENOSPC", "ESPIPE", "EROFS", "EPIPE",
  "EDOM", "ERANGE", "ENAMETOOLONG", "ENOSYS", "ELOOP", "ENOTSOCK", "EDESTADDRREQ", "EMSGSIZE",
  "EPROTOTYPE", "ENOPROTOOPT", "EPROTONOSUPPORT", "ESOCKTNOSUPPORT", "EOPNOTSUPP", "ENOTSUP",
  "EPFNOSUPPORT", "EAFNOSUPPORT", "EADDRINUSE", "EADDRNOTAVAIL", "ENETDOWN", "ENETUNREACH",
  "ENETRESET", "ECONNABORTED", "ECONNRESET", "ENOBUFS", "EISCONN", "ENOTCONN", "ESHUTDOWN",
  "ETOOMANYREFS", "ETIMEDOUT", "ECONNREFUSED", "EHOSTDOWN", "EHOSTUNREACH", "EALREADY",
  "EINPROGRESS", "ECANCELED", "EPROTO",
] as const;

export type RequiredConstant = (typeof requiredConstants)[number];
export type OptionalConstant = (typeof optionalConstants)[number];
export type ExpressionName = keyof typeof expressions;
export type ScalarName = (typeof scalars)[number];
export type StructName = keyof typeof structs;
export type RequiredErrno = (typeof requiredErrnos)[number];
