/**
 * mixtral (MixtralForCausalLM): a llama (sliding window, when set, on every
 * layer) whose every MLP is a layer of experts: softmax over all experts,
 * the top num_experts_per_tok, their weights always renormalised to sum to
 * 1. Files name the module block_sparse_moe and the projections w1 (gate),
 * w3 (up) and w2 (down).
 */
import { decoderConfig, decoderWeights } from './llama.js';
import { ModelConfigError } from './read.js';
import type { Family } from './family.js';

export const mixtral: Family = {
  modelType: 'mixtral',
  defaults: { num_key_value_heads: 8, rope_theta: 1e6, rms_norm_eps: 1e-5, num_local_experts: 8, num_experts_per_tok: 2, bos_token_id: 1, eos_token_id: 2 },
  ggufArch: 'llama',
  config(r) {
    const L = r.size('num_hidden_layers');
    const nExperts = r.size('num_local_experts');
    const topK = r.size('num_experts_per_tok');
    if (topK > nExperts) throw new ModelConfigError(`${r.file}: num_experts_per_tok (${topK}) exceeds num_local_experts (${nExperts}). Fix: correct one of the two fields.`);
    return decoderConfig(r, 'mixtral', {
      slidingWindow: new Array(L).fill(r.has('sliding_window') ? r.size('sliding_window') : null),
      moe: { nExperts, topK, normTopK: true, dExpert: r.size('intermediate_size'), layers: new Array(L).fill(true) },
    });
  },
  weights: (cfg) => decoderWeights(cfg, { experts: { module: 'block_sparse_moe', gate: 'w1', up: 'w3', down: 'w2' } }),
};
