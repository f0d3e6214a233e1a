/*
 * HTTP/1.1 keep-alive load client (the common client for every contender's HTTP server):
 * <conns> non-blocking TCP connections driven by epoll, each sending one
 * "GET / HTTP/1.1" at a time and reading the whole response (headers, then Content-Length
 * bytes of body; status must be 200) before the next, <requests> times. One warm-up request
 * per connection first (every connection accepted and served once), then the measured phase;
 * the server's CPU time is read from /proc/<server pid>/stat around it, as bench/c/load.c.
 *
 *   httpload <port> <conns> <requests per conn> <server pid>
 */
#include "common.h"
#include <ctype.h>
#include <sys/epoll.h>

#define BUF 65536

struct conn { int fd; long done; size_t got; int warm; char buf[BUF]; };

static const char request[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";

/* Length of the first complete response in x->buf, or 0 when it is not all there yet. */
static size_t complete(struct conn *x) {
  x->buf[x->got < BUF ? x->got : BUF - 1] = 0;
  char *end = strstr(x->buf, "\r\n\r\n");
  if (!end) {
    if (x->got >= BUF - 1) { fprintf(stderr, "httpload: headers longer than %d bytes\n", BUF); exit(1); }
    return 0;
  }
  if (strncmp(x->buf, "HTTP/1.1 200", 12) != 0) { fprintf(stderr, "httpload: unexpected response: %.40s\n", x->buf); exit(1); }
  size_t head = (size_t)(end - x->buf) + 4, body = 0;
  int found = 0;
  for (char *line = strstr(x->buf, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
    if (strncasecmp(line + 2, "content-length:", 15) == 0) { body = (size_t)strtoul(line + 17, NULL, 10); found = 1; break; }
  }
  if (!found) { fprintf(stderr, "httpload: response without Content-Length\n"); exit(1); }
  if (head + body > BUF - 1) { fprintf(stderr, "httpload: response longer than %d bytes\n", BUF); exit(1); }
  return x->got >= head + body ? head + body : 0;
}

static void send_request(struct conn *x) {
  if (send(x->fd, request, sizeof request - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof request - 1)) die("send");
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  deadline_from_env(300);
  if (argc < 5) { fprintf(stderr, "usage: httpload <port> <conns> <requests> <server pid>\n"); return 2; }
  int port = atoi(argv[1]), nconn = atoi(argv[2]), pid = atoi(argv[4]);
  long requests = atol(argv[3]);
  struct conn *c = calloc((size_t)nconn, sizeof *c);
  if (!c) die("calloc");
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
  int warm = 0, finished = 0;
  double t0 = 0, u0 = 0, s0 = 0, srv0 = 0, srvu0 = 0;
  struct epoll_event evs[512];
  while (finished < nconn) {
    int n = epoll_wait(ep, evs, 512, 10000);
    if (n == 0) { fprintf(stderr, "httpload: stalled (warm %d, finished %d)\n", warm, finished); return 1; }
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
        send_request(x);
        continue;
      }
      for (;;) {
        ssize_t r = recv(x->fd, x->buf + x->got, BUF - 1 - x->got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (r <= 0) { fprintf(stderr, "httpload: connection lost (%s)\n", r == 0 ? "EOF" : strerror(errno)); return 1; }
        x->got += (size_t)r;
        size_t whole;
        while ((whole = complete(x)) > 0) {
          memmove(x->buf, x->buf + whole, x->got - whole);
          x->got -= whole;
          if (!x->warm) {
            x->warm = 1;
            if (++warm == nconn) {
              /* everyone is connected and served once: start the measured phase */
              srv0 = proc_cpu2(pid, &srvu0);
              cpu_s(&u0, &s0);
              t0 = now_s();
              for (int i = 0; i < nconn; i++) send_request(&c[i]);
            }
            continue;
          }
          if (++x->done < requests) send_request(x);
          else finished++;
        }
      }
    }
  }
  double srvu1 = 0, wall = now_s() - t0, u, s, srv = proc_cpu2(pid, &srvu1) - srv0, srvu = srvu1 - srvu0;
  cpu_s(&u, &s);
  double total = (double)nconn * (double)requests;
  printf("{\"wall_s\":%.9f,\"client_cpu_s\":%.6f,\"cpu_s\":%.6f,\"user_s\":%.6f,\"conns\":%d,\"requests\":%.0f,\"req_per_s\":%.1f,\"req_per_cpu_s\":%.1f,"
         "\"cpu_us_per_req\":%.3f,\"user_us_per_req\":%.3f,\"sys_us_per_req\":%.3f}\n",
         wall, (u - u0) + (s - s0), srv, srvu, nconn, total, total / wall, srv > 0 ? total / srv : 0.0,
         srv * 1e6 / total, srvu * 1e6 / total, (srv - srvu) * 1e6 / total);
  for (int i = 0; i < nconn; i++) close(c[i].fd);
  return 0;
}
