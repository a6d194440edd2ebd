/**
 * Matrix products. matmul(a, b) multiplies the last two dimensions and
 * broadcasts the leading (batch) ones. A transposed view (transpose(w), or a
 * permuted head layout) is passed to the kernel as a transpose flag, never
 * copied. float32 goes to the active GEMM kernel (OpenBLAS or portable);
 * float64 (used for gradient checking) to a plain loop.
 */
import { DTypeError, ShapeError, fmtShape } from '../errors.js';
import { record } from '../autograd.js';
import { kernel } from '../kernels/index.js';
import { Tensor, empty, shapeSize } from '../tensor.js';
import { add, contiguousCopy, sumTo } from './basic.js';
import { expand, reshape, transpose } from './shape.js';

interface MatLayout {
  trans: boolean;
  ld: number;
}

/** How the last two dims of a tensor are stored: row-major (ld = row stride) or transposed. */
function matLayout(rows: number, cols: number, rs: number, cs: number): MatLayout | null {
  if ((cols === 1 || cs === 1) && (rows === 1 || rs >= cols)) return { trans: false, ld: rows === 1 ? Math.max(cols, 1) : rs };
  if ((rows === 1 || rs === 1) && (cols === 1 || cs >= rows)) return { trans: true, ld: cols === 1 ? Math.max(rows, 1) : cs };
  return null;
}

/** The single stride that walks all batch dims in order, or null if they do not collapse. */
function batchStride(shape: readonly number[], strides: readonly number[]): number | null {
  let stride: number | null = null;
  let expected = -1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] === 1) continue;
    if (stride === null) {
      stride = strides[d]!;
      expected = stride * shape[d]!;
    } else {
      if (strides[d] !== expected) return null;
      expected = strides[d]! * shape[d]!;
    }
  }
  return stride ?? 0;
}

function dgemmLoop(
  tA: boolean, tB: boolean, M: number, N: number, K: number,
  A: Float64Array, oA: number, lda: number, B: Float64Array, oB: number, ldb: number,
  C: Float64Array, oC: number, ldc: number,
): void {
  for (let i = 0; i < M; i++) {
    const crow = oC + i * ldc;
    for (let j = 0; j < N; j++) C[crow + j] = 0;
    for (let k = 0; k < K; k++) {
      const aik = tA ? A[oA + k * lda + i]! : A[oA + i * lda + k]!;
      if (aik === 0) continue;
      if (tB) for (let j = 0; j < N; j++) C[crow + j]! += aik * B[oB + j * ldb + k]!;
      else {
        const brow = oB + k * ldb;
        for (let j = 0; j < N; j++) C[crow + j]! += aik * B[brow + j]!;
      }
    }
  }
}

/** A operand prepared for a batched GEMM: storage, layout and batch stride. */
interface Operand {
  t: Tensor;
  lay: MatLayout;
  stride: number;
}

function prepare(t: Tensor, batchShape: readonly number[], rows: number, cols: number): Operand {
  const nb = t.ndim - 2;
  const rs = t.strides[t.ndim - 2]!;
  const cs = t.strides[t.ndim - 1]!;
  const ownBatch = t.shape.slice(0, nb);
  const broadcastAll = ownBatch.every((d) => d === 1);
  let lay = matLayout(rows, cols, rs, cs);
  let stride: number | null = broadcastAll ? 0 : null;
  if (!broadcastAll && ownBatch.length === batchShape.length && ownBatch.every((d, i) => d === batchShape[i])) {
    stride = batchStride(ownBatch, t.strides.slice(0, nb));
  }
  if (lay !== null && stride !== null) return { t, lay, stride };
  // materialise: expand to the full batch and copy contiguously
  const full = broadcastAll ? t : contiguousCopy(expand(t.detach(), [...batchShape, rows, cols]));
  const c = full.isContiguous() ? full : contiguousCopy(full);
  lay = { trans: false, ld: cols };
  return { t: c, lay, stride: broadcastAll ? 0 : rows * cols };
}

