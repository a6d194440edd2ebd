/*
 * The non-GEMM float32 kernels of the WebAssembly kernel: the same functions
 * as native/candor_ops.c (and the TypeScript loops they stand in for), on
 * 128-bit SIMD. Sums (norm statistics, softmax denominators) accumulate in
 * f64. exp is candor_ops.c's: range reduction to |r| ≤ ln2/2, a degree-7
 * Taylor polynomial, and 2^k applied as two factors so that denormal results
 * and overflow to +inf come out right.
 *
 * Each function works on a range of rows or elements, so that the dispatcher
 * in index.ts can hand threads disjoint parts. Inputs and outputs never alias
 * (the JavaScript side copies operands into their own regions).
 */

// @ts-ignore: decorator
@inline function sp(x: f32): v128 {
  return f32x4.splat(x);
}

function exp4(x0: v128): v128 {
  const x = f32x4.max(f32x4.min(x0, sp(89.0)), sp(-104.0));
  const k = f32x4.nearest(f32x4.mul(x, sp(1.44269504088896341)));
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(k, sp(0.693145751953125))), f32x4.mul(k, sp(1.42860682030941723e-6)));
  let p = sp(1.0 / 5040.0);
  p = f32x4.add(f32x4.mul(p, r), sp(1.0 / 720.0));
  p = f32x4.add(f32x4.mul(p, r), sp(1.0 / 120.0));
  p = f32x4.add(f32x4.mul(p, r), sp(1.0 / 24.0));
  p = f32x4.add(f32x4.mul(p, r), sp(1.0 / 6.0));
  p = f32x4.add(f32x4.mul(p, r), sp(0.5));
  p = f32x4.add(f32x4.mul(p, r), sp(1.0));
  p = f32x4.add(f32x4.mul(p, r), sp(1.0));
  const ki = i32x4.trunc_sat_f32x4_s(k);
  const k1 = i32x4.shr_s(ki, 1);
  const k2 = i32x4.sub(ki, k1);
  const u1 = i32x4.shl(i32x4.add(k1, i32x4.splat(127)), 23);
  const u2 = i32x4.shl(i32x4.add(k2, i32x4.splat(127)), 23);
  let y = f32x4.mul(f32x4.mul(p, u1), u2);
  y = v128.bitselect(sp(Infinity), y, f32x4.gt(x0, sp(88.72283935546875)));
  return v128.bitselect(sp(0), y, f32x4.lt(x0, sp(-103.972077)));
}

// @ts-ignore: decorator
@inline function exp1(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}

/**
 * erf in f64, as src/tensor/ops/special.ts computes it: the Maclaurin series for
 * |x| < 2.5, beyond it 1 − erfc by its continued fraction (modified Lentz).
 */
