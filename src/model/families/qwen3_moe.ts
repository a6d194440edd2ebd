/**
 * qwen3_moe (Qwen3MoeForCausalLM): Qwen3's attention with layers of experts.
 * Layer i routes when it is not in mlp_only_layers and (i + 1) is a multiple
 * of decoder_sparse_step; the others keep a dense MLP of intermediate_size.
 * The router's softmax over all experts picks num_experts_per_tok of them,
 * weighted by their probabilities, renormalised only with norm_topk_prob.
 */
import { qwen3Config } from './qwen3.js';
import { decoderWeights } from './llama.js';
import { ModelConfigError } from './read.js';
import type { Family } from './family.js';

export const qwen3_moe: Family = {
  modelType: 'qwen3_moe',
  defaults: { num_key_value_heads: 4, max_window_layers: 28, decoder_sparse_step: 1, num_experts: 128, num_experts_per_tok: 8, norm_topk_prob: false, moe_intermediate_size: 768 },
  ggufArch: 'qwen3moe',
  config(r) {
    const L = r.size('num_hidden_layers');
    // transformers 5 writes the expert count as num_local_experts, 4.x as num_experts
    const nExperts = r.has('num_local_experts') ? r.int('num_local_experts') : r.int('num_experts');
    const topK = r.size('num_experts_per_tok');
    if (nExperts > 0 && topK > nExperts) throw new ModelConfigError(`${r.file}: num_experts_per_tok (${topK}) exceeds the ${nExperts} experts. Fix: correct one of the two fields.`);
    const step = r.size('decoder_sparse_step');
    const dense = new Set(r.ints('mlp_only_layers') ?? []);
    const layers = Array.from({ length: L }, (_, i) => nExperts > 0 && !dense.has(i) && (i + 1) % step === 0);
    const moe = layers.some(Boolean) ? { nExperts, topK, normTopK: r.bool('norm_topk_prob', false), dExpert: r.size('moe_intermediate_size'), layers } : null;
    return qwen3Config(r, 'qwen3_moe', { moe });
  },
  weights: (cfg) => decoderWeights(cfg),
};
