/**
 * Linear probes on a model's activations.
 *
 * Three probes, fitted on feature matrices (rows × d, labels 0/1):
 *
 * - logistic regression with an L2 penalty, fitted by L-BFGS (deterministic,
 *   no randomness) on mean-centred features divided by one global scale, so
 *   the penalty is isotropic in the activation basis and the recovered
 *   direction is a direction of that basis;
 * - mass-mean (difference of class means, μ1 − μ0), optionally whitened by the
 *   pooled within-class covariance plus a ridge, (Σ + ρI)⁻¹(μ1 − μ0), solved
 *   by conjugate gradients without forming Σ; thresholded at the midpoint of
 *   the projected class means;
 * - CCS, contrast-consistent search (Burns et al. 2022, "Discovering Latent
 *   Knowledge in Language Models Without Supervision"): unsupervised, on
 *   contrast pairs (x⁺, x⁻); each set is normalised separately, a probe
 *   p(x) = σ(w·x + b) minimises (p(x⁺) − (1 − p(x⁻)))² + min(p(x⁺), p(x⁻))²
 *   from several random starts, and a few labelled pairs fix its sign.
 *
 * Every probe scores so that higher = label 1 and 0 is its decision
 * threshold. Evaluation: accuracy, exact AUROC (ties at average rank),
 * stratified k-fold cross-validation. On a model: activations at the
 * residual stream (or each head's attention output z) of every layer at one
 * position per prompt, probes per layer, and a transfer matrix between
 * datasets. Probes are saved as safetensors.
 */
