/*
 * candor_ops.c: vectorisable float32 kernels for the non-GEMM work of a
 * forward pass (activations, bias and residual adds, norms, softmax), used by
 * the tensor ops when the native kernel is active. The portable TypeScript
 * loops compute the same functions; float64 tensors always use those.
 *
 * Every entry point checks that offsets and extents fit inside its arrays.
 * Sums (norm statistics, softmax denominators) accumulate in double.
 *
 * exp: range reduction to r = x − k·ln2 with |r| ≤ ln2/2, then the Taylor
 * polynomial of degree 7 (truncation error < 6e-9 relative, below float32's
 * epsilon), scaled by 2^k built in the exponent bits (as two factors, so
 * denormal results and overflow to +inf come out right). Written branch-free
 * so the compiler vectorises the loops that use it.
 */
#include <node_api.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "candor_pool.h"

#define CHECK(cond, msg) do { if (!(cond)) { napi_throw_range_error(env, NULL, "candor_ops: " msg); return NULL; } } while (0)

static inline float exp_f(float x0) {
  /* beyond float's range: exactly 0 or +inf; in between, 2^k is applied as two factors so that
     results down to the denormals and up to FLT_MAX are reached without overflowing the exponent */
  const float x = x0 < -104.0f ? -104.0f : (x0 > 89.0f ? 89.0f : x0);
  float k = __builtin_roundf(x * 1.44269504088896341f);
  float r = x - k * 0.693145751953125f - k * 1.42860682030941723e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t ki = (int32_t)k, k1 = ki >> 1, k2 = ki - k1;
  union { int32_t i; float f; } u1, u2;
  u1.i = (k1 + 127) << 23;
  u2.i = (k2 + 127) << 23;
  const float y = (p * u1.f) * u2.f;
  return x0 > 88.72283935546875f ? INFINITY : (x0 < -103.972077f ? 0.0f : y);
}

/* ---- argument helpers ---- */

static int arg_f32(napi_env env, napi_value v, float **p, size_t *len) {
  napi_typedarray_type t;
  void *data;
  if (napi_get_typedarray_info(env, v, &t, len, &data, NULL, NULL) != napi_ok || t != napi_float32_array) return 0;
  *p = data;
  return 1;
}
static int arg_f64(napi_env env, napi_value v, double **p, size_t *len) {
  napi_typedarray_type t;
  void *data;
  if (napi_get_typedarray_info(env, v, &t, len, &data, NULL, NULL) != napi_ok || t != napi_float64_array) return 0;
  *p = data;
  return 1;
}
static int arg_i32(napi_env env, napi_value v, int32_t **p, size_t *len) {
  napi_typedarray_type t;
  void *data;
  if (napi_get_typedarray_info(env, v, &t, len, &data, NULL, NULL) != napi_ok || t != napi_int32_array) return 0;
  *p = data;
  return 1;
}
static int arg_num(napi_env env, napi_value v, double *d) { return napi_get_value_double(env, v, d) == napi_ok; }
static int is_null(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && (t == napi_null || t == napi_undefined);
}
static int fits(double off, double n, size_t len) { return off >= 0 && n >= 0 && off + n <= (double)len; }


/* One loop per function: restrict pointers and nothing else in the loop, so each vectorises. */
/* p is double so that scale and addScalar round once, exactly as the TypeScript loops do */
#define MAP(name, expr) static void name(float *restrict o, const float *restrict x, size_t n, double p) { (void)p; for (size_t i = 0; i < n; i++) { const float v = x[i]; o[i] = (float)(expr); } }
MAP(k_scale, (double)v * p)
MAP(k_adds, (double)v + p)
MAP(k_exp, exp_f(v))
MAP(k_tanh, tanhf(v))
/* 0.5·x·(1 + tanh(u)) = x / (1 + e^(−2u)), u = √(2/π)(x + 0.044715x³) */
MAP(k_gelu_tanh, v / (1.0f + exp_f(-1.5957691216057308f * (v + 0.044715f * v * v * v))))
MAP(k_gelu_erf, 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)))
MAP(k_silu, v / (1.0f + exp_f(-v)))
MAP(k_sigmoid, 1.0f / (1.0f + exp_f(-v)))
MAP(k_relu, v > 0.0f ? v : 0.0f)
MAP(k_neg, -v)
MAP(k_square, v * v)
MAP(k_sqrt, sqrtf(v))
MAP(k_rsqrt, 1.0f / sqrtf(v))
MAP(k_log, logf(v))
MAP(k_abs, fabsf(v))

static void unary_kernel(int code, float *restrict o, const float *restrict x, size_t n, double p) {
  static void (*const table[])(float *restrict, const float *restrict, size_t, double) = {
    NULL, k_scale, k_adds, k_exp, k_tanh, k_gelu_tanh, k_gelu_erf, k_silu, k_sigmoid, k_relu, k_neg, k_square, k_sqrt, k_rsqrt, k_log, k_abs,
  };
  table[code](o, x, n, p);
}

#define ZIP(name, expr) static void name(float *restrict o, const float *restrict a, const float *restrict b, size_t m) { for (size_t j = 0; j < m; j++) o[j] = (expr); }
ZIP(k_add, a[j] + b[j])
ZIP(k_sub, a[j] - b[j])
ZIP(k_mul, a[j] * b[j])
ZIP(k_div, a[j] / b[j])
/* activation gradients: a = the activation's input (its output for tanh and sigmoid), b = the incoming gradient */
static inline float sigmoid_f(float x) { return 1.0f / (1.0f + exp_f(-x)); }
ZIP(k_gsilu, b[j] * sigmoid_f(a[j]) * (1.0f + a[j] * (1.0f - sigmoid_f(a[j]))))
/* with s = σ(2u), u = √(2/π)(x + 0.044715x³): 0.5(1 + tanh u) = s and 1 − tanh²u = 4s(1 − s), free of cancellation */
static inline float gelu_tanh_grad(float x) {
  const float s = sigmoid_f(2.0f * 0.7978845608028654f * (x + 0.044715f * x * x * x));
  return s + 2.0f * x * s * (1.0f - s) * 0.7978845608028654f * (1.0f + 0.134145f * x * x);
}
ZIP(k_ggelu_tanh, b[j] * gelu_tanh_grad(a[j]))
ZIP(k_ggelu_erf, b[j] * (0.5f * (1.0f + erff(a[j] * 0.70710678118654752f)) + a[j] * 0.3989422804014327f * exp_f(-0.5f * a[j] * a[j])))
ZIP(k_gtanh, b[j] * (1.0f - a[j] * a[j]))
ZIP(k_gsigmoid, b[j] * a[j] * (1.0f - a[j]))

