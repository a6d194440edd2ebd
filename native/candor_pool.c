/*
 * candor_pool.c: the thread pool behind candor_parallel.
 *
 * Workers are started on the first parallel loop and then wait on a condition
 * variable; each loop wakes them with a new generation number, every thread
 * runs its part, and the caller waits until all parts are done. One loop runs
 * at a time (a second caller, e.g. a Node worker thread using the same addon,
 * runs its loop alone instead of waiting).
 */
#include "candor_pool.h"
#include <pthread.h>
#include <stdint.h>

#define MAX_THREADS 64
/* below this many float elements a loop costs less than waking a thread (a few microseconds) */
#define CANDOR_PAR_MIN_WORK (1u << 15)

static pthread_mutex_t busy = PTHREAD_MUTEX_INITIALIZER; /* held by the thread whose loop is running */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;   /* guards everything below */
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER, finished = PTHREAD_COND_INITIALIZER;
static int threads = 1;  /* wanted, caller included */
static int started = 0;  /* workers running */
static unsigned long generation = 0;
static int parts = 0, pending = 0;
static candor_task job;
static void *job_ctx;
static size_t job_n;

static void run_part(int part, int of, candor_task task, void *ctx, size_t n) {
  const size_t lo = n * (size_t)part / (size_t)of, hi = n * (size_t)(part + 1) / (size_t)of;
  if (lo < hi) task(ctx, lo, hi);
}

static void *worker(void *arg) {
  const int id = (int)(intptr_t)arg;
  unsigned long seen = 0;
  pthread_mutex_lock(&mu);
  for (;;) {
    while (generation == seen) pthread_cond_wait(&wake, &mu);
    seen = generation;
    if (id < parts) {
      const int of = parts;
      candor_task task = job;
      void *ctx = job_ctx;
      const size_t n = job_n;
      pthread_mutex_unlock(&mu);
      run_part(id, of, task, ctx, n);
      pthread_mutex_lock(&mu);
      if (--pending == 0) pthread_cond_signal(&finished);
    }
  }
  return NULL;
}

/* Starts workers 1..want-1 that are not running yet; returns how many threads can take part. */
static int ensure_started(int want) {
  while (started + 1 < want) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    const int ok = pthread_create(&t, &attr, worker, (void *)(intptr_t)(started + 1)) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) break;
    started++;
  }
  return started + 1 < want ? started + 1 : want;
}

void candor_parallel(size_t n, size_t cost, candor_task task, void *ctx) {
  int want = threads;
  if ((size_t)want > n) want = (int)n;
  if (want <= 1 || n * cost < CANDOR_PAR_MIN_WORK || pthread_mutex_trylock(&busy) != 0) {
    if (n > 0) task(ctx, 0, n);
    return;
  }
  pthread_mutex_lock(&mu);
  const int of = ensure_started(want);
  job = task;
  job_ctx = ctx;
  job_n = n;
  parts = of;
  pending = of - 1;
  generation++;
  pthread_cond_broadcast(&wake);
  pthread_mutex_unlock(&mu);
  run_part(0, of, task, ctx, n);
  pthread_mutex_lock(&mu);
  while (pending > 0) pthread_cond_wait(&finished, &mu);
  pthread_mutex_unlock(&mu);
  pthread_mutex_unlock(&busy);
}

int candor_pool_threads(void) { return threads; }

void candor_pool_set_threads(int n) {
  pthread_mutex_lock(&mu);
  threads = n < 1 ? 1 : (n > MAX_THREADS ? MAX_THREADS : n);
  pthread_mutex_unlock(&mu);
}
