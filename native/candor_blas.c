/*
 * candor_blas.c: candor's native GEMM kernel, a small N-API addon over OpenBLAS.
 *
 * Exports (all synchronous, no allocation on the call path):
 *   sgemm(transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc)
 *   sgemmBatched(transA, transB, M, N, K, alpha, A, offA, lda, strideA,
 *                B, offB, ldb, strideB, beta, C, offC, ldc, strideC, batch)
 *   getThreads(), setThreads(n), config(), corename()
 *
 * Matrices are row-major with CBLAS semantics; A, B, C are Float32Arrays and the
 * offsets, leading dimensions and strides count elements. Every argument is
 * checked (type, integer range, leading dimension, and that the last element
 * touched lies inside its array) before OpenBLAS sees a pointer, so a bad call
 * throws a TypeError or RangeError naming the argument instead of reading or
 * writing past an array.
 *
 * Built by scripts/build-native.mjs: cc -O2 -fPIC -shared ... -lopenblas, or on
 * macOS without OpenBLAS: cc -DCANDOR_ACCELERATE ... -framework Accelerate
 * (Apple's cblas, which picks its own threads: getThreads reports the cores
 * and setThreads changes nothing).
 */
#define NAPI_VERSION 8
#include <node_api.h>
#ifdef CANDOR_ACCELERATE
#include <Accelerate/Accelerate.h>
#include <unistd.h>
static int openblas_get_num_threads(void) { return (int)sysconf(_SC_NPROCESSORS_ONLN); }
static void openblas_set_num_threads(int n) { (void)n; }
static const char *openblas_get_config(void) { return "Apple Accelerate"; }
static const char *openblas_get_corename(void) { return "Apple"; }
#else
#include <cblas.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include "candor_pool.h"

#define MAX_ARGS 20
#define INT_LIMIT 2147483647.0

/* Throw a TypeError (range == 0) or RangeError naming argument `name`; returns 0. */
static int fail(napi_env env, int range, const char *name, const char *what) {
  char msg[160];
  snprintf(msg, sizeof msg, "candor_blas: argument '%s' %s", name, what);
  if (range) napi_throw_range_error(env, NULL, msg);
  else napi_throw_type_error(env, NULL, msg);
  return 0;
}

static int get_bool(napi_env env, napi_value v, const char *name, int *out) {
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) return fail(env, 0, name, "must be a boolean");
  *out = b;
  return 1;
}

/* An integer in [0, 2^31-1]; the checks also reject NaN and infinities. */
static int get_count(napi_env env, napi_value v, const char *name, int64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return fail(env, 0, name, "must be a number");
  if (!(d >= 0 && d <= INT_LIMIT) || d != (double)(int64_t)d)
    return fail(env, 1, name, "must be an integer in [0, 2^31-1]");
  *out = (int64_t)d;
  return 1;
}

static int get_scalar(napi_env env, napi_value v, const char *name, float *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return fail(env, 0, name, "must be a number");
  *out = (float)d;
  return 1;
}

static int get_f32(napi_env env, napi_value v, const char *name, float **data, int64_t *len) {
  napi_typedarray_type type;
  size_t length;
  void *ptr;
  /* Fails with a status (no exception) when v is not a typed array. */
  if (napi_get_typedarray_info(env, v, &type, &length, &ptr, NULL, NULL) != napi_ok ||
      type != napi_float32_array)
    return fail(env, 0, name, "must be a Float32Array");
  *data = ptr;
  *len = (int64_t)length;
  return 1;
}

/* One operand: a stored rows x cols matrix at off (+ i*stride, i < batch). */
typedef struct { float *p; int64_t len, off, ld, stride; } Mat;

static int check_mat(napi_env env, const Mat *m, int64_t rows, int64_t cols, int64_t batch,
                     const char *ldname, const char *arrname) {
  if (m->ld < (cols > 1 ? cols : 1)) return fail(env, 1, ldname, "is smaller than the row length");
  if (rows == 0 || cols == 0 || batch == 0) return 1;
  /* Every term is below 2^62 (all inputs are below 2^31), so this cannot overflow. */
  int64_t end = m->off + (batch - 1) * m->stride + (rows - 1) * m->ld + cols;
  if (end > m->len) return fail(env, 1, arrname, "is too short for the offset, extents and strides given");
  return 1;
}

/* A whole call's arguments. */
typedef struct { int ta, tb; int64_t M, N, K, batch; float alpha, beta; Mat A, B, C; } Gemm;

