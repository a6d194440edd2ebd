/** The Python that the benchmarks' PyTorch peers run under. Peers are measured, never used by candor. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** CANDOR_BENCH_PYTHON, else .venv-bench/bin/python, else Debian's python3: the first that imports torch and transformers, or null. */
export function findTorchPython(root: string): string | null {
  const candidates = [process.env.CANDOR_BENCH_PYTHON, join(root, '.venv-bench', 'bin', 'python'), '/usr/bin/python3'].filter((p): p is string => !!p);
  for (const p of candidates) {
    if (!existsSync(p)) continue;
    const r = spawnSync(p, ['-c', 'import torch, transformers'], { encoding: 'utf8' });
    if (r.status === 0) return p;
  }
  return null;
}