/* ---- unary(op, out, outOff, x, xOff, n, p) ---- */

enum { U_COPY, U_SCALE, U_ADDS, U_EXP, U_TANH, U_GELU_TANH, U_GELU_ERF, U_SILU, U_SIGMOID, U_RELU, U_NEG, U_SQUARE, U_SQRT, U_RSQRT, U_LOG, U_ABS };

typedef struct { int code; float *out; const float *in; double p; } UnaryJob;

static void unary_part(void *ctx, size_t lo, size_t hi) {
  const UnaryJob *j = ctx;
  if (j->out != j->in) {
    unary_kernel(j->code, j->out + lo, j->in + lo, hi - lo, j->p);
    return;
  }
  /* in place: go through a small buffer so the kernels keep their no-alias contract */
  float buf[1024];
  for (size_t i = lo; i < hi; i += 1024) {
    const size_t m = hi - i < 1024 ? hi - i : 1024;
    memcpy(buf, j->in + i, m * sizeof(float));
    unary_kernel(j->code, j->out + i, buf, m, j->p);
  }
}

static napi_value Unary(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value a[7];
  float *o, *x;
  size_t lo, lx;
  double op, oo, xo, n, p;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL) == napi_ok && argc == 7, "unary takes 7 arguments");
  CHECK(arg_num(env, a[0], &op) && arg_f32(env, a[1], &o, &lo) && arg_num(env, a[2], &oo) && arg_f32(env, a[3], &x, &lx) &&
        arg_num(env, a[4], &xo) && arg_num(env, a[5], &n) && arg_num(env, a[6], &p), "unary: bad argument types");
  CHECK(fits(oo, n, lo) && fits(xo, n, lx), "unary: extent out of range");
  float *out = o + (size_t)oo;
  const float *in = x + (size_t)xo;
  const size_t N = (size_t)n;
  const double P = p;
  const int code = (int)op;
  CHECK(code >= U_COPY && code <= U_ABS, "unary: unknown op");
  if (code == U_COPY) memmove(out, in, N * sizeof(float)); /* may overlap: one thread */
  else {
    UnaryJob job = {code, out, in, P};
    candor_parallel(N, 1, unary_part, &job);
  }
  return NULL;
}

/* ---- binary(op, out, outOff, a, aOff, b, bOff, n, m): out[i] = a[i] ∘ b[i mod m] ---- */

enum { B_ADD, B_SUB, B_MUL, B_DIV, B_GSILU, B_GGELU_TANH, B_GGELU_ERF, B_GTANH, B_GSIGMOID };

typedef struct { int code; float *out; const float *a, *b; size_t m; } BinaryJob;

/* elements [lo, hi) of out = a ∘ b, b repeating every m, in chunks that stay inside one repeat */
static void binary_part(void *ctx, size_t lo, size_t hi) {
  static void (*const table[])(float *restrict, const float *restrict, const float *restrict, size_t) = {
    k_add, k_sub, k_mul, k_div, k_gsilu, k_ggelu_tanh, k_ggelu_erf, k_gtanh, k_gsigmoid};
  const BinaryJob *J = ctx;
  float buf[1024];
  for (size_t i = lo; i < hi;) {
    const size_t j = i % J->m;
    size_t k = J->m - j < hi - i ? J->m - j : hi - i;
    if (k > 1024) k = 1024;
    float *dst = J->out + i;
    const float *s1 = J->a + i, *s2 = J->b + j;
    /* an output overlapping an input (in-place accumulation) goes through a buffer */
    if (dst == s1 || dst == s2) {
      table[J->code](buf, s1, s2, k);
      memcpy(dst, buf, k * sizeof(float));
    } else table[J->code](dst, s1, s2, k);
    i += k;
  }
}

static napi_value Binary(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value a[9];
  float *o, *x, *y;
  size_t lo, lx, ly;
  double op, oo, xo, yo, n, m;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL) == napi_ok && argc == 9, "binary takes 9 arguments");
  CHECK(arg_num(env, a[0], &op) && arg_f32(env, a[1], &o, &lo) && arg_num(env, a[2], &oo) && arg_f32(env, a[3], &x, &lx) &&
        arg_num(env, a[4], &xo) && arg_f32(env, a[5], &y, &ly) && arg_num(env, a[6], &yo) && arg_num(env, a[7], &n) &&
        arg_num(env, a[8], &m), "binary: bad argument types");
  CHECK(m >= 1 && fmod(n, m) == 0, "binary: n must be a multiple of m");
  CHECK(fits(oo, n, lo) && fits(xo, n, lx) && fits(yo, m, ly), "binary: extent out of range");
  float *out = o + (size_t)oo;
  const float *in = x + (size_t)xo, *b = y + (size_t)yo;
  const size_t N = (size_t)n, M = (size_t)m;
  const int code = (int)op;
  CHECK(code >= B_ADD && code <= B_GSIGMOID, "binary: unknown op");
  BinaryJob job = {code, out, in, b, M};
  candor_parallel(N, 2, binary_part, &job);
  return NULL;
}

/* ---- norms: layerNorm(out, x, xOff, rows, d, w|null, wOff, b|null, bOff, eps, mean f64, rstd f64) ---- */

/* Row reductions in float64 over 8 independent partial sums: one running sum is bound by the
 * latency of each add (about 1.2 ns per element); eight let the compiler vectorise and pipeline. */
#define LANES 8
static double row_sum(const float *restrict s, size_t n, double mu, int squares) {
  double acc[LANES] = {0};
  size_t j = 0;
  for (; j + LANES <= n; j += LANES)
    for (size_t k = 0; k < LANES; k++) { const double t = (double)s[j + k] - mu; acc[k] += squares ? t * t : t; }
  double total = 0;
  for (; j < n; j++) { const double t = (double)s[j] - mu; total += squares ? t * t : t; }
  for (size_t k = 0; k < LANES; k++) total += acc[k];
  return total;
}

/* a norm over rows of d: out, x, weight and bias (NULL when absent), eps, RMSNorm's weight offset, per-row statistics */
typedef struct { float *o; const float *x, *w, *b; size_t d; double eps, off; double *mean, *rstd; } NormJob;

