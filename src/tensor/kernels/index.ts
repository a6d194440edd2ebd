/**
 * Kernel selection. The native OpenBLAS kernel is used when its addon was built
 * at install time; otherwise the portable TypeScript kernel. The environment
 * variable CANDOR_KERNEL=native|portable overrides the choice.
 */
import type { GemmKernel } from './types.js';
import { portableKernel } from './portable.js';
import { loadNativeKernel } from './native.js';

export type { GemmKernel } from './types.js';
export type KernelName = 'native' | 'portable';

export class KernelUnavailableError extends Error {
  override name = 'KernelUnavailableError';
}

let active: GemmKernel | null = null;
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
  }
  return active;
}

/** Switch kernels at run time (tests and benchmarks compare them). */
export function setKernel(name: KernelName): GemmKernel {
  active = select(name);
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
