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
import { select } from '../tensor/ops/shape.js';
import { openSafetensors, type SafetensorsFile } from '../io/safetensors.js';
import { readLlama2c } from '../io/llama2c.js';
import { loadTokenizer, loadLlama2cTokenizer, type Tokenizer } from '../io/tokenizer.js';
import { resolveModelSource, type ResolveOptions } from '../io/hub.js';
import { configFromHF, type ModelConfig } from './config.js';
import { weightsFromNamed, type BlockWeights, type ModelWeights } from './weights.js';
import { familyOf } from './families/index.js';
import { llama2cConfig } from './families/llama2c.js';
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

/** Walk the family's weight table: each Hugging Face tensor read, checked against its shape, and split into candor's tensors. */
function mapHFWeights(cfg: ModelConfig, src: WeightSource): ModelWeights {
  const family = familyOf(cfg.family)!;
  const named = new Map<string, Tensor>();
  for (const r of family.weights(cfg)) {
    if (!src.has(r.hf)) {
      if (r.optional === true) continue;
      if (r.fix !== undefined) throw new ModelLoadError(`tensor '${r.hf}' is missing from the checkpoint. ${r.fix}`);
    }
    const parts = r.codec === undefined ? [src.get(r.hf, r.shape)] : r.codec.load(src.get(r.hf, r.shape));
    r.to.forEach((name, i) => named.set(name, parts[i]!));
  }
  return weightsFromNamed(cfg.nLayers, named);
}

// ---------------------------------------------------------------------------
// llama2.c

function loadLlama2cFile(path: string, opts: LoadOptions): HookedTransformer {
  const ck = readLlama2c(path);
  const cfg = llama2cConfig(ck);
  const t = ck.tensors;
  const layer = (x: Tensor, l: number) => contiguousCopy(select(x, 0, l));
  const blocks: BlockWeights[] = [];
  for (let l = 0; l < ck.nLayers; l++) {
    blocks.push({
      ln1: { w: layer(t.rmsAtt, l), b: null }, ln2: { w: layer(t.rmsFfn, l), b: null }, postAttnNorm: null, postMlpNorm: null, qNorm: null, kNorm: null, router: null, experts: null,
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
