/*
 * candor_pool.c: the thread pool behind candor_parallel.
 *
 * Workers are started on the first parallel loop. Each loop publishes a new
 * generation number; every thread runs its part and the caller waits until
 * all parts are done. One loop runs at a time (a second caller, e.g. a Node
 * worker thread using the same addon, runs its loop alone instead of waiting).
 *
 * Waking a thread blocked on a condition variable takes tens of microseconds
 * on a virtual machine, more than a whole loop over 10^5 floats. So a worker
 * that finishes a part keeps polling for the next generation for a short
 * while (SPIN_NS) before it sleeps, and the caller polls for the end of the
 * loop instead of sleeping: back-to-back loops then hand over in well under a
 * microsecond. The spin is short so that a worker left polling while a GEMM
 * runs takes little from the BLAS threads.
 */
#define _POSIX_C_SOURCE 199309L
#include "candor_pool.h"
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>

#define MAX_THREADS 64
/* below this many float elements a loop costs less than handing half of it to a polling worker */
#define CANDOR_PAR_MIN_WORK (1u << 15)
/* how long a worker polls for the next loop before it sleeps */
#define SPIN_NS 50000L

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif
#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

static pthread_mutex_t busy = PTHREAD_MUTEX_INITIALIZER; /* held by the thread whose loop is running */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;   /* guards sleeping and starting workers */
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static int threads = 1;                 /* wanted, caller included */
static int started = 0;                 /* workers running */
static unsigned long generation = 0;    /* atomic: bumped to publish a loop */
static int sleepers = 0;                /* atomic: workers blocked on wake */
static int pending = 0;                 /* atomic: workers still to finish the current loop */
/* the current loop, written before its generation is published */
static int parts = 0;
static candor_task job;
static void *job_ctx;
static size_t job_n;
static unsigned long born[MAX_THREADS];

static long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long)t.tv_sec * 1000000000L + t.tv_nsec;
}

static void run_part(int part, int of, candor_task task, void *ctx, size_t n) {
  const size_t lo = n * (size_t)part / (size_t)of, hi = n * (size_t)(part + 1) / (size_t)of;
  if (lo < hi) task(ctx, lo, hi);
}

/* Waits for a generation other than seen: polls for SPIN_NS, then sleeps. */
static unsigned long next_generation(unsigned long seen) {
  const long until = now_ns() + SPIN_NS;
  for (int i = 0;; i++) {
    const unsigned long g = LOAD(&generation);
    if (g != seen) return g;
    CPU_RELAX();
    if ((i & 63) == 63 && now_ns() > until) break;
  }
  pthread_mutex_lock(&mu);
  __atomic_add_fetch(&sleepers, 1, __ATOMIC_SEQ_CST);
  unsigned long g;
  while ((g = __atomic_load_n(&generation, __ATOMIC_SEQ_CST)) == seen) pthread_cond_wait(&wake, &mu);
  __atomic_sub_fetch(&sleepers, 1, __ATOMIC_SEQ_CST);
  pthread_mutex_unlock(&mu);
  return g;
}

static void *worker(void *arg) {
  const int id = (int)(intptr_t)arg;
  // the generation when this worker was created: the first loop it joins is the next one
  unsigned long seen = LOAD(&born[id]);
  for (;;) {
    seen = next_generation(seen);
    // every started worker counts down, taking part or not, so that the
    // caller cannot publish the next loop while this one still reads the fields
    if (id < parts) run_part(id, parts, job, job_ctx, job_n);
    __atomic_sub_fetch(&pending, 1, __ATOMIC_ACQ_REL);
  }
  return NULL;
}

/* Starts workers 1..want-1 that are not running yet; returns how many threads can take part. */
static int ensure_started(int want) {
  pthread_mutex_lock(&mu);
  while (started + 1 < want) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    STORE(&born[started + 1], LOAD(&generation));
    const int ok = pthread_create(&t, &attr, worker, (void *)(intptr_t)(started + 1)) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) break;
    started++;
  }
  pthread_mutex_unlock(&mu);
  return started + 1 < want ? started + 1 : want;
}

void candor_parallel(size_t n, size_t cost, candor_task task, void *ctx) {
  int want = threads;
  if ((size_t)want > n) want = (int)n;
  if (want <= 1 || n * cost < CANDOR_PAR_MIN_WORK || pthread_mutex_trylock(&busy) != 0) {
    if (n > 0) task(ctx, 0, n);
    return;
  }
  const int of = ensure_started(want);
  job = task;
  job_ctx = ctx;
  job_n = n;
  parts = of;
  STORE(&pending, started);
  __atomic_add_fetch(&generation, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&sleepers, __ATOMIC_SEQ_CST) > 0) {
    pthread_mutex_lock(&mu);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&mu);
  }
  run_part(0, of, task, ctx, n);
  for (int i = 0; LOAD(&pending) > 0; i++) {
    CPU_RELAX();
    if ((i & 1023) == 1023) sched_yield(); // a worker descheduled by the OS: let it run
  }
  pthread_mutex_unlock(&busy);
}

int candor_pool_threads(void) { return threads; }

void candor_pool_set_threads(int n) {
  pthread_mutex_lock(&mu);
  threads = n < 1 ? 1 : (n > MAX_THREADS ? MAX_THREADS : n);
  pthread_mutex_unlock(&mu);
}
