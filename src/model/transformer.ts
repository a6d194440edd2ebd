/**
 * HookedTransformer: one decoder-only transformer for every supported family,
 * with TransformerLens hook points. A family is a set of switches in
 * ModelConfig plus a weight table in its file under families/.
 *
 * Inference recycles buffers block by block (each block runs in a buffer
 * scope); tensors handed to hooks or cached are kept. Runs that need
 * gradients (trainable weights, backward hooks, gradients at hook points)
 * record the graph instead.
 */
import { CandorError, ShapeError, fmtShape } from '../tensor/errors.js';
import { grad as autogradGrad, isGradEnabled, record } from '../tensor/autograd.js';
import { scope } from '../tensor/pool.js';
import { Tensor, empty, ids as idsTensor, keep, zeros } from '../tensor/tensor.js';
import { add, div, gelu, mul, relu, scale, silu, tanh } from '../tensor/ops/basic.js';
import { attentionSoftmax, embedding, layerNorm, maskedFill, rmsNorm, rotary, softmax, type AttentionMaskSpec } from '../tensor/ops/nn.js';
import { linear, matmul } from '../tensor/ops/matmul.js';
import { concat, indexSelect, permute, reshape, slice, unsqueeze } from '../tensor/ops/shape.js';
import { sum, topk } from '../tensor/ops/reduce.js';
import type { ModelConfig } from './config.js';
import type { BlockWeights, ExpertWeights, ModelWeights, NormWeights } from './weights.js';
import { namedWeights } from './weights.js';
import { KVCache } from './cache.js';
import { BLOCK_HOOKS, EXPERT_HOOKS, MOE_HOOKS, blockHook, type HookContext, type HookFn, type HookName, type HookSelector, type HookSpec } from './hooks.js';

export class ModelInputError extends CandorError {
  override name = 'ModelInputError';
}

/** float32's most negative value: masked attention scores (as Hugging Face does; -inf would turn fully masked rows into NaN). */
const MASK_VALUE = -3.4028234663852886e38;

export type TokenInput = Tensor | readonly number[] | readonly (readonly number[])[];

export interface ForwardOptions {
  /** [batch, pos] with 1 for real tokens and 0 for padding (left padding for generation) */
  attentionMask?: Tensor | readonly (readonly number[])[];
  /** continue from (and extend) this cache */
  cache?: KVCache;
  fwdHooks?: readonly HookSpec[];
  bwdHooks?: readonly HookSpec[];
  /**
   * which positions get logits: every one (default, [batch, pos, vocab]), only the last
   * ([batch, 1, vocab]), none, or the listed ones: { at: flat positions b·pos + t } gives
   * [at.length, vocab] (a loss on a few positions per row skips the unembedding of the rest)
   */
  logits?: 'all' | 'last' | 'none' | { at: readonly number[] | Int32Array };
  /**
   * Start at block `layer` with this residual stream [batch, pos, d_model] as
   * its hook_resid_pre, skipping the embeddings and earlier blocks (their hook
   * points are not visited). The tokens still set positions and masks.
   */
  startAt?: { layer: number; residual: Tensor };
}

export interface CacheOptions extends ForwardOptions {
  /** which hook points to keep: names, or a predicate (default: all) */
  names?: HookSelector | readonly HookName[];
}

export interface RunResult {
  /** [batch, pos, vocab], or [batch, 1, vocab] with logits 'last'; null with 'none' */
  logits: Tensor | null;
}

/** Activations by hook name. */
export class ActivationCache extends Map<HookName, Tensor> {
  /** The activation at `name`; throws if it was not cached. */
  at(name: HookName): Tensor {
    const t = this.get(name);
    if (t === undefined) throw new ModelInputError(`activation '${name}' is not in the cache (cached: ${[...this.keys()].slice(0, 6).join(', ')}${this.size > 6 ? ', …' : ''})`);
    return t;
  }
}

/** A layer's attention mask: the spec the fused softmax reads, and the [B|1, 1, T, keys] tensor the unfused path builds on demand. */
interface LayerMask {
  spec: AttentionMaskSpec;
  tensor: () => Tensor;
}

interface RunState {
  fwd: (name: HookName) => readonly HookFn[];
  bwd: (name: HookName) => readonly HookFn[];
  cacheWants: (name: HookName) => boolean;
  cache: ActivationCache | null;
  gradWants: (name: HookName) => boolean;
  gradPoints: Map<HookName, Tensor> | null;
}

function selectorMatcher(sel: HookSelector | readonly HookName[] | undefined): (name: HookName) => boolean {
  if (sel === undefined) return () => true;
  if (typeof sel === 'function') return sel;
  if (typeof sel === 'string') return (n) => n === sel;
  const set = new Set(sel);
  return (n) => set.has(n);
}

function hookTable(specs: readonly HookSpec[] | undefined): (name: HookName) => readonly HookFn[] {
  if (specs === undefined || specs.length === 0) return () => [];
  const memo = new Map<HookName, HookFn[]>();
  return (name) => {
    let fns = memo.get(name);
    if (fns === undefined) {
      fns = specs.filter(([sel]) => (typeof sel === 'function' ? sel(name) : sel === name)).map(([, fn]) => fn);
      memo.set(name, fns);
    }
    return fns;
  };
}

