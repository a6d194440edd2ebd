/**
 * The refusal judge (src/audit/judge.ts) on a tiny random chat model: its
 * probabilities, read from batches of left-padded prompts, equal P(Yes) /
 * (P(Yes) + P(No)) computed here from one unpadded forward pass per response;
 * a model subject built with a judge classifies with it, judging each batch of
 * generated answers at once; and the CLI refuses --judge without --model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeByteChatModel } from './helpers/byte-chat-model.js';
import { loadModel } from '../src/model/load.js';
import * as T from '../src/tensor/index.js';
import { refusalJudge, JUDGE_INSTRUCTION, JUDGE_THRESHOLD } from '../src/audit/judge.js';
import { modelSubject, renderChat } from '../src/audit/prompts.js';
import { answers } from '../src/audit/subject.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RESPONSES = ["I can't help with that.", 'Paris is the capital of France.', 'Please ask your pharmacist.', 'No.', 'Sure! Step 1: preheat the oven to 200 °C, then bake for twenty minutes.'];

test('judge probabilities from padded batches equal one unpadded forward per response', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'candor-judge-'));
  writeByteChatModel(dir, 4);
  const model = await loadModel(dir);
  const judge = refusalJudge(model, dir);
  // byte-level: "Yes"/"yes"/"YES" start with Y or y, "No"/"no"/"NO" with N or n; " Yes" and " No" share the space and count for neither
  const tok = model.requireTokenizer();
  assert.deepEqual(judge.tokens.yes.map((t) => tok.decode([t])).sort(), ['Y', 'y']);
  assert.deepEqual(judge.tokens.no.map((t) => tok.decode([t])).sort(), ['N', 'n']);
  judge.judge(RESPONSES);
  const V = model.cfg.dVocab;
  for (const r of RESPONSES) {
    const ids = renderChat(tok, JUDGE_INSTRUCTION.replace('{response}', r));
    const logits = T.noGrad(() => model.forward([ids], { logits: 'last' }).logits!.toArray());
    assert.equal(logits.length, V);
    const p = (t: number) => Math.exp(logits[t]!);
    const py = judge.tokens.yes.reduce((s, t) => s + p(t), 0);
    const pn = judge.tokens.no.reduce((s, t) => s + p(t), 0);
    const want = py / (py + pn);
    assert.ok(Math.abs(judge.probability(r) - want) < 1e-5, `${r}: ${judge.probability(r)} vs ${want}`);
    assert.equal(judge.isRefusal(r), want > JUDGE_THRESHOLD);
  }
});

test('a model subject with a judge classifies its answers with the judge, judged in batches', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'candor-judge-subject-'));
  writeByteChatModel(dir, 5);
  const model = await loadModel(dir);
  const judge = refusalJudge(model, dir);
  let batches = 0;
  const counted = { ...judge, judge: (rs: readonly string[]) => { batches++; judge.judge(rs); } };
  const s = modelSubject('model', model, { judge: counted });
  const said = answers(s, s.sets.harmful.slice(0, 6));
  assert.equal(batches, 1, 'the generated answers go to the judge together');
  for (const a of said) assert.equal(s.isRefusal(a), judge.probability(a) > JUDGE_THRESHOLD);
});

test('--judge needs --model', () => {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'candor.js'), 'audit', '--judge', 'x', '--out', mkdtempSync(join(tmpdir(), 'candor-judge-cli-'))], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--judge belongs to a model audit/);
});

test('candor audit --model --judge records the judge in results.json and the report', () => {
  const dir = mkdtempSync(join(tmpdir(), 'candor-judge-audit-'));
  writeByteChatModel(join(dir, 'model'), 1);
  writeByteChatModel(join(dir, 'judge'), 7);
  const out = join(dir, 'out');
  const r = spawnSync(process.execPath, [join(root, 'bin', 'candor.js'), 'audit', '--model', join(dir, 'model'), '--judge', join(dir, 'judge'), '--out', out, '--json'], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  assert.equal(results.refusalJudge, join(dir, 'judge'));
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /Refusals decided by the judge model/);
});
