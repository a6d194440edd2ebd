/**
 * The weights of a HookedTransformer, in one layout for every family.
 * Projection matrices keep PyTorch's [out, in] layout (the GEMM kernel reads
 * them transposed for free). Norm weights are stored as in the checkpoint
 * (Gemma's offsets included: the config's normOffset says how to apply them).
 */
import type { Tensor } from '../tensor/tensor.js';

export interface NormWeights {
  w: Tensor;
  b: Tensor | null;
}

export interface BlockWeights {
  ln1: NormWeights;
  /** the norm before the MLP */
  ln2: NormWeights;
  /** Gemma 2: norm applied to the attention output before it joins the residual */
  postAttnNorm: NormWeights | null;
  /** Gemma 2: norm applied to the MLP output */
  postMlpNorm: NormWeights | null;
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
  /** up projection [dMlp, dModel] (the only input projection when not gated) */
  wIn: Tensor;
  bIn: Tensor | null;
  /** gate projection [dMlp, dModel] (gated MLPs) and its bias (mlp_bias) */
  wGate: Tensor | null;
  bGate: Tensor | null;
  /** [dModel, dMlp] */
  wOut: Tensor;
  bOut: Tensor | null;
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
    put(`${p}.ln1.weight`, b.ln1.w);
    put(`${p}.ln1.bias`, b.ln1.b);
    put(`${p}.attn.q.weight`, b.wq);
    put(`${p}.attn.q.bias`, b.bq);
    put(`${p}.attn.k.weight`, b.wk);
    put(`${p}.attn.k.bias`, b.bk);
    put(`${p}.attn.v.weight`, b.wv);
    put(`${p}.attn.v.bias`, b.bv);
    put(`${p}.attn.o.weight`, b.wo);
    put(`${p}.attn.o.bias`, b.bo);
    put(`${p}.ln_post_attn.weight`, b.postAttnNorm?.w);
    put(`${p}.ln2.weight`, b.ln2.w);
    put(`${p}.ln2.bias`, b.ln2.b);
    put(`${p}.mlp.gate.weight`, b.wGate);
    put(`${p}.mlp.gate.bias`, b.bGate);
    put(`${p}.mlp.in.weight`, b.wIn);
    put(`${p}.mlp.in.bias`, b.bIn);
    put(`${p}.mlp.out.weight`, b.wOut);
    put(`${p}.mlp.out.bias`, b.bOut);
    put(`${p}.ln_post_mlp.weight`, b.postMlpNorm?.w);
  });
  put('ln_final.weight', w.lnFinal.w);
  put('ln_final.bias', w.lnFinal.b);
  if (w.unembed !== w.embed) put('unembed.weight', w.unembed);
  return out;
}