function erf(x: f64): f64 {
  if (isNaN(x)) return x;
  const ax = Math.abs(x);
  if (ax > 6) return x > 0 ? 1 : -1;
  if (ax < 2.5) {
    const x2 = x * x;
    let term = x, sum = x;
    for (let n = 1; n < 100; n++) {
      term *= -x2 / <f64>n;
      const add = term / <f64>(2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return 1.1283791670955126 * sum;
  }
  const tiny = 1e-300;
  let f = ax, c = ax, d = 0.0;
  for (let n = 1; n < 200; n++) {
    const an = <f64>n / 2;
    d = ax + an * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = ax + an / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const r = 1 - Math.exp(-ax * ax) / (f * 1.7724538509055159);
  return x > 0 ? r : -r;
}

// ---- unary: out[i] = f(x[i]) for i in [i0, i1) ----

export const U_COPY = 0, U_SCALE = 1, U_ADDS = 2, U_EXP = 3, U_TANH = 4, U_GELU_TANH = 5, U_GELU_ERF = 6, U_SILU = 7;
export const U_SIGMOID = 8, U_RELU = 9, U_NEG = 10, U_SQUARE = 11, U_SQRT = 12, U_RSQRT = 13, U_LOG = 14, U_ABS = 15;

// @ts-ignore: decorator
@inline function map4(code: i32, v: v128, p: f64): v128 {
  switch (code) {
    case U_SCALE: {
      // in f64, so the product rounds once, as the TypeScript loop's does
      const q = f64x2.splat(p);
      const lo = f64x2.mul(f64x2.promote_low_f32x4(v), q);
      const hi = f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<i64>(v, v, 1, 0)), q);
      return v128.shuffle<i64>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 2);
    }
    case U_ADDS: {
      const q = f64x2.splat(p);
      const lo = f64x2.add(f64x2.promote_low_f32x4(v), q);
      const hi = f64x2.add(f64x2.promote_low_f32x4(v128.shuffle<i64>(v, v, 1, 0)), q);
      return v128.shuffle<i64>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 2);
    }
    case U_EXP: return exp4(v);
    case U_GELU_TANH: {
      // 0.5·x·(1 + tanh(u)) = x / (1 + e^(−2u)), u = √(2/π)(x + 0.044715x³)
      const u = f32x4.mul(sp(-1.5957691216057308), f32x4.add(v, f32x4.mul(sp(0.044715), f32x4.mul(v, f32x4.mul(v, v)))));
      return f32x4.div(v, f32x4.add(sp(1), exp4(u)));
    }
    case U_SILU: return f32x4.div(v, f32x4.add(sp(1), exp4(f32x4.neg(v))));
    case U_SIGMOID: return f32x4.div(sp(1), f32x4.add(sp(1), exp4(f32x4.neg(v))));
    case U_RELU: return v128.bitselect(v, sp(0), f32x4.gt(v, sp(0)));
    case U_NEG: return f32x4.neg(v);
    case U_SQUARE: return f32x4.mul(v, v);
    case U_SQRT: return f32x4.sqrt(v);
    case U_RSQRT: return f32x4.div(sp(1), f32x4.sqrt(v));
    case U_ABS: return f32x4.abs(v);
    default: return v;
  }
}

// @ts-ignore: decorator
@inline function map1(code: i32, x: f32, p: f64): f32 {
  switch (code) {
    case U_SCALE: return <f32>(<f64>x * p);
    case U_ADDS: return <f32>(<f64>x + p);
    case U_TANH: return <f32>Math.tanh(<f64>x);
    case U_GELU_ERF: return <f32>(0.5 * <f64>x * (1 + erf(<f64>x * 0.7071067811865476)));
    case U_LOG: return <f32>Math.log(<f64>x);
    default: return f32x4.extract_lane(map4(code, f32x4.splat(x), p), 0);
  }
}

/** Codes computed four at a time; the others (tanh, exact GELU, log) go one by one in f64. */
function unaryVectorised(code: i32): bool {
  return code != U_TANH && code != U_GELU_ERF && code != U_LOG;
}

export function unary(code: i32, out: usize, x: usize, i0: i32, i1: i32, p: f64): void {
  let i = i0;
  if (code == U_COPY) {
    memory.copy(out + (<usize>i0 << 2), x + (<usize>i0 << 2), <usize>(i1 - i0) << 2);
    return;
  }
  if (unaryVectorised(code)) {
    for (; i + 4 <= i1; i += 4) {
      const o = <usize>i << 2;
      v128.store(out + o, map4(code, v128.load(x + o), p));
    }
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, map1(code, load<f32>(x + o), p));
  }
}

// ---- binary: out[i] = a[i] ∘ b[i mod m] for i in [i0, i1) ----

export const B_ADD = 0, B_SUB = 1, B_MUL = 2, B_DIV = 3, B_GSILU = 4, B_GGELU_TANH = 5, B_GGELU_ERF = 6, B_GTANH = 7, B_GSIGMOID = 8;

// @ts-ignore: decorator
@inline function sigmoid4(x: v128): v128 {
  return f32x4.div(sp(1), f32x4.add(sp(1), exp4(f32x4.neg(x))));
}

