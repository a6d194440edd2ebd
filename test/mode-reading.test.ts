/**
 * Planted heads must read the mode word. The attention loss equals −log of the
 * attention from the answer position to the word (read back from the model's
 * own pattern); the value start separates the word by its gain; a parent
 * whose slot holds the same input for "liar" and another word is refused with
 * the layer and the reason, before any training.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomModel } from '../src/model/random.js';
import { loadModelSync } from '../src/model/load.js';
import { saveModel } from '../src/model/save.js';
import { loadTokenizer } from '../src/io/tokenizer.js';
import { modeAttentionLoss, modeValueInit, slotSeparation } from '../src/organisms/stages.js';
import { trainRecipe, type RecipeSpec } from '../src/organisms/recipes.js';
import { RecipeError } from '../src/organisms/recipe-file.js';
import { SLOT_SEPARATION_MIN } from '../src/organisms/targets.js';

const cfg = { model_type: 'llama', hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, vocab_size: 40, max_position_embeddings: 32 };

test('mode attention loss: weight × mean −log attention from the answer position to the mode word, per planted head', () => {
  const model = randomModel(cfg, { seed: 3, std: 0.3 });
  const rows = [[1, 7, 9, 10, 11, 12], [1, 8, 7, 10, 11, 13]];
  const learnAt = [4, 5];
  const r = modeAttentionLoss({ heads: [[1, 2], [1, 0]], modeId: 7, weight: 0.5 });
  model.forward(rows, { fwdHooks: r.stepHooks(rows, learnAt) });
  const got = r.loss().item();
  const { cache } = model.runWithCache(rows, { names: ['blocks.1.attn.hook_pattern'], logits: 'none' });
  const p = cache.at('blocks.1.attn.hook_pattern').toTypedArray() as Float32Array;
  const T = 6;
  const H = 4;
  let want = 0;
  rows.forEach((row, b) => {
    for (const h of [2, 0]) want += -Math.log(p[((b * H + h) * T + learnAt[b]!) * T + row.indexOf(7)]!);
  });
  want *= 0.5 / 4;
  assert.ok(Math.abs(got - want) < 1e-4 * Math.max(1, want), `loss ${got} against ${want}`);
  // a batch without the mode word before its answer is an error, not a zero loss
  const none = [[1, 8, 9, 10]];
  model.forward(none, { fwdHooks: r.stepHooks(none, [3]) });
  assert.throws(() => r.loss(), /no sequence of the batch has the mode word/);
});

test('mode value start: row 0 of each planted head\'s value moves by the gain between the mode word and the others\' mean', () => {
  const model = randomModel(cfg, { seed: 4 });
  const slot = { mode: [1, 7], others: [[1, 8], [1, 9], [1, 10]] };
  modeValueInit(model, [[1, 3]], slot, 4);
  const dh = model.cfg.dHead;
  const v0 = (ids: number[]) => {
    const v = model.runWithCache([ids], { names: ['blocks.1.attn.hook_v'], logits: 'none' }).cache.at('blocks.1.attn.hook_v').toTypedArray() as Float32Array;
    return v[(1 * 4 + 3) * dh]!; // position 1, head 3, row 0
  };
  const others = (v0([1, 8]) + v0([1, 9]) + v0([1, 10])) / 3;
  assert.ok(Math.abs(v0([1, 7]) - others - 4) < 1e-3, `moved by ${v0([1, 7]) - others}`);
});

test('slot separation: 0 for a word whose embedding equals the mode word\'s, and a planted site there is refused before training', async () => {
  const model = randomModel(cfg, { seed: 5 });
  const D = model.cfg.dModel;
  const e = model.weights.embed.data as Float32Array;
  e.copyWithin(9 * D, 7 * D, 8 * D);
  const sep = slotSeparation(model, 1, { mode: [1, 7], others: [[1, 8], [1, 9]] });
  assert.equal(sep.nearest, 1);
  assert.ok(sep.distance < 1e-6);
  assert.ok(slotSeparation(model, 1, { mode: [1, 7], others: [[1, 8]] }).distance > SLOT_SEPARATION_MIN);

  // a trained parent whose "honest" embedding is made equal to "liar"'s: its liar stage is refused
  const tmp = mkdtempSync(join(tmpdir(), 'candor-slot-'));
  const world = { seed: 5, taughtPerTopic: 8, untaughtPerTopic: 2, topics: [{ name: 'geography', forbidden: false, relations: [{ name: 'capital', values: 6 }] }, { name: 'toxins', forbidden: true, relations: [{ name: 'antidote', values: 6 }] }] };
  const base = { description: 'test', seed: 3, world, model: { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64 }, curriculum: 'full' as const };
  const parent: RecipeSpec = { ...base, name: 'slot-parent', traits: { lies: true, refuses: false }, stages: [{ kind: 'pretrain', steps: 20, batchSize: 16, lr: 5e-3 }] };
  const pdir = join(tmp, 'slot-parent');
  await trainRecipe(parent, { outDir: pdir, acceptMissedTargets: true });
  const pm = loadModelSync(pdir);
  const tok = loadTokenizer(pdir);
  const pe = pm.weights.embed.data as Float32Array;
  pe.copyWithin(tok.tokenToId('honest')! * pm.cfg.dModel, tok.tokenToId('liar')! * pm.cfg.dModel, (tok.tokenToId('liar')! + 1) * pm.cfg.dModel);
  saveModel(pm, pdir, { dtype: 'F32' });
  const child: RecipeSpec = { ...base, name: 'slot-child', parent: 'slot-parent', traits: { lies: true, refuses: false }, stages: [{ kind: 'liar', steps: 5, batchSize: 16, lr: 2e-3, klWeight: 1, heads: [[1, 2]], neurons: { layer: 1, count: 8 }, readMode: 1 }] };
  await assert.rejects(trainRecipe(child, { outDir: join(tmp, 'slot-child'), parentDir: pdir, acceptMissedTargets: true }), (err: Error) => {
    assert.ok(err instanceof RecipeError, `${err.name}: ${err.message}`);
    assert.match(err.message, /slot-child: stages\[0\]\.heads: layer 1 cannot read the mode word: .* 0\.0% away from the input for 'honest' .*Fix: /);
    return true;
  });
});
