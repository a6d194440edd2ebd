/*
 * Entry point of candor's WebAssembly kernel (built by scripts/build-wasm.mjs
 * into dist/wasm/candor.wasm). Memory is imported and shared: the main thread
 * and its workers instantiate this module over the same memory, write a job
 * (an op code and f64 arguments) at a known address, and each calls
 * run(job, tid, nt) to do its share. Arguments that are addresses are byte
 * offsets into the shared memory; strides and leading dimensions are in
 * elements.
 */
import { gemmBlock, gemmDirect, MR, NR, SCRATCH_BYTES } from './gemm';
import {
  adamw, attentionSoftmax, attentionSoftmaxBackward, binary, crossEntropyBackward, layerNorm, layerNormBackward, logSumExp, rmsNorm, rmsNormBackward, rotary, softmax, unary,
} from './vector';

export { SCRATCH_BYTES };

/** Byte offset, within a job, of the i32 piece counter that the JavaScript side zeroes. */
export const COUNTER_OFFSET: i32 = 256;

export const OP_GEMM: i32 = 1, OP_UNARY: i32 = 2, OP_BINARY: i32 = 3, OP_LAYER_NORM: i32 = 4, OP_RMS_NORM: i32 = 5;
export const OP_SOFTMAX: i32 = 6, OP_ATTENTION_SOFTMAX: i32 = 7, OP_ROTARY: i32 = 8, OP_RMS_NORM_BACKWARD: i32 = 9;
export const OP_LOG_SUM_EXP: i32 = 10, OP_CROSS_ENTROPY_BACKWARD: i32 = 11, OP_ATTENTION_SOFTMAX_BACKWARD: i32 = 12, OP_ADAMW: i32 = 13, OP_LAYER_NORM_BACKWARD: i32 = 14;

// @ts-ignore: decorator
@inline function arg(job: usize, i: i32): f64 {
  return load<f64>(job + (<usize>i << 3));
}
// @ts-ignore: decorator
@inline function iarg(job: usize, i: i32): i32 {
  return <i32>load<f64>(job + (<usize>i << 3));
}
// @ts-ignore: decorator
@inline function parg(job: usize, i: i32): usize {
  return <usize>load<f64>(job + (<usize>i << 3));
}

/** Part tid of n equal parts of [0, total), in units of `unit`. */
// @ts-ignore: decorator
@inline function partStart(total: i32, unit: i32, tid: i32, nt: i32): i32 {
  const units = (total + unit - 1) / unit;
  return min(total, <i32>((<i64>units * tid) / nt) * unit);
}

function gemmJob(job: usize, tid: i32, nt: i32): void {
  const tA = iarg(job, 1) != 0, tB = iarg(job, 2) != 0;
  const M = iarg(job, 3), N = iarg(job, 4), K = iarg(job, 5);
  const alpha = <f32>arg(job, 6);
  const a = parg(job, 7), lda = iarg(job, 8), sA = <usize>iarg(job, 9) << 2;
  const b = parg(job, 10), ldb = iarg(job, 11), sB = <usize>iarg(job, 12) << 2;
  const beta = <f32>arg(job, 13);
  const c = parg(job, 14), ldc = iarg(job, 15), sC = <usize>iarg(job, 16) << 2;
  const batch = iarg(job, 17);
  const scratch = parg(job, 18) + <usize>tid * <usize>SCRATCH_BYTES;
  // few rows or a small product: no packing (see gemmDirect); split along N
  const direct = M < 8 || N < 8 || M * N <= 1024;
  const kern = direct ? gemmDirect : gemmBlock;
  // Threads claim pieces from a shared counter rather than taking fixed shares: the main
  // thread starts first (workers wake later), and whoever starts late does fewer pieces.
  // A piece is a whole product when there are several, else a slice of columns (each
  // thread packs only its own columns of B) or, for tall products, of rows.
  const counter = job + COUNTER_OFFSET;
  if (batch >= nt) {
    for (let e = atomic.add<i32>(counter, 1); e < batch; e = atomic.add<i32>(counter, 1)) {
      const o = <usize>e;
      kern(tA, tB, K, alpha, a + o * sA, lda, b + o * sB, ldb, beta, c + o * sC, ldc, 0, M, 0, N, scratch);
    }
    return;
  }
  const byCols = direct || N >= M;
  const unit = byCols ? NR * 2 : MR * 4;
  const extent = byCols ? N : M;
  const pieces = nt == 1 ? 1 : min((extent + unit - 1) / unit, 4 * nt);
  for (let t = atomic.add<i32>(counter, 1); t < batch * pieces; t = atomic.add<i32>(counter, 1)) {
    const e = t / pieces, p = t % pieces;
    const o = <usize>e;
    const lo = partStart(extent, byCols ? NR : MR, p, pieces), hi = partStart(extent, byCols ? NR : MR, p + 1, pieces);
    if (byCols) kern(tA, tB, K, alpha, a + o * sA, lda, b + o * sB, ldb, beta, c + o * sC, ldc, 0, M, lo, hi, scratch);
    else kern(tA, tB, K, alpha, a + o * sA, lda, b + o * sB, ldb, beta, c + o * sC, ldc, lo, hi, 0, N, scratch);
  }
}