/* Reads and checks the arguments; `batched` selects the 20-argument form. */
static int parse(napi_env env, napi_callback_info info, int batched, Gemm *g) {
  static const char *names[2][MAX_ARGS] = {
    {"transA", "transB", "M", "N", "K", "alpha", "A", "offA", "lda", "B", "offB", "ldb",
     "beta", "C", "offC", "ldc"},
    {"transA", "transB", "M", "N", "K", "alpha", "A", "offA", "lda", "strideA", "B", "offB",
     "ldb", "strideB", "beta", "C", "offC", "ldc", "strideC", "batch"}};
  const char **n = names[batched];
  size_t want = batched ? 20 : 16, argc = MAX_ARGS;
  napi_value a[MAX_ARGS];
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok) return 0;
  if (argc < want) {
    char msg[96];
    snprintf(msg, sizeof msg, "candor_blas: expected %zu arguments, got %zu", want, argc);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  /* Argument positions of A, B, C and the scalars in each form. */
  int iA = 6, iB = batched ? 10 : 9, iBeta = batched ? 14 : 12, iC = batched ? 15 : 13;
  g->A.stride = g->B.stride = g->C.stride = 0;
  g->batch = 1;
  if (!get_bool(env, a[0], n[0], &g->ta) || !get_bool(env, a[1], n[1], &g->tb) ||
      !get_count(env, a[2], n[2], &g->M) || !get_count(env, a[3], n[3], &g->N) ||
      !get_count(env, a[4], n[4], &g->K) || !get_scalar(env, a[5], n[5], &g->alpha) ||
      !get_f32(env, a[iA], n[iA], &g->A.p, &g->A.len) ||
      !get_count(env, a[iA + 1], n[iA + 1], &g->A.off) || !get_count(env, a[iA + 2], n[iA + 2], &g->A.ld) ||
      !get_f32(env, a[iB], n[iB], &g->B.p, &g->B.len) ||
      !get_count(env, a[iB + 1], n[iB + 1], &g->B.off) || !get_count(env, a[iB + 2], n[iB + 2], &g->B.ld) ||
      !get_scalar(env, a[iBeta], n[iBeta], &g->beta) ||
      !get_f32(env, a[iC], n[iC], &g->C.p, &g->C.len) ||
      !get_count(env, a[iC + 1], n[iC + 1], &g->C.off) || !get_count(env, a[iC + 2], n[iC + 2], &g->C.ld))
    return 0;
  if (batched &&
      (!get_count(env, a[iA + 3], n[iA + 3], &g->A.stride) || !get_count(env, a[iB + 3], n[iB + 3], &g->B.stride) ||
       !get_count(env, a[iC + 3], n[iC + 3], &g->C.stride) || !get_count(env, a[19], n[19], &g->batch)))
    return 0;
  /* Stored shapes: A is M x K (K x M if transposed), B is K x N (N x K), C is M x N. */
  return check_mat(env, &g->A, g->ta ? g->K : g->M, g->ta ? g->M : g->K, g->batch, n[iA + 2], n[iA]) &&
         check_mat(env, &g->B, g->tb ? g->N : g->K, g->tb ? g->K : g->N, g->batch, n[iB + 2], n[iB]) &&
         check_mat(env, &g->C, g->M, g->N, g->batch, n[iC + 2], n[iC]);
}

static void gemm(const Gemm *g, int64_t M, int64_t N, const float *A, int64_t lda, const float *B, float *C, int64_t ldc) {
  /*
   * A single row or column is a matrix-vector product. OpenBLAS's sgemm packs
   * the whole of B for it (reading the weights twice per decoded token), so
   * these go to sgemv. beta == 0 must not read C: zero it first.
   */
  if (M == 1 || N == 1) {
    int64_t n = M == 1 ? N : M, inc = M == 1 ? 1 : ldc;
    if (g->beta == 0.0f)
      for (int64_t i = 0; i < n; i++) C[i * inc] = 0.0f;
    float beta = g->beta == 0.0f ? 0.0f : g->beta;
    if (M == 1) {
      /* y[N] = op(B)ᵀ · a, a = row of op(A) */
      int incx = g->ta ? (int)lda : 1;
      if (g->tb) cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)N, (int)g->K, g->alpha, B, (int)g->B.ld, A, incx, beta, C, 1);
      else cblas_sgemv(CblasRowMajor, CblasTrans, (int)g->K, (int)N, g->alpha, B, (int)g->B.ld, A, incx, beta, C, 1);
    } else {
      /* y[M] = op(A) · b, b = column of op(B) */
      int incx = g->tb ? 1 : (int)g->B.ld;
      if (g->ta) cblas_sgemv(CblasRowMajor, CblasTrans, (int)g->K, (int)M, g->alpha, A, (int)lda, B, incx, beta, C, (int)ldc);
      else cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)M, (int)g->K, g->alpha, A, (int)lda, B, incx, beta, C, (int)ldc);
    }
    return;
  }
  cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans,
              (int)M, (int)N, (int)g->K, g->alpha, A, (int)lda, B, (int)g->B.ld, g->beta, C, (int)ldc);
}

