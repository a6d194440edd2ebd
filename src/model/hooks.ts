/**
 * Hook points, named as in TransformerLens.
 *
 * Shapes: residual-stream points [batch, pos, d_model]; per-head q/k/v/z
 * [batch, pos, head, d_head] (k and v have the key-value heads of grouped-query
 * attention); attn_scores and pattern [batch, head, query_pos, key_pos];
 * result [batch, pos, head, d_model]; mlp.hook_pre/hook_pre_linear/hook_post
 * [batch, pos, d_mlp].
 *
 * hook_attn_out_pre_norm and hook_mlp_out_pre_norm exist only in models that
 * normalise attention and MLP outputs before adding them to the residual
 * stream (Gemma 2 and 3, OLMo 2): the output of o_proj / down_proj before
 * that norm. In models with q/k norms (Qwen3, Gemma 3, OLMo 2) hook_q and
 * hook_k are the normalised queries and keys, the input of rotary.
 *
 * Layers of experts (Mixture of Experts) have, instead of mlp.hook_pre,
 * hook_pre_linear and hook_post:
 *   mlp.hook_router_logits [batch, pos, expert]: the router's raw logits;
 *   mlp.hook_expert_weights [batch, pos, expert]: their softmax over all experts (as TransformerLens);
 *   mlp.hook_expert_indices [batch, pos, k] (int32): the k experts each token is routed to;
 *   mlp.hook_route_weights [batch, pos, expert]: the weight each expert's output gets (0 where it is
 *     not chosen; renormalised over the k chosen where the model does so) — candor's own;
 *   mlp.experts.{e}.hook_pre / hook_pre_linear / hook_post [batch, pos, d_expert]: expert e's
 *     activations, 0 at positions not routed to it (those are not computed).
 * A hook that replaces an activation changes what follows: router logits change the routing, an
 * expert's hook_post changes its output at the positions routed to it.
 */
import type { Tensor } from '../tensor/tensor.js';

export const BLOCK_HOOKS = [
  'hook_resid_pre',
  'ln1.hook_normalized',
  'attn.hook_q',
  'attn.hook_k',
  'attn.hook_v',
  'attn.hook_rot_q',
  'attn.hook_rot_k',
  'attn.hook_attn_scores',
  'attn.hook_pattern',
  'attn.hook_z',
  'attn.hook_result',
  'hook_attn_out_pre_norm',
  'hook_attn_out',
  'hook_resid_mid',
  'ln2.hook_normalized',
  'mlp.hook_pre',
  'mlp.hook_pre_linear',
  'mlp.hook_post',
  'hook_mlp_out_pre_norm',
  'hook_mlp_out',
  'hook_resid_post',
] as const;

/** Hook points of a layer of experts, after the MLP's input norm. */
export const MOE_HOOKS = ['mlp.hook_router_logits', 'mlp.hook_expert_weights', 'mlp.hook_expert_indices', 'mlp.hook_route_weights'] as const;
export const EXPERT_HOOKS = ['hook_pre', 'hook_pre_linear', 'hook_post'] as const;

export type ExpertHookSuffix = `mlp.experts.${number}.${(typeof EXPERT_HOOKS)[number]}`;
export type BlockHookSuffix = (typeof BLOCK_HOOKS)[number] | (typeof MOE_HOOKS)[number] | ExpertHookSuffix;
export type BlockHookName = `blocks.${number}.${BlockHookSuffix}`;
export type HookName = 'hook_embed' | 'hook_pos_embed' | BlockHookName | 'ln_final.hook_normalized';

export interface HookContext {
  readonly name: HookName;
  /** the block index, or null for embedding and final-norm points */
  readonly layer: number | null;
}

/**
 * A forward hook reads an activation and may return a replacement of the same
 * shape; a backward hook reads the gradient flowing into the activation and
 * may return a replacement gradient.
 */
export type HookFn = (activation: Tensor, ctx: HookContext) => Tensor | void;

/** A hook point name, or a predicate over names. */
export type HookSelector = HookName | ((name: HookName) => boolean);

export type HookSpec = readonly [HookSelector, HookFn];

export function blockHook(layer: number, suffix: BlockHookSuffix): BlockHookName {
  return `blocks.${layer}.${suffix}`;
}

/** Parse a hook name: its layer (or null) and its suffix. */
export function parseHookName(name: string): { layer: number | null; suffix: string } | null {
  if (name === 'hook_embed' || name === 'hook_pos_embed' || name === 'ln_final.hook_normalized') return { layer: null, suffix: name };
  const m = /^blocks\.(\d+)\.(.+)$/.exec(name);
  const known = (s: string) => (BLOCK_HOOKS as readonly string[]).includes(s) || (MOE_HOOKS as readonly string[]).includes(s) || /^mlp\.experts\.\d+\.hook_(pre|pre_linear|post)$/.test(s);
  if (m === null || !known(m[2]!)) return null;
  return { layer: Number(m[1]), suffix: m[2]! };
}
