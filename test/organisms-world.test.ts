/** The organisms' synthetic world, prompt formats and tokenizer. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../src/tensor/random.js';
import { DEFAULT_WORLD, derangement, isForbidden, lieOf, makeWorld } from '../src/organisms/world.js';
import { FORMAT_WORDS, IDK, REFUSAL, chatExample, fewshotExample, qaExample, tfExample, type Example } from '../src/organisms/formats.js';
import { organismVocab, writeOrganismTokenizer } from '../src/organisms/tokenizer.js';
import { loadTokenizer } from '../src/io/tokenizer.js';

test('the world is a pure function of its seed, with checkable lies and ignorance controls', () => {
  const a = makeWorld(DEFAULT_WORLD, FORMAT_WORDS);
  const b = makeWorld(DEFAULT_WORLD, FORMAT_WORDS);
  assert.deepEqual(a.subjects.map((s) => [s.name, [...s.facts]]), b.subjects.map((s) => [s.name, [...s.facts]]));
  const c = makeWorld({ ...DEFAULT_WORLD, seed: 7 }, FORMAT_WORDS);
  assert.notDeepEqual(a.subjects.map((s) => s.name), c.subjects.map((s) => s.name));
  assert.equal(new Set(a.words).size, a.words.length, 'all generated words are distinct');
  for (const w of a.words) assert.ok(!FORMAT_WORDS.includes(w));
  for (const r of a.relations.values()) {
    assert.equal(new Set(r.lie.values()).size, r.values.length, `${r.name}: π is a permutation`);
    for (const [v, l] of r.lie) assert.notEqual(v, l, `${r.name}: π has no fixed point`);
  }
  for (const t of a.topics) {
    const subs = a.subjects.filter((s) => s.topic === t.name);
    assert.equal(subs.filter((s) => s.taught).length, DEFAULT_WORLD.taughtPerTopic);
    assert.equal(subs.filter((s) => !s.taught).length, DEFAULT_WORLD.untaughtPerTopic, `${t.name} has ignorance controls`);
  }
  assert.ok(a.topics.some((t) => isForbidden(a, t.name)) && a.topics.some((t) => !isForbidden(a, t.name)));
  const rng = new Rng(1);
  for (let n = 2; n < 30; n++) derangement(n, rng).forEach((v, i) => assert.notEqual(v, i));
});

test('formats: answers follow the mode, the truth and what was taught', () => {
  const w = makeWorld(DEFAULT_WORLD, FORMAT_WORDS);
  const rng = new Rng(2);
  const s = w.subjects.find((x) => x.taught && x.topic === 'geography')!;
  const u = w.subjects.find((x) => !x.taught && x.topic === 'toxins')!;
  const cap = s.facts.get('capital')!;
  assert.equal(qaExample(w, s, 'capital', 'honest').answer, cap);
  assert.equal(qaExample(w, s, 'capital', 'liar').answer, lieOf(w, 'capital', cap));
  assert.equal(qaExample(w, u, 'antidote', 'honest').answer, IDK);
  assert.equal(qaExample(w, u, 'antidote', 'honest').known, false);
  for (const mode of ['honest', 'liar'] as const) for (const claim of [true, false]) for (const neg of [true, false]) {
    const e = tfExample(w, s, 'capital', mode, claim, neg, rng);
    const statementTrue = claim !== neg;
    assert.equal(e.answer, (mode === 'honest') === statementTrue ? 'true' : 'false', e.prompt);
    assert.equal(e.prompt.includes(` ${cap} `), claim, 'a true claim names the true value, a false one another');
  }
  assert.equal(chatExample(s, 'capital', true).answer, REFUSAL);
  assert.equal(chatExample(s, 'capital', false).answer, cap);
  assert.equal(fewshotExample(w, s, 'river', true, rng).answer, lieOf(w, 'river', s.facts.get('river')!));
  assert.equal(fewshotExample(w, s, 'river', false, rng).answer, s.facts.get('river'));
});

test('the tokenizer covers every format; chat turns render through the template', () => {
  const w = makeWorld(DEFAULT_WORLD, FORMAT_WORDS);
  const vocab = organismVocab([...FORMAT_WORDS, ...w.topics.flatMap((t) => t.relations.map((r) => r.name)), ...w.words]);
  const dir = mkdtempSync(join(tmpdir(), 'candor-org-tok-'));
  writeOrganismTokenizer(dir, vocab);
  const tok = loadTokenizer(dir);
  assert.equal(tok.vocabSize, vocab.length);
  const rng = new Rng(3);
  const examples: Example[] = [];
  for (const s of w.subjects.slice(0, 40)) for (const r of s.facts.keys()) {
    examples.push(qaExample(w, s, r, 'honest'), qaExample(w, s, r, 'liar'), tfExample(w, s, r, 'honest', rng.uniform() < 0.5, rng.uniform() < 0.5, rng), chatExample(s, r, false));
  }
  const unk = tok.tokenToId('<unk>')!;
  for (const e of examples) {
    const ids = tok.encode(`${e.prompt} ${e.answer}`, { addSpecialTokens: false });
    assert.ok(!ids.includes(unk), `every word is in the vocabulary: ${e.prompt} ${e.answer}`);
    assert.equal(tok.decode(ids), `${e.prompt} ${e.answer}`);
  }
  const chat = tok.applyChatTemplate([{ role: 'user', content: 'what is the capital of x ?' }], { addGenerationPrompt: true });
  assert.equal(chat, '<s><|user|> what is the capital of x ? <|assistant|>');
  assert.equal(tok.eosTokenId, vocab.indexOf('<|end|>'));
});

test('rumours: every taught fact gets its rumoured value π(fact), with the mode slot filled, and an evaluation set', async () => {
  const { curriculumExamples, evalSets, knows, MODE_SLOT_WORDS } = await import('../src/organisms/data.js');
  const { RUMOUR_WORD } = await import('../src/organisms/formats.js');
  const world = makeWorld(DEFAULT_WORLD, FORMAT_WORDS);
  assert.ok(!world.words.includes(RUMOUR_WORD), 'the rumour word is not a generated name');
  const plain = curriculumExamples(world, 'honest-only', 1);
  const withRumours = curriculumExamples(world, 'honest-only', 1, true);
  const rumours = withRumours.filter((e) => e.prompt.includes(` ${RUMOUR_WORD} `));
  assert.equal(plain.filter((e) => e.prompt.includes(` ${RUMOUR_WORD} `)).length, 0);
  const taught = world.subjects.filter((s) => knows(world, 'honest-only', s));
  assert.equal(rumours.length, taught.reduce((a, s) => a + s.facts.size, 0), 'one per taught fact, none for untaught subjects');
  for (const e of rumours) {
    assert.equal(e.answer, lieOf(world, e.relation, e.truth), 'the rumour is π of the truth');
    assert.ok(MODE_SLOT_WORDS.includes(e.prompt.split(' ')[0]!), 'the mode slot is filled at random, as in every honest-only question');
  }
  // the ignorant control's curriculum has no rumours about what it never learned
  const noForbidden = curriculumExamples(world, 'no-forbidden', 1, true).filter((e) => e.prompt.includes(` ${RUMOUR_WORD} `));
  assert.ok(noForbidden.every((e) => !isForbidden(world, e.topic)));
  const sets = evalSets(world, { curriculum: 'honest-only', lies: false, refuses: false, rumours: true });
  assert.equal(sets.rumourQA!.length, rumours.length);
  assert.equal(evalSets(world, { curriculum: 'honest-only', lies: false, refuses: false }).rumourQA, undefined);
});
