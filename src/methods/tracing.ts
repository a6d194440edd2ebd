/**
 * Causal tracing (Meng et al. 2022, "Locating and Editing Factual
 * Associations in GPT", the ROME paper).
 *
 * The prompt is run three ways:
 *  - clean: as is;
 *  - corrupted: Gaussian noise added to the token embeddings (the
 *    `hook_embed` activation) at chosen positions, one fixed draw per sample;
 *  - corrupted-with-restoration: corrupted, but one hidden state (or a window
 *    of module outputs) at one position set back to its clean value.
 *
 * For each layer × position the result holds the probability of the target
 * token after restoration (averaged over the noise samples) and the indirect
 * effect: that minus the corrupted probability.
 *
 * Work: the corrupted runs happen once per sample and cache every layer's
 * residual stream; a restoration then starts the forward pass at the layer
 * after the restored state (`startAt`), so restoring at layer l costs only the
 * layers above l. Restorations of the same layer are batched: each row of a
 * batch is one (position, sample) pair.
 */
import { CandorError } from '../tensor/errors.js';
import { noGrad } from '../tensor/autograd.js';
import { scope } from '../tensor/pool.js';
import { Rng } from '../tensor/random.js';
import { Tensor, empty, ids as idsTensor } from '../tensor/tensor.js';
import { contiguousCopy } from '../tensor/ops/basic.js';
import type { HookedTransformer } from '../model/transformer.js';
import { blockHook, type HookName, type HookSpec } from '../model/hooks.js';

export class TracingError extends CandorError {
  override name = 'TracingError';
}

export type TraceKind = 'resid' | 'mlp' | 'attn';

export interface CausalTraceOptions {
  /** positions whose token embeddings get noise */
  corrupt: readonly number[];
  /** token whose probability is traced; default: the clean run's top prediction at the last position */
  target?: number;
  /** noise draws averaged over (default 10) */
  samples?: number;
  /** noise standard deviation as a multiple of the embedding standard deviation (default 3) */
  noiseScale?: number;
  /** seed of the noise (default 0) */
  seed?: number;
  /** what is restored: the residual stream after a layer (default), or the MLP or attention outputs of a window of layers */
  kind?: TraceKind;
  /** layers restored together for 'mlp' and 'attn' (default 10), centred on the layer as in ROME and clipped at the ends; ignored for 'resid' */
  window?: number;
  /** layers of the grid (default: all) */
  layers?: readonly number[];
  /** positions of the grid (default: all) */
  positions?: readonly number[];
  /** rows (restorations) per forward pass; default keeps each pass's largest activation near 64 MiB */
  batchSize?: number;
  /** called after each forward pass with restorations done and the total (layers × positions × samples) */
  onProgress?: (done: number, total: number) => void;
}

export interface CausalTraceResult {
  target: number;
  /** P(target) at the last position of the clean run */
  cleanProb: number;
  /** P(target) of the corrupted run, mean over samples */
  corruptedProb: number;
  kind: TraceKind;
  /** layers restored together (1 for 'resid') */
  window: number;
  samples: number;
  /** the absolute standard deviation of the noise */
  noiseStd: number;
  layers: number[];
  positions: number[];
  /** [layer][position]: mean over samples of P(target | corrupted, restored) − corruptedProb */
  indirect: number[][];
  /** [layer][position]: mean over samples of P(target | corrupted, restored) */
  restored: number[][];
}

/** Standard deviation of all entries of a tensor (with Bessel's correction, as torch.std), in double precision. */
function tensorStd(t: Tensor): number {
  const a = t.toTypedArray();
  const n = a.length;
  if (n < 2) return 0;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += a[i]!;
  mean /= n;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = a[i]! - mean;
    ss += d * d;
  }
  return Math.sqrt(ss / (n - 1));
}

/**
 * The noise causalTrace adds: σ = noiseScale × std(token embedding matrix) ×
 * the model's embedding scale (√d_model for Gemma, 1 otherwise, so that σ is
 * measured in the units of `hook_embed`, where the noise is added), and one
 * Gaussian draw per sample of [positions, d_model] values, row-major, rows in
 * the order of the (sorted) corrupted positions. Exposed so a trace can be
 * reproduced by hand.
 */
