/** `candor doctor`: what candor runs on here — kernel, threads, measured speed. */
import { kernelStatus, kernel } from '../tensor/kernels/index.js';
import { measureGemm } from '../tensor/kernels/measure.js';
import { poolStats } from '../tensor/pool.js';

export interface DoctorReport {
  candor: string;
  node: string;
  platform: string;
  kernel: {
    active: string;
    requested: string | null;
    description: string;
    threads: number;
    native_available: boolean;
    native_error: string | null;
    wasm_available: boolean;
    wasm_error: string | null;
    vector_error: string | null;
    gflops: number;
    measured_shape: string;
  };
  buffer_pool_limit_mb: number;
}

export function doctor(version: string, size = 512): DoctorReport {
  const st = kernelStatus();
  const m = measureGemm(kernel(), size, size, size, 0.5);
  return {
    candor: version,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    kernel: {
      active: st.active,
      requested: st.requested,
      description: st.description,
      threads: st.threads,
      native_available: st.nativeAvailable,
      native_error: st.nativeError,
      wasm_available: st.wasmAvailable,
      wasm_error: st.wasmError,
      vector_error: st.vectorError,
      gflops: Math.round(m.gflops * 10) / 10,
      measured_shape: m.shape,
    },
    buffer_pool_limit_mb: poolStats().limitBytes / 2 ** 20,
  };
}

export function formatDoctor(r: DoctorReport): string {
  const k = r.kernel;
  const lines = [
    `candor ${r.candor} on Node ${r.node} (${r.platform})`,
    `kernel:   ${k.active}${k.requested ? ` (CANDOR_KERNEL=${k.requested})` : ''} — ${k.description}`,
    `threads:  ${k.threads}`,
    `speed:    ${k.gflops} GFLOP/s on a ${k.measured_shape} float32 matmul`,
  ];
  if (!k.native_available) lines.push(`native:   unavailable — ${k.native_error}`);
  if (k.vector_error !== null) lines.push(`vector:   ${k.vector_error}`);
  if (!k.wasm_available) lines.push(`wasm:     unavailable — ${k.wasm_error}`);
  return lines.join('\n');
}
