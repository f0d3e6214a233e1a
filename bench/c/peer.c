/*
 * The common C peer. One mode per workload; each prints "PORT <n>" (or "READY") on stdout once
 * it can be reached, then serves until killed (a SIGALRM deadline bounds it anyway).
 *
 *   peer echo tcp|unix [path]   epoll echo server, any number of connections (ping-pong peer,
 *                               and the C contender's server for the concurrent echo)
 *   peer sink                   accepts one connection at a time, reads it to EOF, closes
 *   peer accept                 accepts and closes at once (connection rate)
 *   peer udpsink spin|sleep     counts datagrams per run; prints one JSON line per run. spin:
 *                               while a run is going (until 50 ms without a datagram) it polls
 *                               the socket without sleeping, so a sender never pays for waking
 *                               it; sleep: it blocks whenever the queue is empty (a wake-up
 *                               per burst, paid partly by the sender's send calls)
 */
#include "common.h"
#include <poll.h>
#include <sys/epoll.h>

#define MAXEV 256

static int listen_tcp(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = loopback(0);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  if (listen(fd, 4096) < 0) die("listen");
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  printf("PORT %d\n", ntohs(a.sin_port));
  fflush(stdout);
  return fd;
}

static int listen_unix(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  unlink(path);
  struct sockaddr_un a = unix_addr(path);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  if (listen(fd, 4096) < 0) die("listen");
  printf("READY\n");
  fflush(stdout);
  return fd;
}

/* Writes all of buf to a non-blocking fd (waits with poll on a partial write; rare for echo). */
static int write_all(int fd, const char *buf, ssize_t n) {
  while (n > 0) {
    ssize_t w = send(fd, buf, (size_t)n, MSG_NOSIGNAL);
    if (w > 0) { buf += w; n -= w; continue; }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd p = { .fd = fd, .events = POLLOUT };
      poll(&p, 1, 1000);
      continue;
    }
    return -1;
  }
  return 0;
}

static void echo(int lfd, int is_tcp) {
  static char buf[65536];
  fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK); /* the accept loop drains until EAGAIN */
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct epoll_event evs[MAXEV];
  for (;;) {
    int n = epoll_wait(ep, evs, MAXEV, -1);
    if (n < 0) { if (errno == EINTR) continue; die("epoll_wait"); }
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        for (;;) {
          int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          if (is_tcp) nodelay(c);
          struct epoll_event cev = { .events = EPOLLIN, .data.fd = c };
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r > 0) {
          if (write_all(fd, buf, r) < 0) { close(fd); break; }
          if ((size_t)r < sizeof buf) break;
          continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        close(fd); /* EOF or error; close removes it from the epoll set */
        break;
      }
    }
  }
}

static void sink(int lfd) {
  static char buf[1 << 20];
  for (;;) {
    int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) { if (errno == EINTR) continue; die("accept"); }
    for (;;) {
      ssize_t r = recv(c, buf, sizeof buf, 0);
      if (r > 0) continue;
      if (r < 0 && errno == EINTR) continue;
      break;
    }
    close(c);
  }
}

static void acceptor(int lfd) {
  for (;;) {
    int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) { if (errno == EINTR || errno == ECONNABORTED) continue; die("accept"); }
    close(c);
  }
}

/*
 * Datagram layout: byte 0 = kind (0 data, 1 end of run, 2 warm-up: ignored), bytes 1..4 = run
 * id. A run's counters reset on its first datagram; its first end marker prints the result
 * (later copies are ignored). Receives with recvmmsg, 256 datagrams per call, so the sink
 * keeps up with batched and segmented senders (a 32 MiB receive buffer absorbs bursts).
 */
static void udpsink(int spin) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) die("socket");
  int big = 16 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  struct sockaddr_in a = loopback(0);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  int rcvbuf = 0;
  len = sizeof rcvbuf;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len);
  printf("PORT %d\n", ntohs(a.sin_port));
  fflush(stdout);
  enum { BATCH = 256, DSIZE = 2048 };
  static unsigned char bufs[BATCH][DSIZE];
  static struct iovec iov[BATCH];
  static struct mmsghdr msgs[BATCH];
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = DSIZE;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uint32_t run = 0, reported = 0;
  long long count = 0, bytes = 0;
  double first = 0, last = 0, seen = 0;
  for (;;) {
    int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) die("recvmmsg");
      if (spin && now_s() - seen < 0.05) continue; /* a run is going: do not sleep */
      struct pollfd p = { fd, POLLIN, 0 };
      poll(&p, 1, -1);
      continue;
    }
    seen = now_s();
    for (int k = 0; k < n; k++) {
      const unsigned char *buf = bufs[k];
      if (msgs[k].msg_len < 5) continue;
      uint32_t id;
      memcpy(&id, buf + 1, 4);
      if (buf[0] == 0) {
        if (id != run) { run = id; count = 0; bytes = 0; first = seen; }
        count++;
        bytes += msgs[k].msg_len;
        last = seen;
      } else if (buf[0] == 1 && id != reported) {
        reported = id;
        if (id != run) { count = 0; bytes = 0; first = last = 0; }
        printf("{\"run\":%u,\"received\":%lld,\"bytes\":%lld,\"span_s\":%.9f,\"rcvbuf\":%d}\n", id, count, bytes, last - first, rcvbuf);
        fflush(stdout);
      }
    }
  }
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: peer echo|sink|accept|udpsink ...\n"); return 2; }
  signal(SIGPIPE, SIG_IGN);
  deadline_from_env(900);
  const char *mode = argv[1];
  if (!strcmp(mode, "echo")) {
    int is_tcp = argc < 3 || strcmp(argv[2], "unix") != 0;
    echo(is_tcp ? listen_tcp() : listen_unix(argv[3]), is_tcp);
  } else if (!strcmp(mode, "sink")) sink(listen_tcp());
  else if (!strcmp(mode, "accept")) acceptor(listen_tcp());
  else if (!strcmp(mode, "udpsink")) udpsink(argc < 3 || strcmp(argv[2], "sleep") != 0);
  else { fprintf(stderr, "unknown mode %s\n", mode); return 2; }
  return 0;
}
