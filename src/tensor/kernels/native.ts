/**
 * The native GEMM kernel: OpenBLAS (or Apple's Accelerate on macOS) through the N-API addon built from
 * native/candor_blas.c into build/candor_blas.node at install time (see
 * scripts/build-native.mjs). Loading never throws; a missing or broken addon
 * comes back as a message saying what is missing and how to fix it.
 */
import { requestedThreads } from './threads.js';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GemmKernel, VectorKernel } from './types.js';

/** The addon's exports (argument checking happens in C). */
interface CandorBlasAddon extends Partial<VectorKernel> {
  sgemm: GemmKernel['sgemm'];
  sgemmBatched: GemmKernel['sgemmBatched'];
  getThreads(): number;
  setThreads(n: number): number;
  config(): string;
  corename(): string;
}

const VECTOR_FUNCTIONS = [
  'unary', 'binary', 'layerNorm', 'rmsNorm', 'softmax', 'attentionSoftmax', 'copy', 'rotary',
  'rmsNormBackward', 'layerNormBackward', 'logSumExp', 'crossEntropyBackward', 'attentionSoftmaxBackward', 'adamwStep', 'sumSquares',
] as const satisfies readonly (keyof VectorKernel)[];

const FIX = 'Fix: install OpenBLAS (apt-get install libopenblas-dev) and run `npm run build:native`';

// This file compiles to dist/src/tensor/kernels/native.js: the package root is four levels up.
const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
export const nativeAddonPath = join(packageRoot, 'build', 'candor_blas.node');

interface Loaded {
  kernel: GemmKernel;
  addon: CandorBlasAddon;
  vector: VectorKernel | null;
  /** why vector is null: the addon is older than one of VECTOR_FUNCTIONS */
  vectorError: string | null;
}

let loaded: Loaded | { error: string } | null = null;

function describeAddon(addon: CandorBlasAddon): string {
  const config = addon.config();
  const threads = addon.getThreads();
  // macOS builds without OpenBLAS link Apple's Accelerate (scripts/build-native.mjs)
  const library = config.startsWith('Apple Accelerate') ? 'Apple Accelerate' : `OpenBLAS ${/OpenBLAS\s+([\d.]+)/.exec(config)?.[1] ?? '(unknown version)'}`;
  return `${library} (${addon.corename()}), ${threads} thread${threads === 1 ? '' : 's'}`;
}

function load(): Loaded | { error: string } {
  if (!existsSync(nativeAddonPath)) {
    return { error: `${nativeAddonPath} does not exist (the addon was not built at install time: it needs a C compiler, Node's headers and OpenBLAS). ${FIX}` };
  }
  // OpenBLAS's idle threads spin for about 2^28 cycles after each GEMM (read once, when the library
  // loads), taking the cores that candor's own threads need for the norms, softmax and copies between
  // GEMMs; 2^12 cycles lets them sleep at once (Qwen3-0.6B prefill about 4% faster on 2 cores).
  // A value the user set is kept.
  process.env.OPENBLAS_THREAD_TIMEOUT ??= '12';
  let addon: CandorBlasAddon;
  try {
    addon = createRequire(import.meta.url)(nativeAddonPath) as CandorBlasAddon;
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    return { error: `${nativeAddonPath} failed to load (${why}). ${FIX}` };
  }
  for (const f of ['sgemm', 'sgemmBatched', 'getThreads', 'setThreads', 'config', 'corename'] as const) {
    if (typeof addon[f] !== 'function') {
      return { error: `${nativeAddonPath} is stale or foreign: it has no ${f}(). Fix: run \`npm run build:native\`` };
    }
  }
  // OpenBLAS starts with one thread per core; CANDOR_THREADS asks for another count (one per process when several train at once)
  const threads = requestedThreads();
  if (threads !== null) addon.setThreads(threads);
  const kernel: GemmKernel = {
    name: 'native',
    // The addon takes exactly the contract's arguments: no JS wrapper in between.
    sgemm: addon.sgemm,
    sgemmBatched: addon.sgemmBatched,
    threads: () => addon.getThreads(),
    describe: () => describeAddon(addon),
  };
  // an addon built before the vector kernels (or one of them) existed still serves GEMM
  const v = addon;
  const missing = VECTOR_FUNCTIONS.filter((f) => typeof v[f] !== 'function');
  const vector: VectorKernel | null = missing.length === 0 ? (Object.fromEntries(VECTOR_FUNCTIONS.map((f) => [f, v[f]])) as unknown as VectorKernel) : null;
  const vectorError = missing.length === 0 ? null : `${nativeAddonPath} predates ${missing.join(', ')}: its GEMM serves, the vector ops run as TypeScript loops. Fix: run \`npm run build:native\``;
  return { kernel, addon, vector, vectorError };
}

/** Why a loaded addon has no vector kernels (it is stale), or null. */
export function nativeVectorError(): string | null {
  loaded ??= load();
  return 'error' in loaded ? null : loaded.vectorError;
}

/** The addon's vectorised elementwise kernels, or null. */
export function loadNativeVector(): VectorKernel | null {
  loaded ??= load();
  return 'error' in loaded ? null : loaded.vector;
}

/** The native kernel, or why it is not available. Loads the addon once. */
export function loadNativeKernel(): { kernel: GemmKernel } | { error: string } {
  loaded ??= load();
  return 'error' in loaded ? { error: loaded.error } : { kernel: loaded.kernel };
}

/**
 * Set OpenBLAS's thread count; returns the count now in effect, or null when the
 * native kernel is not available.
 */
export function nativeSetThreads(n: number): number | null {
  loaded ??= load();
  return 'error' in loaded ? null : loaded.addon.setThreads(n);
}
