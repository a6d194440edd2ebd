/**
 * Directions in the residual stream: difference in means between two prompt
 * sets, selection as in the refusal-direction method (Arditi et al. 2024),
 * directional ablation, activation addition, and weight orthogonalisation.
 *
 * Directional ablation removes a unit direction r̂ from the residual stream at
 * every layer and position: x ← x − (x·r̂) r̂. Weight orthogonalisation bakes
 * the same into the weights by removing r̂ from every write into the stream
 * (embeddings, W_O and b_O, W_out and b_out), so the edited checkpoint's
 * logits equal the hook-ablated model's. Tied embeddings are untied first, so
 * the unembedding is unchanged. In models that normalise attention and MLP
 * outputs before adding them (Gemma 2) no weight edit can remove r̂ after that
 * norm: orthogonalising o_proj and down_proj removes it before the norm
 * (the 'writes' hooks act there too, at hook_attn_out_pre_norm and
 * hook_mlp_out_pre_norm), and the norm can put part of it back; the 'stream'
 * hooks remove it from the stream itself.
 */
import { CandorError } from '../tensor/errors.js';
import { noGrad } from '../tensor/autograd.js';
import { Tensor, tensor } from '../tensor/tensor.js';
import { add, mul, scale, sub, contiguousCopy } from '../tensor/ops/basic.js';
import { sum } from '../tensor/ops/reduce.js';
import { HookedTransformer } from '../model/transformer.js';
import { blockHook, type HookName, type HookSpec } from '../model/hooks.js';
import type { BlockWeights, ModelWeights } from '../model/weights.js';
import { logProbs } from './metrics.js';

export class DirectionError extends CandorError {
  override name = 'DirectionError';
}

/** A unit vector (float32) along v. */
export function unit(v: ArrayLike<number>): Float32Array {
  let n = 0;
  for (let i = 0; i < v.length; i++) n += v[i]! * v[i]!;
  n = Math.sqrt(n);
  if (!(n > 0)) throw new DirectionError('cannot normalise a zero direction');
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! / n;
  return out;
}

export { cosine } from './statistics.js';

function checkDirection(model: HookedTransformer, d: ArrayLike<number>, what = 'direction'): void {
  if (d.length !== model.cfg.dModel) throw new DirectionError(`${what} has ${d.length} entries but the model's residual stream has ${model.cfg.dModel}`);
}

// ---------------------------------------------------------------------------
// difference in means

export interface MeanOptions {
  /** positions counted from the end (-1 = last token); default [-1] */
  positions?: readonly number[];
  /** layers whose resid_pre is read (default all; nLayers = the final residual, resid_post of the last block) */
  layers?: readonly number[];
  /** prompts per forward pass (prompts of equal length are batched) */
  batchSize?: number;
}

/** Mean resid_pre over prompts: [layer][position] → Float64Array(d_model). */
export function meanResiduals(model: HookedTransformer, prompts: readonly (readonly number[])[], opts: MeanOptions = {}): { layers: number[]; positions: number[]; means: Float64Array[][] } {
  const L = model.cfg.nLayers;
  const D = model.cfg.dModel;
  const layers = [...(opts.layers ?? [...Array(L).keys()])];
  const positions = [...(opts.positions ?? [-1])];
  if (prompts.length === 0) throw new DirectionError('no prompts given');
  for (const l of layers) if (!(Number.isInteger(l) && l >= 0 && l <= L)) throw new DirectionError(`layer ${l} is outside [0, ${L}]`);
  for (const p of positions) if (!(Number.isInteger(p) && p < 0)) throw new DirectionError(`positions count from the end and must be negative (-1 = last token); got ${p}`);
  const minLen = Math.min(...prompts.map((p) => p.length));
  if (-Math.min(...positions) > minLen) throw new DirectionError(`position ${Math.min(...positions)} is before the start of a ${minLen}-token prompt`);
  const name = (l: number): HookName => (l === L ? blockHook(L - 1, 'hook_resid_post') : blockHook(l, 'hook_resid_pre'));
  const means = layers.map(() => positions.map(() => new Float64Array(D)));
  const byLength = new Map<number, (readonly number[])[]>();
  for (const p of prompts) byLength.set(p.length, [...(byLength.get(p.length) ?? []), p]);
  const batch = Math.max(1, opts.batchSize ?? 16);
  noGrad(() => {
    for (const [T, group] of byLength) {
      for (let i = 0; i < group.length; i += batch) {
        const chunk = group.slice(i, i + batch);
        const { cache } = model.runWithCache(chunk, { names: layers.map(name), logits: 'none' });
        layers.forEach((l, li) => {
          const a = contiguousCopy(cache.at(name(l))).data as Float32Array;
          positions.forEach((p, pi) => {
            const m = means[li]![pi]!;
            for (let b = 0; b < chunk.length; b++) {
              const off = (b * T + (T + p)) * D;
              for (let d = 0; d < D; d++) m[d]! += a[off + d]!;
            }
          });
        });
      }
    }
  });
  for (const row of means) for (const m of row) for (let d = 0; d < D; d++) m[d]! /= prompts.length;
  return { layers, positions, means };
}

