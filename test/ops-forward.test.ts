/**
 * Forward values of the ops against independent references: naive loops,
 * closed forms and hand-computed cases.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.js';
import { Rng, tensor, ids } from '../src/tensor/index.js';
import { assertClose } from './helpers/gradcheck.js';

const rng = new Rng(5);
const rand32 = (shape: number[]) => T.randn(shape, rng);

function naiveMatmul(a: number[], b: number[], M: number, K: number, N: number): number[] {
  const out = new Array<number>(M * N).fill(0);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) out[i * N + j]! += a[i * K + k]! * b[k * N + j]!;
  return out;
}

test('matmul matches a naive loop (2d, batched, shared weight, transposed views, odd sizes)', () => {
  for (const [M, K, N] of [[1, 1, 1], [3, 7, 5], [33, 65, 17], [64, 64, 64], [130, 3, 9]] as const) {
    const a = rand32([M, K]);
    const b = rand32([K, N]);
    assertClose(T.matmul(a, b).toArray(), naiveMatmul(a.toArray(), b.toArray(), M, K, N), 1e-4, 1e-5, `matmul ${M}x${K}x${N}`);
    const at = T.transpose(T.contiguous(T.transpose(a)));
    const bt = T.transpose(T.contiguous(T.transpose(b)));
    assertClose(T.matmul(at, bt).toArray(), naiveMatmul(a.toArray(), b.toArray(), M, K, N), 1e-4, 1e-5, `matmul of transposed views ${M}x${K}x${N}`);
  }
  const a = rand32([3, 4, 6]);
  const w = rand32([6, 5]);
  const y = T.matmul(a, w);
  assert.deepEqual(y.shape, [3, 4, 5]);
  for (let i = 0; i < 3; i++) {
    assertClose(T.select(y, 0, i).toArray(), naiveMatmul(T.select(a, 0, i).toArray(), w.toArray(), 4, 6, 5), 1e-4, 1e-5, `batch ${i}`);
  }
  const b3 = rand32([3, 6, 2]);
  const y2 = T.matmul(a, b3);
  for (let i = 0; i < 3; i++) {
    assertClose(T.select(y2, 0, i).toArray(), naiveMatmul(T.select(a, 0, i).toArray(), T.select(b3, 0, i).toArray(), 4, 6, 2), 1e-4, 1e-5, `batched ${i}`);
  }
  // sliced (non-contiguous batch) operands go through a copy and still agree
  const big = rand32([3, 4, 8]);
  const sl = T.slice(big, 2, 1, 7);
  assertClose(T.matmul(sl, w).toArray(), T.matmul(T.contiguous(sl), w).toArray(), 1e-6, 0, 'sliced operand');
});

test('matmul of per-head views ([batch, pos, heads, d] permuted): every (batch, head) product against a naive loop', () => {
  // heads interleaved inside each position: the [batch, heads] entries are not evenly spaced as one list
  for (const [B, Tq, Tk, H, d] of [[3, 5, 7, 4, 6], [2, 1, 9, 3, 5], [5, 4, 4, 2, 3], [1, 3, 3, 7, 2]] as const) {
    const q = T.permute(rand32([B, Tq, H, d]), [0, 2, 1, 3]); // [B, H, Tq, d]
    const k = T.permute(rand32([B, Tk, H, d]), [0, 2, 3, 1]); // [B, H, d, Tk]
    const v = T.permute(rand32([B, Tk, H, d]), [0, 2, 1, 3]); // [B, H, Tk, d]
    const s = T.matmul(q, k);
    const z = T.matmul(s, v);
    assert.deepEqual(z.shape, [B, H, Tq, d]);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const pick = (t: T.Tensor) => T.select(T.select(t, 0, b), 0, h).toArray();
        const want = naiveMatmul(pick(q), pick(k), Tq, d, Tk);
        assertClose(pick(s), want, 1e-4, 1e-5, `scores [${B},${Tq},${Tk},${H},${d}] entry ${b},${h}`);
        assertClose(pick(z), naiveMatmul(want, pick(v), Tq, Tk, d), 1e-4, 1e-5, `values entry ${b},${h}`);
      }
    }
  }
});

test('reshape is a view wherever strides allow one, and a copy elsewhere, with the same values', () => {
  const x = rand32([2, 3, 4, 5]);
  const cases: [string, T.Tensor, number[], boolean][] = [
    ['per-head view split', T.permute(x, [0, 2, 1, 3]), [2, 4, 3, 1, 5], true],
    ['per-head view merged with a unit dim', T.reshape(T.permute(x, [0, 2, 1, 3]), [2, 4, 1, 3, 5]), [2, 4, 3, 5], true],
    ['last dims of a permuted view merged', T.permute(x, [1, 0, 2, 3]), [3, 2, 20], true],
    ['split of a transposed matrix column', T.transpose(T.reshape(x, [24, 5])), [5, 2, 12], true],
    ['sliced rows kept whole', T.slice(x, 2, 1, 3), [6, 2, 5], true],
    ['expanded (stride 0) dims', T.expand(rand32([3, 1]), [3, 4]), [3, 2, 2], true],
    ['dims that are not adjacent in memory merged', T.permute(x, [0, 2, 1, 3]), [2, 12, 5], false],
    ['a sliced dim merged with its neighbour', T.slice(x, 3, 0, 4), [2, 3, 16], false],
    ['a transpose flattened', T.transpose(T.reshape(x, [24, 5])), [120], false],
  ];
  for (const [name, t, shape, isView] of cases) {
    const r = T.reshape(t, shape);
    assert.deepEqual(r.shape, shape, name);
    assert.deepEqual(r.toArray(), t.toArray(), `${name}: values in row-major order`);
    assert.equal(r.storage === t.storage, isView, `${name}: ${isView ? 'a view' : 'a copy'} expected`);
  }
});

test('linear uses the [out, in] weight layout', () => {
  const x = tensor([[1, 2, 3]]);
  const w = tensor([[1, 0, 0], [0, 1, 1]]);
  assert.deepEqual(T.linear(x, w, tensor([10, 20])).toArray(), [11, 25]);
});

test('broadcast elementwise ops', () => {
  const a = tensor([[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(T.add(a, tensor([10, 20, 30])).toArray(), [11, 22, 33, 14, 25, 36]);
  assert.deepEqual(T.mul(a, tensor([[2], [3]])).toArray(), [2, 4, 6, 12, 15, 18]);
  assert.deepEqual(T.sub(tensor([1]), a).toArray(), [0, -1, -2, -3, -4, -5]);
  assert.deepEqual(T.div(a, 2).toArray(), [0.5, 1, 1.5, 2, 2.5, 3]);
  assert.deepEqual(T.add(T.transpose(a), tensor([[100], [200], [300]])).toArray(), [101, 104, 202, 205, 303, 306]);
});

test('softmax, logSoftmax and crossEntropy against closed forms', () => {
  const x = tensor([[1, 2, 3], [0, 0, 0], [-1000, 0, 1000]]);
  const z = Math.exp(1) + Math.exp(2) + Math.exp(3);
  assertClose(T.softmax(x).toArray(), [Math.exp(1) / z, Math.exp(2) / z, Math.exp(3) / z, 1 / 3, 1 / 3, 1 / 3, 0, 0, 1], 1e-7);
  assertClose(T.logSoftmax(x).toArray().slice(0, 3), [1 - Math.log(z), 2 - Math.log(z), 3 - Math.log(z)], 1e-6);
  const ce = T.crossEntropy(tensor([[1, 2, 3], [0, 0, 0]]), ids([2, -100]));
  assertClose([ce.item()], [Math.log(z) - 3], 1e-6);
});

test('layerNorm and rmsNorm against their formulas', () => {
  const x = tensor([[1, 2, 3, 6]]);
  const mu = 3;
  const v = (4 + 1 + 0 + 9) / 4;
  const w = tensor([1, 2, 3, 4]);
  const b = tensor([0.5, 0, 0, -1]);
  const ln = T.layerNorm(x, w, b, 1e-5).toArray();
  assertClose(ln, [1, 2, 3, 6].map((t, i) => ((t - mu) / Math.sqrt(v + 1e-5)) * (i + 1) + [0.5, 0, 0, -1][i]!), 1e-6);
  const ms = (1 + 4 + 9 + 36) / 4;
  assertClose(T.rmsNorm(x, w, 1e-6).toArray(), [1, 2, 3, 6].map((t, i) => (t / Math.sqrt(ms + 1e-6)) * (i + 1)), 1e-6);
  assertClose(T.rmsNorm(x, w, 1e-6, 1).toArray(), [1, 2, 3, 6].map((t, i) => (t / Math.sqrt(ms + 1e-6)) * (i + 2)), 1e-6);
});

test('rotary: both layouts and partial rotary against the explicit rotation', () => {
  const [B, P, H, D] = [1, 3, 2, 6];
  const x = rand32([B, P, H, D]);
  const R = 4;
  const half = R / 2;
  const theta = (p: number, i: number) => p * Math.pow(10000, (-2 * i) / R);
  const cos = tensor(Array.from({ length: P * half }, (_, k) => Math.cos(theta(Math.floor(k / half), k % half))), [P, half]);
  const sin = tensor(Array.from({ length: P * half }, (_, k) => Math.sin(theta(Math.floor(k / half), k % half))), [P, half]);
  const xs = x.toArray();
  for (const layout of ['half', 'interleaved'] as const) {
    const got = T.rotary(x, cos, sin, layout, R).toArray();
    const want = [...xs];
    for (let p = 0; p < P; p++) {
      for (let h = 0; h < H; h++) {
        const base = (p * H + h) * D;
        for (let i = 0; i < half; i++) {
          // half: (x_i, x_{i+R/2}) rotate together; interleaved: (x_{2i}, x_{2i+1})
          const [i1, i2] = layout === 'half' ? [i, i + half] : [2 * i, 2 * i + 1];
          const c = Math.cos(theta(p, i));
          const s = Math.sin(theta(p, i));
          want[base + i1] = xs[base + i1]! * c - xs[base + i2]! * s;
          want[base + i2] = xs[base + i2]! * c + xs[base + i1]! * s;
        }
      }
    }
    assertClose(got, want, 1e-6, 0, `rotary ${layout}`);
  }
});

test('reductions, topk and argmax', () => {
  const x = tensor([[3, 1, 4, 1, 5], [9, 2, 6, 5, 3]]);
  assert.deepEqual(T.sum(x, 1).toArray(), [14, 25]);
  assert.deepEqual(T.sum(x, 0).toArray(), [12, 3, 10, 6, 8]);
  assert.equal(T.sum(x).item(), 39);
  assertClose(T.mean(x, 1).toArray(), [2.8, 5], 1e-6);
  assert.deepEqual(T.max(x, 1).toArray(), [5, 9]);
  assert.deepEqual(T.min(x, 0).toArray(), [3, 1, 4, 1, 3]);
  assert.deepEqual(T.argmax(x, 1).toArray(), [4, 0]);
  const tk = T.topk(x, 3);
  assert.deepEqual(tk.values.toArray(), [5, 4, 3, 9, 6, 5]);
  assert.deepEqual(tk.indices.toArray(), [4, 2, 0, 0, 2, 3]);
  assert.deepEqual(T.topk(tensor([1, 2, 2, 0]), 2).indices.toArray(), [1, 2], 'ties: lower index first');
  const big = T.randn([2, 200], rng);
  const t2 = T.topk(big, 100);
  const sorted = T.select(big, 0, 1).toArray().sort((a, b) => b - a).slice(0, 100);
  assert.deepEqual(T.select(t2.values, 0, 1).toArray(), sorted);
});

test('views, concat, indexSelect, embedding and maskedFill', () => {
  const x = tensor([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]);
  assert.deepEqual(T.slice(x, 1, 1, 3).toArray(), [1, 2, 5, 6, 9, 10]);
  assert.deepEqual(T.select(x, 0, -1).toArray(), [8, 9, 10, 11]);
  assert.deepEqual(T.transpose(x).toArray(), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
  assert.deepEqual(T.permute(T.reshape(x, [3, 2, 2]), [2, 0, 1]).shape, [2, 3, 2]);
  assert.equal(T.transpose(x).storage, x.storage, 'transpose is a view');
  assert.equal(T.slice(x, 0, 1).storage, x.storage, 'slice is a view');
  assert.deepEqual(T.concat([x, T.slice(x, 1, 0, 1)], 1).toArray().slice(0, 5), [0, 1, 2, 3, 0]);
  assert.deepEqual(T.indexSelect(x, 0, [2, 0]).toArray(), [8, 9, 10, 11, 0, 1, 2, 3]);
  assert.deepEqual(T.embedding(x, ids([[2, 2], [1, 0]])).shape, [2, 2, 4]);
  assert.deepEqual(T.embedding(x, ids([1])).toArray(), [4, 5, 6, 7]);
  const m = tensor([[0, 1, 0, 1]], undefined, 'int32');
  assert.deepEqual(T.maskedFill(x, m, -1).toArray().slice(0, 8), [0, -1, 2, -1, 4, -1, 6, -1]);
  assert.deepEqual(T.expand(tensor([[1], [2]]), [2, 3]).toArray(), [1, 1, 1, 2, 2, 2]);
  assert.deepEqual(T.stack([tensor([1, 2]), tensor([3, 4])], 1).toArray(), [1, 3, 2, 4]);
});

test('shape errors name the op and both shapes', () => {
  const a = T.zeros([2, 3]);
  const b = T.zeros([4, 5]);
  assert.throws(() => T.matmul(a, b), (e: Error) => e.name === 'ShapeError' && /matmul/.test(e.message) && /\[2, 3\]/.test(e.message) && /\[4, 5\]/.test(e.message));
  assert.throws(() => T.add(a, T.zeros([4])), (e: Error) => e.name === 'ShapeError' && /add/.test(e.message) && /\[2, 3\]/.test(e.message) && /\[4\]/.test(e.message));
  assert.throws(() => T.mul(T.zeros([2, 3]), T.zeros([3, 2])), /mul: shapes \[2, 3\] and \[3, 2\]/);
  assert.throws(() => T.reshape(a, [4, 2]), /reshape: cannot reshape \[2, 3\] .* into \[4, 2\]/);
  assert.throws(() => T.concat([a, b], 0), /concat: shapes \[2, 3\] and \[4, 5\]/);
  assert.throws(() => T.linear(a, T.zeros([5, 4])), /linear: input \[2, 3\] .* weight \[5, 4\]/);
  assert.throws(() => T.layerNorm(a, T.zeros([4]), null), /layerNorm: weight has shape \[4\] but the input \[2, 3\] needs \[3\]/);
  assert.throws(() => T.crossEntropy(a, ids([1, 2, 3])), /crossEntropy: targets \[3\]/);
  assert.throws(() => T.embedding(a, ids([5])), /embedding: token id 5 .* \[0, 2\)/);
  assert.throws(() => T.add(a, T.zeros([2, 3], 'float64')), (e: Error) => e.name === 'DTypeError' && /add/.test(e.message));
  assert.throws(() => T.rotary(T.zeros([1, 2, 3, 4]), T.zeros([2, 1]), T.zeros([2, 1])), /rotary: cos has shape \[2, 1\]/);
  assert.throws(() => T.topk(a, 4), /topk: k=4/);
  assert.throws(() => T.select(a, 0, 5), /select: index 5/);
});
