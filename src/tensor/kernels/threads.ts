/** CANDOR_THREADS: the threads every kernel uses (OpenBLAS's and the wasm kernel's workers). */
import { KernelUnavailableError } from '../errors.js';

/** The thread count CANDOR_THREADS asks for, or null when it is unset. */
export function requestedThreads(): number | null {
  const env = process.env.CANDOR_THREADS;
  if (env === undefined || env === '') return null;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new KernelUnavailableError(`CANDOR_THREADS=${JSON.stringify(env)} is not a thread count. Fix: set it to an integer from 1 to 256, or unset it.`);
  return n;
}