export interface DirectionCandidates {
  layers: number[];
  positions: number[];
  /** [layer][position]: μ_target − μ_other (not normalised) */
  vectors: Float32Array[][];
  norms: number[][];
}

/** Candidate directions μ_target − μ_other at each layer's resid_pre and each position from the end. */
export function diffInMeans(model: HookedTransformer, target: readonly (readonly number[])[], other: readonly (readonly number[])[], opts: MeanOptions = {}): DirectionCandidates {
  const a = meanResiduals(model, target, opts);
  const b = meanResiduals(model, other, opts);
  const vectors = a.means.map((row, li) => row.map((m, pi) => Float32Array.from(m, (v, d) => v - b.means[li]![pi]![d]!)));
  const norms = vectors.map((row) => row.map((v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0))));
  return { layers: a.layers, positions: a.positions, vectors, norms };
}

// ---------------------------------------------------------------------------
// interventions as hooks

/** x − (x·r̂) r̂ along the last axis. */
function project(x: Tensor, r: Tensor): Tensor {
  return sub(x, mul(sum(mul(x, r), -1, true), r));
}

/** The hook points where the residual stream is written (where directional ablation acts). */
export function residualWriteHooks(model: HookedTransformer): HookName[] {
  const names: HookName[] = ['hook_embed'];
  if (model.cfg.positional === 'learned') names.push('hook_pos_embed');
  for (let l = 0; l < model.cfg.nLayers; l++) {
    if (model.cfg.postNorms) names.push(blockHook(l, 'hook_attn_out_pre_norm'), blockHook(l, 'hook_mlp_out_pre_norm'));
    else names.push(blockHook(l, 'hook_attn_out'), blockHook(l, 'hook_mlp_out'));
  }
  return names;
}

/** The residual stream at every block boundary: each block's input, middle and output. */
export function residualStreamHooks(model: HookedTransformer): HookName[] {
  const names: HookName[] = [];
  for (let l = 0; l < model.cfg.nLayers; l++) {
    names.push(blockHook(l, 'hook_resid_pre'));
    if (!model.cfg.parallelResidual) names.push(blockHook(l, 'hook_resid_mid'));
    names.push(blockHook(l, 'hook_resid_post'));
  }
  return names;
}

/**
 * Hooks that remove a direction at every layer and position. 'stream'
 * (default) projects it out of the residual stream at every block boundary,
 * as the refusal-direction method defines ablation; 'writes' projects it out
 * of every write into the stream (embeddings, attention and MLP outputs),
 * which is what weight orthogonalisation reproduces. The two agree except in
 * models whose outputs pass a norm before joining the stream (Gemma 2): there
 * the norm can put part of the direction back after a 'writes' ablation.
 */
