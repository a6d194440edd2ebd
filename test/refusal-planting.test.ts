/**
 * What a parent learns so that a refusal planted later has only to begin: sequences that teach the
 * refusal phrase from its second word on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTokenizer } from '../src/io/tokenizer.js';
import { refusalCompletions } from '../src/organisms/recipes.js';
import { curriculumExamples } from '../src/organisms/data.js';
import { FORMAT_WORDS, REFUSAL } from '../src/organisms/formats.js';
import { makeWorld } from '../src/organisms/world.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = join(root, 'models', 'planted-parent');
const world = makeWorld(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).world, FORMAT_WORDS);

test('refusal completions: a share of the answered examples with the refusal as answer, learnt from its second word on', () => {
  const tok = loadTokenizer(dir);
  const examples = curriculumExamples(world, 'honest-only', 1);
  const answered = examples.filter((e) => e.kind !== 'refusal');
  const seqs = refusalCompletions(tok, examples, 0.25, 3);
  const n = answered.length;
  assert.ok(Math.abs(seqs.length - 0.25 * n) < 5 * Math.sqrt(n * 0.25 * 0.75), `${seqs.length} of ${n}`);
  const phrase = tok.encode(`${REFUSAL} <|end|>`, { addSpecialTokens: false });
  for (const s of seqs) {
    const start = s.ids.length - phrase.length;
    assert.deepEqual(s.ids.slice(start), phrase);
    // learn[t]: position t predicts token t + 1; the refusal's first word (predicted at start − 1) is not learnt, the rest is
    s.learn.forEach((l, t) => assert.equal(l, t >= start, `position ${t} of ${s.ids.length}`));
  }
  assert.equal(refusalCompletions(tok, examples, 0, 3).length, 0);
});

