/**
 * Neuron tracing: which MLP neurons (the activations at `mlp.hook_post`) tell
 * two sets of prompts apart, which ones a behaviour depends on, what makes a
 * neuron fire, and whether a handful of neurons carry a behaviour.
 *
 *  - neuronActivations: activations of every neuron of chosen layers, at the
 *    last position, a fixed position or every position of each prompt.
 *  - rankByActivationDifference: neurons ranked by how differently they fire
 *    on two sets (difference of means, Cohen's d or AUROC).
 *  - rankByEffect: neurons ranked by the mean change in a behaviour score when
 *    that one neuron is zeroed, set to its mean, or patched from paired source
 *    prompts at every position. The single-neuron runs are batched (one row per
 *    neuron × prompt) and start at the neuron's layer from the prompt's cached
 *    residual stream, as activation patching does.
 *  - topActivatingExamples: the dataset positions where a neuron fires most,
 *    with a window of context (renderTopActivating marks the token).
 *  - ablationCurve: the behaviour score with the top-k ranked neurons ablated
 *    together, against k neurons drawn at random from the same layers.
 */
import { CandorError } from '../tensor/errors.js';
import { noGrad } from '../tensor/autograd.js';
import { scope } from '../tensor/pool.js';
import { Rng } from '../tensor/random.js';
import { Tensor, empty, keep } from '../tensor/tensor.js';
import { contiguousCopy } from '../tensor/ops/basic.js';
import type { HookedTransformer } from '../model/transformer.js';
import { blockHook, type HookName, type HookSpec } from '../model/hooks.js';
import { aurocOf, mean } from './statistics.js';

export class NeuronError extends CandorError {
  override name = 'NeuronError';
}

/** Which positions of a prompt give examples: the last, every one, or one index (negative counts from the end). */
export type NeuronPosition = 'last' | 'all' | number;

/** A behaviour score of one prompt: a function of the logits row at its last position. */
export type BehaviourScore = (logits: Float32Array, promptIndex: number) => number;

export type AblationMode = 'zero_ablate' | 'mean_ablate';

export interface NeuronRef {
  layer: number;
  neuron: number;
}

// ---------------------------------------------------------------------------
// validation and shared plumbing

type Prompts = readonly (readonly number[])[];

function fail(fn: string, msg: string): never {
  throw new NeuronError(`${fn}: ${msg}`);
}

function checkPrompts(fn: string, model: HookedTransformer, prompts: unknown, field: string): Prompts {
  if (!Array.isArray(prompts) || prompts.length === 0) fail(fn, `${field} must be a non-empty array of token id sequences`);
  const V = model.cfg.dVocab;
  const nCtx = model.cfg.nCtx;
  prompts.forEach((p: unknown, i) => {
    if (!Array.isArray(p) || p.length === 0) fail(fn, `${field}[${i}] must be a non-empty array of token ids`);
    if (p.length > nCtx) fail(fn, `${field}[${i}] has ${p.length} tokens; the model's context is ${nCtx}`);
    p.forEach((t: unknown, j) => {
      if (!(typeof t === 'number' && Number.isInteger(t) && t >= 0 && t < V)) fail(fn, `${field}[${i}][${j}] = ${String(t)} is not a token id in [0, ${V})`);
    });
  });
  return prompts as Prompts;
}

function checkLayers(fn: string, model: HookedTransformer, layers: readonly number[] | undefined): number[] {
  const L = model.cfg.nLayers;
  // layers of experts have no dense neurons (their experts' activations are at mlp.experts.{e}.hook_post)
  const dense = (l: number) => model.weights.blocks[l]!.experts === null;
  if (layers === undefined) {
    const all = Array.from({ length: L }, (_, i) => i).filter(dense);
    if (all.length === 0) fail(fn, 'every layer of this model is a layer of experts, which has no dense MLP neurons. Fix: read one expert\'s activations at blocks.{layer}.mlp.experts.{e}.hook_post with runWithCache');
    return all;
  }
  if (!Array.isArray(layers) || layers.length === 0) fail(fn, 'opts.layers must be a non-empty array of layer indices (or left out for all layers)');
  const out = layers.map((l, i) => {
    if (!(Number.isInteger(l) && l >= 0 && l < L)) fail(fn, `opts.layers[${i}] = ${String(l)} is not a layer of this ${L}-layer model (an integer in [0, ${L}))`);
    if (!dense(l)) fail(fn, `opts.layers[${i}] = ${l} is a layer of experts, which has no dense MLP neurons. Fix: choose a dense layer, or read one expert's activations at blocks.${l}.mlp.experts.{e}.hook_post`);
    return l;
  });
  if (new Set(out).size !== out.length) fail(fn, `opts.layers lists a layer twice (${out.join(', ')})`);
  return out;
}

