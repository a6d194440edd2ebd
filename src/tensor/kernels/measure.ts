/** Measured GEMM throughput of a kernel (used by `candor doctor` and the benchmarks). */
import type { GemmKernel } from './types.js';

export interface GemmMeasurement {
  shape: string;
  gflops: number;
  medianMs: number;
  repeats: number;
}

/**
 * Median GFLOP/s of C = A·B for [M×K]·[K×N] over repeated calls, after a
 * warm-up, running for about `seconds`.
 */
export function measureGemm(k: GemmKernel, M: number, K: number, N: number, seconds = 0.5): GemmMeasurement {
  const A = new Float32Array(M * K).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const B = new Float32Array(K * N).map((_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
  const C = new Float32Array(M * N);
  const run = () => k.sgemm(false, false, M, N, K, 1, A, 0, K, B, 0, N, 0, C, 0, N);
  run();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 3 || (performance.now() - start < seconds * 1000 && times.length < 1000)) {
    const t0 = performance.now();
    run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const med = times[Math.floor(times.length / 2)]!;
  return { shape: `${M}x${K}x${N}`, gflops: (2 * M * K * N) / (med * 1e6), medianMs: med, repeats: times.length };
}
