/**
 * Every differentiable op's gradient against central finite differences in
 * float64 (relative error ≤ 1e-6 unless noted).
 */
import { test } from 'node:test';
import * as T from '../src/tensor/index.js';
import { Rng, tensor, ids } from '../src/tensor/index.js';
import { assertGrad, randT } from './helpers/gradcheck.js';

const rng = new Rng(42);
const r = (shape: number[], o?: Parameters<typeof randT>[2]) => randT(rng, shape, o);

test('elementwise binary ops with broadcasting', () => {
  assertGrad('add', ([a, b]) => T.add(a!, b!), [r([3, 4]), r([4])]);
  assertGrad('add leading broadcast', ([a, b]) => T.add(a!, b!), [r([2, 1, 4]), r([3, 1])]);
  assertGrad('sub', ([a, b]) => T.sub(a!, b!), [r([2, 3, 4]), r([3, 1])]);
  assertGrad('mul', ([a, b]) => T.mul(a!, b!), [r([2, 3]), r([2, 3])]);
  assertGrad('mul broadcast', ([a, b]) => T.mul(a!, b!), [r([2, 1, 5]), r([1, 3, 5])]);
  assertGrad('div', ([a, b]) => T.div(a!, b!), [r([3, 4]), r([4], { positive: true })]);
  assertGrad('same tensor twice', ([a]) => T.mul(a!, a!), [r([5])]);
  assertGrad('scalar operands', ([a]) => T.sub(T.mul(T.add(a!, 2), 3), T.div(a!, 4)), [r([2, 3])]);
});

test('elementwise unary ops', () => {
  assertGrad('scale', ([a]) => T.scale(a!, -1.7), [r([6])]);
  assertGrad('neg', ([a]) => T.neg(a!), [r([6])]);
  assertGrad('exp', ([a]) => T.exp(a!), [r([2, 5])]);
  assertGrad('log', ([a]) => T.log(a!), [r([2, 5], { positive: true })]);
  assertGrad('tanh', ([a]) => T.tanh(a!), [r([2, 5])]);
  assertGrad('sqrt', ([a]) => T.sqrt(a!), [r([7], { positive: true })]);
  assertGrad('rsqrt', ([a]) => T.rsqrt(a!), [r([7], { positive: true })]);
  assertGrad('abs', ([a]) => T.abs(a!), [r([7], { awayFromZero: 0.1 })]);
  assertGrad('sigmoid', ([a]) => T.sigmoid(a!), [r([7])]);
  assertGrad('relu', ([a]) => T.relu(a!), [r([9], { awayFromZero: 0.1 })]);
  assertGrad('silu', ([a]) => T.silu(a!), [r([9], { scale: 3 })]);
  assertGrad('pow', ([a]) => T.pow(a!, 2.5), [r([5], { positive: true })]);
  assertGrad('square', ([a]) => T.square(a!), [r([5])]);
  assertGrad('gelu exact', ([a]) => T.gelu(a!, 'exact'), [r([12], { scale: 3 })]);
  assertGrad('gelu tanh', ([a]) => T.gelu(a!, 'tanh'), [r([12], { scale: 3 })]);
  assertGrad('unary on a strided view', ([a]) => T.exp(T.transpose(a!)), [r([3, 4])]);
});

test('matmul: plain, transposed views, batched and broadcast', () => {
  assertGrad('2d', ([a, b]) => T.matmul(a!, b!), [r([3, 4]), r([4, 5])]);
  assertGrad('transposed operands', ([a, b]) => T.matmul(T.transpose(a!), T.transpose(b!)), [r([4, 3]), r([5, 4])]);
  assertGrad('batched', ([a, b]) => T.matmul(a!, b!), [r([2, 3, 4]), r([2, 4, 2])]);
  assertGrad('shared right operand', ([a, b]) => T.matmul(a!, b!), [r([2, 3, 4]), r([4, 5])]);
  assertGrad('shared left operand', ([a, b]) => T.matmul(a!, b!), [r([3, 4]), r([2, 4, 5])]);
  assertGrad('broadcast batch dims', ([a, b]) => T.matmul(a!, b!), [r([2, 1, 3, 4]), r([1, 3, 4, 2])]);
  assertGrad('head-permuted views', ([q, k]) => T.matmul(T.permute(q!, [0, 2, 1, 3]), T.permute(k!, [0, 2, 3, 1])), [r([2, 5, 3, 4]), r([2, 5, 3, 4])]);
  assertGrad('linear', ([x, w, b]) => T.linear(x!, w!, b!), [r([2, 3, 4]), r([5, 4]), r([5])]);
});