function checkNeuron(fn: string, model: HookedTransformer, n: unknown, field: string): number {
  const F = model.cfg.dMlp;
  if (!(typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < F)) fail(fn, `${field} = ${String(n)} is not a neuron index in [0, ${F}) (d_mlp = ${F})`);
  return n;
}

function checkCount(fn: string, field: string, v: unknown, min: number): number {
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= min)) fail(fn, `${field} = ${String(v)} must be an integer ≥ ${min}`);
  return v;
}

function checkPosition(fn: string, position: unknown): NeuronPosition {
  if (position === 'last' || position === 'all') return position;
  if (typeof position === 'number' && Number.isInteger(position)) return position;
  fail(fn, `opts.position = ${String(position)} must be 'last', 'all' or an integer position (negative counts from the end)`);
}

/** Indices of prompts grouped by length (groups in order of first appearance). */
function byLength(prompts: Prompts): [number, number[]][] {
  const groups = new Map<number, number[]>();
  prompts.forEach((p, i) => {
    let g = groups.get(p.length);
    if (g === undefined) groups.set(p.length, (g = []));
    g.push(i);
  });
  return [...groups.entries()];
}

function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** Rows per forward pass that keep the largest activation of a pass near 64 MiB. */
function defaultRows(model: HookedTransformer, T: number): number {
  const cfg = model.cfg;
  const perRow = T * Math.max(cfg.dModel, cfg.dMlp, cfg.nHeads * T) + cfg.dVocab;
  return Math.max(1, Math.min(256, Math.floor((1 << 24) / perRow)));
}

/** The contiguous data of a tensor, each batch row as its own copy. */
function rowsOf(t: Tensor): Float32Array[] {
  const c = contiguousCopy(t);
  const d = c.data as Float32Array;
  const B = t.shape[0]!;
  const n = c.size / B;
  return Array.from({ length: B }, (_, b) => d.slice(c.offset + b * n, c.offset + (b + 1) * n));
}

/** Scores of each row of last-position logits [k, 1, V]. */
function scoreRows(fn: string, logits: Tensor, score: BehaviourScore, promptOf: (row: number) => number): number[] {
  return rowsOf(logits).map((row, r) => {
    const p = promptOf(r);
    const s = score(row, p);
    if (typeof s !== 'number' || !Number.isFinite(s)) fail(fn, `opts.score returned ${String(s)} for prompt ${p}; it must return a finite number`);
    return s;
  });
}

function resolvePosition(fn: string, position: number, T: number, prompt: number, field: string): number {
  const q = position < 0 ? position + T : position;
  if (!(q >= 0 && q < T)) fail(fn, `opts.position = ${position} is outside ${field}[${prompt}] (${T} tokens)`);
  return q;
}

interface Collected {
  examples: { prompt: number; position: number }[];
  /** per layer: [examples × width] */
  acts: Float32Array[];
  width: number;
}

/**
 * Activations at mlp.hook_post of `layers` for every example; `column` keeps
 * one neuron only (width 1). Prompts of one length run together, `rows` at a time.
 */
function collect(fn: string, model: HookedTransformer, prompts: Prompts, field: string, layers: readonly number[], position: NeuronPosition, column: number | null, rows?: number): Collected {
  const F = model.cfg.dMlp;
  const width = column === null ? F : 1;
  // examples in prompt order, positions ascending
  const offsets: number[] = [];
  const examples: { prompt: number; position: number }[] = [];
  prompts.forEach((p, i) => {
    offsets.push(examples.length);
    if (position === 'all') for (let t = 0; t < p.length; t++) examples.push({ prompt: i, position: t });
    else examples.push({ prompt: i, position: position === 'last' ? p.length - 1 : resolvePosition(fn, position, p.length, i, field) });
  });
  const acts = layers.map(() => new Float32Array(examples.length * width));
  const names: HookName[] = layers.map((l) => blockHook(l, 'mlp.hook_post'));
  noGrad(() => {
    for (const [T, idxs] of byLength(prompts)) {
      for (const chunk of chunks(idxs, rows ?? defaultRows(model, T))) {
        scope(() => {
          const run = model.runWithCache(chunk.map((i) => prompts[i]!), { names, logits: 'none' });
          layers.forEach((_, li) => {
            const post = contiguousCopy(run.cache.at(names[li]!));
            const d = post.data as Float32Array;
            const out = acts[li]!;
            chunk.forEach((pi, r) => {
              const base = post.offset + r * T * F;
              const first = offsets[pi]!;
              const ps = position === 'all' ? T : 1;
              for (let e = 0; e < ps; e++) {
                const t = examples[first + e]!.position;
                if (column === null) out.set(d.subarray(base + t * F, base + (t + 1) * F), (first + e) * F);
                else out[first + e] = d[base + t * F + column]!;
              }
            });
          });
        });
      }
    }
  });
  return { examples, acts, width };
}

