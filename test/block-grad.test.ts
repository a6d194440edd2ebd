/**
 * End-to-end gradients of a transformer block's loss, with respect to every
 * weight and to intermediate activations (residual stream, attention pattern,
 * MLP activations), against central finite differences.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.js';
import type { Tensor, FloatArray } from '../src/tensor/index.js';
import { initBlock, runBlock, type BlockDims } from './helpers/block.js';

const dims: BlockDims = { batch: 2, pos: 5, dModel: 8, heads: 2, dMlp: 16, vocab: 11 };
const tokens = T.ids([[1, 4, 2, 9, 0], [3, 3, 10, 5, 7]]);
const targets = T.ids([[4, 2, 9, 0, 1], [3, 10, 5, 7, 2]]);

/** max relative error over the elements of `x`, perturbing x in place through `loss()` */
function fdCheck(x: Tensor, analytic: Tensor, loss: () => number, eps = 1e-6): number {
  const data = x.data as FloatArray;
  const a = analytic.toArray();
  let worst = 0;
  for (let i = 0; i < x.size; i++) {
    const o = data[x.offset + i]!;
    data[x.offset + i] = o + eps;
    const lp = loss();
    data[x.offset + i] = o - eps;
    const lm = loss();
    data[x.offset + i] = o;
    const num = (lp - lm) / (2 * eps);
    worst = Math.max(worst, Math.abs(a[i]! - num) / Math.max(Math.abs(a[i]!) + Math.abs(num), 1e-4));
  }
  return worst;
}

test('block loss: gradients with respect to every weight (float64)', () => {
  const p = initBlock(dims, 7);
  const run = runBlock(p, dims, tokens, targets);
  T.backward(run.loss);
  const loss = () => T.noGrad(() => runBlock(p, dims, tokens, targets).loss.item());
  for (const [name, w] of Object.entries(p)) {
    const err = fdCheck(w, w.grad!, loss);
    assert.ok(err <= 1e-5, `${name}: relative error ${err.toExponential(2)}`);
  }
});

test('block loss: gradients with respect to intermediate activations (float64)', () => {
  const p = initBlock(dims, 8);
  const run = runBlock(p, dims, tokens, targets);
  const [gMid, gPattern, gMlp] = T.grad(run.loss, [run.residMid, run.pattern, run.mlpPost]);
  // perturb each activation with everything upstream held fixed
  for (const [key, act, g] of [['residMid', run.residMid, gMid], ['pattern', run.pattern, gPattern], ['mlpPost', run.mlpPost, gMlp]] as const) {
    const fixed = T.tensor(Float64Array.from(act.toArray()), [...act.shape]);
    const err = fdCheck(fixed, g!, () => T.noGrad(() => runBlock(p, dims, tokens, targets, { [key]: fixed }).loss.item()));
    assert.ok(err <= 1e-5, `${key}: relative error ${err.toExponential(2)}`);
  }
});

test('block loss: float32 gradients agree with float64 ones (relative error ≤ 1e-3)', () => {
  const p64 = initBlock(dims, 9, 'float64');
  const p32 = Object.fromEntries(Object.entries(p64).map(([k, v]) => [k, T.cast(v.detach(), 'float32').requireGrad()]));
  T.backward(runBlock(p64, dims, tokens, targets).loss);
  T.backward(runBlock(p32, dims, tokens, targets).loss);
  for (const name of Object.keys(p64)) {
    const a = p32[name]!.grad!.toArray();
    const b = p64[name]!.grad!.toArray();
    const scale = Math.max(...b.map(Math.abs));
    const err = Math.max(...a.map((v, i) => Math.abs(v - b[i]!))) / scale;
    assert.ok(err <= 1e-3, `${name}: float32 vs float64 gradient error ${err.toExponential(2)} relative to max |g| ${scale.toExponential(2)}`);
  }
});

test('backward accumulates into leaves and retained intermediates', () => {
  const a = T.tensor([1, 2, 3]).requireGrad();
  const b = T.tensor([4, 5, 6]).requireGrad();
  const s = T.add(a, b).retainGrad();
  T.backward(T.sum(T.mul(s, s)));
  assert.deepEqual(a.grad!.toArray(), [10, 14, 18]);
  assert.deepEqual(b.grad!.toArray(), [10, 14, 18]);
  assert.deepEqual(s.grad!.toArray(), [10, 14, 18]);
  // a second backward adds; a's and b's gradients are separate buffers
  T.backward(T.sum(a));
  assert.deepEqual(a.grad!.toArray(), [11, 15, 19]);
  assert.deepEqual(b.grad!.toArray(), [10, 14, 18]);
});

test('autograd refuses what it cannot differentiate, with a fix', () => {
  const x = T.tensor([1, 2]);
  assert.throws(() => T.backward(T.sum(x)), /does not depend on any tensor that requires a gradient/);
  const y = T.tensor([1, 2]).requireGrad();
  assert.throws(() => T.backward(T.mul(y, 2)), /not a scalar/);
  assert.throws(() => T.ids([1]).requireGrad(), /int32/);
  const out = T.noGrad(() => T.mul(y, 3));
  assert.equal(out.requiresGrad, false, 'noGrad records nothing');
  assert.equal(out.node, null);
});
