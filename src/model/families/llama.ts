/**
 * llama (LlamaForCausalLM), and the decoder layout most families share:
 * RMSNorm, rotary attention with grouped-query heads, a gated MLP. The
 * families built on it (mistral, qwen2, qwen3, gemma…, phi3, olmo2, smollm3)
 * call `decoderConfig` with what they change and `decoderWeights` for their
 * table.
 */
import type { ModelConfig } from '../config.js';
import { ModelConfigError, tokenIds, type ConfigReader } from './read.js';
import { codecs, rule, type Family, type WeightRule } from './family.js';

/** The shared decoder configuration; `over` holds what a family changes. */
export function decoderConfig(r: ConfigReader, family: string, over: Partial<ModelConfig> = {}): ModelConfig {
  const d = r.size('hidden_size');
  const h = r.size('num_attention_heads');
  const L = r.size('num_hidden_layers');
  const headDim = r.has('head_dim') ? r.size('head_dim') : d / h;
  if (!Number.isInteger(headDim)) throw new ModelConfigError(`${r.file}: num_attention_heads (${h}) does not divide hidden_size (${d}). Fix: set head_dim, or correct the two fields.`);
  const kv = r.has('num_key_value_heads') ? r.size('num_key_value_heads') : h;
  if (h % kv !== 0) throw new ModelConfigError(`${r.file}: num_attention_heads (${h}) is not a multiple of num_key_value_heads (${kv}). Fix: correct one of the two fields.`);
  const bias = r.bool('attention_bias', false);
  const eos = tokenIds(r.cfg, 'eos_token_id');
  return {
    family, nLayers: L, dModel: d, nHeads: h, nKVHeads: kv, dHead: headDim, dMlp: r.size('intermediate_size'),
    dVocab: r.size('vocab_size'), nCtx: r.int('max_position_embeddings', 2048),
    norm: 'rms', normEps: r.num('rms_norm_eps', 1e-6), normOffset: 0, act: r.activation('hidden_act', 'silu'), gated: true,
    positional: 'rotary', rotaryDim: headDim, rotaryTheta: r.num('rope_theta', 10000), rotaryLayout: 'half', ropeScaling: r.ropeScaling(),
    parallelResidual: false, attnScale: 1 / Math.sqrt(headDim), attnSoftcap: null, finalSoftcap: null,
    slidingWindow: new Array(L).fill(null), layerRope: new Array(L).fill('global'), localRope: null,
    embedScale: 1, preNorms: true, postNorms: false, qkNorm: null, moe: null,
    qkvBias: bias, oBias: bias, mlpBias: r.bool('mlp_bias', false), tiedEmbeddings: r.bool('tie_word_embeddings', false),
    bosTokenId: tokenIds(r.cfg, 'bos_token_id')[0] ?? null, eosTokenId: eos[0] ?? null, eosTokenIds: eos, padTokenId: tokenIds(r.cfg, 'pad_token_id')[0] ?? null,
    ...over,
  };
}

/** Per layer: the window of layers whose layer_types entry is 'sliding_attention' (or that `fallback` picks), else null. */
export function slidingLayers(r: ConfigReader, L: number, window: number | null, fallback: (layer: number) => boolean): (number | null)[] {
  const types = r.strings('layer_types', L);
  return Array.from({ length: L }, (_, i) => (window !== null && (types ? types[i] === 'sliding_attention' : fallback(i)) ? window : null));
}

export interface DecoderLayout {
  /** Phi-3: one qkv_proj of consecutive q | k | v rows */
  fusedQkv?: boolean;
  /** Phi-3: one gate_up_proj, gate rows first */
  fusedGateUp?: boolean;
  /** layers of experts: the module's name and each expert's gate, up and down projections */
  experts?: { module: string; gate: string; up: string; down: string };
}

