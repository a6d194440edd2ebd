/**
 * Saving and loading named parameters (and, for resumable training, the
 * AdamW state) as safetensors.
 */
import { CandorError, fmtShape } from '../tensor/errors.js';
import { Tensor, tensor, type FloatArray } from '../tensor/tensor.js';
import { AdamW } from '../tensor/optim.js';
import { openSafetensors, writeSafetensors } from './safetensors.js';

export class ParameterLoadError extends CandorError {
  override name = 'ParameterLoadError';
}

const OPT_PREFIX = '__adamw__.';

export interface SaveOptions {
  metadata?: Record<string, string>;
  /** also store this optimizer's moments and step (its params must be among `params`) */
  optimizer?: AdamW;
}

export function saveParameters(path: string, params: Record<string, Tensor>, opts: SaveOptions = {}): void {
  const out = new Map<string, Tensor>();
  for (const [k, v] of Object.entries(params)) out.set(k, v);
  const metadata: Record<string, string> = { ...(opts.metadata ?? {}), format: 'candor-parameters' };
  if (opts.optimizer !== undefined) {
    const opt = opts.optimizer;
    const names = new Map<Tensor, string>();
    for (const [k, v] of Object.entries(params)) names.set(v, k);
    const st = opt.state();
    opt.params.forEach((p, i) => {
      const name = names.get(p);
      if (name === undefined) throw new ParameterLoadError(`saveParameters(${path}): an optimizer parameter ${fmtShape(p.shape)} is not among the parameters being saved`);
      out.set(`${OPT_PREFIX}m.${name}`, tensor(st.m[i]!, [p.size]));
      out.set(`${OPT_PREFIX}v.${name}`, tensor(st.v[i]!, [p.size]));
    });
    metadata['adamw.step'] = String(st.step);
    metadata['adamw.lr'] = String(opt.lr);
  }
  writeSafetensors(path, out, { metadata });
}

export interface LoadOptions {
  /**
   * Copy into these existing tensors (same names and shapes, every one
   * present); they keep their identity and requiresGrad.
   */
  into?: Record<string, Tensor>;
  /** restore this optimizer's state (saved with saveParameters({optimizer})) */
  optimizer?: AdamW;
}

export function loadParameters(path: string, opts: LoadOptions = {}): { params: Record<string, Tensor>; metadata: Record<string, string> } {
  const f = openSafetensors(path);
  try {
    const params: Record<string, Tensor> = {};
    const names = [...f.entries.keys()].filter((k) => !k.startsWith(OPT_PREFIX));
    if (opts.into !== undefined) {
      const missing = Object.keys(opts.into).filter((k) => !f.entries.has(k));
      if (missing.length > 0) throw new ParameterLoadError(`${path}: missing parameters ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}. Fix: load a file saved from the same model.`);
      const extra = names.filter((k) => !(k in opts.into!));
      if (extra.length > 0) throw new ParameterLoadError(`${path}: unexpected parameters ${extra.slice(0, 5).join(', ')}. Fix: load a file saved from the same model.`);
      for (const [k, dst] of Object.entries(opts.into)) {
        const e = f.entries.get(k)!;
        if (e.shape.length !== dst.shape.length || e.shape.some((d, i) => d !== dst.shape[i])) {
          throw new ParameterLoadError(`${path}: parameter '${k}' has shape [${e.shape.join(', ')}] in the file but ${fmtShape(dst.shape)} in the model`);
        }
      }
      for (const [k, dst] of Object.entries(opts.into)) {
        const src = f.read(k);
        if (!dst.isContiguous()) throw new ParameterLoadError(`loadParameters: target '${k}' is a strided view`);
        const d = dst.data as FloatArray;
        const s = src.data as FloatArray;
        for (let i = 0; i < dst.size; i++) d[dst.offset + i] = s[i]!;
        params[k] = dst;
      }
    } else {
      for (const k of names) params[k] = f.read(k);
    }
    if (opts.optimizer !== undefined) {
      const opt = opts.optimizer;
      const step = Number(f.metadata['adamw.step']);
      if (!Number.isFinite(step)) throw new ParameterLoadError(`${path}: no optimizer state in this file. Fix: save it with saveParameters(path, params, { optimizer }).`);
      const byTensor = new Map<Tensor, string>();
      for (const [k, v] of Object.entries(params)) byTensor.set(v, k);
      const m: Float64Array[] = [];
      const v: Float64Array[] = [];
      for (const p of opt.params) {
        const name = byTensor.get(p);
        if (name === undefined) throw new ParameterLoadError(`${path}: restoring optimizer state needs loadParameters({ into }) with the optimizer's parameters`);
        m.push(Float64Array.from(f.read(`${OPT_PREFIX}m.${name}`).data as FloatArray));
        v.push(Float64Array.from(f.read(`${OPT_PREFIX}v.${name}`).data as FloatArray));
      }
      opt.loadState({ step, m, v });
      if (f.metadata['adamw.lr'] !== undefined) opt.lr = Number(f.metadata['adamw.lr']);
    }
    return { params, metadata: { ...f.metadata } };
  } finally {
    f.close();
  }
}
