/**
 * What a model family is to candor: how its config.json reads into a
 * ModelConfig, and one table of its weights — Hugging Face name and shape ↔
 * candor names — that loading walks forward and saving walks backward, so
 * the two cannot drift apart. A family is one file under this folder and one
 * line in index.ts.
 */
import type { Tensor } from '../../tensor/tensor.js';
import { contiguousCopy } from '../../tensor/ops/basic.js';
import { concat, reshape, select, slice, stack, transpose } from '../../tensor/ops/shape.js';
import type { ModelConfig } from '../config.js';
import type { ConfigReader, Json } from './read.js';

/** How one Hugging Face tensor becomes candor tensors (load) and back (save). */
export interface Codec {
  load(t: Tensor): Tensor[];
  save(parts: readonly Tensor[]): Tensor;
}

/** One row of a family's weight table. */
export interface WeightRule {
  /** the Hugging Face tensor name */
  hf: string;
  /** its shape in the file */
  shape: readonly number[];
  /** the candor names it holds (namedWeights), in the codec's order */
  to: readonly string[];
  /** default: the tensor as it is, for one name */
  codec?: Codec;
  /** absent from a file: the candor tensor is absent too (when that is legal, e.g. an untied lm_head that GPT-2 files leave out) */
  optional?: boolean;
  /** what to say when a required tensor is missing (default: the weights do not match config.json) */
  fix?: string;
}

export interface Family {
  /** config.json's model_type */
  modelType: string;
  /** Hugging Face's constructor defaults for keys config.json may omit */
  defaults: Json;
  /** the normalised configuration */
  config(r: ConfigReader): ModelConfig;
  /** the weight table for this configuration */
  weights(cfg: ModelConfig): WeightRule[];
  /** llama.cpp's architecture name (GGUF control vectors), when it differs from model_type */
  ggufArch?: string;
}

const rowsOf = (t: Tensor, start: number, end: number): Tensor => contiguousCopy(slice(t, 0, start, end));
const transposed = (t: Tensor): Tensor => contiguousCopy(transpose(t));

export const codecs = {
  /** the file's [in, out] (GPT-2's Conv1D) is candor's [out, in] transposed */
  transposed: { load: (t: Tensor) => [transposed(t)], save: (p: readonly Tensor[]) => transposed(p[0]!) } satisfies Codec,
  /** a fused projection: consecutive row blocks of these sizes (Phi-3's qkv_proj, gate_up_proj; GPT-2's biases) */
  rows(sizes: readonly number[]): Codec {
    return {
      load: (t) => {
        let at = 0;
        return sizes.map((n) => rowsOf(t, at, (at += n)));
      },
      save: (p) => contiguousCopy(concat([...p], 0)),
    };
  },
  /** GPT-2's c_attn: [in, q|k|v] */
  transposedRows(sizes: readonly number[]): Codec {
    const inner = codecs.rows(sizes);
    return { load: (t) => inner.load(transposed(t)), save: (p) => transposed(inner.save(p)) };
  },
  /** GPT-NeoX's query_key_value: rows ordered [head, (q|k|v), d_head] (trailing = [D] for weights, [] for biases) */
  perHead(H: number, dh: number, trailing: readonly number[]): Codec {
    return {
      load: (t) => {
        const g = reshape(t, [H, 3, dh, ...trailing]);
        return [0, 1, 2].map((i) => reshape(contiguousCopy(select(g, 1, i)), [H * dh, ...trailing]));
      },
      save: (p) => reshape(stack(p.map((x) => reshape(x, [H, dh, ...trailing])), 1), [3 * H * dh, ...trailing]),
    };
  },
};

/** A rule for one tensor that maps to one candor name as it is. */
export const rule = (hf: string, shape: readonly number[], to: string, extra: Partial<WeightRule> = {}): WeightRule => ({ hf, shape, to: [to], ...extra });
