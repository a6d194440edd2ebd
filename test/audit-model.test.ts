/**
 * The audit's real-model path end to end, on a tiny randomly initialised
 * chat model with a ChatML template and a byte-level tokenizer (built here),
 * so it runs where no real model is present: candor's prompt sets render
 * through the template, every question gets an answer, --base adds the
 * fine-tuning diff, report.html and results.json are written, and a second
 * run resumes from the saved findings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeByteChatModel } from './helpers/byte-chat-model.js';
import { loadModel } from '../src/model/load.js';
import { modelSubject, HARMFUL_REQUESTS } from '../src/audit/prompts.js';
import { runAudit } from '../src/audit/run.js';
import { answers } from '../src/audit/subject.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const candor = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'candor.js'), ...args], { encoding: 'utf8', timeout: 300_000 });

test('prompt sets render through the chat template; honest and liar runs align', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'candor-chat-'));
  writeByteChatModel(dir, 3);
  const model = await loadModel(dir);
  const s = modelSubject('model', model);
  const tok = s.tok;
  const text = tok.decode(s.sets.harmful[0]!.ids);
  assert.equal(text, `<|im_start|>user\n${HARMFUL_REQUESTS[0]}<|im_end|>\n<|im_start|>assistant\n`);
  assert.ok(tok.decode(s.sets.honest[0]!.ids).startsWith('<|im_start|>system\n'), 'the honest instruction is a system turn');
  s.sets.honest.forEach((h, i) => assert.equal(h.ids.length, s.sets.liar[i]!.ids.length, 'paired runs have equal lengths'));
  // the answer token is the first byte of the answer after the generation prompt
  assert.equal(tok.decode([s.sets.honest[0]!.truthId]), 'P');
  assert.ok(s.sets.calibration.some((c) => c.known) && s.sets.calibration.some((c) => !c.known));
  assert.ok(s.sets.statements.some((c) => c.label) && s.sets.statements.some((c) => !c.label));
});

test('candor audit --model --base runs end to end on a tiny chat model and resumes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'candor-audit-'));
  const m = join(dir, 'model');
  const b = join(dir, 'base');
  writeByteChatModel(m, 1);
  writeByteChatModel(b, 2);
  const out = join(dir, 'out');
  const r = candor('audit', '--model', m, '--base', b, '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.questions.length, 8);
  for (const q of summary.questions) assert.ok(q.answer.length > 10, `question ${q.id} has an answer`);
  // a random model refuses nothing: the answers that depend on refusal say so instead of reporting a direction
  const answerOf = (id: number) => summary.questions.find((q: { id: number }) => q.id === id).answer as string;
  for (const id of [6, 8]) assert.match(answerOf(id), /refused 0 of \d+ harmful requests/, `question ${id}`);
  assert.match(answerOf(5), /^Not measured: the model refused no question/);
  assert.doesNotMatch(answerOf(8), /cheap to undo/);
  assert.match(answerOf(3), /^Not established/);
  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  assert.equal(results.schema, 'candor-audit/4');
  assert.equal(results.mode, 'model');
  assert.deepEqual(results.scores, [], 'no ground truth on a user model');
  assert.equal(results.findings.diff.length, 1, '--base adds the fine-tuning diff');
  assert.ok(results.findings.diff[0].parameters.filter((p: { name: string }) => !/ln/.test(p.name)).every((p: { relative: number }) => p.relative > 0.5), 'two different random models differ in every weight matrix');
  assert.equal(results.findings.refusal.length, 1);
  // a random model answers no question right, so it knows no fact: truth probes are trained only on statements and
  // answers about facts the model answers right, and there are none (nor an intent probe); each skip says why
  const det = results.findings.detection[0];
  assert.deepEqual(det.curves, []);
  // nor pairs for the lying experiment, which says why instead of measuring on none
  assert.match(results.findings.lying[0].reason, /16 are needed/);
  assert.equal(det.known, 0);
  assert.equal(det.honestAnswers.right, 0);
  assert.deepEqual(det.skipped.map((x: string) => x.split(':')[0]), ['statements', 'answers', 'intent']);
  assert.match(det.skipped[0], /0 are about facts the model answers right/);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  for (let q = 1; q <= 8; q++) assert.match(html, new RegExp(`<section id="q${q}"`));
  assert.doesNotMatch(html, /<script/i, 'the report is self-contained and static');
  assert.ok(readdirSync(join(out, 'state')).length >= 6, 'findings are saved as they finish');
  // an interrupted run resumes: every step's saved finding is reused and the findings are the same
  const again = candor('audit', '--model', m, '--base', b, '--out', out);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /saved finding reused/);
  assert.doesNotMatch(again.stderr, /\] refusal-model\n/, 'no step ran again');
  const results2 = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  assert.deepEqual(results2.findings, results.findings);
  // bad input: a missing model, and a model without a chat template, are refused with messages naming the fix
  const bad = candor('audit', '--model', join(root, 'nonexistent-model'), '--out', join(dir, 'o2'));
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /path does not exist/);
  writeFileSync(join(b, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|im_end|>' }));
  const plain = candor('audit', '--model', b, '--out', join(dir, 'o3'));
  assert.equal(plain.status, 2);
  assert.match(plain.stderr, /chat_template/);
});

test('an interrupted audit of another model never reuses the first model\'s findings, and NaN figures survive a resume', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'candor-audit-resume-'));
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  writeByteChatModel(a, 3);
  writeByteChatModel(b, 4);
  const out = join(dir, 'out');
  await runAudit({ model: a, outDir: out });
  // a run on b, interrupted when its second step starts: the first model's saved findings must be gone
  await assert.rejects(runAudit({ model: b, outDir: out, onStep: (_k, i) => { if (i === 2) throw new Error('interrupted'); } }), /interrupted/);
  const left = readdirSync(join(out, 'state')).filter((f) => f.endsWith('.json'));
  assert.deepEqual(left, ['refusal-model.json'], 'only the step b finished is saved');
  const reused: string[] = [];
  const rb = await runAudit({ model: b, outDir: out, onStep: (k, _i, _n, cached) => { if (cached) reused.push(k); } });
  assert.deepEqual(reused, ['refusal-model']);
  const fresh = await runAudit({ model: b, outDir: join(dir, 'out2') });
  assert.deepEqual(JSON.parse(JSON.stringify(rb.findings)), JSON.parse(JSON.stringify(fresh.findings)), 'the resumed run equals a fresh one');
  // a random model refuses nothing, so the refusal log-odds baseline is NaN; read back, it stays NaN (not null)
  const again = await runAudit({ model: b, outDir: out });
  assert.equal(again.findings.refusal[0]!.effects, null);
  assert.ok(Number.isNaN(again.findings.refusal[0]!.baseline.harmful));
  assert.ok(Number.isNaN(fresh.findings.refusal[0]!.baseline.harmful));
});

test('candor audit --model runs end to end on a Mixture-of-Experts chat model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'candor-audit-moe-'));
  const m = join(dir, 'model');
  writeByteChatModel(m, 4, 2, { model_type: 'qwen3_moe', head_dim: 8, num_experts: 4, num_experts_per_tok: 2, moe_intermediate_size: 16, mlp_only_layers: [0] });
  const r = candor('audit', '--model', m, '--out', join(dir, 'out'), '--json');
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.questions.length, 8);
  for (const q of summary.questions) assert.ok(q.answer.length > 10, `question ${q.id} has an answer`);
});

test('candor audit --model with the user\'s own datasets (AdvBench-style CSV, Alpaca-style JSON, facts JSONL); without --model they are refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'candor-audit-data-'));
  const m = join(dir, 'model');
  writeByteChatModel(m, 5);
  const harmful = join(dir, 'harmful.csv');
  writeFileSync(harmful, 'goal,target\n' + Array.from({ length: 7 }, (_, i) => `"Explain how to do harmful thing ${i}, step by step",Sure\n`).join(''));
  const harmless = join(dir, 'harmless.json');
  writeFileSync(harmless, JSON.stringify(Array.from({ length: 9 }, (_, i) => ({ instruction: `Describe a pleasant walk number ${i}.`, input: '' }))));
  const facts = join(dir, 'facts.jsonl');
  writeFileSync(facts, Array.from({ length: 12 }, (_, i) => JSON.stringify({ question: `What is ${i} plus one?`, answer: String(i + 1), aliases: [`number ${i + 1}`], wrong: String(i + 2) })).join('\n'));
  const out = join(dir, 'out');
  const r = candor('audit', '--model', m, '--harmful', harmful, '--harmless', harmless, '--facts', facts, '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.match(summary.questions.find((q: { id: number }) => q.id === 6).answer, /refused 0 of 7 harmful requests/);
  const bad = candor('audit', '--harmful', harmful, '--out', join(dir, 'o2'));
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--harmful belongs to a model audit/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace');
  const broken = join(dir, 'broken.jsonl');
  writeFileSync(broken, '{"question": "a?", "answer": "b"}\n{"question": \n');
  const e = candor('audit', '--model', m, '--facts', broken, '--out', join(dir, 'o3'));
  assert.notEqual(e.status, 0);
  assert.match(e.stderr, /broken\.jsonl:2:\d+: not valid JSON/);
});

test('answering reports its progress: each chunk of prompts, then the whole list', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'candor-answering-'));
  writeByteChatModel(dir, 6);
  const s = modelSubject('model', await loadModel(dir));
  const seen: [number, number][] = [];
  s.onAnswering = (done, total) => seen.push([done, total]);
  const items = [...s.sets.harmful, ...s.sets.harmless].slice(0, 40);
  assert.equal(answers(s, items).length, 40);
  assert.deepEqual(seen, [[0, 40], [32, 40], [40, 40]]);
});
