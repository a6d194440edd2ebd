/**
 * The weights of a HookedTransformer, in one layout for every family.
 * Projection matrices keep PyTorch's [out, in] layout (the GEMM kernel reads
 * them transposed for free). Norm weights are stored as in the checkpoint
 * (Gemma's offsets included: the config's normOffset says how to apply them).
 */
import { CandorError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';

export interface NormWeights {
  w: Tensor;
  b: Tensor | null;
}

export interface BlockWeights {
  /** the norm before attention (null in OLMo 2, which has none) */
  ln1: NormWeights | null;
  /** the norm before the MLP */
  ln2: NormWeights | null;
  /** Gemma 2 and 3, OLMo 2: norm applied to the attention output before it joins the residual */
  postAttnNorm: NormWeights | null;
  /** Gemma 2 and 3, OLMo 2: norm applied to the MLP output */
  postMlpNorm: NormWeights | null;
  /** RMSNorm weights of queries and keys: [dHead] per head, or [nHeads·dHead] / [nKVHeads·dHead] over the whole projection */
  qNorm: Tensor | null;
  kNorm: Tensor | null;
  /** [nHeads·dHead, dModel] */
  wq: Tensor;
  /** [nKVHeads·dHead, dModel] */
  wk: Tensor;
  wv: Tensor;
  bq: Tensor | null;
  bk: Tensor | null;
  bv: Tensor | null;
  /** [dModel, nHeads·dHead] */
  wo: Tensor;
  bo: Tensor | null;
  /** up projection [dMlp, dModel] (the only input projection when not gated); null in a layer of experts */
  wIn: Tensor | null;
  bIn: Tensor | null;
  /** gate projection [dMlp, dModel] (gated MLPs) and its bias (mlp_bias) */
  wGate: Tensor | null;
  bGate: Tensor | null;
  /** [dModel, dMlp]; null in a layer of experts */
  wOut: Tensor | null;
  bOut: Tensor | null;
  /** Mixture of Experts: the router [nExperts, dModel] and each expert's gated MLP (null in a dense layer) */
  router: Tensor | null;
  experts: ExpertWeights[] | null;
}

/** One expert: a gated MLP of width dExpert. */
export interface ExpertWeights {
  /** [dExpert, dModel] */
  wGate: Tensor;
  wIn: Tensor;
  /** [dModel, dExpert] */
  wOut: Tensor;
}

export interface ModelWeights {
  /** [dVocab, dModel] */
  embed: Tensor;
  /** learned positions [nCtx, dModel] (GPT-2) */
  posEmbed: Tensor | null;
  blocks: BlockWeights[];
  lnFinal: NormWeights;
  /** [dVocab, dModel]; the same tensor as embed when tied */
  unembed: Tensor;
}

/** Every weight tensor with a stable name (for saving, diffing, training). */
export function namedWeights(w: ModelWeights): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const put = (name: string, t: Tensor | null | undefined) => {
    if (t != null) out.set(name, t);
  };
  put('embed.weight', w.embed);
  put('pos_embed.weight', w.posEmbed);
  w.blocks.forEach((b, i) => {
    const p = `blocks.${i}`;
    put(`${p}.ln1.weight`, b.ln1?.w);
    put(`${p}.ln1.bias`, b.ln1?.b);
    put(`${p}.attn.q_norm.weight`, b.qNorm);
    put(`${p}.attn.k_norm.weight`, b.kNorm);
    put(`${p}.attn.q.weight`, b.wq);
    put(`${p}.attn.q.bias`, b.bq);
    put(`${p}.attn.k.weight`, b.wk);
    put(`${p}.attn.k.bias`, b.bk);
    put(`${p}.attn.v.weight`, b.wv);
    put(`${p}.attn.v.bias`, b.bv);
    put(`${p}.attn.o.weight`, b.wo);
    put(`${p}.attn.o.bias`, b.bo);
    put(`${p}.ln_post_attn.weight`, b.postAttnNorm?.w);
    put(`${p}.ln2.weight`, b.ln2?.w);
    put(`${p}.ln2.bias`, b.ln2?.b);
    put(`${p}.mlp.gate.weight`, b.wGate);
    put(`${p}.mlp.gate.bias`, b.bGate);
    put(`${p}.mlp.in.weight`, b.wIn);
    put(`${p}.mlp.in.bias`, b.bIn);
    put(`${p}.mlp.out.weight`, b.wOut);
    put(`${p}.mlp.out.bias`, b.bOut);
    put(`${p}.ln_post_mlp.weight`, b.postMlpNorm?.w);
    put(`${p}.mlp.router.weight`, b.router);
    b.experts?.forEach((x, e) => {
      put(`${p}.mlp.experts.${e}.gate.weight`, x.wGate);
      put(`${p}.mlp.experts.${e}.in.weight`, x.wIn);
      put(`${p}.mlp.experts.${e}.out.weight`, x.wOut);
    });
  });
  put('ln_final.weight', w.lnFinal.w);
  put('ln_final.bias', w.lnFinal.b);
  if (w.unembed !== w.embed) put('unembed.weight', w.unembed);
  return out;
}

