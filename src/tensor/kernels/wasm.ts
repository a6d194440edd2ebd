/**
 * The WebAssembly kernel: GEMM and the vector kernels of native/wasm/ (an
 * AssemblyScript source built at `npm run build` into dist/wasm/candor.wasm,
 * so it needs neither OpenBLAS nor a C compiler on the user's machine), run on
 * 128-bit SIMD by the main thread and worker threads over one shared memory.
 *
 * Operands live in JavaScript arrays, so each call copies them into the
 * shared memory, runs the job there and copies the result back; the copies
 * are O(size) against the product's O(size^1.5), and memcpy-fast. The main
 * thread writes the job (an op code and f64 arguments) at JOB, bumps a
 * sequence number the workers wait on, works on the job itself (a GEMM's
 * pieces are claimed from a shared counter, other ops split by rows) and
 * waits until every worker has counted itself done. Small jobs run on the
 * main thread alone: waking a worker costs more than they take.
 */
import { requestedThreads } from './threads.js';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { KernelUnavailableError } from '../errors.js';
import { BINARY_OPS, UNARY_OPS, type GemmKernel, type VectorKernel } from './types.js';

// This file compiles to dist/src/tensor/kernels/wasm.js; the module is built to dist/wasm/.
const distRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const wasmModulePath = join(distRoot, 'wasm', 'candor.wasm');
const workerPath = join(dirname(fileURLToPath(import.meta.url)), 'wasm-worker.js');

const PAGE = 65536;
/** Byte addresses of the job's f64 arguments and of the Int32 control words. */
export const JOB = 1024;
export const CTL = 2048;
/** control words: job sequence number, workers done (monotonic), workers ready, threads of this job */
export const SEQ = 0, DONE = 1, READY = 2, NT = 3;
/** Operands start here; the module's own static data (if any) sits below, from 64 KiB. */
const HEAP = 1 << 20;
const MAX_PAGES = 65536; // 4 GiB, wasm32's limit
/** Work below which a job stays on the main thread (flops for GEMM, elements otherwise). */
const GEMM_PARALLEL_FLOPS = 1 << 21;
const VECTOR_PARALLEL_ELEMENTS = 1 << 15;
/** How long the main thread polls for the workers to finish a job before it sleeps. */
const MAIN_SPIN_MS = 5;

const UNARY_LAST = Math.max(...Object.values(UNARY_OPS));
const BINARY_LAST = Math.max(...Object.values(BINARY_OPS));
/** Each job's op code is the module's exported OP_* constant (native/wasm/index.ts), read when it loads. */
const OP_EXPORTS = {
  gemm: 'OP_GEMM', unary: 'OP_UNARY', binary: 'OP_BINARY', layerNorm: 'OP_LAYER_NORM', rmsNorm: 'OP_RMS_NORM', softmax: 'OP_SOFTMAX',
  attentionSoftmax: 'OP_ATTENTION_SOFTMAX', rotary: 'OP_ROTARY', rmsNormBackward: 'OP_RMS_NORM_BACKWARD', layerNormBackward: 'OP_LAYER_NORM_BACKWARD',
  logSumExp: 'OP_LOG_SUM_EXP', crossEntropyBackward: 'OP_CROSS_ENTROPY_BACKWARD', attentionSoftmaxBackward: 'OP_ATTENTION_SOFTMAX_BACKWARD', adamwStep: 'OP_ADAMW',
} as const;
type OpName = keyof typeof OP_EXPORTS;
const OP = {} as Record<OpName, number>;

interface Exports extends Record<string, unknown> {
  run(job: number, tid: number, nt: number): void;
  SCRATCH_BYTES: WebAssembly.Global;
  COUNTER_OFFSET: WebAssembly.Global;
}

class WasmRuntime {
  readonly memory: WebAssembly.Memory;
  readonly exports: Exports;
  readonly scratchBytes: number;
  readonly threads: number;
  private f32!: Float32Array;
  private f64!: Float64Array;
  private i32!: Int32Array;
  private readonly args: Float64Array;
  private readonly counter: Int32Array;
  private readonly ctl: Int32Array;
  private doneTarget = 0;
  private readonly module: WebAssembly.Module;
  private spawned = false;

