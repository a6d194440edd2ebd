/**
 * Writing a model back as a Hugging Face folder (config.json +
 * model.safetensors): the inverse of load.ts's weight mapping, so a model that
 * was loaded, edited (e.g. a direction orthogonalised out of its weights) or
 * trained loads again through loadModel and through transformers.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CandorError } from '../tensor/errors.js';
import { Tensor } from '../tensor/tensor.js';
import { contiguousCopy } from '../tensor/ops/basic.js';
import { concat, reshape, stack, transpose } from '../tensor/ops/shape.js';
import { noGrad } from '../tensor/autograd.js';
import { writeSafetensors } from '../io/safetensors.js';
import type { HookedTransformer } from './transformer.js';

export class ModelSaveError extends CandorError {
  override name = 'ModelSaveError';
}

export interface SaveModelOptions {
  /** storage dtype (default F32) */
  dtype?: 'F32' | 'F16' | 'BF16';
  /** extra safetensors metadata */
  metadata?: Record<string, string>;
}

/** The model's weights under Hugging Face names for its family. */
export function hfStateDict(model: HookedTransformer): Map<string, Tensor> {
  const cfg = model.cfg;
  const w = model.weights;
  const out = new Map<string, Tensor>();
  const put = (name: string, t: Tensor | null | undefined) => {
    if (t != null) out.set(name, t);
  };
  const T = (t: Tensor) => contiguousCopy(transpose(t));
  return noGrad(() => {
    if (cfg.family === 'gpt2') {
      put('transformer.wte.weight', w.embed);
      put('transformer.wpe.weight', w.posEmbed);
      w.blocks.forEach((b, l) => {
        const p = `transformer.h.${l}`;
        put(`${p}.ln_1.weight`, b.ln1.w);
        put(`${p}.ln_1.bias`, b.ln1.b);
        put(`${p}.attn.c_attn.weight`, T(concat([b.wq, b.wk, b.wv], 0)));
        put(`${p}.attn.c_attn.bias`, concat([b.bq!, b.bk!, b.bv!], 0));
        put(`${p}.attn.c_proj.weight`, T(b.wo));
        put(`${p}.attn.c_proj.bias`, b.bo);
        put(`${p}.ln_2.weight`, b.ln2.w);
        put(`${p}.ln_2.bias`, b.ln2.b);
        put(`${p}.mlp.c_fc.weight`, T(b.wIn));
        put(`${p}.mlp.c_fc.bias`, b.bIn);
        put(`${p}.mlp.c_proj.weight`, T(b.wOut));
        put(`${p}.mlp.c_proj.bias`, b.bOut);
      });
      put('transformer.ln_f.weight', w.lnFinal.w);
      put('transformer.ln_f.bias', w.lnFinal.b);
      if (w.unembed !== w.embed) put('lm_head.weight', w.unembed);
    } else if (cfg.family === 'gpt_neox') {
      const H = cfg.nHeads;
      const dh = cfg.dHead;
      const D = cfg.dModel;
      put('gpt_neox.embed_in.weight', w.embed);
      w.blocks.forEach((b, l) => {
        const p = `gpt_neox.layers.${l}`;
        put(`${p}.input_layernorm.weight`, b.ln1.w);
        put(`${p}.input_layernorm.bias`, b.ln1.b);
        put(`${p}.post_attention_layernorm.weight`, b.ln2.w);
        put(`${p}.post_attention_layernorm.bias`, b.ln2.b);
        const heads = (t: Tensor) => reshape(t, [H, dh, D]);
        put(`${p}.attention.query_key_value.weight`, reshape(stack([heads(b.wq), heads(b.wk), heads(b.wv)], 1), [3 * H * dh, D]));
        if (b.bq !== null) put(`${p}.attention.query_key_value.bias`, reshape(stack([reshape(b.bq, [H, dh]), reshape(b.bk!, [H, dh]), reshape(b.bv!, [H, dh])], 1), [3 * H * dh]));
        put(`${p}.attention.dense.weight`, b.wo);
        put(`${p}.attention.dense.bias`, b.bo);
        put(`${p}.mlp.dense_h_to_4h.weight`, b.wIn);
        put(`${p}.mlp.dense_h_to_4h.bias`, b.bIn);
        put(`${p}.mlp.dense_4h_to_h.weight`, b.wOut);
        put(`${p}.mlp.dense_4h_to_h.bias`, b.bOut);
      });
      put('gpt_neox.final_layer_norm.weight', w.lnFinal.w);
      put('gpt_neox.final_layer_norm.bias', w.lnFinal.b);
      if (w.unembed !== w.embed) put('embed_out.weight', w.unembed);
    } else if (cfg.family === 'llama2c') {
      throw new ModelSaveError('saving a llama2.c model as a Hugging Face folder is not supported: its rotary layout is interleaved. Fix: export llama2.c checkpoints with llama2.c\'s own tools.');
    } else {
      put('model.embed_tokens.weight', w.embed);
      w.blocks.forEach((b, l) => {
        const p = `model.layers.${l}`;
        const a = `${p}.self_attn`;
        put(`${p}.input_layernorm.weight`, b.ln1.w);
        if (cfg.sandwichNorms) {
          put(`${p}.post_attention_layernorm.weight`, b.postAttnNorm!.w);
          put(`${p}.pre_feedforward_layernorm.weight`, b.ln2.w);
          put(`${p}.post_feedforward_layernorm.weight`, b.postMlpNorm!.w);
        } else put(`${p}.post_attention_layernorm.weight`, b.ln2.w);
        put(`${a}.q_proj.weight`, b.wq);
        put(`${a}.q_proj.bias`, b.bq);
        put(`${a}.k_proj.weight`, b.wk);
        put(`${a}.k_proj.bias`, b.bk);
        put(`${a}.v_proj.weight`, b.wv);
        put(`${a}.v_proj.bias`, b.bv);
        put(`${a}.o_proj.weight`, b.wo);
        put(`${a}.o_proj.bias`, b.bo);
        put(`${p}.mlp.gate_proj.weight`, b.wGate);
        put(`${p}.mlp.gate_proj.bias`, b.bGate);
        put(`${p}.mlp.up_proj.weight`, b.wIn);
        put(`${p}.mlp.up_proj.bias`, b.bIn);
        put(`${p}.mlp.down_proj.weight`, b.wOut);
        put(`${p}.mlp.down_proj.bias`, b.bOut);
      });
      put('model.norm.weight', w.lnFinal.w);
      if (w.unembed !== w.embed) put('lm_head.weight', w.unembed);
    }
    return out;
  });
}

/** Write config.json and model.safetensors into `dir` (created if needed). */
export function saveModel(model: HookedTransformer, dir: string, opts: SaveModelOptions = {}): void {
  if (model.hfConfig === null) throw new ModelSaveError('this model has no Hugging Face config to save (it was not loaded from or built as a Hugging Face model)');
  const tensors = hfStateDict(model);
  mkdirSync(dir, { recursive: true });
  const config = { ...model.hfConfig };
  if (opts.dtype !== undefined) config.torch_dtype = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[opts.dtype];
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { dtype: opts.dtype, metadata: { format: 'pt', ...(opts.metadata ?? {}) } });
}
