/**
 * Reading config.json values the way Hugging Face's configuration classes
 * do: typed fields with the class defaults for omitted keys, activation
 * names, rotary scaling. Every family file reads its config through these.
 */
import { CandorError } from '../../tensor/errors.js';
import type { Activation, RopeScaling } from '../config.js';

export class ModelConfigError extends CandorError {
  override name = 'ModelConfigError';
}

export type Json = Record<string, unknown>;

/** A config.json object and the file it came from (for error messages). */
export class ConfigReader {
  constructor(readonly cfg: Json, readonly file: string) {}

  has(key: string): boolean {
    return this.cfg[key] !== undefined && this.cfg[key] !== null;
  }

  num(key: string, fallback?: number): number {
    const v = this.cfg[key];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw new ModelConfigError(`${this.file}: field '${key}' is missing. Fix: add it to config.json (it is required for this model type).`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ModelConfigError(`${this.file}: field '${key}' must be a number, got ${JSON.stringify(v)}`);
    return v;
  }

  int(key: string, fallback?: number): number {
    const v = this.num(key, fallback);
    if (!Number.isInteger(v) || v < 0) throw new ModelConfigError(`${this.file}: field '${key}' must be a non-negative integer, got ${v}`);
    return v;
  }

  /** A positive integer (sizes, counts): 0 would build a model with nothing in it. */
  size(key: string, fallback?: number): number {
    const v = this.int(key, fallback);
    if (v === 0) throw new ModelConfigError(`${this.file}: field '${key}' is 0. Fix: it must be a positive integer.`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.cfg[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') throw new ModelConfigError(`${this.file}: field '${key}' must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  /** A list of strings (layer_types) of `length` entries, or null when absent. */
  strings(key: string, length: number): string[] | null {
    const v = this.cfg[key];
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v) || v.length !== length || v.some((x) => typeof x !== 'string')) {
      throw new ModelConfigError(`${this.file}: field '${key}' must be a list of ${length} strings (one per layer), got ${JSON.stringify(v).slice(0, 80)}`);
    }
    return v as string[];
  }

  /** A list of integers (no_rope_layers, mlp_only_layers), or null when absent. */
  ints(key: string): number[] | null {
    const v = this.cfg[key];
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v) || v.some((x) => !Number.isInteger(x))) throw new ModelConfigError(`${this.file}: field '${key}' must be a list of integers, got ${JSON.stringify(v).slice(0, 80)}`);
    return v as number[];
  }

  activation(key: string, fallback: string): Activation {
    const name = this.cfg[key] ?? fallback;
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
        throw new ModelConfigError(`${this.file}: field '${key}' is ${JSON.stringify(name)}, an activation candor does not implement (supported: gelu, gelu_new, gelu_pytorch_tanh, silu, relu)`);
    }
  }

  /** rope_scaling (or a dict of the same form under another key): null for none or 'default'. */
  ropeScaling(key = 'rope_scaling'): RopeScaling | null {
    const rs = this.cfg[key] as Json | null | undefined;
    if (rs === null || rs === undefined) return null;
    const type = (rs.rope_type ?? rs.type) as string | undefined;
    if (type === undefined || type === 'default') return null;
    const sub = new ConfigReader(rs, `${this.file}: ${key}`);
    if (type === 'llama3') {
      return {
        type: 'llama3', factor: sub.num('factor'), lowFreqFactor: sub.num('low_freq_factor'), highFreqFactor: sub.num('high_freq_factor'),
        originalMaxPositionEmbeddings: sub.num('original_max_position_embeddings'),
      };
    }
    if (type === 'linear') return { type: 'linear', factor: sub.num('factor') };
    throw new ModelConfigError(`${this.file}: field '${key}' has type '${type}', which candor does not implement (supported: default, linear, llama3)`);
  }
}

/** Token ids as config.json gives them (a number, a list, or null). */
export function tokenIds(cfg: Json, key: string): number[] {
  const v = cfg[key];
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number');
  return [];
}

/**
 * transformers v5 keeps rope_theta, rope scaling and partial_rotary_factor in
 * rope_parameters; older files at the top level. Returns the config with the
 * old spellings filled in from rope_parameters (a per-layer-type dict, as
 * gemma3_text writes, is left for its family to read).
 */
export function withRopeParameters(cfg: Json): Json {
  const rp = cfg.rope_parameters as Json | null | undefined;
  if (rp === null || rp === undefined || typeof rp !== 'object') return cfg;
  if (Object.values(rp).some((v) => v !== null && typeof v === 'object')) return cfg;
  const out: Json = { ...cfg };
  if (rp.rope_theta !== undefined) out.rope_theta = rp.rope_theta;
  if (rp.partial_rotary_factor !== undefined) out.partial_rotary_factor = rp.partial_rotary_factor;
  const type = rp.rope_type ?? rp.type;
  if (type !== undefined && type !== 'default') out.rope_scaling = rp;
  return out;
}
