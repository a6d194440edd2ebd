/** Small Hugging Face configs of every supported family, for tests on random weights. */
const base = { hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 2, intermediate_size: 48, vocab_size: 50, max_position_embeddings: 64 };
export const FAMILY_CONFIGS: Record<string, Record<string, unknown>> = {
  gpt2: { model_type: 'gpt2', n_embd: 32, n_head: 4, n_layer: 2, n_positions: 64, vocab_size: 50 },
  gpt_neox: { ...base, model_type: 'gpt_neox', rotary_pct: 0.25, use_parallel_residual: true },
  llama: { ...base, model_type: 'llama', num_key_value_heads: 2, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 } },
  mistral: { ...base, model_type: 'mistral', num_key_value_heads: 1, sliding_window: 3 },
  qwen2: { ...base, model_type: 'qwen2', num_key_value_heads: 2 },
  gemma: { ...base, model_type: 'gemma', num_key_value_heads: 1, head_dim: 12 },
  gemma2: { ...base, model_type: 'gemma2', num_key_value_heads: 2, query_pre_attn_scalar: 10, attn_logit_softcapping: 5, final_logit_softcapping: 3, sliding_window: 3 },
  qwen3: { ...base, model_type: 'qwen3', num_key_value_heads: 2, head_dim: 16, attention_bias: true, rope_theta: 1e6 },
  gemma3_text: {
    ...base, model_type: 'gemma3_text', num_hidden_layers: 3, num_key_value_heads: 1, head_dim: 8, query_pre_attn_scalar: 12, sliding_window: 3,
    layer_types: ['sliding_attention', 'full_attention', 'sliding_attention'], final_logit_softcapping: 4,
    rope_parameters: { full_attention: { rope_type: 'linear', factor: 4, rope_theta: 1e6 }, sliding_attention: { rope_type: 'default', rope_theta: 1e4 } },
  },
  phi3: { ...base, model_type: 'phi3', num_key_value_heads: 2, partial_rotary_factor: 0.5 },
  olmo2: { ...base, model_type: 'olmo2', num_key_value_heads: 2 },
  smollm3: { ...base, model_type: 'smollm3', num_hidden_layers: 3, num_key_value_heads: 2, no_rope_layers: [1, 0, 1] },
  qwen3_moe: { ...base, model_type: 'qwen3_moe', num_hidden_layers: 3, num_key_value_heads: 2, head_dim: 8, num_experts: 5, num_experts_per_tok: 2, moe_intermediate_size: 12, mlp_only_layers: [1], norm_topk_prob: true },
  mixtral: { ...base, model_type: 'mixtral', num_key_value_heads: 2, num_local_experts: 4, num_experts_per_tok: 3, sliding_window: 5 },
};
