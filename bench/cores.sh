#!/usr/bin/env bash
# Do two busy threads of one process slow each other on this machine when they share
# nothing? Runs two loads, each with one thread and then with two started together (a
# barrier), and prints each thread's time: a compute loop with a 64 KiB memcpy per round
# (core and L2), and a pointer chase over a random cycle of KB KiB per thread (the caches
# and memory). If the two-thread times match the one-thread ones, the machine's two vCPUs
# do not share a core's resources, and what the in-process side loses with two workers is
# shared state (bench/README.md, "Why two workers cost more per request").
#
#   bash bench/cores.sh            # KB sizes 768 1536 3072 8192
#   KB="256 65536" bash bench/cores.sh
#
# Needs gcc. Nothing else should run meanwhile.
set -euo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/cores.c" <<'EOF'
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_barrier_t bar;
static size_t kb;
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}
// compute: eight independent multiply chains and a 64 KiB memcpy per round.
static void* compute(void* arg) {
  unsigned long a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  char *src = malloc(65536), *dst = malloc(65536);
  memset(src, 1, 65536);
  pthread_barrier_wait(&bar);
  double t0 = now();
  for (int r = 0; r < 200000; r++) {
    for (int i = 0; i < 200; i++)
      for (int j = 0; j < 8; j++) a[j] = a[j] * 6364136223846793005UL + 1442695040888963407UL;
    memcpy(dst, src, 65536);
    src[r & 65535] ^= dst[(r * 7) & 65535];
  }
  *(double*)arg = now() - t0;
  if (a[0] == 42) puts("");
  return NULL;
}
// chase: 20M dependent loads over a random cycle of kb KiB.
static void* chase(void* arg) {
  size_t n = kb * 1024 / sizeof(size_t), *p = malloc(n * sizeof(size_t));
  for (size_t i = 0; i < n; i++) p[i] = i;
  unsigned long s = 88172645463325252UL;
  for (size_t i = n - 1; i > 0; i--) { // Sattolo: one cycle through every slot
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    size_t j = s % i, t = p[i];
    p[i] = p[j], p[j] = t;
  }
  pthread_barrier_wait(&bar);
  size_t x = 0;
  double t0 = now();
  for (long k = 0; k < 20000000; k++) x = p[x];
  *(double*)arg = (now() - t0) / 20e6 * 1e9;
  if (x == (size_t)-1) puts("");
  return NULL;
}
int main(int argc, char** argv) {
  int threads = atoi(argv[2]);
  void* (*fn)(void*) = strcmp(argv[1], "compute") ? chase : compute;
  kb = argc > 3 ? (size_t)atol(argv[3]) : 0;
  pthread_t th[2];
  double d[2];
  pthread_barrier_init(&bar, NULL, threads);
  for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, fn, &d[i]);
  for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < threads; i++)
    printf(fn == compute ? " %.3f s" : " %.1f ns/load", d[i]);
  printf("\n");
  return 0;
}
EOF
gcc -O2 -o "$dir/cores" "$dir/cores.c" -lpthread
for t in 1 2; do printf 'compute, %d thread(s):' "$t"; "$dir/cores" compute "$t"; done
for k in ${KB:-768 1536 3072 8192}; do
	for t in 1 2; do printf 'chase %s KiB, %d thread(s):' "$k" "$t"; "$dir/cores" chase "$t" "$k"; done
done
