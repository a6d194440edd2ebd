/** qwen2 (Qwen2ForCausalLM): a llama with q/k/v biases (no o_proj bias) and an optional window on the later layers. */
import { decoderConfig, decoderWeights, slidingLayers } from './llama.js';
import type { Family } from './family.js';

export const qwen2: Family = {
  modelType: 'qwen2',
  defaults: { num_key_value_heads: 32, max_window_layers: 28 },
  config(r) {
    const L = r.size('num_hidden_layers');
    const window = r.bool('use_sliding_window', false) && r.has('sliding_window') ? r.size('sliding_window') : null;
    const from = r.int('max_window_layers', L);
    return decoderConfig(r, 'qwen2', { qkvBias: true, oBias: false, slidingWindow: slidingLayers(r, L, window, (i) => i >= from) });
  },
  weights: (cfg) => decoderWeights(cfg),
};
