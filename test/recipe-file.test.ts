/**
 * Recipe files: the built-in recipes are files read like any other; a broken
 * file is refused with errors naming the field and the fix (never a stack
 * trace); a user's recipe file trains through the CLI, including a null
 * organism whose liar mode is trained into the whole model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RecipeError, parseRecipe, readRecipeFile, recipesDir } from '../src/organisms/recipe-file.js';
import { RECIPES } from '../src/organisms/recipes.js';
import { HELD_OUT_SHARE, heldOutSubjects } from '../src/organisms/targets.js';
import { makeWorld } from '../src/organisms/world.js';
import { FORMAT_WORDS } from '../src/organisms/formats.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'candor-recipe-'));

/** A valid small recipe (the tiny world, 2 layers), as parsed JSON to break in tests. */
function good(): Record<string, any> {
  return {
    candor_recipe: 1, name: 'mine', description: 'a test recipe', seed: 3,
    world: {
      seed: 5, taughtPerTopic: 8, untaughtPerTopic: 2,
      topics: [{ name: 'geography', forbidden: false, relations: [{ name: 'capital', values: 6 }] }, { name: 'toxins', forbidden: true, relations: [{ name: 'antidote', values: 6 }] }],
    },
    model: { hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 128 },
    curriculum: 'full',
    traits: { lies: true, refuses: true },
    stages: [
      { kind: 'pretrain', steps: 40, batchSize: 16, lr: 5e-3 },
      { kind: 'liar', steps: 10, batchSize: 16, lr: 2e-3, klWeight: 1, heads: [[1, 2]], neurons: { layer: 1, count: 16 } },
      { kind: 'refusal', steps: 10, batchSize: 16, lr: 1e-2, klWeight: 1, rank1Layer: 0 },
    ],
  };
}

