/**
 * The portable GEMM kernel: plain TypeScript, one thread, used when the
 * OpenBLAS addon is not built. Semantics are those of GemmKernel (types.ts).
 *
 * Three paths, chosen per call:
 *
 *  - tiny products (M·N·K < SMALL_WORK): a direct strided loop, four columns
 *    of C at a time; packing would cost more than it saves.
 *  - few rows or columns (M or N ≤ GEMV_MAX; M = 1 when decoding one token):
 *    one matrix–vector product per row (or column) of C. The vector is copied
 *    contiguous, then the matrix is either dotted four rows at a time (when
 *    it is walked along its rows) or swept eight rows at a time into a
 *    float64 accumulator (axpy, when it is walked across them). Packing the
 *    matrix would cost as much as the product itself here.
 *  - everything else: a Goto-style blocked product.
 *
 *      for jc in N step NC            pack op(B)[pc.., jc..] into KC×NC,
 *        for pc in K step KC            as NR-wide column slivers
 *          for ic in M step MC        pack op(A)[ic.., pc..] into MC×KC,
 *            for jr in NC step NR       as MR-tall row slivers
 *              for ir in MC step MR   micro-kernel: MR×NR tile += sliver·sliver
 *
 *    Packing reads A and B through their (lda, transpose) layout once, so the
 *    micro-kernel always streams two contiguous Float32Array slivers, and a
 *    transposed operand costs nothing beyond the pack. Slivers are padded with
 *    zeros to whole MR/NR multiples, so the micro-kernel never branches on
 *    edges; edge tiles are clipped when the tile is stored into C.
 *
 * The micro-kernel keeps its MR×NR accumulators in local float64 variables
 * (V8 holds them in registers). MR×NR = 4×3 was the fastest shape measured in
 * Node 20 on x86-64 (about 7 GFLOP/s in isolation, against 6.3–6.5 for 4×4 and
 * 4×8): 12 accumulators + 3 B values + 1 A value fit the 16 SSE registers, and
 * bigger tiles spill. Unrolling the p loop made it slower. Sums are accumulated in float64 within a KC
 * block and rounded to float32 when stored, so results are at least as
 * accurate as a float32 BLAS.
 *
 * packA, packB and microKernel are unrolled for MR = 4, NR = 3: change them
 * together. beta is applied when the first K block is stored into C (later K
 * blocks add with beta = 1); beta == 0 never reads C; alpha == 0 or K == 0
 * only scales C, as in reference BLAS. Scratch buffers are allocated once,
 * grown on demand and reused (single-threaded, so never shared mid-call).
 */
import type { GemmKernel } from './types.js';

const MR = 4;
const NR = 3;
const KC = 256;
const MC = 128;
const NC = 3072; // a multiple of NR
const SMALL_WORK = 16 * 1024;
const GEMV_MAX = 7;

let bufA: Float32Array = new Float32Array(0);
let bufB: Float32Array = new Float32Array(0);
let vecX: Float32Array = new Float32Array(0);
let vecY: Float64Array = new Float64Array(0);
const tile = new Float64Array(MR * NR);

function growF32(buf: Float32Array, n: number): Float32Array {
  return buf.length >= n ? buf : new Float32Array(Math.max(n, buf.length * 2));
}

/** C[M×N] = beta·C (beta == 0 writes zeros without reading). */
function scaleC(M: number, N: number, beta: number, C: Float32Array, offC: number, ldc: number): void {
  if (beta === 1) return;
  for (let i = 0; i < M; i++) {
    const r = offC + i * ldc;
    if (beta === 0) C.fill(0, r, r + N);
    else for (let j = 0; j < N; j++) C[r + j] = beta * C[r + j];
  }
}