/**
 * The inverse of namedWeights: a model's weights from tensors under candor's
 * names (what a family's weight table produces). A required name that is
 * missing is a bug in the table, not in the user's file, which the table has
 * already checked.
 */
export function weightsFromNamed(nLayers: number, named: ReadonlyMap<string, Tensor>): ModelWeights {
  const opt = (name: string): Tensor | null => named.get(name) ?? null;
  const req = (name: string): Tensor => {
    const t = named.get(name);
    if (t === undefined) throw new CandorError(`internal: the weight table gave no '${name}'`);
    return t;
  };
  const norm = (name: string): NormWeights | null => (named.has(`${name}.weight`) ? { w: req(`${name}.weight`), b: opt(`${name}.bias`) } : null);
  const experts = (p: string): ExpertWeights[] | null => {
    const out: ExpertWeights[] = [];
    for (let e = 0; named.has(`${p}.mlp.experts.${e}.gate.weight`); e++) {
      const x = `${p}.mlp.experts.${e}`;
      out.push({ wGate: req(`${x}.gate.weight`), wIn: req(`${x}.in.weight`), wOut: req(`${x}.out.weight`) });
    }
    return out.length > 0 ? out : null;
  };
  const blocks = Array.from({ length: nLayers }, (_, l): BlockWeights => {
    const p = `blocks.${l}`;
    return {
      ln1: norm(`${p}.ln1`), ln2: norm(`${p}.ln2`), postAttnNorm: norm(`${p}.ln_post_attn`), postMlpNorm: norm(`${p}.ln_post_mlp`),
      qNorm: opt(`${p}.attn.q_norm.weight`), kNorm: opt(`${p}.attn.k_norm.weight`),
      wq: req(`${p}.attn.q.weight`), wk: req(`${p}.attn.k.weight`), wv: req(`${p}.attn.v.weight`),
      bq: opt(`${p}.attn.q.bias`), bk: opt(`${p}.attn.k.bias`), bv: opt(`${p}.attn.v.bias`),
      wo: req(`${p}.attn.o.weight`), bo: opt(`${p}.attn.o.bias`),
      wIn: opt(`${p}.mlp.in.weight`), bIn: opt(`${p}.mlp.in.bias`), wGate: opt(`${p}.mlp.gate.weight`), bGate: opt(`${p}.mlp.gate.bias`),
      wOut: opt(`${p}.mlp.out.weight`), bOut: opt(`${p}.mlp.out.bias`), router: opt(`${p}.mlp.router.weight`), experts: experts(p),
    };
  });
  const embed = req('embed.weight');
  return { embed, posEmbed: opt('pos_embed.weight'), blocks, lnFinal: norm('ln_final')!, unembed: opt('unembed.weight') ?? embed };
}