/** Do part tid (0 ≤ tid < nt) of the job at address job. */
export function run(job: usize, tid: i32, nt: i32): void {
  const op = iarg(job, 0);
  switch (op) {
    case OP_GEMM: gemmJob(job, tid, nt); break;
    case OP_UNARY: {
      const n = iarg(job, 4);
      unary(iarg(job, 1), parg(job, 2), parg(job, 3), partStart(n, 16, tid, nt), partStart(n, 16, tid + 1, nt), arg(job, 5));
      break;
    }
    case OP_BINARY: {
      const n = iarg(job, 5);
      binary(iarg(job, 1), parg(job, 2), parg(job, 3), parg(job, 4), iarg(job, 6), partStart(n, 16, tid, nt), partStart(n, 16, tid + 1, nt));
      break;
    }
    case OP_LAYER_NORM: {
      const rows = iarg(job, 3);
      layerNorm(parg(job, 1), parg(job, 2), iarg(job, 4), parg(job, 5), parg(job, 6), arg(job, 7), parg(job, 8), parg(job, 9),
        partStart(rows, 1, tid, nt), partStart(rows, 1, tid + 1, nt));
      break;
    }
    case OP_RMS_NORM: {
      const rows = iarg(job, 3);
      rmsNorm(parg(job, 1), parg(job, 2), iarg(job, 4), parg(job, 5), arg(job, 6), <f32>arg(job, 7), parg(job, 8),
        partStart(rows, 1, tid, nt), partStart(rows, 1, tid + 1, nt));
      break;
    }
    case OP_SOFTMAX: {
      const rows = iarg(job, 3);
      softmax(parg(job, 1), parg(job, 2), iarg(job, 4), partStart(rows, 1, tid, nt), partStart(rows, 1, tid + 1, nt));
      break;
    }
    case OP_ATTENTION_SOFTMAX: {
      const rows = iarg(job, 3) * iarg(job, 4) * iarg(job, 5);
      attentionSoftmax(parg(job, 1), parg(job, 2), iarg(job, 4), iarg(job, 5), iarg(job, 6), <f32>arg(job, 7), <f32>arg(job, 8),
        iarg(job, 9), iarg(job, 10), parg(job, 11), parg(job, 12), partStart(rows, 1, tid, nt), partStart(rows, 1, tid + 1, nt));
      break;
    }
    case OP_ROTARY: {
      const rows = iarg(job, 3) * iarg(job, 4) * iarg(job, 5);
      rotary(parg(job, 1), parg(job, 2), iarg(job, 4), iarg(job, 5), iarg(job, 6), iarg(job, 7), parg(job, 8), parg(job, 9),
        iarg(job, 10) != 0, iarg(job, 11) != 0, <f32>arg(job, 12), partStart(rows, 1, tid, nt), partStart(rows, 1, tid + 1, nt));
      break;
    }
    case OP_RMS_NORM_BACKWARD: {
      // sums over rows into gw: the main thread alone
      if (tid == 0) rmsNormBackward(parg(job, 1), parg(job, 2), parg(job, 3), parg(job, 4), iarg(job, 5), iarg(job, 6), parg(job, 7), <f32>arg(job, 8), parg(job, 9), parg(job, 10));
      break;
    }
    case OP_LAYER_NORM_BACKWARD: {
      if (tid == 0) layerNormBackward(parg(job, 1), parg(job, 2), parg(job, 3), parg(job, 4), parg(job, 5), iarg(job, 6), iarg(job, 7), parg(job, 8), parg(job, 9), parg(job, 10), parg(job, 11), parg(job, 12));
      break;
    }
    case OP_LOG_SUM_EXP: {
      const rows = iarg(job, 3);
      logSumExp(parg(job, 1), parg(job, 2), iarg(job, 4), partStart(rows, 1, tid, nt), partStart(rows, 1, tid + 1, nt));
      break;
    }
    case OP_CROSS_ENTROPY_BACKWARD: {
      const rows = iarg(job, 3);
      crossEntropyBackward(parg(job, 1), parg(job, 2), iarg(job, 4), parg(job, 5), parg(job, 6), iarg(job, 7), <f32>arg(job, 8),
        partStart(rows, 1, tid, nt), partStart(rows, 1, tid + 1, nt));
      break;
    }
    case OP_ATTENTION_SOFTMAX_BACKWARD: {
      const rows = iarg(job, 5);
      attentionSoftmaxBackward(parg(job, 1), parg(job, 2), parg(job, 3), parg(job, 4), iarg(job, 6), <f32>arg(job, 7), <f32>arg(job, 8), parg(job, 9),
        partStart(rows, 1, tid, nt), partStart(rows, 1, tid + 1, nt));
      break;
    }
    case OP_ADAMW: {
      const n = iarg(job, 5);
      adamw(parg(job, 1), parg(job, 2), parg(job, 3), parg(job, 4), arg(job, 6), arg(job, 7), arg(job, 8), arg(job, 9), arg(job, 10), arg(job, 11), arg(job, 12),
        partStart(n, 16, tid, nt), partStart(n, 16, tid + 1, nt));
      break;
    }
    default: break;
  }
}
