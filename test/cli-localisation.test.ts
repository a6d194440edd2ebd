/** candor lens | attribute | patch | trace, run as a user runs them, on a model folder built by the test. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeChatModel } from './helpers/chat-model.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'candor-cli-loc-'));
writeChatModel(dir, 3);

function candor(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'candor.js'), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
function json(...args: string[]): Record<string, unknown> {
  const r = candor(...args, '--json');
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

test('lens --json: an entry per layer and position, the last layer equals the output', () => {
  const j = json('lens', '--model', dir, '--prompt', 'the capital is ?', '--target', 'paris', '--positions=-1,-2');
  const entries = j.entries as { layer: number; position: number; top: { token: number }[]; targets: { prob: number }[] }[];
  assert.equal(entries.length, 2 * 2);
  const final = j.final as { position: number; targets: { prob: number }[] }[];
  const last = entries.filter((e) => e.layer === 1);
  for (const e of last) assert.ok(Math.abs(e.targets[0]!.prob - final.find((f) => f.position === e.position)!.targets[0]!.prob) < 1e-6);
  const text = candor('lens', '--model', dir, '--prompt', 'the capital is ?', '--target', 'paris');
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /logit lens/);
});

test('attribute --json: parts sum to the total; a multi-token target is refused with a fix', () => {
  const j = json('attribute', '--model', dir, '--prompt', 'the capital is ?', '--target', 'paris', '--baseline', 'no');
  assert.ok(Math.abs((j.sum as number) - (j.total as number)) < 1e-4);
  assert.equal((j.heads as number[][]).length, 2);
  const bad = candor('attribute', '--model', dir, '--prompt', 'the capital is ?', '--target', 'paris world');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /2 tokens/);
});

test('patch --json: whole-layer residual patching gives 1; attribution with --compare reports a correlation', () => {
  const args = ['--model', dir, '--source', 'the capital is paris', '--dest', 'the capital is world', '--metric', 'prob', '--target', 'paris'];
  const whole = json('patch', ...args, '--whole-layer');
  (whole.values as number[]).forEach((v) => assert.ok(Math.abs(v - 1) < 1e-4, `whole-layer value ${v}`));
  const heads = json('patch', ...args, '--site', 'heads', '--attribution', '--compare');
  assert.deepEqual((heads.values as number[][]).map((r) => r.length), [2, 2]);
  assert.equal(typeof heads.correlation, 'number');
  const grid = candor('patch', ...args);
  assert.equal(grid.code, 0, grid.stderr);
  assert.match(grid.stdout, /0 = destination, 1 = source/);
  const mismatch = candor('patch', '--model', dir, '--source', 'the capital', '--dest', 'the capital is', '--metric', 'kl');
  assert.equal(mismatch.code, 2);
  assert.match(mismatch.stderr, /same number of tokens/);
});

test('trace --json: a [layer][position] grid of indirect effects', () => {
  const j = json('trace', '--model', dir, '--prompt', 'the capital is paris', '--subject', 'capital', '--samples', '3');
  const grid = j.indirect as number[][];
  assert.equal(grid.length, 2);
  assert.equal(grid[0]!.length, 4); // this word-level tokenizer adds no BOS
  assert.deepEqual(j.corrupt, [1]);
  // position 0 ('the') precedes the corrupted token: nothing to restore there
  for (const row of grid) assert.ok(Math.abs(row[0]!) < 1e-6);
});

test('lens --train fits a tuned lens beside the model; --tuned default reads it back', async () => {
  const { writeFileSync, existsSync } = await import('node:fs');
  const texts = join(dir, 'texts.txt');
  writeFileSync(texts, ['the capital is paris .', 'hello world .', 'the world is ?', 'no capital is the world', 'paris is the capital .'].join('\n'));
  const j = json('lens', '--model', dir, '--train', texts, '--steps', '30', '--lr', '0.01');
  assert.ok(existsSync(join(dir, 'tuned-lens.safetensors')));
  assert.equal((j.kl_before as number[]).length, 2);
  assert.ok((j.kl_after as number[])[0]! < (j.kl_before as number[])[0]!, 'training lowered the first layer\'s KL');
  const tuned = json('lens', '--model', dir, '--prompt', 'the capital is ?', '--tuned', 'default');
  assert.equal(tuned.translated, true);
});
