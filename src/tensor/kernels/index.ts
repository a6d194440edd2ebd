/**
 * Kernel selection. The native OpenBLAS kernel is used when its addon was built
 * at install time; otherwise the WebAssembly kernel (built at `npm run build`,
 * it needs no system library or compiler); the portable TypeScript kernel is
 * the last resort. The environment variable CANDOR_KERNEL=native|wasm|portable
 * overrides the choice.
 */
import { KernelUnavailableError } from '../errors.js';
import type { GemmKernel, VectorKernel } from './types.js';
import { portableKernel } from './portable.js';
import { loadNativeKernel, loadNativeVector, nativeVectorError } from './native.js';
import { loadWasmKernel } from './wasm.js';

export type { GemmKernel, VectorKernel } from './types.js';
export { UNARY_OPS, BINARY_OPS } from './types.js';
export type KernelName = 'native' | 'wasm' | 'portable';
export const KERNEL_NAMES: readonly KernelName[] = ['native', 'wasm', 'portable'];

export { KernelUnavailableError };

interface Probe {
  kernel: GemmKernel | null;
  vector: VectorKernel | null;
  error: string | null;
}

const probes = new Map<KernelName, Probe>();

function probe(name: KernelName): Probe {
  let p = probes.get(name);
  if (p === undefined) {
    if (name === 'portable') p = { kernel: portableKernel, vector: null, error: null };
    else if (name === 'native') {
      const r = loadNativeKernel();
      p = 'kernel' in r ? { kernel: r.kernel, vector: loadNativeVector(), error: null } : { kernel: null, vector: null, error: r.error };
    } else {
      const r = loadWasmKernel();
      p = 'kernel' in r ? { kernel: r.kernel, vector: r.vector, error: null } : { kernel: null, vector: null, error: r.error };
    }
    probes.set(name, p);
  }
  return p;
}

const FIXES: Record<KernelName, string> = {
  native: 'install OpenBLAS (apt-get install libopenblas-dev) and run `npm run build:native`',
  wasm: 'run `npm run build`',
  portable: '',
};

let active: Probe | null = null;

function select(name: KernelName): Probe {
  const p = probe(name);
  if (p.kernel === null) {
    throw new KernelUnavailableError(`the ${name} kernel is not available: ${p.error}. Fix: ${FIXES[name]}, or choose another with CANDOR_KERNEL=${KERNEL_NAMES.filter((k) => k !== name).join('|')}.`);
  }
  return p;
}

/** The kernel every matmul uses. */
export function kernel(): GemmKernel {
  if (active === null) {
    const requested = process.env.CANDOR_KERNEL;
    if (requested !== undefined && requested !== '') {
      if (!(KERNEL_NAMES as readonly string[]).includes(requested)) {
        throw new KernelUnavailableError(
          `CANDOR_KERNEL=${JSON.stringify(requested)} is not a kernel name. Fix: set it to ${KERNEL_NAMES.map((k) => `"${k}"`).join(', ')}, or unset it.`,
        );
      }
      active = select(requested as KernelName);
    } else {
      // the first that loads, in order of speed; portable always does
      let p = probe('portable');
      for (const name of KERNEL_NAMES) {
        p = probe(name);
        if (p.kernel !== null) break;
      }
      active = p;
    }
  }
  return active.kernel!;
}

/** Vectorised elementwise kernels of the active kernel, or null (ops use their TypeScript loops). */
export function vectorKernel(): VectorKernel | null {
  if (active === null) kernel();
  return active!.vector;
}

/** Switch kernels at run time (tests and benchmarks compare them). */
export function setKernel(name: KernelName): GemmKernel {
  active = select(name);
  return active.kernel!;
}

/** Whether a kernel can be used here, without selecting it. */
export function kernelAvailable(name: KernelName): boolean {
  return probe(name).kernel !== null;
}

export interface KernelStatus {
  active: KernelName;
  requested: string | null;
  nativeAvailable: boolean;
  nativeError: string | null;
  wasmAvailable: boolean;
  wasmError: string | null;
  /** why the active kernel runs the vector ops as TypeScript loops (a stale native addon), or null */
  vectorError: string | null;
  threads: number;
  description: string;
}

export function kernelStatus(): KernelStatus {
  const k = kernel();
  const n = probe('native');
  const w = probe('wasm');
  return {
    active: k.name,
    requested: process.env.CANDOR_KERNEL || null,
    nativeAvailable: n.kernel !== null,
    nativeError: n.error,
    wasmAvailable: w.kernel !== null,
    wasmError: w.error,
    vectorError: k.name === 'native' ? nativeVectorError() : null,
    threads: k.threads(),
    description: k.describe(),
  };
}
