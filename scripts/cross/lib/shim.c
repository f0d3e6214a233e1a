/*
 * Lets the host's glibc-built libstdc++.so.6 / libgcc_s.so.1 load under musl's dynamic loader,
 * for bun's musl build in scripts/cross/run.sh (Debian has no musl-built libstdc++). Defines the
 * few glibc-only symbols they import; built with musl-gcc. Test scaffolding only.
 */
#define _GNU_SOURCE
#include <locale.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>

/* glibc 2.32+: libstdc++ skips atomic refcounts when this is nonzero; 0 = always atomic. */
char __libc_single_threaded = 0;

uint32_t arc4random(void) {
  uint32_t x = 0;
  if (getrandom(&x, sizeof x, 0) != sizeof x) x = (uint32_t)time(NULL);
  return x;
}

size_t __strftime_l(char *s, size_t n, const char *fmt, const struct tm *tm, locale_t loc) {
  return strftime_l(s, n, fmt, tm, loc);
}

/* thread_local destructors: registered as done and never run (the process is short-lived). */
int __cxa_thread_atexit_impl(void (*dtor)(void *), void *obj, void *dso) {
  (void)dtor; (void)obj; (void)dso;
  return 0;
}

/* glibc 2.35: the unwinder falls back to dl_iterate_phdr when this fails. */
int _dl_find_object(void *pc, void *result) {
  (void)pc; (void)result;
  return -1;
}

/* x86 CPU feature data (libgcc's __builtin_cpu_supports); all zero = no optional features. */
struct { unsigned vendor, type, subtype; unsigned features[1]; } __cpu_model;
int __cpu_indicator_init(void) { return 0; }
