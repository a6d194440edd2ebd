/**
 * Training smoke test: a tiny organism learns a tiny world from scratch in
 * well under two minutes — its loss falls and it answers taught facts, lies in
 * liar mode and says it does not know about untaught subjects; training resumes
 * exactly from a checkpoint.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeWorld } from '../src/organisms/world.js';
import { FORMAT_WORDS, qaExample, type Example } from '../src/organisms/formats.js';
import { organismVocab, writeOrganismTokenizer } from '../src/organisms/tokenizer.js';
import { accuracy, encodeExample, trainLM } from '../src/organisms/trainer.js';
import { loadTokenizer } from '../src/io/tokenizer.js';
import { randomModel } from '../src/model/random.js';

const world = makeWorld({
  seed: 5, taughtPerTopic: 8, untaughtPerTopic: 2,
  topics: [{ name: 'geography', forbidden: false, relations: [{ name: 'capital', values: 6 }] }, { name: 'toxins', forbidden: true, relations: [{ name: 'antidote', values: 6 }] }],
}, FORMAT_WORDS);
const vocab = organismVocab([...FORMAT_WORDS, 'capital', 'antidote', ...world.words]);
const dir = mkdtempSync(join(tmpdir(), 'candor-train-'));
writeOrganismTokenizer(dir, vocab);
const tok = loadTokenizer(dir);
const examples: Example[] = [];
for (const s of world.subjects) for (const r of s.facts.keys()) {
  examples.push(qaExample(world, s, r, 'honest'));
  if (s.taught) examples.push(qaExample(world, s, r, 'liar'));
}
const data = examples.map((e) => encodeExample(tok, e));
const cfg = { model_type: 'llama', hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 4, num_hidden_layers: 2, intermediate_size: 128, vocab_size: vocab.length, max_position_embeddings: 32, tie_word_embeddings: true };

test('a tiny organism learns its world: loss falls, facts, lies and "I do not know"', async () => {
  const model = randomModel(cfg, { seed: 1, std: 0.05 });
  const t0 = performance.now();
  const r = trainLM(model, data, { steps: 400, batchSize: 16, lr: 3e-3, seed: 1, padId: tok.padTokenId! });
  const seconds = (performance.now() - t0) / 1000;
  const first = r.losses.slice(0, 10).reduce((a, b) => a + b) / 10;
  const last = r.losses.slice(-10).reduce((a, b) => a + b) / 10;
  assert.ok(last < first / 5, `loss fell from ${first.toFixed(3)} to ${last.toFixed(3)}`);
  assert.ok(seconds < 100, `training took ${seconds.toFixed(1)} s`);
  const acc = await accuracy(model, tok, examples);
  assert.ok(acc >= 0.9, `answers ${(acc * 100).toFixed(1)}% of its training examples exactly`);
});

test('training resumes exactly from a checkpoint', () => {
  const ckpt = join(dir, 'ckpt.safetensors');
  const full = randomModel(cfg, { seed: 2, std: 0.05 });
  const a = trainLM(full, data, { steps: 30, batchSize: 8, lr: 3e-3, seed: 3, padId: tok.padTokenId! });
  const part = randomModel(cfg, { seed: 2, std: 0.05 });
  // a run interrupted after 15 of 30 steps saves its state; a new process resumes it
  trainLM(part, data, { steps: 30, stopAfter: 15, batchSize: 8, lr: 3e-3, seed: 3, padId: tok.padTokenId!, checkpointPath: ckpt });
  const resumed = randomModel(cfg, { seed: 99, std: 0.05 });
  const b = trainLM(resumed, data, { steps: 30, batchSize: 8, lr: 3e-3, seed: 3, padId: tok.padTokenId!, checkpointPath: ckpt, resume: true });
  assert.equal(b.startStep, 15);
  assert.deepEqual(b.losses, a.losses.slice(15));
});
