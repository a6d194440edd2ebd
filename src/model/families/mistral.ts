/** mistral (MistralForCausalLM): a llama whose sliding window, when set, applies to every layer. */
import { decoderConfig, decoderWeights } from './llama.js';
import type { Family } from './family.js';

export const mistral: Family = {
  modelType: 'mistral',
  defaults: { sliding_window: 4096, num_key_value_heads: 8, bos_token_id: 1, eos_token_id: 2 },
  config(r) {
    const L = r.size('num_hidden_layers');
    return decoderConfig(r, 'mistral', { slidingWindow: new Array(L).fill(r.has('sliding_window') ? r.size('sliding_window') : null) });
  },
  weights: (cfg) => decoderWeights(cfg),
};
