/**
 * The GEMM kernel contract. Every matrix product in candor goes through one of
 * these: the native kernel (OpenBLAS through the N-API addon in native/) or the
 * portable TypeScript kernel.
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
  readonly name: 'native' | 'portable';
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