static void layer_norm_part(void *ctx, size_t lo, size_t hi) {
  const NormJob *J = ctx;
  const size_t D = J->d;
  const float *ww = J->w, *bb = J->b;
  for (size_t r = lo; r < hi; r++) {
    const float *restrict s = J->x + r * D;
    float *restrict dst = J->o + r * D;
    const double mu = row_sum(s, D, 0, 0) / D;
    const double rs = 1.0 / sqrt(row_sum(s, D, mu, 1) / D + J->eps);
    J->mean[r] = mu;
    J->rstd[r] = rs;
    const float m = (float)mu, q = (float)rs;
    if (ww && bb) for (size_t j = 0; j < D; j++) dst[j] = (s[j] - m) * q * ww[j] + bb[j];
    else if (ww) for (size_t j = 0; j < D; j++) dst[j] = (s[j] - m) * q * ww[j];
    else for (size_t j = 0; j < D; j++) dst[j] = (s[j] - m) * q;
  }
}

static void rms_norm_part(void *ctx, size_t lo, size_t hi) {
  const NormJob *J = ctx;
  const size_t D = J->d;
  const float fo = (float)J->off, *ww = J->w;
  for (size_t r = lo; r < hi; r++) {
    const float *restrict s = J->x + r * D;
    float *restrict dst = J->o + r * D;
    const double rs = 1.0 / sqrt(row_sum(s, D, 0, 1) / D + J->eps);
    J->rstd[r] = rs;
    const float q = (float)rs;
    if (ww) for (size_t j = 0; j < D; j++) dst[j] = s[j] * q * (fo + ww[j]);
    else for (size_t j = 0; j < D; j++) dst[j] = s[j] * q;
  }
}

static napi_value LayerNorm(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value a[12];
  float *o, *x, *w = NULL, *b = NULL;
  double *mean, *rstd;
  size_t lo, lx, lw = 0, lb = 0, lm, lr;
  double xo, rows, d, wo, bo, eps;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL) == napi_ok && argc == 12, "layerNorm takes 12 arguments");
  CHECK(arg_f32(env, a[0], &o, &lo) && arg_f32(env, a[1], &x, &lx) && arg_num(env, a[2], &xo) && arg_num(env, a[3], &rows) &&
        arg_num(env, a[4], &d) && (is_null(env, a[5]) || arg_f32(env, a[5], &w, &lw)) && arg_num(env, a[6], &wo) &&
        (is_null(env, a[7]) || arg_f32(env, a[7], &b, &lb)) && arg_num(env, a[8], &bo) && arg_num(env, a[9], &eps) &&
        arg_f64(env, a[10], &mean, &lm) && arg_f64(env, a[11], &rstd, &lr), "layerNorm: bad argument types");
  CHECK(fits(0, rows * d, lo) && fits(xo, rows * d, lx) && (!w || fits(wo, d, lw)) && (!b || fits(bo, d, lb)) && lm >= rows && lr >= rows, "layerNorm: extent out of range");
  NormJob job = {o, x + (size_t)xo, w ? w + (size_t)wo : NULL, b ? b + (size_t)bo : NULL, (size_t)d, eps, 0, mean, rstd};
  candor_parallel((size_t)rows, (size_t)d, layer_norm_part, &job);
  return NULL;
}

/* rmsNorm(out, x, xOff, rows, d, w|null, wOff, eps, offset, rstd f64) */
static napi_value RmsNorm(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value a[10];
  float *o, *x, *w = NULL;
  double *rstd;
  size_t lo, lx, lw = 0, lr;
  double xo, rows, d, wo, eps, off;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL) == napi_ok && argc == 10, "rmsNorm takes 10 arguments");
  CHECK(arg_f32(env, a[0], &o, &lo) && arg_f32(env, a[1], &x, &lx) && arg_num(env, a[2], &xo) && arg_num(env, a[3], &rows) &&
        arg_num(env, a[4], &d) && (is_null(env, a[5]) || arg_f32(env, a[5], &w, &lw)) && arg_num(env, a[6], &wo) &&
        arg_num(env, a[7], &eps) && arg_num(env, a[8], &off) && arg_f64(env, a[9], &rstd, &lr), "rmsNorm: bad argument types");
  CHECK(fits(0, rows * d, lo) && fits(xo, rows * d, lx) && (!w || fits(wo, d, lw)) && lr >= rows, "rmsNorm: extent out of range");
  NormJob job = {o, x + (size_t)xo, w ? w + (size_t)wo : NULL, NULL, (size_t)d, eps, off, NULL, rstd};
  candor_parallel((size_t)rows, (size_t)d, rms_norm_part, &job);
  return NULL;
}

/* softmax over rows of n: softmax(out, x, xOff, rows, n) */
static void softmax_row(float *restrict dst, const float *restrict s, size_t n) {
  float m = -INFINITY;
  for (size_t j = 0; j < n; j++) m = s[j] > m ? s[j] : m;
  for (size_t j = 0; j < n; j++) dst[j] = exp_f(s[j] - m);
  double z = 0;
  for (size_t j = 0; j < n; j++) z += dst[j];
  const float inv = (float)(1.0 / z);
  for (size_t j = 0; j < n; j++) dst[j] *= inv;
}

typedef struct { float *o; const float *x; size_t n; } RowsJob;

static void softmax_part(void *ctx, size_t lo, size_t hi) {
  const RowsJob *J = ctx;
  for (size_t r = lo; r < hi; r++) softmax_row(J->o + r * J->n, J->x + r * J->n, J->n);
}

static napi_value Softmax(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value a[5];
  float *o, *x;
  size_t lo, lx;
  double xo, rows, n;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL) == napi_ok && argc == 5, "softmax takes 5 arguments");
  CHECK(arg_f32(env, a[0], &o, &lo) && arg_f32(env, a[1], &x, &lx) && arg_num(env, a[2], &xo) && arg_num(env, a[3], &rows) && arg_num(env, a[4], &n), "softmax: bad argument types");
  CHECK(fits(0, rows * n, lo) && fits(xo, rows * n, lx) && n >= 1, "softmax: extent out of range");
  RowsJob job = {o, x + (size_t)xo, (size_t)n};
  candor_parallel((size_t)rows, (size_t)n, softmax_part, &job);
  return NULL;
}

