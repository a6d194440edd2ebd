/** gpt2 (GPT2LMHeadModel): LayerNorm, learned positions, GELU MLP, Conv1D weights stored [in, out], fused c_attn. */
import { ModelConfigError, tokenIds } from './read.js';
import { codecs, rule, type Family, type WeightRule } from './family.js';
import type { ModelConfig } from '../config.js';

export const gpt2: Family = {
  modelType: 'gpt2',
  defaults: { bos_token_id: 50256, eos_token_id: 50256 },
  config(r) {
    const d = r.size('n_embd', 768);
    const h = r.size('n_head', 12);
    const L = r.size('n_layer', 12);
    if (d % h !== 0) throw new ModelConfigError(`${r.file}: n_head (${h}) does not divide n_embd (${d}). Fix: correct one of the two fields.`);
    if (r.bool('scale_attn_by_inverse_layer_idx', false) || r.bool('reorder_and_upcast_attn', false)) {
      throw new ModelConfigError(`${r.file}: scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported. Fix: set them to false (they are for training GPT-2 in half precision).`);
    }
    const eos = tokenIds(r.cfg, 'eos_token_id');
    return {
      family: 'gpt2', nLayers: L, dModel: d, nHeads: h, nKVHeads: h, dHead: d / h, dMlp: r.has('n_inner') ? r.size('n_inner') : 4 * d,
      dVocab: r.size('vocab_size', 50257), nCtx: r.size('n_positions', 1024), norm: 'layer', normEps: r.num('layer_norm_epsilon', 1e-5), normOffset: 0,
      act: r.activation('activation_function', 'gelu_new'), gated: false, positional: 'learned', rotaryDim: 0, rotaryTheta: 0, rotaryLayout: 'half', ropeScaling: null,
      parallelResidual: false, attnScale: r.bool('scale_attn_weights', true) ? 1 / Math.sqrt(d / h) : 1, attnSoftcap: null, finalSoftcap: null,
      slidingWindow: new Array(L).fill(null), layerRope: new Array(L).fill(null), localRope: null, embedScale: 1, preNorms: true, postNorms: false, qkNorm: null, moe: null,
      qkvBias: true, oBias: true, mlpBias: true, tiedEmbeddings: r.bool('tie_word_embeddings', true),
      bosTokenId: tokenIds(r.cfg, 'bos_token_id')[0] ?? null, eosTokenId: eos[0] ?? null, eosTokenIds: eos, padTokenId: tokenIds(r.cfg, 'pad_token_id')[0] ?? null,
    };
  },
  weights(cfg: ModelConfig): WeightRule[] {
    const { dModel: D, dMlp: F, dVocab: V } = cfg;
    const out: WeightRule[] = [rule('transformer.wte.weight', [V, D], 'embed.weight'), rule('transformer.wpe.weight', [cfg.nCtx, D], 'pos_embed.weight')];
    for (let l = 0; l < cfg.nLayers; l++) {
      const p = `transformer.h.${l}`;
      const c = `blocks.${l}`;
      const qkv = [`${c}.attn.q`, `${c}.attn.k`, `${c}.attn.v`];
      out.push(
        rule(`${p}.ln_1.weight`, [D], `${c}.ln1.weight`), rule(`${p}.ln_1.bias`, [D], `${c}.ln1.bias`),
        { hf: `${p}.attn.c_attn.weight`, shape: [D, 3 * D], to: qkv.map((n) => `${n}.weight`), codec: codecs.transposedRows([D, D, D]) },
        { hf: `${p}.attn.c_attn.bias`, shape: [3 * D], to: qkv.map((n) => `${n}.bias`), codec: codecs.rows([D, D, D]) },
        rule(`${p}.attn.c_proj.weight`, [D, D], `${c}.attn.o.weight`, { codec: codecs.transposed }), rule(`${p}.attn.c_proj.bias`, [D], `${c}.attn.o.bias`),
        rule(`${p}.ln_2.weight`, [D], `${c}.ln2.weight`), rule(`${p}.ln_2.bias`, [D], `${c}.ln2.bias`),
        rule(`${p}.mlp.c_fc.weight`, [D, F], `${c}.mlp.in.weight`, { codec: codecs.transposed }), rule(`${p}.mlp.c_fc.bias`, [F], `${c}.mlp.in.bias`),
        rule(`${p}.mlp.c_proj.weight`, [F, D], `${c}.mlp.out.weight`, { codec: codecs.transposed }), rule(`${p}.mlp.c_proj.bias`, [D], `${c}.mlp.out.bias`),
      );
    }
    out.push(rule('transformer.ln_f.weight', [D], 'ln_final.weight'), rule('transformer.ln_f.bias', [D], 'ln_final.bias'));
    // GPT-2 files usually leave lm_head out even with tie_word_embeddings false: the embedding is then used
    if (!cfg.tiedEmbeddings) out.push(rule('lm_head.weight', [V, D], 'unembed.weight', { optional: true }));
    return out;
  },
};
