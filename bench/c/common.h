/* Shared helpers for the bench C programs: timing, CPU time, dying loudly, a hard deadline. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "%s: %s\n", what, strerror(errno));
  exit(1);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* user and system CPU seconds of this process (all threads). */
__attribute__((unused)) static void cpu_s(double *user, double *sys) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6;
  *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/*
 * The process dies by SIGALRM after BENCH_DEADLINE_S seconds (default `fallback`) whatever it is
 * blocked on: every run is bounded even if the orchestrator is gone.
 */
static void deadline_from_env(int fallback) {
  const char *s = getenv("BENCH_DEADLINE_S");
  int seconds = s && atoi(s) > 0 ? atoi(s) : fallback;
  signal(SIGALRM, SIG_DFL);
  alarm((unsigned)seconds);
}

__attribute__((unused)) static void nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

__attribute__((unused)) static struct sockaddr_in loopback(int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

__attribute__((unused)) static struct sockaddr_un unix_addr(const char *path) {
  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  strncpy(a.sun_path, path, sizeof a.sun_path - 1);
  return a;
}

__attribute__((unused)) static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* utime and stime of a process, in seconds (user in *user; the sum returned). */
__attribute__((unused)) static double proc_cpu2(int pid, double *user) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  /* after ") ": field 3 is state; utime and stime are fields 14 and 15 */
  unsigned long long ut = 0, st = 0;
  int field = 2;
  for (char *q = p + 1; *q && field < 15; q++) {
    if (*q == ' ') {
      field++;
      if (field == 14) ut = strtoull(q + 1, NULL, 10);
      if (field == 15) st = strtoull(q + 1, NULL, 10);
    }
  }
  *user = (double)ut / (double)sysconf(_SC_CLK_TCK);
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}
