/*
 * The C contender's client side, blocking sockets, one syscall per operation like the other
 * contenders. Prints one JSON line: wall and CPU time of the measured phase plus the workload's
 * figures.
 *
 *   client pingpong tcp <port> <rtts> <warmup> <size>
 *   client pingpong unix <path> <rtts> <warmup> <size>
 *   client bulk <port> <total bytes> <write size>
 *   client udp <port> <count> <size> <run id>
 *   client connrate <port> <count>
 */
#include "common.h"

static double t0, u0, s0;
static void begin(void) { cpu_s(&u0, &s0); t0 = now_s(); }
static void end_report(const char *fmt_extra, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static void end_report(const char *fmt_extra, ...) {
  double wall = now_s() - t0, u, s;
  cpu_s(&u, &s);
  printf("{\"wall_s\":%.9f,\"user_s\":%.6f,\"sys_s\":%.6f,\"cpu_s\":%.6f", wall, u - u0, s - s0, (u - u0) + (s - s0));
  va_list ap;
  va_start(ap, fmt_extra);
  vprintf(fmt_extra, ap);
  va_end(ap);
  printf("}\n");
}

static int connect_tcp(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  struct sockaddr_in a = loopback(port);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
  return fd;
}

static void recv_exact(int fd, char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(fd, buf + got, n - got, 0);
    if (r > 0) got += (size_t)r;
    else if (r < 0 && errno == EINTR) continue;
    else { if (r == 0) errno = ECONNRESET; die("recv"); }
  }
}

static void pingpong(int is_tcp, const char *where, long rtts, long warmup, size_t size) {
  int fd;
  if (is_tcp) { fd = connect_tcp(atoi(where)); nodelay(fd); }
  else {
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = unix_addr(where);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
  }
  char *buf = calloc(1, size), *in = malloc(size);
  double *lat = malloc(sizeof(double) * (size_t)rtts);
  for (long i = 0; i < warmup; i++) {
    if (send(fd, buf, size, MSG_NOSIGNAL) != (ssize_t)size) die("send");
    recv_exact(fd, in, size);
  }
  begin();
  for (long i = 0; i < rtts; i++) {
    double a = now_s();
    if (send(fd, buf, size, MSG_NOSIGNAL) != (ssize_t)size) die("send");
    recv_exact(fd, in, size);
    lat[i] = now_s() - a;
  }
  double wall = now_s() - t0;
  double sum = 0;
  for (long i = 0; i < rtts; i++) sum += lat[i];
  qsort(lat, (size_t)rtts, sizeof(double), cmp_double);
  end_report(",\"rtts\":%ld,\"median_us\":%.3f,\"p99_us\":%.3f,\"mean_us\":%.3f,\"per_rtt_wall_us\":%.3f",
             rtts, lat[rtts / 2] * 1e6, lat[(long)(rtts * 0.99)] * 1e6, sum / (double)rtts * 1e6, wall / (double)rtts * 1e6);
  close(fd);
}

static void bulk(int port, long long total, size_t wsize) {
  int fd = connect_tcp(port);
  char *buf = calloc(1, wsize);
  begin();
  long long sent = 0;
  while (sent < total) {
    size_t want = total - sent < (long long)wsize ? (size_t)(total - sent) : wsize;
    size_t off = 0;
    while (off < want) {
      ssize_t w = send(fd, buf + off, want - off, MSG_NOSIGNAL);
      if (w > 0) off += (size_t)w;
      else if (w < 0 && errno == EINTR) continue;
      else die("send");
    }
    sent += (long long)want;
  }
  shutdown(fd, SHUT_WR);
  char tail[16];
  while (recv(fd, tail, sizeof tail, 0) > 0) {} /* the sink closes once it has read everything */
  double wall = now_s() - t0;
  end_report(",\"bytes\":%lld,\"gib_per_s\":%.6f", sent, (double)sent / wall / (double)(1 << 30));
  close(fd);
}

static void udp(int port, long count, size_t size, unsigned run) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  struct sockaddr_in a = loopback(port);
  unsigned char *buf = calloc(1, size < 5 ? 5 : size);
  memcpy(buf + 1, &run, 4);
  long errors = 0;
  begin();
  for (long i = 0; i < count; i++) {
    if (sendto(fd, buf, size, 0, (struct sockaddr *)&a, sizeof a) < 0) {
      if (errno == EINTR) { i--; continue; }
      errors++;
    }
  }
  double wall = now_s() - t0;
  double u, s;
  cpu_s(&u, &s);
  buf[0] = 1;
  for (int k = 0; k < 5; k++) {
    usleep(10000);
    sendto(fd, buf, 5, 0, (struct sockaddr *)&a, sizeof a);
  }
  printf("{\"wall_s\":%.9f,\"user_s\":%.6f,\"sys_s\":%.6f,\"cpu_s\":%.6f,\"sent\":%ld,\"send_errors\":%ld,\"sent_per_s\":%.1f}\n",
         wall, u - u0, s - s0, (u - u0) + (s - s0), count - errors, errors, (double)(count - errors) / wall);
  close(fd);
}

static void connrate(int port, long count) {
  char b[1];
  begin();
  for (long i = 0; i < count; i++) {
    int fd = connect_tcp(port);
    while (recv(fd, b, 1, 0) > 0) {} /* EOF: the peer accepted and closed */
    close(fd);
  }
  double wall = now_s() - t0;
  end_report(",\"conns\":%ld,\"conn_per_s\":%.1f", count, (double)count / wall);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  deadline_from_env(300);
  if (argc < 3) { fprintf(stderr, "usage: client <mode> ...\n"); return 2; }
  const char *m = argv[1];
  if (!strcmp(m, "pingpong") && argc >= 7)
    pingpong(!strcmp(argv[2], "tcp"), argv[3], atol(argv[4]), atol(argv[5]), (size_t)atol(argv[6]));
  else if (!strcmp(m, "bulk") && argc >= 5) bulk(atoi(argv[2]), atoll(argv[3]), (size_t)atol(argv[4]));
  else if (!strcmp(m, "udp") && argc >= 6) udp(atoi(argv[2]), atol(argv[3]), (size_t)atol(argv[4]), (unsigned)atol(argv[5]));
  else if (!strcmp(m, "connrate") && argc >= 4) connrate(atoi(argv[2]), atol(argv[3]));
  else { fprintf(stderr, "bad arguments\n"); return 2; }
  return 0;
}
