/**
 * The logit lens (nostalgebraist 2020): read the residual stream at every
 * layer through the model's own final norm and unembedding, as if the model
 * stopped there. With a translator (the tuned lens, Belrose et al. 2023) each
 * layer's residual is first mapped by a learned affine translator.
 *
 * For chosen positions and every layer it reports the top-k tokens and the
 * probability, log-probability and rank of target tokens — enough to see at
 * which layer an answer appears, and whether it is later overwritten.
 */
import { CandorError } from '../tensor/errors.js';
import { noGrad } from '../tensor/autograd.js';
import { Tensor } from '../tensor/tensor.js';
import { scale, tanh } from '../tensor/ops/basic.js';
import { layerNorm, rmsNorm } from '../tensor/ops/nn.js';
import { linear } from '../tensor/ops/matmul.js';
import { contiguousCopy } from '../tensor/ops/basic.js';
import type { HookedTransformer } from '../model/transformer.js';
import { blockHook, type HookName } from '../model/hooks.js';
import { logProbs } from './metrics.js';

export class LensError extends CandorError {
  override name = 'LensError';
}

export type LensSite = 'resid_pre' | 'resid_mid' | 'resid_post';

/** Maps the residual stream after block `layer` (resid_post) before it is read out. */
export type Translator = (layer: number, residual: Tensor) => Tensor;

export interface LensOptions {
  /** positions to read (default: the last) */
  positions?: readonly number[];
  /** residual points read at every layer (default: resid_post) */
  sites?: readonly LensSite[];
  /** tokens whose probability and rank are reported */
  targets?: readonly number[];
  topK?: number;
  /**
   * tuned-lens translator; applied to resid_post of layer l and to resid_pre
   * of layer l+1 (the same stream). resid_mid and the embeddings (resid_pre of
   * layer 0) have no translator and are read through the plain logit lens;
   * each entry says which it got.
   */
  translator?: Translator;
}

export interface TokenReadout {
  token: number;
  prob: number;
  logprob: number;
  /** 0 = the most likely token */
  rank: number;
}

export interface LensEntry {
  layer: number;
  site: LensSite;
  position: number;
  /** read through a translator (tuned lens); false for points that have none: resid_mid, and resid_pre of layer 0 (the embeddings) */
  translated: boolean;
  top: TokenReadout[];
  targets: TokenReadout[];
}

export interface LensResult {
  positions: number[];
  sites: LensSite[];
  /** one entry per (layer, site, position), in forward order */
  entries: LensEntry[];
  /** the model's own output at each position */
  final: LensEntry[];
  translated: boolean;
}

/**
 * Logits of residual-stream vectors [..., d_model] through the model's final
 * norm, unembedding and soft-capping. The model's weights are used detached:
 * gradients (tuned-lens training) reach the residual, never the weights.
 */
export function readOut(model: HookedTransformer, residual: Tensor): Tensor {
  const cfg = model.cfg;
  const n = model.weights.lnFinal;
  const det = (t: Tensor | null): Tensor | null => (t === null ? null : t.detach());
  const normed = cfg.norm === 'layer' ? layerNorm(residual, det(n.w), det(n.b), cfg.normEps) : rmsNorm(residual, det(n.w), cfg.normEps, cfg.normOffset);
  let logits = linear(normed, model.weights.unembed.detach());
  if (cfg.finalSoftcap !== null) logits = scale(tanh(scale(logits, 1 / cfg.finalSoftcap)), cfg.finalSoftcap);
  return logits;
}

function readRow(row: Float32Array, layer: number, site: LensSite, position: number, topK: number, targets: readonly number[], translated = false): LensEntry {
  const lp = logProbs(row);
  const order = Array.from(row, (_, i) => i);
  const top = order.sort((a, b) => row[b]! - row[a]! || a - b).slice(0, topK);
  const rank = (t: number) => {
    let r = 0;
    for (let i = 0; i < row.length; i++) if (row[i]! > row[t]!) r++;
    return r;
  };
  const readout = (t: number): TokenReadout => ({ token: t, prob: Math.exp(lp[t]!), logprob: lp[t]!, rank: rank(t) });
  return { layer, site, position, translated, top: top.map((t, i) => ({ ...readout(t), rank: i })), targets: targets.map(readout) };
}

function siteName(site: LensSite, layer: number): HookName {
  return blockHook(layer, site === 'resid_pre' ? 'hook_resid_pre' : site === 'resid_mid' ? 'hook_resid_mid' : 'hook_resid_post');
}

export function logitLens(model: HookedTransformer, ids: readonly number[], opts: LensOptions = {}): LensResult {
  const cfg = model.cfg;
  const T = ids.length;
  const V = cfg.dVocab;
  const positions = (opts.positions ?? [T - 1]).map((p) => (p < 0 ? p + T : p));
  for (const p of positions) if (!(Number.isInteger(p) && p >= 0 && p < T)) throw new LensError(`position ${p} is outside the ${T} positions of the prompt`);
  const sites = [...(opts.sites ?? ['resid_post'])] as LensSite[];
  if (sites.includes('resid_mid') && cfg.parallelResidual) throw new LensError(`this model (${cfg.family}) adds attention and MLP in parallel: it has no resid_mid. Use resid_pre or resid_post.`);
  const targets = opts.targets ?? [];
  for (const t of targets) if (!(Number.isInteger(t) && t >= 0 && t < V)) throw new LensError(`target ${t} is not a token id in [0, ${V})`);
  const topK = opts.topK ?? 5;
  const tr = opts.translator;
  return noGrad(() => {
    const names: HookName[] = [];
    for (let l = 0; l < cfg.nLayers; l++) for (const s of sites) names.push(siteName(s, l));
    const { logits, cache } = model.runWithCache([ids], { names });
    const entries: LensEntry[] = [];
    for (let l = 0; l < cfg.nLayers; l++) {
      for (const s of sites) {
        let resid = cache.at(siteName(s, l));
        let translated = false;
        if (tr !== undefined) {
          // the translators are for the stream after block l (resid_post l = resid_pre l+1); the last layer's output needs none
          if (s === 'resid_post' && l < cfg.nLayers - 1) {
            resid = tr(l, resid);
            translated = true;
          } else if (s === 'resid_pre' && l > 0) {
            resid = tr(l - 1, resid);
            translated = true;
          } else if (s === 'resid_post') translated = true;
        }
        const out = readOut(model, resid);
        const c = out.isContiguous() ? out : contiguousCopy(out);
        const d = c.data as Float32Array;
        for (const p of positions) entries.push(readRow(d.slice(c.offset + p * V, c.offset + (p + 1) * V), l, s, p, topK, targets, translated));
      }
    }
    const lc = logits!.isContiguous() ? logits! : contiguousCopy(logits!);
    const ld = lc.data as Float32Array;
    const final = positions.map((p) => readRow(ld.slice(lc.offset + p * V, lc.offset + (p + 1) * V), cfg.nLayers, 'resid_post', p, topK, targets));
    return { positions, sites, entries, final, translated: tr !== undefined };
  });
}
