/**
 * Preloaded (node --import) into an audit run: any read of an organism's manifest.json or ground-truth.json
 * from outside the audit's scorer (src/audit/scorer.ts) is logged to $CANDOR_TRUTH_LOG and fails. The evidence
 * pipeline must see an organism as it sees a user's model.
 */
import fs from 'node:fs';
import { basename } from 'node:path';
import { syncBuiltinESMExports } from 'node:module';
import { fileURLToPath } from 'node:url';

const log = process.env.CANDOR_TRUTH_LOG;
const appendFileSync = fs.appendFileSync;

function check(path: unknown): void {
  const p = typeof path === 'string' ? path : path instanceof URL ? fileURLToPath(path) : Buffer.isBuffer(path) ? path.toString() : null;
  if (p === null || !/^(manifest|ground-truth)\.json$/.test(basename(p))) return;
  const stack = new Error().stack ?? '';
  if (/[/\\]audit[/\\]scorer\.js/.test(stack)) return;
  if (log !== undefined) appendFileSync(log, `${p}\n${stack}\n\n`);
  throw new Error(`truth guard: ${p} was opened outside the scorer`);
}

type Fn = (...args: unknown[]) => unknown;
const wrap = (obj: Record<string, unknown>, name: string) => {
  const orig = obj[name] as Fn;
  obj[name] = function (this: unknown, path: unknown, ...rest: unknown[]) {
    check(path);
    return orig.call(this, path, ...rest);
  };
};
for (const name of ['readFileSync', 'openSync', 'readFile', 'open', 'createReadStream']) wrap(fs as unknown as Record<string, unknown>, name);
for (const name of ['readFile', 'open']) wrap(fs.promises as unknown as Record<string, unknown>, name);
syncBuiltinESMExports();