/*
 * Products of at least this many multiply-adds are split into tiles of C, one
 * per pool thread, each a single-threaded BLAS call. OpenBLAS itself runs
 * single-threaded: its own threads sleep on a condition variable between
 * calls and woke too late for the small products of training (a 512x192x192
 * product reached 1.5x one thread on two), and while they spin they take the
 * cores the pool's loops need. The pool hands work over in well under a
 * microsecond. (Accelerate chooses its own threads: no split there.)
 * Products below TILE_MIN_MADDS run on the calling thread alone.
 */
#define TILE_MIN_MADDS (1 << 18)
/*
 * From this many multiply-adds up, OpenBLAS's own threads share one packed
 * copy of the operands instead of a copy per tile, and a late wake is small
 * against the product: OpenBLAS gets the pool's thread count for the call.
 */
#define TILE_MAX_MADDS (1 << 28)

typedef struct { const Gemm *g; const float *A, *B; float *C; int64_t M, lda, ldc; int p, q; } TileJob;

/* lo..hi-th of p·q tiles: rows [i·M/p, (i+1)·M/p) × columns [j·N/q, (j+1)·N/q), edges on multiples of 16 */
static void tile_part(void *ctx, size_t lo, size_t hi) {
  const TileJob *J = ctx;
  const Gemm *g = J->g;
  for (size_t t = lo; t < hi; t++) {
    const int i = (int)t / J->q, j = (int)t % J->q;
    const int64_t r0 = J->M * i / J->p / 16 * 16, r1 = i + 1 == J->p ? J->M : J->M * (i + 1) / J->p / 16 * 16;
    const int64_t c0 = g->N * j / J->q / 16 * 16, c1 = j + 1 == J->q ? g->N : g->N * (j + 1) / J->q / 16 * 16;
    if (r1 <= r0 || c1 <= c0) continue;
    const float *A = J->A + (g->ta ? r0 : r0 * J->lda);
    const float *B = J->B + (g->tb ? c0 * g->B.ld : c0);
    gemm(g, r1 - r0, c1 - c0, A, J->lda, B, J->C + r0 * J->ldc + c0, J->ldc);
  }
}

static void gemm_par(const Gemm *g, int64_t M, const float *A, int64_t lda, const float *B, float *C, int64_t ldc) {
  const int t = candor_pool_threads();
#ifndef CANDOR_ACCELERATE
  if (t > 1 && (double)M * g->N * g->K >= TILE_MIN_MADDS && (double)M * g->N * g->K < TILE_MAX_MADDS) {
    /* p row parts × q column parts, p·q ≤ t, tiles as square as the shape allows */
    int p = 1, q = 1;
    double best = -1;
    for (int a = 1; a <= t; a++) {
      const int b = t / a;
      if (a > 1 && M / a < 16) continue;
      if (b > 1 && g->N / b < 16) continue;
      const double cost = (double)M / a + (double)g->N / b - 1e-9 * a * b; /* ties: more tiles */
      if (best < 0 || cost < best) best = cost, p = a, q = b;
    }
    if (p * q > 1) {
      TileJob job = {g, A, B, C, M, lda, ldc, p, q};
      candor_parallel((size_t)(p * q), (size_t)1 << 20, tile_part, &job);
      return;
    }
  }
#else
  (void)t;
#endif
  if (t > 1 && (double)M * g->N * g->K >= TILE_MAX_MADDS) {
    openblas_set_num_threads(t);
    gemm(g, M, g->N, A, lda, B, C, ldc);
    openblas_set_num_threads(1);
    return;
  }
  gemm(g, M, g->N, A, lda, B, C, ldc);
}

static napi_value Sgemm(napi_env env, napi_callback_info info) {
  Gemm g;
  if (parse(env, info, 0, &g) && g.M > 0 && g.N > 0)
    gemm_par(&g, g.M, g.A.p + g.A.off, g.A.ld, g.B.p + g.B.off, g.C.p + g.C.off, g.C.ld);
  return NULL;
}

/*
 * Row stride of the (batch*M) x cols matrix that a batch of M x cols matrices forms,
 * or 0 when the batch entries are not evenly spaced rows of one matrix.
 */
static int64_t fold_ld(int64_t M, int64_t ld, int64_t stride, int64_t cols) {
  int64_t r = M == 1 ? stride : (stride == M * ld ? ld : 0);
  return r >= (cols > 1 ? cols : 1) ? r : 0;
}