/** Direct strided loop for tiny products, four columns of C at a time. */
function gemmSmall(
  transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
  A: Float32Array, offA: number, lda: number, B: Float32Array, offB: number, ldb: number,
  beta: number, C: Float32Array, offC: number, ldc: number,
): void {
  const sai = transA ? 1 : lda, sap = transA ? lda : 1;
  const sbp = transB ? 1 : ldb, sbj = transB ? ldb : 1;
  for (let i = 0; i < M; i++) {
    const ai = offA + i * sai, ci = offC + i * ldc;
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let p = 0, a = ai, b = offB + j * sbj; p < K; p++, a += sap, b += sbp) {
        const x = A[a];
        s0 += x * B[b]; s1 += x * B[b + sbj]; s2 += x * B[b + 2 * sbj]; s3 += x * B[b + 3 * sbj];
      }
      storeVec(C, ci + j, alpha * s0, beta); storeVec(C, ci + j + 1, alpha * s1, beta);
      storeVec(C, ci + j + 2, alpha * s2, beta); storeVec(C, ci + j + 3, alpha * s3, beta);
    }
    for (; j < N; j++) {
      let s = 0;
      for (let p = 0, a = ai, b = offB + j * sbj; p < K; p++, a += sap, b += sbp) s += A[a] * B[b];
      storeVec(C, ci + j, alpha * s, beta);
    }
  }
}

/** y[j·incY] = alpha·Σk x[k]·W[offW + j·ldw + k] + beta·y, for j < n: rows of W dotted with x. */
function gemvDots(
  n: number, K: number, alpha: number, x: Float32Array, W: Float32Array, offW: number, ldw: number,
  beta: number, y: Float32Array, offY: number, incY: number,
): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const w0 = offW + j * ldw, w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
    let k = 0;
    for (; k + 2 <= K; k += 2) {
      const xk = x[k], xl = x[k + 1];
      s0 += xk * W[w0 + k]; s1 += xk * W[w1 + k]; s2 += xk * W[w2 + k]; s3 += xk * W[w3 + k];
      t0 += xl * W[w0 + k + 1]; t1 += xl * W[w1 + k + 1]; t2 += xl * W[w2 + k + 1]; t3 += xl * W[w3 + k + 1];
    }
    if (k < K) {
      const xk = x[k];
      s0 += xk * W[w0 + k]; s1 += xk * W[w1 + k]; s2 += xk * W[w2 + k]; s3 += xk * W[w3 + k];
    }
    s0 += t0; s1 += t1; s2 += t2; s3 += t3;
    storeVec(y, offY + j * incY, alpha * s0, beta);
    storeVec(y, offY + (j + 1) * incY, alpha * s1, beta);
    storeVec(y, offY + (j + 2) * incY, alpha * s2, beta);
    storeVec(y, offY + (j + 3) * incY, alpha * s3, beta);
  }
  for (; j < n; j++) {
    const w = offW + j * ldw;
    let s = 0;
    for (let k = 0; k < K; k++) s += x[k] * W[w + k];
    storeVec(y, offY + j * incY, alpha * s, beta);
  }
}

/** y[j·incY] = alpha·Σk x[k]·W[offW + k·ldw + j] + beta·y, for j < n: rows of W scaled and summed. */
function gemvAxpy(
  n: number, K: number, alpha: number, x: Float32Array, W: Float32Array, offW: number, ldw: number,
  beta: number, y: Float32Array, offY: number, incY: number,
): void {
  if (vecY.length < n) vecY = new Float64Array(Math.max(n, vecY.length * 2));
  const acc = vecY;
  acc.fill(0, 0, n);
  let k = 0;
  for (; k + 8 <= K; k += 8) {
    const x0 = x[k], x1 = x[k + 1], x2 = x[k + 2], x3 = x[k + 3];
    const x4 = x[k + 4], x5 = x[k + 5], x6 = x[k + 6], x7 = x[k + 7];
    const w0 = offW + k * ldw, w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw;
    const w4 = w3 + ldw, w5 = w4 + ldw, w6 = w5 + ldw, w7 = w6 + ldw;
    for (let j = 0; j < n; j++) {
      acc[j] += x0 * W[w0 + j] + x1 * W[w1 + j] + x2 * W[w2 + j] + x3 * W[w3 + j] +
        x4 * W[w4 + j] + x5 * W[w5 + j] + x6 * W[w6 + j] + x7 * W[w7 + j];
    }
  }
  for (; k < K; k++) {
    const xk = x[k], w = offW + k * ldw;
    for (let j = 0; j < n; j++) acc[j] += xk * W[w + j];
  }
  for (let j = 0; j < n; j++) storeVec(y, offY + j * incY, alpha * acc[j], beta);
}

function storeVec(y: Float32Array, i: number, v: number, beta: number): void {
  y[i] = beta === 0 ? v : v + beta * y[i];
}