  constructor(module: WebAssembly.Module, threads: number) {
    this.module = module;
    this.threads = threads;
    this.memory = new WebAssembly.Memory({ initial: HEAP / PAGE, maximum: MAX_PAGES, shared: true });
    this.exports = new WebAssembly.Instance(module, { env: { memory: this.memory } }).exports as unknown as Exports;
    this.scratchBytes = this.exports.SCRATCH_BYTES.value as number;
    for (const [name, exported] of Object.entries(OP_EXPORTS) as [OpName, string][]) {
      const g = this.exports[exported];
      if (!(g instanceof WebAssembly.Global)) throw new Error(`${wasmModulePath} has no ${exported}: it is stale. Fix: run npm run build`);
      OP[name] = g.value as number;
    }
    this.args = new Float64Array(this.memory.buffer, JOB, 32);
    this.counter = new Int32Array(this.memory.buffer, JOB + (this.exports.COUNTER_OFFSET.value as number), 1);
    this.ctl = new Int32Array(this.memory.buffer, CTL, 16);
    this.views();
  }

  /**
   * Workers start with the first job that could use them (a process that only
   * copies or loads never pays for them); until they are up, jobs run here.
   */
  private spawn(): void {
    this.spawned = true;
    for (let t = 1; t < this.threads; t++) {
      const w = new Worker(workerPath, { workerData: { module: this.module, memory: this.memory, tid: t } });
      w.unref();
    }
  }

  private views(): void {
    const buf = this.memory.buffer;
    this.f32 = new Float32Array(buf);
    this.f64 = new Float64Array(buf);
    this.i32 = new Int32Array(buf);
  }

  /** Make the heap hold `bytes` beyond the threads' scratch; returns the first free address. */
  heap(bytes: number): number {
    const base = HEAP + this.threads * this.scratchBytes;
    const need = base + bytes;
    const have = this.memory.buffer.byteLength;
    if (need > have) {
      const pages = Math.ceil((need - have) / PAGE);
      if (have / PAGE + pages > MAX_PAGES) {
        throw new RangeError(`wasm kernel: an operation needs ${(need / 2 ** 30).toFixed(2)} GiB of operands, more than WebAssembly's 4 GiB. Fix: use smaller batches, or the native kernel (CANDOR_KERNEL=native with OpenBLAS installed).`);
      }
      this.memory.grow(pages);
      this.views();
    }
    return base;
  }

  put(src: Float32Array, off: number, n: number, at: number): void {
    if (n > 0) this.f32.set(src.subarray(off, off + n), at >> 2);
  }
  get(dst: Float32Array, off: number, n: number, at: number): void {
    if (n > 0) dst.set(this.f32.subarray(at >> 2, (at >> 2) + n), off);
  }
  putI32(src: Int32Array, at: number): void {
    this.i32.set(src, at >> 2);
  }
  getI32(dst: Int32Array, n: number, at: number): void {
    dst.set(this.i32.subarray(at >> 2, (at >> 2) + n));
  }
  putF64(src: Float64Array, at: number): void {
    this.f64.set(src, at >> 3);
  }
  getF64(dst: Float64Array, n: number, at: number): void {
    dst.set(this.f64.subarray(at >> 3, (at >> 3) + n));
  }

  /** Whether every worker has started (jobs use them from then on). */
  threadsReady(): boolean {
    return Atomics.load(this.ctl, READY) === this.threads - 1;
  }

  /** Run the job whose arguments are `a` on `nt` threads (1 when the job is small). */
  exec(a: readonly number[], parallel: boolean): void {
    this.args.set(a);
    this.counter[0] = 0;
    if (parallel && !this.spawned) this.spawn();
    // workers join only once all are ready: a job must reach every tid below its thread count
    const nt = parallel && this.threadsReady() ? this.threads : 1;
    if (nt === 1) {
      this.exports.run(JOB, 0, 1);
      return;
    }
    Atomics.store(this.ctl, NT, nt);
    this.doneTarget = Atomics.load(this.ctl, DONE) + (nt - 1);
    Atomics.add(this.ctl, SEQ, 1);
    Atomics.notify(this.ctl, SEQ);
    this.exports.run(JOB, 0, nt);
    // the workers are finishing their last pieces: poll (a futex wake-up would add its latency
    // to every job), and sleep only if they take unusually long
    const until = performance.now() + MAIN_SPIN_MS;
    for (;;) {
      const d = Atomics.load(this.ctl, DONE);
      if (d - this.doneTarget >= 0) break;
      if (performance.now() > until) Atomics.wait(this.ctl, DONE, d, 1000);
    }
  }
}

