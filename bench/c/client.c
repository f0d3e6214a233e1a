/*
 * The C contender's client side, blocking sockets, one syscall per operation like the other
 * contenders. Prints one JSON line: wall and CPU time of the measured phase plus the workload's
 * figures.
 *
 *   client pingpong tcp <port> <rtts> <warmup> <size>
 *   client pingpong unix <path> <rtts> <warmup> <size>
 *   client bulk <port> <total bytes> <write size>
 *   client bulkzc <port> <total bytes> <write size>
 *          the same with SO_ZEROCOPY + MSG_ZEROCOPY (Linux): the buffer never changes, so sends go
 *          on while completions are drained from the error queue without waiting; at the end
 *          it waits for every one (reports "copied" when the kernel copied after all)
 *   client udp <port> <count> <size> <run id> <warm-up> <one|many|segments>
 *          one: a sendto per datagram; many: sendmmsg, 64 per call; segments: UDP_SEGMENT
 *          (segmentation offload), 64 datagrams per sendmsg. <warm-up> datagrams (kind 2,
 *          which the sink ignores) go first, the same way, untimed.
 *   client connrate <port> <count>
 *   client file <port> <path> <total bytes> <sendfile|readsend>
 *          the first <total> bytes of a file to the sink: sendfile(2) loop, or read()+send() of
 *          64 KiB chunks
 */
#include "common.h"
#include <netinet/udp.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <linux/errqueue.h>
#include <poll.h>

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
  char *buf = malloc(wsize);
  if (!buf) die("malloc");
  /* Real bytes, as every contender sends: an untouched calloc buffer maps the shared zero page,
     which the kernel copies from at cache speed (measured ~10 % less sys time) */
  memset(buf, 'x', wsize);
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

/* Reads every zero-copy completion queued now; returns how many send ids they covered. */
static unsigned long long drain_zc(int fd, int *copied) {
  unsigned long long done = 0;
  for (;;) {
    char control[128];
    struct msghdr m = {0};
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    if (recvmsg(fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return done;
      die("recvmsg errqueue");
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
      if (!((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) || (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR))) continue;
      struct sock_extended_err *e = (struct sock_extended_err *)CMSG_DATA(c);
      if (e->ee_origin != SO_EE_ORIGIN_ZEROCOPY || e->ee_errno != 0) continue;
      done += (unsigned long long)(e->ee_data - e->ee_info) + 1;
      if (e->ee_code & SO_EE_CODE_ZEROCOPY_COPIED) *copied = 1;
    }
  }
}

static void bulkzc(int port, long long total, size_t wsize) {
  int fd = connect_tcp(port);
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof one) < 0) die("SO_ZEROCOPY");
  char *buf = malloc(wsize);
  if (!buf) die("malloc");
  memset(buf, 'x', wsize);
  begin();
  long long sent = 0;
  unsigned long long ids = 0, completed = 0;
  int copied = 0;
  while (sent < total) {
    size_t want = total - sent < (long long)wsize ? (size_t)(total - sent) : wsize;
    size_t off = 0;
    while (off < want) {
      ssize_t w = send(fd, buf + off, want - off, MSG_NOSIGNAL | MSG_ZEROCOPY);
      if (w > 0) { off += (size_t)w; ids++; }
      else if (w < 0 && errno == EINTR) continue;
      else if (w < 0 && errno == ENOBUFS) { completed += drain_zc(fd, &copied); continue; } /* optmem full: read reports */
      else die("send");
    }
    sent += (long long)want;
    completed += drain_zc(fd, &copied);
  }
  while (completed < ids) {
    struct pollfd p = { fd, 0, 0 };
    if (poll(&p, 1, 5000) < 0 && errno != EINTR) die("poll");
    completed += drain_zc(fd, &copied);
  }
  shutdown(fd, SHUT_WR);
  char tail[16];
  while (recv(fd, tail, sizeof tail, 0) > 0) {}
  double wall = now_s() - t0;
  end_report(",\"bytes\":%lld,\"gib_per_s\":%.6f,\"copied\":%d", sent, (double)sent / wall / (double)(1 << 30), copied);
  close(fd);
}

/* A file to the sink: sendfile(2) from the page cache, or read() into a buffer and send() it. */
static void file(int port, const char *path, long long total, const char *method) {
  int in = open(path, O_RDONLY);
  if (in < 0) die("open");
  int fd = connect_tcp(port);
  int use_sendfile = !strcmp(method, "sendfile");
  size_t chunk = 1 << 16;
  char *buf = malloc(chunk);
  if (!buf) die("malloc");
  begin();
  long long sent = 0;
  while (sent < total) {
    if (use_sendfile) {
      ssize_t w = sendfile(fd, in, NULL, (size_t)(total - sent));
      if (w > 0) sent += w;
      else if (w < 0 && errno == EINTR) continue;
      else die("sendfile");
      continue;
    }
    size_t want = total - sent < (long long)chunk ? (size_t)(total - sent) : chunk;
    ssize_t r = read(in, buf, want);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) die("read");
    size_t off = 0;
    while (off < (size_t)r) {
      ssize_t w = send(fd, buf + off, (size_t)r - off, MSG_NOSIGNAL);
      if (w > 0) off += (size_t)w;
      else if (w < 0 && errno == EINTR) continue;
      else die("send");
    }
    sent += r;
  }
  shutdown(fd, SHUT_WR);
  char tail[16];
  while (recv(fd, tail, sizeof tail, 0) > 0) {}
  double wall = now_s() - t0;
  end_report(",\"bytes\":%lld,\"gib_per_s\":%.6f", sent, (double)sent / wall / (double)(1 << 30));
  close(fd);
  close(in);
}

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
enum { UDP_BATCH = 64 };