/*
 * attentionSoftmax(out, x, xOff, B, H, Q, K, scale, softcap (0 = none), past, window (-1 = none), keyMask Int32Array|null, dead Uint8Array-as-Int32Array)
 * Same semantics as the TypeScript op: visible keys of query i are
 * max(0, past+i−window+1) ≤ j ≤ min(K−1, past+i) with keyMask[b][j] = 1; rows
 * with no visible key become uniform and are flagged in dead[].
 */
typedef struct { float *o; const float *x; const int32_t *km; int32_t *dead; size_t nh, nq, nk; float scale, cap, inv_cap; long past, window; } AttnJob;

/* rows [lo, hi) of the B·H·Q rows of scores */
static void attention_softmax_part(void *ctx, size_t lo, size_t hi) {
  const AttnJob *J = ctx;
  const size_t nk = J->nk;
  const float sc = J->scale, fc = J->cap, inv_cap = J->inv_cap;
  for (size_t row = lo; row < hi; row++) {
    const size_t b = row / (J->nh * J->nq), i = row % J->nq;
    const float *restrict s = J->x + row * nk;
    float *restrict dst = J->o + row * nk;
    const long qa = J->past + (long)i;
    const long hi_ = qa < (long)nk - 1 ? qa : (long)nk - 1;
    long lo_ = J->window < 0 ? 0 : qa - J->window + 1;
    if (lo_ < 0) lo_ = 0;
    const int32_t *mrow = J->km ? J->km + b * nk : NULL;
    float m = -INFINITY;
    for (long j = lo_; j <= hi_; j++) {
      if (mrow && mrow[j] == 0) continue;
      float v = s[j] * sc;
      if (fc > 0) v = fc * tanhf(v * inv_cap);
      dst[j] = v;
      m = v > m ? v : m;
    }
    J->dead[row] = m == -INFINITY;
    if (m == -INFINITY) {
      for (size_t j = 0; j < nk; j++) dst[j] = 1.0f / (float)nk;
      continue;
    }
    for (long j = 0; j < lo_; j++) dst[j] = 0.0f;
    for (long j = hi_ + 1; j < (long)nk; j++) dst[j] = 0.0f;
    double z = 0;
    if (mrow) {
      for (long j = lo_; j <= hi_; j++) dst[j] = mrow[j] ? exp_f(dst[j] - m) : 0.0f;
    } else {
      for (long j = lo_; j <= hi_; j++) dst[j] = exp_f(dst[j] - m);
    }
    for (long j = lo_; j <= hi_; j++) z += dst[j];
    const float inv = (float)(1.0 / z);
    for (long j = lo_; j <= hi_; j++) dst[j] *= inv;
  }
}

static napi_value AttentionSoftmax(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value a[13];
  float *o, *x;
  int32_t *km = NULL, *dead;
  size_t lo, lx, lk = 0, ld;
  double xo, B, H, Q, K, scale, cap, past, window;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL) == napi_ok && argc == 13, "attentionSoftmax takes 13 arguments");
  CHECK(arg_f32(env, a[0], &o, &lo) && arg_f32(env, a[1], &x, &lx) && arg_num(env, a[2], &xo) && arg_num(env, a[3], &B) &&
        arg_num(env, a[4], &H) && arg_num(env, a[5], &Q) && arg_num(env, a[6], &K) && arg_num(env, a[7], &scale) &&
        arg_num(env, a[8], &cap) && arg_num(env, a[9], &past) && arg_num(env, a[10], &window) &&
        (is_null(env, a[11]) || arg_i32(env, a[11], &km, &lk)) && arg_i32(env, a[12], &dead, &ld), "attentionSoftmax: bad argument types");
  const double total = B * H * Q * K;
  CHECK(fits(0, total, lo) && fits(xo, total, lx) && (!km || lk >= B * K) && ld >= B * H * Q && K >= 1, "attentionSoftmax: extent out of range");
  AttnJob job = {o, x + (size_t)xo, km, dead, (size_t)H, (size_t)Q, (size_t)K, (float)scale, (float)cap, cap > 0 ? (float)(1.0 / cap) : 0.0f, (long)past, (long)window};
  candor_parallel((size_t)(B * H * Q), (size_t)K, attention_softmax_part, &job);
  return NULL;
}

/*
 * copy(out, x, xOff, shape[4], strides[4]): out (contiguous) ← x read with up
 * to four strided dimensions (leading sizes 1 when fewer).
 */
typedef struct { float *o; const float *x; size_t n[3]; size_t s[4]; } CopyJob;

/* rows [lo, hi) of the d0·d1·d2 rows of d3 elements */
static void copy_part(void *ctx, size_t lo, size_t hi) {
  const CopyJob *J = ctx;
  const size_t n1 = J->n[0], n2 = J->n[1], n3 = J->n[2];
  float *restrict dst = J->o + lo * n3;
  for (size_t row = lo; row < hi; row++) {
    const size_t i = row / (n1 * n2), j = row / n2 % n1, k = row % n2;
    const float *restrict s = J->x + i * J->s[0] + j * J->s[1] + k * J->s[2];
    if (J->s[3] == 1) { memcpy(dst, s, n3 * sizeof(float)); dst += n3; }
    else for (size_t l = 0; l < n3; l++) *dst++ = s[l * J->s[3]];
  }
}

static napi_value CopyStrided(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value a[11];
  float *o, *x;
  size_t lo, lx;
  double xo, d[4], st[4];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL) == napi_ok && argc == 11, "copy takes 11 arguments");
  CHECK(arg_f32(env, a[0], &o, &lo) && arg_f32(env, a[1], &x, &lx) && arg_num(env, a[2], &xo), "copy: bad argument types");
  for (int i = 0; i < 4; i++) CHECK(arg_num(env, a[3 + i], &d[i]) && arg_num(env, a[7 + i], &st[i]) && d[i] >= 1 && st[i] >= 0, "copy: bad shape or stride");
  double last = xo;
  for (int i = 0; i < 4; i++) last += (d[i] - 1) * st[i];
  CHECK(fits(0, d[0] * d[1] * d[2] * d[3], lo) && xo >= 0 && last < (double)lx, "copy: extent out of range");
  CopyJob job = {o, x + (size_t)xo, {(size_t)d[1], (size_t)d[2], (size_t)d[3]}, {(size_t)st[0], (size_t)st[1], (size_t)st[2], (size_t)st[3]}};
  candor_parallel((size_t)(d[0] * d[1] * d[2]), (size_t)d[3], copy_part, &job);
  return NULL;
}

