/**
 * qwen3 (Qwen3ForCausalLM): a llama with an RMSNorm over each query and key
 * head before rotary, and a head_dim of its own (default 128, not
 * hidden/heads). A sliding window only with use_sliding_window, from
 * max_window_layers on.
 */
import { decoderConfig, decoderWeights, slidingLayers } from './llama.js';
import type { ConfigReader } from './read.js';
import type { Family } from './family.js';
import type { ModelConfig } from '../config.js';

/** Qwen3's attention (shared with qwen3_moe): per-head q/k norms and its sliding-window rule. */
export function qwen3Config(r: ConfigReader, family: string, over: Partial<ModelConfig> = {}): ModelConfig {
  const L = r.size('num_hidden_layers');
  const window = r.bool('use_sliding_window', false) && r.has('sliding_window') ? r.size('sliding_window') : null;
  const from = r.int('max_window_layers', L);
  return decoderConfig(r, family, { qkNorm: 'head', slidingWindow: slidingLayers(r, L, window, (i) => i >= from), ...over });
}

export const qwen3: Family = {
  modelType: 'qwen3',
  defaults: { head_dim: 128, num_key_value_heads: 32, max_window_layers: 28 },
  config: (r) => qwen3Config(r, 'qwen3'),
  weights: (cfg) => decoderWeights(cfg),
};
