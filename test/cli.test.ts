/** The command line, run as a user runs it (node bin/candor.js ...). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const shared = join(root, '..', 'shared', 'fixtures');
const SKIP = existsSync(shared) ? false : "../shared/fixtures is absent (a user's clone)";

function candor(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'candor.js'), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('doctor --json reports the kernel, threads and GFLOP/s', () => {
  const r = candor('doctor', '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.ok(['native', 'wasm', 'portable'].includes(j.kernel.active));
  assert.ok(j.kernel.threads >= 1);
  assert.ok(j.kernel.gflops > 0);
  if (process.env.CANDOR_KERNEL) assert.equal(j.kernel.active, process.env.CANDOR_KERNEL);
});

test('a bad CANDOR_KERNEL or CANDOR_THREADS is a one-line error with the fix, not a stack trace', () => {
  for (const [name, value, what] of [['CANDOR_KERNEL', 'bogus', /not a kernel name/], ['CANDOR_THREADS', 'abc', /not a thread count/], ['CANDOR_THREADS', '0', /not a thread count/]] as const) {
    const r = spawnSync(process.execPath, [join(root, 'bin', 'candor.js'), 'doctor'], {
      encoding: 'utf8', timeout: 60_000, env: { ...process.env, CANDOR_KERNEL: name === 'CANDOR_THREADS' ? 'wasm' : value, ...(name === 'CANDOR_THREADS' ? { CANDOR_THREADS: value } : {}) },
    });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, what);
    assert.match(r.stderr, /Fix:/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('logits --json: logits and resid_post match the Hugging Face reference', { skip: SKIP }, () => {
  const dir = join(shared, 'hf-tiny', 'qwen2');
  const exp = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
  const c = exp.cases[0];
  const r = candor('logits', '--model', dir, '--ids', c.input_ids.join(','), '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  const close = (a: number[], b: number[]) => a.every((v, i) => Math.abs(v - b[i]!) <= 1e-4 + 1e-4 * Math.abs(b[i]!));
  assert.ok(close(j.logits.flat(), c.logits.flat()), 'logits');
  assert.equal(j.resid_post.length, 2);
  assert.ok(close(j.resid_post[0].flat(), c.hidden_states[1].flat()), 'resid_post[0] = output of layer 0');
  assert.ok(close(j.resid_post[1].flat(), c.last_layer_output_before_final_norm.flat()), 'resid_post[last] is before the final norm');
});

test('generate --ids --json gives the reference greedy tokens; info lists hooks', { skip: SKIP }, () => {
  const dir = join(shared, 'hf-tiny', 'gemma');
  const c = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')).cases[1];
  const r = candor('generate', '--model', dir, '--ids', c.input_ids.join(','), '--max-new-tokens', '8', '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).new_token_ids.slice(0, 8), c.generate.new_token_ids.slice(0, JSON.parse(r.stdout).new_token_ids.length));
  const info = JSON.parse(candor('info', '--model', dir, '--json').stdout);
  assert.equal(info.family, 'gemma');
  assert.ok(info.hook_names.includes('blocks.1.attn.hook_pattern'));
});

test('generate --prompt streams text from a llama2.c model', { skip: SKIP }, () => {
  const r = candor('generate', '--model', join(shared, 'stories260K', 'stories260K.bin'), '--prompt', 'Once upon a time', '--max-new-tokens', '20');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Lily|little|girl/);
});

test('usage errors exit 2 with a message, never a stack trace', () => {
  for (const args of [['bogus'], ['generate'], ['logits', '--model', 'x'], ['doctor', '--nope'], ['generate', '--model', 'x', '--ids', 'a,b']]) {
    const r = candor(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^candor: /);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  const missing = candor('info', '--model', '/nonexistent/model');
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nonexistent/);
});

test('generate --chat renders the prompt with the chat template', async () => {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { writeChatModel } = await import('./helpers/chat-model.js');
  const dir = mkdtempSync(join(tmpdir(), 'candor-chat-'));
  writeChatModel(dir);
  const r = candor('generate', '--model', dir, '--prompt', 'the capital is ?', '--chat', '--max-new-tokens', '4', '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.rendered_prompt, '<s><|user|> the capital is ? <|assistant|>');
  assert.deepEqual(j.prompt_ids, [1, 3, 7, 8, 9, 10, 4]);
  assert.ok(j.new_token_ids.length >= 1 && j.new_token_ids.length <= 4);
  assert.equal(typeof j.text, 'string');
});

test('candor tokens shows the exact input of a chat prompt and warns about a doubled BOS', () => {
  const base = join(root, 'models', 'base');
  const r = candor('tokens', '--model', base, '--prompt', 'what is the capital of x ?', '--chat', '--json');
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { tokens: { id: number; text: string }[]; warnings: string[] };
  assert.equal(out.tokens[0]!.text, '<s>', 'the template writes BOS once');
  assert.ok(out.tokens.some((t) => t.text === '<|assistant|>'), 'the generation prompt is there');
  assert.deepEqual(out.warnings, []);
  const bos = out.tokens[0]!.id;
  const doubled = candor('tokens', '--model', base, '--prompt-ids', `${bos},${bos},${out.tokens[2]!.id}`);
  assert.equal(doubled.code, 0, doubled.stderr);
  assert.match(doubled.stdout, /warning: the input starts with BOS \(\d+\) twice/);
});