function memoize(pred: (name: HookName) => boolean): (name: HookName) => boolean {
  const memo = new Map<HookName, boolean>();
  return (name) => {
    let v = memo.get(name);
    if (v === undefined) {
      v = pred(name);
      memo.set(name, v);
    }
    return v;
  };
}

export class HookedTransformer {
  /** tokenizer, when the checkpoint has one */
  tokenizer: import('../io/tokenizer.js').Tokenizer | null = null;
  /** where the model came from (folder or file) */
  source: string | null = null;
  /** the Hugging Face config.json object it was loaded from (saved back by saveModel) */
  hfConfig: Record<string, unknown> | null = null;

  constructor(readonly cfg: ModelConfig, readonly weights: ModelWeights) {
    if (weights.blocks.length !== cfg.nLayers) throw new ShapeError(`HookedTransformer: ${weights.blocks.length} blocks of weights for ${cfg.nLayers} layers`);
  }

  /** The tokenizer, or a ModelInputError saying how to get one. */
  requireTokenizer(): import('../io/tokenizer.js').Tokenizer {
    if (this.tokenizer === null) {
      throw new ModelInputError(
        `${this.source ?? 'this model'}: no tokenizer (tokenizer.json is missing from the model folder, or no llama2.c tokenizer .bin was found). ` +
          'Fix: copy tokenizer.json (and tokenizer_config.json) from the original model into the folder, or pass token ids instead of text.',
      );
    }
    return this.tokenizer;
  }

  /** Every hook point of this model, in the order a forward pass visits them. */
  hookNames(): HookName[] {
    const names: HookName[] = ['hook_embed'];
    if (this.cfg.positional === 'learned') names.push('hook_pos_embed');
    for (let l = 0; l < this.cfg.nLayers; l++) {
      for (const s of BLOCK_HOOKS) {
        if (s === 'hook_resid_mid' && this.cfg.parallelResidual) continue;
        if ((s === 'attn.hook_rot_q' || s === 'attn.hook_rot_k') && (this.cfg.positional !== 'rotary' || this.cfg.layerRope[l] === null)) continue;
        if ((s === 'ln1.hook_normalized' || s === 'ln2.hook_normalized') && !this.cfg.preNorms) continue;
        if (s === 'mlp.hook_pre_linear' && !this.cfg.gated) continue;
        if ((s === 'hook_attn_out_pre_norm' || s === 'hook_mlp_out_pre_norm') && !this.cfg.postNorms) continue;
        const experts = this.weights.blocks[l]!.experts;
        if (experts !== null && (s === 'mlp.hook_pre' || s === 'mlp.hook_pre_linear')) continue;
        if (experts !== null && s === 'mlp.hook_post') {
          names.push(...MOE_HOOKS.map((m) => blockHook(l, m)));
          for (let e = 0; e < experts.length; e++) names.push(...EXPERT_HOOKS.map((h) => blockHook(l, `mlp.experts.${e}.${h}`)));
          continue;
        }
        names.push(blockHook(l, s));
      }
    }
    names.push('ln_final.hook_normalized');
    return names;
  }

  /** Named weight tensors. */
  parameters(): Map<string, Tensor> {
    return namedWeights(this.weights);
  }

  parameterCount(): number {
    let n = 0;
    for (const t of this.parameters().values()) n += t.size;
    return n;
  }

  // -------------------------------------------------------------------------
  // public entry points

  /** Logits of a batch of token ids. */
  forward(input: TokenInput, opts: ForwardOptions = {}): RunResult {
    return this.execute(input, opts, this.state(opts, null, null));
  }

  /** Forward with hooks that read or replace activations (and backward hooks on their gradients). */
  runWithHooks(input: TokenInput, opts: ForwardOptions = {}): RunResult {
    return this.forward(input, opts);
  }

  /** Forward, keeping the activations at the chosen hook points. */
  runWithCache(input: TokenInput, opts: CacheOptions = {}): RunResult & { cache: ActivationCache } {
    const cache = new ActivationCache();
    const wants = memoize(selectorMatcher(opts.names));
    const r = this.execute(input, opts, this.state(opts, { wants, cache }, null));
    return { ...r, cache };
  }

  /**
   * Gradients of a scalar metric of the logits with respect to the
   * activations at the chosen hook points (the total derivative at each
   * point, through everything downstream of it).
   */
  gradients(
    input: TokenInput,
    metric: (logits: Tensor) => Tensor,
    names: HookSelector | readonly HookName[],
    opts: ForwardOptions = {},
  ): { value: number; logits: Tensor; activations: Map<HookName, Tensor>; grads: Map<HookName, Tensor> } {
    if (!isGradEnabled()) throw new ModelInputError('gradients() needs gradient recording; do not call it inside noGrad()');
    const points = new Map<HookName, Tensor>();
    const wants = memoize(selectorMatcher(names));
    const r = this.execute(input, { ...opts, logits: opts.logits ?? 'all' }, this.state(opts, null, { wants, points }));
    const m = metric(r.logits!);
    if (m.size !== 1) throw new ShapeError(`gradients: the metric must be a scalar, got shape ${fmtShape(m.shape)}`);
    const names_ = [...points.keys()];
    if (names_.length === 0) throw new ModelInputError('gradients: no hook point matched the names given');
    const gs = autogradGrad(m, names_.map((n) => points.get(n)!));
    const grads = new Map<HookName, Tensor>();
    names_.forEach((n, i) => grads.set(n, gs[i]!));
    return { value: m.item(), logits: r.logits!, activations: points, grads };
  }

