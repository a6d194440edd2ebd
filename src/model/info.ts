/** Summaries of a model for people and tools (candor info, candor logits). */
import { noGrad } from '../tensor/autograd.js';
import type { ModelConfig } from './config.js';
import type { HookName } from './hooks.js';
import type { HookedTransformer, TokenInput } from './transformer.js';

export interface ModelInfo {
  source: string | null;
  family: string;
  config: ModelConfig;
  parameters: number;
  float32_bytes: number;
  tokenizer: { vocab_size: number; bos_token_id: number | null; eos_token_id: number | null; chat_template: boolean } | null;
  hook_names: HookName[];
}

export function describeModel(model: HookedTransformer): ModelInfo {
  const n = model.parameterCount();
  const tok = model.tokenizer;
  return {
    source: model.source,
    family: model.cfg.family,
    config: model.cfg,
    parameters: n,
    float32_bytes: 4 * n,
    tokenizer: tok === null ? null : { vocab_size: tok.vocabSize, bos_token_id: tok.bosTokenId, eos_token_id: tok.eosTokenId, chat_template: tok.chatTemplate !== null },
    hook_names: model.hookNames(),
  };
}

export interface LogitsReport {
  input_ids: number[];
  /** [pos][vocab] */
  logits: number[][];
  /** [layer][pos][d_model]: the residual stream after each block, before the final norm */
  resid_post: number[][][];
}

/** Logits and every block's output residual for one sequence. */
export function logitsAndResiduals(model: HookedTransformer, ids: readonly number[]): LogitsReport {
  return noGrad(() => {
    const { logits, cache } = model.runWithCache([ids] as TokenInput, { names: (n) => n.endsWith('.hook_resid_post') });
    const T = ids.length;
    const V = model.cfg.dVocab;
    const D = model.cfg.dModel;
    const rows = (flat: ArrayLike<number>, n: number, width: number) => Array.from({ length: n }, (_, i) => Array.from((flat as Float32Array).subarray(i * width, (i + 1) * width)));
    return {
      input_ids: [...ids],
      logits: rows(logits!.toTypedArray(), T, V),
      resid_post: Array.from({ length: model.cfg.nLayers }, (_, l) => rows(cache.at(`blocks.${l}.hook_resid_post`).toTypedArray(), T, D)),
    };
  });
}

export interface TokenRow {
  position: number;
  id: number;
  /** the token alone, decoded (special tokens kept) */
  text: string;
}

/** The exact input a prompt becomes, token by token, and what looks wrong about it (a doubled BOS, a BOS that is missing although the model has one). */
export function describeInput(model: HookedTransformer, ids: readonly number[]): { tokens: TokenRow[]; warnings: string[] } {
  const tok = model.tokenizer;
  const tokens = ids.map((id, position) => ({ position, id, text: tok === null ? String(id) : tok.decode([id]) }));
  const bos = tok?.bosTokenId ?? model.cfg.bosTokenId;
  const warnings: string[] = [];
  if (bos !== null && ids[0] === bos && ids[1] === bos) {
    warnings.push(`the input starts with BOS (${bos}) twice: the chat template writes one and encoding added another. Encode the rendered template without special tokens.`);
  }
  return { tokens, warnings };
}
