/**
 * The GEMM kernel contract. Every matrix product in candor goes through one of
 * these: the native kernel (OpenBLAS through the N-API addon in native/), the
 * WebAssembly kernel (native/wasm/, SIMD and worker threads) or the portable
 * TypeScript kernel.
 *
 * All matrices are row-major. `op(A)` is `A` or its transpose, of shape M×K;
 * `op(B)` is K×N; `C` is M×N. `lda`, `ldb`, `ldc` are leading dimensions (row
 * strides in elements) of the stored matrices, as in CBLAS with CblasRowMajor:
 * stored A is M×K (lda ≥ K) when not transposed and K×M (lda ≥ M) when
 * transposed. Offsets are element offsets into the arrays.
 *
 *   C = alpha · op(A) · op(B) + beta · C
 *
 * When beta is 0, C is written without being read (NaN in C does not leak).
 */
export interface GemmKernel {
  readonly name: 'native' | 'wasm' | 'portable';
  sgemm(
    transA: boolean, transB: boolean,
    M: number, N: number, K: number,
    alpha: number,
    A: Float32Array, offA: number, lda: number,
    B: Float32Array, offB: number, ldb: number,
    beta: number,
    C: Float32Array, offC: number, ldc: number,
  ): void;
  /**
   * `batch` independent products; matrix i of A starts at offA + i·strideA
   * (likewise B and C). A stride of 0 reuses one matrix for every batch entry.
   */
  sgemmBatched(
    transA: boolean, transB: boolean,
    M: number, N: number, K: number,
    alpha: number,
    A: Float32Array, offA: number, lda: number, strideA: number,
    B: Float32Array, offB: number, ldb: number, strideB: number,
    beta: number,
    C: Float32Array, offC: number, ldc: number, strideC: number,
    batch: number,
  ): void;
  /** Threads the kernel computes with. */
  threads(): number;
  /** One line on what this kernel is (library, version, core type). */
  describe(): string;
}

/**
 * Vectorised float32 kernels for the non-GEMM work of a forward pass, from the
 * native addon (native/candor_ops.c) or the WebAssembly kernel
 * (native/wasm/vector.ts). Ops use them for contiguous float32 data when one
 * of those kernels is active; otherwise their TypeScript loops, which compute
 * the same functions.
 */