/** The module's bytes once checked to load here; the runtime starts with the first job. */
let available: { bytes: Uint8Array; threads: number } | { error: string } | null = null;
let runtime: WasmRuntime | null = null;

/** Threads for the wasm kernel: CANDOR_THREADS, else the cores Node reports. */
function threadCount(): number {
  return requestedThreads() ?? Math.max(1, Math.min(availableParallelism(), 16));
}

/** Whether the module is built and this engine can run it (validation compiles nothing). */
function check(): { bytes: Uint8Array; threads: number } | { error: string } {
  if (!existsSync(wasmModulePath)) {
    return { error: `${wasmModulePath} does not exist (it is built by \`npm run build\`). Fix: run npm run build` };
  }
  if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics === 'undefined') {
    return { error: 'this JavaScript engine has no SharedArrayBuffer/Atomics. Fix: use Node.js 20 or later' };
  }
  const bytes = readFileSync(wasmModulePath);
  if (!WebAssembly.validate(bytes)) {
    return { error: `${wasmModulePath} does not validate here: this Node.js lacks WebAssembly SIMD or threads, or the file is damaged. Fix: use Node.js 20 or later, or run npm run build` };
  }
  return { bytes, threads: threadCount() };
}

function rt(): WasmRuntime {
  if (runtime === null) {
    available ??= check();
    if ('error' in available) throw new Error(available.error);
    runtime = new WasmRuntime(new WebAssembly.Module(available.bytes), available.threads);
  }
  return runtime;
}

function checkExtent(what: string, arr: { length: number }, off: number, n: number): void {
  if (!(off >= 0 && n >= 0 && off + n <= arr.length && Number.isInteger(off))) {
    throw new RangeError(`wasm kernel: ${what}: extent out of range ([${off}, ${off + n}) in an array of ${arr.length})`);
  }
}

const align = (n: number): number => (n + 15) & ~15;

const INT_LIMIT = 2147483647;
const SINGLE = ['transA', 'transB', 'M', 'N', 'K', 'alpha', 'A', 'offA', 'lda', 'B', 'offB', 'ldb', 'beta', 'C', 'offC', 'ldc'];
const BATCHED = ['transA', 'transB', 'M', 'N', 'K', 'alpha', 'A', 'offA', 'lda', 'strideA', 'B', 'offB', 'ldb', 'strideB', 'beta', 'C', 'offC', 'ldc', 'strideC', 'batch'];

/** A TypeError or RangeError naming the argument, worded as the native addon words it. */
function argError(range: boolean, name: string, what: string): Error {
  const msg = `candor_wasm: argument '${name}' ${what}`;
  return range ? new RangeError(msg) : new TypeError(msg);
}

function bool(args: readonly unknown[], i: number, names: readonly string[]): boolean {
  const x = args[i];
  if (typeof x !== 'boolean') throw argError(false, names[i]!, 'must be a boolean');
  return x;
}
function count(args: readonly unknown[], i: number, names: readonly string[]): number {
  const x = args[i];
  if (typeof x !== 'number') throw argError(false, names[i]!, 'must be a number');
  if (!(x >= 0 && x <= INT_LIMIT && Number.isInteger(x))) throw argError(true, names[i]!, 'must be an integer in [0, 2^31-1]');
  return x;
}
function scalar(args: readonly unknown[], i: number, names: readonly string[]): number {
  const x = args[i];
  if (typeof x !== 'number') throw argError(false, names[i]!, 'must be a number');
  return x;
}
function f32(args: readonly unknown[], i: number, names: readonly string[]): Float32Array {
  const x = args[i];
  if (!(x instanceof Float32Array)) throw argError(false, names[i]!, 'must be a Float32Array');
  return x;
}