function checkOperands(op: string, a: Tensor, b: Tensor): void {
  if (a.ndim < 2 || b.ndim < 2) throw new ShapeError(`${op}: both operands need at least 2 dimensions, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  if (a.dtype !== b.dtype) throw new DTypeError(`${op}: operands have different dtypes (${a.dtype} ${fmtShape(a.shape)} and ${b.dtype} ${fmtShape(b.shape)})`);
  if (a.dtype === 'int32') throw new DTypeError(`${op}: int32 operands are not supported; cast to float32`);
  const K = a.shape[a.ndim - 1]!;
  const K2 = b.shape[b.ndim - 2]!;
  if (K !== K2) throw new ShapeError(`${op}: cannot multiply ${fmtShape(a.shape)} by ${fmtShape(b.shape)}: inner dimensions ${K} and ${K2} differ`);
}

function batchShapeOf(op: string, a: Tensor, b: Tensor): number[] {
  const ba = a.shape.slice(0, -2);
  const bb = b.shape.slice(0, -2);
  const n = Math.max(ba.length, bb.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = ba[ba.length - n + i] ?? 1;
    const y = bb[bb.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) {
      throw new ShapeError(`${op}: batch dimensions of ${fmtShape(a.shape)} and ${fmtShape(b.shape)} cannot be broadcast together`);
    }
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** The forward product with no graph. */
function gemm(a: Tensor, b: Tensor): Tensor {
  const M = a.shape[a.ndim - 2]!;
  const K = a.shape[a.ndim - 1]!;
  const N = b.shape[b.ndim - 1]!;
  const batchShape = batchShapeOf('matmul', a, b);
  const batch = shapeSize(batchShape);
  // pad the rank of both operands to the batch rank
  const pa = a.ndim - 2 < batchShape.length ? new Tensor(a.storage, a.dtype, [...Array(batchShape.length - a.ndim + 2).fill(1), ...a.shape], [...Array(batchShape.length - a.ndim + 2).fill(0), ...a.strides], a.offset) : a;
  const pb = b.ndim - 2 < batchShape.length ? new Tensor(b.storage, b.dtype, [...Array(batchShape.length - b.ndim + 2).fill(1), ...b.shape], [...Array(batchShape.length - b.ndim + 2).fill(0), ...b.strides], b.offset) : b;
  const out = empty([...batchShape, M, N], a.dtype);
  if (out.size === 0) return out;
  if (K === 0) {
    out.data.fill(0);
    return out;
  }
  const A = prepare(pa, batchShape, M, K);
  const B = prepare(pb, batchShape, K, N);
  let m = M;
  let nb = batch;
  // one shared right operand and a row-major left one whose batches follow each other: one tall GEMM
  if (B.stride === 0 && nb > 1 && !A.lay.trans && A.stride === M * A.lay.ld) {
    m = M * nb;
    nb = 1;
  }
  if (a.dtype === 'float32') {
    const k = kernel();
    if (nb === 1) {
      k.sgemm(A.lay.trans, B.lay.trans, m, N, K, 1, A.t.data as Float32Array, A.t.offset, A.lay.ld, B.t.data as Float32Array, B.t.offset, B.lay.ld, 0, out.data as Float32Array, 0, N);
    } else {
      k.sgemmBatched(A.lay.trans, B.lay.trans, m, N, K, 1, A.t.data as Float32Array, A.t.offset, A.lay.ld, A.stride, B.t.data as Float32Array, B.t.offset, B.lay.ld, B.stride, 0, out.data as Float32Array, 0, N, m * N, nb);
    }
  } else {
    for (let i = 0; i < nb; i++) {
      dgemmLoop(A.lay.trans, B.lay.trans, m, N, K, A.t.data as Float64Array, A.t.offset + i * A.stride, A.lay.ld, B.t.data as Float64Array, B.t.offset + i * B.stride, B.lay.ld, out.data as Float64Array, i * m * N, N);
    }
  }
  return out;
}

/**
 * a [..., M, K] · b [..., K, N] → [..., M, N], batch dimensions broadcast.
 * Differentiable in both operands.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  checkOperands('matmul', a, b);
  const out = gemm(a, b);
  return record(out, 'matmul', [a, b], (g) => {
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (a.requiresGrad) ga = sumTo(gemm(g, transpose(b.detach())), a.shape);
    if (b.requiresGrad) {
      if (b.ndim === 2 && a.ndim > 2) {
        // shared weight: fold the batch into rows, one GEMM
        const K = a.shape[a.ndim - 1]!;
        const N = b.shape[1]!;
        const a2 = reshape(a.detach(), [-1, K]);
        const g2 = reshape(g, [-1, N]);
        gb = gemm(transpose(a2), g2);
      } else {
        gb = sumTo(gemm(transpose(a.detach()), g), b.shape);
      }
    }
    return [ga, gb];
  });
}

/**
 * A linear layer with PyTorch's weight layout: x [..., in] · weightᵀ + bias,
 * weight [out, in], bias [out].
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (weight.ndim !== 2) throw new ShapeError(`linear: weight must be [out, in], got ${fmtShape(weight.shape)}`);
  if (x.shape[x.ndim - 1] !== weight.shape[1]) {
    throw new ShapeError(`linear: input ${fmtShape(x.shape)} has ${x.shape[x.ndim - 1]} features but weight ${fmtShape(weight.shape)} expects ${weight.shape[1]}`);
  }
  const x2 = x.ndim === 1 ? reshape(x, [1, x.shape[0]!]) : x;
  let y = matmul(x2, transpose(weight));
  if (bias != null) y = add(y, bias);
  return x.ndim === 1 ? reshape(y, [weight.shape[0]!]) : y;
}
