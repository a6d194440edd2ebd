/**
 * The tuned lens (Belrose et al. 2023, "Eliciting Latent Predictions from
 * Transformers with the Tuned Lens").
 *
 * The logit lens reads an intermediate residual stream h_l (the output of
 * block l) with the model's own final norm and unembedding. The tuned lens
 * first maps h_l through a learned affine translator per layer,
 *
 *     T_l(h) = h + h·A_lᵀ + b_l        (A_l [d, d], b_l [d], both zero at first)
 *
 * trained so that unembed(finalNorm(T_l(h_l))) matches the model's final
 * distribution: the loss is the mean over positions and layers of
 * KL(p_final ‖ p_lens). The model's weights stay frozen. The last block's
 * output is what the model itself reads out, so it needs no translator
 * (identity).
 *
 * A trained lens is a safetensors file (`layers.{l}.A`, `layers.{l}.b`,
 * metadata format/d_model/n_layers/model) that conventionally sits beside the
 * model: `tuned-lens.safetensors` in the model folder, or
 * `<name>.tuned-lens.safetensors` next to a single-file checkpoint.
 */
import { existsSync, statSync } from 'node:fs';

import { basename, dirname, extname, join } from 'node:path';
import { CandorError, fmtShape } from '../tensor/errors.js';
import { Tensor, tensor, type FloatArray } from '../tensor/tensor.js';
import { grad, noGrad, enableGrad } from '../tensor/autograd.js';
import { add, exp, mul, scale, sub } from '../tensor/ops/basic.js';
import { logSoftmax } from '../tensor/ops/nn.js';
import { linear } from '../tensor/ops/matmul.js';
import { mean, sum } from '../tensor/ops/reduce.js';
import { contiguous } from '../tensor/ops/shape.js';
import { AdamW, clipScale, cosineLr, gradNorm } from '../tensor/optim.js';
import { Rng } from '../tensor/random.js';
import { openSafetensors, writeSafetensors } from '../io/safetensors.js';
import type { HookedTransformer } from '../model/transformer.js';
import { blockHook, type HookName } from '../model/hooks.js';
import { readOut, type Translator } from './lens.js';

export class TunedLensError extends CandorError {
  override name = 'TunedLensError';
}

/** `format` metadata value of a tuned-lens file. */
export const TUNED_LENS_FORMAT = 'candor-tuned-lens';
/** Conventional file name inside a model folder. */
export const TUNED_LENS_FILE = 'tuned-lens.safetensors';

/** A translator as the logit lens takes it: the residual after block `layer` → the residual to read out. */


/**
 * Where a model's tuned lens conventionally lives: `tuned-lens.safetensors`
 * inside a model folder; `<name>.tuned-lens.safetensors` beside a single-file
 * checkpoint (llama2.c `.bin`). A path that does not exist is taken as a file
 * when it has an extension, otherwise as a folder.
 */
export function defaultTunedLensPath(modelSource: string): string {
  let isDir: boolean;
  if (existsSync(modelSource)) isDir = statSync(modelSource).isDirectory();
  else isDir = extname(modelSource) === '';
  if (isDir) return join(modelSource, TUNED_LENS_FILE);
  const name = basename(modelSource, extname(modelSource));
  return join(dirname(modelSource), `${name}.${TUNED_LENS_FILE}`);
}

function newParam(shape: number[]): Tensor {
  // wrapped (never pooled) storage: a lens made inside noGrad() outlives it
  let n = 1;
  for (const d of shape) n *= d;
  return tensor(new Float32Array(n), shape);
}

export class TunedLens {
  readonly nLayers: number;
  readonly dModel: number;
  /** A_l for l = 0..nLayers-2 ([d_model, d_model], applied as h·Aᵀ) */
  readonly A: readonly Tensor[];
  /** b_l for l = 0..nLayers-2 ([d_model]) */
  readonly b: readonly Tensor[];
  /** the model the lens was trained for (its source path), when known */
  source: string | null = null;
  /** metadata of the file it was loaded from (empty for a new lens) */
  metadata: Record<string, string> = {};