/** Check a GEMM call's arguments (the native addon's checks) and return them typed. */
function parseGemm(a: readonly unknown[], batched: boolean): GemmCall {
  const n = batched ? BATCHED : SINGLE;
  if (a.length < n.length) throw new TypeError(`candor_wasm: expected ${n.length} arguments, got ${a.length}`);
  // positions of A, B and C (each followed by its offset and leading dimension, and its stride when batched)
  const iA = 6, iB = batched ? 10 : 9, iBeta = batched ? 14 : 12, iC = batched ? 15 : 13;
  const g: GemmCall = {
    tA: bool(a, 0, n), tB: bool(a, 1, n), M: count(a, 2, n), N: count(a, 3, n), K: count(a, 4, n), alpha: scalar(a, 5, n),
    A: f32(a, iA, n), offA: count(a, iA + 1, n), lda: count(a, iA + 2, n), strideA: batched ? count(a, iA + 3, n) : 0,
    B: f32(a, iB, n), offB: count(a, iB + 1, n), ldb: count(a, iB + 2, n), strideB: batched ? count(a, iB + 3, n) : 0,
    beta: scalar(a, iBeta, n),
    C: f32(a, iC, n), offC: count(a, iC + 1, n), ldc: count(a, iC + 2, n), strideC: batched ? count(a, iC + 3, n) : 0,
    batch: batched ? count(a, 19, n) : 1,
  };
  // stored shapes: A is M×K (K×M if transposed), B is K×N (N×K), C is M×N
  checkMat(g.A, g.offA, g.lda, g.strideA, g.tA ? g.K : g.M, g.tA ? g.M : g.K, g.batch, 'lda', 'A');
  checkMat(g.B, g.offB, g.ldb, g.strideB, g.tB ? g.N : g.K, g.tB ? g.K : g.N, g.batch, 'ldb', 'B');
  checkMat(g.C, g.offC, g.ldc, g.strideC, g.M, g.N, g.batch, 'ldc', 'C');
  return g;
}

interface GemmCall {
  tA: boolean; tB: boolean; M: number; N: number; K: number; alpha: number;
  A: Float32Array; offA: number; lda: number; strideA: number;
  B: Float32Array; offB: number; ldb: number; strideB: number;
  beta: number; C: Float32Array; offC: number; ldc: number; strideC: number; batch: number;
}

function checkMat(arr: Float32Array, off: number, ld: number, stride: number, rows: number, cols: number, batch: number, ldName: string, name: string): void {
  if (ld < Math.max(cols, 1)) throw argError(true, ldName, 'is smaller than the row length');
  if (off + span(rows, cols, ld, stride, batch) > arr.length) throw argError(true, name, 'is too short for the offset, extents and strides given');
}

/** Elements spanned by a stored rows×cols matrix with leading dimension ld, repeated batch times at stride. */
function span(rows: number, cols: number, ld: number, stride: number, batch: number): number {
  if (rows === 0 || cols === 0 || batch === 0) return 0;
  return (batch - 1) * stride + (rows - 1) * ld + cols;
}

/**
 * Row stride of the (batch·M)×cols matrix that a batch of M×cols matrices
 * forms, or 0 when the entries are not evenly spaced rows of one matrix.
 */
function foldLd(M: number, ld: number, stride: number, cols: number): number {
  const r = M === 1 ? stride : stride === M * ld ? ld : 0;
  return r >= Math.max(cols, 1) ? r : 0;
}

