/**
 * llama2.c checkpoints (Karpathy's run.c format): a llama with interleaved
 * rotary pairs. Not a Hugging Face family: the configuration comes from the
 * checkpoint's header, and there is no Hugging Face layout to save to.
 */
import type { ModelConfig } from '../config.js';
import type { Llama2cCheckpoint } from '../../io/llama2c.js';

export function llama2cConfig(ck: Omit<Llama2cCheckpoint, 'tensors' | 'path' | 'version'>): ModelConfig {
  const dh = ck.dim / ck.nHeads;
  const L = ck.nLayers;
  return {
    family: 'llama2c', nLayers: L, dModel: ck.dim, nHeads: ck.nHeads, nKVHeads: ck.nKVHeads, dHead: dh,
    dMlp: ck.hiddenDim, dVocab: ck.vocabSize, nCtx: ck.seqLen, norm: 'rms', normEps: 1e-5, normOffset: 0, act: 'silu', gated: true,
    positional: 'rotary', rotaryDim: dh, rotaryTheta: 10000, rotaryLayout: 'interleaved', ropeScaling: null, parallelResidual: false,
    attnScale: 1 / Math.sqrt(dh), attnSoftcap: null, finalSoftcap: null, slidingWindow: new Array(L).fill(null), layerRope: new Array(L).fill('global'), localRope: null,
    embedScale: 1, preNorms: true, postNorms: false, qkNorm: null, moe: null, qkvBias: false, oBias: false, mlpBias: false, tiedEmbeddings: ck.sharedClassifier,
    bosTokenId: 1, eosTokenId: 2, eosTokenIds: [2], padTokenId: null,
  };
}
