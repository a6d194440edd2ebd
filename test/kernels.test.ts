/**
 * GEMM kernels against a float64 triple loop: every transpose combination,
 * alpha/beta (beta = 0 over NaN), padded leading dimensions, offsets, odd
 * sizes, batched products with shared (stride 0) operands, and that untouched
 * parts of C stay untouched, for every kernel. The native and wasm kernels'
 * cases are skipped, with the reason, where they are not built; their argument
 * checks are tested too (out-of-bounds extents throw instead of reading past an
 * array), and the wasm kernel's threaded paths on products big enough to use
 * its workers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GemmKernel } from '../src/tensor/kernels/types.js';
import { loadNativeKernel } from '../src/tensor/kernels/native.js';
import { loadWasmKernel, wasmThreadsReady } from '../src/tensor/kernels/wasm.js';
import { portableKernel } from '../src/tensor/kernels/portable.js';

const fast: Array<{ name: 'native' | 'wasm'; kernel: GemmKernel | null; skip: string | false; describes: RegExp }> = [
  [loadNativeKernel(), 'native', /^(OpenBLAS \S+|Apple Accelerate) \(.+\), \d+ threads?$/] as const,
  [loadWasmKernel(), 'wasm', /^WebAssembly SIMD128, \d+ threads?$/] as const,
].map(([probe, name, describes]) => ({
  name,
  kernel: 'kernel' in probe ? probe.kernel : null,
  skip: 'kernel' in probe ? false : `${name} kernel not available: ${probe.error}`,
  describes,
}));

/** Deterministic pseudo-random numbers in [-1, 1) (xorshift32). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 31 - 1;
  };
}

function randomArray(n: number, next: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = next();
  return a;
}

interface Case {
  tA: boolean; tB: boolean;
  M: number; N: number; K: number;
  alpha: number; beta: number;
  lda: number; ldb: number; ldc: number;
  offA: number; offB: number; offC: number;
  strideA: number; strideB: number; strideC: number;
  batch: number;
}

/** Stored rows × cols of A, B, C. */
const dimsA = (c: Case) => (c.tA ? [c.K, c.M] : [c.M, c.K]);
const dimsB = (c: Case) => (c.tB ? [c.N, c.K] : [c.K, c.N]);

function extent(rows: number, ld: number, cols: number): number {
  return rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols;
}

/** Array length holding every batch entry, plus a tail that must stay untouched. */
function lengthFor(off: number, stride: number, batch: number, rows: number, ld: number, cols: number): number {
  return off + (batch - 1) * stride + extent(rows, ld, cols) + 3;
}

/**
 * Runs the case (batched when batch > 1 or strides are set) and checks every
 * element of C: written elements against the float64 reference within a
 * float32 error bound, all others (padding, gaps, head, tail) unchanged.
 */