/*
 * rotary(out, x, xOff, B, T, H, D, R, cos, cosOff, sin, sinOff, perBatch, interleaved, sign):
 * out [B, T, H, D] (contiguous) ← x with its first R dims rotated in pairs by
 * the angles of cos/sin ([T, R/2], or [B, T, R/2] when perBatch); pairs are
 * (i, i + R/2), or (2i, 2i + 1) when interleaved; sign −1 rotates back.
 */
typedef struct { float *o; const float *x, *co, *si; size_t nt, nh, nd, nr; bool per, inter; float sign; } RotaryJob;

/* positions [lo, hi) of the B·T positions */
static void rotary_part(void *ctx, size_t lo, size_t hi) {
  const RotaryJob *J = ctx;
  const size_t nh = J->nh, nd = J->nd, nr = J->nr, half = nr / 2;
  const float sg = J->sign;
  for (size_t bt = lo; bt < hi; bt++) {
    const size_t tb = (J->per ? bt : bt % J->nt) * half;
    const float *restrict c = J->co + tb, *restrict s = J->si + tb;
    for (size_t h = 0; h < nh; h++) {
      const size_t base = (bt * nh + h) * nd;
      const float *restrict src = J->x + base;
      float *restrict dst = J->o + base;
      if (!J->inter) {
        for (size_t i = 0; i < half; i++) {
          const float x1 = src[i], x2 = src[i + half], cv = c[i], sv = s[i] * sg;
          dst[i] = x1 * cv - x2 * sv;
          dst[i + half] = x2 * cv + x1 * sv;
        }
      } else {
        for (size_t i = 0; i < half; i++) {
          const float x1 = src[2 * i], x2 = src[2 * i + 1], cv = c[i], sv = s[i] * sg;
          dst[2 * i] = x1 * cv - x2 * sv;
          dst[2 * i + 1] = x2 * cv + x1 * sv;
        }
      }
      if (nr < nd) memcpy(dst + nr, src + nr, (nd - nr) * sizeof(float));
    }
  }
}

static napi_value Rotary(napi_env env, napi_callback_info info) {
  size_t argc = 15;
  napi_value a[15];
  float *o, *x, *co, *si;
  size_t lo, lx, lc, ls;
  double xo, B, T, H, D, R, cof, sof, sign;
  bool per, inter;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL) == napi_ok && argc == 15, "rotary takes 15 arguments");
  CHECK(arg_f32(env, a[0], &o, &lo) && arg_f32(env, a[1], &x, &lx) && arg_num(env, a[2], &xo) && arg_num(env, a[3], &B) &&
        arg_num(env, a[4], &T) && arg_num(env, a[5], &H) && arg_num(env, a[6], &D) && arg_num(env, a[7], &R) &&
        arg_f32(env, a[8], &co, &lc) && arg_num(env, a[9], &cof) && arg_f32(env, a[10], &si, &ls) && arg_num(env, a[11], &sof) &&
        napi_get_value_bool(env, a[12], &per) == napi_ok && napi_get_value_bool(env, a[13], &inter) == napi_ok &&
        arg_num(env, a[14], &sign), "rotary: bad argument types");
  const double n = B * T * H * D, nc = (per ? B * T : T) * (R / 2);
  CHECK(fmod(R, 2) == 0 && R > 0 && R <= D, "rotary: R must be even and in (0, D]");
  CHECK(fits(0, n, lo) && fits(xo, n, lx) && fits(cof, nc, lc) && fits(sof, nc, ls), "rotary: extent out of range");
  RotaryJob job = {o, x + (size_t)xo, co + (size_t)cof, si + (size_t)sof, (size_t)T, (size_t)H, (size_t)D, (size_t)R, per, inter, (float)sign};
  candor_parallel((size_t)(B * T), (size_t)(H * D), rotary_part, &job);
  return NULL;
}

/*
 * rmsNormBackward(gx|null, gw|null, g, gOff, x, xOff, rows, d, w|null, wOff, offset, rstd f64):
 * with x̂ = x·rstd and h = g·(offset + w): gx = rstd·(h − x̂·mean(h·x̂)) per row;
 * gw += Σ_rows g·x̂ (accumulated in double, added to what gw holds).
 * gx goes by rows and gw by columns, each column summed over the rows in
 * order, so the result does not depend on how the threads split the work.
 */
typedef struct { float *gx; double *gwa; const float *g, *x, *w; const double *rstd; size_t rows, d; float off; } RmsBackJob;

static void rms_back_rows(void *ctx, size_t lo, size_t hi) {
  const RmsBackJob *J = ctx;
  const size_t D = J->d;
  const float fo = J->off, *ww = J->w;
  for (size_t r = lo; r < hi; r++) {
    const float *restrict gr = J->g + r * D, *restrict xr = J->x + r * D;
    const float rs = (float)J->rstd[r];
    double acc[LANES] = {0}, dot = 0;
    size_t j = 0;
    for (; j + LANES <= D; j += LANES)
      for (size_t k = 0; k < LANES; k++) {
        const float h = ww ? gr[j + k] * (fo + ww[j + k]) : gr[j + k];
        acc[k] += (double)h * (xr[j + k] * rs);
      }
    for (; j < D; j++) dot += (double)(ww ? gr[j] * (fo + ww[j]) : gr[j]) * (xr[j] * rs);
    for (size_t k = 0; k < LANES; k++) dot += acc[k];
    const float md = (float)(dot / (double)D);
    float *restrict o = J->gx + r * D;
    for (size_t c = 0; c < D; c++) {
      const float xh = xr[c] * rs, h = ww ? gr[c] * (fo + ww[c]) : gr[c];
      o[c] = rs * (h - xh * md);
    }
  }
}

/* columns [lo, hi) of gw */
static void rms_back_cols(void *ctx, size_t lo, size_t hi) {
  const RmsBackJob *J = ctx;
  const size_t D = J->d;
  double *restrict a = J->gwa;
  for (size_t r = 0; r < J->rows; r++) {
    const float *restrict gr = J->g + r * D, *restrict xr = J->x + r * D;
    const float rs = (float)J->rstd[r];
    for (size_t j = lo; j < hi; j++) a[j] += (double)gr[j] * (xr[j] * rs);
  }
}