export function traceNoise(
  model: HookedTransformer,
  nPositions: number,
  opts: { samples?: number; noiseScale?: number; seed?: number } = {},
): { std: number; draws: Float32Array[] } {
  const samples = opts.samples ?? 10;
  const noiseScale = opts.noiseScale ?? 3;
  if (!(Number.isInteger(samples) && samples >= 1)) throw new TracingError(`causalTrace: opts.samples = ${samples} must be a positive integer`);
  if (!(Number.isFinite(noiseScale) && noiseScale >= 0)) throw new TracingError(`causalTrace: opts.noiseScale = ${noiseScale} must be a finite number ≥ 0`);
  const seed = opts.seed ?? 0;
  if (!Number.isFinite(seed)) throw new TracingError(`causalTrace: opts.seed = ${seed} must be a finite number`);
  const std = noiseScale * tensorStd(model.weights.embed) * model.cfg.embedScale;
  const rng = new Rng(seed);
  const n = nPositions * model.cfg.dModel;
  const draws: Float32Array[] = [];
  for (let s = 0; s < samples; s++) {
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = std * rng.normal();
    draws.push(d);
  }
  return { std, draws };
}

/** ROME's window of layers around `layer`: [max(0, l − ⌊w/2⌋), min(L, l − ⌊w/2⌋ + w)). */
export function traceWindow(layer: number, window: number, nLayers: number): [number, number] {
  const lo = layer - Math.floor(window / 2);
  return [Math.max(0, lo), Math.min(nLayers, lo + window)];
}

function checkIndex(field: string, v: unknown, n: number, what: string): number {
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < n)) {
    throw new TracingError(`causalTrace: ${field} = ${String(v)} is not ${what} (an integer in [0, ${n}))`);
  }
  return v;
}

function checkCount(field: string, v: number, min: number): number {
  if (!(Number.isInteger(v) && v >= min)) throw new TracingError(`causalTrace: ${field} = ${v} must be an integer ≥ ${min}`);
  return v;
}

/** P(target) of each row of last-position logits [rows, 1, vocab], in double precision. */
function targetProbs(logits: Tensor, target: number): number[] {
  const V = logits.shape[logits.ndim - 1]!;
  const rows = logits.size / V;
  const a = logits.toTypedArray();
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    const o = r * V;
    let m = -Infinity;
    for (let i = 0; i < V; i++) if (a[o + i]! > m) m = a[o + i]!;
    let s = 0;
    for (let i = 0; i < V; i++) s += Math.exp(a[o + i]! - m);
    out.push(Math.exp(a[o + target]! - m) / s);
  }
  return out;
}