function check(k: GemmKernel, c: Case, seed: number, batched: boolean): void {
  const next = rng(seed);
  const [ra, ca] = dimsA(c);
  const [rb, cb] = dimsB(c);
  const A = randomArray(lengthFor(c.offA, c.strideA, c.batch, ra, c.lda, ca), next);
  const B = randomArray(lengthFor(c.offB, c.strideB, c.batch, rb, c.ldb, cb), next);
  const C = randomArray(lengthFor(c.offC, c.strideC, c.batch, c.M, c.ldc, c.N), next);
  if (c.beta === 0) {
    // beta = 0 must not read C: poison the region it writes.
    for (let b = 0; b < c.batch; b++)
      for (let i = 0; i < c.M; i++)
        for (let j = 0; j < c.N; j++) C[c.offC + b * c.strideC + i * c.ldc + j] = NaN;
  }
  const C0 = C.slice();
  const want = Float64Array.from(C0);
  const bound = new Float64Array(C.length);
  const written = new Uint8Array(C.length);
  const eps = 2 ** -23;
  for (let b = 0; b < c.batch; b++) {
    const oA = c.offA + b * c.strideA, oB = c.offB + b * c.strideB, oC = c.offC + b * c.strideC;
    for (let i = 0; i < c.M; i++) {
      for (let j = 0; j < c.N; j++) {
        let s = 0, mag = 0;
        for (let p = 0; p < c.K; p++) {
          const a = A[c.tA ? oA + p * c.lda + i : oA + i * c.lda + p];
          const bv = B[c.tB ? oB + j * c.ldb + p : oB + p * c.ldb + j];
          s += a * bv;
          mag += Math.abs(a * bv);
        }
        const at = oC + i * c.ldc + j;
        const prior = c.beta === 0 ? 0 : c.beta * want[at];
        want[at] = c.alpha * s + prior;
        bound[at] = 4 * (c.K + 2) * eps * (Math.abs(c.alpha) * mag + Math.abs(prior)) + 1e-30;
        written[at] = 1;
      }
    }
  }
  if (batched) {
    k.sgemmBatched(c.tA, c.tB, c.M, c.N, c.K, c.alpha, A, c.offA, c.lda, c.strideA, B, c.offB, c.ldb, c.strideB,
      c.beta, C, c.offC, c.ldc, c.strideC, c.batch);
  } else {
    k.sgemm(c.tA, c.tB, c.M, c.N, c.K, c.alpha, A, c.offA, c.lda, B, c.offB, c.ldb, c.beta, C, c.offC, c.ldc);
  }
  const label = () => `${k.name} ${batched ? 'sgemmBatched' : 'sgemm'} ${JSON.stringify(c)}`;
  for (let x = 0; x < C.length; x++) {
    if (written[x]) {
      const err = Math.abs(C[x] - want[x]);
      if (!(err <= bound[x])) assert.fail(`${label()}: C[${x}] = ${C[x]}, want ${want[x]} (error ${err} > ${bound[x]})`);
    } else if (!Object.is(C[x], C0[x])) {
      assert.fail(`${label()}: C[${x}] outside the product changed from ${C0[x]} to ${C[x]}`);
    }
  }
}

const SIZES = [1, 7, 33, 65, 130];
const TRANSPOSES: Array<[boolean, boolean]> = [[false, false], [false, true], [true, false], [true, true]];
const SCALARS: Array<[number, number]> = [[1, 0], [-0.75, 0.5], [0.5, 1], [0, -2], [1.25, 0]];

/** Shapes where each size appears in each of M, N and K, plus cubes. */
function shapes(): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  for (let i = 0; i < SIZES.length; i++) {
    const a = SIZES[i], b = SIZES[(i + 1) % SIZES.length], c = SIZES[(i + 3) % SIZES.length];
    out.push([a, b, c], [b, c, a], [c, a, b], [a, a, a]);
  }
  return out;
}

function singleCases(): Case[] {
  const cases: Case[] = [];
  let n = 0;
  for (const [tA, tB] of TRANSPOSES) {
    for (const [M, N, K] of shapes()) {
      const [alpha, beta] = SCALARS[n % SCALARS.length];
      const pad = n % 3 === 0 ? 0 : (n % 5) + 1; // sometimes tight, sometimes padded rows
      const c: Case = {
        tA, tB, M, N, K, alpha, beta,
        lda: (tA ? M : K) + pad, ldb: (tB ? K : N) + ((pad * 7) % 4), ldc: N + ((pad * 3) % 5),
        offA: (n * 5) % 11, offB: (n * 3) % 7, offC: (n * 7) % 13,
        strideA: 0, strideB: 0, strideC: 0, batch: 1,
      };
      cases.push(c);
      n++;
    }
  }
  return cases;
}

/**
 * Batched cases: independent operands, stride 0 on A or on B, and the layouts
 * the native kernel folds into one GEMM (shared B, untransposed A, contiguous
 * rows; or M = 1 with any row spacing).
 */