import { existsSync } from 'node:fs';
import { CandorError } from '../tensor/errors.js';
import { noGrad } from '../tensor/autograd.js';
import { Tensor, tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { openSafetensors, writeSafetensors } from '../io/safetensors.js';
import type { HookedTransformer } from '../model/transformer.js';
import { blockHook, type HookName } from '../model/hooks.js';
// AUROC and k-fold live in the statistics module; probes' users find them here too
import { auroc, checkLabels as checkLabelsOf, kfold } from './statistics.js';
export { auroc, kfold };

export class ProbeError extends CandorError {
  override name = 'ProbeError';
}

// ---------------------------------------------------------------------------
// feature matrices

/** n rows of d features, row-major. */
export interface FeatureMatrix {
  data: Float32Array | Float64Array;
  n: number;
  d: number;
}

/** A feature matrix, an array of rows, or a 2-D float tensor. */
export type FeatureInput = FeatureMatrix | readonly ArrayLike<number>[] | Tensor;

/** Features as a row-major matrix (rows are copied only when they are not one already). */
export function featureMatrix(X: FeatureInput, where = 'features'): FeatureMatrix {
  if (X instanceof Tensor) {
    if (X.ndim !== 2 || X.dtype === 'int32') throw new ProbeError(`${where}: expected a 2-D float tensor [rows, d], got ${X.dtype} [${X.shape.join(', ')}]`);
    const data = X.toTypedArray() as Float32Array | Float64Array;
    return { data, n: X.shape[0]!, d: X.shape[1]! };
  }
  if (!Array.isArray(X)) {
    const m = X as FeatureMatrix;
    if (typeof m !== 'object' || m === null || !('data' in m) || !('n' in m) || !('d' in m)) {
      throw new ProbeError(`${where}: expected a feature matrix {data, n, d}, an array of rows or a 2-D tensor`);
    }
    if (!(Number.isInteger(m.n) && Number.isInteger(m.d) && m.n >= 0 && m.d >= 0) || m.data.length !== m.n * m.d) {
      throw new ProbeError(`${where}: a feature matrix of ${m.n} × ${m.d} needs ${m.n * m.d} values, got ${m.data?.length}`);
    }
    return m;
  }
  const rows = X as readonly ArrayLike<number>[];
  const n = rows.length;
  const d = n === 0 ? 0 : rows[0]!.length;
  const data = new Float64Array(n * d);
  rows.forEach((r, i) => {
    if (r.length !== d) throw new ProbeError(`${where}: row ${i} has ${r.length} features, row 0 has ${d}`);
    for (let k = 0; k < d; k++) data[i * d + k] = r[k]!;
  });
  return { data, n, d };
}

/** The rows `idx` of a matrix (a copy). */
export function selectRows(X: FeatureMatrix, idx: readonly number[]): FeatureMatrix {
  const out = X.data instanceof Float32Array ? new Float32Array(idx.length * X.d) : new Float64Array(idx.length * X.d);
  idx.forEach((i, r) => out.set(X.data.subarray(i * X.d, (i + 1) * X.d), r * X.d));
  return { data: out, n: idx.length, d: X.d };
}

/** Columns [start, end) of a matrix (a copy). */
export function selectColumns(X: FeatureMatrix, start: number, end: number): FeatureMatrix {
  const w = end - start;
  const out = X.data instanceof Float32Array ? new Float32Array(X.n * w) : new Float64Array(X.n * w);
  for (let i = 0; i < X.n; i++) out.set(X.data.subarray(i * X.d + start, i * X.d + end), i * w);
  return { data: out, n: X.n, d: w };
}

function checkLabels(y: ArrayLike<number>, n: number, where: string, needBoth = true): { n1: number; n0: number } {
  return checkLabelsOf(y, n, where, needBoth, ProbeError);
}

/** w·x + b for every row. */
export function linearScores(X: FeatureInput, weights: ArrayLike<number>, bias: number): number[] {
  const m = featureMatrix(X);
  if (m.d !== weights.length) throw new ProbeError(`linearScores: features have ${m.d} columns but the probe has ${weights.length} weights`);
  const out = new Array<number>(m.n);
  const { data, d } = m;
  for (let i = 0; i < m.n; i++) {
    let s = 0;
    const o = i * d;
    for (let k = 0; k < d; k++) s += data[o + k]! * weights[k]!;
    out[i] = s + bias;
  }
  return out;
}

function norm2(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

function unitVector(v: ArrayLike<number>): Float64Array {
  const n = norm2(v);
  const out = new Float64Array(v.length);
  if (n > 0) for (let i = 0; i < v.length; i++) out[i] = v[i]! / n;
  return out;
}

/** Column means and the root-mean-square of all centred entries (1 when that is 0). */
function centreAndScale(X: FeatureMatrix, rows?: readonly number[]): { mean: Float64Array; scale: number } {
  const { data, d } = X;
  const idx = rows ?? Array.from({ length: X.n }, (_, i) => i);
  const mean = new Float64Array(d);
  for (const i of idx) for (let k = 0; k < d; k++) mean[k] += data[i * d + k]!;
  for (let k = 0; k < d; k++) mean[k] /= Math.max(1, idx.length);
  let ss = 0;
  for (const i of idx) {
    for (let k = 0; k < d; k++) {
      const c = data[i * d + k]! - mean[k]!;
      ss += c * c;
    }
  }
  const scale = Math.sqrt(ss / Math.max(1, idx.length * d));
  return { mean, scale: scale > 0 && Number.isFinite(scale) ? scale : 1 };
}

// ---------------------------------------------------------------------------
// L-BFGS

interface MinimizeResult {
  x: Float64Array;
  f: number;
  iterations: number;
  converged: boolean;
}

function dotv(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * Minimise f by L-BFGS (history 10) with a backtracking Armijo line search.
 * `fg(x, g)` returns f(x) and writes ∇f(x) into g. Stops when the largest
 * gradient entry is ≤ gtol, when f no longer decreases (relative change
 * ≤ 1e-12), or after maxIter iterations.
 */
function lbfgs(fg: (x: Float64Array, g: Float64Array) => number, x0: Float64Array, maxIter: number, gtol: number, m = 10): MinimizeResult {
  const n = x0.length;
  let x = Float64Array.from(x0);
  let g = new Float64Array(n);
  let f = fg(x, g);
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const R: number[] = [];
  const d = new Float64Array(n);
  const alpha = new Float64Array(m);
  let it = 0;
  let converged = false;
  for (; it < maxIter; it++) {
    let gmax = 0;
    for (let i = 0; i < n; i++) gmax = Math.max(gmax, Math.abs(g[i]!));
    if (!(gmax > gtol)) {
      converged = Number.isFinite(gmax);
      break;
    }
    // two-loop recursion: d = −H g
    d.set(g);
    for (let j = S.length - 1; j >= 0; j--) {
      const a = R[j]! * dotv(S[j]!, d);
      alpha[j] = a;
      const y = Y[j]!;
      for (let i = 0; i < n; i++) d[i] -= a * y[i]!;
    }
    if (S.length > 0) {
      const yl = Y[S.length - 1]!;
      const gamma = 1 / (R[S.length - 1]! * dotv(yl, yl));
      for (let i = 0; i < n; i++) d[i] *= gamma;
    }
    for (let j = 0; j < S.length; j++) {
      const b = R[j]! * dotv(Y[j]!, d);
      const s = S[j]!;
      for (let i = 0; i < n; i++) d[i] += s[i]! * (alpha[j]! - b);
    }
    for (let i = 0; i < n; i++) d[i] = -d[i]!;
    let dg = dotv(d, g);
    if (!(dg < 0)) {
      // not a descent direction: forget the history and go down the gradient
      S.length = 0;
      Y.length = 0;
      R.length = 0;
      for (let i = 0; i < n; i++) d[i] = -g[i]!;
      dg = -dotv(g, g);
    }
    let step = S.length === 0 ? Math.min(1, 1 / Math.sqrt(-dg)) : 1;
    const xn = new Float64Array(n);
    const gn = new Float64Array(n);
    let fn = Infinity;
    let ok = false;
    for (let k = 0; k < 50; k++) {
      for (let i = 0; i < n; i++) xn[i] = x[i]! + step * d[i]!;
      fn = fg(xn, gn);
      if (Number.isFinite(fn) && fn <= f + 1e-4 * step * dg) {
        ok = true;
        break;
      }
      step *= 0.5;
    }
    if (!ok) {
      // no decrease along the search direction: as good as the line search can do
      converged = S.length > 0;
      break;
    }
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = xn[i]! - x[i]!;
      y[i] = gn[i]! - g[i]!;
    }
    const sy = dotv(s, y);
    if (sy > 1e-12 * Math.sqrt(dotv(s, s) * dotv(y, y))) {
      if (S.length === m) {
        S.shift();
        Y.shift();
        R.shift();
      }
      S.push(s);
      Y.push(y);
      R.push(1 / sy);
    }
    const df = f - fn;
    x = xn;
    g = gn;
    f = fn;
    if (df <= 1e-12 * Math.max(1, Math.abs(f))) {
      converged = true;
      it++;
      break;
    }
  }
  return { x, f, iterations: it, converged };
}

function sigmoid(t: number): number {
  return t >= 0 ? 1 / (1 + Math.exp(-t)) : Math.exp(t) / (1 + Math.exp(t));
}

function softplus(t: number): number {
  return t > 0 ? t + Math.log1p(Math.exp(-t)) : Math.log1p(Math.exp(t));
}

// ---------------------------------------------------------------------------
// logistic regression

export interface LogisticOptions {
  /** L2 penalty (l2/2)·‖v‖² on the weights of the standardised features, added to the mean log-loss (default 1e-2) */
  l2?: number;
  /** L-BFGS iterations (default 1000) */
  maxIter?: number;
  /** stop when every gradient entry is at most this (default 1e-7) */
  tol?: number;
}

export interface LinearFit {
  /** weights in the features' own basis: score = weights·x + bias, > 0 predicts label 1 */
  weights: Float64Array;
  bias: number;
  /** weights / ‖weights‖ */
  direction: Float64Array;
}

export interface LogisticFit extends LinearFit {
  /** the final objective (mean log-loss + penalty) */
  loss: number;
  iterations: number;
  converged: boolean;
}

/**
 * L2-regularised logistic regression, minimising
 * mean_i log(1 + exp(−(2y_i − 1) t_i)) + (l2/2)‖v‖², t_i = v·(x_i − μ)/s + c,
 * with μ the feature means and s the root-mean-square of the centred entries
 * (one number: the penalty stays isotropic). Fitted by L-BFGS from zero, so
 * the result is deterministic. The returned weights are in the raw basis:
 * w = v/s, b = c − w·μ.
 */
export function fitLogistic(X: FeatureInput, y: ArrayLike<number>, opts: LogisticOptions = {}): LogisticFit {
  const m = featureMatrix(X, 'fitLogistic');
  checkLabels(y, m.n, 'fitLogistic');
  const l2 = opts.l2 ?? 1e-2;
  const maxIter = opts.maxIter ?? 1000;
  const tol = opts.tol ?? 1e-7;
  if (!(l2 >= 0 && Number.isFinite(l2))) throw new ProbeError(`fitLogistic: l2 must be a non-negative number, got ${l2}`);
  if (!(Number.isInteger(maxIter) && maxIter > 0)) throw new ProbeError(`fitLogistic: maxIter must be a positive integer, got ${maxIter}`);
  const { n, d, data } = m;
  const { mean, scale } = centreAndScale(m);
  const inv = 1 / scale;
  const r = new Float64Array(n);
  const fg = (p: Float64Array, g: Float64Array): number => {
    let vm = 0;
    for (let k = 0; k < d; k++) vm += p[k]! * mean[k]!;
    const c = p[d]!;
    let loss = 0;
    let rsum = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      const o = i * d;
      for (let k = 0; k < d; k++) s += data[o + k]! * p[k]!;
      const t = (s - vm) * inv + c;
      const yi = y[i]!;
      loss += softplus(t) - yi * t;
      const ri = (sigmoid(t) - yi) / n;
      r[i] = ri;
      rsum += ri;
    }
    g.fill(0);
    for (let i = 0; i < n; i++) {
      const ri = r[i]!;
      if (ri === 0) continue;
      const o = i * d;
      for (let k = 0; k < d; k++) g[k] += ri * data[o + k]!;
    }
    let pen = 0;
    for (let k = 0; k < d; k++) {
      g[k] = (g[k]! - mean[k]! * rsum) * inv + l2 * p[k]!;
      pen += p[k]! * p[k]!;
    }
    g[d] = rsum;
    return loss / n + 0.5 * l2 * pen;
  };
  const res = lbfgs(fg, new Float64Array(d + 1), maxIter, tol);
  const weights = new Float64Array(d);
  let wm = 0;
  for (let k = 0; k < d; k++) {
    weights[k] = res.x[k]! * inv;
    wm += weights[k]! * mean[k]!;
  }
  return { weights, bias: res.x[d]! - wm, direction: unitVector(weights), loss: res.f, iterations: res.iterations, converged: res.converged };
}

// ---------------------------------------------------------------------------
// mass-mean

export interface MassMeanOptions {
  /** whiten by the pooled within-class covariance: (Σ + ρI)⁻¹(μ1 − μ0) (default false) */
  whiten?: boolean;
  /** ρ as a fraction of the mean variance trace(Σ)/d (default 1e-2) */
  ridge?: number;
}

export interface MassMeanFit extends LinearFit {
  /** class means μ0, μ1 */
  mean0: Float64Array;
  mean1: Float64Array;
}

/**
 * Mass-mean probe: the direction μ1 − μ0 (or (Σ + ρI)⁻¹(μ1 − μ0) whitened,
 * Σ the pooled within-class covariance with n − 2 degrees of freedom,
 * ρ = ridge · trace(Σ)/d), thresholded at the midpoint of the projected class
 * means. Σ is never formed: conjugate gradients use Σv = Σ_i (x_i − μ_{y_i})
 * ((x_i − μ_{y_i})·v) / (n − 2), so the cost is O(n·d) per iteration.
 */
export function fitMassMean(X: FeatureInput, y: ArrayLike<number>, opts: MassMeanOptions = {}): MassMeanFit {
  const m = featureMatrix(X, 'fitMassMean');
  const { n1, n0 } = checkLabels(y, m.n, 'fitMassMean');
  const { n, d, data } = m;
  const mean0 = new Float64Array(d);
  const mean1 = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const mu = y[i] === 1 ? mean1 : mean0;
    for (let k = 0; k < d; k++) mu[k] += data[i * d + k]!;
  }
  for (let k = 0; k < d; k++) {
    mean0[k] /= n0;
    mean1[k] /= n1;
  }
  let w: Float64Array = new Float64Array(d);
  for (let k = 0; k < d; k++) w[k] = mean1[k]! - mean0[k]!;
  if (opts.whiten === true) {
    const ridge = opts.ridge ?? 1e-2;
    if (!(ridge > 0 && Number.isFinite(ridge))) throw new ProbeError(`fitMassMean: ridge must be a positive number, got ${ridge}`);
    if (n < 3) throw new ProbeError(`fitMassMean: whitening needs at least 3 examples to estimate a covariance, got ${n}`);
    const dof = n - 2;
    let trace = 0;
    for (let i = 0; i < n; i++) {
      const mu = y[i] === 1 ? mean1 : mean0;
      for (let k = 0; k < d; k++) {
        const c = data[i * d + k]! - mu[k]!;
        trace += c * c;
      }
    }
    trace /= dof;
    const rho = ridge * (trace > 0 ? trace / d : 1);
    const proj = new Float64Array(n);
    const matvec = (v: Float64Array, out: Float64Array): void => {
      const vm0 = dotv(mean0, v);
      const vm1 = dotv(mean1, v);
      for (let i = 0; i < n; i++) {
        let s = 0;
        const o = i * d;
        for (let k = 0; k < d; k++) s += data[o + k]! * v[k]!;
        proj[i] = (s - (y[i] === 1 ? vm1 : vm0)) / dof;
      }
      out.fill(0);
      for (let i = 0; i < n; i++) {
        const p = proj[i]!;
        const mu = y[i] === 1 ? mean1 : mean0;
        const o = i * d;
        for (let k = 0; k < d; k++) out[k] += p * (data[o + k]! - mu[k]!);
      }
      for (let k = 0; k < d; k++) out[k] += rho * v[k]!;
    };
    w = conjugateGradient(matvec, w, Math.max(50, 2 * d), 1e-10);
  }
  const p1 = dotv(w, mean1);
  const p0 = dotv(w, mean0);
  return { weights: w, bias: -(p1 + p0) / 2, direction: unitVector(w), mean0, mean1 };
}

