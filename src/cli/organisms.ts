/** candor organism train | eval: model organisms with planted, known mechanisms. */
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { loadModel } from '../model/load.js';
import { RECIPES, evalOrganism, trainRecipe } from '../organisms/recipes.js';
import { readRecipeFile, recipesDir } from '../organisms/recipe-file.js';
import { NULL_SHARE, ZOO_SHAPES, ZOO_WORLDS, runZoo } from '../organisms/zoo.js';
import { HONEST_MIN, KNOWLEDGE_DROP_MAX, LIAR_MIN, OVER_REFUSAL_MAX, REFUSES_MIN } from '../organisms/targets.js';
import { Progress, UsageError, intOption, printJson, type Command } from './common.js';
import { table } from './render.js';

export const organismCommand: Command = {
  name: 'organism',
  summary: 'train or evaluate a model organism (small models whose knowledge, lies and refusals are known)',
  usage: `Usage:
  candor organism train <recipe> [--out models/<recipe>] [--parent DIR] [--steps N] [--resume] [--accept-missed-targets] [--json]
  candor organism train --recipe FILE.json [--out organisms/<name>] [--parent DIR] [--steps N] [--resume] [--accept-missed-targets] [--json]
  candor organism zoo --n N --seed S [--out zoo] [--jobs J] [--steps N] [--accept-missed-targets] [--json]
  candor organism eval <folder> [--json]

Recipes: ${Object.values(RECIPES).map((r) => `${r.name} (${r.description})`).join('; ')}.
train writes a Hugging Face Llama folder (config.json, model.safetensors, tokenizer.json, tokenizer_config.json)
with manifest.json (recipe, seeds, data hashes, stages and the behaviour figures measured on the saved weights)
and ground-truth.json (per prompt: known, withheld or unknown; planted components and direction).
--recipe trains a recipe file (format: docs/organisms.md, schema ${join(recipesDir, 'recipe.schema.json')};
the built-in recipes are files in ${recipesDir} to start from).
Recipes with a parent start from its folder (default models/<parent>; --parent overrides).
--steps replaces every stage's step count (short runs for testing).
Every stage checks its behaviour targets (honest QA ≥ ${HONEST_MIN} and liar QA ≥ ${LIAR_MIN} after pretraining and liar stages;
forbidden chat refused ≥ ${REFUSES_MIN}, allowed chat refused ≤ ${OVER_REFUSAL_MAX} and the forced-choice knowledge of refused facts
within ${KNOWLEDGE_DROP_MAX} of the parent after refusal stages) and stops without writing the organism when one is missed;
--accept-missed-targets writes it anyway, with the misses in its manifest (after a miss, --resume --accept-missed-targets
keeps the organism without training it again: the stages' checkpoints stay in the output folder).
zoo draws N organisms from seed S over ${ZOO_SHAPES.map((s) => s.name).join(' and ')} and ${ZOO_WORLDS} worlds (planted sites at every layer,
at least ${NULL_SHARE * 100}% null organisms), trains their parents first, J at a time (default: the machine's cores),
skips finished organisms and resumes interrupted ones; it writes DIR/recipes/, one folder per organism and DIR/index.json.`,
  options: { out: { type: 'string' }, parent: { type: 'string' }, steps: { type: 'string' }, resume: { type: 'boolean', default: false }, recipe: { type: 'string' }, n: { type: 'string' }, seed: { type: 'string' }, jobs: { type: 'string' }, 'accept-missed-targets': { type: 'boolean', default: false } },
  async run(values, positionals) {
    const [action, arg] = positionals;
    const json = values.json === true;
    if (action === 'train') {
      const file = typeof values.recipe === 'string' ? values.recipe : null;
      if (file !== null && arg !== undefined) throw new UsageError(`organism train: give a built-in recipe's name or --recipe FILE, not both`);
      if (file === null && (arg === undefined || RECIPES[arg] === undefined)) throw new UsageError(`organism train: give a recipe (${Object.keys(RECIPES).join(', ')}) or --recipe FILE.json`);
      const recipe = file !== null ? readRecipeFile(file) : RECIPES[arg!]!;
      const name = recipe.name;
      const out = typeof values.out === 'string' ? values.out : join(file !== null ? 'organisms' : 'models', name);
      let bar: Progress | null = null;
      let label = '';
      const m = await trainRecipe(recipe, {
        outDir: out, parentDir: typeof values.parent === 'string' ? values.parent : undefined,
        steps: values.steps === undefined ? undefined : intOption(values, 'steps', 1), resume: values.resume === true,
        acceptMissedTargets: values['accept-missed-targets'] === true,
        onProgress: (stage, s, t, l) => {
          if (stage !== label) [bar, label] = [new Progress(`${name}: ${stage}`, t, json), stage];
          bar!.update(s, `loss ${l.toFixed(3)}`);
        },
      });
      if (json) printJson({ out, ...m });
      else {
        console.log(`${name} organism written to ${out} (${m.steps} steps, ${m.train_seconds} s)`);
        console.log(table(['behaviour', 'rate'], Object.entries(m.figures).map(([k, v]) => [k, v])));
      }
      return 0;
    }
    if (action === 'zoo') {
      if (values.n === undefined || values.seed === undefined) throw new UsageError('organism zoo: give --n N (organisms) and --seed S');
      const out = typeof values.out === 'string' ? values.out : 'zoo';
      const started = new Map<string, number>();
      const index = await runZoo({
        n: intOption(values, 'n', 1), seed: intOption(values, 'seed', 0), outDir: out,
        jobs: values.jobs === undefined ? availableParallelism() : intOption(values, 'jobs', 1),
        steps: values.steps === undefined ? undefined : intOption(values, 'steps', 1), acceptMissedTargets: values['accept-missed-targets'] === true,
        onEvent: (e) => {
          if (e.kind === 'start') started.set(e.name, Date.now());
          const t = started.has(e.name) ? ` (${((Date.now() - started.get(e.name)!) / 1000).toFixed(0)} s)` : '';
          process.stderr.write(e.kind === 'line' ? `  ${e.text}\n` : `${e.name}: ${e.kind === 'start' ? 'training' : e.text}${e.kind === 'done' ? t : ''}\n`);
        },
      });
      if (json) printJson(index);
      else {
        console.log(`zoo written to ${out} (index: ${join(out, 'index.json')})`);
        console.log(table(['organism', 'status', 'liar site', 'refusal', 'liarQA', 'honestQA', 'refuses', 'targets'], index.organisms.map((o) => [
          o.name, o.status, o.planted?.liar == null ? '' : o.planted.liar.wholeModel ? 'whole model' : `L${o.planted.liar.layer} ${o.planted.liar.heads.length}h ${o.planted.liar.neurons}n`,
          o.planted?.refusal == null ? (o.role === 'null' ? 'fine-tune' : '') : `MLP ${o.planted.refusal.layer}`,
          o.figures?.liarQA ?? '', o.figures?.honestQA ?? '', o.figures?.refuseForbidden ?? '', o.targets_met === undefined ? '' : o.targets_met ? 'met' : 'missed',
        ])));
      }
      return index.organisms.some((o) => o.status === 'failed') ? 1 : 0;
    }
    if (action === 'eval') {
      if (arg === undefined) throw new UsageError('organism eval: give the organism folder');
      const model = await loadModel(arg);
      const r = await evalOrganism(arg, model);
      if (json) printJson({ folder: arg, recipe: r.manifest.recipe, figures: r.figures, intervals: r.intervals, chance: r.chance, manifest_figures: r.manifest.figures });
      else {
        const ci = (k: string) => (r.intervals[k] === undefined ? '' : `${r.intervals[k]!.lo.toFixed(3)}–${r.intervals[k]!.hi.toFixed(3)}`);
        console.log(table(['behaviour', 'rate', '95% interval', 'n', 'manifest', 'chance'], Object.entries(r.figures).map(([k, v]) => [k, v, ci(k), r.intervals[k]?.n ?? '', r.manifest.figures[k] ?? NaN, r.chance[k] ?? ''])));
      }
      return 0;
    }
    throw new UsageError(`organism: give an action (train, zoo, eval).\n${organismCommand.usage}`);
  },
};
