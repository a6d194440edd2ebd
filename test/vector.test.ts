/**
 * The vector kernels of the native addon (native/candor_ops.c) and of the
 * WebAssembly kernel (native/wasm/vector.ts) against the TypeScript loops that
 * compute the same functions: every activation, broadcast adds, norms,
 * softmax, attention softmax with masks, strided copies, and in-place
 * aliasing. Each kernel's tests skip where it is not built.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.js';
import { adamSteps, gradOf } from './helpers/grad.js';
import { addInto } from '../src/tensor/ops/loops.js';
import { kernelAvailable, kernelStatus, setKernel, vectorKernel, UNARY_OPS, type KernelName } from '../src/tensor/kernels/index.js';

for (const kname of ['native', 'wasm'] as const) describeKernel(kname);

function describeKernel(kname: Exclude<KernelName, 'portable'>): void {
const SKIP = kernelAvailable(kname) ? false : `the ${kname} kernel is not built here: nothing to compare`;

/** Run fn on the fast kernel and on the portable one; return both results as arrays. */
function both(fn: () => T.Tensor): [number[], number[]] {
  const before = kernelStatus().active;
  try {
    setKernel(kname);
    assert.ok(vectorKernel() !== null, `the ${kname} kernel exposes its vector kernels`);
    const a = T.noGrad(() => fn().toArray());
    setKernel('portable');
    assert.equal(vectorKernel(), null);
    const b = T.noGrad(() => fn().toArray());
    return [a, b];
  } finally {
    setKernel(before);
  }
}

function close(name: string, [a, b]: [number[], number[]], rtol: number, atol: number): void {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(b[i]!)) {
      assert.ok(Number.isNaN(a[i]!), `${name}[${i}]: ${a[i]} vs NaN`);
      continue;
    }
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (atol + rtol * Math.abs(b[i]!)));
  }
  assert.ok(worst <= 1, `${name}: ${kname} differs from the TypeScript loop by ${worst.toFixed(2)}× the tolerance`);
}

const rng = new T.Rng(21);
const x = T.randn([37, 129], rng, 3); // 4773 elements: above the native threshold, odd sizes
const pos = T.addScalar(T.abs(x), 0.01);

test(`${kname}: unary activations agree with the TypeScript loops`, { skip: SKIP }, () => {
  const cases: [string, () => T.Tensor, number][] = [
    ['copy of a transposed view', () => T.contiguous(T.transpose(x)), 0],
    ['scale', () => T.scale(x, -1.7), 1e-7],
    ['addScalar', () => T.addScalar(x, 0.3), 1e-7],
    ['exp', () => T.exp(T.scale(x, 0.5)), 3e-7],
    ['tanh', () => T.tanh(x), 3e-7],
    ['gelu tanh', () => T.gelu(x, 'tanh'), 1e-6],
    ['gelu exact', () => T.gelu(x, 'exact'), 1e-6],
    ['silu', () => T.silu(x), 1e-6],
    ['sigmoid', () => T.sigmoid(x), 1e-6],
    ['relu', () => T.relu(x), 0],
    ['neg', () => T.neg(x), 0],
    ['square', () => T.square(x), 1e-7],
    ['sqrt', () => T.sqrt(pos), 1e-7],
    ['rsqrt', () => T.rsqrt(pos), 1e-7],
    ['log', () => T.log(pos), 1e-7],
    ['abs', () => T.abs(x), 0],
  ];
  for (const [name, fn, rtol] of cases) close(name, both(fn), rtol, 1e-7);
  assert.equal(Object.keys(UNARY_OPS).length, cases.length, 'every native unary op is covered');
});