/**
 * Few rows (M ≤ GEMV_MAX) or few columns (N ≤ GEMV_MAX): one matrix–vector
 * product per row of C (x = row of op(A), matrix op(B)) or per column of C
 * (x = column of op(B), matrix op(A)). Each x is first copied contiguous.
 */
function gemvEach(
  transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
  A: Float32Array, offA: number, lda: number, B: Float32Array, offB: number, ldb: number,
  beta: number, C: Float32Array, offC: number, ldc: number,
): void {
  vecX = growF32(vecX, K);
  const x = vecX;
  if (M <= N) {
    const inc = transA ? lda : 1, step = transA ? 1 : lda;
    for (let i = 0; i < M; i++) {
      for (let k = 0, a = offA + i * step; k < K; k++, a += inc) x[k] = A[a];
      if (transB) gemvDots(N, K, alpha, x, B, offB, ldb, beta, C, offC + i * ldc, 1);
      else gemvAxpy(N, K, alpha, x, B, offB, ldb, beta, C, offC + i * ldc, 1);
    }
  } else {
    const inc = transB ? 1 : ldb, step = transB ? ldb : 1;
    for (let j = 0; j < N; j++) {
      for (let k = 0, b = offB + j * step; k < K; k++, b += inc) x[k] = B[b];
      if (transA) gemvAxpy(M, K, alpha, x, A, offA, lda, beta, C, offC + j, ldc);
      else gemvDots(M, K, alpha, x, A, offA, lda, beta, C, offC + j, ldc);
    }
  }
}

/*
 * Packing. A block X[r0 .. r0+rn, p0 .. p0+kc] of a logical matrix X, whose
 * element (r, p) is at offX + r·sr + p·sp, is stored as W-wide slivers:
 * sliver s holds, for each p in turn, the W values X[r0 + s·W + w, p0 + p].
 * op(A) packs with W = MR (X = op(A)); op(B) with W = NR (X = op(B)ᵀ).
 */

function packA(
  X: Float32Array, offX: number, sr: number, sp: number,
  r0: number, rn: number, p0: number, kc: number, dst: Float32Array,
): void {
  let d = 0, s = 0;
  for (; s + 4 <= rn; s += 4) {
    const x0 = offX + (r0 + s) * sr + p0 * sp, x1 = x0 + sr, x2 = x1 + sr, x3 = x2 + sr;
    for (let q = 0, e = kc * sp; q < e; q += sp, d += 4) {
      dst[d] = X[x0 + q]; dst[d + 1] = X[x1 + q]; dst[d + 2] = X[x2 + q]; dst[d + 3] = X[x3 + q];
    }
  }
  if (s < rn) packEdge(MR, X, offX, sr, sp, r0 + s, rn - s, p0, kc, dst, d);
}

function packB(
  X: Float32Array, offX: number, sr: number, sp: number,
  r0: number, rn: number, p0: number, kc: number, dst: Float32Array,
): void {
  let d = 0, s = 0;
  for (; s + 3 <= rn; s += 3) {
    const x0 = offX + (r0 + s) * sr + p0 * sp, x1 = x0 + sr, x2 = x1 + sr;
    for (let q = 0, e = kc * sp; q < e; q += sp, d += 3) {
      dst[d] = X[x0 + q]; dst[d + 1] = X[x1 + q]; dst[d + 2] = X[x2 + q];
    }
  }
  if (s < rn) packEdge(NR, X, offX, sr, sp, r0 + s, rn - s, p0, kc, dst, d);
}

/** The last, partial sliver (rows < W), zero-padded to W, written from dst[d]. */
function packEdge(
  W: number, X: Float32Array, offX: number, sr: number, sp: number,
  r0: number, rows: number, p0: number, kc: number, dst: Float32Array, d: number,
): void {
  for (let p = 0; p < kc; p++) {
    for (let w = 0; w < W; w++) dst[d++] = w < rows ? X[offX + (r0 + w) * sr + (p0 + p) * sp] : 0;
  }
}

