/*
 * SGEMM for the WebAssembly kernel (AssemblyScript, 128-bit SIMD).
 *
 * The BLIS loop order: for each NC-wide column block of C and KC-deep slice of
 * K, B is packed into NR-wide panels (one panel stays in L1 while the A panels
 * stream past it), then for each MC-high row block A is packed into MR-high
 * panels with alpha folded in, and the MR×NR micro-kernel accumulates
 * C += A_panel · B_panel. Packing pads edge panels with zeros, so the
 * micro-kernel always runs full tiles; edge tiles go through a small buffer.
 * All matrices are row-major, addressed in bytes; lda/ldb/ldc in elements.
 */

export const MR: i32 = 4;
export const NR: i32 = 8;
export const KC: i32 = 128;
export const MC: i32 = 128;
export const NC: i32 = 256;
/** Bytes of scratch one thread needs: packed A, packed B, one edge tile. */
export const SCRATCH_BYTES: i32 = (MC * KC + KC * NC + MR * NR) * 4;

// @ts-ignore: decorator
@inline function f32at(base: usize, i: i32): f32 {
  return load<f32>(base + (<usize>i << 2));
}

/**
 * Store the transpose of the 4×4 block whose rows are r0..r3 as four vectors
 * at dst, dst + step, dst + 2·step, dst + 3·step (bytes).
 */
// @ts-ignore: decorator
@inline function storeTransposed4(r0: v128, r1: v128, r2: v128, r3: v128, dst: usize, step: usize): void {
  const t0 = v128.shuffle<i32>(r0, r1, 0, 4, 1, 5);
  const t1 = v128.shuffle<i32>(r2, r3, 0, 4, 1, 5);
  const t2 = v128.shuffle<i32>(r0, r1, 2, 6, 3, 7);
  const t3 = v128.shuffle<i32>(r2, r3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<i64>(t0, t1, 0, 2));
  v128.store(dst + step, v128.shuffle<i64>(t0, t1, 1, 3));
  v128.store(dst + 2 * step, v128.shuffle<i64>(t2, t3, 0, 2));
  v128.store(dst + 3 * step, v128.shuffle<i64>(t2, t3, 1, 3));
}

/** Pack rows i0..i0+mc of op(A), columns k0..k0+kc, into MR-row panels scaled by alpha. */
function packA(tA: bool, a: usize, lda: i32, i0: i32, mc: i32, k0: i32, kc: i32, alpha: f32, dst: usize): void {
  for (let p = 0; p < mc; p += MR) {
    const rows = min(MR, mc - p);
    const panel = dst + (<usize>(p * kc) << 2);
    if (tA) {
      // stored K×M: the MR rows of a panel are adjacent at each k
      for (let k = 0; k < kc; k++) {
        const src = a + (<usize>((k0 + k) * lda + i0 + p) << 2);
        const o = panel + (<usize>(k * MR) << 2);
        if (rows == MR) v128.store(o, f32x4.mul(v128.load(src), f32x4.splat(alpha)));
        else for (let r = 0; r < MR; r++) store<f32>(o + (<usize>r << 2), r < rows ? f32at(src, r) * alpha : 0);
      }
    } else if (rows == MR) {
      // row-major A: transpose 4×4 blocks (rows × k) into the panel
      const s0 = a + (<usize>((i0 + p) * lda + k0) << 2), ld = <usize>lda << 2;
      const al = f32x4.splat(alpha);
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const kb = <usize>k << 2;
        storeTransposed4(
          f32x4.mul(v128.load(s0 + kb), al), f32x4.mul(v128.load(s0 + ld + kb), al),
          f32x4.mul(v128.load(s0 + 2 * ld + kb), al), f32x4.mul(v128.load(s0 + 3 * ld + kb), al),
          panel + (<usize>(k * MR) << 2), MR << 2,
        );
      }
      for (; k < kc; k++) {
        for (let r = 0; r < MR; r++) store<f32>(panel + (<usize>(k * MR + r) << 2), f32at(s0 + <usize>r * ld, k) * alpha);
      }
    } else {
      for (let r = 0; r < MR; r++) {
        const o = panel + (<usize>r << 2);
        if (r < rows) {
          const src = a + (<usize>((i0 + p + r) * lda + k0) << 2);
          for (let k = 0; k < kc; k++) store<f32>(o + (<usize>(k * MR) << 2), f32at(src, k) * alpha);
        } else for (let k = 0; k < kc; k++) store<f32>(o + (<usize>(k * MR) << 2), 0);
      }
    }
  }
}