/** Activation gradients: a = the activation's input (its output for tanh and sigmoid), b = the incoming gradient. */
// @ts-ignore: decorator
@inline function zip4(code: i32, a: v128, b: v128): v128 {
  switch (code) {
    case B_ADD: return f32x4.add(a, b);
    case B_SUB: return f32x4.sub(a, b);
    case B_MUL: return f32x4.mul(a, b);
    case B_DIV: return f32x4.div(a, b);
    case B_GSILU: {
      const s = sigmoid4(a);
      return f32x4.mul(f32x4.mul(b, s), f32x4.add(sp(1), f32x4.mul(a, f32x4.sub(sp(1), s))));
    }
    case B_GGELU_TANH: {
      // with s = σ(2u): 0.5(1 + tanh u) = s and 1 − tanh²u = 4s(1 − s), free of cancellation
      const u = f32x4.mul(sp(2 * 0.7978845608028654), f32x4.add(a, f32x4.mul(sp(0.044715), f32x4.mul(a, f32x4.mul(a, a)))));
      const s = sigmoid4(u);
      const slope = f32x4.mul(sp(2 * 0.7978845608028654), f32x4.add(sp(1), f32x4.mul(sp(0.134145), f32x4.mul(a, a))));
      return f32x4.mul(b, f32x4.add(s, f32x4.mul(f32x4.mul(f32x4.mul(a, s), f32x4.sub(sp(1), s)), slope)));
    }
    case B_GTANH: return f32x4.mul(b, f32x4.sub(sp(1), f32x4.mul(a, a)));
    case B_GSIGMOID: return f32x4.mul(f32x4.mul(b, a), f32x4.sub(sp(1), a));
    default: {
      // exact GELU's gradient needs erf: one lane at a time, in f64
      const x0 = f32x4.extract_lane(a, 0), x1 = f32x4.extract_lane(a, 1), x2 = f32x4.extract_lane(a, 2), x3 = f32x4.extract_lane(a, 3);
      let r = f32x4.splat(gGeluErf(x0));
      r = f32x4.replace_lane(r, 1, gGeluErf(x1));
      r = f32x4.replace_lane(r, 2, gGeluErf(x2));
      r = f32x4.replace_lane(r, 3, gGeluErf(x3));
      return f32x4.mul(b, r);
    }
  }
}

function gGeluErf(x: f32): f32 {
  const v = <f64>x;
  return <f32>(0.5 * (1 + erf(v * 0.7071067811865476)) + v * 0.3989422804014327 * Math.exp(-0.5 * v * v));
}

export function binary(code: i32, out: usize, a: usize, b: usize, m: i32, i0: i32, i1: i32): void {
  let i = i0;
  while (i < i1) {
    const j0 = i % m;
    const run = min(i1 - i, m - j0); // elements until b wraps around
    const oa = <usize>i << 2, ob = <usize>j0 << 2;
    let j = 0;
    for (; j + 4 <= run; j += 4) {
      const q = <usize>j << 2;
      v128.store(out + oa + q, zip4(code, v128.load(a + oa + q), v128.load(b + ob + q)));
    }
    for (; j < run; j++) {
      const q = <usize>j << 2;
      store<f32>(out + oa + q, f32x4.extract_lane(zip4(code, f32x4.splat(load<f32>(a + oa + q)), f32x4.splat(load<f32>(b + ob + q))), 0));
    }
    i += run;
  }
}

// ---- reductions over rows ----

/** Σ x[j] (and Σ x[j]²) over n floats, in f64. */
// @ts-ignore: decorator
@inline function sumRow(x: usize, n: i32): f64 {
  let s0 = f64x2.splat(0), s1 = f64x2.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const v = v128.load(x + (<usize>j << 2));
    s0 = f64x2.add(s0, f64x2.promote_low_f32x4(v));
    s1 = f64x2.add(s1, f64x2.promote_low_f32x4(v128.shuffle<i64>(v, v, 1, 0)));
  }
  const s = f64x2.add(s0, s1);
  let t = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
  for (; j < n; j++) t += <f64>load<f32>(x + (<usize>j << 2));
  return t;
}

