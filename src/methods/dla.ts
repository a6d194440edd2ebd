/**
 * Direct logit attribution: how much each component's write into the
 * residual stream moves a logit (or a logit difference) through the final
 * norm and the unembedding.
 *
 * The residual stream at the last layer is the sum of the embeddings, every
 * layer's attention output and every MLP output. The final norm's scale is
 * computed from that whole stream (as TransformerLens folds it in) and applied
 * to each part, so the readout is linear: contribution(c) = c · g with
 *   LayerNorm: g = rstd · ((w ⊙ u) − mean(w ⊙ u))   (centring is linear)
 *   RMSNorm:   g = rstd · ((offset + w) ⊙ u)
 * and u = W_U[a] − W_U[b]. Attention outputs split exactly into heads
 * (z_h · W_O,hᵀ) plus the output bias, MLP outputs into neurons
 * (post_n · W_out[:, n]) plus the bias; the final LayerNorm's bias adds b · u.
 * The parts sum to the logit difference the model computes (before Gemma 2's
 * final soft-capping, which is not linear).
 *
 * With Gemma 2's norms after attention and after the MLP, heads and neurons
 * do not add up to their block's output, so only layer-level parts are given.
 * A layer of experts splits into its experts (route weight × the expert's
 * output) instead of neurons.
 */
import { CandorError } from '../tensor/errors.js';
import { noGrad } from '../tensor/autograd.js';
import { contiguousCopy } from '../tensor/ops/basic.js';
import type { Tensor } from '../tensor/tensor.js';
import type { HookedTransformer } from '../model/transformer.js';
import { blockHook, type HookName } from '../model/hooks.js';

export class AttributionError extends CandorError {
  override name = 'AttributionError';
}

export interface DLAOptions {
  /** position whose logits are explained (default: the last) */
  position?: number;
  /** [a, b]: explain logit[a] − logit[b]; a single id: explain logit[a] */
  tokens: readonly [number, number] | readonly [number] | number;
}

export interface DLAResult {
  position: number;
  tokens: number[];
  /** the logit (difference) the model computes, before any final soft-capping */
  total: number;
  /** the sum of every part below (equals total up to rounding) */
  sum: number;
  /** token (and learned position) embeddings */
  embed: number;
  /** per layer: attention output (heads + bias) and MLP output (neurons + bias) */
  attn: number[];
  mlp: number[];
  /** [layer][head], or null when heads do not add up to the attention output */
  heads: number[][] | null;
  attnBias: number[];
  /** [layer][neuron], or null when neurons do not add up to the MLP output (empty for a layer of experts) */
  neurons: Float64Array[] | null;
  /** [layer][expert] for layers of experts (null entries for dense layers); null when the model has none or parts do not add up */
  experts: (number[] | null)[] | null;
  mlpBias: number[];
  /** the final LayerNorm's bias · u (0 for RMSNorm) */
  finalNormBias: number;
  notes: string[];
}

/** A tensor's elements in row-major order: a view when contiguous, else a copy. */
const arr = (t: Tensor): Float32Array => {
  const c = t.isContiguous() ? t : contiguousCopy(t);
  return (c.data as Float32Array).subarray(c.offset, c.offset + c.size);
};

