/**
 * phi3 (Phi3ForCausalLM): a llama with fused projections — qkv_proj holds
 * consecutive q | k | v rows, gate_up_proj the gate rows then the up rows —
 * partial rotary (partial_rotary_factor of each head's dims), and a sliding
 * window, when set, on every layer.
 */
import { decoderConfig, decoderWeights } from './llama.js';
import { ModelConfigError } from './read.js';
import type { Family } from './family.js';

export const phi3: Family = {
  modelType: 'phi3',
  defaults: { bos_token_id: 1, eos_token_id: 32000, pad_token_id: 32000, rms_norm_eps: 1e-5 },
  config(r) {
    const L = r.size('num_hidden_layers');
    const base = decoderConfig(r, 'phi3', { slidingWindow: new Array(L).fill(r.has('sliding_window') ? r.size('sliding_window') : null) });
    const factor = r.num('partial_rotary_factor', 1);
    const rotaryDim = Math.floor(base.dHead * factor);
    if (!(factor > 0 && factor <= 1) || rotaryDim % 2 !== 0) {
      throw new ModelConfigError(`${r.file}: partial_rotary_factor ${factor} gives ${rotaryDim} rotary dims of ${base.dHead}. Fix: it must be in (0, 1] and give an even number of dims.`);
    }
    return { ...base, rotaryDim };
  },
  weights: (cfg) => decoderWeights(cfg, { fusedQkv: true, fusedGateUp: true }),
};
