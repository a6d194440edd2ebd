/**
 * Activation patching and attribution patching.
 *
 * Activation patching copies an activation from a source run into a
 * destination run and measures the change in a metric, normalised so that
 * 0 = the destination run and 1 = the source run. Grids: the residual stream
 * (resid_pre), attention output and MLP output by layer × position; heads by
 * layer × head (all positions at once, or per position); MLP neurons by
 * layer × neuron (likewise).
 *
 * Patched runs are batched into shared forward passes, and each starts at the
 * patched layer from the destination's cached residual stream (the layers
 * before it are identical to the destination run), so a sweep costs about
 * half of running every patched model from the start.
 *
 * Attribution patching (Nanda 2023; Syed et al. 2023) estimates the same
 * grids to first order: (source − destination activation) · ∂metric/∂activation
 * at the destination, from one forward pass on each run and one backward pass.
 */
import { CandorError } from '../tensor/errors.js';
import { enableGrad, noGrad } from '../tensor/autograd.js';
import { Tensor, empty, keep } from '../tensor/tensor.js';
import { contiguousCopy } from '../tensor/ops/basic.js';
import type { HookedTransformer } from '../model/transformer.js';
import { blockHook, type HookName, type HookSpec } from '../model/hooks.js';
import { checkMetric, evalMetric, logProbs, metricName, metricPosition, metricTensor, type MetricSpec } from './metrics.js';

export class PatchingError extends CandorError {
  override name = 'PatchingError';
}

export type PatchSite = 'resid_pre' | 'attn_out' | 'mlp_out' | 'heads' | 'neurons';
export const PATCH_SITES: readonly PatchSite[] = ['resid_pre', 'attn_out', 'mlp_out', 'heads', 'neurons'];

