/** gpt_neox (GPTNeoXForCausalLM, Pythia): LayerNorm, partial rotary, parallel residual, query_key_value rows ordered per head. */
import { decoderConfig } from './llama.js';
import { codecs, rule, type Family, type WeightRule } from './family.js';
import type { ModelConfig } from '../config.js';

export const gpt_neox: Family = {
  modelType: 'gpt_neox',
  defaults: { bos_token_id: 0, eos_token_id: 2 },
  ggufArch: 'gptneox',
  config(r) {
    const base = decoderConfig(r, 'gpt_neox');
    const bias = r.bool('attention_bias', true);
    return {
      ...base, nKVHeads: base.nHeads, nCtx: r.int('max_position_embeddings', 2048), norm: 'layer', normEps: r.num('layer_norm_eps', 1e-5),
      act: r.activation('hidden_act', 'gelu'), gated: false,
      rotaryDim: Math.floor(base.dHead * r.num('rotary_pct', r.num('partial_rotary_factor', 0.25))), rotaryTheta: r.num('rope_theta', r.num('rotary_emb_base', 10000)),
      parallelResidual: r.bool('use_parallel_residual', true), qkvBias: bias, oBias: bias, mlpBias: true,
    };
  },
  weights(cfg: ModelConfig): WeightRule[] {
    const { dModel: D, nHeads: H, dHead: dh, dMlp: F, dVocab: V } = cfg;
    const out: WeightRule[] = [rule('gpt_neox.embed_in.weight', [V, D], 'embed.weight')];
    for (let l = 0; l < cfg.nLayers; l++) {
      const p = `gpt_neox.layers.${l}`;
      const c = `blocks.${l}`;
      const qkv = [`${c}.attn.q`, `${c}.attn.k`, `${c}.attn.v`];
      out.push(
        rule(`${p}.input_layernorm.weight`, [D], `${c}.ln1.weight`), rule(`${p}.input_layernorm.bias`, [D], `${c}.ln1.bias`),
        rule(`${p}.post_attention_layernorm.weight`, [D], `${c}.ln2.weight`), rule(`${p}.post_attention_layernorm.bias`, [D], `${c}.ln2.bias`),
        { hf: `${p}.attention.query_key_value.weight`, shape: [3 * H * dh, D], to: qkv.map((n) => `${n}.weight`), codec: codecs.perHead(H, dh, [D]) },
        rule(`${p}.attention.dense.weight`, [D, H * dh], `${c}.attn.o.weight`),
        rule(`${p}.mlp.dense_h_to_4h.weight`, [F, D], `${c}.mlp.in.weight`), rule(`${p}.mlp.dense_h_to_4h.bias`, [F], `${c}.mlp.in.bias`),
        rule(`${p}.mlp.dense_4h_to_h.weight`, [D, F], `${c}.mlp.out.weight`), rule(`${p}.mlp.dense_4h_to_h.bias`, [D], `${c}.mlp.out.bias`),
      );
      if (cfg.qkvBias) out.push({ hf: `${p}.attention.query_key_value.bias`, shape: [3 * H * dh], to: qkv.map((n) => `${n}.bias`), codec: codecs.perHead(H, dh, []) });
      if (cfg.oBias) out.push(rule(`${p}.attention.dense.bias`, [D], `${c}.attn.o.bias`));
    }
    out.push(rule('gpt_neox.final_layer_norm.weight', [D], 'ln_final.weight'), rule('gpt_neox.final_layer_norm.bias', [D], 'ln_final.bias'));
    if (!cfg.tiedEmbeddings) out.push(rule('embed_out.weight', [V, D], 'unembed.weight'));
    return out;
  },
};