/** Pack rows k0..k0+kc of op(B), columns j0..j0+nc, into NR-column panels. */
function packB(tB: bool, b: usize, ldb: i32, k0: i32, kc: i32, j0: i32, nc: i32, dst: usize): void {
  for (let p = 0; p < nc; p += NR) {
    const cols = min(NR, nc - p);
    const panel = dst + (<usize>(p * kc) << 2);
    if (!tB) {
      for (let k = 0; k < kc; k++) {
        const src = b + (<usize>((k0 + k) * ldb + j0 + p) << 2);
        const o = panel + (<usize>(k * NR) << 2);
        if (cols == NR) {
          v128.store(o, v128.load(src));
          v128.store(o, v128.load(src, 16), 16);
        } else for (let c = 0; c < NR; c++) store<f32>(o + (<usize>c << 2), c < cols ? f32at(src, c) : 0);
      }
    } else if (cols == NR) {
      // stored N×K: transpose 4×4 blocks (columns × k) into the panel
      const ld = <usize>ldb << 2;
      for (let g = 0; g < NR; g += 4) {
        const s0 = b + (<usize>((j0 + p + g) * ldb + k0) << 2);
        let k = 0;
        for (; k + 4 <= kc; k += 4) {
          const kb = <usize>k << 2;
          storeTransposed4(
            v128.load(s0 + kb), v128.load(s0 + ld + kb), v128.load(s0 + 2 * ld + kb), v128.load(s0 + 3 * ld + kb),
            panel + (<usize>(k * NR + g) << 2), NR << 2,
          );
        }
        for (; k < kc; k++) {
          for (let c = 0; c < 4; c++) store<f32>(panel + (<usize>(k * NR + g + c) << 2), f32at(s0 + <usize>c * ld, k));
        }
      }
    } else {
      // stored N×K: column j of op(B) is row j of the stored matrix, contiguous in k
      for (let c = 0; c < NR; c++) {
        const o = panel + (<usize>c << 2);
        if (c < cols) {
          const src = b + (<usize>((j0 + p + c) * ldb + k0) << 2);
          for (let k = 0; k < kc; k++) store<f32>(o + (<usize>(k * NR) << 2), f32at(src, k));
        } else for (let k = 0; k < kc; k++) store<f32>(o + (<usize>(k * NR) << 2), 0);
      }
    }
  }
}

/** C[MR×NR at c, row stride ldc] += A_panel · B_panel over kc. */
function micro(kc: i32, ap: usize, bp: usize, c: usize, ldc: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    const a0 = v128.load32_splat(ap);
    c00 = f32x4.add(c00, f32x4.mul(a0, b0));
    c01 = f32x4.add(c01, f32x4.mul(a0, b1));
    const a1 = v128.load32_splat(ap, 4);
    c10 = f32x4.add(c10, f32x4.mul(a1, b0));
    c11 = f32x4.add(c11, f32x4.mul(a1, b1));
    const a2 = v128.load32_splat(ap, 8);
    c20 = f32x4.add(c20, f32x4.mul(a2, b0));
    c21 = f32x4.add(c21, f32x4.mul(a2, b1));
    const a3 = v128.load32_splat(ap, 12);
    c30 = f32x4.add(c30, f32x4.mul(a3, b0));
    c31 = f32x4.add(c31, f32x4.mul(a3, b1));
    ap += MR << 2;
    bp += NR << 2;
  }
  const ld = <usize>ldc << 2;
  v128.store(c, f32x4.add(v128.load(c), c00));
  v128.store(c, f32x4.add(v128.load(c, 16), c01), 16);
  c += ld;
  v128.store(c, f32x4.add(v128.load(c), c10));
  v128.store(c, f32x4.add(v128.load(c, 16), c11), 16);
  c += ld;
  v128.store(c, f32x4.add(v128.load(c), c20));
  v128.store(c, f32x4.add(v128.load(c, 16), c21), 16);
  c += ld;
  v128.store(c, f32x4.add(v128.load(c), c30));
  v128.store(c, f32x4.add(v128.load(c, 16), c31), 16);
}

/** C[r0..r1, c0..c1] = alpha·op(A)·op(B) + beta·C over that block; scratch holds SCRATCH_BYTES. */
export function gemmBlock(
  tA: bool, tB: bool, K: i32, alpha: f32,
  a: usize, lda: i32, b: usize, ldb: i32, beta: f32, c: usize, ldc: i32,
  r0: i32, r1: i32, c0: i32, c1: i32, scratch: usize,
): void {
  if (r1 <= r0 || c1 <= c0) return;
  // beta first, so the micro-kernel only ever accumulates; beta = 0 never reads C
  for (let i = r0; i < r1; i++) {
    const row = c + (<usize>(i * ldc) << 2);
    if (beta == 0) for (let j = c0; j < c1; j++) store<f32>(row + (<usize>j << 2), 0);
    else if (beta != 1) for (let j = c0; j < c1; j++) store<f32>(row + (<usize>j << 2), f32at(row, j) * beta);
  }
  if (alpha == 0 || K == 0) return;
  const apack = scratch;
  const bpack = apack + (<usize>(MC * KC) << 2);
  const tile = bpack + (<usize>(KC * NC) << 2);
  for (let jc = c0; jc < c1; jc += NC) {
    const nc = min(NC, c1 - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min(KC, K - pc);
      packB(tB, b, ldb, pc, kc, jc, nc, bpack);
      for (let ic = r0; ic < r1; ic += MC) {
        const mc = min(MC, r1 - ic);
        packA(tA, a, lda, ic, mc, pc, kc, alpha, apack);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const bp = bpack + (<usize>(jr * kc) << 2);
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = min(MR, mc - ir);
            const ap = apack + (<usize>(ir * kc) << 2);
            const cij = c + (<usize>((ic + ir) * ldc + jc + jr) << 2);
            if (mr == MR && nr == NR) micro(kc, ap, bp, cij, ldc);
            else {
              memory.fill(tile, 0, MR * NR * 4);
              micro(kc, ap, bp, tile, NR);
              for (let i = 0; i < mr; i++) {
                const crow = cij + (<usize>(i * ldc) << 2);
                const trow = tile + (<usize>(i * NR) << 2);
                for (let j = 0; j < nr; j++) store<f32>(crow + (<usize>j << 2), f32at(crow, j) + f32at(trow, j));
              }
            }
          }
        }
      }
    }
  }
}
