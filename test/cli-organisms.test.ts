/** candor organism train | eval with the tiny recipe: a Hugging Face folder whose figures re-measure exactly. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
function candor(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'candor.js'), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('organism train tiny writes a loadable folder with a manifest; eval re-measures its figures', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'candor-org-')), 'tiny');
  const t = candor('organism', 'train', 'tiny', '--out', out, '--json');
  assert.equal(t.code, 0, t.stderr);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'manifest.json']) assert.ok(existsSync(join(out, f)), f);
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  assert.equal(manifest.recipe, 'tiny');
  assert.match(manifest.data_hash, /^[0-9a-f]{16}$/);
  assert.ok(manifest.figures.honestQA >= 0.9, `tiny organism answers ${manifest.figures.honestQA} of taught facts`);
  assert.ok(manifest.figures.idkQA >= 0.9, `and says it does not know about untaught ones (${manifest.figures.idkQA})`);
  const e = candor('organism', 'eval', out, '--json');
  assert.equal(e.code, 0, e.stderr);
  const j = JSON.parse(e.stdout);
  assert.deepEqual(j.figures, manifest.figures, 'the figures re-measure exactly from the saved weights');
  const info = candor('info', '--model', out, '--json');
  assert.equal(JSON.parse(info.stdout).family, 'llama');
  assert.equal(candor('organism', 'train', 'nonsense').code, 2);
});