// ---------------------------------------------------------------------------
// activations

export interface NeuronActivationOptions {
  /** layers (default: every layer with dense MLP neurons; layers of experts have none) */
  layers?: readonly number[];
  /** 'last' (default), 'all' (every position of every prompt is an example) or a position index (negative counts from the end) */
  position?: NeuronPosition;
  /** prompts per forward pass (default: about 64 MiB of activations per pass) */
  batchSize?: number;
}

export interface NeuronActivations {
  layers: number[];
  dMlp: number;
  /** each example's prompt index and position, in prompt order (positions ascending within a prompt) */
  examples: { prompt: number; position: number }[];
  /** layer → activations [examples × d_mlp], row-major */
  acts: Map<number, Float32Array>;
}

/** Activations of the MLP neurons (mlp.hook_post) of chosen layers at chosen positions of each prompt. */
export function neuronActivations(model: HookedTransformer, prompts: readonly (readonly number[])[], opts: NeuronActivationOptions = {}): NeuronActivations {
  const fn = 'neuronActivations';
  checkPrompts(fn, model, prompts, 'prompts');
  const layers = checkLayers(fn, model, opts.layers);
  const position = checkPosition(fn, opts.position ?? 'last');
  const rows = opts.batchSize === undefined ? undefined : checkCount(fn, 'opts.batchSize', opts.batchSize, 1);
  const c = collect(fn, model, prompts, 'prompts', layers, position, null, rows);
  return { layers, dMlp: model.cfg.dMlp, examples: c.examples, acts: new Map(layers.map((l, i) => [l, c.acts[i]!])) };
}

// ---------------------------------------------------------------------------
// ranking by activation difference

export type DifferenceMeasure = 'mean_diff' | 'cohen_d' | 'auroc';

export interface ActivationDifferenceOptions {
  layers?: readonly number[];
  /** as in neuronActivations (default 'last') */
  position?: NeuronPosition;
  /** default 'mean_diff' */
  measure?: DifferenceMeasure;
  batchSize?: number;
}

export interface ActivationDifference extends NeuronRef {
  /**
   * mean_diff: meanA − meanB; cohen_d: (meanA − meanB) / pooled standard
   * deviation; auroc: P(a > b) + ½P(a = b) for a from set A and b from set B.
   */
  score: number;
  meanA: number;
  meanB: number;
}

/** How far a score is from "no difference" (0, or 0.5 for AUROC): the ranking key. */
export function differenceStrength(measure: DifferenceMeasure, score: number): number {
  return Math.abs(measure === 'auroc' ? score - 0.5 : score);
}

/**
 * Every neuron of the chosen layers, ranked by how differently it fires on
 * set A and set B: by |score| (|AUROC − 0.5| for 'auroc') descending; ties
 * (for AUROC, every neuron that separates the sets perfectly) by |Cohen's d|
 * for 'auroc', then by layer and neuron.
 */
