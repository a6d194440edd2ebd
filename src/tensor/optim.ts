/**
 * Training utilities: AdamW with decoupled weight decay, global gradient-norm
 * clipping, and a linear-warmup + cosine learning-rate schedule.
 */
import { vectorKernel } from './kernels/index.js';
import { CandorError, ShapeError, fmtShape } from './errors.js';
import { Tensor, type FloatArray } from './tensor.js';

export class OptimizerError extends CandorError {
  override name = 'OptimizerError';
}

function elements(t: Tensor, what: string): FloatArray {
  if (t.dtype === 'int32') throw new OptimizerError(`${what}: parameter ${t.name ?? ''} is int32; only float tensors can be trained`);
  if (!t.isContiguous()) throw new OptimizerError(`${what}: parameter ${t.name ?? ''} ${fmtShape(t.shape)} is a strided view; train the contiguous tensor it views`);
  return (t.data as FloatArray).subarray(t.offset, t.offset + t.size) as FloatArray;
}

export interface AdamWOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** decoupled weight decay (applied as p ← p − lr·wd·p) */
  weightDecay?: number;
  /** parameters excluded from weight decay (biases, norms, by default none) */
  noDecay?: (p: Tensor) => boolean;
}

export interface AdamWState {
  step: number;
  m: Float64Array[];
  v: Float64Array[];
}

/**
 * AdamW (Loshchilov & Hutter): p ← p − lr·(m̂/(√v̂+eps) + wd·p). Moments are
 * kept in float64.
 */
export class AdamW {
  readonly params: Tensor[];
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly decays: boolean[];
  private m: Float64Array[];
  private v: Float64Array[];
  stepCount = 0;

  constructor(params: readonly Tensor[], opts: AdamWOptions = {}) {
    this.params = [...params];
    this.lr = opts.lr ?? 1e-3;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    const noDecay = opts.noDecay ?? (() => false);
    this.decays = this.params.map((p) => !noDecay(p));
    for (const p of this.params) {
      elements(p, 'AdamW');
      if (!p.requiresGrad) throw new OptimizerError(`AdamW: parameter ${p.name ?? fmtShape(p.shape)} does not require a gradient; call requireGrad() on it`);
    }
    this.m = this.params.map((p) => new Float64Array(p.size));
    this.v = this.params.map((p) => new Float64Array(p.size));
  }

  /**
   * Apply one update from each parameter's .grad (parameters without a gradient are skipped).
   * gradScale multiplies every gradient first, in the same pass: trainers clip the global
   * norm this way (see gradNorm) instead of rewriting every gradient before the update.
   */
  step(opts: { gradScale?: number } = {}): void {
    const gs = opts.gradScale ?? 1;
    if (!(Number.isFinite(gs) && gs >= 0)) throw new OptimizerError(`AdamW.step: gradScale ${gs} must be a finite number ≥ 0`);
    this.stepCount++;
    const t = this.stepCount;
    const b1 = this.beta1;
    const b2 = this.beta2;
    const lr = this.lr;
    // bias corrections: m̂ = m/c1, v̂ = v/c2, applied as one step size and one reciprocal
    const stepSize = lr / (1 - Math.pow(b1, t));
    const ic2 = 1 / (1 - Math.pow(b2, t));
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i]!;
      if (p.grad === null) continue;
      if (p.grad.size !== p.size) throw new ShapeError(`AdamW: gradient ${fmtShape(p.grad.shape)} does not match parameter ${fmtShape(p.shape)}`);
      const w = elements(p, 'AdamW');
      const g = elements(p.grad, 'AdamW');
      const m = this.m[i]!;
      const v = this.v[i]!;
      const decay = this.decays[i] ? 1 - lr * this.weightDecay : 1;
      const vk = w instanceof Float32Array && g instanceof Float32Array && w.length >= 1024 ? vectorKernel() : null;
      if (vk !== null) {
        vk.adamwStep(w as Float32Array, g as Float32Array, m, v, w.length, lr, b1, b2, 1 - Math.pow(b1, t), 1 - Math.pow(b2, t), this.eps, decay, gs);
        continue;
      }
      for (let j = 0; j < w.length; j++) {
        const gj = g[j]! * gs;
        const mj = (m[j] = b1 * m[j]! + (1 - b1) * gj);
        const vj = (v[j] = b2 * v[j]! + (1 - b2) * gj * gj);
        w[j] = w[j]! * decay - (stepSize * mj) / (Math.sqrt(vj * ic2) + this.eps);
      }
    }
  }

  zeroGrad(): void {
    for (const p of this.params) p.grad = null;
  }

  state(): AdamWState {
    return { step: this.stepCount, m: this.m.map((a) => a.slice()), v: this.v.map((a) => a.slice()) };
  }

  loadState(s: AdamWState): void {
    if (s.m.length !== this.params.length || s.m.some((a, i) => a.length !== this.params[i]!.size)) {
      throw new OptimizerError('AdamW.loadState: the saved state was made for a different set of parameters');
    }
    this.stepCount = s.step;
    this.m = s.m.map((a) => Float64Array.from(a));
    this.v = s.v.map((a) => Float64Array.from(a));
  }
}

/** The global L2 norm of the parameters' gradients (parameters without one count as zero). */
export function gradNorm(params: readonly Tensor[]): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const vk = vectorKernel();
  for (const p of params) {
    if (p.grad === null) continue;
    const g = elements(p.grad, 'gradNorm');
    if (vk?.sumSquares !== undefined && g instanceof Float32Array && g.length >= 1024) {
      s0 += vk.sumSquares(g, 0, g.length);
      continue;
    }
    const n4 = g.length & ~3;
    let j = 0;
    // four running sums: one would make every addition wait for the previous one
    for (; j < n4; j += 4) {
      s0 += g[j]! * g[j]!;
      s1 += g[j + 1]! * g[j + 1]!;
      s2 += g[j + 2]! * g[j + 2]!;
      s3 += g[j + 3]! * g[j + 3]!;
    }
    for (; j < g.length; j++) s0 += g[j]! * g[j]!;
  }
  return Math.sqrt(s0 + s1 + s2 + s3);
}

/** The factor that brings a global gradient norm down to maxNorm (1 when it is already within). */
export function clipScale(norm: number, maxNorm: number): number {
  return norm > maxNorm && norm > 0 ? maxNorm / (norm + 1e-6) : 1;
}

/**
 * Scale all gradients so their global L2 norm is at most maxNorm. Returns the
 * norm before clipping. (A trainer that steps AdamW right after passes
 * clipScale(gradNorm(params), maxNorm) to step() instead: one pass fewer.)
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): number {
  const norm = gradNorm(params);
  const s = clipScale(norm, maxNorm);
  if (s !== 1) {
    for (const p of params) {
      if (p.grad === null) continue;
      const g = elements(p.grad, 'clipGradNorm');
      for (let j = 0; j < g.length; j++) g[j] = g[j]! * s;
    }
  }
  return norm;
}

export interface CosineSchedule {
  /** peak learning rate, reached at the end of warmup */
  lr: number;
  warmupSteps: number;
  totalSteps: number;
  /** final learning rate (default lr/10) */
  minLr?: number;
}

/** Learning rate at `step` (0-based): linear warmup, then cosine decay to minLr. */
export function cosineLr(step: number, s: CosineSchedule): number {
  const minLr = s.minLr ?? s.lr / 10;
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  if (step >= s.totalSteps) return minLr;
  const progress = (step - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps);
  return minLr + 0.5 * (s.lr - minLr) * (1 + Math.cos(Math.PI * progress));
}
