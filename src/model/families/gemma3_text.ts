/**
 * gemma3_text (Gemma3ForCausalLM): Gemma 2's layer with per-head q/k norms
 * ((1 + w), before rotary) and no attention soft-cap; sliding and full
 * layers, each kind with its own rotary base (and scaling on full layers
 * only). layer_types decides which layer is which; without it every
 * sliding_window_pattern-th layer is full.
 */
import type { ModelConfig, RopeScaling } from '../config.js';
import { gemmaConfig } from './gemma.js';
import { decoderWeights, slidingLayers } from './llama.js';
import { ConfigReader, type Json } from './read.js';
import type { Family } from './family.js';

/** Rotary base and scaling of full and sliding layers, from v5's per-type rope_parameters or the older top-level keys. */
function ropes(r: ConfigReader): { global: { theta: number; scaling: RopeScaling | null }; local: { theta: number; scaling: RopeScaling | null } } {
  const rp = r.cfg.rope_parameters as Json | null | undefined;
  const read = (key: string, fallback: number) => {
    const sub = rp?.[key] as Json | undefined;
    if (sub === undefined || sub === null) return null;
    const s = new ConfigReader({ rope_scaling: sub, rope_theta: sub.rope_theta }, `${r.file}: rope_parameters.${key}`);
    return { theta: s.num('rope_theta', fallback), scaling: s.ropeScaling() };
  };
  return {
    global: read('full_attention', 1e6) ?? { theta: r.num('rope_theta', 1e6), scaling: r.ropeScaling() },
    local: read('sliding_attention', 1e4) ?? { theta: r.num('rope_local_base_freq', 1e4), scaling: null },
  };
}

export const gemma3_text: Family = {
  modelType: 'gemma3_text',
  ggufArch: 'gemma3',
  defaults: { head_dim: 256, num_key_value_heads: 4, query_pre_attn_scalar: 256, sliding_window: 4096, bos_token_id: 2, eos_token_id: 1, pad_token_id: 0 },
  config(r): ModelConfig {
    const L = r.size('num_hidden_layers');
    const pattern = r.size('sliding_window_pattern', r.int('_sliding_window_pattern', 6));
    const window = r.has('sliding_window') ? r.size('sliding_window') : null;
    const kinds = slidingLayers(r, L, 1, (i) => (i + 1) % pattern !== 0);
    const { global, local } = ropes(r);
    return gemmaConfig(r, 'gemma3_text', {
      postNorms: true, qkNorm: 'head', attnScale: Math.pow(r.num('query_pre_attn_scalar'), -0.5),
      finalSoftcap: r.has('final_logit_softcapping') ? r.num('final_logit_softcapping') : null,
      slidingWindow: kinds.map((k) => (k === null ? null : window)), layerRope: kinds.map((k) => (k === null ? 'global' : 'local')),
      rotaryTheta: global.theta, ropeScaling: global.scaling, localRope: local,
    });
  },
  weights: (cfg) => decoderWeights(cfg),
};