export function ablationHooks(model: HookedTransformer, direction: ArrayLike<number>, at: 'stream' | 'writes' = 'stream'): HookSpec[] {
  checkDirection(model, direction);
  const r = tensor(unit(direction), [model.cfg.dModel]);
  const names = new Set(at === 'stream' ? residualStreamHooks(model) : residualWriteHooks(model));
  return [[(n: HookName) => names.has(n), (x: Tensor) => project(x, r)]];
}

/** A hook that adds coefficient · vector to the residual stream entering `layer` (every position). */
export function additionHooks(model: HookedTransformer, layer: number, vector: ArrayLike<number>, coefficient = 1): HookSpec[] {
  checkDirection(model, vector, 'vector');
  if (!(Number.isInteger(layer) && layer >= 0 && layer < model.cfg.nLayers)) throw new DirectionError(`layer ${layer} is outside [0, ${model.cfg.nLayers})`);
  const v = scale(tensor(Float32Array.from(vector), [model.cfg.dModel]), coefficient);
  return [[blockHook(layer, 'hook_resid_pre'), (x: Tensor) => add(x, v)]];
}

// ---------------------------------------------------------------------------
// weight orthogonalisation

/** W ← (I − r̂r̂ᵀ) W for W [d_model, k] (rows index the residual stream). */
/** r̂ᵀ W for W [d_model, k] stored row-major in a. */
function outProjection(a: Float32Array, r: Float32Array): Float64Array {
  const D = r.length;
  const K = a.length / D;
  const proj = new Float64Array(K);
  for (let d = 0; d < D; d++) for (let k = 0; k < K; k++) proj[k]! += r[d]! * a[d * K + k]!;
  return proj;
}

/** e·r̂ for each row e of width d_model in a. */
function rowProjections(a: Float32Array, r: Float32Array): Float64Array {
  const D = r.length;
  const dots = new Float64Array(a.length / D);
  for (let i = 0; i < dots.length; i++) {
    let dot = 0;
    for (let d = 0; d < D; d++) dot += a[i * D + d]! * r[d]!;
    dots[i] = dot;
  }
  return dots;
}

function orthOut(w: Tensor, r: Float32Array): Tensor {
  const [D, K] = w.shape as [number, number];
  const src = contiguousCopy(w).data as Float32Array;
  const out = new Float32Array(D * K);
  const proj = outProjection(src, r);
  for (let d = 0; d < D; d++) for (let k = 0; k < K; k++) out[d * K + k] = src[d * K + k]! - r[d]! * proj[k]!;
  return tensor(out, [D, K]);
}

/** Each row e ← e − (e·r̂) r̂ for rows of width d_model (embeddings, biases). */
function orthRows(w: Tensor, r: Float32Array): Tensor {
  const D = r.length;
  const src = contiguousCopy(w).data as Float32Array;
  const out = new Float32Array(src.length);
  const dots = rowProjections(src, r);
  for (let i = 0; i < dots.length; i++) for (let d = 0; d < D; d++) out[i * D + d] = src[i * D + d]! - dots[i]! * r[d]!;
  return tensor(out, [...w.shape]);
}

/**
 * What orthogonalizeWeights would change, without making the copy: the
 * matrices it edits (those with any component along the direction), their
 * parameters, and the share of all weights' squared norm it removes (‖r̂ᵀW‖²
 * per matrix written as rows of the stream, Σ (e·r̂)² over embedding and bias rows).
 */
export function orthogonalizationEdit(model: HookedTransformer, direction: ArrayLike<number>): { matrices: number; parameters: number; normRemoved: number } {
  checkDirection(model, direction);
  const r = unit(direction);
  const w = model.weights;
  const writers: [Tensor, 'out' | 'rows'][] = [[w.embed, 'rows']];
  if (w.posEmbed !== null) writers.push([w.posEmbed, 'rows']);
  for (const b of w.blocks) {
    writers.push([b.wo, 'out']);
    if (b.bo !== null) writers.push([b.bo, 'rows']);
    if (b.wOut !== null) writers.push([b.wOut, 'out']);
    for (const x of b.experts ?? []) writers.push([x.wOut, 'out']);
    if (b.bOut !== null) writers.push([b.bOut, 'rows']);
  }
  let matrices = 0;
  let parameters = 0;
  let removed = 0;
  for (const [t, kind] of writers) {
    const a = contiguousCopy(t).data as Float32Array;
    let part = 0;
    for (const p of kind === 'rows' ? rowProjections(a, r) : outProjection(a, r)) part += p * p;
    if (part > 0) {
      matrices++;
      parameters += a.length;
      removed += part;
    }
  }
  let total = 0;
  for (const t of model.parameters().values()) for (const v of t.data as Float32Array) total += v * v;
  return { matrices, parameters, normRemoved: removed / total };
}