/** tile[MR×NR] = Σp a[ai + MR·p + i]·b[bi + NR·p + j]: the register-blocked inner loop. */
function microKernel(kc: number, a: Float32Array, ai: number, b: Float32Array, bi: number, t: Float64Array): void {
  let c00 = 0, c01 = 0, c02 = 0, c10 = 0, c11 = 0, c12 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c30 = 0, c31 = 0, c32 = 0;
  for (let p = 0; p < kc; p++) {
    const b0 = b[bi], b1 = b[bi + 1], b2 = b[bi + 2];
    let x = a[ai];
    c00 += x * b0; c01 += x * b1; c02 += x * b2;
    x = a[ai + 1];
    c10 += x * b0; c11 += x * b1; c12 += x * b2;
    x = a[ai + 2];
    c20 += x * b0; c21 += x * b1; c22 += x * b2;
    x = a[ai + 3];
    c30 += x * b0; c31 += x * b1; c32 += x * b2;
    ai += MR; bi += NR;
  }
  t[0] = c00; t[1] = c01; t[2] = c02; t[3] = c10; t[4] = c11; t[5] = c12;
  t[6] = c20; t[7] = c21; t[8] = c22; t[9] = c30; t[10] = c31; t[11] = c32;
}

/** C[rows×cols tile at ci] = alpha·tile + beta·C (beta == 0: C not read). */
function storeTile(
  t: Float64Array, rows: number, cols: number, alpha: number, beta: number,
  C: Float32Array, ci: number, ldc: number,
): void {
  for (let i = 0; i < rows; i++, ci += ldc) {
    for (let j = 0; j < cols; j++) {
      const v = alpha * t[i * NR + j];
      C[ci + j] = beta === 0 ? v : v + beta * C[ci + j];
    }
  }
}

/** One packed block: C[ic.., jc..] (mc×nc) = alpha·packA·packB + beta·C. */
function macroKernel(
  mc: number, nc: number, kc: number, alpha: number, beta: number,
  pa: Float32Array, pb: Float32Array, C: Float32Array, ci: number, ldc: number,
): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const cols = Math.min(NR, nc - jr);
    const bi = jr * kc;
    for (let ir = 0; ir < mc; ir += MR) {
      microKernel(kc, pa, ir * kc, pb, bi, tile);
      storeTile(tile, Math.min(MR, mc - ir), cols, alpha, beta, C, ci + ir * ldc + jr, ldc);
    }
  }
}

function gemmBlocked(
  transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
  A: Float32Array, offA: number, lda: number, B: Float32Array, offB: number, ldb: number,
  beta: number, C: Float32Array, offC: number, ldc: number,
): void {
  const kcMax = Math.min(K, KC);
  const ncMax = Math.min(N, NC), mcMax = Math.min(M, MC);
  bufA = growF32(bufA, (Math.ceil(mcMax / MR) * MR) * kcMax);
  bufB = growF32(bufB, (Math.ceil(ncMax / NR) * NR) * kcMax);
  const pa = bufA, pb = bufB;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = Math.min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = Math.min(KC, K - pc);
      const b = pc === 0 ? beta : 1;
      packB(B, offB, transB ? ldb : 1, transB ? 1 : ldb, jc, nc, pc, kc, pb);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = Math.min(MC, M - ic);
        packA(A, offA, transA ? 1 : lda, transA ? lda : 1, ic, mc, pc, kc, pa);
        macroKernel(mc, nc, kc, alpha, b, pa, pb, C, offC + ic * ldc + jc, ldc);
      }
    }
  }
}

function sgemm(
  transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
  A: Float32Array, offA: number, lda: number, B: Float32Array, offB: number, ldb: number,
  beta: number, C: Float32Array, offC: number, ldc: number,
): void {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha === 0) return scaleC(M, N, beta, C, offC, ldc);
  if (M * N * K < SMALL_WORK) {
    gemmSmall(transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc);
  } else if (M <= GEMV_MAX || N <= GEMV_MAX) {
    gemvEach(transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc);
  } else {
    gemmBlocked(transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc);
  }
}

export const portableKernel: GemmKernel = {
  name: 'portable',
  sgemm,
  sgemmBatched(
    transA, transB, M, N, K, alpha, A, offA, lda, strideA, B, offB, ldb, strideB,
    beta, C, offC, ldc, strideC, batch,
  ) {
    for (let i = 0; i < batch; i++) {
      sgemm(transA, transB, M, N, K, alpha, A, offA + i * strideA, lda, B, offB + i * strideB, ldb,
        beta, C, offC + i * strideC, ldc);
    }
  },
  threads: () => 1,
  describe: () =>
    `portable TypeScript kernel (packed panels, ${KC}-deep K blocks, ${MR}x${NR} float64 register tiles), 1 thread`,
};