function batchedCases(): Case[] {
  const cases: Case[] = [];
  let n = 0;
  for (const [tA, tB] of TRANSPOSES) {
    for (const [M, N, K] of [[7, 33, 65], [33, 7, 1], [1, 65, 33], [65, 1, 7], [1, 130, 7]] as Array<[number, number, number]>) {
      for (const share of ['none', 'A', 'B', 'fold'] as const) {
        const [alpha, beta] = SCALARS[n % SCALARS.length];
        const pad = n % 2;
        const lda = (tA ? M : K) + pad, ldb = (tB ? K : N) + pad, ldc = N + pad;
        const [ra, ca] = tA ? [K, M] : [M, K];
        const [rb, cb] = tB ? [N, K] : [K, N];
        const gap = share === 'fold' ? 0 : 2 + (n % 3);
        cases.push({
          tA, tB, M, N, K, alpha, beta, lda, ldb, ldc,
          offA: n % 4, offB: (n * 3) % 5, offC: (n * 2) % 7,
          strideA: share === 'A' ? 0 : share === 'fold' ? ra * lda : extent(ra, lda, ca) + gap,
          strideB: share === 'B' || share === 'fold' ? 0 : extent(rb, ldb, cb) + gap,
          strideC: share === 'fold' ? M * ldc : extent(M, ldc, N) + gap,
          batch: 3 + (n % 2),
        });
        n++;
      }
    }
  }
  // Folded with M = 1 and A/C rows spaced wider than a row.
  cases.push({
    tA: false, tB: true, M: 1, N: 33, K: 65, alpha: 1, beta: 0, lda: 65, ldb: 70, ldc: 33,
    offA: 1, offB: 2, offC: 3, strideA: 80, strideB: 0, strideC: 40, batch: 5,
  });
  return cases;
}

function runAll(k: GemmKernel): void {
  singleCases().forEach((c, i) => check(k, c, 1000 + i, false));
  singleCases().filter((_, i) => i % 4 === 0).forEach((c, i) => check(k, c, 5000 + i, true)); // batch = 1 via sgemmBatched
  batchedCases().forEach((c, i) => check(k, c, 9000 + i, true));
}

test('portable kernel matches the float64 reference', () => {
  assert.equal(portableKernel.name, 'portable');
  runAll(portableKernel);
});

for (const { name, kernel: k0, skip, describes } of fast) {
test(`${name} kernel matches the float64 reference`, { skip }, () => {
  assert.ok(k0);
  assert.equal(k0.name, name);
  runAll(k0);
});

test(`${name} kernel describes itself`, { skip }, () => {
  assert.ok(k0);
  assert.match(k0.describe(), describes);
  assert.ok(k0.threads() >= 1);
});

test(`${name} kernel rejects bad arguments instead of reading past an array`, { skip }, () => {
  assert.ok(k0);
  const k = k0;
  const A = new Float32Array(6), B = new Float32Array(6), C = new Float32Array(4);
  const ok = () => k.sgemm(false, false, 2, 2, 3, 1, A, 0, 3, B, 0, 2, 0, C, 0, 2);
  ok(); // exactly fits
  const call = (over: Partial<Record<string, unknown>>) => () => {
    const a = { tA: false, tB: false, M: 2, N: 2, K: 3, A, offA: 0, lda: 3, B, offB: 0, ldb: 2, C, offC: 0, ldc: 2, ...over };
    const f = k.sgemm as unknown as (...args: unknown[]) => void;
    f(a.tA, a.tB, a.M, a.N, a.K, 1, a.A, a.offA, a.lda, a.B, a.offB, a.ldb, 0, a.C, a.offC, a.ldc);
  };
  const range = (name: string) => ({ name: 'RangeError', message: new RegExp(`'${name}'`) });
  const type = (name: string) => ({ name: 'TypeError', message: new RegExp(`'${name}'`) });
  assert.throws(call({ offA: 1 }), range('A'));
  assert.throws(call({ offB: 1 }), range('B'));
  assert.throws(call({ offC: 1 }), range('C'));
  assert.throws(call({ K: 4, lda: 4 }), range('A'));
  assert.throws(call({ M: 3 }), range('A'));
  assert.throws(call({ N: 3, ldb: 3 }), range('B'));
  call({ tA: true, lda: 2 })(); // transposed: A is stored 3x2, which fits
  assert.throws(call({ tA: true, lda: 3 }), range('A'));
  assert.throws(call({ lda: 2 }), range('lda'));
  assert.throws(call({ ldb: 1 }), range('ldb'));
  assert.throws(call({ ldc: 1 }), range('ldc'));
  assert.throws(call({ M: -1 }), range('M'));
  assert.throws(call({ K: 1.5 }), range('K'));
  assert.throws(call({ N: NaN }), range('N'));
  assert.throws(call({ offA: 2 ** 40 }), range('offA'));
  assert.throws(call({ A: new Float64Array(6) }), type('A'));
  assert.throws(call({ B: [0, 0, 0, 0, 0, 0] }), type('B'));
  assert.throws(call({ C: null }), type('C'));
  assert.throws(call({ tA: 0 }), type('transA'));
  assert.throws(call({ M: '2' }), type('M'));
  assert.throws(() => (k.sgemm as unknown as (...args: unknown[]) => void)(false, false, 1), { name: 'TypeError' });
  // A view into a bigger buffer: its own length is the limit, not the buffer's.
  const view = new Float32Array(new ArrayBuffer(64), 8, 5);
  assert.throws(call({ A: view }), range('A'));

  const batched = (strideA: number, strideB: number, strideC: number, batch: number) => () =>
    k.sgemmBatched(false, false, 1, 1, 2, 1, A, 0, 2, strideA, B, 0, 1, strideB, 0, C, 0, 1, strideC, batch);
  batched(2, 2, 1, 3)(); // last entry ends exactly at A[6], B[6], C[3]
  assert.throws(batched(3, 2, 1, 3), range('A'));
  assert.throws(batched(2, 3, 1, 3), range('B'));
  assert.throws(batched(0, 0, 2, 3), range('C'));
  assert.throws(batched(0, 0, 0, -1), range('batch'));
  // Nothing outside the valid calls was written.
  assert.ok(C.every((x) => Number.isFinite(x)));
});

test(`${name} and portable agree with each other on a mid-size product`, { skip }, () => {
  assert.ok(k0);
  const next = rng(42);
  const M = 70, N = 90, K = 300;
  const A = randomArray(M * K, next), B = randomArray(K * N, next);
  const C1 = new Float32Array(M * N), C2 = new Float32Array(M * N);
  k0.sgemm(false, true, M, N, K, 1, A, 0, K, B, 0, K, 0, C1, 0, N);
  portableKernel.sgemm(false, true, M, N, K, 1, A, 0, K, B, 0, K, 0, C2, 0, N);
  for (let i = 0; i < C1.length; i++) assert.ok(Math.abs(C1[i] - C2[i]) <= 1e-4, `C[${i}]: ${C1[i]} vs ${C2[i]}`);
});
}