  // -------------------------------------------------------------------------
  // the forward pass

  private state(
    opts: ForwardOptions,
    cache: { wants: (n: HookName) => boolean; cache: ActivationCache } | null,
    grads: { wants: (n: HookName) => boolean; points: Map<HookName, Tensor> } | null,
  ): RunState {
    return {
      fwd: hookTable(opts.fwdHooks),
      bwd: hookTable(opts.bwdHooks),
      cacheWants: cache?.wants ?? (() => false),
      cache: cache?.cache ?? null,
      gradWants: grads?.wants ?? (() => false),
      gradPoints: grads?.points ?? null,
    };
  }

  /** Does anything look at this hook point? (hook_result is only computed then) */
  private watched(run: RunState, name: HookName): boolean {
    return run.fwd(name).length > 0 || run.bwd(name).length > 0 || run.cacheWants(name) || run.gradWants(name);
  }

  /** Pass an activation through its hook point. */
  private point(run: RunState, name: HookName, layer: number | null, x: Tensor): Tensor {
    const fwd = run.fwd(name);
    const bwd = run.bwd(name);
    const wantsCache = run.cacheWants(name);
    const wantsGrad = run.gradWants(name);
    if (fwd.length === 0 && bwd.length === 0 && !wantsCache && !wantsGrad) return x;
    const ctx: HookContext = { name, layer };
    let y = keep(x);
    for (const fn of fwd) {
      const r = fn(y, ctx);
      if (r !== undefined) {
        if (!(r instanceof Tensor) || r.ndim !== y.ndim || r.shape.some((d, i) => d !== y.shape[i])) {
          throw new ModelInputError(`hook on '${name}' returned ${r instanceof Tensor ? `shape ${fmtShape(r.shape)}` : String(r)}; it must return a tensor of shape ${fmtShape(y.shape)} or nothing`);
        }
        y = keep(r);
      }
    }
    if (wantsGrad || bwd.length > 0) {
      if (!isGradEnabled()) throw new ModelInputError(`gradients at '${name}' need gradient recording; do not run inside noGrad()`);
      if (!y.requiresGrad) y.requiresGrad = true;
      if (wantsGrad) run.gradPoints!.set(name, y);
      if (bwd.length > 0) {
        const src = y;
        const out = new Tensor(src.storage, src.dtype, src.shape, src.strides, src.offset);
        y = record(out, `hook ${name}`, [src], (g) => {
          let gg = g;
          for (const fn of bwd) {
            const r = fn(gg, ctx);
            if (r !== undefined) gg = r;
          }
          return [gg];
        });
      }
    }
    if (wantsCache) run.cache!.set(name, y);
    return y;
  }

  private toIds(input: TokenInput): Tensor {
    let t: Tensor;
    if (input instanceof Tensor) t = input;
    else if (input.length > 0 && Array.isArray(input[0])) {
      const rows = input as readonly (readonly number[])[];
      const T = rows[0]!.length;
      if (rows.some((r) => r.length !== T)) throw new ModelInputError('token batch rows have different lengths; pad them and pass an attentionMask');
      t = idsTensor(rows.flat() as number[], [rows.length, T]);
    } else t = idsTensor([...(input as readonly number[])], [1, input.length]);
    if (t.dtype !== 'int32') throw new ModelInputError(`token ids must be an int32 tensor, got ${t.dtype}`);
    if (t.ndim === 1) t = reshape(t, [1, t.shape[0]!]);
    if (t.ndim !== 2) throw new ModelInputError(`token ids must be [batch, pos], got ${fmtShape(t.shape)}`);
    if (t.shape[1] === 0) throw new ModelInputError('no tokens given');
    const d = t.toTypedArray() as Int32Array;
    for (let i = 0; i < t.size; i++) {
      const v = d[i]!;
      if (!(v >= 0 && v < this.cfg.dVocab)) throw new ModelInputError(`token id ${v} is outside the vocabulary [0, ${this.cfg.dVocab})`);
    }
    return t;
  }

  private execute(input: TokenInput, opts: ForwardOptions, run: RunState): RunResult {
    const ids = this.toIds(input);
    return scope(() => this.run(ids, opts, run));
  }

