/**
 * Measurements the audit's experiments share: logit-lens readings of chosen
 * tokens at every layer, last-position residuals, and small statistics.
 */
import { noGrad } from '../tensor/autograd.js';
import { contiguousCopy } from '../tensor/ops/basic.js';
import { tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { blockHook, type HookName, type HookSpec } from '../model/hooks.js';
import type { HookedTransformer } from '../model/transformer.js';
import { readOut } from '../methods/lens.js';
import { collectActivations, complement, fitLogistic, kfold } from '../methods/probes.js';

/** Indices of prompts grouped by length, in chunks of at most `size` (equal lengths share a forward pass, no padding). */
export function lengthBatches(prompts: readonly (readonly number[])[], size = 32): number[][] {
  const groups = new Map<number, number[]>();
  prompts.forEach((p, i) => groups.set(p.length, [...(groups.get(p.length) ?? []), i]));
  const out: number[][] = [];
  for (const idx of groups.values()) for (let s = 0; s < idx.length; s += size) out.push(idx.slice(s, s + size));
  return out;
}

export interface LensReading {
  /** [prompt][layer][token]: log-probability of each tracked token read out after block `layer` (the last layer is the output) */
  logprob: number[][][];
  /** [prompt][layer][token]: rank among the whole vocabulary (0 = top) */
  rank: number[][][];
}

/**
 * Logit lens at the last position: the residual stream after each block read
 * through the final norm and unembedding, for the tokens given per prompt.
 */
export function lensTrack(model: HookedTransformer, prompts: readonly (readonly number[])[], tokens: readonly (readonly number[])[], hooks: readonly HookSpec[] = []): LensReading {
  const L = model.cfg.nLayers;
  const V = model.cfg.dVocab;
  const D = model.cfg.dModel;
  const names: HookName[] = Array.from({ length: L }, (_, l) => blockHook(l, 'hook_resid_post'));
  const logprob: number[][][] = new Array(prompts.length);
  const rank: number[][][] = new Array(prompts.length);
  noGrad(() => {
    for (const idx of lengthBatches(prompts)) {
      const T = prompts[idx[0]!]!.length;
      const { cache } = model.runWithCache(idx.map((i) => prompts[i]!), { names, logits: 'none', fwdHooks: hooks });
      const rows = names.map((n) => {
        const a = contiguousCopy(cache.at(n)).data as Float32Array;
        const last = new Float32Array(idx.length * D);
        for (let b = 0; b < idx.length; b++) last.set(a.subarray((b * T + T - 1) * D, (b * T + T) * D), b * D);
        return contiguousCopy(readOut(model, tensor(last, [idx.length, D]))).data as Float32Array;
      });
      idx.forEach((p, b) => {
        logprob[p] = [];
        rank[p] = [];
        for (let l = 0; l < L; l++) {
          const row = rows[l]!.subarray(b * V, (b + 1) * V);
          let mx = -Infinity;
          for (let v = 0; v < V; v++) if (row[v]! > mx) mx = row[v]!;
          let z = 0;
          for (let v = 0; v < V; v++) z += Math.exp(row[v]! - mx);
          const lz = Math.log(z) + mx;
          logprob[p]!.push(tokens[p]!.map((t) => row[t]! - lz));
          rank[p]!.push(tokens[p]!.map((t) => {
            let r = 0;
            for (let v = 0; v < V; v++) if (row[v]! > row[t]!) r++;
            return r;
          }));
        }
      });
    }
  });
  return { logprob, rank };
}

/** Last-position residual (resid_post of every layer) of each prompt: [layer][prompt] → Float32Array(d_model). */
export function lastResiduals(model: HookedTransformer, prompts: readonly (readonly number[])[]): Float32Array[][] {
  const L = model.cfg.nLayers;
  if (prompts.length === 0) return Array.from({ length: L }, () => []);
  const m = collectActivations(model, prompts, { site: 'resid_post', position: 'last' });
  return Array.from({ length: L }, (_, l) => {
    const f = m.get(l)!;
    const data = f.data as Float32Array; // collectActivations fills float32 rows
    return Array.from({ length: f.n }, (_, i) => data.subarray(i * f.d, (i + 1) * f.d));
  });
}

export const mean = (xs: readonly number[]): number => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

export function std(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** The threshold on scores that best separates labels (accuracy), and that accuracy. */
export function bestThreshold(scores: readonly number[], labels: readonly boolean[]): { threshold: number; accuracy: number } {
  const order = scores.map((s, i) => [s, labels[i]!] as const).sort((a, b) => a[0] - b[0]);
  const pos = labels.filter(Boolean).length;
  // threshold below everything: all predicted positive
  let best = { threshold: order.length > 0 ? order[0]![0] - 1 : 0, accuracy: pos / Math.max(1, labels.length) };
  let negBelow = 0;
  let posBelow = 0;
  for (let i = 0; i < order.length; i++) {
    if (order[i]![1]) posBelow++;
    else negBelow++;
    if (i + 1 < order.length && order[i + 1]![0] === order[i]![0]) continue;
    const acc = (negBelow + (pos - posBelow)) / labels.length;
    const next = i + 1 < order.length ? order[i + 1]![0] : order[i]![0] + 1;
    if (acc > best.accuracy) best = { threshold: (order[i]![0] + next) / 2, accuracy: acc };
  }
  return best;
}


/** A random three-way split of n items into train, val and test by `shares` (each part at least one item when n ≥ 3). */
export function split3(n: number, seed: number, shares: { readonly train: number; readonly val: number }): [number[], number[], number[]] {
  const idx = new Rng(seed).shuffle([...Array(n).keys()]);
  const a = Math.max(n >= 3 ? 1 : 0, Math.round(n * shares.train));
  const b = Math.max(n >= 3 ? 1 : 0, Math.round(n * shares.val));
  const sorted = (xs: number[]) => xs.sort((x, y) => x - y);
  return [sorted(idx.slice(0, a)), sorted(idx.slice(a, a + b)), sorted(idx.slice(a + b))];
}

/** Out-of-fold logistic-probe scores (stratified k-fold), so every row is scored by a probe that never saw it. */
export function cvScores(X: readonly Float32Array[], y: readonly number[], groups?: readonly string[], folds = 5, seed = 1): number[] {
  return cvFit(X, y, groups, folds, seed).scores;
}

/** The same, with the fold probes themselves (to score new rows on the scale of the out-of-fold scores). */
export function cvFit(X: readonly Float32Array[], y: readonly number[], groups?: readonly string[], folds = 5, seed = 1): { scores: number[]; fits: { weights: ArrayLike<number>; bias: number }[] } {
  const scores = new Array<number>(X.length);
  const fits: { weights: ArrayLike<number>; bias: number }[] = [];
  for (const test of kfold(X.length, folds, seed, y, groups)) {
    const train = complement(X.length, test);
    const fit = fitLogistic(train.map((i) => X[i]!), train.map((i) => y[i]!), { l2: 1e-2 });
    fits.push(fit);
    for (const i of test) scores[i] = dot(fit.weights, X[i]!) + fit.bias;
  }
  return { scores, fits };
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let x = 0;
  for (let i = 0; i < a.length; i++) x += a[i]! * b[i]!;
  return x;
}


/**
 * At most n items spread evenly over the list (prompt sets are ordered by
 * topic and subject; a prefix would cover only the first topics).
 */
export function spread<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return [...items];
  return Array.from({ length: n }, (_, k) => items[Math.floor((k * items.length) / n)]!);
}