// @ts-ignore: decorator
@inline function sumSquares(x: usize, n: i32, mu: f64): f64 {
  let s0 = f64x2.splat(0), s1 = f64x2.splat(0);
  const m = f64x2.splat(mu);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const v = v128.load(x + (<usize>j << 2));
    const lo = f64x2.sub(f64x2.promote_low_f32x4(v), m);
    const hi = f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<i64>(v, v, 1, 0)), m);
    s0 = f64x2.add(s0, f64x2.mul(lo, lo));
    s1 = f64x2.add(s1, f64x2.mul(hi, hi));
  }
  const s = f64x2.add(s0, s1);
  let t = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
  for (; j < n; j++) {
    const d = <f64>load<f32>(x + (<usize>j << 2)) - mu;
    t += d * d;
  }
  return t;
}

/** out = (x − mean)·rstd·w + b per row; w and b may be 0 (absent). mean and rstd are f64 per row. */
export function layerNorm(out: usize, x: usize, d: i32, w: usize, b: usize, eps: f64, mean: usize, rstd: usize, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const o = <usize>r * <usize>d << 2;
    const s = x + o, dst = out + o;
    const mu = sumRow(s, d) / <f64>d;
    const rs = 1.0 / Math.sqrt(sumSquares(s, d, mu) / <f64>d + eps);
    store<f64>(mean + (<usize>r << 3), mu);
    store<f64>(rstd + (<usize>r << 3), rs);
    const m = sp(<f32>mu), q = sp(<f32>rs);
    let j = 0;
    for (; j + 4 <= d; j += 4) {
      const jo = <usize>j << 2;
      let v = f32x4.mul(f32x4.sub(v128.load(s + jo), m), q);
      if (w != 0) v = f32x4.mul(v, v128.load(w + jo));
      if (b != 0) v = f32x4.add(v, v128.load(b + jo));
      v128.store(dst + jo, v);
    }
    for (; j < d; j++) {
      const jo = <usize>j << 2;
      let v = (load<f32>(s + jo) - <f32>mu) * <f32>rs;
      if (w != 0) v *= load<f32>(w + jo);
      if (b != 0) v += load<f32>(b + jo);
      store<f32>(dst + jo, v);
    }
  }
}

/** out = x·rstd·(offset + w) per row (w may be 0: absent); rstd is f64 per row. */
export function rmsNorm(out: usize, x: usize, d: i32, w: usize, eps: f64, offset: f32, rstd: usize, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const o = <usize>r * <usize>d << 2;
    const s = x + o, dst = out + o;
    const rs = 1.0 / Math.sqrt(sumSquares(s, d, 0) / <f64>d + eps);
    store<f64>(rstd + (<usize>r << 3), rs);
    const q = sp(<f32>rs), off = sp(offset);
    let j = 0;
    for (; j + 4 <= d; j += 4) {
      const jo = <usize>j << 2;
      let v = f32x4.mul(v128.load(s + jo), q);
      if (w != 0) v = f32x4.mul(v, f32x4.add(off, v128.load(w + jo)));
      v128.store(dst + jo, v);
    }
    for (; j < d; j++) {
      const jo = <usize>j << 2;
      let v = load<f32>(s + jo) * <f32>rs;
      if (w != 0) v *= offset + load<f32>(w + jo);
      store<f32>(dst + jo, v);
    }
  }
}

