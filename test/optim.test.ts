/** AdamW, gradient clipping and the learning-rate schedule. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.js';

test('AdamW matches a hand-computed update (two steps, decoupled weight decay)', () => {
  const p = T.tensor([1, -2], undefined, 'float64').requireGrad();
  const opt = new T.AdamW([p], { lr: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.5 });
  const grads = [[0.5, -1], [0.25, 2]];
  let m = [0, 0];
  let v = [0, 0];
  let w = [1, -2];
  grads.forEach((g, t) => {
    p.grad = T.tensor(g, undefined, 'float64');
    opt.step();
    m = m.map((mi, i) => 0.9 * mi + 0.1 * g[i]!);
    v = v.map((vi, i) => 0.99 * vi + 0.01 * g[i]! ** 2);
    const c1 = 1 - 0.9 ** (t + 1);
    const c2 = 1 - 0.99 ** (t + 1);
    w = w.map((wi, i) => wi * (1 - 0.1 * 0.5) - (0.1 * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + 1e-8));
  });
  p.toArray().forEach((x, i) => assert.ok(Math.abs(x - w[i]!) < 1e-12, `param ${i}: ${x} vs ${w[i]}`));
});

test('200 AdamW steps with warmup + cosine reduce a toy regression loss more than 100x', () => {
  const rng = new T.Rng(3);
  const X = T.randn([64, 8], rng);
  const wTrue = T.randn([8, 4], rng);
  const Y = T.matmul(X, wTrue);
  const W1 = T.randn([8, 16], rng, 0.3).requireGrad();
  const W2 = T.randn([16, 4], rng, 0.3).requireGrad();
  const params = [W1, W2];
  const opt = new T.AdamW(params, { lr: 0.03, weightDecay: 0 });
  const loss = () => T.mean(T.square(T.sub(T.matmul(T.matmul(X, W1), W2), Y)));
  const first = loss().item();
  let last = first;
  for (let step = 0; step < 200; step++) {
    opt.lr = T.cosineLr(step, { lr: 0.03, warmupSteps: 10, totalSteps: 200, minLr: 0.001 });
    opt.zeroGrad();
    const l = loss();
    T.backward(l);
    T.clipGradNorm(params, 5);
    opt.step();
    last = l.item();
  }
  last = loss().item();
  assert.ok(first / last >= 100, `loss fell only ${(first / last).toFixed(1)}x (${first} → ${last})`);
});

test('clipGradNorm scales gradients to the max norm and reports the norm before', () => {
  const a = T.tensor([0]).requireGrad();
  const b = T.tensor([0]).requireGrad();
  a.grad = T.tensor([3]);
  b.grad = T.tensor([4]);
  const n = T.clipGradNorm([a, b], 1);
  assert.equal(n, 5);
  assert.ok(Math.abs(a.grad.item() - 0.6) < 1e-5 && Math.abs(b.grad.item() - 0.8) < 1e-5);
});

test('AdamW.step({ gradScale }) equals clipGradNorm then step(), and gradNorm is the global norm', () => {
  const rng = new T.Rng(5);
  const make = () => [T.randn([40, 30], rng).requireGrad(), T.randn([7], rng).requireGrad()];
  const a = make();
  const b = a.map((p) => T.tensor(Float32Array.from(p.toArray()), p.shape).requireGrad());
  const grads = a.map((p) => T.randn(p.shape, rng, 3));
  const norm = Math.hypot(...grads.flatMap((g) => g.toArray()));
  const optA = new T.AdamW(a, { weightDecay: 0.1 });
  const optB = new T.AdamW(b, { weightDecay: 0.1 });
  a.forEach((p, i) => (p.grad = T.tensor(Float32Array.from(grads[i]!.toArray()), p.shape)));
  b.forEach((p, i) => (p.grad = T.tensor(Float32Array.from(grads[i]!.toArray()), p.shape)));
  assert.ok(Math.abs(T.gradNorm(a) - norm) < 1e-9 * norm, `gradNorm ${T.gradNorm(a)} vs ${norm}`);
  assert.ok(norm > 1, 'the gradients must be large enough to be clipped');
  T.clipGradNorm(a, 1);
  optA.step();
  optB.step({ gradScale: T.clipScale(T.gradNorm(b), 1) });
  const [x, y] = [a.flatMap((p) => p.toArray()), b.flatMap((p) => p.toArray())];
  x.forEach((v, i) => assert.ok(Math.abs(v - y[i]!) < 1e-6, `element ${i}: ${v} vs ${y[i]}`));
  assert.throws(() => optB.step({ gradScale: Number.NaN }), T.OptimizerError);
  // many chunks of a vector kernel's sum of squares, and a length that is no multiple of any
  const big = T.randn([3, 40001], rng, 2).requireGrad();
  big.grad = T.randn([3, 40001], rng, 2);
  const want = Math.hypot(...big.grad.toArray());
  assert.ok(Math.abs(T.gradNorm([big, ...b]) - Math.hypot(want, norm)) < 1e-9 * want, `gradNorm over ${big.size + 1207} elements`);
});

test('cosineLr: linear warmup, cosine decay, floor', () => {
  const s = { lr: 1, warmupSteps: 4, totalSteps: 14, minLr: 0 };
  assert.equal(T.cosineLr(0, s), 0.25);
  assert.equal(T.cosineLr(3, s), 1);
  assert.ok(Math.abs(T.cosineLr(9, s) - 0.5) < 1e-12);
  assert.equal(T.cosineLr(14, s), 0);
  assert.equal(T.cosineLr(100, { lr: 1, warmupSteps: 0, totalSteps: 10 }), 0.1);
});
