/**
 * loadModel: a local Hugging Face folder (single or sharded safetensors, F32 /
 * F16 / BF16), a llama2.c checkpoint (.bin, with its tokenizer .bin beside it
 * or given), or a Hub id resolved from the local cache or downloaded.
 *
 * Every tensor is checked against the shape config.json implies before the
 * model is built: bad input gives a ModelLoadError naming the file, the field
 * and the fix, never a half-built model.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CandorError, fmtShape } from '../tensor/errors.js';
import { Tensor } from '../tensor/tensor.js';
import { contiguousCopy } from '../tensor/ops/basic.js';
import { reshape, select, slice, transpose } from '../tensor/ops/shape.js';
import { openSafetensors, type SafetensorsFile } from '../io/safetensors.js';
import { readLlama2c } from '../io/llama2c.js';
import { loadTokenizer, loadLlama2cTokenizer, type Tokenizer } from '../io/tokenizer.js';
import { resolveModelSource, type ResolveOptions } from '../io/hub.js';
import { configFromHF, type ModelConfig } from './config.js';
import type { BlockWeights, ModelWeights } from './weights.js';
import { HookedTransformer } from './transformer.js';

export class ModelLoadError extends CandorError {
  override name = 'ModelLoadError';
}

export interface LoadOptions extends ResolveOptions {
  /** llama2.c: the tokenizer .bin (default: tokenizer.bin or tok<vocab>.bin beside the checkpoint) */
  tokenizerPath?: string;
  /** skip loading a tokenizer */
  noTokenizer?: boolean;
}

/** Load a model from a folder, a llama2.c file, or a Hub id. */
export async function loadModel(source: string, opts: LoadOptions = {}): Promise<HookedTransformer> {
  const resolved = existsSync(source) ? { dir: source } : await resolveModelSource(source, opts);
  return loadModelSync(resolved.dir, opts);
}

/** Load from a local folder or llama2.c file. */
export function loadModelSync(path: string, opts: LoadOptions = {}): HookedTransformer {
  if (!existsSync(path)) throw new ModelLoadError(`${path}: no such file or folder. Fix: pass a Hugging Face model folder, a llama2.c .bin file, or a Hub id (owner/name).`);
  const model = statSync(path).isDirectory() ? loadHFFolder(path, opts) : loadLlama2cFile(path, opts);
  model.source = path;
  return model;
}

// ---------------------------------------------------------------------------
// Hugging Face folders

interface WeightSource {
  get(name: string, shape: readonly number[]): Tensor;
  has(name: string): boolean;
  close(): void;
}

function openWeights(dir: string): WeightSource {
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  const files = new Map<string, SafetensorsFile>();
  const where = new Map<string, string>();
  const open = (file: string): SafetensorsFile => {
    let f = files.get(file);
    if (f === undefined) {
      f = openSafetensors(file);
      files.set(file, f);
    }
    return f;
  };
  try {
    if (existsSync(index)) {
      let idx: { weight_map?: Record<string, string> };
      try {
        idx = JSON.parse(readFileSync(index, 'utf8')) as typeof idx;
      } catch (e) {
        throw new ModelLoadError(`${index}: not valid JSON (${(e as Error).message}). Fix: download the model again.`);
      }
      if (idx.weight_map === undefined || typeof idx.weight_map !== 'object') throw new ModelLoadError(`${index}: field 'weight_map' is missing`);
      for (const [name, file] of Object.entries(idx.weight_map)) {
        const p = join(dir, file);
        if (!existsSync(p)) throw new ModelLoadError(`${index}: weight_map names shard '${file}', which is missing from ${dir}. Fix: download every shard.`);
        where.set(name, p);
      }
      for (const p of new Set(where.values())) open(p);
    } else if (existsSync(single)) {
      const f = open(single);
      for (const name of f.entries.keys()) where.set(name, single);
    } else {
      const bins = existsSync(join(dir, 'pytorch_model.bin')) ? ' It has pytorch_model.bin, a pickle format candor does not read; convert it to safetensors.' : '';
      throw new ModelLoadError(`${dir}: no model.safetensors or model.safetensors.index.json.${bins} Fix: save the model with save_pretrained(safe_serialization=True).`);
    }
  } catch (e) {
    for (const f of files.values()) f.close();
    throw e;
  }
  return {
    has: (name) => where.has(name),
    get(name, shape) {
      const file = where.get(name);
      if (file === undefined) throw new ModelLoadError(`${dir}: tensor '${name}' is missing from the checkpoint. Fix: the weights do not match config.json (wrong model_type, or an incomplete download).`);
      const f = open(file);
      const e = f.entries.get(name)!;
      if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
        throw new ModelLoadError(`${file}: tensor '${name}' has shape [${e.shape.join(', ')}] but config.json implies ${fmtShape(shape)}. Fix: the weights and config.json are from different models.`);
      }
      const t = f.read(name);
      if (t.dtype !== 'float32') throw new ModelLoadError(`${file}: tensor '${name}' has dtype ${e.dtype}; model weights must be F32, F16 or BF16`);
      return t;
    },
    close() {
      for (const f of files.values()) f.close();
    },
  };
}