/** dst[lo..hi] = softmax of src[lo..hi] (inclusive bounds, in place allowed: src may equal dst). */
function softmaxSpan(dst: usize, src: usize, lo: i32, hi: i32): void {
  let m: f32 = -Infinity;
  for (let j = lo; j <= hi; j++) m = max(m, load<f32>(src + (<usize>j << 2)));
  const mv = sp(m);
  let j = lo;
  for (; j + 4 <= hi + 1; j += 4) {
    const jo = <usize>j << 2;
    v128.store(dst + jo, exp4(f32x4.sub(v128.load(src + jo), mv)));
  }
  for (; j <= hi; j++) {
    const jo = <usize>j << 2;
    store<f32>(dst + jo, exp1(load<f32>(src + jo) - m));
  }
  const z = sumRow(dst + (<usize>lo << 2), hi - lo + 1);
  const inv = <f32>(1.0 / z);
  const iv = sp(inv);
  j = lo;
  for (; j + 4 <= hi + 1; j += 4) {
    const jo = <usize>j << 2;
    v128.store(dst + jo, f32x4.mul(v128.load(dst + jo), iv));
  }
  for (; j <= hi; j++) {
    const jo = <usize>j << 2;
    store<f32>(dst + jo, load<f32>(dst + jo) * inv);
  }
}

export function softmax(out: usize, x: usize, n: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const o = <usize>r * <usize>n << 2;
    softmaxSpan(out + o, x + o, 0, n - 1);
  }
}

/**
 * Rows r0..r1 of the attention softmax over scores [B, H, Q, K] (row = (b·H + h)·Q + i):
 * keys max(0, past+i−window+1) ≤ j ≤ min(K−1, past+i) with keyMask[b][j] = 1 are
 * visible (window < 0: no window; keyMask 0: none); scores are scaled, soft-capped
 * (cap > 0) and normalised; rows with no visible key become uniform and dead[row] = 1.
 */
export function attentionSoftmax(
  out: usize, x: usize, H: i32, Q: i32, K: i32, scale: f32, cap: f32, past: i32, window: i32, keyMask: usize, dead: usize, r0: i32, r1: i32,
): void {
  const invCap: f32 = cap > 0 ? 1 / cap : 0;
  for (let r = r0; r < r1; r++) {
    const b = r / (H * Q), i = r % Q;
    const o = <usize>r * <usize>K << 2;
    const s = x + o, dst = out + o;
    const qa = past + i;
    const hi = min(K - 1, qa);
    const lo = window < 0 ? 0 : max(0, qa - window + 1);
    const mrow = keyMask == 0 ? <usize>0 : keyMask + (<usize>(b * K) << 2);
    let any = false;
    for (let j = lo; j <= hi; j++) {
      const jo = <usize>j << 2;
      if (mrow != 0 && load<i32>(mrow + jo) == 0) {
        store<f32>(dst + jo, -Infinity);
        continue;
      }
      let v = load<f32>(s + jo) * scale;
      if (cap > 0) v = cap * <f32>Math.tanh(<f64>(v * invCap));
      store<f32>(dst + jo, v);
      any = true;
    }
    store<i32>(dead + (<usize>r << 2), any ? 0 : 1);
    if (!any) {
      for (let j = 0; j < K; j++) store<f32>(dst + (<usize>j << 2), 1 / <f32>K);
      continue;
    }
    for (let j = 0; j < lo; j++) store<f32>(dst + (<usize>j << 2), 0);
    for (let j = hi + 1; j < K; j++) store<f32>(dst + (<usize>j << 2), 0);
    // masked keys hold −inf, whose exp is exactly 0
    softmaxSpan(dst, dst, lo, hi);
  }
}

/**
 * Rotary embedding of rows r0..r1 of x [B, T, H, D] (row = (b·T + t)·H + h):
 * the first R dims rotate in pairs by the angles whose cos/sin rows are
 * [T, R/2] (or [B, T, R/2] when perBatch), the rest are copied. Pairs are
 * (i, i + R/2) in the half layout, (2i, 2i + 1) interleaved; sign −1 rotates
 * back (the backward pass).
 */