function gemm(g: GemmCall): void {
  let { M, batch, lda, ldc, strideA, strideC } = g;
  const { tA, tB, N, K } = g;
  if (M === 0 || N === 0 || batch === 0) return;
  // a shared B with evenly spaced rows of untransposed A and of C is one product of batch·M rows,
  // which packs B once instead of once per entry
  if (batch > 1 && g.strideB === 0 && !tA && M * batch <= INT_LIMIT) {
    const la = foldLd(M, lda, strideA, K), lc = foldLd(M, ldc, strideC, N);
    if (la > 0 && lc > 0) {
      M *= batch;
      lda = la;
      ldc = lc;
      batch = 1;
      strideA = strideC = 0;
    }
  }
  const nA = K === 0 ? 0 : span(tA ? K : M, tA ? M : K, lda, strideA, batch);
  const nB = K === 0 ? 0 : span(tB ? N : K, tB ? K : N, g.ldb, g.strideB, batch);
  const nC = span(M, N, ldc, strideC, batch);
  const r = rt();
  const base = r.heap(align(nA * 4) + align(nB * 4) + align(nC * 4));
  const a = base, b = a + align(nA * 4), c = b + align(nB * 4);
  r.put(g.A, g.offA, nA, a);
  r.put(g.B, g.offB, nB, b);
  // C is read when beta ≠ 0, and copied in whole when it has gaps the copy-out must not clobber
  const dense = ldc === N && (batch === 1 || strideC === M * N);
  if (g.beta !== 0 || !dense) r.put(g.C, g.offC, nC, c);
  const flops = 2 * M * N * K * batch;
  r.exec([OP.gemm, +tA, +tB, M, N, K, g.alpha, a, lda, strideA, b, g.ldb, g.strideB, g.beta, c, ldc, strideC, batch, HEAP], flops >= GEMM_PARALLEL_FLOPS);
  r.get(g.C, g.offC, nC, c);
}

const sgemmBatched: GemmKernel['sgemmBatched'] = (...args) => gemm(parseGemm(args, true));

const sgemm: GemmKernel['sgemm'] = (...args) => gemm(parseGemm(args, false));