/** Solve A x = b for a symmetric positive definite A given as a matrix–vector product. */
function conjugateGradient(matvec: (v: Float64Array, out: Float64Array) => void, b: Float64Array, maxIter: number, rtol: number): Float64Array {
  const n = b.length;
  const x = new Float64Array(n);
  const r = Float64Array.from(b);
  const p = Float64Array.from(b);
  const Ap = new Float64Array(n);
  let rr = dotv(r, r);
  const stop = rtol * rtol * rr;
  for (let it = 0; it < maxIter && rr > stop; it++) {
    matvec(p, Ap);
    const a = rr / dotv(p, Ap);
    for (let i = 0; i < n; i++) {
      x[i] += a * p[i]!;
      r[i] -= a * Ap[i]!;
    }
    const rn = dotv(r, r);
    const beta = rn / rr;
    for (let i = 0; i < n; i++) p[i] = r[i]! + beta * p[i]!;
    rr = rn;
  }
  return x;
}

// ---------------------------------------------------------------------------
// CCS

export interface CCSOptions {
  /** seed of the random starting points (default 0) */
  seed?: number;
  /** random starts; the lowest final loss wins (default 10) */
  restarts?: number;
  /** L-BFGS iterations per start (default 500) */
  maxIter?: number;
  /** L2 penalty (l2/2)·‖v‖² on the normalised-feature weights (default 1e-2) */
  l2?: number;
  /** a few labelled pairs (label 1 = the positive statement is true) that fix the sign; without them the sign is arbitrary */
  labels?: { indices: readonly number[]; labels: ArrayLike<number> };
}

/** Each contrast set's normalisation: x̃ = (x − mean)/scale. */
export interface ContrastNormalisation {
  meanPos: Float64Array;
  meanNeg: Float64Array;
  scalePos: number;
  scaleNeg: number;
}

export interface CCSFit extends LinearFit {
  /** the CCS loss (consistency + confidence, without the penalty) of the winning start */
  loss: number;
  /** whether labelled pairs fixed the sign */
  signFixed: boolean;
  normalisation: ContrastNormalisation;
  /** the objective (loss + penalty) each start ended at */
  restartLosses: number[];
}

/**
 * Contrast-consistent search. x̃± = (x± − μ±)/s± with μ± the set's mean and
 * s± the root-mean-square of its centred entries; p(x) = σ(v·x̃ + c)
 * minimises mean[(p(x̃⁺) − (1 − p(x̃⁻)))² + min(p(x̃⁺), p(x̃⁻))²] + (l2/2)‖v‖²
 * by L-BFGS from `restarts` random starts v ~ N(0, 1/d), c = 0. The labelled
 * pairs then orient it: if Σ (2y − 1)·credence < 0 the probe is negated
 * (p → 1 − p). `weights`/`bias` apply the average normalisation,
 * weights = v/s̄ and bias = c − weights·μ̄ (s̄, μ̄ the means of the two sets'),
 * so `direction` is v's direction in the raw basis; pair credences use each
 * set's own normalisation (`ccsPairScores`).
 */