export function rotary(
  out: usize, x: usize, T: i32, H: i32, D: i32, R: i32, cos: usize, sin: usize, perBatch: bool, interleaved: bool, sign: f32, r0: i32, r1: i32,
): void {
  const half = R / 2;
  const sg = sp(sign);
  for (let r = r0; r < r1; r++) {
    const bt = r / H, t = bt % T;
    const tb = <usize>(perBatch ? bt * half : t * half) << 2;
    const c = cos + tb, s = sin + tb;
    const src = x + (<usize>r * <usize>D << 2), dst = out + (<usize>r * <usize>D << 2);
    if (!interleaved) {
      const h2 = <usize>half << 2;
      let i = 0;
      for (; i + 4 <= half; i += 4) {
        const o = <usize>i << 2;
        const co = v128.load(c + o), si = f32x4.mul(v128.load(s + o), sg);
        const x1 = v128.load(src + o), x2 = v128.load(src + h2 + o);
        v128.store(dst + o, f32x4.sub(f32x4.mul(x1, co), f32x4.mul(x2, si)));
        v128.store(dst + h2 + o, f32x4.add(f32x4.mul(x2, co), f32x4.mul(x1, si)));
      }
      for (; i < half; i++) {
        const o = <usize>i << 2;
        const co = load<f32>(c + o), si = load<f32>(s + o) * sign;
        const x1 = load<f32>(src + o), x2 = load<f32>(src + h2 + o);
        store<f32>(dst + o, x1 * co - x2 * si);
        store<f32>(dst + h2 + o, x2 * co + x1 * si);
      }
    } else {
      for (let i = 0; i < half; i++) {
        const o = <usize>i << 2, p = <usize>(2 * i) << 2;
        const co = load<f32>(c + o), si = load<f32>(s + o) * sign;
        const x1 = load<f32>(src + p), x2 = load<f32>(src + p + 4);
        store<f32>(dst + p, x1 * co - x2 * si);
        store<f32>(dst + p + 4, x2 * co + x1 * si);
      }
    }
    if (R < D) memory.copy(dst + (<usize>R << 2), src + (<usize>R << 2), <usize>(D - R) << 2);
  }
}

/**
 * rmsNorm's backward over all rows (one thread: gw sums over rows). With
 * x̂ = x·rstd and h = g·(offset + w): gx = rstd·(h − x̂·mean(h·x̂)) per row
 * (gx = 0: not wanted); gw += Σ_rows g·x̂, summed in f64 in acc (d doubles).
 */
export function rmsNormBackward(gx: usize, gw: usize, g: usize, x: usize, rows: i32, d: i32, w: usize, offset: f32, rstd: usize, acc: usize): void {
  if (gw != 0) memory.fill(acc, 0, <usize>d << 3);
  for (let r = 0; r < rows; r++) {
    const o = <usize>r * <usize>d << 2;
    const gr = g + o, xr = x + o;
    const rs = <f32>load<f64>(rstd + (<usize>r << 3));
    let dot: f64 = 0;
    for (let j = 0; j < d; j++) {
      const jo = <usize>j << 2;
      const xh = load<f32>(xr + jo) * rs;
      const gy = load<f32>(gr + jo);
      const h = w != 0 ? gy * (offset + load<f32>(w + jo)) : gy;
      dot += <f64>h * <f64>xh;
      if (gw != 0) store<f64>(acc + (<usize>j << 3), load<f64>(acc + (<usize>j << 3)) + <f64>gy * <f64>xh);
    }
    if (gx != 0) {
      const md = <f32>(dot / <f64>d);
      const q = sp(rs), mv = sp(md), off = sp(offset);
      let j = 0;
      for (; j + 4 <= d; j += 4) {
        const jo = <usize>j << 2;
        const xh = f32x4.mul(v128.load(xr + jo), q);
        let h = v128.load(gr + jo);
        if (w != 0) h = f32x4.mul(h, f32x4.add(off, v128.load(w + jo)));
        v128.store(gx + o + jo, f32x4.mul(q, f32x4.sub(h, f32x4.mul(xh, mv))));
      }
      for (; j < d; j++) {
        const jo = <usize>j << 2;
        const xh = load<f32>(xr + jo) * rs;
        const gy = load<f32>(gr + jo);
        const h = w != 0 ? gy * (offset + load<f32>(w + jo)) : gy;
        store<f32>(gx + o + jo, rs * (h - xh * md));
      }
    }
  }
  if (gw != 0) for (let j = 0; j < d; j++) store<f32>(gw + (<usize>j << 2), load<f32>(gw + (<usize>j << 2)) + <f32>load<f64>(acc + (<usize>j << 3)));
}