  /** A lens with the given translator weights, or the identity lens when they are omitted. */
  constructor(dModel: number, nLayers: number, weights?: { A: readonly Tensor[]; b: readonly Tensor[] }) {
    if (!(Number.isInteger(dModel) && dModel > 0)) throw new TunedLensError(`TunedLens: d_model must be a positive integer, got ${dModel}`);
    if (!(Number.isInteger(nLayers) && nLayers > 0)) throw new TunedLensError(`TunedLens: n_layers must be a positive integer, got ${nLayers}`);
    this.dModel = dModel;
    this.nLayers = nLayers;
    const n = nLayers - 1;
    if (weights === undefined) {
      this.A = Array.from({ length: n }, () => newParam([dModel, dModel]));
      this.b = Array.from({ length: n }, () => newParam([dModel]));
      return;
    }
    if (weights.A.length !== n || weights.b.length !== n) {
      throw new TunedLensError(`TunedLens: a ${nLayers}-layer model needs ${n} translators, got ${weights.A.length} A and ${weights.b.length} b`);
    }
    weights.A.forEach((a, l) => {
      if (a.ndim !== 2 || a.shape[0] !== dModel || a.shape[1] !== dModel) throw new TunedLensError(`TunedLens: A[${l}] has shape ${fmtShape(a.shape)}, expected [${dModel}, ${dModel}]`);
    });
    weights.b.forEach((b, l) => {
      if (b.ndim !== 1 || b.shape[0] !== dModel) throw new TunedLensError(`TunedLens: b[${l}] has shape ${fmtShape(b.shape)}, expected [${dModel}]`);
    });
    this.A = [...weights.A];
    this.b = [...weights.b];
  }

  /** The identity lens for a model (every translator zero): its outputs are the logit lens's. */
  static identity(model: HookedTransformer): TunedLens {
    const lens = new TunedLens(model.cfg.dModel, model.cfg.nLayers);
    lens.source = model.source;
    return lens;
  }

  /** The trainable tensors: A_0, b_0, A_1, b_1, … */
  parameters(): Tensor[] {
    const out: Tensor[] = [];
    for (let l = 0; l < this.A.length; l++) out.push(this.A[l]!, this.b[l]!);
    return out;
  }

  /**
   * Translate the residual stream after block `layer` ([..., d_model], e.g.
   * blocks.{layer}.hook_resid_post [batch, pos, d_model]) into the residual the
   * final norm and unembedding should read. The last layer's is returned
   * unchanged. Differentiable.
   */
  translate(layer: number, residual: Tensor): Tensor {
    if (!(Number.isInteger(layer) && layer >= 0 && layer < this.nLayers)) {
      throw new TunedLensError(`TunedLens.translate: layer ${layer} is outside [0, ${this.nLayers - 1}] for this ${this.nLayers}-layer lens`);
    }
    if (residual.ndim < 1 || residual.shape[residual.ndim - 1] !== this.dModel) {
      throw new TunedLensError(`TunedLens.translate: residual ${fmtShape(residual.shape)} must end in d_model = ${this.dModel}`);
    }
    if (layer === this.nLayers - 1) return residual;
    return add(residual, linear(residual, this.A[layer]!, this.b[layer]!));
  }

  /** `translate` as a free function, for the logit lens. */
  get translator(): Translator {
    return (layer, residual) => this.translate(layer, residual);
  }

  /**
   * Write the lens as safetensors: `layers.{l}.A`, `layers.{l}.b`, and
   * metadata {format, d_model, n_layers, model} (plus `metadata`).
   */
  save(path: string, metadata: Record<string, string> = {}): void {
    const tensors = new Map<string, Tensor>();
    for (let l = 0; l < this.A.length; l++) {
      tensors.set(`layers.${l}.A`, this.A[l]!);
      tensors.set(`layers.${l}.b`, this.b[l]!);
    }
    writeSafetensors(path, tensors, {
      metadata: {
        ...metadata,
        format: TUNED_LENS_FORMAT,
        d_model: String(this.dModel),
        n_layers: String(this.nLayers),
        model: metadata.model ?? this.source ?? '',
      },
    });
  }