export function fitCCS(Xpos: FeatureInput, Xneg: FeatureInput, opts: CCSOptions = {}): CCSFit {
  const P = featureMatrix(Xpos, 'fitCCS (positive set)');
  const N = featureMatrix(Xneg, 'fitCCS (negative set)');
  if (P.n !== N.n || P.d !== N.d) throw new ProbeError(`fitCCS: the contrast sets must be pairs of the same size; got ${P.n} × ${P.d} positive and ${N.n} × ${N.d} negative`);
  if (P.n < 2) throw new ProbeError(`fitCCS: needs at least 2 contrast pairs, got ${P.n}`);
  const restarts = opts.restarts ?? 10;
  const maxIter = opts.maxIter ?? 500;
  const l2 = opts.l2 ?? 1e-2;
  if (!(Number.isInteger(restarts) && restarts > 0)) throw new ProbeError(`fitCCS: restarts must be a positive integer, got ${restarts}`);
  if (!(Number.isInteger(maxIter) && maxIter > 0)) throw new ProbeError(`fitCCS: maxIter must be a positive integer, got ${maxIter}`);
  if (!(l2 >= 0 && Number.isFinite(l2))) throw new ProbeError(`fitCCS: l2 must be a non-negative number, got ${l2}`);
  const { n, d } = P;
  const np = centreAndScale(P);
  const nn = centreAndScale(N);
  const norm = (M: FeatureMatrix, c: { mean: Float64Array; scale: number }): Float64Array => {
    const out = new Float64Array(n * d);
    for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) out[i * d + k] = (M.data[i * d + k]! - c.mean[k]!) / c.scale;
    return out;
  };
  const Zp = norm(P, np);
  const Zn = norm(N, nn);
  const gp = new Float64Array(n);
  const gn = new Float64Array(n);
  const ccsLoss = (p: Float64Array, g: Float64Array | null): number => {
    const c = p[d]!;
    let loss = 0;
    let cg = 0;
    for (let i = 0; i < n; i++) {
      let sp = c;
      let sn = c;
      const o = i * d;
      for (let k = 0; k < d; k++) {
        sp += Zp[o + k]! * p[k]!;
        sn += Zn[o + k]! * p[k]!;
      }
      const pp = sigmoid(sp);
      const pn = sigmoid(sn);
      const cons = pp + pn - 1;
      const lo = Math.min(pp, pn);
      loss += cons * cons + lo * lo;
      // dL/dp, then through the sigmoids
      const dp = 2 * cons + (pp <= pn ? 2 * pp : 0);
      const dn = 2 * cons + (pn < pp ? 2 * pn : 0);
      gp[i] = (dp * pp * (1 - pp)) / n;
      gn[i] = (dn * pn * (1 - pn)) / n;
      cg += gp[i]! + gn[i]!;
    }
    if (g !== null) {
      g.fill(0);
      for (let i = 0; i < n; i++) {
        const a = gp[i]!;
        const b = gn[i]!;
        const o = i * d;
        for (let k = 0; k < d; k++) g[k] += a * Zp[o + k]! + b * Zn[o + k]!;
      }
      g[d] = cg;
    }
    return loss / n;
  };
  const fg = (p: Float64Array, g: Float64Array): number => {
    const loss = ccsLoss(p, g);
    let pen = 0;
    for (let k = 0; k < d; k++) {
      g[k] += l2 * p[k]!;
      pen += p[k]! * p[k]!;
    }
    return loss + 0.5 * l2 * pen;
  };
  const rng = new Rng(opts.seed ?? 0);
  let best: { x: Float64Array; f: number } | null = null;
  const restartLosses: number[] = [];
  for (let r = 0; r < restarts; r++) {
    const x0 = new Float64Array(d + 1);
    const sd = 1 / Math.sqrt(d);
    for (let k = 0; k < d; k++) x0[k] = sd * rng.normal();
    const res = lbfgs(fg, x0, maxIter, 1e-8);
    restartLosses.push(res.f);
    if (best === null || res.f < best.f) best = { x: res.x, f: res.f };
  }
  const v = best!.x.subarray(0, d);
  const c = best!.x[d]!;
  const loss = ccsLoss(best!.x, null);
  const normalisation: ContrastNormalisation = { meanPos: np.mean, meanNeg: nn.mean, scalePos: np.scale, scaleNeg: nn.scale };
  const sBar = (np.scale + nn.scale) / 2;
  let weights = new Float64Array(d);
  for (let k = 0; k < d; k++) weights[k] = v[k]! / sBar;
  let bias = c;
  for (let k = 0; k < d; k++) bias -= weights[k]! * ((np.mean[k]! + nn.mean[k]!) / 2);
  let signFixed = false;
  if (opts.labels !== undefined) {
    const { indices, labels } = opts.labels;
    if (indices.length !== labels.length) throw new ProbeError(`fitCCS: labels.indices has ${indices.length} entries but labels.labels has ${labels.length}`);
    if (indices.length === 0) throw new ProbeError('fitCCS: labels are given but empty; give at least one labelled pair to fix the sign, or leave labels out');
    indices.forEach((i, j) => {
      if (!(Number.isInteger(i) && i >= 0 && i < n)) throw new ProbeError(`fitCCS: labels.indices[${j}] = ${i} is not a pair index (0 … ${n - 1})`);
      if (labels[j] !== 0 && labels[j] !== 1) throw new ProbeError(`fitCCS: labels.labels[${j}] is ${labels[j]}; labels must be 0 or 1`);
    });
    const sc = ccsPairScores(selectRows(P, indices), selectRows(N, indices), weights, bias, normalisation);
    let agree = 0;
    sc.forEach((s, j) => (agree += (2 * labels[j]! - 1) * s));
    if (agree < 0) {
      weights = weights.map((w) => -w);
      bias = -bias;
    }
    signFixed = true;
  }
  return { weights, bias, direction: unitVector(weights), loss, signFixed, normalisation, restartLosses };
}

/**
 * Burns et al.'s credence for contrast pairs minus ½: ½(p(x̃⁺) + 1 − p(x̃⁻)) − ½,
 * with each set normalised by its own mean and scale (or, with no
 * normalisation, the raw rows). Positive = the positive statement is true.
 */