function readConfig(dir: string): { cfg: ModelConfig; raw: Record<string, unknown> } {
  const file = join(dir, 'config.json');
  if (!existsSync(file)) throw new ModelLoadError(`${dir}: config.json is missing. Fix: a Hugging Face model folder needs config.json beside its weights.`);
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new ModelLoadError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return { cfg: configFromHF(cfg, file), raw: cfg };
}

function loadHFFolder(dir: string, opts: LoadOptions): HookedTransformer {
  const { cfg, raw } = readConfig(dir);
  const src = openWeights(dir);
  let weights: ModelWeights;
  try {
    weights = mapHFWeights(cfg, src);
  } finally {
    src.close();
  }
  const model = new HookedTransformer(cfg, weights);
  model.hfConfig = raw;
  if (!opts.noTokenizer && existsSync(join(dir, 'tokenizer.json'))) model.tokenizer = loadTokenizer(dir);
  return model;
}

const rows = (t: Tensor, start: number, end: number): Tensor => contiguousCopy(slice(t, 0, start, end));
const transposed = (t: Tensor): Tensor => contiguousCopy(transpose(t));

function mapHFWeights(cfg: ModelConfig, src: WeightSource): ModelWeights {
  const D = cfg.dModel;
  const H = cfg.nHeads;
  const KV = cfg.nKVHeads;
  const dh = cfg.dHead;
  const V = cfg.dVocab;
  const F = cfg.dMlp;
  const g = (n: string, shape: readonly number[]) => src.get(n, shape);
  const opt = (n: string, shape: readonly number[]) => (src.has(n) ? src.get(n, shape) : null);
  const blocks: BlockWeights[] = [];

  if (cfg.family === 'gpt2') {
    for (let l = 0; l < cfg.nLayers; l++) {
      const p = `transformer.h.${l}`;
      // Conv1D weights are [in, out]: transpose to [out, in]
      const qkv = transposed(g(`${p}.attn.c_attn.weight`, [D, 3 * D]));
      const qkvB = g(`${p}.attn.c_attn.bias`, [3 * D]);
      blocks.push({
        ln1: { w: g(`${p}.ln_1.weight`, [D]), b: g(`${p}.ln_1.bias`, [D]) },
        ln2: { w: g(`${p}.ln_2.weight`, [D]), b: g(`${p}.ln_2.bias`, [D]) },
        postAttnNorm: null, postMlpNorm: null,
        wq: rows(qkv, 0, D), wk: rows(qkv, D, 2 * D), wv: rows(qkv, 2 * D, 3 * D),
        bq: rows(qkvB, 0, D), bk: rows(qkvB, D, 2 * D), bv: rows(qkvB, 2 * D, 3 * D),
        wo: transposed(g(`${p}.attn.c_proj.weight`, [D, D])), bo: g(`${p}.attn.c_proj.bias`, [D]),
        wIn: transposed(g(`${p}.mlp.c_fc.weight`, [D, F])), bIn: g(`${p}.mlp.c_fc.bias`, [F]), wGate: null, bGate: null,
        wOut: transposed(g(`${p}.mlp.c_proj.weight`, [F, D])), bOut: g(`${p}.mlp.c_proj.bias`, [D]),
      });
    }
    const embed = g('transformer.wte.weight', [V, D]);
    return {
      embed, posEmbed: g('transformer.wpe.weight', [cfg.nCtx, D]), blocks,
      lnFinal: { w: g('transformer.ln_f.weight', [D]), b: g('transformer.ln_f.bias', [D]) },
      unembed: cfg.tiedEmbeddings || !src.has('lm_head.weight') ? embed : g('lm_head.weight', [V, D]),
    };
  }

  if (cfg.family === 'gpt_neox') {
    for (let l = 0; l < cfg.nLayers; l++) {
      const p = `gpt_neox.layers.${l}`;
      // query_key_value rows are [head, (q|k|v), d_head]
      const qkv = reshape(g(`${p}.attention.query_key_value.weight`, [3 * D, D]), [H, 3, dh, D]);
      const part = (t: Tensor, i: number, shape: number[]) => reshape(contiguousCopy(select(t, 1, i)), shape);
      const qkvB = cfg.qkvBias ? reshape(g(`${p}.attention.query_key_value.bias`, [3 * D]), [H, 3, dh]) : null;
      blocks.push({
        ln1: { w: g(`${p}.input_layernorm.weight`, [D]), b: g(`${p}.input_layernorm.bias`, [D]) },
        ln2: { w: g(`${p}.post_attention_layernorm.weight`, [D]), b: g(`${p}.post_attention_layernorm.bias`, [D]) },
        postAttnNorm: null, postMlpNorm: null,
        wq: part(qkv, 0, [H * dh, D]), wk: part(qkv, 1, [H * dh, D]), wv: part(qkv, 2, [H * dh, D]),
        bq: qkvB && part(qkvB, 0, [H * dh]), bk: qkvB && part(qkvB, 1, [H * dh]), bv: qkvB && part(qkvB, 2, [H * dh]),
        wo: g(`${p}.attention.dense.weight`, [D, H * dh]), bo: cfg.oBias ? g(`${p}.attention.dense.bias`, [D]) : null,
        wIn: g(`${p}.mlp.dense_h_to_4h.weight`, [F, D]), bIn: g(`${p}.mlp.dense_h_to_4h.bias`, [F]), wGate: null, bGate: null,
        wOut: g(`${p}.mlp.dense_4h_to_h.weight`, [D, F]), bOut: g(`${p}.mlp.dense_4h_to_h.bias`, [D]),
      });
    }
    const embed = g('gpt_neox.embed_in.weight', [V, D]);
    return {
      embed, posEmbed: null, blocks,
      lnFinal: { w: g('gpt_neox.final_layer_norm.weight', [D]), b: g('gpt_neox.final_layer_norm.bias', [D]) },
      unembed: cfg.tiedEmbeddings ? embed : g('embed_out.weight', [V, D]),
    };
  }

  // llama, mistral, qwen2, gemma, gemma2
  for (let l = 0; l < cfg.nLayers; l++) {
    const p = `model.layers.${l}`;
    const a = `${p}.self_attn`;
    const norm = (n: string) => ({ w: g(n, [D]), b: null });
    blocks.push({
      ln1: norm(`${p}.input_layernorm.weight`),
      ln2: norm(cfg.sandwichNorms ? `${p}.pre_feedforward_layernorm.weight` : `${p}.post_attention_layernorm.weight`),
      postAttnNorm: cfg.sandwichNorms ? norm(`${p}.post_attention_layernorm.weight`) : null,
      postMlpNorm: cfg.sandwichNorms ? norm(`${p}.post_feedforward_layernorm.weight`) : null,
      wq: g(`${a}.q_proj.weight`, [H * dh, D]), wk: g(`${a}.k_proj.weight`, [KV * dh, D]), wv: g(`${a}.v_proj.weight`, [KV * dh, D]),
      bq: cfg.qkvBias ? g(`${a}.q_proj.bias`, [H * dh]) : null,
      bk: cfg.qkvBias ? g(`${a}.k_proj.bias`, [KV * dh]) : null,
      bv: cfg.qkvBias ? g(`${a}.v_proj.bias`, [KV * dh]) : null,
      wo: g(`${a}.o_proj.weight`, [D, H * dh]), bo: cfg.oBias ? g(`${a}.o_proj.bias`, [D]) : null,
      wGate: g(`${p}.mlp.gate_proj.weight`, [F, D]), bGate: cfg.mlpBias ? g(`${p}.mlp.gate_proj.bias`, [F]) : null,
      wIn: g(`${p}.mlp.up_proj.weight`, [F, D]), bIn: cfg.mlpBias ? g(`${p}.mlp.up_proj.bias`, [F]) : null,
      wOut: g(`${p}.mlp.down_proj.weight`, [D, F]), bOut: cfg.mlpBias ? g(`${p}.mlp.down_proj.bias`, [D]) : null,
    });
  }
  const embed = g('model.embed_tokens.weight', [V, D]);
  const unembed = cfg.tiedEmbeddings ? embed : opt('lm_head.weight', [V, D]);
  if (unembed === null) throw new ModelLoadError(`tensor 'lm_head.weight' is missing and config.json has tie_word_embeddings false. Fix: download the full checkpoint, or set tie_word_embeddings to true if the model ties them.`);
  return { embed, posEmbed: null, blocks, lnFinal: { w: g('model.norm.weight', [D]), b: null }, unembed };
}