  /**
   * Read a lens written by `save`. With a model, its d_model and n_layers must
   * match the file's; every mismatch is a TunedLensError naming the file and
   * the field.
   */
  static load(path: string, model?: HookedTransformer): TunedLens {
    if (!existsSync(path)) {
      throw new TunedLensError(
        `${path}: no tuned lens file here. Fix: train one with trainTunedLens(model, texts) and lens.save('${path}'), or pass the path of an existing one.`,
      );
    }
    const f = openSafetensors(path);
    try {
      const md = f.metadata;
      const field = (key: string, msg: string): never => fieldError(path, key, msg);
      if (md.format !== TUNED_LENS_FORMAT) {
        field('format', `of the metadata is ${md.format === undefined ? 'missing' : `'${md.format}'`}, expected '${TUNED_LENS_FORMAT}': this is not a tuned-lens file. Fix: pass the file written by TunedLens.save.`);
      }
      const int = (key: string): number => {
        const raw = md[key];
        const v = Number(raw);
        if (raw === undefined || !(Number.isInteger(v) && v > 0)) field(key, `of the metadata must be a positive integer, got ${raw === undefined ? 'nothing' : JSON.stringify(raw)}`);
        return v;
      };
      const dModel = int('d_model');
      const nLayers = int('n_layers');
      if (model !== undefined) {
        const which = `the model${model.source !== null ? ` ${model.source}` : ''}`;
        const origin = md.model ? ` (the lens was trained for ${md.model})` : '';
        if (dModel !== model.cfg.dModel) {
          field('d_model', `is ${dModel} but ${which} has d_model ${model.cfg.dModel}${origin}. Fix: train a tuned lens for this model.`);
        }
        if (nLayers !== model.cfg.nLayers) {
          field('n_layers', `is ${nLayers} but ${which} has ${model.cfg.nLayers} layers${origin}. Fix: train a tuned lens for this model.`);
        }
      }
      const expected = new Set<string>();
      const A: Tensor[] = [];
      const b: Tensor[] = [];
      const read = (name: string, shape: number[]): Tensor => {
        expected.add(name);
        const e = f.entries.get(name);
        if (e === undefined) return fieldError(path, name, `is missing: a ${nLayers}-layer lens has layers.0 … layers.${nLayers - 2}. The file is incomplete; save it again.`);
        if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
          field(name, `has shape [${e.shape.join(', ')}] but d_model ${dModel} needs ${fmtShape(shape)}`);
        }
        if (!['F32', 'F16', 'BF16', 'F64'].includes(e.dtype)) field(name, `has dtype ${e.dtype}; a lens is stored as floats`);
        const t = f.read(name);
        return t.dtype === 'float32' ? t : toFloat32(t);
      };
      for (let l = 0; l < nLayers - 1; l++) {
        A.push(read(`layers.${l}.A`, [dModel, dModel]));
        b.push(read(`layers.${l}.b`, [dModel]));
      }
      const extra = [...f.entries.keys()].filter((k) => !expected.has(k));
      if (extra.length > 0) field(extra[0]!, `is not a tensor of a ${nLayers}-layer tuned lens (unexpected: ${extra.slice(0, 4).join(', ')}${extra.length > 4 ? ', …' : ''})`);
      const lens = new TunedLens(dModel, nLayers, { A, b });
      lens.source = md.model ? md.model : null;
      lens.metadata = { ...md };
      return lens;
    } finally {
      f.close();
    }
  }
}

function fieldError(path: string, key: string, msg: string): never {
  throw new TunedLensError(`${path}: field '${key}' ${msg}`);
}

