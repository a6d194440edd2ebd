/*
 * candor_pool.h: a small persistent thread pool for the row loops of
 * candor_ops.c and the small batched GEMMs of candor_blas.c.
 */
#ifndef CANDOR_POOL_H
#define CANDOR_POOL_H
#include <stddef.h>

/* Work on items [lo, hi) of a loop; different calls touch disjoint items. */
typedef void (*candor_task)(void *ctx, size_t lo, size_t hi);

/*
 * Runs task over items [0, n) split into contiguous parts, one per thread,
 * the caller's thread taking the first. Loops whose total work (n * cost,
 * in float elements touched) is under CANDOR_PAR_MIN_WORK run on the caller
 * alone, as does a call made while another thread is using the pool.
 */
void candor_parallel(size_t n, size_t cost, candor_task task, void *ctx);

/* The threads the pool uses (the caller included); set with the GEMM's threads. */
int candor_pool_threads(void);
void candor_pool_set_threads(int n);

#endif