static napi_value RmsNormBackward(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value a[12];
  float *gx = NULL, *gw = NULL, *g, *x, *w = NULL;
  double *rstd;
  size_t lgx = 0, lgw = 0, lg, lx, lw = 0, lr;
  double go, xo, rows, d, wo, off;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL) == napi_ok && argc == 12, "rmsNormBackward takes 12 arguments");
  CHECK((is_null(env, a[0]) || arg_f32(env, a[0], &gx, &lgx)) && (is_null(env, a[1]) || arg_f32(env, a[1], &gw, &lgw)) &&
        arg_f32(env, a[2], &g, &lg) && arg_num(env, a[3], &go) && arg_f32(env, a[4], &x, &lx) && arg_num(env, a[5], &xo) &&
        arg_num(env, a[6], &rows) && arg_num(env, a[7], &d) && (is_null(env, a[8]) || arg_f32(env, a[8], &w, &lw)) &&
        arg_num(env, a[9], &wo) && arg_num(env, a[10], &off) && arg_f64(env, a[11], &rstd, &lr), "rmsNormBackward: bad argument types");
  CHECK((!gx || fits(0, rows * d, lgx)) && (!gw || fits(0, d, lgw)) && fits(go, rows * d, lg) && fits(xo, rows * d, lx) &&
        (!w || fits(wo, d, lw)) && lr >= rows && d >= 1, "rmsNormBackward: extent out of range");
  const size_t R = (size_t)rows, D = (size_t)d;
  RmsBackJob job = {gx, NULL, g + (size_t)go, x + (size_t)xo, w ? w + (size_t)wo : NULL, rstd, R, D, (float)off};
  if (gx) candor_parallel(R, 2 * D, rms_back_rows, &job);
  if (gw) {
    job.gwa = calloc(D, sizeof(double));
    CHECK(job.gwa != NULL, "rmsNormBackward: out of memory");
    candor_parallel(D, 2 * R, rms_back_cols, &job);
    for (size_t j = 0; j < D; j++) gw[j] += (float)job.gwa[j];
    free(job.gwa);
  }
  return NULL;
}

/*
 * layerNormBackward(gx|null, gw|null, gb|null, g, gOff, x, xOff, rows, d, w|null, wOff, mean f64, rstd f64):
 * with x̂ = (x − mean)·rstd and h = g·w: gx = rstd·(h − mean(h) − x̂·mean(h·x̂)) per row;
 * gw += Σ_rows g·x̂ and gb += Σ_rows g (accumulated in double).
 */
static napi_value LayerNormBackward(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value a[13];
  float *gx = NULL, *gw = NULL, *gb = NULL, *g, *x, *w = NULL;
  double *mean, *rstd;
  size_t lgx = 0, lgw = 0, lgb = 0, lg, lx, lw = 0, lm, lr;
  double go, xo, rows, d, wo;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL) == napi_ok && argc == 13, "layerNormBackward takes 13 arguments");
  CHECK((is_null(env, a[0]) || arg_f32(env, a[0], &gx, &lgx)) && (is_null(env, a[1]) || arg_f32(env, a[1], &gw, &lgw)) &&
        (is_null(env, a[2]) || arg_f32(env, a[2], &gb, &lgb)) && arg_f32(env, a[3], &g, &lg) && arg_num(env, a[4], &go) &&
        arg_f32(env, a[5], &x, &lx) && arg_num(env, a[6], &xo) && arg_num(env, a[7], &rows) && arg_num(env, a[8], &d) &&
        (is_null(env, a[9]) || arg_f32(env, a[9], &w, &lw)) && arg_num(env, a[10], &wo) && arg_f64(env, a[11], &mean, &lm) &&
        arg_f64(env, a[12], &rstd, &lr), "layerNormBackward: bad argument types");
  CHECK((!gx || fits(0, rows * d, lgx)) && (!gw || fits(0, d, lgw)) && (!gb || fits(0, d, lgb)) && fits(go, rows * d, lg) &&
        fits(xo, rows * d, lx) && (!w || fits(wo, d, lw)) && lm >= rows && lr >= rows && d >= 1, "layerNormBackward: extent out of range");
  const size_t R = (size_t)rows, D = (size_t)d;
  double *accw = gw ? calloc(D, sizeof(double)) : NULL, *accb = gb ? calloc(D, sizeof(double)) : NULL;
  if ((gw && !accw) || (gb && !accb)) {
    free(accw);
    free(accb);
    napi_throw_range_error(env, NULL, "candor_ops: layerNormBackward: out of memory");
    return NULL;
  }
  for (size_t r = 0; r < R; r++) {
    const float *restrict gr = g + (size_t)go + r * D, *restrict xr = x + (size_t)xo + r * D;
    const float m = (float)mean[r], rs = (float)rstd[r];
    double sg = 0, sgx = 0;
    for (size_t j = 0; j < D; j++) {
      const float xh = (xr[j] - m) * rs, h = w ? gr[j] * w[(size_t)wo + j] : gr[j];
      sg += h;
      sgx += (double)h * xh;
    }
    if (gw) for (size_t j = 0; j < D; j++) accw[j] += (double)gr[j] * ((xr[j] - m) * rs);
    if (gb) for (size_t j = 0; j < D; j++) accb[j] += gr[j];
    if (gx) {
      const float mg = (float)(sg / (double)D), mgx = (float)(sgx / (double)D);
      float *restrict o = gx + r * D;
      for (size_t j = 0; j < D; j++) {
        const float xh = (xr[j] - m) * rs, h = w ? gr[j] * w[(size_t)wo + j] : gr[j];
        o[j] = rs * (h - mg - xh * mgx);
      }
    }
  }
  if (gw) for (size_t j = 0; j < D; j++) gw[j] += (float)accw[j];
  if (gb) for (size_t j = 0; j < D; j++) gb[j] += (float)accb[j];
  free(accw);
  free(accb);
  return NULL;
}

typedef struct { double *lse; const float *x; size_t n; } LseJob;

static void log_sum_exp_part(void *ctx, size_t lo, size_t hi) {
  const LseJob *J = ctx;
  const size_t N = J->n;
  for (size_t r = lo; r < hi; r++) {
    const float *restrict s = J->x + r * N;
    float m = -INFINITY;
    for (size_t j = 0; j < N; j++) m = s[j] > m ? s[j] : m;
    double z = 0;
    for (size_t j = 0; j < N; j++) z += exp_f(s[j] - m);
    J->lse[r] = (double)m + log(z);
  }
}

