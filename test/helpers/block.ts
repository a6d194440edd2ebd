/**
 * A small transformer block written with candor's ops: RMSNorm, attention with
 * rotary embedding and a causal mask, LayerNorm, GELU MLP, unembedding and
 * cross-entropy. Used to check gradients end to end and to watch memory.
 */
import * as T from '../../src/tensor/index.js';
import type { DType, Tensor } from '../../src/tensor/index.js';

export interface BlockDims {
  batch: number;
  pos: number;
  dModel: number;
  heads: number;
  dMlp: number;
  vocab: number;
}

export type BlockParams = Record<string, Tensor>;

export function initBlock(d: BlockDims, seed: number, dtype: DType = 'float64'): BlockParams {
  const rng = new T.Rng(seed);
  const n = (shape: number[], std: number, mean = 0) => T.randn(shape, rng, std, mean, dtype).requireGrad();
  return {
    embed: n([d.vocab, d.dModel], 0.5),
    ln1: n([d.dModel], 0.1, 1),
    wq: n([d.dModel, d.dModel], 0.3),
    wk: n([d.dModel, d.dModel], 0.3),
    wv: n([d.dModel, d.dModel], 0.3),
    wo: n([d.dModel, d.dModel], 0.3),
    ln2w: n([d.dModel], 0.1, 1),
    ln2b: n([d.dModel], 0.1),
    win: n([d.dMlp, d.dModel], 0.3),
    bin: n([d.dMlp], 0.1),
    wout: n([d.dModel, d.dMlp], 0.3),
    unembed: n([d.vocab, d.dModel], 0.3),
  };
}

export interface BlockRun {
  loss: Tensor;
  residMid: Tensor;
  pattern: Tensor;
  mlpPost: Tensor;
}

export function runBlock(p: BlockParams, d: BlockDims, tokens: Tensor, targets: Tensor, override: Partial<Record<'residMid' | 'pattern' | 'mlpPost', Tensor>> = {}): BlockRun {
  const dtype = p.embed!.dtype;
  const dh = d.dModel / d.heads;
  const half = dh / 2;
  const ang = new Float64Array(d.pos * half);
  for (let t = 0; t < d.pos; t++) for (let i = 0; i < half; i++) ang[t * half + i] = t * Math.pow(10000, -i / half);
  const cos = T.cast(T.tensor(ang.map(Math.cos), [d.pos, half]), dtype);
  const sin = T.cast(T.tensor(ang.map(Math.sin), [d.pos, half]), dtype);
  const mask = T.empty([d.pos, d.pos], 'int32', true);
  for (let i = 0; i < d.pos; i++) for (let j = i + 1; j < d.pos; j++) mask.data[i * d.pos + j] = 1;

  const x = T.embedding(p.embed!, tokens);
  const h = T.rmsNorm(x, p.ln1!, 1e-6);
  const split = (w: Tensor) => T.reshape(T.linear(h, w), [d.batch, d.pos, d.heads, dh]);
  const q = T.rotary(split(p.wq!), cos, sin, 'half');
  const k = T.rotary(split(p.wk!), cos, sin, 'half');
  const v = split(p.wv!);
  const scores = T.scale(T.matmul(T.permute(q, [0, 2, 1, 3]), T.permute(k, [0, 2, 3, 1])), 1 / Math.sqrt(dh));
  const pattern = override.pattern ?? T.softmax(T.maskedFill(scores, mask, -1e9));
  const z = T.permute(T.matmul(pattern, T.permute(v, [0, 2, 1, 3])), [0, 2, 1, 3]);
  const attnOut = T.linear(T.reshape(z, [d.batch, d.pos, d.dModel]), p.wo!);
  const residMid = override.residMid ?? T.add(x, attnOut);
  const h2 = T.layerNorm(residMid, p.ln2w!, p.ln2b!, 1e-5);
  const mlpPost = override.mlpPost ?? T.gelu(T.linear(h2, p.win!, p.bin!), 'tanh');
  const residPost = T.add(residMid, T.linear(mlpPost, p.wout!));
  const logits = T.linear(residPost, p.unembed!);
  const loss = T.crossEntropy(logits, targets);
  return { loss, residMid, pattern, mlpPost };
}