/** lse[r] = log Σ_j exp(x[r, j]) for rows r0..r1 of n (lse in f64). */
export function logSumExp(lse: usize, x: usize, n: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const s = x + (<usize>r * <usize>n << 2);
    let m: f32 = -Infinity;
    for (let j = 0; j < n; j++) m = max(m, load<f32>(s + (<usize>j << 2)));
    const mv = sp(m);
    let z0 = f64x2.splat(0), z1 = f64x2.splat(0);
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const e = exp4(f32x4.sub(v128.load(s + (<usize>j << 2)), mv));
      z0 = f64x2.add(z0, f64x2.promote_low_f32x4(e));
      z1 = f64x2.add(z1, f64x2.promote_low_f32x4(v128.shuffle<i64>(e, e, 1, 0)));
    }
    const zz = f64x2.add(z0, z1);
    let z = f64x2.extract_lane(zz, 0) + f64x2.extract_lane(zz, 1);
    for (; j < n; j++) z += <f64>exp1(load<f32>(s + (<usize>j << 2)) - m);
    store<f64>(lse + (<usize>r << 3), <f64>m + Math.log(z));
  }
}

/** Rows r0..r1 of cross-entropy's gradient: s·softmax(x) − s·onehot(target); rows whose target is `ignore` are zero. */
export function crossEntropyBackward(out: usize, x: usize, n: i32, lse: usize, targets: usize, ignore: i32, s: f32, r0: i32, r1: i32): void {
  const sv = sp(s);
  for (let r = r0; r < r1; r++) {
    const o = <usize>r * <usize>n << 2;
    const dst = out + o, src = x + o;
    const t = load<i32>(targets + (<usize>r << 2));
    if (t == ignore) {
      memory.fill(dst, 0, <usize>n << 2);
      continue;
    }
    const l = <f32>load<f64>(lse + (<usize>r << 3));
    const lv = sp(l);
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const jo = <usize>j << 2;
      v128.store(dst + jo, f32x4.mul(exp4(f32x4.sub(v128.load(src + jo), lv)), sv));
    }
    for (; j < n; j++) store<f32>(dst + (<usize>j << 2), exp1(load<f32>(src + (<usize>j << 2)) - l) * s);
    store<f32>(dst + (<usize>t << 2), load<f32>(dst + (<usize>t << 2)) - s);
  }
}

/** Rows r0..r1 of the attention softmax's backward: gi = p·(g − Σ g·p)·scale, times 1 − tanh² of the capped score when cap > 0; dead rows zero. */
export function attentionSoftmaxBackward(gi: usize, g: usize, p: usize, x: usize, K: i32, scale: f32, cap: f32, dead: usize, r0: i32, r1: i32): void {
  const invCap: f32 = cap > 0 ? 1 / cap : 0;
  for (let r = r0; r < r1; r++) {
    const o = <usize>r * <usize>K << 2;
    const dst = gi + o, gr = g + o, pr = p + o;
    if (load<i32>(dead + (<usize>r << 2)) != 0) {
      memory.fill(dst, 0, <usize>K << 2);
      continue;
    }
    let dot: f64 = 0;
    for (let j = 0; j < K; j++) dot += <f64>load<f32>(gr + (<usize>j << 2)) * <f64>load<f32>(pr + (<usize>j << 2));
    const fd = <f32>dot;
    for (let j = 0; j < K; j++) {
      const jo = <usize>j << 2;
      const pj = load<f32>(pr + jo);
      let d = pj * (load<f32>(gr + jo) - fd);
      if (cap > 0 && pj != 0) {
        const t = <f32>Math.tanh(<f64>(load<f32>(x + o + jo) * scale * invCap));
        d *= 1 - t * t;
      }
      store<f32>(dst + jo, d * scale);
    }
  }
}

