/** gemma (GemmaForCausalLM): a llama with (1 + w) norms, embeddings scaled by √d_model, GELU and tied embeddings. */
import { decoderConfig, decoderWeights } from './llama.js';
import type { ConfigReader } from './read.js';
import type { ModelConfig } from '../config.js';
import type { Family } from './family.js';

/** What every Gemma generation shares. */
export function gemmaConfig(r: ConfigReader, family: string, over: Partial<ModelConfig> = {}): ModelConfig {
  const d = r.size('hidden_size');
  return decoderConfig(r, family, {
    normOffset: 1, embedScale: Math.fround(Math.sqrt(d)), tiedEmbeddings: r.bool('tie_word_embeddings', true),
    act: r.has('hidden_activation') ? r.activation('hidden_activation', 'gelu_pytorch_tanh') : r.activation('hidden_act', 'gelu_pytorch_tanh'),
    ...over,
  });
}

export const gemma: Family = {
  modelType: 'gemma',
  defaults: { head_dim: 256, num_key_value_heads: 16, bos_token_id: 2, eos_token_id: 1, pad_token_id: 0 },
  config: (r) => gemmaConfig(r, 'gemma'),
  weights: (cfg) => decoderWeights(cfg),
};
