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
import { reshape, transpose } from './shape.js';

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

/** float64 product (gradient checks): C = op(A)·op(B). */
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
      if (tB) for (let j = 0; j < N; j++) C[crow + j]! += aik * B[oB + j * ldb + k]!;
      else {
        const brow = oB + k * ldb;
        for (let j = 0; j < N; j++) C[crow + j]! += aik * B[brow + j]!;
      }
    }
  }
}

/** A operand prepared for a batched GEMM: storage, layout and where each batch entry starts. */
interface Operand {
  t: Tensor;
  lay: MatLayout;
  /** element offset of each batch entry's matrix */
  offsets: Int32Array;
  /** the common difference of offsets, or null when they are not evenly spaced */
  stride: number | null;
  /** the stride of each batch dimension (0 where this operand is broadcast) */
  batchStrides: number[];
}

function prepare(t0: Tensor, batchShape: readonly number[], rows: number, cols: number): Operand {
  let t = t0;
  let lay = matLayout(rows, cols, t.strides[t.ndim - 2]!, t.strides[t.ndim - 1]!);
  if (lay === null) {
    // the last two dims are not a (transposed) row-major matrix: copy once
    t = contiguousCopy(t);
    lay = { trans: false, ld: cols };
  }
  const nb = batchShape.length;
  const batch = shapeSize(batchShape);
  const offsets = new Int32Array(batch);
  // batch strides, 0 where this operand is broadcast
  const bs = batchShape.map((_, i) => (t.shape[i] === 1 ? 0 : t.strides[i]!));
  const idx = new Array<number>(nb).fill(0);
  let o = t.offset;
  for (let b = 0; b < batch; b++) {
    offsets[b] = o;
    for (let d = nb - 1; d >= 0; d--) {
      idx[d]!++;
      o += bs[d]!;
      if (idx[d]! < batchShape[d]!) break;
      o -= bs[d]! * batchShape[d]!;
      idx[d] = 0;
    }
  }
  let stride: number | null = batch > 1 ? offsets[1]! - offsets[0]! : 0;
  for (let b = 2; b < batch && stride !== null; b++) if (offsets[b]! - offsets[b - 1]! !== stride) stride = null;
  return { t, lay, offsets, stride, batchStrides: bs };
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

/**
 * Matrices up to this many elements are gathered into one dense batch when
 * their batch entries are not evenly spaced (per-head attention operands):
 * one batched call then replaces a call per entry, whose fixed cost dominates
 * products this small.
 */
const GATHER_MAX_ELEMENTS = 1 << 16;

/** The operand's matrices copied into one dense [...batch, rows, cols] block (broadcast entries repeated). */
function gathered(p: Tensor, batchShape: readonly number[], rows: number, cols: number): Operand {
  const strides = [...batchShape.map((_, i) => (p.shape[i] === 1 ? 0 : p.strides[i]!)), p.strides[p.ndim - 2]!, p.strides[p.ndim - 1]!];
  const view = new Tensor(p.storage, p.dtype, [...batchShape, rows, cols], strides, p.offset);
  return prepare(contiguousCopy(view), batchShape, rows, cols);
}

/**
 * A [P, Q] batch whose operands are not evenly spaced as one list (per-head
 * views of [batch, pos, heads, d_head] activations): with either batch index
 * fixed, the other one steps evenly through every operand, so the product is
 * a few strided batched calls over the longer index instead of a gathered copy.
 */
function gridGemm(A: Operand, B: Operand, [P, Q]: [number, number], M: number, N: number, K: number, C: Float32Array): void {
  const outer = P <= Q ? 0 : 1;
  const inner = 1 - outer;
  const cStrides = [Q * M * N, M * N];
  const k = kernel();
  for (let i = 0; i < [P, Q][outer]!; i++) {
    k.sgemmBatched(
      A.lay.trans, B.lay.trans, M, N, K, 1,
      A.t.data as Float32Array, A.offsets[0]! + i * A.batchStrides[outer]!, A.lay.ld, A.batchStrides[inner]!,
      B.t.data as Float32Array, B.offsets[0]! + i * B.batchStrides[outer]!, B.lay.ld, B.batchStrides[inner]!,
      0, C, i * cStrides[outer]!, N, cStrides[inner]!, [P, Q][inner]!,
    );
  }
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
  let A = prepare(pa, batchShape, M, K);
  let B = prepare(pb, batchShape, K, N);
  if (a.dtype === 'float32' && batchShape.length === 2 && (A.stride === null || B.stride === null)) {
    gridGemm(A, B, batchShape as [number, number], M, N, K, out.data as Float32Array);
    return out;
  }
  if (batch > 1 && (A.stride === null || B.stride === null)) {
    if (A.stride === null && M * K <= GATHER_MAX_ELEMENTS) A = gathered(pa, batchShape, M, K);
    if (B.stride === null && K * N <= GATHER_MAX_ELEMENTS) B = gathered(pb, batchShape, K, N);
  }
  const Cd = out.data;
  if (a.dtype === 'float64') {
    for (let i = 0; i < batch; i++) {
      dgemmLoop(A.lay.trans, B.lay.trans, M, N, K, A.t.data as Float64Array, A.offsets[i]!, A.lay.ld, B.t.data as Float64Array, B.offsets[i]!, B.lay.ld, Cd as Float64Array, i * M * N, N);
    }
    return out;
  }
  const k = kernel();
  const Ad = A.t.data as Float32Array;
  const Bd = B.t.data as Float32Array;
  const C = Cd as Float32Array;
  if (batch === 1) {
    k.sgemm(A.lay.trans, B.lay.trans, M, N, K, 1, Ad, A.offsets[0]!, A.lay.ld, Bd, B.offsets[0]!, B.lay.ld, 0, C, 0, N);
  } else if (A.stride !== null && B.stride !== null) {
    if (B.stride === 0 && !A.lay.trans && A.stride === M * A.lay.ld) {
      // one shared right operand and row-major left matrices that follow each other: one tall GEMM
      k.sgemm(false, B.lay.trans, M * batch, N, K, 1, Ad, A.offsets[0]!, A.lay.ld, Bd, B.offsets[0]!, B.lay.ld, 0, C, 0, N);
    } else {
      k.sgemmBatched(A.lay.trans, B.lay.trans, M, N, K, 1, Ad, A.offsets[0]!, A.lay.ld, A.stride, Bd, B.offsets[0]!, B.lay.ld, B.stride, 0, C, 0, N, M * N, batch);
    }
  } else {
    for (let i = 0; i < batch; i++) {
      k.sgemm(A.lay.trans, B.lay.trans, M, N, K, 1, Ad, A.offsets[i]!, A.lay.ld, Bd, B.offsets[i]!, B.lay.ld, 0, C, i * M * N, N);
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
  const [N, K] = weight.shape as [number, number];
  // its own backward, so that the weight's gradient is computed in the weight's
  // [out, in] layout (gᵀ·x) instead of as a transposed view that must be copied
  let y = record(gemm(x2, transpose(weight.detach())), 'linear', [x2, weight], (g) => [
    x2.requiresGrad ? gemm(g, weight.detach()) : null,
    weight.requiresGrad ? gemm(transpose(reshape(g, [-1, N])), reshape(x2.detach(), [-1, K])) : null,
  ]);
  if (bias != null) y = add(y, bias);
  return x.ndim === 1 ? reshape(y, [weight.shape[0]!]) : y;
}