export function ccsPairScores(Xpos: FeatureInput, Xneg: FeatureInput, weights: ArrayLike<number>, bias: number, normalisation: ContrastNormalisation | null): number[] {
  const P = featureMatrix(Xpos, 'ccsPairScores (positive set)');
  const N = featureMatrix(Xneg, 'ccsPairScores (negative set)');
  if (P.n !== N.n || P.d !== N.d || P.d !== weights.length) {
    throw new ProbeError(`ccsPairScores: ${P.n} × ${P.d} positive and ${N.n} × ${N.d} negative rows for a probe of ${weights.length} weights; give pairs of the probe's width`);
  }
  const sp = linearScores(P, weights, bias);
  const sn = linearScores(N, weights, bias);
  if (normalisation !== null) {
    // weights·x + bias = (v·(x − μ̄))/s̄ + c; a set's own logit is (v·(x − μ±))/s± + c
    const { meanPos, meanNeg, scalePos, scaleNeg } = normalisation;
    const sBar = (scalePos + scaleNeg) / 2;
    let wmBar = 0;
    let wmP = 0;
    let wmN = 0;
    for (let k = 0; k < weights.length; k++) {
      wmBar += weights[k]! * ((meanPos[k]! + meanNeg[k]!) / 2);
      wmP += weights[k]! * meanPos[k]!;
      wmN += weights[k]! * meanNeg[k]!;
    }
    const c = bias + wmBar;
    for (let i = 0; i < P.n; i++) {
      sp[i] = ((sp[i]! - bias - wmP) * sBar) / scalePos + c;
      sn[i] = ((sn[i]! - bias - wmN) * sBar) / scaleNeg + c;
    }
  }
  return sp.map((s, i) => 0.5 * (sigmoid(s) + 1 - sigmoid(sn[i]!)) - 0.5);
}

// ---------------------------------------------------------------------------
// evaluation


/** Fraction of examples with (score > threshold) = label. */
export function accuracy(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold = 0): number {
  const n = scores.length;
  checkLabels(labels, n, 'accuracy', false);
  if (n === 0) throw new ProbeError('accuracy: no examples');
  let right = 0;
  for (let i = 0; i < n; i++) if ((scores[i]! > threshold ? 1 : 0) === labels[i]) right++;
  return right / n;
}



/** The indices of 0 … n−1 not in `test`. */
export function complement(n: number, test: readonly number[]): number[] {
  const out = new Uint8Array(n);
  for (const i of test) out[i] = 1;
  const rest: number[] = [];
  for (let i = 0; i < n; i++) if (out[i] === 0) rest.push(i);
  return rest;
}

function meanStd(xs: readonly number[]): { mean: number; std: number } {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (xs.length < 2) return { mean: m, std: 0 };
  const v = xs.reduce((a, b) => a + (b - m) * (b - m), 0) / (xs.length - 1);
  return { mean: m, std: Math.sqrt(v) };
}

// ---------------------------------------------------------------------------
// probes

export type ProbeKind = 'logistic' | 'mass_mean' | 'ccs';
export const PROBE_KINDS: readonly ProbeKind[] = ['logistic', 'mass_mean', 'ccs'];
/** Residual stream points, or 'head': each head's attention output before W_O (attn.hook_z), flattened head-major. */
export type ProbeSite = 'resid_pre' | 'resid_mid' | 'resid_post' | 'head';
export const PROBE_SITES: readonly ProbeSite[] = ['resid_pre', 'resid_mid', 'resid_post', 'head'];
/** 'last' = each prompt's last token; a number = that position (negative: from the end, −1 = last). */
export type ProbePosition = 'last' | number;

export interface Probe {
  kind: ProbeKind;
  layer: number;
  site: ProbeSite;
  /** for site 'head': the head whose d_head slice of z it reads, or null for all heads flattened */
  head: number | null;
  position: ProbePosition;
  /** weights / ‖weights‖, in the basis of the site (the residual basis for resid_*) */
  direction: Float32Array;
  /** score = weights·x + bias; > 0 predicts label 1 */
  weights: Float32Array;
  bias: number;
  /** CCS: each contrast set's normalisation (pair credences use it); null for the other kinds */
  normalisation: ContrastNormalisation | null;
  /** weights·x + bias for every row */
  score(X: FeatureInput): number[];
  /** credence − ½ of contrast pairs (Burns et al.): ½(p(x⁺) + 1 − p(x⁻)) − ½ */
  scorePairs(Xpos: FeatureInput, Xneg: FeatureInput): number[];
}

export interface ProbeFields {
  kind: ProbeKind;
  layer: number;
  site: ProbeSite;
  head?: number | null;
  position?: ProbePosition;
  weights: ArrayLike<number>;
  bias: number;
  normalisation?: ContrastNormalisation | null;
}

/** A probe from its fields (direction derived from the weights). */
export function makeProbe(f: ProbeFields): Probe {
  const weights = Float32Array.from(f.weights);
  const normalisation = f.normalisation ?? null;
  const probe: Probe = {
    kind: f.kind,
    layer: f.layer,
    site: f.site,
    head: f.head ?? null,
    position: f.position ?? 'last',
    direction: Float32Array.from(unitVector(weights)),
    weights,
    bias: f.bias,
    normalisation,
    score: (X) => linearScores(X, probe.weights, probe.bias),
    scorePairs: (Xp, Xn) => ccsPairScores(Xp, Xn, probe.weights, probe.bias, probe.normalisation),
  };
  return probe;
}

export interface FitProbeOptions extends LogisticOptions, MassMeanOptions {
  /** CCS: random starts (default 10) and seed */
  restarts?: number;
  seed?: number;
  /** CCS: how many labelled training pairs fix the sign (the first ones; default 10) */
  signLabels?: number;
}

interface FitInput {
  X: FeatureMatrix;
  /** CCS: the negative members of the pairs (X holds the positive ones) */
  Xneg: FeatureMatrix | null;
  y: ArrayLike<number>;
}

function fitLinear(kind: ProbeKind, data: FitInput, opts: FitProbeOptions): { weights: Float64Array; bias: number; normalisation: ContrastNormalisation | null } {
  switch (kind) {
    case 'logistic': {
      const r = fitLogistic(data.X, data.y, opts);
      return { weights: r.weights, bias: r.bias, normalisation: null };
    }
    case 'mass_mean': {
      const r = fitMassMean(data.X, data.y, opts);
      return { weights: r.weights, bias: r.bias, normalisation: null };
    }
    case 'ccs': {
      const k = Math.min(opts.signLabels ?? 10, data.X.n);
      if (!(Number.isInteger(k) && k >= 1)) throw new ProbeError(`CCS: signLabels must be a positive integer, got ${opts.signLabels}`);
      const indices = Array.from({ length: k }, (_, i) => i);
      const r = fitCCS(data.X, data.Xneg!, {
        seed: opts.seed, restarts: opts.restarts, l2: opts.l2, maxIter: opts.maxIter,
        labels: { indices, labels: indices.map((i) => data.y[i]!) },
      });
      return { weights: r.weights, bias: r.bias, normalisation: r.normalisation };
    }
  }
}

function scoreWith(kind: ProbeKind, fit: { weights: Float64Array; bias: number; normalisation: ContrastNormalisation | null }, data: FitInput): number[] {
  return kind === 'ccs' ? ccsPairScores(data.X, data.Xneg!, fit.weights, fit.bias, fit.normalisation) : linearScores(data.X, fit.weights, fit.bias);
}

function subset(data: FitInput, idx: readonly number[]): FitInput {
  return { X: selectRows(data.X, idx), Xneg: data.Xneg === null ? null : selectRows(data.Xneg, idx), y: idx.map((i) => data.y[i]!) };
}

// ---------------------------------------------------------------------------
// saving and loading

/** `format` metadata value of a probes file. */
export const PROBES_FORMAT = 'candor-probes';