export function directLogitAttribution(model: HookedTransformer, ids: readonly number[], opts: DLAOptions): DLAResult {
  const cfg = model.cfg;
  const T = ids.length;
  const p0 = opts.position ?? -1;
  const p = p0 < 0 ? p0 + T : p0;
  if (!(Number.isInteger(p) && p >= 0 && p < T)) throw new AttributionError(`position ${p0} is outside the ${T} positions of the prompt`);
  const toks = typeof opts.tokens === 'number' ? [opts.tokens] : [...opts.tokens];
  for (const t of toks) if (!(Number.isInteger(t) && t >= 0 && t < cfg.dVocab)) throw new AttributionError(`token ${t} is not an id in [0, ${cfg.dVocab})`);
  const L = cfg.nLayers;
  const D = cfg.dModel;
  const H = cfg.nHeads;
  const dh = cfg.dHead;
  const F = cfg.dMlp;
  const splits = !cfg.postNorms;

  return noGrad(() => {
    const names: HookName[] = ['hook_embed', blockHook(L - 1, 'hook_resid_post')];
    if (cfg.positional === 'learned') names.push('hook_pos_embed');
    for (let l = 0; l < L; l++) {
      names.push(blockHook(l, 'hook_attn_out'), blockHook(l, 'hook_mlp_out'));
      const ex = model.weights.blocks[l]!.experts;
      if (!splits) continue;
      names.push(blockHook(l, 'attn.hook_z'));
      if (ex === null) names.push(blockHook(l, 'mlp.hook_post'));
      else names.push(blockHook(l, 'mlp.hook_route_weights'), ...ex.map((_, e) => blockHook(l, `mlp.experts.${e}.hook_post`)));
    }
    const { cache } = model.runWithCache([ids], { names, logits: 'none' });

    // u = W_U[a] − W_U[b]
    const WU = arr(model.weights.unembed);
    const u = new Float64Array(D);
    for (let d = 0; d < D; d++) u[d] = WU[toks[0]! * D + d]! - (toks.length > 1 ? WU[toks[1]! * D + d]! : 0);

    // the final norm at position p, from the whole residual stream
    const x = arr(cache.at(blockHook(L - 1, 'hook_resid_post'))).subarray(p * D, (p + 1) * D);
    const w = arr(model.weights.lnFinal.w);
    const g = new Float64Array(D);
    let finalNormBias = 0;
    let total = 0;
    if (cfg.norm === 'layer') {
      let mean = 0;
      for (let d = 0; d < D; d++) mean += x[d]!;
      mean /= D;
      let v = 0;
      for (let d = 0; d < D; d++) v += (x[d]! - mean) ** 2;
      const rstd = 1 / Math.sqrt(v / D + cfg.normEps);
      let wuMean = 0;
      for (let d = 0; d < D; d++) wuMean += w[d]! * u[d]!;
      wuMean /= D;
      for (let d = 0; d < D; d++) g[d] = rstd * (w[d]! * u[d]! - wuMean);
      const b = model.weights.lnFinal.b === null ? null : arr(model.weights.lnFinal.b);
      if (b !== null) for (let d = 0; d < D; d++) finalNormBias += b[d]! * u[d]!;
      for (let d = 0; d < D; d++) total += ((x[d]! - mean) * rstd * w[d]! + (b === null ? 0 : b[d]!)) * u[d]!;
    } else {
      let ss = 0;
      for (let d = 0; d < D; d++) ss += x[d]! * x[d]!;
      const rstd = 1 / Math.sqrt(ss / D + cfg.normEps);
      for (let d = 0; d < D; d++) g[d] = rstd * (cfg.normOffset + w[d]!) * u[d]!;
      for (let d = 0; d < D; d++) total += x[d]! * g[d]!;
    }
    const dotAt = (t: Tensor, width: number, offset = 0): number => {
      const a = arr(t);
      let s = 0;
      for (let d = 0; d < D; d++) s += a[p * width + offset + d]! * g[d]!;
      return s;
    };
    const vecDot = (a: Float32Array | null): number => {
      if (a === null) return 0;
      let s = 0;
      for (let d = 0; d < D; d++) s += a[d]! * g[d]!;
      return s;
    };

    let embed = dotAt(cache.at('hook_embed'), D);
    if (cfg.positional === 'learned') embed += dotAt(cache.at('hook_pos_embed'), D);
    const attn: number[] = [];
    const mlp: number[] = [];
    const attnBias: number[] = [];
    const mlpBias: number[] = [];
    const heads: number[][] | null = splits ? [] : null;
    const neurons: Float64Array[] | null = splits ? [] : null;
    const experts: (number[] | null)[] | null = splits && model.weights.blocks.some((b) => b.experts !== null) ? [] : null;
    for (let l = 0; l < L; l++) {
      const bw = model.weights.blocks[l]!;
      attn.push(dotAt(cache.at(blockHook(l, 'hook_attn_out')), D));
      mlp.push(dotAt(cache.at(blockHook(l, 'hook_mlp_out')), D));
      attnBias.push(splits ? vecDot(bw.bo === null ? null : arr(bw.bo)) : 0);
      mlpBias.push(splits ? vecDot(bw.bOut === null ? null : arr(bw.bOut)) : 0);
      if (heads !== null && neurons !== null) {
        // head h: z[p, h] · (W_O[:, h]ᵀ g)
        const wo = arr(bw.wo); // [D, H·dh]
        const z = arr(cache.at(blockHook(l, 'attn.hook_z'))); // [T, H, dh]
        const hs: number[] = [];
        for (let h = 0; h < H; h++) {
          let s = 0;
          for (let j = 0; j < dh; j++) {
            let col = 0;
            for (let d = 0; d < D; d++) col += wo[d * H * dh + h * dh + j]! * g[d]!;
            s += z[(p * H + h) * dh + j]! * col;
          }
          hs.push(s);
        }
        heads.push(hs);
        if (bw.experts !== null) {
          neurons.push(new Float64Array(0));
          experts!.push(expertParts(cache, l, bw.experts, p, g, D));
          continue;
        }
        experts?.push(null);
        // neuron n: post[p, n] · (W_out[:, n] · g)
        const wout = arr(bw.wOut!); // [D, F]
        const post = arr(cache.at(blockHook(l, 'mlp.hook_post'))); // [T, F]
        const col = new Float64Array(F);
        for (let d = 0; d < D; d++) {
          const gd = g[d]!;
          for (let n = 0; n < F; n++) col[n]! += wout[d * F + n]! * gd;
        }
        const ns = new Float64Array(F);
        for (let n = 0; n < F; n++) ns[n] = post[p * F + n]! * col[n]!;
        neurons.push(ns);
      }
    }
    const sum = embed + attn.reduce((a, b) => a + b, 0) + mlp.reduce((a, b) => a + b, 0) + finalNormBias;
    const notes: string[] = [];
    if (!splits) notes.push("this model normalises attention and MLP outputs before adding them (Gemma 2), so they do not split into heads and neurons; only layer-level parts are given");
    if (cfg.finalSoftcap !== null) notes.push(`the model soft-caps its logits at ${cfg.finalSoftcap}; the attribution explains the logits before capping`);
    return { position: p, tokens: toks, total, sum, embed, attn, mlp, heads, attnBias, neurons, experts, mlpBias, finalNormBias, notes };
  });
}

