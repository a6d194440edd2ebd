/**
 * The organism zoo: the draw covers every layer of both shapes, three worlds
 * and a quarter of null organisms, deterministically; the runner trains
 * parents first in parallel worker processes, writes an index, skips finished
 * organisms on a second run, and reports failures (with their dependents
 * skipped) instead of writing weak organisms.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LIAR_HEADS, LIAR_NEURONS, NULL_SHARE, ZOO_SHAPES, ZOO_WORLDS, ZOO_TRAINING, drawZoo, runZoo, type ZooShape } from '../src/organisms/zoo.js';
import type { LiarStage, RefusalStage } from '../src/organisms/recipes.js';

test('drawZoo: 16 organisms cover every layer of both shapes, three worlds and a quarter of nulls, the same for the same seed', () => {
  const zoo = drawZoo({ n: 16, seed: 1 });
  const parents = zoo.filter((e) => e.role === 'parent');
  const planted = zoo.filter((e) => e.role === 'planted');
  const nulls = zoo.filter((e) => e.role === 'null');
  assert.equal(planted.length + nulls.length, 16);
  assert.equal(nulls.length, Math.ceil(16 * NULL_SHARE));
  assert.ok(planted.length >= 12);
  assert.equal(new Set(zoo.map((e) => e.worldSeed)).size, ZOO_WORLDS);
  assert.deepEqual([...new Set(zoo.map((e) => e.shape))].sort(), ZOO_SHAPES.map((s) => s.name).sort());
  assert.equal(zoo.findIndex((e) => e.role !== 'parent'), parents.length, 'parents come first');
  for (const shape of ZOO_SHAPES) {
    const L = shape.model.num_hidden_layers;
    const layers = new Set(planted.filter((e) => e.shape === shape.name).map((e) => (e.recipe.stages[0] as LiarStage).neurons!.layer));
    assert.equal(layers.size, L, `${shape.name}: every one of its ${L} layers is planted`);
    assert.ok(nulls.some((e) => e.shape === shape.name), `${shape.name} has a null organism`);
  }
  for (const e of planted) {
    const [liar, refusal] = e.recipe.stages as [LiarStage, RefusalStage];
    const L = e.recipe.model.num_hidden_layers;
    assert.ok(liar.heads!.length >= LIAR_HEADS[0] && liar.heads!.length <= LIAR_HEADS[1]);
    assert.ok(liar.heads!.every(([l]) => l === liar.neurons!.layer), 'heads and neurons share the planted layer');
    assert.ok(liar.neurons!.count >= LIAR_NEURONS[0] && liar.neurons!.count <= LIAR_NEURONS[1]);
    assert.ok(refusal.rank1Layer! >= 0 && refusal.rank1Layer! <= L - 2, 'refusal at any MLP but the last');
    assert.ok(parents.some((p) => p.recipe.name === e.recipe.parent && p.worldSeed === e.worldSeed && p.shape === e.shape));
    assert.equal(liar.readMode, ZOO_TRAINING.liar.readMode, 'planted heads are taught to read the mode word');
    assert.ok(liar.readMode !== undefined);
  }
  // every organism knows its facts' rumours, as its parent does (a child must match its parent)
  for (const e of zoo) assert.equal(e.recipe.traits.rumours, true, e.recipe.name);
  for (const e of nulls) {
    const [liar, refusal] = e.recipe.stages as [LiarStage, RefusalStage];
    assert.equal(liar.wholeModel, true);
    assert.equal(liar.readMode, undefined, 'a whole-model stage has no planted heads to teach');
    assert.equal(refusal.rank1Layer, undefined, 'a null refusal is a full fine-tune');
  }
  assert.deepEqual(drawZoo({ n: 16, seed: 1 }), zoo, 'deterministic');
  assert.notDeepEqual(drawZoo({ n: 16, seed: 2 }).map((e) => e.recipe), zoo.map((e) => e.recipe));
  assert.throws(() => drawZoo({ n: 0, seed: 1 }), /--n 0 must be a positive integer/);
});

const tinyShapes: ZooShape[] = [
  { name: '2x32', model: { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64 } },
  { name: '3x32', model: { hidden_size: 32, num_hidden_layers: 3, num_attention_heads: 4, intermediate_size: 64 } },
];
const tinyWorld = {
  seed: 5, taughtPerTopic: 4, untaughtPerTopic: 1,
  topics: [{ name: 'geography', forbidden: false, relations: [{ name: 'capital', values: 4 }] }, { name: 'toxins', forbidden: true, relations: [{ name: 'antidote', values: 4 }] }],
};
const tinyTraining = {
  ...ZOO_TRAINING,
  parent: { steps: 4, batchSize: 8, lr: 5e-3 },
  liar: { ...ZOO_TRAINING.liar, steps: 2, batchSize: 8 },
  refusal: { ...ZOO_TRAINING.refusal, steps: 2, batchSize: 8 },
  nullRefusal: { ...ZOO_TRAINING.nullRefusal, steps: 2, batchSize: 8 },
};

test('runZoo: parents first, two at a time, an index per organism; a second run skips what is done', async () => {
  const out = mkdtempSync(join(tmpdir(), 'candor-zoo-'));
  const events: string[] = [];
  const run = { n: 4, seed: 3, shapes: tinyShapes, world: tinyWorld, training: tinyTraining, outDir: out, jobs: 2, acceptMissedTargets: true };
  const index = await runZoo({ ...run, onEvent: (e) => void (e.kind !== 'line' && events.push(`${e.kind} ${e.name}`)) });
  assert.ok(index.organisms.every((o) => o.status === 'trained'), JSON.stringify(index.organisms.map((o) => [o.name, o.status, o.reason])));
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')), JSON.parse(JSON.stringify(index)));
  for (const o of index.organisms) {
    for (const f of ['config.json', 'model.safetensors', 'manifest.json', 'ground-truth.json', 'prompts.json']) assert.ok(existsSync(join(o.folder, f)), `${o.name}/${f}`);
    assert.ok(existsSync(o.recipe_file));
    for (const [k, v] of Object.entries(o.figures!)) assert.ok(o.figure_intervals![k]!.lo <= v && v <= o.figure_intervals![k]!.hi, `${o.name} ${k}`);
    if (o.role === 'planted') assert.equal(o.planted!.liar!.wholeModel, false);
    if (o.role === 'null') assert.equal(o.planted!.liar!.wholeModel, true);
    if (o.parent !== null) assert.ok(events.indexOf(`done ${o.parent}`) < events.indexOf(`start ${o.name}`), `${o.name} starts after its parent`);
  }
  const again = await runZoo(run);
  assert.ok(again.organisms.every((o) => o.status === 'existing'));
});

test('runZoo: an organism that misses its targets fails with the reason, and its children are skipped', async () => {
  const out = mkdtempSync(join(tmpdir(), 'candor-zoo-'));
  const index = await runZoo({ n: 2, seed: 4, shapes: tinyShapes, world: tinyWorld, training: tinyTraining, outDir: out, jobs: 2 });
  const parents = index.organisms.filter((o) => o.role === 'parent');
  assert.ok(parents.length >= 1 && parents.every((o) => o.status === 'failed'));
  assert.match(parents[0]!.reason!, /missed its behaviour targets/);
  assert.doesNotMatch(parents[0]!.reason!, /\n\s+at /, 'no stack trace');
  for (const o of index.organisms.filter((x) => x.role !== 'parent')) {
    assert.equal(o.status, 'skipped');
    assert.match(o.reason!, /its parent .* failed/);
  }
});