/**
 * Write probes as safetensors: `probes.{i}.weights` [d], `probes.{i}.bias` [1]
 * and, for CCS, `probes.{i}.mean_pos`, `probes.{i}.mean_neg` [d] and
 * `probes.{i}.scales` [2]; metadata {format, probes: JSON list of
 * {kind, layer, site, head, position}} plus the caller's `metadata`.
 */
export function saveProbes(path: string, probes: readonly Probe[], metadata: Record<string, string> = {}): void {
  const tensors = new Map<string, Tensor>();
  const specs = probes.map((p, i) => {
    tensors.set(`probes.${i}.weights`, tensor(Float32Array.from(p.weights), [p.weights.length]));
    tensors.set(`probes.${i}.bias`, tensor(Float32Array.of(p.bias), [1]));
    if (p.normalisation !== null) {
      tensors.set(`probes.${i}.mean_pos`, tensor(Float32Array.from(p.normalisation.meanPos), [p.weights.length]));
      tensors.set(`probes.${i}.mean_neg`, tensor(Float32Array.from(p.normalisation.meanNeg), [p.weights.length]));
      tensors.set(`probes.${i}.scales`, tensor(Float32Array.of(p.normalisation.scalePos, p.normalisation.scaleNeg), [2]));
    }
    return { kind: p.kind, layer: p.layer, site: p.site, head: p.head, position: p.position };
  });
  writeSafetensors(path, tensors, { metadata: { ...metadata, format: PROBES_FORMAT, probes: JSON.stringify(specs) } });
}

/** Read probes written by `saveProbes`; every problem is a ProbeError naming the file and the field. */
export function loadProbes(path: string): { probes: Probe[]; metadata: Record<string, string> } {
  if (!existsSync(path)) throw new ProbeError(`${path}: no probes file here. Fix: save probes with saveProbes('${path}', probes), or pass the path of an existing file.`);
  const f = openSafetensors(path);
  const field = (key: string, msg: string): never => {
    throw new ProbeError(`${path}: field '${key}' ${msg}`);
  };
  try {
    const md = f.metadata;
    if (md.format !== PROBES_FORMAT) {
      field('format', `of the metadata is ${md.format === undefined ? 'missing' : `'${md.format}'`}, expected '${PROBES_FORMAT}': this is not a probes file. Fix: pass a file written by saveProbes.`);
    }
    let specs: unknown;
    try {
      specs = JSON.parse(md.probes ?? '');
    } catch {
      field('probes', 'of the metadata is not a JSON list of probes; the file is damaged. Fix: save the probes again.');
    }
    if (!Array.isArray(specs)) field('probes', 'of the metadata is not a JSON list of probes');
    const list = specs as Record<string, unknown>[];
    const expected = new Set<string>();
    const read = (name: string, len: number | null): Float32Array => {
      expected.add(name);
      const e = f.entries.get(name);
      if (e === undefined) return field(name, 'is missing; the file is incomplete. Fix: save the probes again.');
      if (!['F32', 'F16', 'BF16', 'F64'].includes(e.dtype)) field(name, `has dtype ${e.dtype}; probes are stored as floats`);
      if (e.shape.length !== 1 || (len !== null && e.shape[0] !== len)) field(name, `has shape [${e.shape.join(', ')}], expected [${len ?? 'd'}]`);
      return Float32Array.from(f.read(name).toTypedArray() as Float32Array | Float64Array);
    };
    const probes = list.map((s, i) => {
      const key = `probes[${i}]`;
      if (s === null || typeof s !== 'object') field(key, 'of the metadata is not an object');
      if (!PROBE_KINDS.includes(s.kind as ProbeKind)) field(`${key}.kind`, `is ${JSON.stringify(s.kind)}; expected one of ${PROBE_KINDS.join(', ')}`);
      if (!(Number.isInteger(s.layer) && (s.layer as number) >= 0)) field(`${key}.layer`, `is ${JSON.stringify(s.layer)}; expected a non-negative integer`);
      if (!PROBE_SITES.includes(s.site as ProbeSite)) field(`${key}.site`, `is ${JSON.stringify(s.site)}; expected one of ${PROBE_SITES.join(', ')}`);
      if (!(s.head === null || s.head === undefined || (Number.isInteger(s.head) && (s.head as number) >= 0))) field(`${key}.head`, `is ${JSON.stringify(s.head)}; expected null or a head index`);
      if (!(s.position === 'last' || s.position === undefined || Number.isInteger(s.position))) field(`${key}.position`, `is ${JSON.stringify(s.position)}; expected 'last' or an integer`);
      const weights = read(`probes.${i}.weights`, null);
      const bias = read(`probes.${i}.bias`, 1)[0]!;
      let normalisation: ContrastNormalisation | null = null;
      if (s.kind === 'ccs') {
        const meanPos = read(`probes.${i}.mean_pos`, weights.length);
        const meanNeg = read(`probes.${i}.mean_neg`, weights.length);
        const scales = read(`probes.${i}.scales`, 2);
        if (!(scales[0]! > 0 && scales[1]! > 0)) field(`probes.${i}.scales`, `must be two positive numbers, got [${scales[0]}, ${scales[1]}]`);
        normalisation = { meanPos: Float64Array.from(meanPos), meanNeg: Float64Array.from(meanNeg), scalePos: scales[0]!, scaleNeg: scales[1]! };
      }
      return makeProbe({
        kind: s.kind as ProbeKind, layer: s.layer as number, site: s.site as ProbeSite,
        head: (s.head as number | null | undefined) ?? null, position: (s.position as ProbePosition | undefined) ?? 'last',
        weights, bias, normalisation,
      });
    });
    const extra = [...f.entries.keys()].filter((k) => !expected.has(k));
    if (extra.length > 0) field(extra[0]!, `is not a tensor of the ${list.length} probes the metadata lists (unexpected: ${extra.slice(0, 4).join(', ')}${extra.length > 4 ? ', …' : ''})`);
    const metadata: Record<string, string> = { ...md };
    delete metadata.format;
    delete metadata.probes;
    return { probes, metadata };
  } finally {
    f.close();
  }
}

// ---------------------------------------------------------------------------
// activations of a model

export interface CollectOptions {
  /** default 'resid_post' */
  site?: ProbeSite;
  /** default: every layer */
  layers?: readonly number[];
  /** default 'last' */
  position?: ProbePosition;
  /** prompts per forward pass (prompts are grouped by length; default 32) */
  batchSize?: number;
}

function siteHook(layer: number, site: ProbeSite): HookName {
  return site === 'head' ? blockHook(layer, 'attn.hook_z') : blockHook(layer, `hook_${site}`);
}

function checkLayers(model: HookedTransformer, layers: readonly number[] | undefined, where: string): number[] {
  const L = model.cfg.nLayers;
  const out = layers === undefined ? Array.from({ length: L }, (_, l) => l) : [...layers];
  if (out.length === 0) throw new ProbeError(`${where}: layers is empty; leave it out for every layer`);
  for (const l of out) if (!(Number.isInteger(l) && l >= 0 && l < L)) throw new ProbeError(`${where}: layer ${l} is not a layer of this ${L}-layer model (0 … ${L - 1})`);
  return out;
}

