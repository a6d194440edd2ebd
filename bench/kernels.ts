/**
 * GEMM kernel benchmark: each of candor's kernels that loads here (native,
 * wasm, portable; CANDOR_KERNEL=name measures that one alone) against numpy's
 * np.matmul, measured in the same run on the same shapes.
 *
 *   npm run bench:kernels            # prints JSON, writes bench/results/kernels.json
 *
 * Policy, identical on both sides: warm up for WARMUP_S (at least 3 calls),
 * estimate the time per call from the warmup, then time each of
 * clamp(ceil(MIN_MEASURE_S / t), MIN_REPEATS, MAX_REPEATS) calls separately and
 * take the median. GFLOP/s = 2·M·N·K / median. numpy runs first, in its own
 * process, so its OpenBLAS threads are gone before candor's start (OpenBLAS
 * worker threads spin for a while after a call and would steal a core).
 *
 * Targets: native ≥ 0.9× numpy at every shape; wasm ≥ 0.25× numpy and
 * ≥ 10× the portable kernel at 1024³.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KERNEL_NAMES, kernelAvailable, setKernel, type GemmKernel, type KernelName } from '../src/tensor/kernels/index.js';

const SHAPES: Array<[number, number, number]> = [
  [32, 768, 3072],
  [128, 768, 768],
  [512, 1024, 4096],
  [1024, 1024, 1024],
];
const NATIVE_TARGET_SHAPES = ['32x768x3072', '128x768x768', '512x1024x4096', '1024x1024x1024'];
const NATIVE_MIN_RATIO = 0.9;
const NATIVE_GOAL_RATIO = 0.95;
const WASM_SHAPE = '1024x1024x1024';
const WASM_MIN_RATIO_NUMPY = 0.25;
const WASM_MIN_RATIO_PORTABLE = 10;
const POLICY = { warmup_s: 0.1, min_measure_s: 0.4, min_repeats: 20, max_repeats: 5000 };
const TINY_CHUNKS = 100;
const TINY_CHUNK_CALLS = 1000;

// Compiled to dist/bench/kernels.js: the package root is two levels up.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const shapeName = ([M, K, N]: [number, number, number]) => `${M}x${K}x${N}`;

function random(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

function seconds(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Warmup, then per-call timings; returns the median seconds per call and the repeat count. */
function timeCalls(f: () => void): { median_s: number; repeats: number } {
  const start = seconds();
  let calls = 0;
  while (calls < 3 || seconds() - start < POLICY.warmup_s) {
    f();
    calls++;
  }
  const perCall = (seconds() - start) / calls;
  const repeats = Math.min(POLICY.max_repeats, Math.max(POLICY.min_repeats, Math.ceil(POLICY.min_measure_s / perCall)));
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t = seconds();
    f();
    times.push(seconds() - t);
  }
  return { median_s: median(times), repeats };
}

// The numpy side: the same policy, written out in Python.
const NUMPY_SCRIPT = String.raw`
import json, sys, time, math
policy, shapes = json.loads(sys.argv[1]), json.loads(sys.argv[2])
import numpy as np
def time_calls(f):
    start = time.perf_counter(); calls = 0
    while calls < 3 or time.perf_counter() - start < policy["warmup_s"]:
        f(); calls += 1
    per_call = (time.perf_counter() - start) / calls
    repeats = min(policy["max_repeats"], max(policy["min_repeats"], math.ceil(policy["min_measure_s"] / per_call)))
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); f(); times.append(time.perf_counter() - t)
    times.sort(); m = len(times) // 2
    return (times[m] if len(times) % 2 else (times[m - 1] + times[m]) / 2), repeats
rng = np.random.default_rng(0)
out = {"version": np.__version__, "results": []}
try:
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    out["blas"] = " ".join(str(blas.get("openblas configuration", blas.get("name", "?"))).split())
except Exception:
    pass
try:  # numpy's bundled OpenBLAS: which core it picked and how many threads (best effort)
    import ctypes, glob, os
    lib = ctypes.CDLL(glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "libscipy_openblas*"))[0])
    lib.scipy_openblas_get_corename64_.restype = ctypes.c_char_p
    out["corename"] = lib.scipy_openblas_get_corename64_().decode()
    out["threads"] = lib.scipy_openblas_get_num_threads64_()
except Exception:
    pass
for M, K, N in shapes:
    a = (rng.random((M, K), dtype=np.float32) * 2 - 1)
    b = (rng.random((K, N), dtype=np.float32) * 2 - 1)
    c = np.empty((M, N), dtype=np.float32)
    med, reps = time_calls(lambda: np.matmul(a, b, out=c))
    out["results"].append({"median_s": med, "repeats": reps})
out["cpu_s"] = time.process_time()
print(json.dumps(out))
`;

