/**
 * Kernel selection. The native OpenBLAS kernel is used when its addon was built
 * at install time; otherwise the portable TypeScript kernel. The environment
 * variable CANDOR_KERNEL=native|portable overrides the choice.
 */
import type { GemmKernel, VectorKernel } from './types.js';
import { portableKernel } from './portable.js';
import { loadNativeKernel, loadNativeVector } from './native.js';

export type { GemmKernel, VectorKernel } from './types.js';
export { UNARY_OPS, BINARY_OPS } from './types.js';
export type KernelName = 'native' | 'portable';

export class KernelUnavailableError extends Error {
  override name = 'KernelUnavailableError';
}

let active: GemmKernel | null = null;
let activeVector: VectorKernel | null = null;
let nativeProbe: { kernel: GemmKernel | null; error: string | null } | null = null;

function probeNative(): { kernel: GemmKernel | null; error: string | null } {
  if (nativeProbe === null) {
    const r = loadNativeKernel();
    nativeProbe = 'kernel' in r ? { kernel: r.kernel, error: null } : { kernel: null, error: r.error };
  }
  return nativeProbe;
}

function select(name: KernelName): GemmKernel {
  if (name === 'portable') return portableKernel;
  const probe = probeNative();
  if (probe.kernel === null) {
    throw new KernelUnavailableError(
      `the native kernel is not available: ${probe.error}. ` +
        'Fix: install OpenBLAS (apt-get install libopenblas-dev) and run `npm run build:native`, ' +
        'or set CANDOR_KERNEL=portable.',
    );
  }
  return probe.kernel;
}

/** The kernel every matmul uses. */
export function kernel(): GemmKernel {
  if (active === null) {
    const requested = process.env.CANDOR_KERNEL;
    if (requested !== undefined && requested !== '') {
      if (requested !== 'native' && requested !== 'portable') {
        throw new KernelUnavailableError(
          `CANDOR_KERNEL=${JSON.stringify(requested)} is not a kernel name. Fix: set it to "native" or "portable", or unset it.`,
        );
      }
      active = select(requested);
    } else {
      active = probeNative().kernel ?? portableKernel;
    }
    activeVector = active.name === 'native' ? loadNativeVector() : null;
  }
  return active;
}

/** Vectorised elementwise kernels when the native kernel is active, else null (ops use their TypeScript loops). */
export function vectorKernel(): VectorKernel | null {
  if (active === null) kernel();
  return activeVector;
}

/** Switch kernels at run time (tests and benchmarks compare them). */
export function setKernel(name: KernelName): GemmKernel {
  active = select(name);
  activeVector = active.name === 'native' ? loadNativeVector() : null;
  return active;
}

export interface KernelStatus {
  active: KernelName;
  requested: string | null;
  nativeAvailable: boolean;
  nativeError: string | null;
  threads: number;
  description: string;
}

export function kernelStatus(): KernelStatus {
  const k = kernel();
  const probe = probeNative();
  return {
    active: k.name,
    requested: process.env.CANDOR_KERNEL || null,
    nativeAvailable: probe.kernel !== null,
    nativeError: probe.error,
    threads: k.threads(),
    description: k.describe(),
  };
}