test(`${kname}: binary ops: same shape, row broadcast, and in-place accumulation`, { skip: SKIP }, () => {
  const y = T.randn([37, 129], rng);
  const row = T.randn([129], rng);
  for (const [name, fn] of [
    ['add', () => T.add(x, y)], ['sub', () => T.sub(x, y)], ['mul', () => T.mul(x, y)], ['div', () => T.div(x, T.addScalar(T.abs(y), 0.5))],
    ['bias add', () => T.add(x, row)], ['row mul', () => T.mul(x, row)],
  ] as const) close(name, both(fn), 1e-7, 1e-7);
  // backward through add accumulates gradients in place (addInto): same values on both kernels
  const grads = both(() => {
    const w = T.randn([37, 129], new T.Rng(5)).requireGrad();
    return T.enableGrad(() => {
      T.backward(T.sum(T.mul(T.add(w, w), T.add(w, row))));
      return w.grad!;
    });
  });
  close('accumulated gradient', grads, 1e-6, 1e-6);
  // accumulation into a row of a larger buffer (an offset), from a strided and from a contiguous gradient
  for (const [name, g] of [['contiguous', T.randn([3, 1100], rng)], ['transposed', T.transpose(T.randn([1100, 3], rng))]] as const) {
    close(`in-place accumulation at an offset, ${name} gradient`, both(() => {
      const base = T.tensor(Float32Array.from({ length: 5 * 3 * 1100 }, (_, i) => i % 7), [5, 3, 1100]);
      addInto(T.select(base, 0, 2), g);
      return base;
    }), 1e-7, 1e-7);
  }
});

test(`${kname}: norms, softmax and attention softmax with causal, window and padding masks`, { skip: SKIP }, () => {
  const w = T.randn([129], rng, 0.1, 1);
  const b = T.randn([129], rng, 0.1);
  close('layerNorm', both(() => T.layerNorm(x, w, b, 1e-5)), 1e-5, 1e-6);
  close('rmsNorm', both(() => T.rmsNorm(x, w, 1e-6)), 1e-5, 1e-6);
  close('rmsNorm (1+w)', both(() => T.rmsNorm(x, w, 1e-6, 1)), 1e-5, 1e-6);
  close('softmax', both(() => T.softmax(x)), 1e-5, 1e-9);
  const scores = T.randn([2, 3, 20, 36], rng, 4);
  const keyMask = new Int32Array(2 * 36).fill(1);
  for (let j = 0; j < 30; j++) keyMask[36 + j] = 0; // second sequence: 30 pad keys, some queries see none
  close('attentionSoftmax causal', both(() => T.attentionSoftmax(scores, 0.125, null, { past: 16, window: null, keyMask: null })), 1e-5, 1e-9);
  close('attentionSoftmax window + softcap + padding', both(() => T.attentionSoftmax(scores, 0.125, 5, { past: 16, window: 7, keyMask })), 1e-5, 1e-9);
});

test(`${kname}: rotary embedding, forward and backward, both layouts, partial rotary dims, per-batch angles`, { skip: SKIP }, () => {
  const r = new T.Rng(8);
  const xr = T.randn([2, 9, 3, 20], r);
  const trig = (f: (v: number) => number, t: T.Tensor) => T.tensor(Float32Array.from(t.toArray(), f), t.shape);
  const ang = T.randn([9, 8], r); // rotaryDim 16 of 20
  const angB = T.randn([2, 9, 10], r);
  const cos = (t: T.Tensor) => trig(Math.cos, t), sin = (t: T.Tensor) => trig(Math.sin, t);
  for (const layout of ['half', 'interleaved'] as const) {
    close(`rotary ${layout}`, both(() => T.rotary(xr, cos(ang), sin(ang), layout, 16)), 1e-6, 1e-6);
    close(`rotary ${layout} per batch`, both(() => T.rotary(xr, cos(angB), sin(angB), layout)), 1e-6, 1e-6);
    const grads = both(() => {
      const w = T.randn([2, 9, 3, 20], new T.Rng(3)).requireGrad();
      return T.enableGrad(() => {
        T.backward(T.sum(T.mul(T.rotary(w, cos(ang), sin(ang), layout, 16), xr)));
        return w.grad!;
      });
    });
    close(`rotary ${layout} gradient`, grads, 1e-6, 1e-6);
  }
});