function toFloat32(t: Tensor): Tensor {
  return tensor(Float32Array.from(t.toTypedArray() as FloatArray), [...t.shape]);
}

// ---------------------------------------------------------------------------
// reading out a residual stream

/**
 * KL(softmax(target) ‖ softmax(logits)) along the last axis, from the target's
 * log-probabilities and probabilities (constants) and the lens's logits:
 * Σ p (log p − logSoftmax(logits)). Differentiable in `logits`.
 */
export function klFromTarget(target: { logp: Tensor; p: Tensor }, logits: Tensor): Tensor {
  return sum(mul(target.p, sub(target.logp, logSoftmax(logits))), -1);
}

/** KL(softmax(p) ‖ softmax(q)) along the last axis of two logit tensors. */
export function klDivergence(pLogits: Tensor, qLogits: Tensor): Tensor {
  const logp = logSoftmax(pLogits);
  return klFromTarget({ logp, p: exp(logp) }, qLogits);
}

// ---------------------------------------------------------------------------
// residual streams of a text set, flattened to rows

type Seqs = readonly (readonly number[])[];

/** Per layer, every position's resid_post as rows [N, d_model] (N = Σ sequence lengths). */
interface Rows {
  n: number;
  layers: Float32Array[];
}

function residNames(L: number): HookName[] {
  return Array.from({ length: L }, (_, l) => blockHook(l, 'hook_resid_post'));
}

/** One noGrad forward of some sequences (right-padded with a mask when their lengths differ). */
function forwardRows(model: HookedTransformer, seqs: Seqs): Rows {
  const L = model.cfg.nLayers;
  const d = model.cfg.dModel;
  const lengths = seqs.map((s) => s.length);
  const n = lengths.reduce((a, b) => a + b, 0);
  const Tmax = Math.max(...lengths);
  const ragged = lengths.some((t) => t !== Tmax);
  const names = residNames(L);
  const layers = names.map(() => new Float32Array(n * d));
  noGrad(() => {
    const input = seqs.map((s) => (s.length === Tmax ? [...s] : [...s, ...new Array<number>(Tmax - s.length).fill(0)]));
    const attentionMask = ragged ? seqs.map((s) => Array.from({ length: Tmax }, (_, t) => (t < s.length ? 1 : 0))) : undefined;
    const { cache } = model.runWithCache(input, { names, logits: 'none', attentionMask });
    for (let l = 0; l < L; l++) {
      const a = cache.at(names[l]!);
      const src = (a.isContiguous() ? a.data : a.toTypedArray()) as FloatArray;
      const base = a.isContiguous() ? a.offset : 0;
      const dst = layers[l]!;
      let row = 0;
      for (let b = 0; b < seqs.length; b++) {
        const len = lengths[b]!;
        const from = base + b * Tmax * d;
        dst.set(src.subarray(from, from + len * d), row * d);
        row += len;
      }
    }
  });
  return { n, layers };
}

/**
 * Residual streams of a text set: computed once and kept (`cached`), or
 * recomputed for every batch when they would not fit the memory budget.
 */
class ResidualSource {
  private readonly store: Rows | null = null;
  private readonly starts: number[] = [];

  constructor(private readonly model: HookedTransformer, readonly seqs: Seqs, cached: boolean, forwardBatch: number) {
    if (!cached) return;
    const parts: Rows[] = [];
    for (let i = 0; i < seqs.length; i += forwardBatch) parts.push(forwardRows(model, seqs.slice(i, i + forwardBatch)));
    const d = model.cfg.dModel;
    const n = parts.reduce((a, p) => a + p.n, 0);
    const layers = Array.from({ length: model.cfg.nLayers }, (_, l) => {
      const out = new Float32Array(n * d);
      let row = 0;
      for (const p of parts) {
        out.set(p.layers[l]!, row * d);
        row += p.n;
      }
      return out;
    });
    this.store = { n, layers };
    let s = 0;
    for (const q of seqs) {
      this.starts.push(s);
      s += q.length;
    }
  }