/** The largest parts of a DLA result, for tables: [label, value] sorted by |value|. */
/** Expert e of a layer at position p: route[p, e] · Σ_i post_e[p, i] · (W_out,e[:, i] · g). */
function expertParts(cache: { at(n: HookName): Tensor }, l: number, experts: readonly { wOut: Tensor }[], p: number, g: Float64Array, D: number): number[] {
  const E = experts.length;
  const route = arr(cache.at(blockHook(l, 'mlp.hook_route_weights')));
  return experts.map((x, e) => {
    const w = route[p * E + e]!;
    if (w === 0) return 0;
    const wout = arr(x.wOut); // [D, I]
    const I = wout.length / D;
    const post = arr(cache.at(blockHook(l, `mlp.experts.${e}.hook_post`))).subarray(p * I, (p + 1) * I);
    let s = 0;
    for (let d = 0; d < D; d++) {
      let col = 0;
      for (let i = 0; i < I; i++) col += wout[d * I + i]! * post[i]!;
      s += col * g[d]!;
    }
    return w * s;
  });
}

export function topContributions(r: DLAResult, k = 10): [string, number][] {
  const all: [string, number][] = [['embed', r.embed], ['final norm bias', r.finalNormBias]];
  r.attn.forEach((v, l) => {
    if (r.heads === null) all.push([`L${l} attn`, v]);
    else {
      r.heads[l]!.forEach((h, i) => all.push([`L${l}H${i}`, h]));
      if (r.attnBias[l] !== 0) all.push([`L${l} attn bias`, r.attnBias[l]!]);
    }
  });
  r.mlp.forEach((v, l) => {
    if (r.neurons === null) all.push([`L${l} mlp`, v]);
    else {
      r.neurons[l]!.forEach((n, i) => all.push([`L${l}N${i}`, n]));
      r.experts?.[l]?.forEach((x, e) => all.push([`L${l}E${e}`, x]));
      if (r.mlpBias[l] !== 0) all.push([`L${l} mlp bias`, r.mlpBias[l]!]);
    }
  });
  return all.sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, k);
}
