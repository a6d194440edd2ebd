/**
 * smollm3 (SmolLM3ForCausalLM): a llama with tied embeddings whose layers
 * listed 0 in no_rope_layers use no rotary at all (NoPE; 1 means rotary,
 * despite the name). Without the list every no_rope_layer_interval-th layer
 * is NoPE. A sliding window, with use_sliding_window, on NoPE layers only.
 */
import { ModelConfigError } from './read.js';
import { decoderConfig, decoderWeights, slidingLayers } from './llama.js';
import type { Family } from './family.js';

export const smollm3: Family = {
  modelType: 'smollm3',
  defaults: { rope_theta: 2000000, tie_word_embeddings: true, no_rope_layer_interval: 4 },
  config(r) {
    const L = r.size('num_hidden_layers');
    const interval = r.size('no_rope_layer_interval');
    const listed = r.ints('no_rope_layers');
    if (listed !== null && listed.length !== L) throw new ModelConfigError(`${r.file}: no_rope_layers has ${listed.length} entries for ${L} layers. Fix: one entry (1 = rotary, 0 = none) per layer.`);
    const rope = listed ?? Array.from({ length: L }, (_, i) => ((i + 1) % interval === 0 ? 0 : 1));
    const window = r.bool('use_sliding_window', false) && r.has('sliding_window') ? r.size('sliding_window') : null;
    return decoderConfig(r, 'smollm3', {
      layerRope: rope.map((x) => (x === 0 ? null : 'global')),
      slidingWindow: slidingLayers(r, L, window, (i) => rope[i] === 0),
    });
  },
  weights: (cfg) => decoderWeights(cfg),
};
