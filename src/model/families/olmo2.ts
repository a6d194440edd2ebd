/**
 * olmo2 (Olmo2ForCausalLM): no norm in front of attention or the MLP; each
 * output is normalised before it joins the residual stream; q and k get one
 * RMSNorm over the whole projection (all heads together) before rotary.
 */
import { decoderConfig, decoderWeights } from './llama.js';
import type { Family } from './family.js';

export const olmo2: Family = {
  modelType: 'olmo2',
  defaults: { rms_norm_eps: 1e-5, pad_token_id: 1, eos_token_id: 50279 },
  config: (r) => decoderConfig(r, 'olmo2', { preNorms: false, postNorms: true, qkNorm: 'whole' }),
  weights: (cfg) => decoderWeights(cfg),
};