/**
 * A new model whose weights cannot write `direction` into the residual
 * stream: its logits equal the hook-ablated model's (ablationHooks with
 * 'writes'; for every family but Gemma 2 that is also the 'stream' ablation).
 * Save it with saveModel to get a checkpoint in the input's format.
 */
export function orthogonalizeWeights(model: HookedTransformer, direction: ArrayLike<number>): HookedTransformer {
  checkDirection(model, direction);
  const r = unit(direction);
  const w = model.weights;
  const blocks: BlockWeights[] = w.blocks.map((b) => ({
    ...b,
    wo: orthOut(b.wo, r),
    bo: b.bo === null ? null : orthRows(b.bo, r),
    wOut: b.wOut === null ? null : orthOut(b.wOut, r),
    experts: b.experts === null ? null : b.experts.map((x) => ({ ...x, wOut: orthOut(x.wOut, r) })),
    bOut: b.bOut === null ? null : orthRows(b.bOut, r),
  }));
  const weights: ModelWeights = {
    embed: orthRows(w.embed, r),
    posEmbed: w.posEmbed === null ? null : orthRows(w.posEmbed, r),
    blocks,
    lnFinal: w.lnFinal,
    // the unembedding keeps the original matrix (untied if it was tied)
    unembed: w.unembed,
  };
  const cfg = { ...model.cfg, tiedEmbeddings: false };
  const out = new HookedTransformer(cfg, weights);
  out.tokenizer = model.tokenizer;
  out.source = model.source;
  out.hfConfig = model.hfConfig === null ? null : { ...model.hfConfig, tie_word_embeddings: false };
  return out;
}

// ---------------------------------------------------------------------------
// selection (refusal-direction method)

/** Log-odds that the next token is one of `tokens`: log P − log(1 − P), from a logits row. */
export function tokenSetLogOdds(tokens: readonly number[]): (row: Float32Array) => number {
  return (row) => {
    const lp = logProbs(row);
    let p = 0;
    for (const t of tokens) p += Math.exp(lp[t]!);
    p = Math.min(Math.max(p, 1e-12), 1 - 1e-12);
    return Math.log(p) - Math.log(1 - p);
  };
}

export interface SelectionOptions {
  /** behaviour score of a last-position logits row (e.g. refusal log-odds): higher = more of the behaviour */
  score: (row: Float32Array) => number;
  /** validation prompts that show the behaviour (e.g. harmful requests) */
  targetVal: readonly (readonly number[])[];
  /** validation prompts that do not (e.g. harmless requests) */
  otherVal: readonly (readonly number[])[];
  /** largest allowed mean KL on otherVal when ablating (default 0.1) */
  klMax?: number;
  /** layers in the last fraction of the model are not eligible, and not scored (default 0.2) */
  excludeLastFraction?: number;
  /**
   * adding the direction must raise the mean score on otherVal above this (default 0); at −∞ adding decides
   * nothing and is not measured (induce is NaN): the caller measures it for the direction it keeps
   */
  induceMin?: number;
  /**
   * With more scorable candidates than `keep`, each is first screened by its bypass score on
   * `prompts` of targetVal (evenly spaced through the set), and only the `keep` best of the
   * screen are scored in full, then the next `keep` while none of them is eligible
   * (default: SCREEN). A screened-out candidate keeps its screening bypass and is not chosen.
   */
  screen?: { prompts: number; keep: number };
  onProgress?: (done: number, total: number) => void;
}