  /** Rows of the chosen sequences, per layer as [N, d_model] tensors. */
  rows(indices: readonly number[]): Tensor[] {
    const d = this.model.cfg.dModel;
    if (this.store === null) {
      const r = forwardRows(this.model, indices.map((i) => this.seqs[i]!));
      return r.layers.map((a) => tensor(a, [r.n, d]));
    }
    const n = indices.reduce((a, i) => a + this.seqs[i]!.length, 0);
    return this.store.layers.map((src) => {
      const out = new Float32Array(n * d);
      let row = 0;
      for (const i of indices) {
        const len = this.seqs[i]!.length;
        const s = this.starts[i]!;
        out.set(src.subarray(s * d, (s + len) * d), row * d);
        row += len;
      }
      return tensor(out, [n, d]);
    });
  }
}

/** The target distribution: the model's own read-out of its last residual stream. */
function targetOf(model: HookedTransformer, last: Tensor): { logp: Tensor; p: Tensor } {
  return noGrad(() => {
    const logp = logSoftmax(readOut(model, last));
    return { logp, p: exp(logp) };
  });
}

function checkTexts(model: HookedTransformer, texts: Seqs, what: string, maxLength: number): (readonly number[])[] {
  if (!Array.isArray(texts) || texts.length === 0) throw new TunedLensError(`${what}: no token sequences given`);
  return texts.map((s, i) => {
    if (!Array.isArray(s) || s.length === 0) throw new TunedLensError(`${what}: sequence ${i} is empty`);
    for (const v of s) {
      if (!(Number.isInteger(v) && v >= 0 && v < model.cfg.dVocab)) throw new TunedLensError(`${what}: sequence ${i} has token id ${v}, outside the vocabulary [0, ${model.cfg.dVocab})`);
    }
    return s.length > maxLength ? s.slice(0, maxLength) : s;
  });
}

function checkLens(model: HookedTransformer, lens: TunedLens, what: string): void {
  if (lens.dModel !== model.cfg.dModel || lens.nLayers !== model.cfg.nLayers) {
    throw new TunedLensError(`${what}: the lens is for d_model ${lens.dModel}, ${lens.nLayers} layers; the model has d_model ${model.cfg.dModel}, ${model.cfg.nLayers} layers`);
  }
}

/** Per-layer summed KL over the rows of one batch (float64 sums). */
function batchKLSums(model: HookedTransformer, lens: TunedLens, hs: readonly Tensor[]): number[] {
  const L = model.cfg.nLayers;
  return noGrad(() => {
    const target = targetOf(model, hs[L - 1]!);
    return hs.map((h, l) => {
      const kl = klFromTarget(target, readOut(model, lens.translate(l, h)));
      let s = 0;
      for (const v of kl.toTypedArray()) s += v;
      return s;
    });
  });
}

function evalKL(model: HookedTransformer, lens: TunedLens, src: ResidualSource, batchSize: number): number[] {
  const L = model.cfg.nLayers;
  const sums = new Array<number>(L).fill(0);
  let n = 0;
  for (let i = 0; i < src.seqs.length; i += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, src.seqs.length - i) }, (_, k) => i + k);
    const hs = src.rows(idx);
    const s = batchKLSums(model, lens, hs);
    for (let l = 0; l < L; l++) sums[l]! += s[l]!;
    n += hs[0]!.shape[0]!;
  }
  return sums.map((s) => s / n);
}

export interface LensKLOptions {
  /** sequences per forward pass (default 8) */
  batchSize?: number;
  /** truncate longer sequences (default: the model's context length) */
  maxLength?: number;
}

/**
 * Mean KL(final ‖ lens) per layer over every position of `texts` (token id
 * sequences), without recording gradients. Entry l reads the residual after
 * block l; the last entry is the model's own read-out (0 up to rounding).
 */
