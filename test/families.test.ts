/**
 * The families live in src/model/families and nowhere else: no family-name
 * tests outside that folder, each family file short; and each family's weight
 * table, walked backward by saveModel, writes back exactly the tensors of the
 * Hugging Face reference files (names, shapes and values).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSafetensors } from '../src/io/safetensors.js';
import { loadModelSync } from '../src/model/load.js';
import { saveModel } from '../src/model/save.js';
import { SUPPORTED_FAMILIES } from '../src/model/config.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const src = join(root, 'src');
const shared = join(root, '..', 'shared', 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'candor-families-'));

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

test('no test of a family name outside src/model/families; every family file fits in 150 lines', () => {
  const familyDir = join(src, 'model', 'families');
  const offenders = files(src)
    .filter((f) => !f.startsWith(familyDir))
    .flatMap((f) => readFileSync(f, 'utf8').split('\n').map((line, i) => ({ f, i, line })))
    .filter(({ line }) => /\bfamily\s*[!=]==|===\s*'(gpt2|gpt_neox|llama|mistral|qwen\w*|gemma\w*|phi3|olmo2|smollm3|mixtral|llama2c)'/.test(line) || /\bisGemma\b/.test(line));
  assert.deepEqual(offenders.map(({ f, i }) => `${relative(root, f)}:${i + 1}`), []);
  for (const f of files(familyDir)) {
    const lines = readFileSync(f, 'utf8').split('\n').length;
    assert.ok(lines <= 150, `${relative(root, f)} has ${lines} lines`);
  }
  for (const t of ['qwen3', 'gemma3_text', 'phi3', 'olmo2', 'smollm3', 'qwen3_moe', 'mixtral']) assert.ok(SUPPORTED_FAMILIES.includes(t), `${t} is supported`);
});

const fixtures = ['hf-tiny', 'hf-tiny-2'].flatMap((set) => (existsSync(join(shared, set)) ? readdirSync(join(shared, set)).map((f) => join(set, f)) : []))
  .filter((f) => existsSync(join(shared, f, 'model.safetensors')) && JSON.parse(readFileSync(join(shared, f, 'config.json'), 'utf8')).torch_dtype !== 'bfloat16');

test('load → save writes back every tensor of each reference checkpoint unchanged', { skip: fixtures.length === 0 ? "../shared/fixtures is absent (a user's clone)" : false }, () => {
  for (const f of fixtures) {
    const model = loadModelSync(join(shared, f));
    const out = join(tmp, f.replace('/', '-'));
    saveModel(model, out);
    const a = openSafetensors(join(shared, f, 'model.safetensors'));
    const b = openSafetensors(join(out, 'model.safetensors'));
    try {
      assert.deepEqual([...b.entries.keys()].sort(), [...a.entries.keys()].sort(), `${f}: the same tensor names`);
      for (const name of a.entries.keys()) {
        const x = a.read(name);
        const y = b.read(name);
        assert.deepEqual(y.shape, x.shape, `${f}: ${name} shape`);
        assert.deepEqual(y.toArray(), x.toArray(), `${f}: ${name} values`);
      }
    } finally {
      a.close();
      b.close();
    }
  }
});
