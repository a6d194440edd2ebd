#!/usr/bin/env node
/**
 * Builds candor's native GEMM kernel: native/candor_blas.c -> build/candor_blas.node,
 * compiled directly with the C compiler against Node's own headers and linked to
 * OpenBLAS, or on macOS without OpenBLAS to Apple's Accelerate framework (its
 * cblas). No node-gyp (it would try to download headers).
 *
 * Runs as the npm `install` script and as `npm run build:native` (--verbose shows
 * the commands and the compiler's output). It never fails the install: when the
 * compiler, the Node headers or OpenBLAS are missing it prints one line saying
 * the portable kernel will be used and how to get the native one, and exits 0.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'native', 'candor_blas.c');
const opsSource = join(root, 'native', 'candor_ops.c');
const poolSource = join(root, 'native', 'candor_pool.c');
const outDir = join(root, 'build');
const output = join(outDir, 'candor_blas.node');
const temp = join(outDir, 'candor_blas.tmp.node'); // built and checked here, then renamed
const verbose = process.argv.includes('--verbose');
const FIX = 'to get it: apt-get install libopenblas-dev (or your system\'s OpenBLAS package), then npm run build:native';

function log(line) {
  if (verbose) console.log(`[build-native] ${line}`);
}

/** Give up without failing the install (and leave no addon behind that the message would belie). */
function fallback(reason, details) {
  if (details && verbose) console.log(details.trimEnd());
  rmSync(temp, { force: true });
  rmSync(output, { force: true });
  console.log(`candor: native GEMM kernel not built (${reason}); the portable kernel will be used. ${FIX}.`);
  process.exit(0);
}

function run(cmd, args) {
  log(`${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ok: !r.error && r.status === 0, missing: r.error?.code === 'ENOENT', out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

if (process.platform === 'win32') fallback('Windows builds are not supported by this script');
if (!existsSync(source)) fallback(`${source} is missing`);

// node_api.h: Node's own prefix first (matches the running Node), then system locations.
const headerDirs = [
  join(dirname(dirname(process.execPath)), 'include', 'node'),
  '/usr/include/node',
  '/usr/local/include/node',
];
const nodeInclude = headerDirs.find((d) => existsSync(join(d, 'node_api.h')));
if (!nodeInclude) fallback(`node_api.h not found in ${headerDirs.join(', ')}`);
log(`Node headers: ${nodeInclude}`);

// Where OpenBLAS's cblas.h and library may live besides the compiler's defaults.
const extraInclude = ['/usr/include/openblas', '/opt/homebrew/opt/openblas/include', '/usr/local/opt/openblas/include'];
const extraLib = ['/opt/homebrew/opt/openblas/lib', '/usr/local/opt/openblas/lib'];

const candidates = [process.env.CC, 'cc', 'gcc', 'clang'].filter((c) => c);
// -march=native lets the compiler vectorise candor_ops.c for this CPU (the addon is
// built where it runs); a compiler that rejects it gets the portable baseline.
// blas: OpenBLAS everywhere; Apple's Accelerate on macOS when OpenBLAS is missing
const blasArgs = { openblas: ['-lopenblas'], accelerate: ['-DCANDOR_ACCELERATE', '-framework', 'Accelerate'] };
const baseArgs = (march, blas = 'openblas') => [
  '-O3', ...march, '-fPIC', '-shared', '-std=c99', '-Wall', '-Wextra', '-fno-math-errno', '-fno-trapping-math', '-DNAPI_VERSION=8',
  `-I${nodeInclude}`,
  ...extraInclude.filter(existsSync).map((d) => `-I${d}`),
  ...extraLib.filter(existsSync).map((d) => `-L${d}`),
  ...(process.platform === 'darwin' ? ['-undefined', 'dynamic_lookup'] : []),
  source, opsSource, poolSource, '-o', temp, ...blasArgs[blas], '-lm', '-pthread',
];

mkdirSync(outDir, { recursive: true });
let built = null;
let lastOutput = '';
for (const cc of candidates) {
  let r = run(cc, baseArgs(['-march=native']));
  if (!r.missing && !r.ok && /march/.test(r.out)) r = run(cc, baseArgs([]));
  if (r.missing) continue;
  lastOutput = r.out;
  if (r.ok) {
    built = cc;
    if (verbose && r.out.trim()) console.log(r.out.trimEnd());
    break;
  }
  let out = r.out;
  if (process.platform === 'darwin' && /openblas|cblas\.h/i.test(out)) {
    r = run(cc, baseArgs([], 'accelerate'));
    if (r.ok) {
      built = cc;
      break;
    }
    out = r.out;
  }
  if (/cblas\.h/.test(out) && /No such file|not found/.test(out)) fallback('OpenBLAS headers (cblas.h) not found', out);
  if (/-lopenblas|openblas/i.test(out) && /cannot find|not found/.test(out)) fallback('the OpenBLAS library was not found', out);
  fallback(`${cc} failed to compile native/candor_blas.c; run npm run build:native for details`, out);
}
if (!built) fallback(`no C compiler found (tried ${candidates.join(', ')})`, lastOutput);

// Load it once in a fresh process and multiply two 2x2 matrices.
const check = `
const m = require(${JSON.stringify(temp)});
const C = new Float32Array(4).fill(NaN);
m.sgemm(false, false, 2, 2, 2, 1, new Float32Array([1, 2, 3, 4]), 0, 2, new Float32Array([5, 6, 7, 8]), 0, 2, 0, C, 0, 2);
if (C.join() !== '19,22,43,50') throw new Error('wrong product: ' + C.join());
const v = /OpenBLAS\\s+([\\d.]+)/.exec(m.config());
console.log((v ? 'OpenBLAS ' + v[1] : m.config()) + ' (' + m.corename() + '), ' + m.getThreads() + ' threads');
`;
const loaded = spawnSync(process.execPath, ['-e', check], { encoding: 'utf8' });
if (loaded.error || loaded.status !== 0) {
  fallback('the built addon failed to load or compute, so it was removed', `${loaded.stdout ?? ''}${loaded.stderr ?? ''}`);
}
renameSync(temp, output);
console.log(`candor: native GEMM kernel built (${loaded.stdout.trim()}) -> build/candor_blas.node`);