export function lensKL(model: HookedTransformer, lens: TunedLens, texts: Seqs, opts: LensKLOptions = {}): number[] {
  checkLens(model, lens, 'lensKL');
  const batchSize = opts.batchSize ?? 8;
  const seqs = checkTexts(model, texts, 'lensKL', opts.maxLength ?? model.cfg.nCtx);
  return evalKL(model, lens, new ResidualSource(model, seqs, false, batchSize), batchSize);
}

/**
 * The training loss on some sequences as a differentiable scalar: mean over
 * positions and over layers 0..L-2 of KL(p_final ‖ p_lens). (For checks and
 * custom loops; trainTunedLens takes gradients layer by layer instead, which
 * needs less memory and gives the same values.)
 */
export function tunedLensLoss(model: HookedTransformer, lens: TunedLens, texts: Seqs): Tensor {
  checkLens(model, lens, 'tunedLensLoss');
  const seqs = checkTexts(model, texts, 'tunedLensLoss', model.cfg.nCtx);
  const L = model.cfg.nLayers;
  if (L < 2) throw new TunedLensError('tunedLensLoss: a 1-layer model has no intermediate layer to translate');
  const hs = forwardRows(model, seqs).layers.map((a) => tensor(a, [a.length / model.cfg.dModel, model.cfg.dModel]));
  const target = targetOf(model, hs[L - 1]!);
  let total: Tensor | null = null;
  for (let l = 0; l < L - 1; l++) {
    const kl = mean(klFromTarget(target, readOut(model, lens.translate(l, hs[l]!))));
    total = total === null ? kl : add(total, kl);
  }
  return scale(total!, 1 / (L - 1));
}

export interface TrainTunedLensOptions {
  /** optimizer steps (default 250) */
  steps?: number;
  /** peak learning rate of AdamW (default 1e-3); linear warmup then cosine decay to lr/10 */
  lr?: number;
  /** warmup steps (default 10% of steps) */
  warmupSteps?: number;
  /** sequences per step (default 8) */
  batchSize?: number;
  /** seed of the batch shuffling (default 0) */
  seed?: number;
  /** AdamW's decoupled weight decay on A (towards the identity translator; default 0.01; b is not decayed) */
  weightDecay?: number;
  /** global gradient-norm clip (default 1) */
  maxGradNorm?: number;
  /** truncate longer sequences (default: the model's context length) */
  maxLength?: number;
  /**
   * keep every residual stream of the text set in memory instead of running
   * the model for every batch (default: when it takes at most 256 MiB)
   */
  cacheActivations?: boolean;
  /** texts on which klBefore/klAfter are measured (default: the training texts) */
  evalTexts?: Seqs;
  /** start from this lens (it is trained in place) instead of the identity */
  init?: TunedLens;
  onProgress?: (step: number, total: number, loss: number) => void;
}

export interface TrainTunedLensResult {
  lens: TunedLens;
  /** training loss (mean KL over positions and layers 0..L-2) at each step, before its update */
  losses: number[];
  /** per layer (0..L-1), mean KL(final ‖ logit lens) on the evaluation texts before training */
  klBefore: number[];
  /** per layer, mean KL(final ‖ tuned lens) after training */
  klAfter: number[];
}

/**
 * Train a tuned lens for `model` on token id sequences. The model is frozen;
 * each step runs it without gradients (or reads the kept residual streams),
 * then for each layer l < L−1 takes the gradient of
 * mean KL(softmax(final logits) ‖ softmax(unembed(finalNorm(T_l(h_l))))) / (L−1)
 * with respect to A_l and b_l, clips the global gradient norm and applies
 * AdamW with warmup + cosine decay. Deterministic for a seed.
 */
