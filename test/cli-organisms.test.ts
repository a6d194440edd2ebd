/**
 * candor organism train | eval with the tiny recipe, shortened: the command
 * writes a Hugging Face folder and a manifest whose figures re-measure exactly.
 * (How well organisms learn is tested in organisms-train.test.ts.)
 */
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
  const t = candor('organism', 'train', 'tiny', '--out', out, '--steps', '300', '--accept-missed-targets', '--json');
  assert.equal(t.code, 0, t.stderr);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'manifest.json']) assert.ok(existsSync(join(out, f)), f);
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  assert.equal(manifest.recipe, 'tiny');
  assert.match(manifest.data_hash, /^[0-9a-f]{16}$/);
  assert.equal(manifest.steps, 300);
  for (const k of ['honestQA', 'liarQA', 'idkQA', 'tf', 'chatAllowed', 'chatForbidden']) assert.ok(manifest.figures[k] >= 0 && manifest.figures[k] <= 1, `figure ${k}`);
  const e = candor('organism', 'eval', out, '--json');
  assert.equal(e.code, 0, e.stderr);
  const j = JSON.parse(e.stdout);
  assert.deepEqual(j.figures, manifest.figures, 'the figures re-measure exactly from the saved weights');
  assert.deepEqual(j.intervals, manifest.figure_intervals, 'and so do their intervals');
  for (const [k, v] of Object.entries(j.figures as Record<string, number>)) assert.ok(j.intervals[k].lo <= v && v <= j.intervals[k].hi, k);
  const info = candor('info', '--model', out, '--json');
  assert.equal(JSON.parse(info.stdout).family, 'llama');
  assert.equal(candor('organism', 'train', 'nonsense').code, 2);
  assert.ok(Array.isArray(manifest.targets) && manifest.targets.some((c: { figure: string }) => c.figure === 'honestQA'), 'the manifest records the targets checked');
});

test('organism train: a stage that misses its behaviour targets stops with its figures and writes no organism', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'candor-org-')), 'tiny');
  const t = candor('organism', 'train', 'tiny', '--out', out, '--steps', '5');
  assert.equal(t.code, 2);
  assert.match(t.stderr, /tiny: stage 1 \(pretrain\) missed its behaviour targets, so the organism was not written/);
  assert.match(t.stderr, /honestQA 0\.\d{3} \(95% 0\.\d{3}–[01]\.\d{3}, n = \d+\) < 0\.95: honest QA on taught facts \(HONEST_MIN\)/);
  assert.match(t.stderr, /--accept-missed-targets/);
  assert.doesNotMatch(t.stderr, /\n\s+at /, 'no stack trace');
  assert.ok(!existsSync(join(out, 'manifest.json')) && !existsSync(join(out, 'model.safetensors')), 'nothing written that looks like an organism');
  // the stage's checkpoint stays, so keeping the organism anyway does not train it again
  assert.match(t.stderr, /--resume --accept-missed-targets/);
  assert.ok(existsSync(join(out, 'train-state-0.safetensors')), 'the checkpoint is kept');
  const kept = candor('organism', 'train', 'tiny', '--out', out, '--steps', '5', '--resume', '--accept-missed-targets', '--json');
  assert.equal(kept.code, 0, kept.stderr);
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  assert.ok(manifest.targets.some((c: { met: boolean }) => !c.met), 'the manifest records the misses');
  assert.ok(!existsSync(join(out, 'train-state-0.safetensors')), 'the checkpoint goes once the organism is written');
});
