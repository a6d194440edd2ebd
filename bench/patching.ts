/**
 * npm run bench:patching — the cost of patching relative to plain runs, on a
 * 12-layer GPT-2-small-shaped model with random weights, in the same run:
 *
 *   sweep:       a full layer × position resid_pre activation-patching sweep
 *                (12 × T patched runs) against the same number of plain
 *                forward passes batched the same way; target ≤ 1.5× (goal 1.2×)
 *   attribution: attribution patching over every head and MLP neuron (and the
 *                residual, attention and MLP grids) against one forward pass on
 *                each prompt plus one backward pass; target ≤ 3×
 *
 * Medians over repeats; ratio = candor_ms / baseline_ms (below 1 is cheaper).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as T from '../src/tensor/index.js';
import { kernelStatus } from '../src/tensor/kernels/index.js';
import { randomModel } from '../src/model/random.js';
import { activationPatching, attributionPatching } from '../src/methods/patching.js';
import { metricTensor, type MetricSpec } from '../src/methods/metrics.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const POS = Number(process.env.CANDOR_BENCH_POS ?? 16);
const BATCH = 32;
const REPEATS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

process.stderr.write('building a 12-layer GPT-2-small-shaped model with random weights\n');
const model = randomModel({ model_type: 'gpt2', n_embd: 768, n_head: 12, n_layer: 12, n_positions: 1024, vocab_size: 50257 }, { seed: 1, std: 0.02 });
const rng = new T.Rng(3);
const source = Array.from({ length: POS }, () => rng.int(50257));
const dest = [...source];
dest[Math.floor(POS / 2)] = (dest[Math.floor(POS / 2)]! + 1) % 50257;
const metric: MetricSpec = { kind: 'logit_diff', a: 11, b: 12 };
const runs = 12 * POS;

// warm up
activationPatching(model, source, dest, { metric, site: 'resid_pre', layers: [11], batchSize: BATCH });
T.noGrad(() => model.forward(Array.from({ length: BATCH }, () => dest), { logits: 'last' }).logits!.size);

const sweep: number[] = [];
const plain: number[] = [];
for (let r = 0; r < REPEATS; r++) {
  process.stderr.write(`sweep ${r + 1}/${REPEATS}\n`);
  sweep.push(time(() => activationPatching(model, source, dest, { metric, site: 'resid_pre', batchSize: BATCH })));
  plain.push(time(() => {
    for (let done = 0; done < runs; done += BATCH) {
      const k = Math.min(BATCH, runs - done);
      T.noGrad(() => model.forward(Array.from({ length: k }, () => dest), { logits: 'last' }).logits!.size);
    }
  }));
}

const attr: number[] = [];
const pair: number[] = [];
for (let r = 0; r < REPEATS; r++) {
  process.stderr.write(`attribution ${r + 1}/${REPEATS}\n`);
  attr.push(time(() => attributionPatching(model, source, dest, { metric, sites: ['resid_pre', 'attn_out', 'mlp_out', 'heads', 'neurons'] })));
  pair.push(time(() => {
    T.noGrad(() => model.forward([source]).logits!.size);
    model.gradients([dest], (logits) => metricTensor(metric, logits, null), ['hook_embed']);
  }));
}

const s = median(sweep);
const p = median(plain);
const a = median(attr);
const f = median(pair);
const report = {
  results: [
    { case: `resid_pre sweep, 12 layers × ${POS} positions (${runs} patched runs)`, candor_ms: +s.toFixed(1), baseline: `${runs} plain forward passes in batches of ${BATCH}`, baseline_ms: +p.toFixed(1), ratio: +(s / p).toFixed(3), target: 1.5, goal: 1.2 },
    { case: 'attribution patching: resid_pre, attn_out, mlp_out, all heads and all neurons', candor_ms: +a.toFixed(1), baseline: 'one forward on each prompt + one backward', baseline_ms: +f.toFixed(1), ratio: +(a / f).toFixed(3), target: 3 },
  ],
  kernel: kernelStatus().description,
  repeats: REPEATS,
  date: new Date().toISOString(),
};
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'patching.json'), JSON.stringify(report, null, 2) + '\n');
console.log(JSON.stringify(report, null, 2));
