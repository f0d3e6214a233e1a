/*
 * Soak peer for bsdsock (soak/soak.ts): a single-threaded epoll echo server on 127.0.0.1.
 *
 *   peer <connections> <seconds>
 *
 * Listens on 127.0.0.1 port 0 and prints the port on stdout, then echoes every byte of every
 * connection back in order (a 256 KiB buffer per connection: reads only into free space, so a
 * slow reader slows its writer instead of growing memory). Exits 0 once <connections> have been
 * accepted and all of them closed by the client, after flushing everything; exits 2 on any
 * error and 3 if still running after <seconds> (SIGALRM), so it can never outlive a test.
 * Prints "peer: <connections> connections, <bytes> bytes echoed" on stderr at exit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF (256 * 1024)

struct conn {
  int fd;
  int eof; /* client shut down its write side */
  size_t head, len; /* ring buffer: bytes [head, head+len) mod BUF are pending */
  unsigned char *buf;
};

static void die(const char *what) {
  fprintf(stderr, "peer: %s: %s\n", what, strerror(errno));
  exit(2);
}

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "peer: time limit reached\n";
  if (write(2, msg, sizeof msg - 1) < 0) { /* nothing to do */ }
  _exit(3);
}

static void update(int ep, struct conn *c) {
  struct epoll_event ev = {0};
  ev.events = (c->len < BUF && !c->eof ? EPOLLIN : 0) | (c->len > 0 ? EPOLLOUT : 0);
  ev.data.ptr = c;
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl mod");
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: peer <connections> <seconds>\n");
    return 2;
  }
  long expected = atol(argv[1]);
  signal(SIGALRM, on_alarm);
  signal(SIGPIPE, SIG_IGN);
  alarm((unsigned)atoi(argv[2]));

  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (ls < 0) die("socket");
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  if (listen(ls, 4096) < 0) die("listen");
  socklen_t alen = sizeof a;
  if (getsockname(ls, (struct sockaddr *)&a, &alen) < 0) die("getsockname");
  printf("%d\n", ntohs(a.sin_port));
  fflush(stdout);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  struct epoll_event lev = {0};
  lev.events = EPOLLIN;
  lev.data.ptr = NULL;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev) < 0) die("epoll_ctl listen");

  long accepted = 0, open_conns = 0;
  unsigned long long echoed = 0;
  struct epoll_event evs[256];
  while (accepted < expected || open_conns > 0) {
    int n = epoll_wait(ep, evs, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (c == NULL) {
        for (;;) {
          int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR) break;
            die("accept4");
          }
          int one = 1;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          c = calloc(1, sizeof *c);
          if (!c || !(c->buf = malloc(BUF))) die("malloc");
          c->fd = fd;
          struct epoll_event ev = {0};
          ev.events = EPOLLIN;
          ev.data.ptr = c;
          if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl add");
          accepted++;
          open_conns++;
        }
        continue;
      }
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        while (c->len < BUF && !c->eof) {
          size_t tail = (c->head + c->len) % BUF;
          size_t room = tail >= c->head ? BUF - tail : c->head - tail;
          if (room > BUF - c->len) room = BUF - c->len;
          ssize_t r = recv(c->fd, c->buf + tail, room, 0);
          if (r > 0) {
            c->len += (size_t)r;
            continue;
          }
          if (r == 0) {
            c->eof = 1;
            break;
          }
          if (errno == EAGAIN || errno == EINTR) break;
          if (errno == ECONNRESET) { c->eof = 1; break; }
          die("recv");
        }
      }
      while (c->len > 0) {
        size_t chunk = c->head + c->len > BUF ? BUF - c->head : c->len;
        ssize_t w = send(c->fd, c->buf + c->head, chunk, MSG_NOSIGNAL);
        if (w > 0) {
          c->head = (c->head + (size_t)w) % BUF;
          c->len -= (size_t)w;
          echoed += (unsigned long long)w;
          continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) break;
        die("send");
      }
      if (c->eof && c->len == 0) {
        close(c->fd);
        free(c->buf);
        free(c);
        open_conns--;
      } else {
        update(ep, c);
      }
    }
  }
  fprintf(stderr, "peer: %ld connections, %llu bytes echoed\n", accepted, echoed);
  return 0;
}