test(`${kname}: training kernels: activation gradients, rmsNorm, layerNorm, cross-entropy, attention softmax backward, AdamW`, { skip: SKIP }, () => {
  const r = new T.Rng(13);
  const probe = T.randn([37, 129], r);
  for (const [name, f] of [
    ['silu', (w: T.Tensor) => T.silu(w)], ['gelu tanh', (w: T.Tensor) => T.gelu(w, 'tanh')], ['gelu exact', (w: T.Tensor) => T.gelu(w, 'exact')],
  ] as const) close(`${name} gradient`, both(gradOf(f, x, probe)), 2e-6, 1e-7);
  // tanh's and sigmoid's gradients are read off their float32 outputs (1 − t², s(1 − s)): where the
  // output is within an ulp of ±1 the two kernels' last-bit differences in the output come through whole
  for (const [name, f] of [['tanh', (w: T.Tensor) => T.tanh(w)], ['sigmoid', (w: T.Tensor) => T.sigmoid(w)]] as const) {
    close(`${name} gradient`, both(gradOf(f, x, probe)), 2e-6, 4e-7);
  }
  const wt = T.randn([129], r, 0.1, 1);
  close('rmsNorm gradient (x)', both(gradOf((v) => T.rmsNorm(v, wt, 1e-6, 1), x, probe)), 1e-5, 1e-6);
  close('rmsNorm gradient (w)', both(gradOf((v) => T.rmsNorm(x, v, 1e-6), wt, probe)), 1e-5, 1e-5);
  const bt = T.randn([129], r, 0.1);
  close('layerNorm gradient (x)', both(gradOf((v) => T.layerNorm(v, wt, bt, 1e-5), x, probe)), 1e-5, 1e-6);
  close('layerNorm gradient (w)', both(gradOf((v) => T.layerNorm(x, v, bt, 1e-5), wt, probe)), 1e-5, 1e-5);
  close('layerNorm gradient (b)', both(gradOf((v) => T.layerNorm(x, wt, v, 1e-5), bt, probe)), 1e-5, 1e-5);
  const targets = Int32Array.from({ length: 37 }, (_, i) => (i % 5 === 0 ? -100 : (i * 7) % 129));
  close('crossEntropy loss', both(() => T.crossEntropy(x, T.ids(targets, [37]))), 1e-6, 1e-7);
  close('crossEntropy gradient', both(gradOf((v) => T.reshape(T.crossEntropy(v, T.ids(targets, [37])), [1]), x, T.ones([1]))), 1e-5, 1e-9);
  const scores = T.randn([2, 3, 20, 36], r, 4);
  const keyMask = new Int32Array(2 * 36).fill(1);
  for (let j = 0; j < 30; j++) keyMask[36 + j] = 0;
  const sprobe = T.randn([2, 3, 20, 36], r);
  close('attentionSoftmax gradient + softcap + padding', both(gradOf((v) => T.attentionSoftmax(v, 0.125, 5, { past: 16, window: 7, keyMask }), scores, sprobe)), 1e-5, 1e-8);
  close('attentionSoftmax gradient causal', both(gradOf((v) => T.attentionSoftmax(v, 0.125, null, { past: 16, window: null, keyMask: null }), scores, sprobe)), 1e-5, 1e-8);
  const adam = both(adamSteps(x, probe, 3));
  close('AdamW, three steps (one with a clipping factor)', adam, 1e-6, 1e-7);
});

test(`${kname}: the kernels refuse extents outside their arrays`, { skip: SKIP }, () => {
  setKernel(kname);
  const v = vectorKernel()!;
  const a = new Float32Array(8);
  assert.throws(() => v.unary(UNARY_OPS.exp, a, 0, a, 4, 8, 0), /extent out of range/);
  assert.throws(() => v.binary(0, a, 0, a, 0, a, 6, 8, 4), /extent out of range/);
  if (v.copy !== undefined) assert.throws(() => v.copy!(a, a, 0, 1, 1, 3, 3, 0, 0, 4, 1), /extent out of range/);
  assert.throws(() => v.unary(99, a, 0, a, 0, 8, 0), /unknown op/);
  assert.throws(() => v.rotary(a, a, 0, 1, 1, 2, 4, 4, a, 7, a, 0, false, false, 1), /extent out of range/);
});
}