function checkSite(model: HookedTransformer, site: ProbeSite, where: string): void {
  if (!PROBE_SITES.includes(site)) throw new ProbeError(`${where}: site '${site}' is not one of ${PROBE_SITES.join(', ')}`);
  if (site === 'resid_mid' && model.cfg.parallelResidual) {
    throw new ProbeError(`${where}: site 'resid_mid' does not exist in this model (parallel attention and MLP); use 'resid_pre' or 'resid_post'`);
  }
}

/**
 * The activation at one position of each prompt, at every chosen layer:
 * rows in prompt order, d_model features for the residual sites and
 * n_heads·d_head (head-major) for 'head'. Prompts of equal length run
 * together in batches, under noGrad.
 */
export function collectActivations(model: HookedTransformer, prompts: readonly (readonly number[])[], opts: CollectOptions = {}): Map<number, FeatureMatrix> {
  const where = 'collectActivations';
  const site = opts.site ?? 'resid_post';
  checkSite(model, site, where);
  const layers = checkLayers(model, opts.layers, where);
  const position = opts.position ?? 'last';
  const batchSize = opts.batchSize ?? 32;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new ProbeError(`${where}: batchSize must be a positive integer, got ${batchSize}`);
  if (!Array.isArray(prompts) || prompts.length === 0) throw new ProbeError(`${where}: no prompts`);
  const pos = prompts.map((p, i) => {
    if (!Array.isArray(p) || p.length === 0) throw new ProbeError(`${where}: prompt ${i} is empty; every prompt needs at least one token`);
    if (position === 'last') return p.length - 1;
    if (!Number.isInteger(position)) throw new ProbeError(`${where}: position must be 'last' or an integer, got ${String(position)}`);
    const q = position < 0 ? p.length + position : position;
    if (!(q >= 0 && q < p.length)) throw new ProbeError(`${where}: position ${position} is outside prompt ${i}, which has ${p.length} tokens`);
    return q;
  });
  const width = site === 'head' ? model.cfg.nHeads * model.cfg.dHead : model.cfg.dModel;
  const n = prompts.length;
  const out = new Map<number, FeatureMatrix>();
  for (const l of layers) out.set(l, { data: new Float32Array(n * width), n, d: width });
  const names = layers.map((l) => siteHook(l, site));
  const byLength = new Map<number, number[]>();
  prompts.forEach((p, i) => {
    const g = byLength.get(p.length);
    if (g === undefined) byLength.set(p.length, [i]);
    else g.push(i);
  });
  for (const group of byLength.values()) {
    for (let s = 0; s < group.length; s += batchSize) {
      const idx = group.slice(s, s + batchSize);
      noGrad(() => {
        const { cache } = model.runWithCache(idx.map((i) => prompts[i]!), { names, logits: 'none' });
        layers.forEach((l, li) => {
          const t = cache.at(names[li]!);
          const dst = out.get(l)!.data;
          const src = t.data;
          const st = t.strides;
          idx.forEach((i, b) => {
            const base = t.offset + b * st[0]! + pos[i]! * st[1]!;
            const o = i * width;
            if (t.ndim === 3) {
              for (let k = 0; k < width; k++) dst[o + k] = src[base + k * st[2]!]!;
            } else {
              const H = t.shape[2]!;
              const dh = t.shape[3]!;
              for (let h = 0; h < H; h++) for (let e = 0; e < dh; e++) dst[o + h * dh + e] = src[base + h * st[2]! + e * st[3]!]!;
            }
          });
        });
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// probes per layer

export interface ProbeDataset {
  /** token ids (for CCS: the positive member of each contrast pair) */
  prompts: readonly (readonly number[])[];
  /** 0/1 per prompt (for CCS: 1 = the positive statement is true; only `signLabels` of them train, all evaluate) */
  labels: ArrayLike<number>;
  /** CCS: the negative member of each pair, in the same order */
  contrast?: readonly (readonly number[])[];
}

export interface ProbeLayersOptions extends FitProbeOptions {
  train: ProbeDataset;
  /** held-out data; without it, k-fold cross-validation on `train` */
  test?: ProbeDataset;
  /** default 'logistic' */
  kind?: ProbeKind;
  /** cross-validation folds (default 5), stratified by label */
  folds?: number;
  layers?: readonly number[];
  site?: ProbeSite;
  position?: ProbePosition;
  /** site 'head': one probe per head (its d_head slice of z) instead of one on all heads */
  perHead?: boolean;
  batchSize?: number;
}

export interface LayerProbeScore {
  layer: number;
  /** the head (site 'head' with perHead), else null */
  head: number | null;
  /** mean over folds, or on the test set */
  accuracy: number;
  auroc: number;
  /** sample standard deviation over folds (0 with a test set) */
  accuracyStd: number;
  aurocStd: number;
}

export interface ProbeLayersResult {
  kind: ProbeKind;
  site: ProbeSite;
  position: ProbePosition;
  /** 'cv' (k-fold on train) or 'test' (held-out set) */
  evaluation: 'cv' | 'test';
  folds: number;
  layers: LayerProbeScore[];
  /** one probe per entry of `layers`, trained on all the training data */
  probes: Probe[];
}

interface DatasetFeatures {
  X: Map<number, FeatureMatrix>;
  Xneg: Map<number, FeatureMatrix> | null;
  y: ArrayLike<number>;
}

function datasetFeatures(model: HookedTransformer, ds: ProbeDataset, kind: ProbeKind, opts: CollectOptions, where: string): DatasetFeatures {
  if (ds === undefined || ds === null || !Array.isArray(ds.prompts)) throw new ProbeError(`${where}: expected {prompts, labels}`);
  checkLabels(ds.labels, ds.prompts.length, where);
  let Xneg: Map<number, FeatureMatrix> | null = null;
  if (kind === 'ccs') {
    if (ds.contrast === undefined) throw new ProbeError(`${where}: CCS needs contrast pairs: give 'contrast', the negative member of each prompt's pair`);
    if (ds.contrast.length !== ds.prompts.length) throw new ProbeError(`${where}: ${ds.contrast.length} contrast prompts for ${ds.prompts.length} prompts; CCS needs one per prompt`);
    Xneg = collectActivations(model, ds.contrast, opts);
  }
  return { X: collectActivations(model, ds.prompts, opts), Xneg, y: ds.labels };
}

function fitInputAt(f: DatasetFeatures, layer: number, cols: [number, number] | null): FitInput {
  const cut = (m: FeatureMatrix): FeatureMatrix => (cols === null ? m : selectColumns(m, cols[0], cols[1]));
  return { X: cut(f.X.get(layer)!), Xneg: f.Xneg === null ? null : cut(f.Xneg.get(layer)!), y: f.y };
}

function evaluateCV(kind: ProbeKind, data: FitInput, folds: number, seed: number, opts: FitProbeOptions): { acc: number[]; auc: number[] } {
  const acc: number[] = [];
  const auc: number[] = [];
  for (const test of kfold(data.X.n, folds, seed, data.y)) {
    const tr = subset(data, complement(data.X.n, test));
    const te = subset(data, test);
    const fit = fitLinear(kind, tr, opts);
    const s = scoreWith(kind, fit, te);
    acc.push(accuracy(s, te.y));
    auc.push(auroc(s, te.y));
  }
  return { acc, auc };
}

function checkFolds(y: ArrayLike<number>, folds: number, where: string): void {
  if (!(Number.isInteger(folds) && folds >= 2)) throw new ProbeError(`${where}: folds must be an integer ≥ 2, got ${folds}`);
  let n1 = 0;
  for (let i = 0; i < y.length; i++) n1 += y[i] === 1 ? 1 : 0;
  const fewest = Math.min(n1, y.length - n1);
  if (fewest < folds) {
    throw new ProbeError(`${where}: ${folds}-fold cross-validation needs at least ${folds} examples of each class, but one class has ${fewest}; use fewer folds, more examples, or a test set`);
  }
}

/**
 * Probes at every chosen layer (and head): scored by stratified k-fold
 * cross-validation on the training set, or on a held-out test set; then one
 * probe per layer trained on all the training data.
 */
export function probeLayers(model: HookedTransformer, opts: ProbeLayersOptions): ProbeLayersResult {
  const where = 'probeLayers';
  const kind = opts.kind ?? 'logistic';
  if (!PROBE_KINDS.includes(kind)) throw new ProbeError(`${where}: kind '${kind}' is not one of ${PROBE_KINDS.join(', ')}`);
  const site = opts.site ?? 'resid_post';
  const position = opts.position ?? 'last';
  const folds = opts.folds ?? 5;
  const seed = opts.seed ?? 0;
  checkSite(model, site, where);
  const layers = checkLayers(model, opts.layers, where);
  if (opts.perHead === true && site !== 'head') throw new ProbeError(`${where}: perHead needs site 'head', got '${site}'`);
  const copts: CollectOptions = { site, layers, position, batchSize: opts.batchSize };
  const train = datasetFeatures(model, opts.train, kind, copts, `${where} (train)`);
  const test = opts.test === undefined ? null : datasetFeatures(model, opts.test, kind, copts, `${where} (test)`);
  if (test === null) checkFolds(opts.train.labels, folds, where);
  const dh = model.cfg.dHead;
  const heads: (number | null)[] = opts.perHead === true ? Array.from({ length: model.cfg.nHeads }, (_, h) => h) : [null];
  const scores: LayerProbeScore[] = [];
  const probes: Probe[] = [];
  for (const layer of layers) {
    for (const head of heads) {
      const cols: [number, number] | null = head === null ? null : [head * dh, (head + 1) * dh];
      const tr = fitInputAt(train, layer, cols);
      const full = fitLinear(kind, tr, opts);
      let acc: number[];
      let auc: number[];
      if (test !== null) {
        const te = fitInputAt(test, layer, cols);
        const s = scoreWith(kind, full, te);
        acc = [accuracy(s, te.y)];
        auc = [auroc(s, te.y)];
      } else ({ acc, auc } = evaluateCV(kind, tr, folds, seed, opts));
      const a = meanStd(acc);
      const u = meanStd(auc);
      scores.push({ layer, head, accuracy: a.mean, auroc: u.mean, accuracyStd: a.std, aurocStd: u.std });
      probes.push(makeProbe({ kind, layer, site, head, position, ...full }));
    }
  }
  return { kind, site, position, evaluation: test === null ? 'cv' : 'test', folds: test === null ? folds : 0, layers: scores, probes };
}

// ---------------------------------------------------------------------------
// transfer

export interface NamedProbeDataset extends ProbeDataset {
  name: string;
}

export interface TransferOptions extends FitProbeOptions {
  /** default 'logistic' */
  kind?: ProbeKind;
  layer: number;
  site?: ProbeSite;
  /** site 'head': probe only this head's slice of z */
  head?: number;
  position?: ProbePosition;
  /** the diagonal: k-fold cross-validation within the dataset ('cv', default) or the training fit itself ('train') */
  diagonal?: 'cv' | 'train';
  folds?: number;
  batchSize?: number;
}

export interface TransferResult {
  names: string[];
  /** [train row][test column] */
  auroc: number[][];
  accuracy: number[][];
  /** the probe trained on all of each dataset (row order) */
  probes: Probe[];
}

/**
 * Train a probe on each dataset and test it on every other: entry [i][j] is
 * the probe trained on all of dataset i scored on dataset j. The diagonal is
 * k-fold cross-validation within the dataset unless `diagonal: 'train'`.
 */
export function transferMatrix(model: HookedTransformer, datasets: readonly NamedProbeDataset[], opts: TransferOptions): TransferResult {
  const where = 'transferMatrix';
  if (!Array.isArray(datasets) || datasets.length === 0) throw new ProbeError(`${where}: no datasets`);
  const kind = opts.kind ?? 'logistic';
  if (!PROBE_KINDS.includes(kind)) throw new ProbeError(`${where}: kind '${kind}' is not one of ${PROBE_KINDS.join(', ')}`);
  const site = opts.site ?? 'resid_post';
  const position = opts.position ?? 'last';
  const folds = opts.folds ?? 5;
  const diagonal = opts.diagonal ?? 'cv';
  checkSite(model, site, where);
  const [layer] = checkLayers(model, [opts.layer], where);
  let cols: [number, number] | null = null;
  if (opts.head !== undefined) {
    if (site !== 'head') throw new ProbeError(`${where}: head needs site 'head', got '${site}'`);
    if (!(Number.isInteger(opts.head) && opts.head >= 0 && opts.head < model.cfg.nHeads)) throw new ProbeError(`${where}: head ${opts.head} is not a head of this model (0 … ${model.cfg.nHeads - 1})`);
    cols = [opts.head * model.cfg.dHead, (opts.head + 1) * model.cfg.dHead];
  }
  const names = datasets.map((d) => d.name);
  const copts: CollectOptions = { site, layers: [layer!], position, batchSize: opts.batchSize };
  const feats = datasets.map((d) => {
    checkLabels(d.labels, d.prompts.length, `${where} (dataset '${d.name}')`);
    if (diagonal === 'cv') checkFolds(d.labels, folds, `${where} (dataset '${d.name}')`);
    return fitInputAt(datasetFeatures(model, d, kind, copts, `${where} (dataset '${d.name}')`), layer!, cols);
  });
  const auc: number[][] = [];
  const acc: number[][] = [];
  const probes: Probe[] = [];
  feats.forEach((tr, i) => {
    const fit = fitLinear(kind, tr, opts);
    probes.push(makeProbe({ kind, layer: layer!, site, head: opts.head ?? null, position, ...fit }));
    const aucRow: number[] = [];
    const accRow: number[] = [];
    feats.forEach((te, j) => {
      if (i === j && diagonal === 'cv') {
        const cv = evaluateCV(kind, tr, folds, opts.seed ?? 0, opts);
        aucRow.push(meanStd(cv.auc).mean);
        accRow.push(meanStd(cv.acc).mean);
        return;
      }
      const s = scoreWith(kind, fit, te);
      aucRow.push(auroc(s, te.y));
      accRow.push(accuracy(s, te.y));
    });
    auc.push(aucRow);
    acc.push(accRow);
  });
  return { names, auroc: auc, accuracy: acc, probes };
}
