/**
 * The native kernel's threaded loops (native/candor_pool.c): operands large
 * enough to be split over threads, computed with 3 threads, with 1 thread and
 * on the portable TypeScript loops. Threads split whole rows or elements, so
 * the threaded result must equal the one-thread result bit for bit and the
 * TypeScript loops within the tolerances of test/vector.test.ts. Odd sizes make
 * the parts uneven; 3 threads on a 2-core machine still run 3 parts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.js';
import { kernelAvailable, kernelStatus, setKernel } from '../src/tensor/kernels/index.js';
import { nativeSetThreads } from '../src/tensor/kernels/native.js';
import { adamSteps, gradOf } from './helpers/grad.js';

const SKIP = kernelAvailable('native') ? false : 'the native kernel is not built here: no threaded loops to check';

/** fn's result on the native kernel with 3 threads and with 1, and on the portable kernel. */
function runs(fn: () => T.Tensor): { threaded: number[]; single: number[]; portable: number[] } {
  const before = kernelStatus().active;
  const threads = kernelStatus().threads;
  const once = () => T.noGrad(() => fn().toArray());
  try {
    setKernel('native');
    nativeSetThreads(3);
    const threaded = once();
    nativeSetThreads(1);
    const single = once();
    setKernel('portable');
    return { threaded, single, portable: once() };
  } finally {
    nativeSetThreads(threads);
    setKernel(before);
  }
}

function check(name: string, fn: () => T.Tensor, rtol: number, atol: number): void {
  const { threaded, single, portable } = runs(fn);
  assert.equal(threaded.length, portable.length);
  for (let i = 0; i < threaded.length; i++) {
    if (!Object.is(threaded[i], single[i])) assert.fail(`${name}[${i}]: ${threaded[i]} with 3 threads, ${single[i]} with 1`);
  }
  let worst = 0;
  for (let i = 0; i < portable.length; i++) worst = Math.max(worst, Math.abs(threaded[i]! - portable[i]!) / (atol + rtol * Math.abs(portable[i]!)));
  assert.ok(worst <= 1, `${name}: differs from the TypeScript loop by ${worst.toFixed(2)}× the tolerance`);
}

const rng = new T.Rng(44);
const R = 67;
const C = 1531; // more than one 1024-element chunk per row, and not a multiple of it
const x = T.randn([R, C], rng, 3);
const y = T.randn([R, C], rng);
const row = T.randn([C], rng);

test('threaded elementwise loops: activations, in-place updates, broadcast rows, strided copies', { skip: SKIP }, () => {
  check('silu', () => T.silu(x), 1e-6, 1e-7);
  check('exp', () => T.exp(T.scale(x, 0.5)), 3e-7, 1e-7);
  check('add', () => T.add(x, y), 1e-7, 1e-7);
  check('bias add (row broadcast)', () => T.add(x, row), 1e-7, 1e-7);
  check('mul', () => T.mul(x, y), 1e-7, 1e-7);
  check('copy of a permuted view', () => T.contiguous(T.permute(T.reshape(x, [R, 1, 1531, 1]), [2, 3, 0, 1])), 0, 1e-30);
  check('accumulated gradient (in place)', gradOf((w) => T.mul(T.add(w, w), T.add(w, row)), x, y), 1e-6, 1e-6);
});

test('threaded row loops: norms, softmax, attention softmax with masks, rotary', { skip: SKIP }, () => {
  const w = T.randn([C], rng, 0.1, 1);
  const b = T.randn([C], rng, 0.1);
  check('layerNorm', () => T.layerNorm(x, w, b, 1e-5), 1e-5, 1e-6);
  check('rmsNorm (1+w)', () => T.rmsNorm(x, w, 1e-6, 1), 1e-5, 1e-6);
  check('softmax', () => T.softmax(x), 1e-5, 1e-9);
  const scores = T.randn([3, 5, 41, 77], rng, 4);
  const keyMask = new Int32Array(3 * 77).fill(1);
  for (let j = 0; j < 60; j++) keyMask[77 + j] = 0; // second sequence: 60 pad keys, some queries see none
  check('attentionSoftmax causal', () => T.attentionSoftmax(scores, 0.125, null, { past: 36, window: null, keyMask: null }), 1e-5, 1e-9);
  check('attentionSoftmax window + softcap + padding', () => T.attentionSoftmax(scores, 0.125, 5, { past: 36, window: 9, keyMask }), 1e-5, 1e-9);
  const xr = T.randn([3, 37, 5, 64], rng);
  const ang = T.randn([37, 24], rng);
  const angB = T.randn([3, 37, 32], rng);
  const trig = (f: (v: number) => number, t: T.Tensor) => T.tensor(Float32Array.from(t.toArray(), f), t.shape);
  for (const layout of ['half', 'interleaved'] as const) {
    check(`rotary ${layout}, partial`, () => T.rotary(xr, trig(Math.cos, ang), trig(Math.sin, ang), layout, 48), 1e-6, 1e-6);
    check(`rotary ${layout}, per batch`, () => T.rotary(xr, trig(Math.cos, angB), trig(Math.sin, angB), layout), 1e-6, 1e-6);
  }
});