export function rankByActivationDifference(
  model: HookedTransformer,
  setA: readonly (readonly number[])[],
  setB: readonly (readonly number[])[],
  opts: ActivationDifferenceOptions = {},
): ActivationDifference[] {
  const fn = 'rankByActivationDifference';
  checkPrompts(fn, model, setA, 'setA');
  checkPrompts(fn, model, setB, 'setB');
  const layers = checkLayers(fn, model, opts.layers);
  const position = checkPosition(fn, opts.position ?? 'last');
  const measure = opts.measure ?? 'mean_diff';
  if (measure !== 'mean_diff' && measure !== 'cohen_d' && measure !== 'auroc') fail(fn, `opts.measure = ${String(measure)} must be 'mean_diff', 'cohen_d' or 'auroc'`);
  const rows = opts.batchSize === undefined ? undefined : checkCount(fn, 'opts.batchSize', opts.batchSize, 1);
  const a = collect(fn, model, setA, 'setA', layers, position, null, rows);
  const b = collect(fn, model, setB, 'setB', layers, position, null, rows);
  const nA = a.examples.length;
  const nB = b.examples.length;
  if (measure === 'cohen_d' && (nA < 2 || nB < 2)) fail(fn, `'cohen_d' needs at least 2 examples in each set (got ${nA} and ${nB})`);
  const F = model.cfg.dMlp;
  const out: ActivationDifference[] = [];
  const colA = new Float64Array(nA);
  const colB = new Float64Array(nB);
  const tie: number[] = [];
  layers.forEach((layer, li) => {
    const da = a.acts[li]!;
    const db = b.acts[li]!;
    for (let n = 0; n < F; n++) {
      for (let e = 0; e < nA; e++) colA[e] = da[e * F + n]!;
      for (let e = 0; e < nB; e++) colB[e] = db[e * F + n]!;
      const meanA = mean(colA);
      const meanB = mean(colB);
      let score: number;
      if (measure === 'mean_diff') score = meanA - meanB;
      else if (measure === 'cohen_d') score = cohenD(colA, meanA, colB, meanB);
      else {
        score = aurocOf(colA, colB);
        // AUROC saturates at 0 and 1 (every perfectly separating neuron ties): rank ties by |Cohen's d|
        tie.push(nA + nB > 2 ? Math.abs(cohenD(colA, meanA, colB, meanB)) : Math.abs(meanA - meanB));
      }
      out.push({ layer, neuron: n, score, meanA, meanB });
    }
  });
  const key = out.map((r) => differenceStrength(measure, r.score));
  const order = out.map((_, i) => i).sort((i, j) => key[j]! - key[i]! || (tie.length > 0 ? tie[j]! - tie[i]! : 0) || out[i]!.layer - out[j]!.layer || out[i]!.neuron - out[j]!.neuron);
  return order.map((i) => out[i]!);
}


/** (meanA − meanB) / pooled sd; ±Infinity when both sets are constant and differ, 0 when they are equal. */
function cohenD(a: Float64Array, ma: number, b: Float64Array, mb: number): number {
  let ssa = 0;
  for (let i = 0; i < a.length; i++) ssa += (a[i]! - ma) ** 2;
  let ssb = 0;
  for (let i = 0; i < b.length; i++) ssb += (b[i]! - mb) ** 2;
  const sd = Math.sqrt((ssa + ssb) / (a.length + b.length - 2));
  const diff = ma - mb;
  if (sd === 0) return diff === 0 ? 0 : diff > 0 ? Infinity : -Infinity;
  return diff / sd;
}


// ---------------------------------------------------------------------------
// ranking by effect on a behaviour