/* `count` datagrams of `size` bytes from `buf` (UDP_BATCH copies of the datagram) by `method`. */
static long udp_send(int fd, const struct sockaddr_in *a, const unsigned char *buf, size_t size, long count, const char *method, long *errors) {
  long sent = 0;
  if (!strcmp(method, "one")) {
    for (long i = 0; i < count; i++) {
      if (sendto(fd, buf, size, 0, (const struct sockaddr *)a, sizeof *a) < 0) {
        if (errno == EINTR) { i--; continue; }
        (*errors)++;
      } else sent++;
    }
  } else if (!strcmp(method, "many")) {
    static struct mmsghdr m[UDP_BATCH];
    static struct iovec iov[UDP_BATCH];
    for (int i = 0; i < UDP_BATCH; i++) {
      iov[i].iov_base = (void *)(buf + (size_t)i * size);
      iov[i].iov_len = size;
      memset(&m[i], 0, sizeof m[i]);
      m[i].msg_hdr.msg_name = (void *)a;
      m[i].msg_hdr.msg_namelen = sizeof *a;
      m[i].msg_hdr.msg_iov = &iov[i];
      m[i].msg_hdr.msg_iovlen = 1;
    }
    long done = 0; /* sent or failed */
    while (done < count) {
      long n = count - done < UDP_BATCH ? count - done : UDP_BATCH;
      int r = sendmmsg(fd, m, (unsigned)n, 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        (*errors)++; /* the first of the batch failed: count it as one lost datagram */
        done++;
        continue;
      }
      sent += r;
      done += r;
    }
  } else if (!strcmp(method, "segments")) {
    char ctrl[CMSG_SPACE(sizeof(uint16_t))];
    memset(ctrl, 0, sizeof ctrl);
    struct iovec iov = { (void *)buf, 0 };
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_name = (void *)a;
    m.msg_namelen = sizeof *a;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctrl;
    m.msg_controllen = sizeof ctrl;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t seg = (uint16_t)size;
    memcpy(CMSG_DATA(c), &seg, sizeof seg);
    long per = 65507 / (long)size;
    if (per > UDP_BATCH) per = UDP_BATCH;
    if (per < 1) per = 1;
    long done = 0;
    while (done < count) {
      long n = count - done < per ? count - done : per;
      iov.iov_len = (size_t)n * size;
      if (sendmsg(fd, &m, 0) < 0) {
        if (errno == EINTR) continue;
        if (errno == EIO || errno == ENOPROTOOPT || errno == EOPNOTSUPP) die("sendmsg UDP_SEGMENT");
        (*errors) += n;
      } else sent += n;
      done += n;
    }
  } else {
    fprintf(stderr, "unknown udp method %s\n", method);
    exit(2);
  }
  return sent;
}

static void udp(int port, long count, size_t size, unsigned run, long warmup, const char *method) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  struct sockaddr_in a = loopback(port);
  if (size < 5) size = 5;
  unsigned char *buf = calloc(UDP_BATCH, size);
  for (int i = 0; i < UDP_BATCH; i++) { buf[(size_t)i * size] = 2; memcpy(buf + (size_t)i * size + 1, &run, 4); }
  long errors = 0;
  udp_send(fd, &a, buf, size, warmup, method, &errors);
  for (int i = 0; i < UDP_BATCH; i++) buf[(size_t)i * size] = 0;
  errors = 0;
  begin();
  long sent = udp_send(fd, &a, buf, size, count, method, &errors);
  double wall = now_s() - t0;
  double u, s;
  cpu_s(&u, &s);
  buf[0] = 1;
  for (int k = 0; k < 5; k++) {
    usleep(10000);
    sendto(fd, buf, 5, 0, (struct sockaddr *)&a, sizeof a);
  }
  printf("{\"wall_s\":%.9f,\"user_s\":%.6f,\"sys_s\":%.6f,\"cpu_s\":%.6f,\"sent\":%ld,\"send_errors\":%ld,\"sent_per_s\":%.1f}\n",
         wall, u - u0, s - s0, (u - u0) + (s - s0), sent, errors, (double)sent / wall);
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
  else if (!strcmp(m, "bulkzc") && argc >= 5) bulkzc(atoi(argv[2]), atoll(argv[3]), (size_t)atol(argv[4]));
  else if (!strcmp(m, "udp") && argc >= 8) udp(atoi(argv[2]), atol(argv[3]), (size_t)atol(argv[4]), (unsigned)atol(argv[5]), atol(argv[6]), argv[7]);
  else if (!strcmp(m, "connrate") && argc >= 4) connrate(atoi(argv[2]), atol(argv[3]));
  else if (!strcmp(m, "file") && argc >= 6) file(atoi(argv[2]), argv[3], atoll(argv[4]), argv[5]);
  else { fprintf(stderr, "bad arguments\n"); return 2; }
  return 0;
}