test('shape ops', () => {
  assertGrad('reshape', ([a]) => T.reshape(a!, [4, -1]), [r([2, 3, 2])]);
  assertGrad('reshape of a strided view', ([a]) => T.reshape(T.transpose(a!), [-1]), [r([3, 4])]);
  assertGrad('permute', ([a]) => T.permute(a!, [2, 0, 1]), [r([2, 3, 4])]);
  assertGrad('slice', ([a]) => T.slice(a!, 1, 1, 3), [r([2, 4, 3])]);
  assertGrad('slice negative', ([a]) => T.slice(a!, -1, -2), [r([2, 4])]);
  assertGrad('select', ([a]) => T.select(a!, 1, 2), [r([2, 4, 3])]);
  assertGrad('unsqueeze/squeeze', ([a]) => T.squeeze(T.unsqueeze(a!, 1), 1), [r([3, 2])]);
  assertGrad('expand', ([a]) => T.mul(T.expand(a!, [3, 2, 4]), T.tensor(Array.from({ length: 24 }, (_, i) => i / 10), [3, 2, 4], 'float64')), [r([2, 1])]);
  assertGrad('concat', ([a, b]) => T.concat([a!, b!], 1), [r([2, 3]), r([2, 2])]);
  assertGrad('stack', ([a, b]) => T.stack([a!, b!], 0), [r([2, 3]), r([2, 3])]);
  assertGrad('indexSelect with repeats', ([a]) => T.indexSelect(a!, 0, [2, 0, 2]), [r([3, 4])]);
  assertGrad('contiguous', ([a]) => T.contiguous(T.transpose(a!)), [r([3, 4])]);
});

test('reductions', () => {
  assertGrad('sum all', ([a]) => T.sum(a!), [r([3, 4])]);
  assertGrad('sum axis', ([a]) => T.sum(a!, 1), [r([2, 3, 4])]);
  assertGrad('sum keepDim', ([a]) => T.sum(a!, 0, true), [r([2, 3])]);
  assertGrad('mean', ([a]) => T.mean(a!, -1), [r([2, 5])]);
  assertGrad('max', ([a]) => T.max(a!, 1), [r([3, 6])]);
  assertGrad('min', ([a]) => T.min(a!, 0), [r([3, 6])]);
  assertGrad('topk values', ([a]) => T.topk(a!, 3).values, [r([2, 7])]);
});

test('neural-network ops', () => {
  assertGrad('softmax last axis', ([a]) => T.softmax(a!), [r([3, 5])]);
  assertGrad('softmax axis 0', ([a]) => T.softmax(a!, 0), [r([3, 5])]);
  assertGrad('logSoftmax', ([a]) => T.logSoftmax(a!), [r([3, 5])]);
  assertGrad('layerNorm', ([x, w, b]) => T.layerNorm(x!, w!, b!, 1e-5), [r([3, 6]), r([6]), r([6])]);
  assertGrad('layerNorm no affine', ([x]) => T.layerNorm(x!, null, null), [r([2, 2, 5])]);
  assertGrad('rmsNorm', ([x, w]) => T.rmsNorm(x!, w!, 1e-6), [r([3, 6]), r([6])]);
  assertGrad('rmsNorm (1+w)', ([x, w]) => T.rmsNorm(x!, w!, 1e-6, 1), [r([3, 6]), r([6])]);
  assertGrad('embedding with repeated ids', ([w]) => T.embedding(w!, ids([[1, 3, 1], [0, 3, 3]])), [r([5, 4])]);
  assertGrad('crossEntropy', ([l]) => T.crossEntropy(l!, ids([2, 0, -100, 4])), [r([4, 5])]);
  const causal = tensor([0, 1, 1, 0, 0, 1, 0, 0, 0], [3, 3], 'int32');
  assertGrad('maskedFill', ([a]) => T.softmax(T.maskedFill(a!, causal, -1e9)), [r([2, 3, 3])]);
  const pos = 5;
  const half = 4;
  const ang = Array.from({ length: pos * half }, (_, i) => Math.floor(i / half) * Math.pow(10000, -(i % half) / half));
  const cos = tensor(ang.map(Math.cos), [pos, half], 'float64');
  const sin = tensor(ang.map(Math.sin), [pos, half], 'float64');
  assertGrad('rotary half', ([x]) => T.rotary(x!, cos, sin, 'half'), [r([2, pos, 3, 8])]);
  assertGrad('rotary interleaved', ([x]) => T.rotary(x!, cos, sin, 'interleaved'), [r([2, pos, 3, 8])]);
  assertGrad('rotary partial', ([x]) => T.rotary(x!, cos, sin, 'half', 8), [r([1, pos, 2, 12])]);
  const cosB = T.stack([cos, cos]);
  const sinB = T.stack([sin, T.neg(sin)]);
  assertGrad('rotary per-sequence tables', ([x]) => T.rotary(x!, cosB, sinB, 'half'), [r([2, pos, 1, 8])]);
});

