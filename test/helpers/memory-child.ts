/**
 * Run by test/memory.test.ts in its own process (node --expose-gc): RSS after
 * a warm-up, then after 10,000 forward+backward+AdamW iterations of a small
 * transformer block. Prints one JSON line.
 */
import * as T from '../../src/tensor/index.js';
import { initBlock, runBlock, type BlockDims } from './block.js';

const iterations = Number(process.argv[2] ?? 10000);
const dims: BlockDims = { batch: 2, pos: 8, dModel: 32, heads: 4, dMlp: 64, vocab: 50 };
const p = initBlock(dims, 1, 'float32');
const opt = new T.AdamW(Object.values(p), { lr: 1e-3 });
const rng = new T.Rng(2);
const tok = () => T.ids(Array.from({ length: dims.batch * dims.pos }, () => rng.int(dims.vocab)), [dims.batch, dims.pos]);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

function iter(): number {
  opt.zeroGrad();
  const run = runBlock(p, dims, tok(), tok());
  T.backward(run.loss);
  opt.step();
  // and an inference pass in noGrad, which recycles buffers
  T.noGrad(() => runBlock(p, dims, tok(), tok()).loss.item());
  return run.loss.item();
}

const usage = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
};
for (let i = 0; i < 500; i++) iter();
const before = usage();
const t0 = performance.now();
let loss = 0;
for (let i = 0; i < iterations; i++) loss = iter();
const ms = performance.now() - t0;
const after = usage();
console.log(JSON.stringify({ before, after, iterations, ms_per_iteration: ms / iterations, loss }));