test('threaded training loops: cross-entropy, attention softmax backward, AdamW, rmsNorm backward', { skip: SKIP }, () => {
  const targets = Int32Array.from({ length: R }, (_, i) => (i % 5 === 0 ? -100 : (i * 7) % C));
  check('crossEntropy loss', () => T.crossEntropy(x, T.ids(targets, [R])), 1e-6, 1e-7);
  check('crossEntropy gradient', gradOf((v) => T.reshape(T.crossEntropy(v, T.ids(targets, [R])), [1]), x, T.ones([1])), 1e-5, 1e-9);
  const scores = T.randn([3, 5, 41, 77], rng, 4);
  const probe = T.randn([3, 5, 41, 77], rng);
  check('attentionSoftmax gradient + softcap', gradOf((v) => T.attentionSoftmax(v, 0.125, 5, { past: 36, window: 9, keyMask: null }), scores, probe), 1e-5, 1e-8);
  check('AdamW, two steps (one with a clipping factor)', adamSteps(x, y, 2), 1e-6, 1e-7);
  const w = T.randn([C], rng, 0.1, 1);
  check('gradient norm (chunked sum of squares)', () => {
    const p = T.tensor(Float32Array.from(x.toArray()), x.shape).requireGrad();
    p.grad = y;
    return T.tensor([T.gradNorm([p])]);
  }, 1e-12, 0);
  check('rmsNorm gradient, input', gradOf((v) => T.rmsNorm(v, w, 1e-6, 1), x, y), 1e-5, 1e-6);
  check('rmsNorm gradient, weight (summed over rows)', gradOf((v) => T.rmsNorm(x, v, 1e-6, 1), w, y), 1e-5, 1e-5);
});

test('products split into tiles of the output, one per thread: odd shapes, every transpose, edges off the 16-grid', { skip: SKIP }, () => {
  for (const [M, N, K] of [[77, 301, 53], [301, 77, 29], [1, 4099, 97], [4099, 1, 97], [530, 40, 20]] as const) {
    const a = T.randn([M, K], rng);
    const b = T.randn([K, N], rng);
    const at = T.transpose(T.contiguous(T.transpose(a)));
    const bt = T.transpose(T.contiguous(T.transpose(b)));
    check(`${M}x${N}x${K}`, () => T.matmul(a, b), 1e-5, 1e-5);
    check(`${M}x${N}x${K}, both transposed`, () => T.matmul(at, bt), 1e-5, 1e-5);
    check(`${M}x${N}x${K}, A transposed`, () => T.matmul(at, b), 1e-5, 1e-5);
  }
  // a linear layer's three products (forward, input gradient, weight gradient)
  const x = T.randn([3, 170, 96], rng);
  const w = T.randn([200, 96], rng, 0.1);
  check('linear forward', () => T.linear(x, w), 1e-5, 1e-5);
  check('linear weight gradient', gradOf((v) => T.linear(x, v), w, T.randn([3, 170, 200], rng)), 1e-4, 1e-4);
  check('linear input gradient', gradOf((v) => T.linear(v, w), x, T.randn([3, 170, 200], rng)), 1e-4, 1e-4);
});

test('small batched products spread over threads: per-head attention operands', { skip: SKIP }, () => {
  const q = T.randn([4, 9, 37, 24], rng); // 36 products of 37 x 24 x 37, each far below a thread split
  const k = T.randn([4, 9, 24, 37], rng);
  check('batched matmul', () => T.matmul(q, k), 1e-5, 1e-5);
  check('batched matmul, transposed operand', () => T.matmul(q, T.transpose(T.permute(k, [0, 1, 3, 2]))), 1e-5, 1e-5);
});

test('loops handed to polling workers back to back: thousands in a row, as in a training step, each equal to one thread', { skip: SKIP }, () => {
  // just above the split threshold, so each loop is short and the next one reaches workers that are still polling
  const a = T.randn([33, 1031], rng);
  const b = T.randn([33, 1031], rng);
  const before = kernelStatus().threads;
  try {
    setKernel('native');
    nativeSetThreads(1);
    const want = T.noGrad(() => T.silu(T.mul(T.add(a, b), b)).toArray());
    nativeSetThreads(3);
    for (let i = 0; i < 3000; i++) {
      const got = T.noGrad(() => T.silu(T.mul(T.add(a, b), b)).toArray());
      for (let j = 0; j < got.length; j += 97) if (!Object.is(got[j], want[j])) assert.fail(`round ${i}, element ${j}: ${got[j]} with 3 threads, ${want[j]} with 1`);
    }
  } finally {
    nativeSetThreads(before);
  }
});