/* logSumExp(lse f64, x, xOff, rows, n): lse[r] = log Σ_j exp(x[r, j]) */
static napi_value LogSumExp(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value a[5];
  double *lse, xo, rows, n;
  float *x;
  size_t ll, lx;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL) == napi_ok && argc == 5, "logSumExp takes 5 arguments");
  CHECK(arg_f64(env, a[0], &lse, &ll) && arg_f32(env, a[1], &x, &lx) && arg_num(env, a[2], &xo) && arg_num(env, a[3], &rows) &&
        arg_num(env, a[4], &n), "logSumExp: bad argument types");
  CHECK(ll >= rows && fits(xo, rows * n, lx) && n >= 1, "logSumExp: extent out of range");
  LseJob job = {lse, x + (size_t)xo, (size_t)n};
  candor_parallel((size_t)rows, (size_t)n, log_sum_exp_part, &job);
  return NULL;
}

typedef struct { float *o; const float *x; const double *lse; const int32_t *t; int32_t ignore; size_t n; float s; } CeJob;

static void cross_entropy_backward_part(void *ctx, size_t lo, size_t hi) {
  const CeJob *J = ctx;
  const size_t N = J->n;
  const float fs = J->s;
  for (size_t r = lo; r < hi; r++) {
    float *restrict dst = J->o + r * N;
    const int32_t tr = J->t[r];
    if (tr == J->ignore) { memset(dst, 0, N * sizeof(float)); continue; }
    const float *restrict s = J->x + r * N;
    const float l = (float)J->lse[r];
    for (size_t j = 0; j < N; j++) dst[j] = exp_f(s[j] - l) * fs;
    dst[tr] -= fs;
  }
}

/*
 * crossEntropyBackward(out, x, xOff, rows, n, lse f64, targets i32, tOff, ignore, s):
 * out[r, :] = s·softmax(x[r, :]) − s·onehot(target), rows whose target is `ignore` zero.
 */
static napi_value CrossEntropyBackward(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value a[10];
  float *o, *x;
  double *lse, xo, rows, n, to, ign, sc;
  int32_t *t;
  size_t lo, lx, ll, lt;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL) == napi_ok && argc == 10, "crossEntropyBackward takes 10 arguments");
  CHECK(arg_f32(env, a[0], &o, &lo) && arg_f32(env, a[1], &x, &lx) && arg_num(env, a[2], &xo) && arg_num(env, a[3], &rows) &&
        arg_num(env, a[4], &n) && arg_f64(env, a[5], &lse, &ll) && arg_i32(env, a[6], &t, &lt) && arg_num(env, a[7], &to) &&
        arg_num(env, a[8], &ign) && arg_num(env, a[9], &sc), "crossEntropyBackward: bad argument types");
  CHECK(fits(0, rows * n, lo) && fits(xo, rows * n, lx) && ll >= rows && fits(to, rows, lt), "crossEntropyBackward: extent out of range");
  for (size_t r = 0; r < (size_t)rows; r++) {
    const int32_t tr = t[(size_t)to + r];
    CHECK(tr == (int32_t)ign || (tr >= 0 && tr < n), "crossEntropyBackward: target out of range");
  }
  CeJob job = {o, x + (size_t)xo, lse, t + (size_t)to, (int32_t)ign, (size_t)n, (float)sc};
  candor_parallel((size_t)rows, (size_t)n, cross_entropy_backward_part, &job);
  return NULL;
}

typedef struct { float *gi; const float *g, *p, *x; const int32_t *dead; size_t nk; float scale, inv_cap; int capped; } AttnBackJob;

static void attention_softmax_backward_part(void *ctx, size_t lo, size_t hi) {
  const AttnBackJob *J = ctx;
  const size_t nk = J->nk;
  const float sc = J->scale, inv_cap = J->inv_cap;
  for (size_t r = lo; r < hi; r++) {
    float *restrict dst = J->gi + r * nk;
    if (J->dead[r]) { memset(dst, 0, nk * sizeof(float)); continue; }
    const float *restrict gr = J->g + r * nk, *restrict pr = J->p + r * nk;
    double dot = 0;
    for (size_t j = 0; j < nk; j++) dot += (double)gr[j] * pr[j];
    const float fd = (float)dot;
    for (size_t j = 0; j < nk; j++) {
      float d = pr[j] * (gr[j] - fd);
      if (J->capped && pr[j] != 0) {
        const float t = tanhf(J->x[r * nk + j] * sc * inv_cap);
        d *= 1.0f - t * t;
      }
      dst[j] = d * sc;
    }
  }
}

/*
 * attentionSoftmaxBackward(gi, g, gOff, p, x, xOff, rows, K, scale, cap, dead i32):
 * gi = p·(g − Σ g·p)·scale per row, times 1 − tanh² of the capped score when cap > 0;
 * dead rows (no visible key) get zeros.
 */
static napi_value AttentionSoftmaxBackward(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value a[11];
  float *gi, *g, *p, *x;
  int32_t *dead;
  size_t lgi, lg, lp, lx, ld;
  double go, xo, rows, K, scale, cap;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL) == napi_ok && argc == 11, "attentionSoftmaxBackward takes 11 arguments");
  CHECK(arg_f32(env, a[0], &gi, &lgi) && arg_f32(env, a[1], &g, &lg) && arg_num(env, a[2], &go) && arg_f32(env, a[3], &p, &lp) &&
        arg_f32(env, a[4], &x, &lx) && arg_num(env, a[5], &xo) && arg_num(env, a[6], &rows) && arg_num(env, a[7], &K) &&
        arg_num(env, a[8], &scale) && arg_num(env, a[9], &cap) && arg_i32(env, a[10], &dead, &ld), "attentionSoftmaxBackward: bad argument types");
  const double total = rows * K;
  CHECK(fits(0, total, lgi) && fits(go, total, lg) && fits(0, total, lp) && fits(xo, total, lx) && ld >= rows, "attentionSoftmaxBackward: extent out of range");
  AttnBackJob job = {gi, g + (size_t)go, p, x + (size_t)xo, dead, (size_t)K, (float)scale, cap > 0 ? (float)(1.0 / cap) : 0.0f, cap > 0};
  candor_parallel((size_t)rows, 3 * (size_t)K, attention_softmax_backward_part, &job);
  return NULL;
}