/**
 * The default screen of selectDirection: with 24 layers × 3 positions, 57 candidates are scored
 * on 8 prompts and 10 in full, about a third of the forward passes of scoring every one in full.
 * Up to 10 scorable candidates (a 4-layer organism has 9) are all scored in full.
 */
export const SCREEN = { prompts: 8, keep: 10 } as const;

export interface CandidateScore {
  layer: number;
  position: number;
  /** mean score on targetVal with the direction ablated (lower = the behaviour is removed) */
  bypass: number;
  /** mean score on otherVal with the direction added at its layer (higher = the behaviour is induced) */
  induce: number;
  /** mean KL(unablated ‖ ablated) at the last position on otherVal */
  kl: number;
  eligible: boolean;
  reason: string | null;
  /** mean score on the screening prompts with the direction ablated (null: not screened) */
  screen?: number | null;
}

export interface Selection {
  table: CandidateScore[];
  /** the chosen candidate: eligible with the lowest bypass score */
  best: (CandidateScore & { direction: Float32Array; vector: Float32Array }) | null;
  /** mean scores without intervention */
  baseline: { target: number; other: number };
}

/** Last-position logits rows of prompts under hooks (prompts of equal length share a pass). */
export function lastRows(model: HookedTransformer, prompts: readonly (readonly number[])[], hooks: readonly HookSpec[] = []): Float32Array[] {
  const V = model.cfg.dVocab;
  const out: Float32Array[] = new Array(prompts.length);
  const byLength = new Map<number, number[]>();
  prompts.forEach((p, i) => byLength.set(p.length, [...(byLength.get(p.length) ?? []), i]));
  noGrad(() => {
    for (const idx of byLength.values()) {
      for (let s = 0; s < idx.length; s += 16) {
        const chunk = idx.slice(s, s + 16);
        const { logits } = model.forward(chunk.map((i) => prompts[i]!), { fwdHooks: hooks, logits: 'last' });
        const d = contiguousCopy(logits!).data as Float32Array;
        chunk.forEach((i, r) => (out[i] = d.slice(r * V, (r + 1) * V)));
      }
    }
  });
  return out;
}