export interface EffectOptions {
  /** the behaviour: a function of the logits row at each prompt's last position */
  score: BehaviourScore;
  /** zero the neuron, set it to its mean over every position of every prompt, or patch it from `source` */
  mode: AblationMode | 'patch';
  /** 'patch': source prompts, one per prompt and of the same length; the neuron takes its source activation at each position */
  source?: readonly (readonly number[])[];
  /** layers (default: all) */
  layers?: readonly number[];
  /** neuron indices within each layer (default: all) */
  neurons?: readonly number[];
  /** single-neuron runs per forward pass (default: about 64 MiB of activations per pass) */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface NeuronEffect extends NeuronRef {
  /** mean over prompts of (score with the neuron ablated or patched − score of the plain run) */
  effect: number;
}

/**
 * Every chosen neuron, ranked by |effect| descending (ties by layer and
 * neuron): the mean change of the behaviour score when that one neuron is
 * ablated (or patched) at every position.
 */
export function rankByEffect(model: HookedTransformer, prompts: readonly (readonly number[])[], opts: EffectOptions): NeuronEffect[] {
  const fn = 'rankByEffect';
  checkPrompts(fn, model, prompts, 'prompts');
  if (opts === undefined || typeof opts.score !== 'function') fail(fn, 'opts.score must be a function (logits row, prompt index) => number');
  const mode = opts.mode;
  if (mode !== 'zero_ablate' && mode !== 'mean_ablate' && mode !== 'patch') fail(fn, `opts.mode = ${String(mode)} must be 'zero_ablate', 'mean_ablate' or 'patch'`);
  let source: Prompts | null = null;
  if (mode === 'patch') {
    if (opts.source === undefined) fail(fn, "mode 'patch' needs opts.source: one source prompt per prompt, of the same length");
    source = checkPrompts(fn, model, opts.source, 'opts.source');
    if (source.length !== prompts.length) fail(fn, `opts.source has ${source.length} prompts for ${prompts.length} prompts; pair them one to one`);
    source.forEach((s, i) => {
      if (s.length !== prompts[i]!.length) fail(fn, `opts.source[${i}] has ${s.length} tokens but prompts[${i}] has ${prompts[i]!.length}; paired prompts must align position by position`);
    });
  } else if (opts.source !== undefined) fail(fn, `opts.source is only used by mode 'patch' (mode is '${mode}')`);
  const layers = checkLayers(fn, model, opts.layers);
  const neurons = opts.neurons === undefined ? Array.from({ length: model.cfg.dMlp }, (_, i) => i) : opts.neurons.map((n, i) => checkNeuron(fn, model, n, `opts.neurons[${i}]`));
  if (neurons.length === 0) fail(fn, 'opts.neurons is empty');
  if (new Set(neurons).size !== neurons.length) fail(fn, 'opts.neurons lists a neuron twice');
  const rowsOpt = opts.batchSize === undefined ? undefined : checkCount(fn, 'opts.batchSize', opts.batchSize, 1);

  const F = model.cfg.dMlp;
  const D = model.cfg.dModel;
  const means = mode === 'mean_ablate' ? meanActivations(fn, model, prompts, layers, rowsOpt) : null;
  const sums = new Float64Array(layers.length * neurons.length);
  const total = sums.length * prompts.length;
  let done = 0;
  const residNames = layers.map((l) => blockHook(l, 'hook_resid_pre'));
  const postNames = layers.map((l) => blockHook(l, 'mlp.hook_post'));

  noGrad(() => {
    for (const [T, idxs] of byLength(prompts)) {
      const rows = rowsOpt ?? defaultRows(model, T);
      for (const chunk of chunks(idxs, rows)) {
        // plain runs of this chunk: the residual stream each single-neuron run starts from, and the baseline score
        const resid: Float32Array[][] = layers.map(() => []);
        let srcPost: Float32Array[][] | null = null;
        const clean = scope(() => {
          const run = model.runWithCache(chunk.map((i) => prompts[i]!), { names: residNames, logits: 'last' });
          residNames.forEach((n, li) => resid[li]!.push(...rowsOf(run.cache.at(n))));
          if (source !== null) {
            const src = model.runWithCache(chunk.map((i) => source![i]!), { names: postNames, logits: 'none' });
            srcPost = postNames.map((n) => rowsOf(src.cache.at(n)));
          }
          return scoreRows(fn, run.logits!, opts.score, (r) => chunk[r]!);
        });
        layers.forEach((layer, li) => {
          // one row per (neuron, prompt of the chunk)
          const jobs: { ni: number; ci: number }[] = [];
          neurons.forEach((_, ni) => chunk.forEach((__, ci) => jobs.push({ ni, ci })));
          for (const batch of chunks(jobs, rows)) {
            const k = batch.length;
            const scores = scope(() => {
              const start = empty([k, T, D]);
              const sd = start.data as Float32Array;
              batch.forEach(({ ci }, r) => sd.set(resid[li]![ci]!, r * T * D));
              const hook: HookSpec = [postNames[li]!, (act: Tensor) => {
                const out = keep(contiguousCopy(act));
                const o = out.data as Float32Array;
                batch.forEach(({ ni, ci }, r) => {
                  const n = neurons[ni]!;
                  const base = out.offset + r * T * F;
                  if (mode === 'zero_ablate') for (let t = 0; t < T; t++) o[base + t * F + n] = 0;
                  else if (mode === 'mean_ablate') {
                    const m = means![li]![n]!;
                    for (let t = 0; t < T; t++) o[base + t * F + n] = m;
                  } else {
                    const s = srcPost![li]![ci]!;
                    for (let t = 0; t < T; t++) o[base + t * F + n] = s[t * F + n]!;
                  }
                });
                return out;
              }];
              const { logits } = model.forward(batch.map(({ ci }) => prompts[chunk[ci]!]!), { startAt: { layer, residual: start }, fwdHooks: [hook], logits: 'last' });
              return scoreRows(fn, logits!, opts.score, (r) => chunk[batch[r]!.ci]!);
            });
            batch.forEach(({ ni, ci }, r) => (sums[li * neurons.length + ni]! += scores[r]! - clean[ci]!));
            done += k;
            opts.onProgress?.(done, total);
          }
        });
      }
    }
  });
  const out: NeuronEffect[] = [];
  layers.forEach((layer, li) => neurons.forEach((neuron, ni) => out.push({ layer, neuron, effect: sums[li * neurons.length + ni]! / prompts.length })));
  return out.sort((x, y) => Math.abs(y.effect) - Math.abs(x.effect) || x.layer - y.layer || x.neuron - y.neuron);
}

/** Per layer: each neuron's mean activation over every position of every prompt (double precision sums). */
function meanActivations(fn: string, model: HookedTransformer, prompts: Prompts, layers: readonly number[], rows?: number): Float32Array[] {
  const c = collect(fn, model, prompts, 'prompts', layers, 'all', null, rows);
  const F = model.cfg.dMlp;
  const N = c.examples.length;
  return c.acts.map((a) => {
    const s = new Float64Array(F);
    for (let e = 0; e < N; e++) for (let n = 0; n < F; n++) s[n]! += a[e * F + n]!;
    return Float32Array.from(s, (v) => v / N);
  });
}

// ---------------------------------------------------------------------------
// top-activating examples

export interface TopActivatingOptions {
  layer: number;
  neuron: number;
  /** how many examples (default 10) */
  k?: number;
  /** tokens of context on each side of the activating token (default 8) */
  window?: number;
  /** at most this many examples from one text (default: no limit) */
  maxPerText?: number;
  batchSize?: number;
}

export interface TopActivatingExample {
  /** index of the text */
  text: number;
  /** position of the activating token in the text */
  position: number;
  activation: number;
  /** the context window around the position */
  tokens: number[];
  /** index of the activating token in `tokens` */
  highlight: number;
}

/** The (text, position) pairs where one neuron fires most, highest first (ties: earlier text, earlier position). */
export function topActivatingExamples(model: HookedTransformer, texts: readonly (readonly number[])[], opts: TopActivatingOptions): TopActivatingExample[] {
  const fn = 'topActivatingExamples';
  checkPrompts(fn, model, texts, 'texts');
  if (opts === undefined) fail(fn, 'opts with layer and neuron is required');
  const [layer] = checkLayers(fn, model, [opts.layer]);
  const neuron = checkNeuron(fn, model, opts.neuron, 'opts.neuron');
  const k = checkCount(fn, 'opts.k', opts.k ?? 10, 1);
  const window = checkCount(fn, 'opts.window', opts.window ?? 8, 0);
  const maxPerText = opts.maxPerText === undefined ? Infinity : checkCount(fn, 'opts.maxPerText', opts.maxPerText, 1);
  const rows = opts.batchSize === undefined ? undefined : checkCount(fn, 'opts.batchSize', opts.batchSize, 1);
  const c = collect(fn, model, texts, 'texts', [layer!], 'all', neuron, rows);
  const acts = c.acts[0]!;
  const order = Array.from({ length: c.examples.length }, (_, i) => i).sort((i, j) => acts[j]! - acts[i]! || i - j);
  const perText = new Map<number, number>();
  const out: TopActivatingExample[] = [];
  for (const e of order) {
    if (out.length >= k) break;
    const { prompt, position } = c.examples[e]!;
    const used = perText.get(prompt) ?? 0;
    if (used >= maxPerText) continue;
    perText.set(prompt, used + 1);
    const text = texts[prompt]!;
    const from = Math.max(0, position - window);
    const to = Math.min(text.length, position + window + 1);
    out.push({ text: prompt, position, activation: acts[e]!, tokens: text.slice(from, to), highlight: position - from });
  }
  return out;
}

export interface RenderOptions {
  /** strings put around the activating token (default « and ») */
  marks?: readonly [string, string];
  /** decimals of the activation (default 3) */
  digits?: number;
}

/**
 * One line per example: rank, activation, text and position, then the context
 * with the activating token marked, e.g. `1. 4.213  text 3 pos 5: the «cat» sat`.
 * Line breaks inside the decoded text are shown as ⏎.
 */
export function renderTopActivating(examples: readonly TopActivatingExample[], decode: (ids: number[]) => string, opts: RenderOptions = {}): string {
  const [open, close] = opts.marks ?? ['«', '»'];
  const digits = opts.digits ?? 3;
  const flat = (s: string) => s.replace(/\r?\n/g, '⏎');
  return examples
    .map((e, i) => {
      if (!(Number.isInteger(e.highlight) && e.highlight >= 0 && e.highlight < e.tokens.length)) {
        throw new NeuronError(`renderTopActivating: example ${i} has highlight ${e.highlight} outside its ${e.tokens.length} tokens`);
      }
      const before = flat(decode(e.tokens.slice(0, e.highlight)));
      const tok = flat(decode([e.tokens[e.highlight]!]));
      const after = flat(decode(e.tokens.slice(e.highlight + 1)));
      return `${i + 1}. ${e.activation.toFixed(digits)}  text ${e.text} pos ${e.position}: ${before}${open}${tok}${close}${after}`;
    })
    .join('\n');
}

// ---------------------------------------------------------------------------
// ablation curves

export interface AblationCurveOptions {
  score: BehaviourScore;
  /** neurons in rank order (e.g. from rankByEffect); the top k are ablated together */
  ranked: readonly NeuronRef[];
  /** set sizes; each an integer in [0, ranked.length] */
  ks: readonly number[];
  /** random sets per k (default 10) */
  randomDraws?: number;
  /** seed of the random sets (default 0) */
  seed?: number;
  /** default 'zero_ablate' */
  mode?: AblationMode;
  /** ablated runs per forward pass */
  batchSize?: number;
}

export interface AblationCurve {
  ks: number[];
  /** mean score over prompts with the top-k ranked neurons ablated together, per k */
  topK: number[];
  random: {
    /** per k: mean over draws of the mean score with k random neurons ablated */
    mean: number[];
    /** per k: standard deviation over draws (n − 1 in the denominator; 0 for one draw) */
    std: number[];
    /** [draw][k index]: the mean score of each draw */
    draws: number[][];
  };
  /** mean score with nothing ablated */
  baseline: number;
}

/**
 * The behaviour score with sets of neurons ablated together (zeroed or set to
 * their mean over every position of every prompt, at every position): the
 * top-k of `ranked` for each k, and `randomDraws` random sets of k neurons
 * drawn uniformly without replacement from every neuron of the layers that
 * `ranked` touches. Draw d is one seeded shuffle of those neurons, and its
 * set for k is the first k of it, so each draw's sets are nested like the
 * top-k sets.
 */
export function ablationCurve(model: HookedTransformer, prompts: readonly (readonly number[])[], opts: AblationCurveOptions): AblationCurve {
  const fn = 'ablationCurve';
  checkPrompts(fn, model, prompts, 'prompts');
  if (opts === undefined || typeof opts.score !== 'function') fail(fn, 'opts.score must be a function (logits row, prompt index) => number');
  const mode = opts.mode ?? 'zero_ablate';
  if (mode !== 'zero_ablate' && mode !== 'mean_ablate') fail(fn, `opts.mode = ${String(mode)} must be 'zero_ablate' or 'mean_ablate'`);
  if (!Array.isArray(opts.ranked) || opts.ranked.length === 0) fail(fn, 'opts.ranked must be a non-empty list of {layer, neuron}');
  const L = model.cfg.nLayers;
  const F = model.cfg.dMlp;
  const seen = new Set<number>();
  const ranked = opts.ranked.map((r, i) => {
    if (!(Number.isInteger(r?.layer) && r.layer >= 0 && r.layer < L)) fail(fn, `opts.ranked[${i}].layer = ${String(r?.layer)} is not a layer of this ${L}-layer model`);
    const neuron = checkNeuron(fn, model, r.neuron, `opts.ranked[${i}].neuron`);
    const key = r.layer * F + neuron;
    if (seen.has(key)) fail(fn, `opts.ranked[${i}] (layer ${r.layer}, neuron ${neuron}) appears twice`);
    seen.add(key);
    return key;
  });
  const poolLayers = [...new Set(opts.ranked.map((r) => r.layer))].sort((a, b) => a - b);
  const pool = poolLayers.flatMap((l) => Array.from({ length: F }, (_, n) => l * F + n));
  if (!Array.isArray(opts.ks) || opts.ks.length === 0) fail(fn, 'opts.ks must be a non-empty list of set sizes');
  const ks = opts.ks.map((k, i) => {
    if (!(Number.isInteger(k) && k >= 0 && k <= ranked.length)) fail(fn, `opts.ks[${i}] = ${String(k)} must be an integer in [0, ${ranked.length}] (the length of opts.ranked)`);
    return k;
  });
  const draws = checkCount(fn, 'opts.randomDraws', opts.randomDraws ?? 10, 1);
  const seed = opts.seed ?? 0;
  if (!Number.isFinite(seed)) fail(fn, `opts.seed = ${String(seed)} must be a finite number`);
  const rowsOpt = opts.batchSize === undefined ? undefined : checkCount(fn, 'opts.batchSize', opts.batchSize, 1);

  // the sets: top-k for each k, then draw by draw, k by k
  const sets: number[][] = ks.map((k) => ranked.slice(0, k));
  const rng = new Rng(seed);
  for (let d = 0; d < draws; d++) {
    const perm = rng.shuffle([...pool]);
    for (const k of ks) sets.push(perm.slice(0, k));
  }
  // per set and pool layer: the neurons to ablate
  const plan = sets.map((s) => poolLayers.map((l) => s.filter((key) => Math.floor(key / F) === l).map((key) => key % F)));
  const means = mode === 'mean_ablate' ? meanActivations(fn, model, prompts, poolLayers, rowsOpt) : null;
  const first = poolLayers[0]!;
  const D = model.cfg.dModel;
  const sums = new Float64Array(sets.length);
  let baselineSum = 0;

  noGrad(() => {
    for (const [T, idxs] of byLength(prompts)) {
      const rows = rowsOpt ?? defaultRows(model, T);
      for (const chunk of chunks(idxs, rows)) {
        const resid: Float32Array[] = [];
        const clean = scope(() => {
          const run = model.runWithCache(chunk.map((i) => prompts[i]!), { names: [blockHook(first, 'hook_resid_pre')], logits: 'last' });
          resid.push(...rowsOf(run.cache.at(blockHook(first, 'hook_resid_pre'))));
          return scoreRows(fn, run.logits!, opts.score, (r) => chunk[r]!);
        });
        for (const s of clean) baselineSum += s;
        const jobs: { si: number; ci: number }[] = [];
        sets.forEach((_, si) => chunk.forEach((__, ci) => jobs.push({ si, ci })));
        for (const batch of chunks(jobs, rows)) {
          const k = batch.length;
          const scores = scope(() => {
            const start = empty([k, T, D]);
            const sd = start.data as Float32Array;
            batch.forEach(({ ci }, r) => sd.set(resid[ci]!, r * T * D));
            const hooks: HookSpec[] = poolLayers.map((l, pli) => [blockHook(l, 'mlp.hook_post'), (act: Tensor) => {
              const out = keep(contiguousCopy(act));
              const o = out.data as Float32Array;
              batch.forEach(({ si }, r) => {
                const base = out.offset + r * T * F;
                for (const n of plan[si]![pli]!) {
                  const v = means === null ? 0 : means[pli]![n]!;
                  for (let t = 0; t < T; t++) o[base + t * F + n] = v;
                }
              });
              return out;
            }]);
            const { logits } = model.forward(batch.map(({ ci }) => prompts[chunk[ci]!]!), { startAt: { layer: first, residual: start }, fwdHooks: hooks, logits: 'last' });
            return scoreRows(fn, logits!, opts.score, (r) => chunk[batch[r]!.ci]!);
          });
          batch.forEach(({ si }, r) => (sums[si]! += scores[r]!));
        }
      }
    }
  });
  const N = prompts.length;
  const topK = ks.map((_, i) => sums[i]! / N);
  const drawScores = Array.from({ length: draws }, (_, d) => ks.map((__, i) => sums[ks.length * (1 + d) + i]! / N));
  const meanK = ks.map((_, i) => drawScores.reduce((a, row) => a + row[i]!, 0) / draws);
  const stdK = ks.map((_, i) => (draws < 2 ? 0 : Math.sqrt(drawScores.reduce((a, row) => a + (row[i]! - meanK[i]!) ** 2, 0) / (draws - 1))));
  return { ks, topK, random: { mean: meanK, std: stdK, draws: drawScores }, baseline: baselineSum / N };
}