const vector: VectorKernel = {
  unary(op, out, outOff, x, xOff, n, p) {
    if (!(Number.isInteger(op) && op >= 0 && op <= UNARY_LAST)) throw new RangeError(`wasm kernel: unary: unknown op ${op}`);
    checkExtent('unary out', out, outOff, n);
    checkExtent('unary x', x, xOff, n);
    if (op === UNARY_OPS.copy) {
      // a plain copy computes nothing: no trip through the shared memory
      out.set(x.subarray(xOff, xOff + n), outOff);
      return;
    }
    const r = rt();
    const xa = r.heap(2 * align(n * 4)), oa = xa + align(n * 4);
    r.put(x, xOff, n, xa);
    r.exec([OP.unary, op, oa, xa, n, p], n >= VECTOR_PARALLEL_ELEMENTS);
    r.get(out, outOff, n, oa);
  },
  binary(op, out, outOff, a, aOff, b, bOff, n, m) {
    if (!(Number.isInteger(op) && op >= 0 && op <= BINARY_LAST)) throw new RangeError(`wasm kernel: binary: unknown op ${op}`);
    if (!(m >= 1 && n % m === 0)) throw new RangeError('wasm kernel: binary: n must be a multiple of m');
    checkExtent('binary out', out, outOff, n);
    checkExtent('binary a', a, aOff, n);
    checkExtent('binary b', b, bOff, m);
    const r = rt();
    const aa = r.heap(2 * align(n * 4) + align(m * 4)), ba = aa + align(n * 4), oa = ba + align(m * 4);
    r.put(a, aOff, n, aa);
    r.put(b, bOff, m, ba);
    r.exec([OP.binary, op, oa, aa, ba, n, m], n >= VECTOR_PARALLEL_ELEMENTS);
    r.get(out, outOff, n, oa);
  },
  layerNorm(out, x, xOff, rows, d, w, wOff, b, bOff, eps, mean, rstd) {
    const n = rows * d;
    checkExtent('layerNorm out', out, 0, n);
    checkExtent('layerNorm x', x, xOff, n);
    if (w) checkExtent('layerNorm w', w, wOff, d);
    if (b) checkExtent('layerNorm b', b, bOff, d);
    if (mean.length < rows || rstd.length < rows) throw new RangeError('wasm kernel: layerNorm mean/rstd shorter than rows');
    const r = rt();
    const xa = r.heap(2 * align(n * 4) + 2 * align(d * 4) + 2 * align(rows * 8));
    const oa = xa + align(n * 4), wa = oa + align(n * 4), ba = wa + align(d * 4), ma = ba + align(d * 4), ra = ma + align(rows * 8);
    r.put(x, xOff, n, xa);
    if (w) r.put(w, wOff, d, wa);
    if (b) r.put(b, bOff, d, ba);
    r.exec([OP.layerNorm, oa, xa, rows, d, w ? wa : 0, b ? ba : 0, eps, ma, ra], n >= VECTOR_PARALLEL_ELEMENTS);
    r.get(out, 0, n, oa);
    r.getF64(mean, rows, ma);
    r.getF64(rstd, rows, ra);
  },
  rmsNorm(out, x, xOff, rows, d, w, wOff, eps, offset, rstd) {
    const n = rows * d;
    checkExtent('rmsNorm out', out, 0, n);
    checkExtent('rmsNorm x', x, xOff, n);
    if (w) checkExtent('rmsNorm w', w, wOff, d);
    if (rstd.length < rows) throw new RangeError('wasm kernel: rmsNorm rstd shorter than rows');
    const r = rt();
    const xa = r.heap(2 * align(n * 4) + align(d * 4) + align(rows * 8));
    const oa = xa + align(n * 4), wa = oa + align(n * 4), ra = wa + align(d * 4);
    r.put(x, xOff, n, xa);
    if (w) r.put(w, wOff, d, wa);
    r.exec([OP.rmsNorm, oa, xa, rows, d, w ? wa : 0, eps, offset, ra], n >= VECTOR_PARALLEL_ELEMENTS);
    r.get(out, 0, n, oa);
    r.getF64(rstd, rows, ra);
  },
  softmax(out, x, xOff, rows, n) {
    const t = rows * n;
    checkExtent('softmax out', out, 0, t);
    checkExtent('softmax x', x, xOff, t);
    const r = rt();
    const xa = r.heap(2 * align(t * 4)), oa = xa + align(t * 4);
    r.put(x, xOff, t, xa);
    r.exec([OP.softmax, oa, xa, rows, n], t >= VECTOR_PARALLEL_ELEMENTS);
    r.get(out, 0, t, oa);
  },
  attentionSoftmax(out, x, xOff, B, H, Q, K, scale, softcap, past, window, keyMask, dead) {
    const t = B * H * Q * K, rows = B * H * Q;
    checkExtent('attentionSoftmax out', out, 0, t);
    checkExtent('attentionSoftmax x', x, xOff, t);
    if (keyMask !== null && keyMask.length < B * K) throw new RangeError('wasm kernel: attentionSoftmax keyMask shorter than B·K');
    if (dead.length < rows) throw new RangeError('wasm kernel: attentionSoftmax dead shorter than B·H·Q');
    const r = rt();
    const km = keyMask === null ? 0 : B * K;
    const xa = r.heap(2 * align(t * 4) + align(km * 4) + align(rows * 4));
    const oa = xa + align(t * 4), ka = oa + align(t * 4), da = ka + align(km * 4);
    r.put(x, xOff, t, xa);
    if (keyMask !== null) r.putI32(keyMask.subarray(0, km), ka);
    r.exec([OP.attentionSoftmax, oa, xa, B, H, Q, K, scale, softcap, past, window, keyMask === null ? 0 : ka, da], t >= VECTOR_PARALLEL_ELEMENTS);
    r.get(out, 0, t, oa);
    r.getI32(dead, rows, da);
  },
  rotary(out, x, xOff, B, T, H, D, R, cos, cosOff, sin, sinOff, perBatch, interleaved, sign) {
    const n = B * T * H * D, nc = (perBatch ? B * T : T) * (R / 2);
    if (!(R % 2 === 0 && R > 0 && R <= D)) throw new RangeError('wasm kernel: rotary: R must be even and in (0, D]');
    checkExtent('rotary out', out, 0, n);
    checkExtent('rotary x', x, xOff, n);
    checkExtent('rotary cos', cos, cosOff, nc);
    checkExtent('rotary sin', sin, sinOff, nc);
    const r = rt();
    const xa = r.heap(2 * align(n * 4) + 2 * align(nc * 4));
    const oa = xa + align(n * 4), ca = oa + align(n * 4), sa = ca + align(nc * 4);
    r.put(x, xOff, n, xa);
    r.put(cos, cosOff, nc, ca);
    r.put(sin, sinOff, nc, sa);
    r.exec([OP.rotary, oa, xa, B, T, H, D, R, ca, sa, +perBatch, +interleaved, sign], n >= VECTOR_PARALLEL_ELEMENTS);
    r.get(out, 0, n, oa);
  },
  rmsNormBackward(gx, gw, g, gOff, x, xOff, rows, d, w, wOff, offset, rstd) {
    const n = rows * d;
    if (gx) checkExtent('rmsNormBackward gx', gx, 0, n);
    if (gw) checkExtent('rmsNormBackward gw', gw, 0, d);
    checkExtent('rmsNormBackward g', g, gOff, n);
    checkExtent('rmsNormBackward x', x, xOff, n);
    if (w) checkExtent('rmsNormBackward w', w, wOff, d);
    if (rstd.length < rows) throw new RangeError('wasm kernel: rmsNormBackward rstd shorter than rows');
    const r = rt();
    const ga = r.heap(3 * align(n * 4) + 2 * align(d * 4) + align(rows * 8) + align(d * 8));
    const xa = ga + align(n * 4), gxa = xa + align(n * 4), wa = gxa + align(n * 4), gwa = wa + align(d * 4), ra = gwa + align(d * 4), acc = ra + align(rows * 8);
    r.put(g, gOff, n, ga);
    r.put(x, xOff, n, xa);
    if (w) r.put(w, wOff, d, wa);
    if (gw) r.put(gw, 0, d, gwa);
    r.putF64(rstd.subarray(0, rows), ra);
    r.exec([OP.rmsNormBackward, gx ? gxa : 0, gw ? gwa : 0, ga, xa, rows, d, w ? wa : 0, offset, ra, acc], false);
    if (gx) r.get(gx, 0, n, gxa);
    if (gw) r.get(gw, 0, d, gwa);
  },
  layerNormBackward(gx, gw, gb, g, gOff, x, xOff, rows, d, w, wOff, mean, rstd) {
    const n = rows * d;
    if (gx) checkExtent('layerNormBackward gx', gx, 0, n);
    if (gw) checkExtent('layerNormBackward gw', gw, 0, d);
    if (gb) checkExtent('layerNormBackward gb', gb, 0, d);
    checkExtent('layerNormBackward g', g, gOff, n);
    checkExtent('layerNormBackward x', x, xOff, n);
    if (w) checkExtent('layerNormBackward w', w, wOff, d);
    if (mean.length < rows || rstd.length < rows) throw new RangeError('wasm kernel: layerNormBackward mean/rstd shorter than rows');
    const r = rt();
    const ga = r.heap(3 * align(n * 4) + 3 * align(d * 4) + 2 * align(rows * 8) + 2 * align(d * 8));
    const xa = ga + align(n * 4), gxa = xa + align(n * 4), wa = gxa + align(n * 4), gwa = wa + align(d * 4), gba = gwa + align(d * 4);
    const ma = gba + align(d * 4), ra = ma + align(rows * 8), accW = ra + align(rows * 8), accB = accW + align(d * 8);
    r.put(g, gOff, n, ga);
    r.put(x, xOff, n, xa);
    if (w) r.put(w, wOff, d, wa);
    if (gw) r.put(gw, 0, d, gwa);
    if (gb) r.put(gb, 0, d, gba);
    r.putF64(mean.subarray(0, rows), ma);
    r.putF64(rstd.subarray(0, rows), ra);
    r.exec([OP.layerNormBackward, gx ? gxa : 0, gw ? gwa : 0, gb ? gba : 0, ga, xa, rows, d, w ? wa : 0, ma, ra, accW, accB], false);
    if (gx) r.get(gx, 0, n, gxa);
    if (gw) r.get(gw, 0, d, gwa);
    if (gb) r.get(gb, 0, d, gba);
  },
  logSumExp(lse, x, xOff, rows, n) {
    const t = rows * n;
    checkExtent('logSumExp x', x, xOff, t);
    if (lse.length < rows) throw new RangeError('wasm kernel: logSumExp lse shorter than rows');
    const r = rt();
    const xa = r.heap(align(t * 4) + align(rows * 8)), la = xa + align(t * 4);
    r.put(x, xOff, t, xa);
    r.exec([OP.logSumExp, la, xa, rows, n], t >= VECTOR_PARALLEL_ELEMENTS);
    r.getF64(lse, rows, la);
  },
  crossEntropyBackward(out, x, xOff, rows, n, lse, targets, tOff, ignore, s) {
    const t = rows * n;
    checkExtent('crossEntropyBackward out', out, 0, t);
    checkExtent('crossEntropyBackward x', x, xOff, t);
    checkExtent('crossEntropyBackward targets', targets, tOff, rows);
    if (lse.length < rows) throw new RangeError('wasm kernel: crossEntropyBackward lse shorter than rows');
    for (let i = 0; i < rows; i++) {
      const tr = targets[tOff + i]!;
      if (tr !== ignore && !(tr >= 0 && tr < n)) throw new RangeError(`wasm kernel: crossEntropyBackward: target ${tr} out of range`);
    }
    const r = rt();
    const xa = r.heap(2 * align(t * 4) + align(rows * 8) + align(rows * 4));
    const oa = xa + align(t * 4), la = oa + align(t * 4), ta = la + align(rows * 8);
    r.put(x, xOff, t, xa);
    r.putF64(lse.subarray(0, rows), la);
    r.putI32(targets.subarray(tOff, tOff + rows), ta);
    r.exec([OP.crossEntropyBackward, oa, xa, rows, n, la, ta, ignore, s], t >= VECTOR_PARALLEL_ELEMENTS);
    r.get(out, 0, t, oa);
  },
  attentionSoftmaxBackward(gi, g, gOff, p, x, xOff, rows, K, scale, cap, dead) {
    const t = rows * K;
    checkExtent('attentionSoftmaxBackward gi', gi, 0, t);
    checkExtent('attentionSoftmaxBackward g', g, gOff, t);
    checkExtent('attentionSoftmaxBackward p', p, 0, t);
    checkExtent('attentionSoftmaxBackward x', x, xOff, cap > 0 ? t : 0);
    if (dead.length < rows) throw new RangeError('wasm kernel: attentionSoftmaxBackward dead shorter than rows');
    const r = rt();
    const nx = cap > 0 ? t : 0;
    const ga = r.heap(3 * align(t * 4) + align(nx * 4) + align(rows * 4));
    const pa = ga + align(t * 4), oa = pa + align(t * 4), xa = oa + align(t * 4), da = xa + align(nx * 4);
    r.put(g, gOff, t, ga);
    r.put(p, 0, t, pa);
    if (nx > 0) r.put(x, xOff, nx, xa);
    r.putI32(dead.subarray(0, rows), da);
    r.exec([OP.attentionSoftmaxBackward, oa, ga, pa, xa, rows, K, scale, cap, da], t >= VECTOR_PARALLEL_ELEMENTS);
    r.get(gi, 0, t, oa);
  },
  adamwStep(w, g, m, v, n, lr, b1, b2, c1, c2, eps, decay, gs) {
    checkExtent('adamwStep w', w, 0, n);
    checkExtent('adamwStep g', g, 0, n);
    checkExtent('adamwStep m', m, 0, n);
    checkExtent('adamwStep v', v, 0, n);
    const r = rt();
    const wa = r.heap(2 * align(n * 4) + 2 * align(n * 8)), ga = wa + align(n * 4), ma = ga + align(n * 4), va = ma + align(n * 8);
    r.put(w, 0, n, wa);
    r.put(g, 0, n, ga);
    r.putF64(m.subarray(0, n), ma);
    r.putF64(v.subarray(0, n), va);
    r.exec([OP.adamwStep, wa, ga, ma, va, n, lr / c1, b1, b2, 1 / c2, eps, decay, gs], n >= VECTOR_PARALLEL_ELEMENTS);
    r.get(w, 0, n, wa);
    r.getF64(m, n, ma);
    r.getF64(v, n, va);
  },
};

/** Whether the wasm kernel's worker threads are all up (false before it starts or when it cannot). */
export function wasmThreadsReady(): boolean {
  return runtime !== null && runtime.threadsReady();
}

/** The wasm kernel and its vector kernels, or why they are not available. */
export function loadWasmKernel(): { kernel: GemmKernel; vector: VectorKernel } | { error: string } {
  available ??= check();
  if ('error' in available) return { error: available.error };
  const threads = available.threads;
  const kernel: GemmKernel = {
    name: 'wasm',
    sgemm,
    sgemmBatched,
    threads: () => threads,
    describe: () => `WebAssembly SIMD128, ${threads} thread${threads === 1 ? '' : 's'}`,
  };
  return { kernel, vector };
}