export interface VectorKernel {
  /** out[i] = f(x[i]); op codes in UNARY_OPS */
  unary(op: number, out: Float32Array, outOff: number, x: Float32Array, xOff: number, n: number, p: number): void;
  /** out[i] = a[i] ∘ b[i mod m] (n a multiple of m); op codes in BINARY_OPS */
  binary(op: number, out: Float32Array, outOff: number, a: Float32Array, aOff: number, b: Float32Array, bOff: number, n: number, m: number): void;
  layerNorm(out: Float32Array, x: Float32Array, xOff: number, rows: number, d: number, w: Float32Array | null, wOff: number, b: Float32Array | null, bOff: number, eps: number, mean: Float64Array, rstd: Float64Array): void;
  rmsNorm(out: Float32Array, x: Float32Array, xOff: number, rows: number, d: number, w: Float32Array | null, wOff: number, eps: number, offset: number, rstd: Float64Array): void;
  softmax(out: Float32Array, x: Float32Array, xOff: number, rows: number, n: number): void;
  attentionSoftmax(out: Float32Array, x: Float32Array, xOff: number, B: number, H: number, Q: number, K: number, scale: number, softcap: number, past: number, window: number, keyMask: Int32Array | null, dead: Int32Array): void;
  /**
   * Rotary embedding: out [B, T, H, D] (contiguous) ← x rotated in its first R dims by the
   * angles of cos/sin ([T, R/2], or [B, T, R/2] when perBatch); pairs (i, i + R/2), or
   * (2i, 2i + 1) when interleaved; sign −1 rotates back (the backward pass).
   */
  rotary(out: Float32Array, x: Float32Array, xOff: number, B: number, T: number, H: number, D: number, R: number, cos: Float32Array, cosOff: number, sin: Float32Array, sinOff: number, perBatch: boolean, interleaved: boolean, sign: number): void;
  /**
   * rmsNorm's backward: with x̂ = x·rstd and h = g·(offset + w), gx = rstd·(h − x̂·mean(h·x̂))
   * per row (gx null: not wanted) and gw += Σ_rows g·x̂ (gw null: not wanted); g and x are rows×d.
   */
  rmsNormBackward(gx: Float32Array | null, gw: Float32Array | null, g: Float32Array, gOff: number, x: Float32Array, xOff: number, rows: number, d: number, w: Float32Array | null, wOff: number, offset: number, rstd: Float64Array): void;
  /**
   * layerNorm's backward: with x̂ = (x − mean)·rstd and h = g·w, gx = rstd·(h − mean(h) − x̂·mean(h·x̂))
   * per row, gw += Σ_rows g·x̂, gb += Σ_rows g (each null when not wanted); g and x are rows×d.
   */
  layerNormBackward(gx: Float32Array | null, gw: Float32Array | null, gb: Float32Array | null, g: Float32Array, gOff: number, x: Float32Array, xOff: number, rows: number, d: number, w: Float32Array | null, wOff: number, mean: Float64Array, rstd: Float64Array): void;
  /** lse[r] = log Σ_j exp(x[r, j]) over rows of n */
  logSumExp(lse: Float64Array, x: Float32Array, xOff: number, rows: number, n: number): void;
  /** cross-entropy's gradient: out[r] = s·(softmax(x[r]) − onehot(targets[r])), with softmax = exp(x − lse); rows whose target is `ignore` are zero */
  crossEntropyBackward(out: Float32Array, x: Float32Array, xOff: number, rows: number, n: number, lse: Float64Array, targets: Int32Array, tOff: number, ignore: number, s: number): void;
  /** attentionSoftmax's backward over rows of K: gi = p·(g − Σ g·p)·scale, times 1 − tanh² of the capped score (x·scale/cap) when cap > 0; dead rows zero */
  attentionSoftmaxBackward(gi: Float32Array, g: Float32Array, gOff: number, p: Float32Array, x: Float32Array, xOff: number, rows: number, K: number, scale: number, cap: number, dead: Int32Array): void;
  /**
   * one AdamW update in float64 of the gradient gs·g (gs: the clipping factor):
   * m ← b1·m + (1−b1)·gs·g, v ← b2·v + (1−b2)·(gs·g)², w ← w·decay − (lr/c1)·m/(√(v·(1/c2)) + eps)
   */
  adamwStep(w: Float32Array, g: Float32Array, m: Float64Array, v: Float64Array, n: number, lr: number, b1: number, b2: number, c1: number, c2: number, eps: number, decay: number, gs: number): void;
  /** Σ x[i]² in float64. Optional: without it (wasm) sums of squares stay in TypeScript. */
  sumSquares?(x: Float32Array, xOff: number, n: number): number;
  /**
   * out (contiguous) ← x read through up to 4 strided dimensions. Optional: a kernel without
   * it (wasm: a copy through its memory is three passes for one) leaves copies to the TypeScript loop.
   */
  copy?(out: Float32Array, x: Float32Array, xOff: number, d0: number, d1: number, d2: number, d3: number, s0: number, s1: number, s2: number, s3: number): void;
}

export const UNARY_OPS = { copy: 0, scale: 1, addScalar: 2, exp: 3, tanh: 4, geluTanh: 5, geluExact: 6, silu: 7, sigmoid: 8, relu: 9, neg: 10, square: 11, sqrt: 12, rsqrt: 13, log: 14, abs: 15 } as const;
/** a ∘ b; the g* codes are activation gradients with a = the activation's input (its output for gTanh, gSigmoid) and b = the incoming gradient */
export const BINARY_OPS = { add: 0, sub: 1, mul: 2, div: 3, gSilu: 4, gGeluTanh: 5, gGeluExact: 6, gTanh: 7, gSigmoid: 8 } as const;