interface NumpySide {
  version: string;
  blas?: string;
  corename?: string;
  threads?: number;
  cpu_s?: number;
  results: Array<{ median_s: number; repeats: number }>;
}

function runNumpy(): NumpySide | { error: string } {
  const venv = join(root, '.venv-bench', 'bin', 'python');
  const python = process.env.PYTHON || (existsSync(venv) ? venv : 'python3');
  const r = spawnSync(python, ['-c', NUMPY_SCRIPT, JSON.stringify(POLICY), JSON.stringify(SHAPES)], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (r.error) return { error: `${python} could not be run: ${r.error.message}` };
  if (r.status !== 0) return { error: `${python} failed: ${(r.stderr || '').trim().split('\n').pop()}` };
  try {
    return JSON.parse(r.stdout) as NumpySide;
  } catch {
    return { error: `${python} printed no JSON: ${r.stdout.slice(0, 200)}` };
  }
}

/** Busy CPU seconds of the whole machine so far (Linux /proc/stat), or null elsewhere. */
function machineBusySeconds(): number | null {
  if (!existsSync('/proc/stat')) return null;
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...: everything but idle and iowait.
  const busy = f.slice(0, 8).reduce((a, b) => a + b, 0) - f[3] - f[4];
  return busy / 100; // USER_HZ is 100 on Linux
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** GFLOP/s of one kernel at every shape, and its per-call overhead on a 1×1×1 product. */
function measureKernel(k: GemmKernel, numpy: NumpySide | { error: string }) {
  const results = SHAPES.map((shape, i) => {
    const [M, K, N] = shape;
    const A = random(M * K);
    const B = random(K * N);
    const C = new Float32Array(M * N);
    const t = timeCalls(() => k.sgemm(false, false, M, N, K, 1, A, 0, K, B, 0, N, 0, C, 0, N));
    const flops = 2 * M * N * K;
    const candor = flops / t.median_s / 1e9;
    const np = 'error' in numpy ? null : numpy.results[i];
    const npGflops = np ? flops / np.median_s / 1e9 : null;
    return {
      shape: shapeName(shape),
      candor: round(candor, 1),
      numpy: npGflops === null ? null : round(npGflops, 1),
      ratio: npGflops === null ? null : round(candor / npGflops, 3),
      repeats: { candor: t.repeats, numpy: np ? np.repeats : null },
    };
  });
  // Per-call overhead: 1×1×1 products, TINY_CHUNKS chunks of TINY_CHUNK_CALLS calls, median chunk.
  const a = new Float32Array([1.5]);
  const b = new Float32Array([2]);
  const c = new Float32Array(1);
  for (let i = 0; i < 20_000; i++) k.sgemm(false, false, 1, 1, 1, 1, a, 0, 1, b, 0, 1, 0, c, 0, 1);
  const chunks: number[] = [];
  for (let r = 0; r < TINY_CHUNKS; r++) {
    const t = seconds();
    for (let i = 0; i < TINY_CHUNK_CALLS; i++) k.sgemm(false, false, 1, 1, 1, 1, a, 0, 1, b, 0, 1, 0, c, 0, 1);
    chunks.push(((seconds() - t) / TINY_CHUNK_CALLS) * 1e6);
  }
  if (c[0] !== 3) throw new Error(`1×1×1 product gave ${c[0]}, expected 3`);
  return { kernel: k.name, description: k.describe(), threads: k.threads(), results, tiny_call_us: round(median(chunks), 3) };
}

function main(): void {
  const forced = process.env.CANDOR_KERNEL;
  const names = KERNEL_NAMES.filter((n) => (forced ? n === forced : kernelAvailable(n)));
  // Other processes on the machine skew a 2-thread GEMM badly: measure how busy it was besides us.
  const busy0 = machineBusySeconds();
  const wall0 = seconds();
  const own0 = process.cpuUsage();
  const numpy = runNumpy();
  const kernels = names.map((n: KernelName) => measureKernel(setKernel(n), numpy));
  const byName = new Map(kernels.map((k) => [k.kernel, k]));

  const ownCpu = (() => {
    const u = process.cpuUsage(own0);
    return (u.user + u.system) / 1e6 + ('error' in numpy ? 0 : numpy.cpu_s ?? 0);
  })();
  const busy1 = machineBusySeconds();
  const wall = seconds() - wall0;
  const otherCores = busy0 === null || busy1 === null ? null : Math.max(0, (busy1 - busy0 - ownCpu) / wall);
  if (otherCores !== null && otherCores > 0.1) {
    console.error(
      `bench: other processes kept ${otherCores.toFixed(2)} cores busy on average during the run; ` +
        'the numbers are skewed, rerun on a quiet machine',
    );
  }

  const native = byName.get('native');
  const nativeRatios = native?.results.filter((r) => NATIVE_TARGET_SHAPES.includes(r.shape)).map((r) => r.ratio) ?? [];
  const nativeKnown = native !== undefined && nativeRatios.every((r): r is number => r !== null);
  const wasm = byName.get('wasm')?.results.find((r) => r.shape === WASM_SHAPE);
  const portable = byName.get('portable')?.results.find((r) => r.shape === WASM_SHAPE);
  const wasmVsPortable = wasm && portable ? round(wasm.candor / portable.candor, 2) : null;
  const report = {
    kernels: kernels.map(({ kernel, description, threads, results, tiny_call_us }) => ({
      kernel, description, threads, tiny_call_us, results: results.map(({ shape, candor, numpy, ratio }) => ({ shape, candor, numpy, ratio })),
    })),
    targets: {
      native: {
        shapes: NATIVE_TARGET_SHAPES,
        min_ratio: NATIVE_MIN_RATIO,
        goal_ratio: NATIVE_GOAL_RATIO,
        worst_ratio: nativeKnown ? Math.min(...(nativeRatios as number[])) : null,
        met: nativeKnown ? (nativeRatios as number[]).every((r) => r >= NATIVE_MIN_RATIO) : null,
        goal_met: nativeKnown ? (nativeRatios as number[]).every((r) => r >= NATIVE_GOAL_RATIO) : null,
      },
      wasm: {
        shape: WASM_SHAPE,
        ratio_numpy: wasm?.ratio ?? null,
        min_ratio_numpy: WASM_MIN_RATIO_NUMPY,
        ratio_portable: wasmVsPortable,
        min_ratio_portable: WASM_MIN_RATIO_PORTABLE,
        met: wasm?.ratio != null && wasmVsPortable !== null ? wasm.ratio >= WASM_MIN_RATIO_NUMPY && wasmVsPortable >= WASM_MIN_RATIO_PORTABLE : null,
      },
    },
    numpy: 'error' in numpy
      ? { error: numpy.error }
      : { version: numpy.version, blas: numpy.blas ?? null, corename: numpy.corename ?? null, threads: numpy.threads ?? null },
    // Average cores used by other processes while this ran (python import and
    // Node start-up noise included); above ~0.1 the numbers are not trustworthy.
    other_processes_cores: otherCores === null ? null : round(otherCores, 2),
    repeats: Object.fromEntries(kernels.map((k) => [k.kernel, Object.fromEntries(k.results.map((r) => [r.shape, r.repeats]))])),
    policy: { ...POLICY, statistic: 'median', tiny_calls: TINY_CHUNKS * TINY_CHUNK_CALLS },
    env: Object.fromEntries(
      ['CANDOR_KERNEL', 'CANDOR_THREADS', 'OPENBLAS_CORETYPE', 'OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS']
        .filter((v) => process.env[v] !== undefined)
        .map((v) => [v, process.env[v]]),
    ),
    node: process.version,
    date: new Date().toISOString(),
  };

  const json = JSON.stringify(report, null, 2);
  console.log(json);
  const dir = join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'kernels.json'), json + '\n');
}

main();
