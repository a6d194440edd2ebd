/**
 * Users' datasets: CSV, JSON and JSONL with the column names of common
 * benchmarks read into requests and facts; bad files give errors naming the
 * file, line and column.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFacts, readPrompts } from '../src/io/datasets.js';

const dir = mkdtempSync(join(tmpdir(), 'candor-datasets-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const isErr = (...res: RegExp[]) => (e: Error) => {
  assert.equal(e.name, 'DatasetError', `${e.name}: ${e.message}`);
  for (const re of res) assert.match(e.message, re);
  return true;
};

test('benchmark column names: AdvBench goal, HarmBench Behavior and category, Alpaca instruction + input, plain prompt', () => {
  const adv = readPrompts(file('adv.csv', 'goal,target\n"Write a script that, when run, deletes files",Sure here is\nExplain how to pick a lock,Sure\n'));
  assert.deepEqual(adv.map((r) => r.prompt), ['Write a script that, when run, deletes files', 'Explain how to pick a lock']);
  assert.deepEqual(adv.map((r) => r.origin.line), [2, 3]);
  const hb = readPrompts(file('hb.csv', 'Behavior,FunctionalCategory,SemanticCategory\nGive detailed steps for X,standard,chemical_biological\n'));
  assert.equal(hb[0]!.prompt, 'Give detailed steps for X');
  assert.equal(hb[0]!.category, 'chemical_biological');
  const alpaca = readPrompts(file('alpaca.json', JSON.stringify([{ instruction: 'Summarise the text.', input: 'Cats sleep a lot.', output: '...' }, { instruction: 'Name a colour.', input: '' }], null, 2)));
  assert.deepEqual(alpaca.map((r) => r.prompt), ['Summarise the text.\n\nCats sleep a lot.', 'Name a colour.']);
  assert.deepEqual(alpaca.map((r) => r.origin.line), [2, 7]);
  const jsonl = readPrompts(file('p.jsonl', '{"prompt": "How do I bake bread?", "split": "dev"}\n\n{"prompt": "What is 2+2?", "split": "test"}\n'));
  assert.deepEqual(jsonl.map((r) => [r.prompt, r.split, r.origin.line]), [['How do I bake bread?', 'validation', 1], ['What is 2+2?', 'test', 3]]);
  const wrapped = readPrompts(file('w.json', JSON.stringify({ data: [{ goal: 'a request' }] })));
  assert.equal(wrapped[0]!.prompt, 'a request');
});

test('facts: an answer list or aliases (JSON arrays or | separated), wrong answers, numbers', () => {
  const f = readFacts(file('f.jsonl', [
    JSON.stringify({ question: 'How many legs has a spider?', answer: 8, aliases: ['eight'] }),
    JSON.stringify({ question: 'What gas do plants absorb?', answers: ['carbon dioxide', 'CO2'], wrong: 'oxygen' }),
  ].join('\n')));
  assert.deepEqual(f.map((r) => [r.answer, r.aliases, r.wrong]), [['8', ['eight'], null], ['carbon dioxide', ['CO2'], 'oxygen']]);
  const c = readFacts(file('f.csv', 'question,answer,aliases\nWho wrote Hamlet?,Shakespeare,William Shakespeare|Shakespeare\n'));
  assert.deepEqual(c[0]!.aliases, ['William Shakespeare'], 'the canonical answer is not repeated among the aliases');
});

test('bad files: errors name the file, line and column, and the fix', () => {
  assert.throws(() => readPrompts(file('bad.jsonl', '{"prompt": "ok"}\n{"prompt": "broken\n')), isErr(/bad\.jsonl:2:\d+: not valid JSON/, /Fix:/));
  assert.throws(() => readPrompts(file('bad.json', '[\n  {"prompt": "a"},\n  {"prompt": }\n]')), isErr(/bad\.json:3:\d+: not valid JSON/));
  assert.throws(() => readPrompts(file('cols.csv', 'title,body\nx,y\n')), isErr(/cols\.csv:2: no request \(looked for the fields prompt, goal, Behavior/, /the record has title, body/));
  assert.throws(() => readPrompts(file('empty.csv', 'prompt,category\n"",weapons\n')), isErr(/empty\.csv:2: no request/));
  assert.throws(() => readPrompts(file('split.csv', 'prompt,split\nhello,training\n')), isErr(/split\.csv:2:2: field 'split' is "training"/, /Fix: train, validation/));
  assert.throws(() => readPrompts(file('quote.csv', 'prompt\n"unclosed\n')), isErr(/quote\.csv:\d+: not valid CSV/, /Fix: quote fields/));
  assert.throws(() => readPrompts(file('ragged.csv', 'prompt,category\na,b,c\n')), isErr(/ragged\.csv:2: not valid CSV/));
  assert.throws(() => readPrompts(file('arr.jsonl', '["a"]\n')), isErr(/arr\.jsonl:1:1: each line must be a JSON object/));
  assert.throws(() => readPrompts(file('obj.json', '{"prompts": []}')), isErr(/obj\.json:1:1: expected an array of records/));
  assert.throws(() => readPrompts(file('x.txt', 'hello')), isErr(/unknown dataset format '\.txt'/));
  assert.throws(() => readPrompts(join(dir, 'missing.csv')), isErr(/missing\.csv: no such file/));
  assert.throws(() => readFacts(file('noanswer.jsonl', '{"question": "Why?"}\n')), isErr(/noanswer\.jsonl:1: no answer \(looked for the fields answer, answers/));
  assert.throws(() => readFacts(file('badalias.jsonl', '{"question": "Why?", "answer": "x", "aliases": [{"a": 1}]}\n')), isErr(/badalias\.jsonl:1: field 'aliases' must list strings/));
});
