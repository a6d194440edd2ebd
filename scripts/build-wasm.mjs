#!/usr/bin/env node
/**
 * Builds candor's WebAssembly kernel: native/wasm/index.ts (AssemblyScript) ->
 * dist/wasm/candor.wasm, with the AssemblyScript compiler from npm: no system
 * compiler or library is needed. Runs as part of `npm run build` (and so of
 * `npm ci`). Without the compiler (an install without devDependencies) it
 * says so and exits 0; candor then uses the native or the portable kernel.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'native', 'wasm', 'index.ts');
const outDir = join(root, 'dist', 'wasm');
const output = join(outDir, 'candor.wasm');
const temp = join(outDir, 'candor.tmp.wasm');

let asc;
try {
  asc = createRequire(import.meta.url).resolve('assemblyscript/bin/asc.js');
} catch {
  console.log('candor: WebAssembly kernel not built (the assemblyscript package is not installed; it is a devDependency: npm ci installs it).');
  process.exit(0);
}

// Shared imported memory (the main thread and the workers instantiate over it), SIMD, threads;
// the stub runtime, no assertions and no abort import: the kernels allocate nothing.
const flags = [
  source, '-O3', '--noAssert', '--runtime', 'stub', '--use', 'abort=',
  '--enable', 'simd', '--enable', 'threads',
  '--importMemory', '--sharedMemory', '--initialMemory', '16', '--maximumMemory', '65536', '--memoryBase', '65536',
  '--outFile', temp,
];
mkdirSync(outDir, { recursive: true });
const r = spawnSync(process.execPath, [asc, ...flags], { encoding: 'utf8', cwd: root });
const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
if (r.error || r.status !== 0 || !existsSync(temp)) {
  rmSync(temp, { force: true });
  console.error(out.trimEnd());
  console.error('candor: the WebAssembly kernel failed to compile (see above).');
  process.exit(1);
}
if (/WARNING|ERROR/.test(out)) console.log(out.trimEnd());
renameSync(temp, output);