function meanOf(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** KL(P ‖ Q) of two logits rows. */
export function klRows(p: Float32Array, q: Float32Array): number {
  const lp = logProbs(p);
  const lq = logProbs(q);
  let kl = 0;
  for (let i = 0; i < p.length; i++) kl += Math.exp(lp[i]!) * (lp[i]! - lq[i]!);
  return kl;
}

/** Score every candidate and choose one, as the refusal-direction method does. */
/** The mean behaviour score on otherVal with the direction added at a layer. */
export function inducedScore(model: HookedTransformer, opts: Pick<SelectionOptions, 'score' | 'otherVal'>, layer: number, vec: ArrayLike<number>): number {
  return meanOf(lastRows(model, opts.otherVal, additionHooks(model, layer, vec)).map(opts.score));
}

export function selectDirection(model: HookedTransformer, candidates: DirectionCandidates, opts: SelectionOptions): Selection {
  const L = model.cfg.nLayers;
  const klMax = opts.klMax ?? 0.1;
  const cutoff = Math.floor((1 - (opts.excludeLastFraction ?? 0.2)) * L);
  const induceMin = opts.induceMin ?? 0;
  const screen = opts.screen ?? SCREEN;
  const baseOther = lastRows(model, opts.otherVal);
  const baseline = { target: meanOf(lastRows(model, opts.targetVal).map(opts.score)), other: meanOf(baseOther.map(opts.score)) };
  const table: CandidateScore[] = [];
  const scorable: number[] = []; // indices into table
  candidates.layers.forEach((layer, li) => {
    candidates.positions.forEach((position, pi) => {
      const norm = candidates.norms[li]![pi]!;
      const unscored = { layer, position, bypass: NaN, induce: NaN, kl: NaN, eligible: false };
      if (!(norm > 0) || layer >= L) table.push({ ...unscored, reason: layer >= L ? 'no layer to add at' : 'zero difference' });
      // ineligible whatever it scores: its forward passes would be spent for nothing
      else if (layer >= cutoff) table.push({ ...unscored, reason: `in the last ${Math.round((opts.excludeLastFraction ?? 0.2) * 100)}% of layers (not scored)` });
      else {
        scorable.push(table.length);
        table.push({ ...unscored, reason: null });
      }
    });
  });
  const vecOf = (row: CandidateScore) => candidates.vectors[candidates.layers.indexOf(row.layer)]![candidates.positions.indexOf(row.position)]!;
  const screening = scorable.length > screen.keep && screen.prompts < opts.targetVal.length;
  const total = (screening ? scorable.length : 0) + Math.min(scorable.length, screen.keep);
  let done = 0;
  const tick = () => opts.onProgress?.(++done, Math.max(total, done + 1));
  let order = scorable;
  if (screening) {
    const n = opts.targetVal.length;
    const few = Array.from({ length: screen.prompts }, (_, i) => opts.targetVal[Math.floor((i * n) / screen.prompts)]!);
    for (const k of scorable) {
      table[k]!.screen = meanOf(lastRows(model, few, ablationHooks(model, vecOf(table[k]!))).map(opts.score));
      tick();
    }
    order = [...scorable].sort((a, b) => table[a]!.screen! - table[b]!.screen!);
  }
  let best: Selection['best'] = null;
  for (let from = 0; from < order.length && best === null; from += screen.keep) {
    for (const k of order.slice(from, from + screen.keep)) {
      const row = table[k]!;
      const vec = vecOf(row);
      const abl = ablationHooks(model, vec);
      row.bypass = meanOf(lastRows(model, opts.targetVal, abl).map(opts.score));
      row.kl = meanOf(lastRows(model, opts.otherVal, abl).map((q, i) => klRows(baseOther[i]!, q)));
      row.induce = induceMin === -Infinity ? NaN : inducedScore(model, opts, row.layer, vec);
      if (!(row.kl < klMax)) row.reason = `KL ${row.kl.toFixed(3)} ≥ ${klMax} on the other set`;
      else if (induceMin !== -Infinity && !(row.induce > induceMin)) row.reason = `adding it does not induce the behaviour (score ${row.induce.toFixed(3)})`;
      row.eligible = row.reason === null;
      tick();
    }
    for (const k of order.slice(0, from + screen.keep)) {
      const row = table[k]!;
      if (row.eligible && (best === null || row.bypass < best.bypass)) best = { ...row, direction: unit(vecOf(row)), vector: vecOf(row) };
    }
  }
  for (const k of scorable) {
    const row = table[k]!;
    if (Number.isNaN(row.bypass) && row.reason === null) row.reason = `screened out (bypass ${row.screen!.toFixed(3)} on ${screen.prompts} prompts)`;
  }
  return { table, best, baseline };
}

/** Projection of each prompt's residual stream on a unit direction, per layer (resid_pre) and position. */
export function projections(model: HookedTransformer, prompts: readonly (readonly number[])[], direction: ArrayLike<number>, opts: MeanOptions = {}): number[][][] {
  checkDirection(model, direction);
  const r = unit(direction);
  const L = model.cfg.nLayers;
  const D = model.cfg.dModel;
  const layers = [...(opts.layers ?? [...Array(L).keys()])];
  const name = (l: number): HookName => (l === L ? blockHook(L - 1, 'hook_resid_post') : blockHook(l, 'hook_resid_pre'));
  return prompts.map((p) =>
    noGrad(() => {
      const { cache } = model.runWithCache([p], { names: layers.map(name), logits: 'none' });
      return layers.map((l) => {
        const a = contiguousCopy(cache.at(name(l))).data as Float32Array;
        return Array.from({ length: p.length }, (_, t) => {
          let s = 0;
          for (let d = 0; d < D; d++) s += a[t * D + d]! * r[d]!;
          return s;
        });
      });
    }),
  );
}