/*
 * adamwStep(w, g, m f64, v f64, n, lr, b1, b2, c1, c2, eps, decay, gs): one AdamW update of the
 * gradient gs·g (gs folds global-norm clipping into this pass), in double:
 * m ← b1·m + (1−b1)·gs·g, v ← b2·v + (1−b2)·(gs·g)², w ← w·decay − (lr/c1)·m/(√(v·(1/c2)) + eps).
 * The loop lives in its own function so that its scalars are plain values and its arrays
 * restrict: the compiler then vectorises it (reading scalars whose address napi took made it
 * reload them every element, scalar, four times slower); noinline keeps it so, as inlining
 * into the napi function brings the address-taken scalars back.
 */
static __attribute__((noinline)) void adamw_update(float *restrict w, const float *restrict g, double *restrict m, double *restrict v, size_t n,
                         double step, double b1, double b2, double ic2, double eps, double decay, double gs) {
  for (size_t j = 0; j < n; j++) {
    const double gj = (double)g[j] * gs;
    const double mj = m[j] = b1 * m[j] + (1 - b1) * gj;
    const double vj = v[j] = b2 * v[j] + (1 - b2) * gj * gj;
    w[j] = (float)(w[j] * decay - step * mj / (sqrt(vj * ic2) + eps));
  }
}

typedef struct { float *w; const float *g; double *m, *v; double step, b1, b2, ic2, eps, decay, gs; } AdamJob;

static void adamw_part(void *ctx, size_t lo, size_t hi) {
  const AdamJob *J = ctx;
  adamw_update(J->w + lo, J->g + lo, J->m + lo, J->v + lo, hi - lo, J->step, J->b1, J->b2, J->ic2, J->eps, J->decay, J->gs);
}

static napi_value AdamWStep(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value a[13];
  float *w, *g;
  double *m, *v, n, lr, b1, b2, c1, c2, eps, decay, gs;
  size_t lw, lg, lm, lv;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL) == napi_ok && argc == 13, "adamwStep takes 13 arguments");
  CHECK(arg_f32(env, a[0], &w, &lw) && arg_f32(env, a[1], &g, &lg) && arg_f64(env, a[2], &m, &lm) && arg_f64(env, a[3], &v, &lv) &&
        arg_num(env, a[4], &n) && arg_num(env, a[5], &lr) && arg_num(env, a[6], &b1) && arg_num(env, a[7], &b2) &&
        arg_num(env, a[8], &c1) && arg_num(env, a[9], &c2) && arg_num(env, a[10], &eps) && arg_num(env, a[11], &decay) &&
        arg_num(env, a[12], &gs), "adamwStep: bad argument types");
  CHECK(fits(0, n, lw) && fits(0, n, lg) && fits(0, n, lm) && fits(0, n, lv), "adamwStep: extent out of range");
  AdamJob job = {w, g, m, v, lr / c1, b1, b2, 1 / c2, eps, decay, gs};
  candor_parallel((size_t)n, 6, adamw_part, &job);
  return NULL;
}

/*
 * sumSquares(x, xOff, n) → Σ x² in double. Fixed chunks are summed into their
 * own slots and the slots added in order, so the total does not depend on the
 * thread count.
 */
#define SUMSQ_CHUNK 8192
typedef struct { const float *x; size_t n; double *part; } SumSqJob;

static void sumsq_part(void *ctx, size_t lo, size_t hi) {
  const SumSqJob *J = ctx;
  for (size_t c = lo; c < hi; c++) {
    const size_t a = c * SUMSQ_CHUNK, b = a + SUMSQ_CHUNK < J->n ? a + SUMSQ_CHUNK : J->n;
    J->part[c] = row_sum(J->x + a, b - a, 0, 1);
  }
}

static napi_value SumSquares(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value a[3], r;
  float *x;
  size_t lx;
  double xo, n;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL) == napi_ok && argc == 3, "sumSquares takes 3 arguments");
  CHECK(arg_f32(env, a[0], &x, &lx) && arg_num(env, a[1], &xo) && arg_num(env, a[2], &n), "sumSquares: bad argument types");
  CHECK(fits(xo, n, lx), "sumSquares: extent out of range");
  const size_t chunks = ((size_t)n + SUMSQ_CHUNK - 1) / SUMSQ_CHUNK;
  double one, *part = chunks <= 1 ? &one : malloc(chunks * sizeof(double));
  CHECK(part != NULL, "sumSquares: out of memory");
  SumSqJob job = {x + (size_t)xo, (size_t)n, part};
  if (chunks > 0) candor_parallel(chunks, SUMSQ_CHUNK, sumsq_part, &job);
  double total = 0;
  for (size_t c = 0; c < chunks; c++) total += part[c];
  if (part != &one) free(part);
  napi_create_double(env, total, &r);
  return r;
}

void candor_register_ops(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"unary", NULL, Unary, NULL, NULL, NULL, napi_enumerable, NULL},
    {"binary", NULL, Binary, NULL, NULL, NULL, napi_enumerable, NULL},
    {"layerNorm", NULL, LayerNorm, NULL, NULL, NULL, napi_enumerable, NULL},
    {"rmsNorm", NULL, RmsNorm, NULL, NULL, NULL, napi_enumerable, NULL},
    {"softmax", NULL, Softmax, NULL, NULL, NULL, napi_enumerable, NULL},
    {"attentionSoftmax", NULL, AttentionSoftmax, NULL, NULL, NULL, napi_enumerable, NULL},
    {"copy", NULL, CopyStrided, NULL, NULL, NULL, napi_enumerable, NULL},
    {"rotary", NULL, Rotary, NULL, NULL, NULL, napi_enumerable, NULL},
    {"rmsNormBackward", NULL, RmsNormBackward, NULL, NULL, NULL, napi_enumerable, NULL},
    {"layerNormBackward", NULL, LayerNormBackward, NULL, NULL, NULL, napi_enumerable, NULL},
    {"logSumExp", NULL, LogSumExp, NULL, NULL, NULL, napi_enumerable, NULL},
    {"crossEntropyBackward", NULL, CrossEntropyBackward, NULL, NULL, NULL, napi_enumerable, NULL},
    {"attentionSoftmaxBackward", NULL, AttentionSoftmaxBackward, NULL, NULL, NULL, napi_enumerable, NULL},
    {"adamwStep", NULL, AdamWStep, NULL, NULL, NULL, napi_enumerable, NULL},
    {"sumSquares", NULL, SumSquares, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
