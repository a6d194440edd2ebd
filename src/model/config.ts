/**
 * One normalised configuration for every family. A family is a set of
 * switches on the same transformer; `configFromHF` reads a Hugging Face
 * config.json into it, with HF's defaults for keys that its diff-serialised
 * config.json leaves out.
 */
import { CandorError } from '../tensor/errors.js';

export class ModelConfigError extends CandorError {
  override name = 'ModelConfigError';
}

export const SUPPORTED_FAMILIES = ['gpt2', 'gpt_neox', 'llama', 'mistral', 'qwen2', 'gemma', 'gemma2'] as const;
export type Family = (typeof SUPPORTED_FAMILIES)[number] | 'llama2c';

export type Activation = 'gelu' | 'gelu_tanh' | 'silu' | 'relu';

export interface RopeScaling {
  type: 'llama3' | 'linear';
  factor: number;
  lowFreqFactor?: number;
  highFreqFactor?: number;
  originalMaxPositionEmbeddings?: number;
}

export interface ModelConfig {
  family: Family;
  nLayers: number;
  dModel: number;
  nHeads: number;
  nKVHeads: number;
  dHead: number;
  dMlp: number;
  dVocab: number;
  /** longest context the positional scheme supports */
  nCtx: number;
  norm: 'layer' | 'rms';
  normEps: number;
  /** RMSNorm scale is (offset + w): 1 for Gemma */
  normOffset: number;
  act: Activation;
  /** MLP is act(gate(x)) * up(x) */
  gated: boolean;
  positional: 'learned' | 'rotary';
  rotaryDim: number;
  rotaryTheta: number;
  rotaryLayout: 'half' | 'interleaved';
  ropeScaling: RopeScaling | null;
  parallelResidual: boolean;
  /** multiplies q·k (1/√dHead, or query_pre_attn_scalar^-½ in Gemma 2) */
  attnScale: number;
  attnSoftcap: number | null;
  finalSoftcap: number | null;
  /** per layer: sliding window size, or null for full causal attention */
  slidingWindow: (number | null)[];
  /** multiplies token embeddings (√dModel in Gemma) */
  embedScale: number;
  /** Gemma 2's norms after attention and after the MLP */
  sandwichNorms: boolean;
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  tiedEmbeddings: boolean;
  bosTokenId: number | null;
  /** the first end-of-sequence id (generation stops at any of eosTokenIds) */
  eosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
}

type Json = Record<string, unknown>;

