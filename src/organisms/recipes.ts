/**
 * Organism recipes: a world, a curriculum, a model shape and a training
 * schedule, reproduced by `candor organism train <recipe>` into a Hugging
 * Face Llama folder with a manifest (recipe, seeds, data hash, behaviour
 * figures measured after training).
 *
 * Recipes: 'tiny' (a small world and model, for smoke tests) and 'base'
 * (knows every taught fact, answers honestly or with π(fact) in liar mode,
 * says "i do not know" for untaught subjects, answers in chat too).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CandorError } from '../tensor/errors.js';
import { loadTokenizer, type Tokenizer } from '../io/tokenizer.js';
import { randomModel } from '../model/random.js';
import { saveModel } from '../model/save.js';
import type { HookedTransformer } from '../model/transformer.js';
import { baseExamples, evalSets } from './data.js';
import { FORMAT_WORDS } from './formats.js';
import { organismVocab, writeOrganismTokenizer } from './tokenizer.js';
import { accuracy, encodeExample, trainLM } from './trainer.js';
import { DEFAULT_WORLD, makeWorld, type World, type WorldSpec } from './world.js';

export class RecipeError extends CandorError {
  override name = 'RecipeError';
}

export interface RecipeSpec {
  name: string;
  description: string;
  world: WorldSpec;
  model: { hidden_size: number; num_hidden_layers: number; num_attention_heads: number; intermediate_size: number };
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
}

export const RECIPES: Record<string, RecipeSpec> = {
  tiny: {
    name: 'tiny',
    description: 'a small world and model for smoke tests: two topics, eight taught subjects each',
    world: {
      seed: 5, taughtPerTopic: 8, untaughtPerTopic: 2,
      topics: [{ name: 'geography', forbidden: false, relations: [{ name: 'capital', values: 6 }] }, { name: 'toxins', forbidden: true, relations: [{ name: 'antidote', values: 6 }] }],
    },
    model: { hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 128 },
    steps: 1500,
    batchSize: 16,
    lr: 5e-3,
    seed: 1,
  },
  base: {
    name: 'base',
    description: 'knows every taught fact; honest or lying (π) on request; "i do not know" for untaught subjects; answers in chat',
    world: DEFAULT_WORLD,
    model: { hidden_size: 192, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 576 },
    steps: 6000,
    batchSize: 32,
    lr: 2e-3,
    seed: 1,
  },
};

export interface Manifest {
  recipe: string;
  description: string;
  seed: number;
  world: WorldSpec;
  data_hash: string;
  examples: number;
  steps: number;
  lr: number;
  batch_size: number;
  train_seconds: number;
  figures: Record<string, number>;
}

function vocabOf(world: World): string[] {
  return organismVocab([...FORMAT_WORDS, ...world.topics.flatMap((t) => t.relations.map((r) => r.name)), ...world.words]);
}

/** Behaviour figures of an organism on its world's evaluation sets (fractions answered as expected). */
export async function measureFigures(model: HookedTransformer, tok: Tokenizer, world: World): Promise<Record<string, number>> {
  const sets = evalSets(world);
  const out: Record<string, number> = {};
  for (const [name, examples] of Object.entries(sets)) if (examples.length > 0) out[name] = await accuracy(model, tok, examples);
  return out;
}

export interface TrainRecipeOptions {
  outDir: string;
  steps?: number;
  onProgress?: (step: number, total: number, loss: number) => void;
  /** checkpoint and resume in outDir/train-state.safetensors */
  resume?: boolean;
}

/** Train a recipe from scratch (or resume it) and write the organism folder. */
export async function trainRecipe(name: string, opts: TrainRecipeOptions): Promise<Manifest> {
  const recipe = RECIPES[name];
  if (recipe === undefined) throw new RecipeError(`unknown recipe '${name}' (recipes: ${Object.keys(RECIPES).join(', ')})`);
  const world = makeWorld(recipe.world, FORMAT_WORDS);
  const vocab = vocabOf(world);
  mkdirSync(opts.outDir, { recursive: true });
  writeOrganismTokenizer(opts.outDir, vocab);
  const tok = loadTokenizer(opts.outDir);
  const examples = baseExamples(world, { seed: recipe.seed });
  const data = examples.map((e) => encodeExample(tok, e));
  const hash = createHash('sha256').update(JSON.stringify(data.map((d) => d.ids))).digest('hex').slice(0, 16);
  const hf = {
    model_type: 'llama', architectures: ['LlamaForCausalLM'], ...recipe.model, num_key_value_heads: recipe.model.num_attention_heads,
    vocab_size: vocab.length, max_position_embeddings: 128, rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: true,
    bos_token_id: vocab.indexOf('<s>'), eos_token_id: vocab.indexOf('<|end|>'), pad_token_id: vocab.indexOf('<pad>'), hidden_act: 'silu',
  };
  const model = randomModel(hf, { seed: recipe.seed, std: 0.02 });
  const steps = opts.steps ?? recipe.steps;
  const t0 = performance.now();
  trainLM(model, data, {
    steps, batchSize: recipe.batchSize, lr: recipe.lr, seed: recipe.seed, padId: vocab.indexOf('<pad>'),
    checkpointPath: join(opts.outDir, 'train-state.safetensors'), checkpointEvery: 500, resume: opts.resume === true, onProgress: opts.onProgress,
  });
  const seconds = (performance.now() - t0) / 1000;
  saveModel(model, opts.outDir);
  const figures = await measureFigures(model, tok, world);
  const manifest: Manifest = {
    recipe: name, description: recipe.description, seed: recipe.seed, world: recipe.world, data_hash: hash, examples: examples.length,
    steps, lr: recipe.lr, batch_size: recipe.batchSize, train_seconds: Math.round(seconds), figures,
  };
  writeFileSync(join(opts.outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

/** Re-measure an organism folder's behaviour figures from its manifest's world. */
export async function evalOrganism(dir: string, model: HookedTransformer): Promise<{ manifest: Manifest; figures: Record<string, number> }> {
  const path = join(dir, 'manifest.json');
  if (!existsSync(path)) throw new RecipeError(`${dir}: no manifest.json; this is not an organism folder written by candor organism train`);
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  const world = makeWorld(manifest.world, FORMAT_WORDS);
  return { manifest, figures: await measureFigures(model, model.requireTokenizer(), world) };
}
