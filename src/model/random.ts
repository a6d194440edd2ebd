/**
 * Randomly initialised models of any supported family, from a Hugging Face
 * style config object (for tests, benchmarks and training from scratch).
 */
import { Rng, randn } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { configFromHF } from './config.js';
import type { BlockWeights, ModelWeights } from './weights.js';
import { HookedTransformer } from './transformer.js';

export interface RandomInit {
  seed?: number;
  /** standard deviation of projection weights (default 0.02) */
  std?: number;
  /** standard deviation of biases (default 0) and of norm weights around their identity value (default 0) */
  biasStd?: number;
  normStd?: number;
}

/** A model with random weights for a Hugging Face config object (model_type and sizes). */
export function randomModel(hfConfig: Record<string, unknown>, init: RandomInit = {}): HookedTransformer {
  const cfg = configFromHF(hfConfig, 'config');
  const rng = new Rng(init.seed ?? 0);
  const std = init.std ?? 0.02;
  const w = (shape: number[]) => randn(shape, rng, std);
  const bias = (n: number, on: boolean): Tensor | null => (on ? randn([n], rng, init.biasStd ?? 0) : null);
  // Gemma stores norm weights as offsets from 1
  const normWeight = (n: number) => randn([n], rng, init.normStd ?? 0, cfg.normOffset === 1 ? 0 : 1);
  const norm = (on: boolean) => (on ? { w: normWeight(cfg.dModel), b: cfg.norm === 'layer' ? randn([cfg.dModel], rng, init.biasStd ?? 0) : null } : null);
  const qk = (heads: number) => (cfg.qkNorm === null ? null : normWeight(cfg.qkNorm === 'head' ? cfg.dHead : heads * cfg.dHead));
  const D = cfg.dModel;
  const blocks: BlockWeights[] = [];
  for (let l = 0; l < cfg.nLayers; l++) {
    const moe = cfg.moe !== null && cfg.moe.layers[l] === true ? cfg.moe : null;
    const dense = moe === null;
    blocks.push({
      ln1: norm(cfg.preNorms), ln2: norm(cfg.preNorms), postAttnNorm: norm(cfg.postNorms), postMlpNorm: norm(cfg.postNorms), qNorm: qk(cfg.nHeads), kNorm: qk(cfg.nKVHeads),
      wq: w([cfg.nHeads * cfg.dHead, D]), wk: w([cfg.nKVHeads * cfg.dHead, D]), wv: w([cfg.nKVHeads * cfg.dHead, D]),
      bq: bias(cfg.nHeads * cfg.dHead, cfg.qkvBias), bk: bias(cfg.nKVHeads * cfg.dHead, cfg.qkvBias), bv: bias(cfg.nKVHeads * cfg.dHead, cfg.qkvBias),
      wo: w([D, cfg.nHeads * cfg.dHead]), bo: bias(D, cfg.oBias),
      wIn: dense ? w([cfg.dMlp, D]) : null, bIn: bias(cfg.dMlp, dense && cfg.mlpBias), wGate: dense && cfg.gated ? w([cfg.dMlp, D]) : null, bGate: bias(cfg.dMlp, dense && cfg.gated && cfg.mlpBias),
      wOut: dense ? w([D, cfg.dMlp]) : null, bOut: bias(D, dense && cfg.mlpBias),
      router: moe === null ? null : w([moe.nExperts, D]),
      experts: moe === null ? null : Array.from({ length: moe.nExperts }, () => ({ wGate: w([moe.dExpert, D]), wIn: w([moe.dExpert, D]), wOut: w([D, moe.dExpert]) })),
    });
  }
  const embed = w([cfg.dVocab, D]);
  const weights: ModelWeights = {
    embed, posEmbed: cfg.positional === 'learned' ? w([cfg.nCtx, D]) : null, blocks, lnFinal: norm(true)!,
    unembed: cfg.tiedEmbeddings ? embed : w([cfg.dVocab, D]),
  };
  const model = new HookedTransformer(cfg, weights);
  model.hfConfig = { ...hfConfig };
  return model;
}