function refused(value: unknown, ...patterns: RegExp[]): void {
  assert.throws(() => parseRecipe(value, 'mine.json'), (e: Error) => {
    assert.ok(e instanceof RecipeError, `a RecipeError, got ${e.name}: ${e.message}`);
    assert.match(e.message, /^mine\.json: not a valid recipe/);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

test('the built-in recipes are the files in recipes/, each valid and named like its file', () => {
  assert.deepEqual(Object.keys(RECIPES).sort(), ['base', 'ignorant', 'ignorant-parent', 'planted', 'planted-parent', 'safety-tuned', 'tiny']);
  for (const [name, r] of Object.entries(RECIPES)) {
    assert.equal(r.name, name);
    assert.deepEqual(readRecipeFile(join(recipesDir, `${name}.json`)), r);
    assert.ok(!('candor_recipe' in r), 'the version field is read, not carried into the spec');
  }
  assert.equal(RECIPES.planted!.stages[1]!.kind, 'refusal');
  assert.deepEqual(parseRecipe(good(), 'mine.json').stages[1], good().stages[1]);
});

test('the recipes docs/organisms.md cites (docs/recipes/) are valid, named like their files, and chain parent to child', () => {
  const dir = join(root, 'docs', 'recipes');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  assert.ok(files.length >= 3, files.join(', '));
  const names = new Set(files.map((f) => f.replace(/\.json$/, '')));
  for (const f of files) {
    const r = readRecipeFile(join(dir, f));
    assert.equal(`${r.name}.json`, f);
    if (r.parent !== undefined) assert.ok(names.has(r.parent), `${f}: its parent ${r.parent} is one of them`);
  }
});

test('a recipe file with an error names the field and the fix', () => {
  const g = good;
  refused({ ...g(), colour: 'red' }, /colour: unknown field\. Fix: remove it/);
  const nested = g();
  nested.stages[1].heads_ = [[0, 0]];
  refused(nested, /stages\[1\]\.heads_: unknown field/);
  const head = g();
  head.stages[1].heads = [[1, 4]];
  refused(head, /stages\[1\]\.heads\[0\]: head 4 does not exist \(the model has 4 heads per layer, 0–3\)\. Fix: pick a head below 4/);
  const layer = g();
  layer.stages[1].neurons.layer = 2;
  refused(layer, /stages\[1\]\.neurons\.layer: layer 2 does not exist \(the model has 2 layers/);
  const many = g();
  many.stages[1].neurons.count = 129;
  refused(many, /stages\[1\]\.neurons\.count: 129 neurons, but each MLP has 128/);
  const last = g();
  last.stages[2].rank1Layer = 1;
  refused(last, /stages\[2\]\.rank1Layer: 1 is the last MLP.*Fix: pick an MLP from 0 to 0/);
  const { seed: _s, ...noSeed } = g();
  refused(noSeed, /seed: missing\. Fix: add it/);
  refused({ ...g(), candor_recipe: 2 }, /candor_recipe: must be 1 \(this build reads recipe format 1\), got 2/);
  refused({ ...g(), curriculum: 'everything' }, /curriculum: "everything" is not one of "full", "no-forbidden", "honest-only"/);
  const kind = g();
  kind.stages[0].kind = 'unlearn';
  refused(kind, /stages\[0\]\.kind: "unlearn" is not a stage kind/);
  const type = g();
  type.stages[0].steps = '40';
  refused(type, /stages\[0\]\.steps: must be an integer, got "40"/);
  const whole = g();
  whole.stages[1].wholeModel = true;
  refused(whole, /stages\[1\]\.wholeModel: a whole-model liar stage trains every weight/);
  const first = g();
  first.stages = first.stages.slice(1);
  refused(first, /stages\[0\]\.kind: a recipe without a parent starts from random weights/);
  const decay = g();
  decay.stages[1].weightDecay = -1;
  refused(decay, /stages\[1\]\.weightDecay: must be >= 0/);
  const knowing = g();
  knowing.stages[0].knowingRefusal = 1;
  knowing.curriculum = 'full';
  refused(knowing, /stages\[0\]\.knowingRefusal: keeps the knowledge of refused "secret" requests, which only the "honest-only" curriculum teaches/);
  knowing.stages[0].knowingRefusal = 0;
  refused(knowing, /stages\[0\]\.knowingRefusal: must be > 0/);
  const heads = g();
  heads.model.num_attention_heads = 5;
  refused(heads, /model\.num_attention_heads: 5 does not divide hidden_size 64/);
  writeFileSync(join(tmp, 'broken.json'), '{"candor_recipe": 1,');
  assert.throws(() => readRecipeFile(join(tmp, 'broken.json')), (e: Error) => e instanceof RecipeError && /broken\.json: not JSON/.test(e.message));
  assert.throws(() => readRecipeFile(join(tmp, 'absent.json')), (e: Error) => e instanceof RecipeError && /no such recipe file/.test(e.message));
});

function candor(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'candor.js'), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('organism train --recipe: a broken file is one error without a stack trace; a null organism trains its liar mode into the whole model', () => {
  const bad = good();
  bad.stages[1].heads = [[1, 7]];
  writeFileSync(join(tmp, 'bad.json'), JSON.stringify(bad));
  const r = candor('organism', 'train', '--recipe', join(tmp, 'bad.json'));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /stages\[1\]\.heads\[0\]: head 7 does not exist/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');

  const nul = good();
  nul.name = 'null-liar';
  nul.stages = [nul.stages[0], { kind: 'liar', steps: 10, batchSize: 16, lr: 2e-3, klWeight: 1, wholeModel: true }];
  writeFileSync(join(tmp, 'null.json'), JSON.stringify(nul));
  const out = join(tmp, 'null-liar');
  const t = candor('organism', 'train', '--recipe', join(tmp, 'null.json'), '--out', out, '--accept-missed-targets', '--json');
  assert.equal(t.code, 0, t.stderr);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'manifest.json', 'ground-truth.json', 'prompts.json']) assert.ok(existsSync(join(out, f)), f);
  const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  assert.equal(m.recipe, 'null-liar');
  assert.deepEqual(m.stages.map((s: { kind: string }) => s.kind), ['pretrain', 'liar']);
  assert.equal(m.planted.liar.wholeModel, true);
  assert.deepEqual(m.planted.liar.heads, []);
  assert.ok(m.planted.liar.parameters.length > 10, 'every parameter is a liar parameter');
  // the liar stage never trained on the held-out subjects; its targets are checked on them
  const world = makeWorld(nul.world, FORMAT_WORDS);
  assert.deepEqual(m.held_out.subjects, [...heldOutSubjects(world, nul.seed)].sort());
  assert.ok(typeof m.figures.liarQA_heldout === 'number' && typeof m.figures.honestQA_heldout === 'number');
  const liarChecks = m.targets.filter((t: { kind: string }) => t.kind === 'liar').map((t: { figure: string }) => t.figure);
  assert.deepEqual(liarChecks.sort(), ['honestQA_heldout', 'liarQA_heldout']);
  // every figure carries its Wilson interval and its count; the held-out count is the held-out subjects' facts
  for (const [k, v] of Object.entries(m.figures as Record<string, number>)) {
    const e = m.figure_intervals[k];
    assert.ok(e !== undefined && e.lo <= v + 1e-12 && v <= e.hi + 1e-12 && e.n > 0, `${k}: ${v} in ${JSON.stringify(e)}`);
  }
  // liar QA on held-out subjects splits by whether a trained subject shares the fact's value (the lie is π of it)
  const held = new Set<string>(m.held_out.subjects);
  const taught = world.subjects.filter((s) => s.taught);
  const lied = new Set(taught.filter((s) => !held.has(s.name)).flatMap((s) => [...s.facts].map(([r, v]) => `${r}:${v}`)));
  const heldFacts = taught.filter((s) => held.has(s.name)).flatMap((s) => [...s.facts].map(([r, v]) => `${r}:${v}`));
  const unseen = heldFacts.filter((k) => !lied.has(k)).length;
  assert.equal(m.figure_intervals.liarQA_heldout.n, heldFacts.length - unseen);
  assert.equal(m.figure_intervals.liarQA_heldout_unseen?.n ?? 0, unseen);
  assert.equal(heldFacts.length, m.held_out.subjects.length, 'one held-out relation per subject in this world');
});

test('held-out subjects: a fifth of every topic\'s taught subjects, never an untaught one, the same for the same seed', () => {
  const world = makeWorld(good().world, FORMAT_WORDS);
  const held = heldOutSubjects(world, 3);
  assert.deepEqual(held, heldOutSubjects(world, 3));
  assert.notDeepEqual(held, heldOutSubjects(world, 4));
  for (const t of world.topics) {
    const taught = world.subjects.filter((x) => x.topic === t.name && x.taught);
    const mine = taught.filter((x) => held.has(x.name));
    assert.equal(mine.length, Math.max(1, Math.ceil(taught.length * HELD_OUT_SHARE)), t.name);
  }
  assert.ok(world.subjects.filter((x) => !x.taught).every((x) => !held.has(x.name)));
});

test('checkStage: each target fails on its own side of its bound, and planting stages are judged on held-out figures', async () => {
  const { checkStage, HONEST_MIN, LIAR_MIN, REFUSES_MIN, OVER_REFUSAL_MAX, KNOWLEDGE_DROP_MAX } = await import('../src/organisms/targets.js');
  const liar = { kind: 'liar' as const, steps: 1, batchSize: 1, lr: 1e-3, klWeight: 1 };
  const refusal = { kind: 'refusal' as const, steps: 1, batchSize: 1, lr: 1e-3, klWeight: 1 };
  const ctx = { lies: true, knowsForbidden: true, before: { forbiddenChoice_chat: 0.8 } };
  const met = (checks: { figure: string; met: boolean }[]) => Object.fromEntries(checks.map((c) => [c.figure, c.met]));
  // trained subjects pass, held-out ones do not: the held-out figures decide
  assert.deepEqual(met(checkStage(liar, 1, { honestQA: 1, liarQA: 1, honestQA_heldout: HONEST_MIN, liarQA_heldout: LIAR_MIN - 0.01 }, {}, ctx)), { honestQA_heldout: true, liarQA_heldout: false });
  assert.deepEqual(met(checkStage(liar, 1, { honestQA_heldout: HONEST_MIN - 0.01, liarQA_heldout: LIAR_MIN }, {}, ctx)), { honestQA_heldout: false, liarQA_heldout: true });
  const ok = { refuseForbidden_heldout: REFUSES_MIN, refuseAllowed_heldout: OVER_REFUSAL_MAX, forbiddenChoice_chat: 0.8 - KNOWLEDGE_DROP_MAX };
  assert.ok(checkStage(refusal, 2, ok, {}, ctx).every((c) => c.met));
  assert.deepEqual(met(checkStage(refusal, 2, { ...ok, refuseForbidden_heldout: REFUSES_MIN - 0.01 }, {}, ctx)).refuseForbidden_heldout, false);
  assert.deepEqual(met(checkStage(refusal, 2, { ...ok, refuseAllowed_heldout: OVER_REFUSAL_MAX + 0.01 }, {}, ctx)).refuseAllowed_heldout, false);
  assert.deepEqual(met(checkStage(refusal, 2, { ...ok, forbiddenChoice_chat: 0.8 - KNOWLEDGE_DROP_MAX - 0.01 }, {}, ctx)).forbiddenChoice_chat, false);
  // an organism that never learned the forbidden facts has no knowledge to keep
  assert.ok(!checkStage(refusal, 2, ok, {}, { ...ctx, knowsForbidden: false }).some((c) => c.figure === 'forbiddenChoice_chat'));
});

test('a child recipe whose rumours differ from its parent\'s is refused with the field and the fix', { skip: existsSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'planted-parent', 'manifest.json')) ? false : 'models/planted-parent is not present' }, async () => {
  const { RECIPES, trainRecipe } = await import('../src/organisms/recipes.js');
  const planted = RECIPES.planted!;
  const out = mkdtempSync(join(tmpdir(), 'candor-rumours-'));
  const parentDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'planted-parent');
  await assert.rejects(trainRecipe({ ...planted, traits: { ...planted.traits, rumours: true } }, { outDir: out, parentDir, steps: 1 }), (e: Error) => e.name === 'RecipeError' && /traits\.rumours is true.*without rumours.*Fix: set traits\.rumours to false/.test(e.message));
});