const wasm = fast.find((f) => f.name === 'wasm')!;

test('wasm kernel: products big enough for its worker threads match the float64 reference', { skip: wasm.skip }, async () => {
  const k = wasm.kernel!;
  // workers start in the background; wait for them so the threaded paths run
  for (let i = 0; i < 1000 && !wasmThreadsReady(); i++) await new Promise((r) => setTimeout(r, 10));
  if (k.threads() > 1) assert.ok(wasmThreadsReady(), 'the wasm workers came up');
  const cases: Case[] = [
    // wider than high: split along N; higher than wide: split along M; both with edge tiles
    { tA: false, tB: true, M: 37, N: 301, K: 260, alpha: 1, beta: 0, lda: 260, ldb: 260, ldc: 301, offA: 1, offB: 2, offC: 3, strideA: 0, strideB: 0, strideC: 0, batch: 1 },
    { tA: true, tB: false, M: 301, N: 37, K: 260, alpha: 0.5, beta: -1, lda: 303, ldb: 40, ldc: 38, offA: 0, offB: 5, offC: 1, strideA: 0, strideB: 0, strideC: 0, batch: 1 },
    // batch of independent products (split across threads by entry) and a folded shared-B batch
    { tA: false, tB: false, M: 65, N: 70, K: 130, alpha: 1, beta: 0.25, lda: 130, ldb: 70, ldc: 70, offA: 0, offB: 0, offC: 0, strideA: 65 * 130, strideB: 130 * 70, strideC: 65 * 70 + 3, batch: 5 },
    { tA: false, tB: true, M: 50, N: 260, K: 130, alpha: 1, beta: 0, lda: 130, ldb: 131, ldc: 260, offA: 2, offB: 0, offC: 0, strideA: 50 * 130, strideB: 0, strideC: 50 * 260, batch: 3 },
  ];
  cases.forEach((c, i) => check(k, c, 20000 + i, true));
});