  private run(ids: Tensor, opts: ForwardOptions, run: RunState): RunResult {
    const cfg = this.cfg;
    const w = this.weights;
    const [B, T] = ids.shape as [number, number];
    const cache = opts.cache ?? null;
    const past = cache?.length ?? 0;
    const total = past + T;
    if (cfg.positional === 'learned' && total > cfg.nCtx) throw new ModelInputError(`${total} positions exceed this model's ${cfg.nCtx} learned positions`);
    cache?.ensure(T, B);

    // attention mask of the whole (cached + new) sequence, and position ids
    const newMask = this.maskRows(opts.attentionMask, B, T);
    const fullMask = new Int32Array(B * total);
    let padded = false;
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < past; j++) fullMask[b * total + j] = cache!.mask[b * cache!.capacity + j]!;
      for (let t = 0; t < T; t++) fullMask[b * total + past + t] = newMask === null ? 1 : newMask[b * T + t]!;
      for (let j = 0; j < total; j++) if (fullMask[b * total + j] === 0) padded = true;
    }
    const positions = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      let p = cache === null ? 0 : cache.nextPosition[b]!;
      for (let t = 0; t < T; t++) {
        const real = fullMask[b * total + past + t] === 1;
        positions[b * T + t] = real ? p : 0;
        if (real) p++;
      }
    }

    // embeddings (unless starting later, from a given residual stream)
    const start = opts.startAt;
    let x: Tensor;
    if (start !== undefined) {
      if (!(Number.isInteger(start.layer) && start.layer >= 0 && start.layer <= cfg.nLayers)) throw new ModelInputError(`startAt.layer ${start.layer} must be in [0, ${cfg.nLayers}]`);
      const r = start.residual;
      if (r.ndim !== 3 || r.shape[0] !== B || r.shape[1] !== T || r.shape[2] !== cfg.dModel) {
        throw new ModelInputError(`startAt.residual has shape ${fmtShape(r.shape)}; it must be [${B}, ${T}, ${cfg.dModel}] for these tokens`);
      }
      if (cache !== null) throw new ModelInputError('startAt cannot be combined with a KV cache');
      x = r;
    } else {
      x = embedding(w.embed, ids);
      if (cfg.embedScale !== 1) x = scale(x, cfg.embedScale);
      x = this.point(run, 'hook_embed', null, x);
      if (w.posEmbed !== null) {
        const pe = this.point(run, 'hook_pos_embed', null, embedding(w.posEmbed, idsTensor(positions, [B, T])));
        x = add(x, pe);
      }
    }

    // one cos/sin table per rotary kind the layers use (Gemma 3: global and local bases)
    const ropes = new Map<'global' | 'local', { cos: Tensor; sin: Tensor }>();
    const ropeFor = (l: number) => {
      const kind = cfg.positional === 'rotary' ? cfg.layerRope[l] ?? null : null;
      if (kind === null) return null;
      let r = ropes.get(kind);
      if (r === undefined) ropes.set(kind, (r = this.rotaryTables(positions, B, T, padded, kind)));
      return r;
    };
    const masks = new Map<number | null, LayerMask>();
    const maskFor = (window: number | null): LayerMask => {
      let m = masks.get(window);
      if (m === undefined) {
        let t: Tensor | null = null;
        const spec: AttentionMaskSpec = { past, window, keyMask: padded ? fullMask : null };
        m = { spec, tensor: () => (t ??= keep(this.attentionMask(fullMask, padded, B, T, past, window))) };
        masks.set(window, m);
      }
      return m;
    };

    const mode = opts.logits ?? 'all';
    // Logits wanted at a few positions only (a loss on answer tokens): the last block need not
    // compute the positions before the earliest of them, except as keys and values
    const qFrom = typeof mode === 'object' ? this.lastBlockFrom(run, mode.at, B, T, cache, start?.layer ?? 0) : 0;
    let resid = x;
    for (let l = start?.layer ?? 0; l < cfg.nLayers; l++) {
      const mask = maskFor(cfg.slidingWindow[l] ?? null);
      const input = resid;
      const from = l === cfg.nLayers - 1 ? qFrom : 0;
      const rope = ropeFor(l);
      resid = scope(() => this.block(run, l, w.blocks[l]!, input, rope, mask, cache, past, from));
    }
    if (cache !== null) {
      // commit the new positions only once every block has run: a call that throws leaves the cache as it was
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) {
          cache.mask[b * cache.capacity + past + t] = fullMask[b * total + past + t]!;
          if (fullMask[b * total + past + t] === 1) cache.nextPosition[b]!++;
        }
      }
      cache.length = total;
    }

    const normed = this.point(run, 'ln_final.hook_normalized', null, this.norm(resid, w.lnFinal));
    if (mode === 'none') return { logits: null };
    const Tq = T - qFrom;
    const last = mode === 'last' ? slice(normed, 1, T - 1, T)
      : mode === 'all' ? normed
      : indexSelect(reshape(normed, [B * Tq, cfg.dModel]), 0, Array.from(mode.at, (i) => Math.floor(i / T) * Tq + (i % T) - qFrom));
    let logits = linear(last, w.unembed);
    if (cfg.finalSoftcap !== null) logits = scale(tanh(scale(logits, 1 / cfg.finalSoftcap)), cfg.finalSoftcap);
    return { logits };
  }

  /**
   * The first position the last block must compute as a query when logits are wanted only
   * at `at` (flat b·T + t): the earliest t among them, or 0 (every position) where the last
   * block or the final norm is hooked (hooks see whole sequences), a KV cache is in use, or
   * the last block is skipped.
   */
  private lastBlockFrom(run: RunState, at: readonly number[] | Int32Array, B: number, T: number, cache: KVCache | null, startLayer: number): number {
    const L = this.cfg.nLayers;
    if (cache !== null || startLayer > L - 1 || at.length === 0) return 0;
    let from = T;
    for (const i of at) {
      if (!(Number.isInteger(i) && i >= 0 && i < B * T)) throw new ModelInputError(`logits.at: position ${i} is outside the ${B}×${T} tokens given (flat index b·${T} + t)`);
      from = Math.min(from, i % T);
    }
    if (from === 0) return 0;
    const prefix = `blocks.${L - 1}.`;
    for (const name of this.hookNames()) {
      if ((name.startsWith(prefix) || name === 'ln_final.hook_normalized') && this.watched(run, name)) return 0;
    }
    return from;
  }

  private maskRows(mask: ForwardOptions['attentionMask'], B: number, T: number): Int32Array | null {
    if (mask === undefined) return null;
    let out: Int32Array;
    if (mask instanceof Tensor) {
      if (mask.ndim !== 2 || mask.shape[0] !== B || mask.shape[1] !== T) throw new ModelInputError(`attentionMask ${fmtShape(mask.shape)} must match the tokens [${B}, ${T}]`);
      out = Int32Array.from(mask.toArray());
    } else {
      if (mask.length !== B || mask.some((r) => r.length !== T)) throw new ModelInputError(`attentionMask must be ${B} rows of ${T} entries`);
      out = Int32Array.from(mask.flat());
    }
    for (const v of out) if (v !== 0 && v !== 1) throw new ModelInputError(`attentionMask entries must be 0 or 1, got ${v}`);
    return out;
  }

  /** cos/sin tables [T, half] (or [B, T, half] when positions differ by sequence), in float32 as Hugging Face computes them. */
  private rotaryTables(positions: Int32Array, B: number, T: number, perSequence: boolean, kind: 'global' | 'local'): { cos: Tensor; sin: Tensor } {
    const cfg = this.cfg;
    const half = cfg.rotaryDim / 2;
    const inv = ropeInvFreq(cfg, kind);
    const rows = perSequence ? B * T : T;
    const cos = empty(perSequence ? [B, T, half] : [T, half]);
    const sin = empty(perSequence ? [B, T, half] : [T, half]);
    const cd = cos.data;
    const sd = sin.data;
    for (let r = 0; r < rows; r++) {
      const p = positions[r]!;
      for (let i = 0; i < half; i++) {
        const a = Math.fround(p * inv[i]!);
        cd[r * half + i] = Math.cos(a);
        sd[r * half + i] = Math.sin(a);
      }
    }
    return { cos, sin };
  }

  /** 1 where query i (absolute past+i) may not attend key j: [B|1, 1, T, past+T]. */
  private attentionMask(fullMask: Int32Array, padded: boolean, B: number, T: number, past: number, window: number | null): Tensor {
    const total = past + T;
    const Bm = padded ? B : 1;
    const m = empty([Bm, 1, T, total], 'int32');
    const d = m.data;
    for (let b = 0; b < Bm; b++) {
      for (let i = 0; i < T; i++) {
        const qi = past + i;
        const row = (b * T + i) * total;
        for (let j = 0; j < total; j++) {
          let blocked = j > qi || (window !== null && j <= qi - window);
          if (padded && fullMask[b * total + j] === 0) blocked = true;
          d[row + j] = blocked ? 1 : 0;
        }
      }
    }
    return m;
  }

  private norm(x: Tensor, n: NormWeights | null): Tensor {
    if (n === null) return x;
    return this.cfg.norm === 'layer' ? layerNorm(x, n.w, n.b, this.cfg.normEps) : rmsNorm(x, n.w, this.cfg.normEps, this.cfg.normOffset);
  }

  private act(x: Tensor): Tensor {
    switch (this.cfg.act) {
      case 'gelu':
        return gelu(x, 'exact');
      case 'gelu_tanh':
        return gelu(x, 'tanh');
      case 'silu':
        return silu(x);
      case 'relu':
        return relu(x);
    }
  }

  /**
   * One block. With qFrom > 0 (only for an unhooked last block) positions before qFrom serve
   * as keys and values only: the block returns the residual stream of positions qFrom.. alone.
   */
  private block(
    run: RunState, l: number, bw: BlockWeights, x: Tensor,
    rope: { cos: Tensor; sin: Tensor } | null, mask: LayerMask, cache: KVCache | null, past: number, qFrom = 0,
  ): Tensor {
    const cfg = this.cfg;
    const T = x.shape[1]!;
    let residPre = this.point(run, blockHook(l, 'hook_resid_pre'), l, x);
    const h1 = bw.ln1 === null ? residPre : this.point(run, blockHook(l, 'ln1.hook_normalized'), l, this.norm(residPre, bw.ln1));
    let attnOut = this.attention(run, l, bw, h1, rope, mask, cache, past, qFrom);
    if (qFrom > 0) residPre = slice(residPre, 1, qFrom, T);
    if (bw.postAttnNorm !== null) attnOut = this.norm(this.point(run, blockHook(l, 'hook_attn_out_pre_norm'), l, attnOut), bw.postAttnNorm);
    attnOut = this.point(run, blockHook(l, 'hook_attn_out'), l, attnOut);
    let residPost: Tensor;
    if (cfg.parallelResidual) {
      const h2 = this.point(run, blockHook(l, 'ln2.hook_normalized'), l, this.norm(residPre, bw.ln2));
      const mlpOut = this.point(run, blockHook(l, 'hook_mlp_out'), l, this.mlp(run, l, bw, h2));
      residPost = add(add(residPre, attnOut), mlpOut);
    } else {
      const residMid = this.point(run, blockHook(l, 'hook_resid_mid'), l, add(residPre, attnOut));
      const h2 = bw.ln2 === null ? residMid : this.point(run, blockHook(l, 'ln2.hook_normalized'), l, this.norm(residMid, bw.ln2));
      let mlpOut = this.mlp(run, l, bw, h2);
      if (bw.postMlpNorm !== null) mlpOut = this.norm(this.point(run, blockHook(l, 'hook_mlp_out_pre_norm'), l, mlpOut), bw.postMlpNorm);
      mlpOut = this.point(run, blockHook(l, 'hook_mlp_out'), l, mlpOut);
      residPost = add(residMid, mlpOut);
    }
    return this.point(run, blockHook(l, 'hook_resid_post'), l, residPost);
  }

  private attention(
    run: RunState, l: number, bw: BlockWeights, h: Tensor,
    rope: { cos: Tensor; sin: Tensor } | null, mask0: LayerMask, cache: KVCache | null, past: number, qFrom: number,
  ): Tensor {
    const cfg = this.cfg;
    const [B, Tin] = h.shape as [number, number];
    const H = cfg.nHeads;
    const KV = cfg.nKVHeads;
    const dh = cfg.dHead;
    const rep = H / KV;
    // queries of positions qFrom.. only (0: all); keys and values of every position
    const T = Tin - qFrom;
    const hq = qFrom > 0 ? slice(h, 1, qFrom, Tin) : h;
    const mask: LayerMask = qFrom > 0 ? { spec: { ...mask0.spec, past: mask0.spec.past + qFrom }, tensor: () => { throw new Error('unreachable: a hooked block computes every query'); } } : mask0;
    let q = this.point(run, blockHook(l, 'attn.hook_q'), l, this.qkNormed(reshape(linear(hq, bw.wq, bw.bq), [B, T, H, dh]), bw.qNorm));
    let k = this.point(run, blockHook(l, 'attn.hook_k'), l, this.qkNormed(reshape(linear(h, bw.wk, bw.bk), [B, Tin, KV, dh]), bw.kNorm));
    const v = this.point(run, blockHook(l, 'attn.hook_v'), l, reshape(linear(h, bw.wv, bw.bv), [B, Tin, KV, dh]));
    if (rope !== null) {
      const ax = rope.cos.ndim - 2; // the position axis of [T, half] or [B, T, half]
      const qCos = qFrom > 0 ? slice(rope.cos, ax, qFrom, Tin) : rope.cos;
      const qSin = qFrom > 0 ? slice(rope.sin, ax, qFrom, Tin) : rope.sin;
      q = this.point(run, blockHook(l, 'attn.hook_rot_q'), l, rotary(q, qCos, qSin, cfg.rotaryLayout, cfg.rotaryDim));
      k = this.point(run, blockHook(l, 'attn.hook_rot_k'), l, rotary(k, rope.cos, rope.sin, cfg.rotaryLayout, cfg.rotaryDim));
    }
    let kAll = k;
    let vAll = v;
    if (cache !== null) {
      if (q.requiresGrad || k.requiresGrad || v.requiresGrad) throw new ModelInputError('a KV cache cannot be used while recording gradients');
      cache.write(l, k, v);
      const c = cache.view(l, past + T);
      kAll = c.k;
      vAll = c.v;
    }
    const Tk = kAll.shape[1]!;
    // grouped-query attention without repeating keys: each key-value head's query heads stacked as rows
    const qg = reshape(permute(reshape(q, [B, T, KV, rep, dh]), [0, 2, 3, 1, 4]), [B, KV, rep * T, dh]); // [B, KV, rep·T, dh]
    const kg = permute(kAll, [0, 2, 3, 1]); // [B, KV, dh, Tk]
    const raw = reshape(matmul(qg, kg), [B, H, T, Tk]);
    let patternIn: Tensor;
    if (this.watched(run, blockHook(l, 'attn.hook_attn_scores'))) {
      let scores = scale(raw, cfg.attnScale);
      if (cfg.attnSoftcap !== null) scores = scale(tanh(scale(scores, 1 / cfg.attnSoftcap)), cfg.attnSoftcap);
      scores = this.point(run, blockHook(l, 'attn.hook_attn_scores'), l, maskedFill(scores, mask.tensor(), MASK_VALUE));
      patternIn = softmax(scores);
    } else {
      patternIn = attentionSoftmax(raw, cfg.attnScale, cfg.attnSoftcap, mask.spec);
    }
    const pattern = this.point(run, blockHook(l, 'attn.hook_pattern'), l, patternIn);
    const vg = permute(vAll, [0, 2, 1, 3]); // [B, KV, Tk, dh]
    const zg = matmul(reshape(pattern, [B, KV, rep * T, Tk]), vg); // [B, KV, rep·T, dh]
    const z = this.point(run, blockHook(l, 'attn.hook_z'), l, permute(reshape(zg, [B, H, T, dh]), [0, 2, 1, 3]));
    const resultName = blockHook(l, 'attn.hook_result');
    if (this.watched(run, resultName)) {
      // per-head outputs: result[b, t, h] = z[b, t, h] · W_O[:, h]ᵀ
      const woh = permute(reshape(bw.wo, [cfg.dModel, H, dh]), [1, 2, 0]); // [H, dh, d_model]
      const result = this.point(run, resultName, l, permute(matmul(permute(z, [0, 2, 1, 3]), woh), [0, 2, 1, 3]));
      const summed = sum(result, 2);
      return bw.bo !== null ? add(summed, bw.bo) : summed;
    }
    return linear(reshape(z, [B, T, H * dh]), bw.wo, bw.bo);
  }

  /** Qwen3 / Gemma 3: RMSNorm of each head over d_head; OLMo 2: over the whole projection (every head of a position). */
  private qkNormed(x: Tensor, w: Tensor | null): Tensor {
    if (w === null) return x;
    if (this.cfg.qkNorm === 'head') return rmsNorm(x, w, this.cfg.normEps, this.cfg.normOffset);
    const [B, T, n, dh] = x.shape as [number, number, number, number];
    return reshape(rmsNorm(reshape(x, [B, T, n * dh]), w, this.cfg.normEps, this.cfg.normOffset), [B, T, n, dh]);
  }

  private mlp(run: RunState, l: number, bw: BlockWeights, h: Tensor): Tensor {
    if (bw.experts !== null) return this.moe(run, l, bw, h);
    let post: Tensor;
    if (bw.wGate !== null) {
      const pre = this.point(run, blockHook(l, 'mlp.hook_pre'), l, linear(h, bw.wGate, bw.bGate));
      const preLinear = this.point(run, blockHook(l, 'mlp.hook_pre_linear'), l, linear(h, bw.wIn!, bw.bIn));
      post = this.point(run, blockHook(l, 'mlp.hook_post'), l, mul(this.act(pre), preLinear));
    } else {
      const pre = this.point(run, blockHook(l, 'mlp.hook_pre'), l, linear(h, bw.wIn!, bw.bIn));
      post = this.point(run, blockHook(l, 'mlp.hook_post'), l, this.act(pre));
    }
    return linear(post, bw.wOut!, bw.bOut);
  }

  /**
   * A layer of experts: the router's softmax over all experts picks each token's top k; each
   * expert runs only on the tokens routed to it, and its output joins theirs weighted by its
   * probability (renormalised over the k chosen where the config says so).
   */
  private moe(run: RunState, l: number, bw: BlockWeights, h: Tensor): Tensor {
    const moe = this.cfg.moe!;
    const experts = bw.experts!;
    const [B, T, D] = h.shape as [number, number, number];
    const N = B * T;
    const E = experts.length;
    const k = moe.topK;
    const x = reshape(h, [N, D]);
    const logits = this.point(run, blockHook(l, 'mlp.hook_router_logits'), l, reshape(linear(x, bw.router!), [B, T, E]));
    const probs = this.point(run, blockHook(l, 'mlp.hook_expert_weights'), l, softmax(logits));
    const chosen = this.point(run, blockHook(l, 'mlp.hook_expert_indices'), l, topk(probs, k).indices); // [B, T, k]
    const idx = chosen.toTypedArray() as Int32Array;
    for (const e of idx) if (!(Number.isInteger(e) && e >= 0 && e < E)) throw new ModelInputError(`blocks.${l}.mlp.hook_expert_indices: expert ${e} is outside [0, ${E})`);
    // route[n, e]: probs[n, e] at the chosen experts, 0 elsewhere (a gather keeps the gradient to the router)
    const flatProbs = reshape(probs, [N * E]);
    let picked = reshape(indexSelect(flatProbs, 0, Array.from(idx, (e, j) => Math.floor(j / k) * E + e)), [N, k]);
    if (moe.normTopK) picked = div(picked, sum(picked, -1, true));
    const slotOf = new Int32Array(N * E).fill(-1);
    idx.forEach((e, j) => (slotOf[Math.floor(j / k) * E + e] = j));
    const route = this.point(run, blockHook(l, 'mlp.hook_route_weights'), l, reshape(
      indexSelect(concat([zeros([1]), reshape(picked, [N * k])], 0), 0, Array.from(slotOf, (j) => j + 1)), [B, T, E]));
    const flatRoute = reshape(route, [N * E]);
    // each expert on its tokens; outputs stacked after a zero row, then gathered back per token and slot
    const parts: Tensor[] = [zeros([1, D])];
    const rowOf = new Int32Array(N * k); // position of (token, slot) j = n·k + s in the stacked outputs
    const tokensOf: number[][] = Array.from({ length: E }, () => []);
    idx.forEach((e, j) => tokensOf[e]!.push(Math.floor(j / k)));
    let next = 1;
    for (let e = 0; e < E; e++) {
      const rows = tokensOf[e]!;
      const post = this.expertPost(run, l, e, experts[e]!, x, rows, [B, T]);
      if (post === null) continue;
      const w = reshape(indexSelect(flatRoute, 0, rows.map((n) => n * E + e)), [rows.length, 1]);
      parts.push(mul(linear(post, experts[e]!.wOut), w));
      rows.forEach((n, r) => (rowOf[slotOf[n * E + e]!] = next + r));
      next += rows.length;
    }
    const stacked = concat(parts, 0);
    let out = indexSelect(stacked, 0, Array.from({ length: N }, (_, n) => rowOf[n * k]!));
    for (let s = 1; s < k; s++) out = add(out, indexSelect(stacked, 0, Array.from({ length: N }, (_, n) => rowOf[n * k + s]!)));
    return reshape(out, [B, T, D]);
  }

  /** Expert e's hidden activations [rows, d_expert] on the tokens routed to it (null when none is); hooked as [B, T, d_expert] with zeros elsewhere. */
  private expertPost(run: RunState, l: number, e: number, w: ExpertWeights, x: Tensor, rows: readonly number[], [B, T]: [number, number]): Tensor | null {
    const names = EXPERT_HOOKS.map((s) => blockHook(l, `mlp.experts.${e}.${s}`));
    const watched = names.some((n) => this.watched(run, n));
    if (rows.length === 0) {
      // no token chose this expert: its hook points see zeros
      if (watched) for (const n of names) this.point(run, n, l, zeros([B, T, this.cfg.moe!.dExpert]));
      return null;
    }
    const xe = indexSelect(x, 0, rows);
    // hooked activations are dense over positions: scatter the rows in (row 0: zeros), and read them back after the hook
    const where = new Array<number>(B * T).fill(0);
    rows.forEach((n, r) => (where[n] = r + 1));
    const through = (name: HookName, a: Tensor): Tensor => {
      if (!watched) return a;
      const F = a.shape[1]!;
      const dense = reshape(indexSelect(concat([zeros([1, F]), a], 0), 0, where), [B, T, F]);
      return indexSelect(reshape(this.point(run, name, l, dense), [B * T, F]), 0, rows);
    };
    const pre = through(names[0]!, linear(xe, w.wGate));
    const preLinear = through(names[1]!, linear(xe, w.wIn));
    const post = through(names[2]!, mul(this.act(pre), preLinear));
    return rows.length === 0 ? null : post;
  }

  /** A fresh KV cache for `batch` sequences of up to `capacity` positions. */
  newCache(batch: number, capacity: number): KVCache {
    if (this.cfg.positional === 'learned' && capacity > this.cfg.nCtx) capacity = this.cfg.nCtx;
    return new KVCache(this.cfg, batch, capacity);
  }
}