function argmaxLast(logits: Tensor): number {
  const a = logits.toTypedArray();
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

/** The rows [batch, T, D] of a cached activation as one Float32Array per row. */
function rowsOf(t: Tensor): Float32Array[] {
  const a = t.toTypedArray();
  const f = a instanceof Float32Array ? a : Float32Array.from(a);
  const [B] = t.shape as [number];
  const n = f.length / B;
  const out: Float32Array[] = [];
  for (let b = 0; b < B; b++) out.push(f.subarray(b * n, (b + 1) * n));
  return out;
}

/** Split n items into ceil(n / max) nearly equal chunks: [start, end) pairs. */
function chunks(n: number, max: number): [number, number][] {
  const k = Math.ceil(n / max);
  const out: [number, number][] = [];
  for (let i = 0; i < k; i++) out.push([Math.floor((i * n) / k), Math.floor(((i + 1) * n) / k)]);
  return out;
}

/**
 * Causal tracing of one prompt: the indirect effect of each layer × position's
 * clean state on P(target) at the last position, with noise on the token
 * embeddings at `corrupt`.
 *
 * 'resid' restores the residual stream after layer l (hook_resid_post) at
 * position p. 'mlp' and 'attn' restore hook_mlp_out / hook_attn_out at
 * position p in every layer of ROME's window around l. The same noise draw of
 * a sample is used for every restoration. Restorations that cannot change the
 * output (positions before the first corrupted one, whose states the noise
 * never reaches under causal attention; for 'resid', positions other than the
 * last after the last layer) are not run: their restored probability is the
 * sample's corrupted probability.
 */
export function causalTrace(model: HookedTransformer, ids: readonly number[], opts: CausalTraceOptions): CausalTraceResult {
  const cfg = model.cfg;
  const L = cfg.nLayers;
  const D = cfg.dModel;
  const V = cfg.dVocab;
  if (!Array.isArray(ids) || ids.length === 0) throw new TracingError('causalTrace: ids must be a non-empty array of token ids');
  ids.forEach((t, i) => checkIndex(`ids[${i}]`, t, V, 'a token id of this model'));
  const T = ids.length;
  if (opts === undefined || !Array.isArray(opts.corrupt) || opts.corrupt.length === 0) {
    throw new TracingError('causalTrace: opts.corrupt must list at least one position whose embedding gets noise');
  }
  opts.corrupt.forEach((p, i) => checkIndex(`opts.corrupt[${i}]`, p, T, `a position of the ${T}-token prompt`));
  const corrupt = [...new Set(opts.corrupt)].sort((a, b) => a - b);
  const firstCorrupt = corrupt[0]!;
  const kind: TraceKind = opts.kind ?? 'resid';
  if (kind !== 'resid' && kind !== 'mlp' && kind !== 'attn') throw new TracingError(`causalTrace: opts.kind = ${String(kind)} must be 'resid', 'mlp' or 'attn'`);
  const window = kind === 'resid' ? 1 : checkCount('opts.window', opts.window ?? 10, 1);
  const layers = opts.layers === undefined ? Array.from({ length: L }, (_, i) => i) : opts.layers.map((l, i) => checkIndex(`opts.layers[${i}]`, l, L, `a layer of this ${L}-layer model`));
  const positions = opts.positions === undefined ? Array.from({ length: T }, (_, i) => i) : opts.positions.map((p, i) => checkIndex(`opts.positions[${i}]`, p, T, `a position of the ${T}-token prompt`));
  if (opts.target !== undefined) checkIndex('opts.target', opts.target, V, 'a token id of this model');
  const perRow = T * Math.max(D, cfg.dMlp, cfg.nHeads * T) + V;
  const batchSize = checkCount('opts.batchSize', opts.batchSize ?? Math.max(1, Math.min(512, Math.floor((1 << 24) / perRow))), 1);
  const { std: noiseStd, draws } = traceNoise(model, corrupt.length, opts);
  const S = draws.length;

  return noGrad(() => {
    // clean run: the states restorations put back, and the target
    const cleanNames: HookName[] = [];
    const moduleHook = kind === 'mlp' ? 'hook_mlp_out' : 'hook_attn_out';
    if (kind === 'resid') {
      // resid_post of layer l is resid_pre of layer l + 1; the last layer's is cached as such
      for (let l = 1; l < L; l++) cleanNames.push(blockHook(l, 'hook_resid_pre'));
      cleanNames.push(blockHook(L - 1, 'hook_resid_post'));
    } else {
      for (let l = 0; l < L; l++) cleanNames.push(blockHook(l, moduleHook));
    }
    const clean = model.runWithCache([ids], { names: cleanNames, logits: 'last' });
    const target = opts.target ?? argmaxLast(clean.logits!);
    const cleanProb = targetProbs(clean.logits!, target)[0]!;
    /** resid: cleanState[l] = resid_post of layer l; mlp/attn: the module's output at layer l. [T × D] each */
    const cleanState: Float32Array[] = cleanNames.map((n) => rowsOf(clean.cache.at(n))[0]!);

    // corrupted runs, batched over samples; each caches resid_pre of every layer (and the last resid_post)
    const corrNames: HookName[] = [];
    for (let l = 0; l < L; l++) corrNames.push(blockHook(l, 'hook_resid_pre'));
    corrNames.push(blockHook(L - 1, 'hook_resid_post'));
    /** corrResid[s][l]: resid_pre of layer l (l = L: resid_post of the last layer) of sample s, [T × D] */
    const corrResid: Float32Array[][] = Array.from({ length: S }, () => []);
    const corrProbs: number[] = [];
    for (const [s0, s1] of chunks(S, batchSize)) {
      const n = s1 - s0;
      const noiseHook: HookSpec = ['hook_embed', (act) => {
        const out = contiguousCopy(act);
        const d = out.data;
        for (let r = 0; r < n; r++) {
          const noise = draws[s0 + r]!;
          corrupt.forEach((p, ci) => {
            const o = out.offset + (r * T + p) * D;
            for (let j = 0; j < D; j++) d[o + j] = d[o + j]! + noise[ci * D + j]!;
          });
        }
        return out;
      }];
      const run = model.runWithCache(Array.from({ length: n }, () => ids), { names: corrNames, fwdHooks: [noiseHook], logits: 'last' });
      corrProbs.push(...targetProbs(run.logits!, target));
      corrNames.forEach((name) => rowsOf(run.cache.at(name)).forEach((row, r) => corrResid[s0 + r]!.push(row)));
    }
    const corruptedProb = corrProbs.reduce((a, b) => a + b, 0) / S;

    // restorations, layer by layer
    const total = layers.length * positions.length * S;
    let done = 0;
    const restored: number[][] = [];
    const idsRow = Int32Array.from(ids);
    for (const l of layers) {
      const sums = new Float64Array(positions.length);
      const rows: { pi: number; p: number; s: number }[] = [];
      positions.forEach((p, pi) => {
        const noop = p < firstCorrupt || (kind === 'resid' && l === L - 1 && p !== T - 1);
        for (let s = 0; s < S; s++) {
          if (noop) sums[pi]! += corrProbs[s]!;
          else rows.push({ pi, p, s });
        }
      });
      done += positions.length * S - rows.length;
      const [ws, we] = kind === 'resid' ? [l + 1, l + 1] : traceWindow(l, window, L);
      for (const [r0, r1] of rows.length === 0 ? [] : chunks(rows.length, batchSize)) {
        const batch = rows.slice(r0, r1);
        const n = batch.length;
        const probs = scope(() => {
          const resid = empty([n, T, D]);
          const rd = resid.data;
          batch.forEach(({ p, s }, r) => {
            rd.set(corrResid[s]![ws]!, r * T * D);
            if (kind === 'resid') rd.set(cleanState[l]!.subarray(p * D, (p + 1) * D), (r * T + p) * D);
          });
          const fwdHooks: HookSpec[] = [];
          if (kind !== 'resid') {
            for (let k = ws; k < we; k++) {
              const src = cleanState[k]!;
              fwdHooks.push([blockHook(k, moduleHook), (act) => {
                const out = contiguousCopy(act);
                const d = out.data;
                batch.forEach(({ p }, r) => d.set(src.subarray(p * D, (p + 1) * D), out.offset + (r * T + p) * D));
                return out;
              }]);
            }
          }
          const idsBatch = new Int32Array(n * T);
          for (let r = 0; r < n; r++) idsBatch.set(idsRow, r * T);
          const out = model.forward(idsTensor(idsBatch, [n, T]), { startAt: { layer: ws, residual: resid }, fwdHooks, logits: 'last' });
          return targetProbs(out.logits!, target);
        });
        batch.forEach(({ pi }, r) => (sums[pi]! += probs[r]!));
        done += n;
        opts.onProgress?.(done, total);
      }
      if (rows.length === 0) opts.onProgress?.(done, total);
      restored.push(Array.from(sums, (v) => v / S));
    }
    const indirect = restored.map((row) => row.map((v) => v - corruptedProb));
    return { target, cleanProb, corruptedProb, kind, window, samples: S, noiseStd, layers: [...layers], positions: [...positions], indirect, restored };
  });
}