/*
 * Batch entries up to this many multiply-adds (M·N·K) are spread over the
 * threads whole, each single-threaded: attention's per-head products
 * (e.g. 256 x 128 x 128) are too small for OpenBLAS to split them well.
 */
#define SPLIT_MAX_FLOPS (double)(1 << 23)

typedef struct { const Gemm *g; const float *A, *B; float *C; } BatchJob;

static void batch_part(void *ctx, size_t lo, size_t hi) {
  const BatchJob *J = ctx;
  const Gemm *g = J->g;
  for (size_t i = lo; i < hi; i++)
    gemm(g, g->M, g->N, J->A + i * g->A.stride, g->A.ld, J->B + i * g->B.stride, J->C + i * g->C.stride, g->C.ld);
}

static napi_value SgemmBatched(napi_env env, napi_callback_info info) {
  Gemm g;
  if (!parse(env, info, 1, &g) || g.M == 0 || g.N == 0 || g.batch == 0) return NULL;
  const float *A = g.A.p + g.A.off, *B = g.B.p + g.B.off;
  float *C = g.C.p + g.C.off;
  /*
   * Shared B (strideB == 0) and untransposed A: if the A's and the C's are
   * evenly spaced rows, the batch is one GEMM with batch*M rows, which OpenBLAS
   * blocks and threads far better than many small calls.
   */
  if (g.batch > 1 && g.B.stride == 0 && !g.ta && g.M * g.batch <= (int64_t)INT_LIMIT) {
    int64_t lda = fold_ld(g.M, g.A.ld, g.A.stride, g.K), ldc = fold_ld(g.M, g.C.ld, g.C.stride, g.N);
    if (lda > 0 && ldc > 0) {
      gemm_par(&g, g.M * g.batch, A, lda, B, C, ldc);
      return NULL;
    }
  }
#ifndef CANDOR_ACCELERATE
  BatchJob job = {&g, A, B, C};
  const int threads = candor_pool_threads();
  if (threads > 1 && g.batch >= threads && (double)g.M * g.N * g.K <= SPLIT_MAX_FLOPS) {
    /* small products: whole products per thread beat every thread on each small product */
    candor_parallel((size_t)g.batch, (size_t)(g.M * g.N + g.M * g.K + g.K * g.N), batch_part, &job);
    return NULL;
  }
#endif
  for (int64_t i = 0; i < g.batch; i++)
    gemm_par(&g, g.M, A + i * g.A.stride, g.A.ld, B + i * g.B.stride, C + i * g.C.stride, g.C.ld);
  return NULL;
}

static napi_value GetThreads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  napi_create_int32(env, candor_pool_threads(), &r);
  return r;
}

static napi_value SetThreads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value v;
  int64_t n;
  if (napi_get_cb_info(env, info, &argc, &v, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1) {
    fail(env, 0, "n", "is required");
    return NULL;
  }
  if (!get_count(env, v, "n", &n)) return NULL;
  if (n < 1) {
    fail(env, 1, "n", "must be at least 1");
    return NULL;
  }
  candor_pool_set_threads((int)n);
  return GetThreads(env, info);
}

static napi_value string_result(napi_env env, const char *s) {
  napi_value r;
  napi_create_string_utf8(env, s ? s : "", NAPI_AUTO_LENGTH, &r);
  return r;
}

static napi_value Config(napi_env env, napi_callback_info info) {
  (void)info;
  return string_result(env, openblas_get_config());
}

static napi_value Corename(napi_env env, napi_callback_info info) {
  (void)info;
  return string_result(env, openblas_get_corename());
}

/* candor_ops.c: vectorised elementwise, norm and softmax kernels */
void candor_register_ops(napi_env env, napi_value exports);

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    {"sgemm", NULL, Sgemm, NULL, NULL, NULL, napi_enumerable, NULL},
    {"sgemmBatched", NULL, SgemmBatched, NULL, NULL, NULL, napi_enumerable, NULL},
    {"getThreads", NULL, GetThreads, NULL, NULL, NULL, napi_enumerable, NULL},
    {"setThreads", NULL, SetThreads, NULL, NULL, NULL, napi_enumerable, NULL},
    {"config", NULL, Config, NULL, NULL, NULL, napi_enumerable, NULL},
    {"corename", NULL, Corename, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  /* the pool takes OpenBLAS's thread count (one per core, or OPENBLAS_NUM_THREADS) and splits the products itself */
  candor_pool_set_threads(openblas_get_num_threads());
  openblas_set_num_threads(1);
  candor_register_ops(env, exports);
  return exports;
}