/** The decoder's weight table under Hugging Face's `model.layers.{i}` names. */
export function decoderWeights(cfg: ModelConfig, layout: DecoderLayout = {}): WeightRule[] {
  const { dModel: D, nHeads: H, nKVHeads: KV, dHead: dh, dMlp: F, dVocab: V } = cfg;
  const out: WeightRule[] = [rule('model.embed_tokens.weight', [V, D], 'embed.weight')];
  for (let l = 0; l < cfg.nLayers; l++) {
    const p = `model.layers.${l}`;
    const a = `${p}.self_attn`;
    const c = `blocks.${l}`;
    if (cfg.preNorms) out.push(rule(`${p}.input_layernorm.weight`, [D], `${c}.ln1.weight`));
    if (cfg.postNorms) {
      out.push(rule(`${p}.post_attention_layernorm.weight`, [D], `${c}.ln_post_attn.weight`));
      if (cfg.preNorms) out.push(rule(`${p}.pre_feedforward_layernorm.weight`, [D], `${c}.ln2.weight`));
      out.push(rule(`${p}.post_feedforward_layernorm.weight`, [D], `${c}.ln_post_mlp.weight`));
    } else out.push(rule(`${p}.post_attention_layernorm.weight`, [D], `${c}.ln2.weight`));
    if (cfg.qkNorm !== null) {
      out.push(rule(`${a}.q_norm.weight`, [cfg.qkNorm === 'head' ? dh : H * dh], `${c}.attn.q_norm.weight`));
      out.push(rule(`${a}.k_norm.weight`, [cfg.qkNorm === 'head' ? dh : KV * dh], `${c}.attn.k_norm.weight`));
    }
    if (layout.fusedQkv === true) {
      out.push({ hf: `${a}.qkv_proj.weight`, shape: [(H + 2 * KV) * dh, D], to: [`${c}.attn.q.weight`, `${c}.attn.k.weight`, `${c}.attn.v.weight`], codec: codecs.rows([H * dh, KV * dh, KV * dh]) });
    } else {
      for (const [x, n] of [['q', H], ['k', KV], ['v', KV]] as const) {
        out.push(rule(`${a}.${x}_proj.weight`, [n * dh, D], `${c}.attn.${x}.weight`));
        if (cfg.qkvBias) out.push(rule(`${a}.${x}_proj.bias`, [n * dh], `${c}.attn.${x}.bias`));
      }
    }
    out.push(rule(`${a}.o_proj.weight`, [D, H * dh], `${c}.attn.o.weight`));
    if (cfg.oBias) out.push(rule(`${a}.o_proj.bias`, [D], `${c}.attn.o.bias`));
    if (cfg.moe !== null && cfg.moe.layers[l] === true) {
      const x = layout.experts ?? { module: 'mlp', gate: 'gate_proj', up: 'up_proj', down: 'down_proj' };
      const m = `${p}.${x.module}`;
      const I = cfg.moe.dExpert;
      out.push(rule(`${m}.gate.weight`, [cfg.moe.nExperts, D], `${c}.mlp.router.weight`));
      for (let e = 0; e < cfg.moe.nExperts; e++) {
        const to = `${c}.mlp.experts.${e}`;
        out.push(rule(`${m}.experts.${e}.${x.gate}.weight`, [I, D], `${to}.gate.weight`), rule(`${m}.experts.${e}.${x.up}.weight`, [I, D], `${to}.in.weight`), rule(`${m}.experts.${e}.${x.down}.weight`, [D, I], `${to}.out.weight`));
      }
      continue;
    }
    if (layout.fusedGateUp === true) out.push({ hf: `${p}.mlp.gate_up_proj.weight`, shape: [2 * F, D], to: [`${c}.mlp.gate.weight`, `${c}.mlp.in.weight`], codec: codecs.rows([F, F]) });
    else out.push(rule(`${p}.mlp.gate_proj.weight`, [F, D], `${c}.mlp.gate.weight`), rule(`${p}.mlp.up_proj.weight`, [F, D], `${c}.mlp.in.weight`));
    out.push(rule(`${p}.mlp.down_proj.weight`, [D, F], `${c}.mlp.out.weight`));
    if (cfg.mlpBias) {
      out.push(rule(`${p}.mlp.gate_proj.bias`, [F], `${c}.mlp.gate.bias`), rule(`${p}.mlp.up_proj.bias`, [F], `${c}.mlp.in.bias`), rule(`${p}.mlp.down_proj.bias`, [D], `${c}.mlp.out.bias`));
    }
  }
  out.push(rule('model.norm.weight', [D], 'ln_final.weight'));
  if (!cfg.tiedEmbeddings) {
    out.push(rule('lm_head.weight', [V, D], 'unembed.weight', { fix: 'Fix: download the full checkpoint, or set tie_word_embeddings to true in config.json if the model ties its embeddings.' }));
  }
  return out;
}

export const llama: Family = {
  modelType: 'llama',
  defaults: { bos_token_id: 1, eos_token_id: 2 },
  config: (r) => decoderConfig(r, 'llama'),
  weights: (cfg) => decoderWeights(cfg),
};