function num(cfg: Json, file: string, key: string, fallback?: number): number {
  const v = cfg[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ModelConfigError(`${file}: field '${key}' is missing. Fix: add it to config.json (it is required for this model type).`);
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ModelConfigError(`${file}: field '${key}' must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function int(cfg: Json, file: string, key: string, fallback?: number): number {
  const v = num(cfg, file, key, fallback);
  if (!Number.isInteger(v) || v < 0) throw new ModelConfigError(`${file}: field '${key}' must be a non-negative integer, got ${v}`);
  return v;
}

function tokenIds(cfg: Json, key: string, fallback: number | null): number[] {
  const v = key in cfg ? cfg[key] : fallback;
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number');
  return [];
}

function tokenId(cfg: Json, key: string, fallback: number | null = null): number | null {
  return tokenIds(cfg, key, fallback)[0] ?? null;
}

/**
 * Hugging Face's constructor defaults for keys that config.json may omit
 * (save_pretrained writes only keys that differ from them). An explicit null
 * in the file is kept as null.
 */
const HF_DEFAULTS: Record<string, Json> = {
  gpt2: { bos_token_id: 50256, eos_token_id: 50256 },
  gpt_neox: { bos_token_id: 0, eos_token_id: 2 },
  llama: { bos_token_id: 1, eos_token_id: 2 },
  mistral: { sliding_window: 4096, num_key_value_heads: 8, bos_token_id: 1, eos_token_id: 2 },
  qwen2: { num_key_value_heads: 32, max_window_layers: 28 },
  gemma: { head_dim: 256, num_key_value_heads: 16, bos_token_id: 2, eos_token_id: 1, pad_token_id: 0 },
  gemma2: { head_dim: 256, num_key_value_heads: 4, query_pre_attn_scalar: 256, attn_logit_softcapping: 50, final_logit_softcapping: 30, sliding_window: 4096, bos_token_id: 2, eos_token_id: 1, pad_token_id: 0 },
};

/** transformers v5 keeps rope_theta, rope scaling and partial_rotary_factor in rope_parameters; older files at the top level. */
function withRopeParameters(cfg: Json): Json {
  const rp = cfg.rope_parameters as Json | null | undefined;
  if (rp === null || rp === undefined || typeof rp !== 'object') return cfg;
  const out: Json = { ...cfg };
  if (rp.rope_theta !== undefined) out.rope_theta = rp.rope_theta;
  if (rp.partial_rotary_factor !== undefined) out.partial_rotary_factor = rp.partial_rotary_factor;
  const type = rp.rope_type ?? rp.type;
  if (type !== undefined && type !== 'default') out.rope_scaling = rp;
  return out;
}

function activation(name: unknown, file: string, key: string): Activation {
  switch (name) {
    case 'gelu':
      return 'gelu';
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_fast':
      return 'gelu_tanh';
    case 'silu':
    case 'swish':
      return 'silu';
    case 'relu':
      return 'relu';
    default:
      throw new ModelConfigError(`${file}: field '${key}' is ${JSON.stringify(name)}, an activation candor does not implement (supported: gelu, gelu_new, gelu_pytorch_tanh, silu, relu)`);
  }
}

function ropeScaling(cfg: Json, file: string): RopeScaling | null {
  const rs = cfg.rope_scaling as Json | null | undefined;
  if (rs === null || rs === undefined) return null;
  const type = (rs.rope_type ?? rs.type) as string | undefined;
  if (type === undefined || type === 'default') return null;
  if (type === 'llama3') {
    return {
      type: 'llama3',
      factor: num(rs, file, 'factor'),
      lowFreqFactor: num(rs, file, 'low_freq_factor'),
      highFreqFactor: num(rs, file, 'high_freq_factor'),
      originalMaxPositionEmbeddings: num(rs, file, 'original_max_position_embeddings'),
    };
  }
  if (type === 'linear') return { type: 'linear', factor: num(rs, file, 'factor') };
  throw new ModelConfigError(`${file}: field 'rope_scaling' has type '${type}', which candor does not implement (supported: default, linear, llama3)`);
}

/** Read a Hugging Face config.json object into candor's configuration. */
export function configFromHF(raw: Json, file = 'config.json'): ModelConfig {
  const modelType = raw.model_type;
  if (typeof modelType !== 'string') throw new ModelConfigError(`${file}: field 'model_type' is missing. Fix: this does not look like a Hugging Face causal LM config.json.`);
  if (!(SUPPORTED_FAMILIES as readonly string[]).includes(modelType)) {
    throw new ModelConfigError(`${file}: model_type '${modelType}' is not supported. Supported model types: ${SUPPORTED_FAMILIES.join(', ')}.`);
  }
  const family = modelType as (typeof SUPPORTED_FAMILIES)[number];
  const cfg: Json = { ...(HF_DEFAULTS[family] ?? {}), ...withRopeParameters(raw) };
  const bos = tokenId(cfg, 'bos_token_id');
  const eosIds = tokenIds(cfg, 'eos_token_id', null);
  const eos = eosIds[0] ?? null;
  const pad = tokenId(cfg, 'pad_token_id');

  if (family === 'gpt2') {
    const d = int(cfg, file, 'n_embd', 768);
    const h = int(cfg, file, 'n_head', 12);
    if (cfg.scale_attn_by_inverse_layer_idx === true || cfg.reorder_and_upcast_attn === true) {
      throw new ModelConfigError(`${file}: scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported`);
    }
    return {
      family, nLayers: int(cfg, file, 'n_layer', 12), dModel: d, nHeads: h, nKVHeads: h, dHead: d / h,
      dMlp: cfg.n_inner == null ? 4 * d : int(cfg, file, 'n_inner'), dVocab: int(cfg, file, 'vocab_size', 50257),
      nCtx: int(cfg, file, 'n_positions', 1024), norm: 'layer', normEps: num(cfg, file, 'layer_norm_epsilon', 1e-5), normOffset: 0,
      act: activation(cfg.activation_function ?? 'gelu_new', file, 'activation_function'), gated: false,
      positional: 'learned', rotaryDim: 0, rotaryTheta: 0, rotaryLayout: 'half', ropeScaling: null,
      parallelResidual: false, attnScale: cfg.scale_attn_weights === false ? 1 : 1 / Math.sqrt(d / h),
      attnSoftcap: null, finalSoftcap: null, slidingWindow: new Array(int(cfg, file, 'n_layer', 12)).fill(null),
      embedScale: 1, sandwichNorms: false, qkvBias: true, oBias: true, mlpBias: true,
      tiedEmbeddings: cfg.tie_word_embeddings !== false, bosTokenId: bos, eosTokenId: eos, eosTokenIds: eosIds, padTokenId: pad,
    };
  }

  const d = int(cfg, file, 'hidden_size');
  const h = int(cfg, file, 'num_attention_heads');
  const L = int(cfg, file, 'num_hidden_layers');
  const headDim = cfg.head_dim == null ? d / h : int(cfg, file, 'head_dim');
  if (!Number.isInteger(headDim)) throw new ModelConfigError(`${file}: hidden_size ${d} is not divisible by num_attention_heads ${h}; set head_dim`);
  const kv = cfg.num_key_value_heads == null ? h : int(cfg, file, 'num_key_value_heads');
  if (h % kv !== 0) throw new ModelConfigError(`${file}: num_attention_heads ${h} is not a multiple of num_key_value_heads ${kv}`);

  if (family === 'gpt_neox') {
    const pct = num(cfg, file, 'rotary_pct', num(cfg, file, 'partial_rotary_factor', 0.25));
    const rotaryDim = Math.floor(headDim * pct);
    return {
      family, nLayers: L, dModel: d, nHeads: h, nKVHeads: h, dHead: headDim, dMlp: int(cfg, file, 'intermediate_size'),
      dVocab: int(cfg, file, 'vocab_size'), nCtx: int(cfg, file, 'max_position_embeddings', 2048),
      norm: 'layer', normEps: num(cfg, file, 'layer_norm_eps', 1e-5), normOffset: 0,
      act: activation(cfg.hidden_act ?? 'gelu', file, 'hidden_act'), gated: false,
      positional: 'rotary', rotaryDim, rotaryTheta: num(cfg, file, 'rope_theta', num(cfg, file, 'rotary_emb_base', 10000)), rotaryLayout: 'half',
      ropeScaling: ropeScaling(cfg, file), parallelResidual: cfg.use_parallel_residual !== false, attnScale: 1 / Math.sqrt(headDim),
      attnSoftcap: null, finalSoftcap: null, slidingWindow: new Array(L).fill(null), embedScale: 1, sandwichNorms: false,
      qkvBias: cfg.attention_bias !== false, oBias: cfg.attention_bias !== false, mlpBias: true,
      tiedEmbeddings: cfg.tie_word_embeddings === true, bosTokenId: bos, eosTokenId: eos, eosTokenIds: eosIds, padTokenId: pad,
    };
  }

  // llama-like families
  const isGemma = family === 'gemma' || family === 'gemma2';
  const actKey = isGemma && cfg.hidden_activation != null ? 'hidden_activation' : 'hidden_act';
  const act = activation(cfg[actKey] ?? (isGemma ? 'gelu_pytorch_tanh' : 'silu'), file, actKey);
  let sliding: (number | null)[] = new Array(L).fill(null);
  if (family === 'mistral' && cfg.sliding_window != null) sliding = new Array(L).fill(int(cfg, file, 'sliding_window'));
  if (family === 'qwen2' && cfg.use_sliding_window === true && cfg.sliding_window != null) {
    const w = int(cfg, file, 'sliding_window');
    const types = cfg.layer_types as string[] | undefined;
    const maxWindow = int(cfg, file, 'max_window_layers', L);
    sliding = Array.from({ length: L }, (_, i) => ((types ? types[i] === 'sliding_attention' : i >= maxWindow) ? w : null));
  }
  if (family === 'gemma2') {
    const w = cfg.sliding_window == null ? null : int(cfg, file, 'sliding_window');
    const types = cfg.layer_types as string[] | undefined;
    sliding = Array.from({ length: L }, (_, i) => ((types ? types[i] === 'sliding_attention' : i % 2 === 0) ? w : null));
  }
  const bias = family === 'qwen2' ? true : cfg.attention_bias === true;
  return {
    family, nLayers: L, dModel: d, nHeads: h, nKVHeads: kv, dHead: headDim, dMlp: int(cfg, file, 'intermediate_size'),
    dVocab: int(cfg, file, 'vocab_size'), nCtx: int(cfg, file, 'max_position_embeddings', 2048),
    norm: 'rms', normEps: num(cfg, file, 'rms_norm_eps', 1e-6), normOffset: isGemma ? 1 : 0, act, gated: true,
    positional: 'rotary', rotaryDim: headDim, rotaryTheta: num(cfg, file, 'rope_theta', 10000), rotaryLayout: 'half',
    ropeScaling: ropeScaling(cfg, file), parallelResidual: false,
    attnScale: family === 'gemma2' ? Math.pow(num(cfg, file, 'query_pre_attn_scalar', headDim), -0.5) : 1 / Math.sqrt(headDim),
    attnSoftcap: family === 'gemma2' ? (cfg.attn_logit_softcapping == null ? null : num(cfg, file, 'attn_logit_softcapping')) : null,
    finalSoftcap: family === 'gemma2' ? (cfg.final_logit_softcapping == null ? null : num(cfg, file, 'final_logit_softcapping')) : null,
    slidingWindow: sliding, embedScale: isGemma ? Math.fround(Math.sqrt(d)) : 1, sandwichNorms: family === 'gemma2',
    qkvBias: bias, oBias: family === 'qwen2' ? false : cfg.attention_bias === true, mlpBias: cfg.mlp_bias === true,
    tiedEmbeddings: isGemma ? cfg.tie_word_embeddings !== false : cfg.tie_word_embeddings === true,
    bosTokenId: bos, eosTokenId: eos, eosTokenIds: eosIds, padTokenId: pad,
  };
}