// ---------------------------------------------------------------------------
// llama2.c

function loadLlama2cFile(path: string, opts: LoadOptions): HookedTransformer {
  const ck = readLlama2c(path);
  const dh = ck.dim / ck.nHeads;
  const cfg: ModelConfig = {
    family: 'llama2c', nLayers: ck.nLayers, dModel: ck.dim, nHeads: ck.nHeads, nKVHeads: ck.nKVHeads, dHead: dh,
    dMlp: ck.hiddenDim, dVocab: ck.vocabSize, nCtx: ck.seqLen, norm: 'rms', normEps: 1e-5, normOffset: 0, act: 'silu', gated: true,
    positional: 'rotary', rotaryDim: dh, rotaryTheta: 10000, rotaryLayout: 'interleaved', ropeScaling: null, parallelResidual: false,
    attnScale: 1 / Math.sqrt(dh), attnSoftcap: null, finalSoftcap: null, slidingWindow: new Array(ck.nLayers).fill(null),
    embedScale: 1, sandwichNorms: false, qkvBias: false, oBias: false, mlpBias: false, tiedEmbeddings: ck.sharedClassifier,
    bosTokenId: 1, eosTokenId: 2, eosTokenIds: [2], padTokenId: null,
  };
  const t = ck.tensors;
  const layer = (x: Tensor, l: number) => contiguousCopy(select(x, 0, l));
  const blocks: BlockWeights[] = [];
  for (let l = 0; l < ck.nLayers; l++) {
    blocks.push({
      ln1: { w: layer(t.rmsAtt, l), b: null }, ln2: { w: layer(t.rmsFfn, l), b: null }, postAttnNorm: null, postMlpNorm: null,
      wq: layer(t.wq, l), wk: layer(t.wk, l), wv: layer(t.wv, l), bq: null, bk: null, bv: null, wo: layer(t.wo, l), bo: null,
      wGate: layer(t.w1, l), bGate: null, wIn: layer(t.w3, l), bIn: null, wOut: layer(t.w2, l), bOut: null,
    });
  }
  const model = new HookedTransformer(cfg, { embed: t.tokEmbedding, posEmbed: null, blocks, lnFinal: { w: t.rmsFinal, b: null }, unembed: t.wcls });
  if (!opts.noTokenizer) {
    const tokPath = opts.tokenizerPath ?? [join(dirname(path), 'tokenizer.bin'), join(dirname(path), `tok${ck.vocabSize}.bin`)].find((p) => existsSync(p));
    if (tokPath !== undefined) model.tokenizer = loadLlama2cTokenizer(tokPath, ck.vocabSize) as Tokenizer;
    else if (opts.tokenizerPath !== undefined) throw new ModelLoadError(`${opts.tokenizerPath}: no such tokenizer file`);
  }
  return model;
}
