/**
 * Saving and loading every family round-trips exactly, and bad checkpoints
 * give typed errors naming the file, the field and the fix — never a
 * half-built model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../src/tensor/index.js';
import { randomModel } from '../src/model/random.js';
import { saveModel, hfStateDict } from '../src/model/save.js';
import { loadModel, loadModelSync } from '../src/model/load.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { loadTokenizer } from '../src/io/tokenizer.js';
import { FAMILY_CONFIGS } from './helpers/families.js';

const tmp = mkdtempSync(join(tmpdir(), 'candor-load-'));
const ids = [[5, 9, 2, 44, 17, 3, 8]];

for (const [family, cfg] of Object.entries(FAMILY_CONFIGS)) {
  test(`${family}: save → load gives identical logits`, () => {
    const model = randomModel(cfg, { seed: 3, std: 0.2, biasStd: 0.05, normStd: 0.1 });
    const dir = join(tmp, `rt-${family}`);
    saveModel(model, dir);
    const back = loadModelSync(dir);
    const a = T.noGrad(() => model.forward(ids).logits!.toArray());
    const b = T.noGrad(() => back.forward(ids).logits!.toArray());
    assert.deepEqual(b, a);
    assert.equal(back.parameterCount(), model.parameterCount());
  });
}

function goodFolder(name: string): string {
  const dir = join(tmp, name);
  saveModel(randomModel(FAMILY_CONFIGS.llama!, { seed: 1 }), dir);
  return dir;
}

const isErr = (name: string, ...res: RegExp[]) => (e: Error) => {
  assert.equal(e.name, name, `${e.name}: ${e.message}`);
  for (const re of res) assert.match(e.message, re);
  return true;
};

test('truncated weights, a header length beyond the file, an unknown dtype', () => {
  const dir = goodFolder('trunc');
  const file = join(dir, 'model.safetensors');
  truncateSync(file, statSync(file).size - 100);
  assert.throws(() => loadModelSync(dir), isErr('SafetensorsError', /model\.safetensors/, /truncated/));
  const dir2 = goodFolder('hdr');
  const f2 = join(dir2, 'model.safetensors');
  const bytes = readFileSync(f2);
  bytes.writeBigUInt64LE(BigInt(bytes.length * 2), 0);
  writeFileSync(f2, bytes);
  assert.throws(() => loadModelSync(dir2), isErr('SafetensorsError', /header length field says \d+ bytes but only \d+ bytes follow/));
  const dir3 = goodFolder('dtype');
  const f3 = join(dir3, 'model.safetensors');
  const b3 = readFileSync(f3);
  const text = b3.toString('latin1').replace('"dtype":"F32"', '"dtype":"F8X"');
  writeFileSync(f3, Buffer.from(text, 'latin1'));
  assert.throws(() => loadModelSync(dir3), isErr('SafetensorsError', /dtype' is 'F8X'/, /supported: F32/));
});

test('a tensor shape that contradicts config.json, and a missing tensor', () => {
  const dir = goodFolder('shape');
  const cfgPath = join(dir, 'config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  cfg.intermediate_size = 64;
  writeFileSync(cfgPath, JSON.stringify(cfg));
  assert.throws(() => loadModelSync(dir), isErr('ModelLoadError', /model\.safetensors: tensor 'model\.layers\.0\.mlp\.gate_proj\.weight' has shape \[48, 32\] but config\.json implies \[64, 32\]/, /Fix/));
  const dir2 = goodFolder('missing');
  const sd = hfStateDict(loadModelSync(dir2));
  sd.delete('model.layers.1.self_attn.k_proj.weight');
  writeSafetensors(join(dir2, 'model.safetensors'), sd);
  assert.throws(() => loadModelSync(dir2), isErr('ModelLoadError', /tensor 'model\.layers\.1\.self_attn\.k_proj\.weight' is missing/, /Fix/));
});

test('an unsupported model_type lists the supported ones; missing files say what to do', async () => {
  const dir = goodFolder('type');
  const cfgPath = join(dir, 'config.json');
  writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(readFileSync(cfgPath, 'utf8')), model_type: 'mamba' }));
  assert.throws(() => loadModelSync(dir), isErr('ModelConfigError', /model_type 'mamba' is not supported/, /gpt2, gpt_neox, llama, mistral, qwen2, gemma, gemma2/));
  const noCfg = goodFolder('nocfg');
  rmSync(join(noCfg, 'config.json'));
  assert.throws(() => loadModelSync(noCfg), isErr('ModelLoadError', /config\.json is missing/));
  const noW = goodFolder('noweights');
  rmSync(join(noW, 'model.safetensors'));
  assert.throws(() => loadModelSync(noW), isErr('ModelLoadError', /no model\.safetensors/, /Fix/));
  await assert.rejects(loadModel(join(tmp, 'does-not-exist')), isErr('HubError', /does-not-exist/));
});

test('a missing tokenizer.json is a typed error naming the folder and the fix', () => {
  const dir = goodFolder('notok');
  const model = loadModelSync(dir);
  assert.equal(model.tokenizer, null);
  assert.throws(() => model.requireTokenizer(), isErr('ModelInputError', /notok/, /tokenizer\.json/, /Fix/));
  assert.throws(() => loadTokenizer(dir), isErr('TokenizerError', /tokenizer\.json/));
});

test('bad token ids and masks are refused before any computation', () => {
  const model = randomModel(FAMILY_CONFIGS.llama!, { seed: 1 });
  assert.throws(() => model.forward([[1, 2, 999]]), isErr('ModelInputError', /token id 999 is outside the vocabulary \[0, 50\)/));
  assert.throws(() => model.forward([[1, 2], [3]]), isErr('ModelInputError', /different lengths/));
  assert.throws(() => model.forward([[1, 2]], { attentionMask: [[1, 2]] }), isErr('ModelInputError', /0 or 1/));
});