/**
 * One AdamW update of elements i0..i1 (m, v in f64) of the gradient gs·g: the arithmetic of
 * src/tensor/optim.ts, in f64, with step = lr/c1 and ic2 = 1/c2 computed once by the caller.
 */
export function adamw(w: usize, g: usize, m: usize, v: usize, step: f64, b1: f64, b2: f64, ic2: f64, eps: f64, decay: f64, gs: f64, i0: i32, i1: i32): void {
  for (let j = i0; j < i1; j++) {
    const fo = <usize>j << 2, d8 = <usize>j << 3;
    const gj = <f64>load<f32>(g + fo) * gs;
    const mj = b1 * load<f64>(m + d8) + (1 - b1) * gj;
    const vj = b2 * load<f64>(v + d8) + (1 - b2) * gj * gj;
    store<f64>(m + d8, mj);
    store<f64>(v + d8, vj);
    store<f32>(w + fo, <f32>(<f64>load<f32>(w + fo) * decay - step * mj / (Math.sqrt(vj * ic2) + eps)));
  }
}

/**
 * layerNorm's backward over all rows (one thread: gw and gb sum over rows).
 * With x̂ = (x − mean)·rstd and h = g·w: gx = rstd·(h − mean(h) − x̂·mean(h·x̂))
 * per row; gw += Σ_rows g·x̂, gb += Σ_rows g, summed in f64 in accW/accB (d doubles each).
 */
export function layerNormBackward(
  gx: usize, gw: usize, gb: usize, g: usize, x: usize, rows: i32, d: i32, w: usize, mean: usize, rstd: usize, accW: usize, accB: usize,
): void {
  if (gw != 0) memory.fill(accW, 0, <usize>d << 3);
  if (gb != 0) memory.fill(accB, 0, <usize>d << 3);
  for (let r = 0; r < rows; r++) {
    const o = <usize>r * <usize>d << 2;
    const gr = g + o, xr = x + o;
    const m = <f32>load<f64>(mean + (<usize>r << 3)), rs = <f32>load<f64>(rstd + (<usize>r << 3));
    let sg: f64 = 0, sgx: f64 = 0;
    for (let j = 0; j < d; j++) {
      const jo = <usize>j << 2;
      const xh = (load<f32>(xr + jo) - m) * rs;
      const gy = load<f32>(gr + jo);
      const h = w != 0 ? gy * load<f32>(w + jo) : gy;
      sg += <f64>h;
      sgx += <f64>h * <f64>xh;
      if (gw != 0) store<f64>(accW + (<usize>j << 3), load<f64>(accW + (<usize>j << 3)) + <f64>gy * <f64>xh);
      if (gb != 0) store<f64>(accB + (<usize>j << 3), load<f64>(accB + (<usize>j << 3)) + <f64>gy);
    }
    if (gx != 0) {
      const mg = <f32>(sg / <f64>d), mgx = <f32>(sgx / <f64>d);
      for (let j = 0; j < d; j++) {
        const jo = <usize>j << 2;
        const xh = (load<f32>(xr + jo) - m) * rs;
        const gy = load<f32>(gr + jo);
        const h = w != 0 ? gy * load<f32>(w + jo) : gy;
        store<f32>(gx + o + jo, rs * (h - mg - xh * mgx));
      }
    }
  }
  if (gw != 0) for (let j = 0; j < d; j++) store<f32>(gw + (<usize>j << 2), load<f32>(gw + (<usize>j << 2)) + <f32>load<f64>(accW + (<usize>j << 3)));
  if (gb != 0) for (let j = 0; j < d; j++) store<f32>(gb + (<usize>j << 2), load<f32>(gb + (<usize>j << 2)) + <f32>load<f64>(accB + (<usize>j << 3)));
}
