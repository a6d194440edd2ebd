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
export const KC: i32 = 256;
export const MC: i32 = 64;
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

/** C[r0..r1, c0..c1] ← beta·C; beta = 0 writes zeros without reading C (NaN there does not leak). */
function scaleC(beta: f32, c: usize, ldc: i32, r0: i32, r1: i32, c0: i32, c1: i32): void {
  for (let i = r0; i < r1; i++) {
    const row = c + (<usize>(i * ldc) << 2);
    if (beta == 0) for (let j = c0; j < c1; j++) store<f32>(row + (<usize>j << 2), 0);
    else if (beta != 1) for (let j = c0; j < c1; j++) store<f32>(row + (<usize>j << 2), f32at(row, j) * beta);
  }
}

/** C[r0..r1, c0..c1] = alpha·op(A)·op(B) + beta·C over that block; scratch holds SCRATCH_BYTES. */
export function gemmBlock(
  tA: bool, tB: bool, K: i32, alpha: f32,
  a: usize, lda: i32, b: usize, ldb: i32, beta: f32, c: usize, ldc: i32,
  r0: i32, r1: i32, c0: i32, c1: i32, scratch: usize,
): void {
  if (r1 <= r0 || c1 <= c0) return;
  // beta first, so the micro-kernel only ever accumulates; beta = 0 never reads C
  scaleC(beta, c, ldc, r0, r1, c0, c1);
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

/** K is gathered this many at a time by the direct kernel (4 rows of it fit the scratch). */
const DIRECT_KC: i32 = 4096;

/**
 * C[r0..r1, c0..c1] = alpha·op(A)·op(B) + beta·C without packing B: for
 * products with few rows or columns (decoding one token, per-head attention)
 * packing costs more than it saves. Rows go four at a time, gathered (with
 * alpha) into the scratch; with B stored N×K each output is a dot product over
 * contiguous k, otherwise each k adds a scaled row of B to the four C rows.
 */
export function gemmDirect(
  tA: bool, tB: bool, K: i32, alpha: f32,
  a: usize, lda: i32, b: usize, ldb: i32, beta: f32, c: usize, ldc: i32,
  r0: i32, r1: i32, c0: i32, c1: i32, scratch: usize,
): void {
  if (r1 <= r0 || c1 <= c0) return;
  scaleC(beta, c, ldc, r0, r1, c0, c1);
  if (alpha == 0 || K == 0) return;
  for (let i0 = r0; i0 < r1; i0 += 4) {
    const rows = min(4, r1 - i0);
    for (let k0 = 0; k0 < K; k0 += DIRECT_KC) {
      const kc = min(DIRECT_KC, K - k0);
      // the four rows of op(A), k0..k0+kc, scaled by alpha; missing rows are zeros
      for (let r = 0; r < 4; r++) {
        const dst = scratch + (<usize>(r * kc) << 2);
        for (let k = 0; k < kc; k++) {
          const v: f32 = r < rows ? (tA ? f32at(a, (k0 + k) * lda + i0 + r) : f32at(a, (i0 + r) * lda + k0 + k)) * alpha : 0;
          store<f32>(dst + (<usize>k << 2), v);
        }
      }
      const a0 = scratch, a1 = a0 + (<usize>kc << 2), a2 = a1 + (<usize>kc << 2), a3 = a2 + (<usize>kc << 2);
      if (tB) {
        for (let j = c0; j < c1; j++) {
          const bj = b + (<usize>(j * ldb + k0) << 2);
          let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
          let k = 0;
          for (; k + 4 <= kc; k += 4) {
            const o = <usize>k << 2;
            const bv = v128.load(bj + o);
            s0 = f32x4.add(s0, f32x4.mul(v128.load(a0 + o), bv));
            s1 = f32x4.add(s1, f32x4.mul(v128.load(a1 + o), bv));
            s2 = f32x4.add(s2, f32x4.mul(v128.load(a2 + o), bv));
            s3 = f32x4.add(s3, f32x4.mul(v128.load(a3 + o), bv));
          }
          let t0 = hsum(s0), t1 = hsum(s1), t2 = hsum(s2), t3 = hsum(s3);
          for (; k < kc; k++) {
            const bv = f32at(bj, k);
            t0 += f32at(a0, k) * bv;
            t1 += f32at(a1, k) * bv;
            t2 += f32at(a2, k) * bv;
            t3 += f32at(a3, k) * bv;
          }
          const cj = c + (<usize>(i0 * ldc + j) << 2), ld = <usize>ldc << 2;
          store<f32>(cj, load<f32>(cj) + t0);
          if (rows > 1) store<f32>(cj + ld, load<f32>(cj + ld) + t1);
          if (rows > 2) store<f32>(cj + 2 * ld, load<f32>(cj + 2 * ld) + t2);
          if (rows > 3) store<f32>(cj + 3 * ld, load<f32>(cj + 3 * ld) + t3);
        }
      } else {
        for (let r = 0; r < rows; r++) {
          const ar = scratch + (<usize>(r * kc) << 2);
          const crow = c + (<usize>((i0 + r) * ldc) << 2);
          for (let k = 0; k < kc; k++) {
            const av = f32at(ar, k);
            const bk = b + (<usize>((k0 + k) * ldb) << 2);
            const as = f32x4.splat(av);
            let j = c0;
            for (; j + 4 <= c1; j += 4) {
              const o = <usize>j << 2;
              v128.store(crow + o, f32x4.add(v128.load(crow + o), f32x4.mul(as, v128.load(bk + o))));
            }
            for (; j < c1; j++) store<f32>(crow + (<usize>j << 2), f32at(crow, j) + av * f32at(bk, j));
          }
        }
      }
    }
  }
}

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}
