/**
 * One normalised configuration for every family. A family is a set of
 * switches on the same transformer; `configFromHF` reads a Hugging Face
 * config.json into it through the family's file (src/model/families/), with
 * HF's defaults for keys that its diff-serialised config.json leaves out.
 */
import { ConfigReader, ModelConfigError, withRopeParameters, type Json } from './families/read.js';
import { FAMILIES } from './families/index.js';

export { ModelConfigError };

/** The Hugging Face model types candor loads. */
export const SUPPORTED_FAMILIES: readonly string[] = Object.keys(FAMILIES);
/** a model_type of SUPPORTED_FAMILIES, or 'llama2c' */
export type Family = string;

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
  /** norms before attention and before the MLP (ln1, ln2); OLMo 2 has none */
  preNorms: boolean;
  /** norms on the attention and MLP outputs before they join the residual stream (Gemma 2 and 3, OLMo 2) */
  postNorms: boolean;
  /** RMSNorm of queries and keys before rotary: per head over d_head (Qwen3, Gemma 3), over the whole projection (OLMo 2), or none */
  qkNorm: 'head' | 'whole' | null;
  /** per layer: the rotary table it uses ('global': rotaryTheta and ropeScaling; 'local': localRope), or null (no positional signal: NoPE) */
  layerRope: ('global' | 'local' | null)[];
  /** Gemma 3's sliding layers: their own rotary base and scaling */
  localRope: { theta: number; scaling: RopeScaling | null } | null;
  /**
   * Mixture-of-Experts MLPs, or null: the number of experts, how many each token is routed to, whether
   * those experts' weights are renormalised to sum to 1, each expert's MLP width, and which layers
   * route (the others keep a dense MLP of dMlp)
   */
  moe: { nExperts: number; topK: number; normTopK: boolean; dExpert: number; layers: boolean[] } | null;
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

/** Read a Hugging Face config.json object into candor's configuration. */
export function configFromHF(raw: Json, file = 'config.json'): ModelConfig {
  const modelType = raw.model_type;
  if (typeof modelType !== 'string') throw new ModelConfigError(`${file}: field 'model_type' is missing. Fix: this does not look like a Hugging Face causal LM config.json.`);
  const spec = FAMILIES[modelType];
  if (spec === undefined) throw new ModelConfigError(`${file}: model_type '${modelType}' is not supported. Supported model types: ${SUPPORTED_FAMILIES.join(', ')}.`);
  return spec.config(new ConfigReader({ ...spec.defaults, ...withRopeParameters(raw) }, file));
}
