/*
 * Entry point of candor's WebAssembly kernel (built by scripts/build-wasm.mjs
 * into dist/wasm/candor.wasm). Memory is imported and shared: the main thread
 * and its workers instantiate this module over the same memory, write a job
 * (an op code and f64 arguments) at a known address, and each calls
 * run(job, tid, nt) to do its share. Arguments that are addresses are byte
 * offsets into the shared memory; strides and leading dimensions are in
 * elements.
 */
import { gemmBlock, MR, NR, SCRATCH_BYTES } from './gemm';
import { attentionSoftmax, binary, layerNorm, rmsNorm, softmax, unary } from './vector';

export { SCRATCH_BYTES };

export const OP_GEMM: i32 = 1, OP_UNARY: i32 = 2, OP_BINARY: i32 = 3, OP_LAYER_NORM: i32 = 4, OP_RMS_NORM: i32 = 5;
export const OP_SOFTMAX: i32 = 6, OP_ATTENTION_SOFTMAX: i32 = 7;

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
  if (batch >= nt) {
    const e0 = partStart(batch, 1, tid, nt), e1 = partStart(batch, 1, tid + 1, nt);
    for (let e = e0; e < e1; e++) {
      const o = <usize>e;
      gemmBlock(tA, tB, K, alpha, a + o * sA, lda, b + o * sB, ldb, beta, c + o * sC, ldc, 0, M, 0, N, scratch);
    }
    return;
  }
  // fewer products than threads: split each product, along N when it is the wider side
  // (each thread then packs only its own columns of B), else along M
  for (let e = 0; e < batch; e++) {
    const o = <usize>e;
    let r0 = 0, r1 = M, c0 = 0, c1 = N;
    if (N >= M) {
      c0 = partStart(N, NR, tid, nt);
      c1 = partStart(N, NR, tid + 1, nt);
    } else {
      r0 = partStart(M, MR, tid, nt);
      r1 = partStart(M, MR, tid + 1, nt);
    }
    gemmBlock(tA, tB, K, alpha, a + o * sA, lda, b + o * sB, ldb, beta, c + o * sC, ldc, r0, r1, c0, c1, scratch);
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
    default: break;
  }
}