/** Rotary inverse frequencies in float32, as Hugging Face computes them (default, linear and llama3 scaling). */
export function ropeInvFreq(cfg: ModelConfig, kind: 'global' | 'local' = 'global'): Float64Array {
  const dim = cfg.rotaryDim;
  const half = dim / 2;
  const inv = new Float64Array(half);
  const local = kind === 'local' ? cfg.localRope : null;
  const theta = local?.theta ?? cfg.rotaryTheta;
  for (let i = 0; i < half; i++) {
    const e = Math.fround(Math.fround(2 * i) / dim);
    inv[i] = Math.fround(1 / Math.fround(Math.pow(theta, e)));
  }
  const rs = local !== null ? local.scaling : cfg.ropeScaling;
  if (rs?.type === 'linear') for (let i = 0; i < half; i++) inv[i] = Math.fround(inv[i]! / rs.factor);
  if (rs?.type === 'llama3') {
    const old = rs.originalMaxPositionEmbeddings!;
    const lowWave = old / rs.lowFreqFactor!;
    const highWave = old / rs.highFreqFactor!;
    for (let i = 0; i < half; i++) {
      const f = inv[i]!;
      const wave = (2 * Math.PI) / f;
      let g = wave > lowWave ? f / rs.factor : f;
      if (!(wave < highWave) && !(wave > lowWave)) {
        const smooth = (old / wave - rs.lowFreqFactor!) / (rs.highFreqFactor! - rs.lowFreqFactor!);
        g = (1 - smooth) * (g / rs.factor) + smooth * g;
      }
      inv[i] = Math.fround(g);
    }
  }
  return inv;
}