test('gradients reach intermediate tensors', () => {
  // grad(z, [y]) for an intermediate y must equal ∂z/∂y with everything before y held fixed
  const x = r([3, 4]).requireGrad();
  const w = r([4, 4]);
  const h = (y: T.Tensor) => T.sum(T.mul(T.tanh(y), T.softmax(y)));
  const y = T.matmul(x, w);
  const z = h(y);
  const [gy] = T.grad(z, [y]);
  const y0 = T.tensor(Float64Array.from(y.toArray()), [3, 4]);
  assertGrad('intermediate', ([yy]) => T.reshape(h(yy!), [1]), [y0]);
  const numeric = T.grad(h(y0.requireGrad()), [y0])[0]!;
  const a = gy!.toArray();
  const b = numeric.toArray();
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i]! - b[i]!) > 1e-12) throw new Error(`intermediate gradient differs at ${i}: ${a[i]} vs ${b[i]}`);
});

test('sliceAssign: values and gradients to base and value', () => {
  const base = T.tensor([[1, 2, 3], [4, 5, 6]]);
  T.sliceAssign(base, 1, 1, 2, T.tensor([[9], [8]])).toArray().forEach((v, i) => {
    if (v !== [1, 9, 3, 4, 8, 6][i]) throw new Error(`sliceAssign value ${i}: ${v}`);
  });
  assertGrad('sliceAssign', ([b, v]) => T.sliceAssign(b!, 1, 1, 3, v!), [r([2, 4, 3]), r([2, 2, 3])]);
  assertGrad('sliceAssign broadcast value', ([b, v]) => T.sliceAssign(b!, 2, 0, 2, v!), [r([2, 3, 4]), r([2])]);
});

test('attentionSoftmax equals the unfused scale → softcap → mask → softmax, and its gradient checks', () => {
  const B = 2, H = 2, Q = 3, K = 5, past = 2, window = 3;
  const keyMask = Int32Array.from([0, 1, 1, 1, 1, 0, 0, 0, 0, 1]); // second sequence: its first queries see only padding
  const spec = { past, window, keyMask };
  const blocked = T.empty([B, 1, Q, K], 'int32');
  for (let b = 0; b < B; b++) for (let i = 0; i < Q; i++) for (let j = 0; j < K; j++) {
    const q = past + i;
    blocked.data[(b * Q + i) * K + j] = j > q || j <= q - window || keyMask[b * K + j] === 0 ? 1 : 0;
  }
  const unfused = (x: T.Tensor) => T.softmax(T.maskedFill(T.scale(T.tanh(T.scale(T.scale(x, 0.7), 1 / 4)), 4), blocked, -3.4e38));
  const x = r([B, H, Q, K], { scale: 3 });
  const a = T.attentionSoftmax(x, 0.7, 4, spec).toArray();
  const b = unfused(x).toArray();
  a.forEach((v, i) => { if (Math.abs(v - b[i]!) > 1e-12) throw new Error(`fused ${v} vs unfused ${b[i]} at ${i}`); });
  assertGrad('attentionSoftmax', ([s]) => T.attentionSoftmax(s!, 0.7, 4, spec), [r([B, H, Q, K], { scale: 3 })]);
  assertGrad('attentionSoftmax, no softcap or padding', ([s]) => T.attentionSoftmax(s!, 0.25, null, { past: 0, window: null, keyMask: null }), [r([1, 2, 4, 4], { scale: 3 })]);
});