export function trainTunedLens(model: HookedTransformer, texts: Seqs, opts: TrainTunedLensOptions = {}): TrainTunedLensResult {
  const cfg = model.cfg;
  const L = cfg.nLayers;
  const d = cfg.dModel;
  if (L < 2) throw new TunedLensError('trainTunedLens: a 1-layer model has no intermediate layer to translate');
  const steps = opts.steps ?? 250;
  const lr = opts.lr ?? 1e-3;
  const batchSize = opts.batchSize ?? 8;
  const maxGradNorm = opts.maxGradNorm ?? 1;
  const warmupSteps = opts.warmupSteps ?? Math.max(1, Math.round(steps / 10));
  const posInt = (v: number, k: string) => {
    if (!(Number.isInteger(v) && v > 0)) throw new TunedLensError(`trainTunedLens: ${k} must be a positive integer, got ${v}`);
  };
  posInt(steps, 'steps');
  posInt(batchSize, 'batchSize');
  if (!(lr > 0 && Number.isFinite(lr))) throw new TunedLensError(`trainTunedLens: lr must be a positive number, got ${lr}`);
  if (!(maxGradNorm > 0)) throw new TunedLensError(`trainTunedLens: maxGradNorm must be positive, got ${maxGradNorm}`);
  const maxLength = opts.maxLength ?? cfg.nCtx;
  const seqs = checkTexts(model, texts, 'trainTunedLens', maxLength);
  const evalSeqs = opts.evalTexts === undefined ? null : checkTexts(model, opts.evalTexts, 'trainTunedLens (evalTexts)', maxLength);

  const lens = opts.init ?? TunedLens.identity(model);
  checkLens(model, lens, 'trainTunedLens');
  if (lens.source === null) lens.source = model.source;

  const tokens = seqs.reduce((a, s) => a + s.length, 0);
  const cached = opts.cacheActivations ?? tokens * L * d * 4 <= 256 * 2 ** 20;
  const train = new ResidualSource(model, seqs, cached, batchSize);
  const evalSrc = evalSeqs === null ? train : new ResidualSource(model, evalSeqs, false, batchSize);

  const identity = new TunedLens(d, L);
  const klBefore = evalKL(model, identity, evalSrc, batchSize);

  const params = lens.parameters();
  const wasTrainable = params.map((p) => p.requiresGrad);
  for (const p of params) p.requireGrad();
  const bs = new Set<Tensor>(lens.b);
  const opt = new AdamW(params, { lr, weightDecay: opts.weightDecay ?? 0.01, noDecay: (p) => bs.has(p) });
  const rng = new Rng(opts.seed ?? 0);
  let order: number[] = [];
  let cursor = 0;
  const nextBatch = (): number[] => {
    const take = Math.min(batchSize, seqs.length);
    const out: number[] = [];
    while (out.length < take) {
      if (cursor >= order.length) {
        order = rng.shuffle(Array.from({ length: seqs.length }, (_, i) => i));
        cursor = 0;
      }
      out.push(order[cursor++]!);
    }
    return out;
  };

  const losses: number[] = [];
  try {
    enableGrad(() => {
      for (let step = 0; step < steps; step++) {
        const hs = train.rows(nextBatch());
        const target = targetOf(model, hs[L - 1]!);
        let loss = 0;
        for (let l = 0; l < L - 1; l++) {
          const A = lens.A[l]!;
          const b = lens.b[l]!;
          const kl = scale(mean(klFromTarget(target, readOut(model, lens.translate(l, hs[l]!)))), 1 / (L - 1));
          loss += kl.item();
          const [gA, gb] = grad(kl, [A, b]);
          A.grad = contiguous(gA!);
          b.grad = contiguous(gb!);
        }
        losses.push(loss);
        opt.lr = cosineLr(step, { lr, warmupSteps, totalSteps: steps });
        opt.step({ gradScale: clipScale(gradNorm(params), maxGradNorm) });
        opt.zeroGrad();
        opts.onProgress?.(step + 1, steps, loss);
      }
    });
  } finally {
    params.forEach((p, i) => {
      p.requireGrad(wasTrainable[i]);
      p.grad = null;
    });
  }
  const klAfter = evalKL(model, lens, evalSrc, batchSize);
  return { lens, losses, klBefore, klAfter };
}
