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
import { noGrad } from '../tensor/autograd.js';
import { writeSafetensors } from '../io/safetensors.js';
import type { HookedTransformer } from './transformer.js';
import { familyOf } from './families/index.js';

export class ModelSaveError extends CandorError {
  override name = 'ModelSaveError';
}

export interface SaveModelOptions {
  /** storage dtype (default F32) */
  dtype?: 'F32' | 'F16' | 'BF16';
  /** extra safetensors metadata */
  metadata?: Record<string, string>;
}

/** The model's weights under Hugging Face names: the family's weight table walked backward. */
export function hfStateDict(model: HookedTransformer): Map<string, Tensor> {
  const cfg = model.cfg;
  const spec = familyOf(cfg.family);
  if (spec === undefined) {
    const why = cfg.rotaryLayout === 'interleaved' ? ': its rotary layout is interleaved. Fix: export llama2.c checkpoints with llama2.c\'s own tools.' : '.';
    throw new ModelSaveError(`saving a ${cfg.family} model as a Hugging Face folder is not supported${why}`);
  }
  const named = model.parameters();
  const out = new Map<string, Tensor>();
  const used = new Set<string>();
  return noGrad(() => {
    for (const r of spec.weights(cfg)) {
      const parts = r.to.map((n) => named.get(n));
      if (parts.some((t) => t === undefined)) {
        if (r.optional === true) continue;
        throw new ModelSaveError(`${cfg.family}: the model has no '${r.to.find((_, i) => parts[i] === undefined)}' for '${r.hf}' (its weights do not match its config)`);
      }
      r.to.forEach((n) => used.add(n));
      out.set(r.hf, r.codec === undefined ? parts[0]! : r.codec.save(parts as Tensor[]));
    }
    const left = [...named.keys()].filter((n) => !used.has(n));
    if (left.length > 0) throw new ModelSaveError(`${cfg.family}: no Hugging Face name for ${left.slice(0, 4).join(', ')}${left.length > 4 ? ', …' : ''} (a weight the family's table does not list would be lost)`);
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
