/*
 * Load generator for the concurrent echo workload (the common client for every contender's
 * server): <conns> non-blocking TCP connections driven by epoll, each doing one round trip of
 * <size> bytes at a time, <rtts> times. A warm-up round trip per connection first (every
 * connection accepted and served once), then the measured phase. The server's CPU time is read
 * from /proc/<server pid>/stat around the measured phase.
 *
 *   load <port> <conns> <rtts per conn> <size> <server pid>
 */
#include "common.h"
#include <sys/epoll.h>

struct conn { int fd; long done; size_t got; int warm; };

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  deadline_from_env(300);
  if (argc < 6) { fprintf(stderr, "usage: load <port> <conns> <rtts> <size> <server pid>\n"); return 2; }
  int port = atoi(argv[1]), nconn = atoi(argv[2]), pid = atoi(argv[5]);
  long rtts = atol(argv[3]);
  size_t size = (size_t)atol(argv[4]);
  char *out = calloc(1, size), in[65536];
  struct conn *c = calloc((size_t)nconn, sizeof *c);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct sockaddr_in a = loopback(port);
  for (int i = 0; i < nconn; i++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) die("connect");
    nodelay(fd);
    c[i].fd = fd;
    struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = (uint32_t)i };
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  int warm = 0, finished = 0, measuring = 0;
  double t0 = 0, u0 = 0, s0 = 0, srv0 = 0, srvu0 = 0;
  struct epoll_event evs[512];
  while (finished < nconn) {
    int n = epoll_wait(ep, evs, 512, 10000);
    if (n == 0) { fprintf(stderr, "load: stalled (warm %d, finished %d)\n", warm, finished); return 1; }
    if (n < 0) { if (errno == EINTR) continue; die("epoll_wait"); }
    for (int k = 0; k < n; k++) {
      struct conn *x = &c[evs[k].data.u32];
      if (evs[k].events & EPOLLOUT) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) { errno = err; die("connect"); }
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = evs[k].data.u32 };
        epoll_ctl(ep, EPOLL_CTL_MOD, x->fd, &ev);
        if (send(x->fd, out, size, MSG_NOSIGNAL) != (ssize_t)size) die("send");
        continue;
      }
      for (;;) {
        ssize_t r = recv(x->fd, in, sizeof in, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (r <= 0) { fprintf(stderr, "load: connection lost (%s)\n", r == 0 ? "EOF" : strerror(errno)); return 1; }
        x->got += (size_t)r;
        while (x->got >= size) {
          x->got -= size;
          if (!x->warm) {
            x->warm = 1;
            if (++warm == nconn) {
              /* everyone is connected and served once: start the measured phase */
              srv0 = proc_cpu2(pid, &srvu0);
              cpu_s(&u0, &s0);
              t0 = now_s();
              measuring = 1;
              for (int i = 0; i < nconn; i++)
                if (send(c[i].fd, out, size, MSG_NOSIGNAL) != (ssize_t)size) die("send");
            }
            continue;
          }
          if (++x->done < rtts) {
            if (send(x->fd, out, size, MSG_NOSIGNAL) != (ssize_t)size) die("send");
          } else finished++;
        }
      }
    }
  }
  double srvu1 = 0, wall = now_s() - t0, u, s, srv = proc_cpu2(pid, &srvu1) - srv0, srvu = srvu1 - srvu0;
  cpu_s(&u, &s);
  double total = (double)nconn * (double)rtts;
  (void)measuring;
  printf("{\"wall_s\":%.9f,\"client_cpu_s\":%.6f,\"cpu_s\":%.6f,\"user_s\":%.6f,\"conns\":%d,\"rtts\":%.0f,\"rt_per_s\":%.1f,\"rt_per_cpu_s\":%.1f,"
         "\"cpu_us_per_rt\":%.3f,\"user_us_per_rt\":%.3f,\"sys_us_per_rt\":%.3f}\n",
         wall, (u - u0) + (s - s0), srv, srvu, nconn, total, total / wall, srv > 0 ? total / srv : 0.0,
         srv * 1e6 / total, srvu * 1e6 / total, (srv - srvu) * 1e6 / total);
  for (int i = 0; i < nconn; i++) close(c[i].fd);
  return 0;
}
