/**
 * gemma2 (Gemma2ForCausalLM): Gemma with norms after attention and MLP as
 * well as before, query_pre_attn_scalar, logit soft-capping, and a sliding
 * window on every other layer.
 */
import { gemmaConfig } from './gemma.js';
import { decoderWeights, slidingLayers } from './llama.js';
import type { Family } from './family.js';

export const gemma2: Family = {
  modelType: 'gemma2',
  defaults: { head_dim: 256, num_key_value_heads: 4, query_pre_attn_scalar: 256, attn_logit_softcapping: 50, final_logit_softcapping: 30, sliding_window: 4096, bos_token_id: 2, eos_token_id: 1, pad_token_id: 0 },
  config(r) {
    const L = r.size('num_hidden_layers');
    const window = r.has('sliding_window') ? r.size('sliding_window') : null;
    return gemmaConfig(r, 'gemma2', {
      postNorms: true, attnScale: Math.pow(r.num('query_pre_attn_scalar'), -0.5),
      attnSoftcap: r.has('attn_logit_softcapping') ? r.num('attn_logit_softcapping') : null,
      finalSoftcap: r.has('final_logit_softcapping') ? r.num('final_logit_softcapping') : null,
      slidingWindow: slidingLayers(r, L, window, (i) => i % 2 === 0),
    });
  },
  weights: (cfg) => decoderWeights(cfg),
};