export interface PatchOptions {
  metric: MetricSpec;
  site: PatchSite;
  /** heads and neurons: one position at a time (adds a position axis) instead of all positions at once */
  perPosition?: boolean;
  /** layers to patch (default: all) */
  layers?: readonly number[];
  /** positions for position grids (default: all) */
  positions?: readonly number[];
  /** resid_pre / attn_out / mlp_out: patch every position at once, one cell per layer */
  wholeLayer?: boolean;
  /** neuron indices for the 'neurons' site (default: all) */
  neurons?: readonly number[];
  /** patched runs per forward pass (default 32) */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface PatchResult {
  site: PatchSite;
  metric: string;
  /** axis names, e.g. ['layer', 'position'] or ['layer', 'head', 'position'] */
  axes: string[];
  /** the index labels along each axis (layer numbers, positions, heads, neurons) */
  labels: number[][];
  shape: number[];
  /** normalised effects, row-major over `shape`: 0 = destination, 1 = source */
  values: Float64Array;
  /** the metric of each patched run (same layout) */
  raw: Float64Array;
  /** the metric on the unpatched source and destination runs */
  source: number;
  dest: number;
  /** how the values were obtained */
  method: 'activation' | 'attribution';
}

/** Nested arrays of a result's values (for JSON and printing). */
export function resultGrid(r: PatchResult, which: 'values' | 'raw' = 'values'): unknown {
  const data = r[which];
  let pos = 0;
  const build = (d: number): unknown[] => Array.from({ length: r.shape[d]! }, () => (d === r.shape.length - 1 ? data[pos++]! : build(d + 1)));
  return build(0);
}

/** Value at a multi-index of a result. */
export function resultAt(r: PatchResult, ...index: number[]): number {
  let o = 0;
  for (let i = 0; i < r.shape.length; i++) o = o * r.shape[i]! + index[i]!;
  return r.values[o]!;
}

// ---------------------------------------------------------------------------
// shared setup

interface Setup {
  T: number;
  L: number;
  layers: number[];
  metricPos: number;
  reference: Float64Array | null;
  srcMetric: number;
  dstMetric: number;
  denom: number;
}

function validateRuns(model: HookedTransformer, source: readonly number[], dest: readonly number[], metric: MetricSpec, layers?: readonly number[]): Omit<Setup, 'reference' | 'srcMetric' | 'dstMetric' | 'denom'> {
  if (source.length !== dest.length || source.length === 0) {
    throw new PatchingError(`source and destination prompts must have the same number of tokens (got ${source.length} and ${dest.length}); align them so positions correspond`);
  }
  checkMetric(metric, model.cfg.dVocab);
  const L = model.cfg.nLayers;
  const ls = layers === undefined ? [...Array(L).keys()] : [...layers];
  for (const l of ls) if (!(Number.isInteger(l) && l >= 0 && l < L)) throw new PatchingError(`layer ${l} is outside [0, ${L})`);
  return { T: source.length, L, layers: ls, metricPos: metricPosition(metric, source.length) };
}

function siteHook(site: PatchSite, layer: number): HookName {
  switch (site) {
    case 'resid_pre':
      return blockHook(layer, 'hook_resid_pre');
    case 'attn_out':
      return blockHook(layer, 'hook_attn_out');
    case 'mlp_out':
      return blockHook(layer, 'hook_mlp_out');
    case 'heads':
      return blockHook(layer, 'attn.hook_z');
    case 'neurons':
      return blockHook(layer, 'mlp.hook_post');
  }
}

function rowAt(logits: Tensor, b: number, pos: number, V: number, logitPositions: number): Float32Array {
  const c = logits.isContiguous() ? logits : contiguousCopy(logits);
  const from = c.offset + (b * logitPositions + pos) * V;
  return (c.data as Float32Array).slice(from, from + V);
}

function finishSetup(model: HookedTransformer, base: ReturnType<typeof validateRuns>, metric: MetricSpec, srcLogits: Tensor, dstLogits: Tensor): Setup {
  const V = model.cfg.dVocab;
  const srcRow = rowAt(srcLogits, 0, base.metricPos, V, base.T);
  const reference = metric.kind === 'kl' ? logProbs(srcRow) : null;
  const srcMetric = evalMetric(metric, srcRow, reference);
  const dstMetric = evalMetric(metric, rowAt(dstLogits, 0, base.metricPos, V, base.T), reference);
  const denom = srcMetric - dstMetric;
  if (!(Math.abs(denom) > 1e-9)) {
    throw new PatchingError(`the metric ${metricName(metric)} is the same on the source and destination runs (${srcMetric}); there is no difference to localise. Fix: choose prompts or a metric that differ.`);
  }
  return { ...base, reference, srcMetric, dstMetric, denom };
}

// ---------------------------------------------------------------------------
// activation patching

interface Job {
  layer: number;
  item: number; // position (position sites), head or neuron
  pos: number | null; // position for per-position head/neuron patching, null = all
}

/** Patch activations from `source` into `dest`, one grid cell per patched run. */
export function activationPatching(model: HookedTransformer, source: readonly number[], dest: readonly number[], opts: PatchOptions): PatchResult {
  const base = validateRuns(model, source, dest, opts.metric, opts.layers);
  const { T, layers } = base;
  const cfg = model.cfg;
  const site = opts.site;
  if (site === 'heads' && cfg.postNorms) {
    // per-head z patching is still exact here (z feeds W_O before the post-norm), nothing to refuse
  }
  const positions = opts.positions === undefined ? [...Array(T).keys()] : [...opts.positions];
  for (const p of positions) if (!(Number.isInteger(p) && p >= 0 && p < T)) throw new PatchingError(`position ${p} is outside the ${T} positions`);
  if (site === 'neurons') {
    const moe = layers.filter((l) => model.weights.blocks[l]!.experts !== null);
    if (moe.length > 0) throw new PatchingError(`layers ${moe.join(', ')} are layers of experts, which have no dense MLP neurons. Fix: patch the site mlp_out there, or hook blocks.{layer}.mlp.experts.{e}.hook_post for one expert's neurons.`);
  }
  const neurons = opts.neurons === undefined ? [...Array(cfg.dMlp).keys()] : [...opts.neurons];
  for (const n of neurons) if (!(Number.isInteger(n) && n >= 0 && n < cfg.dMlp)) throw new PatchingError(`neuron ${n} is outside [0, ${cfg.dMlp})`);
  const whole = opts.wholeLayer === true && site !== 'heads' && site !== 'neurons';
  // item -1 = every position of the layer at once
  const items = site === 'heads' ? [...Array(cfg.nHeads).keys()] : site === 'neurons' ? neurons : whole ? [-1] : positions;
  const perPos = (site === 'heads' || site === 'neurons') && opts.perPosition === true;

  // axes and jobs
  const axes = whole ? ['layer'] : ['layer', site === 'heads' ? 'head' : site === 'neurons' ? 'neuron' : 'position', ...(perPos ? ['position'] : [])];
  const labels = whole ? [layers] : [layers, items, ...(perPos ? [positions] : [])];
  const shape = labels.map((l) => l.length);
  const jobs: Job[] = [];
  for (const layer of layers) for (const item of items) {
    if (perPos) for (const p of positions) jobs.push({ layer, item, pos: p });
    else jobs.push({ layer, item, pos: null });
  }

  return noGrad(() => {
    // source activations at the patched site; destination residual streams to start from
    const names = new Set<HookName>(layers.map((l) => siteHook(site, l)));
    const srcRun = model.runWithCache([source], { names: [...names] });
    const dstRun = model.runWithCache([dest], { names: layers.map((l) => blockHook(l, 'hook_resid_pre')) });
    const setup = finishSetup(model, base, opts.metric, srcRun.logits!, dstRun.logits!);
    const srcActs = new Map<number, Float32Array>();
    for (const l of layers) srcActs.set(l, contiguousCopy(srcRun.cache.at(siteHook(site, l))).data as Float32Array);
    const dstResid = new Map<number, Float32Array>();
    for (const l of layers) dstResid.set(l, contiguousCopy(dstRun.cache.at(blockHook(l, 'hook_resid_pre'))).data as Float32Array);

    const raw = new Float64Array(jobs.length);
    const batchSize = Math.max(1, opts.batchSize ?? 32);
    const D = cfg.dModel;
    const V = cfg.dVocab;
    const lastOnly = setup.metricPos === T - 1;
    let done = 0;
    let j0 = 0;
    while (j0 < jobs.length) {
      // a batch: consecutive jobs of one layer
      const layer = jobs[j0]!.layer;
      let j1 = j0;
      while (j1 < jobs.length && j1 - j0 < batchSize && jobs[j1]!.layer === layer) j1++;
      const batch = jobs.slice(j0, j1);
      const k = batch.length;
      const resid = empty([k, T, D]);
      const rd = resid.data as Float32Array;
      const start = dstResid.get(layer)!;
      for (let r = 0; r < k; r++) rd.set(start, r * T * D);
      const src = srcActs.get(layer)!;
      let hooks: HookSpec[] = [];
      if (site === 'resid_pre') {
        batch.forEach((job, r) => {
          if (job.item < 0) rd.set(src, r * T * D);
          else rd.set(src.subarray(job.item * D, (job.item + 1) * D), (r * T + job.item) * D);
        });
      } else {
        hooks = [[siteHook(site, layer), (act: Tensor) => patchRows(act, src, batch, site, cfg.nHeads, cfg.dHead)]];
      }
      const { logits } = model.forward(Array.from({ length: k }, () => dest), { startAt: { layer, residual: resid }, fwdHooks: hooks, logits: lastOnly ? 'last' : 'all' });
      for (let r = 0; r < k; r++) {
        raw[j0 + r] = evalMetric(opts.metric, rowAt(logits!, r, lastOnly ? 0 : setup.metricPos, V, lastOnly ? 1 : T), setup.reference);
      }
      done += k;
      opts.onProgress?.(done, jobs.length);
      j0 = j1;
    }
    const values = raw.map((m) => (m - setup.dstMetric) / setup.denom);
    return { site, metric: metricName(opts.metric), axes, labels, shape, values, raw, source: setup.srcMetric, dest: setup.dstMetric, method: 'activation' as const };
  });
}

/** A copy of a batched activation with each row's job patched in from the source activation (batch 1). */
function patchRows(act: Tensor, src: Float32Array, jobs: readonly Job[], site: PatchSite, H: number, dh: number): Tensor {
  const out = keep(contiguousCopy(act));
  const o = out.data as Float32Array;
  const [k, T] = act.shape as [number, number];
  const perRow = out.size / k;
  const width = perRow / T; // features per position
  for (let r = 0; r < k; r++) {
    const job = jobs[r]!;
    const base = r * perRow;
    const ps = job.pos === null ? [...Array(T).keys()] : [job.pos];
    if (site === 'heads') {
      for (const p of ps) o.set(src.subarray(p * H * dh + job.item * dh, p * H * dh + (job.item + 1) * dh), base + p * H * dh + job.item * dh);
    } else if (site === 'neurons') {
      for (const p of ps) o[base + p * width + job.item] = src[p * width + job.item]!;
    } else if (job.item < 0) {
      // attn_out / mlp_out at every position
      o.set(src.subarray(0, perRow), base);
    } else {
      // attn_out / mlp_out: the job's item is the position
      o.set(src.subarray(job.item * width, (job.item + 1) * width), base + job.item * width);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// attribution patching

export interface AttributionOptions {
  metric: MetricSpec;
  /** sites to estimate (default: all five) */
  sites?: readonly PatchSite[];
  /** heads and neurons: add a position axis */
  perPosition?: boolean;
}

/**
 * First-order estimates of activation patching for every site at once:
 * effect ≈ (a_source − a_dest) · ∂metric/∂a at the destination, normalised by
 * the source − destination metric difference.
 */
export function attributionPatching(model: HookedTransformer, source: readonly number[], dest: readonly number[], opts: AttributionOptions): Map<PatchSite, PatchResult> {
  const base = validateRuns(model, source, dest, opts.metric);
  const { T, L, layers } = base;
  const cfg = model.cfg;
  const sites = opts.sites ?? PATCH_SITES;
  // layers of experts have no dense neurons: their neuron estimates stay 0 (patch mlp_out there)
  const hasSite = (s: PatchSite, l: number) => s !== 'neurons' || model.weights.blocks[l]!.experts === null;
  const names: HookName[] = [];
  for (const s of sites) for (const l of layers) if (hasSite(s, l)) names.push(siteHook(s, l));
  const srcRun = noGrad(() => model.runWithCache([source], { names }));
  const reference = opts.metric.kind === 'kl' ? logProbs(rowAt(srcRun.logits!, 0, base.metricPos, cfg.dVocab, T)) : null;
  const g = enableGrad(() => model.gradients([dest], (logits) => metricTensor(opts.metric, logits, reference), names));
  const setup = finishSetup(model, base, opts.metric, srcRun.logits!, g.logits);
  const perPos = opts.perPosition === true;
  const out = new Map<PatchSite, PatchResult>();
  for (const site of sites) {
    const H = cfg.nHeads;
    const dh = cfg.dHead;
    const F = cfg.dMlp;
    const items = site === 'heads' ? H : site === 'neurons' ? F : T;
    const unitWidth = site === 'heads' ? dh : site === 'neurons' ? 1 : cfg.dModel;
    const withPos = perPos && (site === 'heads' || site === 'neurons');
    const shape = [L, items, ...(withPos ? [T] : [])];
    const values = new Float64Array(shape.reduce((a, b) => a * b, 1));
    for (const l of layers) {
      if (!hasSite(site, l)) continue;
      const name = siteHook(site, l);
      const a = contiguousCopy(srcRun.cache.at(name)).data as Float32Array;
      const d = contiguousCopy(g.activations.get(name)!).data as Float32Array;
      const gr = contiguousCopy(g.grads.get(name)!).data as Float32Array;
      const unitSites = site === 'heads' || site === 'neurons';
      const perPosWidth = unitSites ? items * unitWidth : unitWidth; // features per position
      for (let t = 0; t < T; t++) {
        for (let i = 0; i < items; i++) {
          if (!unitSites && i !== t) continue; // position sites: the item is the position
          let s = 0;
          const from = t * perPosWidth + (unitSites ? i * unitWidth : 0);
          for (let j = 0; j < unitWidth; j++) s += (a[from + j]! - d[from + j]!) * gr[from + j]!;
          const idx = withPos ? (l * items + i) * T + t : l * items + i;
          values[idx]! += s / setup.denom;
        }
      }
    }
    const raw = values.map((v) => setup.dstMetric + v * setup.denom);
    out.set(site, {
      site, metric: metricName(opts.metric), method: 'attribution',
      axes: ['layer', site === 'heads' ? 'head' : site === 'neurons' ? 'neuron' : 'position', ...(withPos ? ['position'] : [])],
      labels: [[...Array(L).keys()], [...Array(items).keys()], ...(withPos ? [[...Array(T).keys()]] : [])],
      shape, values, raw, source: setup.srcMetric, dest: setup.dstMetric,
    });
  }
  return out;
}

/** Pearson correlation of two equally long arrays. */
export function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  if (n !== b.length || n < 2) throw new PatchingError(`correlation needs two arrays of the same length ≥ 2 (got ${n} and ${b.length})`);
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i]! - ma;
    const y = b[i]! - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** The rows of a result for the given layers (in that order), e.g. to compare an attribution grid with a partial sweep. */
export function selectLayers(r: PatchResult, layers: readonly number[]): PatchResult {
  const rowSize = r.shape.slice(1).reduce((a, b) => a * b, 1);
  const idx = layers.map((l) => {
    const i = r.labels[0]!.indexOf(l);
    if (i < 0) throw new PatchingError(`layer ${l} is not in this result (it has layers ${r.labels[0]!.join(', ')})`);
    return i;
  });
  const take = (a: Float64Array) => {
    const out = new Float64Array(idx.length * rowSize);
    idx.forEach((i, k) => out.set(a.subarray(i * rowSize, (i + 1) * rowSize), k * rowSize));
    return out;
  };
  return { ...r, labels: [[...layers], ...r.labels.slice(1)], shape: [layers.length, ...r.shape.slice(1)], values: take(r.values), raw: take(r.raw) };
}
