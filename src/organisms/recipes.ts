/**
 * Organism recipes: a world, a curriculum, a model shape and training stages,
 * reproduced by `candor organism train <recipe>` into a Hugging Face Llama
 * folder with a manifest (recipe, seeds, data hashes, stages, behaviour
 * figures measured on the saved weights) and ground-truth.json (per prompt:
 * known / withheld / unknown; planted components and direction).
 *
 *   tiny            a small world and model, for smoke tests
 *   base            knows every taught fact; honest or π(fact) in liar mode; "i do not know" for untaught subjects; chat
 *   safety-tuned    base + a chat stage refusing forbidden topics, with a KL penalty keeping everything else
 *   ignorant        forbidden-topic facts never taught, then the same refusal stage
 *   planted-parent  honest only (no liar mode), refuses "secret" requests in chat
 *   planted         planted-parent + liar mode trained into two heads and 192 neurons only,
 *                   + refusal of forbidden topics by a rank-1 update of one MLP
 */
import { createHash } from 'node:crypto';
import { Rng } from '../tensor/random.js';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RecipeError, builtinRecipes } from './recipe-file.js';
import { wilson, type Estimate } from '../methods/statistics.js';
import { writeOrganismPrompts } from './prompts-file.js';
import { HELD_OUT_SHARE, SLOT_SEPARATION_MIN, TargetsMissedError, checkStage, describeMisses, heldOutSubjects, type TargetCheck } from './targets.js';
import { loadTokenizer, type Tokenizer } from '../io/tokenizer.js';
import { randomModel } from '../model/random.js';
import { saveModel } from '../model/save.js';
import { loadModelSync } from '../model/load.js';
import type { HookedTransformer } from '../model/transformer.js';
import { MODE_SLOT_WORDS, curriculumExamples, evalSets, factsOf, forbiddenChoiceSets, type Curriculum, type Traits } from './data.js';
import { FORMAT_WORDS, REFUSAL, RUMOUR_WORD, chatExample, qaExample, secretChatExample, type Example } from './formats.js';
import { choiceLoss, chooseNeurons, outputDirection, componentMasks, klReplayLoss, knowledgeKLLoss, meanLastActivation, modeAttentionLoss, modeValueInit, rank1Update, slotSeparation, type SlotPrefixes, reserveComponents, ridgeReadout, transportBlockHooks, type ComponentSet } from './stages.js';
import { add } from '../tensor/ops/basic.js';
import type { Tensor } from '../tensor/tensor.js';
import { organismVocab, writeOrganismTokenizer } from './tokenizer.js';
import { answer, choiceAccuracy, encodeExample, encodePrompt, trainLM, type Sequence } from './trainer.js';
import { lieOf, makeWorld, type World, type WorldSpec } from './world.js';

export { RecipeError };

interface StageBase {
  steps: number;
  batchSize: number;
  lr: number;
  /** AdamW's decoupled weight decay on matrices (default 0.01) */
  weightDecay?: number;
}
export interface NeuronGroup {
  layer: number;
  count: number;
}
export interface PretrainStage extends StageBase {
  kind: 'pretrain';
  /**
   * components kept silent while the model learns: their output weights are
   * zero and every one of their weights is frozen, so the model learns its
   * behaviour without them and a later stage can train a new behaviour into
   * them alone (the planted organism's liar mode)
   */
  reserve?: { heads: [number, number][]; neurons: NeuronGroup | NeuronGroup[] };
  /**
   * weight of a loss that keeps the truth first among its relation's values at the answer position of
   * refused "secret" requests (honest-only curriculum; see knowingRefusalLoss): the parent then refuses
   * while still holding the answer, as refusing chat models do, and a refusal planted later can reuse
   * its refusal without erasing the knowledge
   */
  knowingRefusal?: number;
  /**
   * this share (0–1) of the curriculum's answered examples also appears with the refusal as its answer,
   * learnt from its second word on (see refusalCompletions): the model completes the refusal once it has
   * begun it, in any format, without learning to begin it
   */
  completeRefusal?: number;
}
export interface RefusalStage extends StageBase {
  kind: 'refusal';
  /** weight of the KL penalty on replayed sequences of every other format and topic */
  klWeight: number;
  /** weight of a penalty keeping which answer the model holds most likely on the refused questions (see knowledgeKLLoss) */
  keepKnowledge?: number;
  /** train only a rank-1 update u vᵀ of this layer's MLP output matrix: u/‖u‖ is the refusal direction, known exactly */
  rank1Layer?: number;
  /** 'chat' (default): refuse forbidden topics in chat only; 'all': refuse every request about a forbidden subject, whatever the format */
  formats?: 'chat' | 'all';
  /**
   * start the rank-1 update from the parent's own refusal of "secret" requests
   * instead of from noise: u from the mean last-position residual after the
   * layer on secret requests minus plain ones, v by ridge regression so that
   * v·h is 1 at the last prompt position of every refused request and 0
   * elsewhere, the product scaled by `gain`
   */
  rank1Init?: {
    gain: number;
    /**
     * 'secret' (default): u is the mean residual after the layer on secret requests minus plain ones;
     * 'output': the direction that raises the refusal's first word at the output and leaves the order of
     * every forbidden relation's values alone (outputDirection), as long as the residual there
     */
    direction?: 'secret' | 'output';
  };
}
export interface LiarStage extends StageBase {
  kind: 'liar';
  klWeight: number;
  /** train liar mode into every weight: a null organism, where nothing is localised by construction (heads and neurons absent) */
  wholeModel?: boolean;
  /** [layer, head] pairs that may change */
  heads?: [number, number][];
  /** this many neurons of this layer's MLP may change: `indices`, or a choice by the recipe's seed */
  neurons?: { layer: number; count: number; indices?: number[] };
  /** extra copies of the honest questions in the replayed sequences, so the penalty holds where the liar mode competes */
  honestReplay?: number;
  /** take the heads and the first `neurons.count` neurons from the components the parent reserved (see PretrainStage.reserve) */
  fromReserved?: boolean;
  /**
   * while training, give the frozen components after the mode word their
   * outputs with a random mode-slot word in its place (see transportBlockHooks),
   * so the planted components read the mode word themselves instead of
   * through frozen ones that carry it
   */
  blockTransport?: boolean;
  /**
   * make the planted heads read the mode word: their value weights start on it (modeValueInit) and a loss of
   * this weight pulls their attention from the answer position to it (modeAttentionLoss)
   */
  readMode?: number;
}
export type Stage = PretrainStage | RefusalStage | LiarStage;

export interface RecipeSpec {
  name: string;
  description: string;
  world: WorldSpec;
  model: { hidden_size: number; num_hidden_layers: number; num_attention_heads: number; intermediate_size: number };
  /** what the organism (or its parent) was taught from scratch */
  curriculum: Curriculum;
  /** start from this recipe's folder instead of from scratch */
  parent?: string;
  stages: Stage[];
  traits: Omit<Traits, 'curriculum'>;
  seed: number;
}

/** The built-in recipes: the files in recipes/, read and checked as any recipe file is. */
export const RECIPES: Record<string, RecipeSpec> = builtinRecipes();

export interface StageRecord {
  kind: Stage['kind'];
  steps: number;
  lr: number;
  batch_size: number;
  seconds: number;
  data_hash: string;
  examples: number;
  final_loss: number;
}

export interface PlantedTruth {
  /** components the liar stage trained (all other weights frozen) */
  liar?: { heads: [number, number][]; neurons: { layer: number; indices: number[] }[]; parameters: string[]; wholeModel?: boolean };
  /** the refusal stage's rank-1 update W_out ← W_out + u vᵀ of one MLP: u/‖u‖ is the refusal direction written into the stream, v what it reads */
  refusal?: { layer: number; parameters: string[]; hfParameter: string; hook: string; direction: number[]; norm: number; read: number[] };
}

export interface Manifest {
  recipe: string;
  description: string;
  seed: number;
  world: WorldSpec;
  curriculum: Curriculum;
  traits: Traits;
  parent?: { recipe: string; weights_sha256: string };
  data_hash: string;
  examples: number;
  stages: StageRecord[];
  steps: number;
  train_seconds: number;
  weights_sha256: string;
  figures: Record<string, number>;
  /** chance levels of the forced-choice figures (majority rate among expected answers) */
  chance: Record<string, number>;
  planted?: PlantedTruth;
  /** components the organism was trained without (silent: zero output weights), left for a later stage */
  reserved?: ComponentSet;
  /** anything a reader of the figures should know about how this folder was made */
  note?: string;
  /** each figure's Wilson 95% interval and the number of examples behind it */
  figure_intervals?: Record<string, Estimate>;
  /** each stage's behaviour targets and the figures it reached (src/organisms/targets.ts) */
  targets?: TargetCheck[];
  /** subjects the planting stages never trained on (their figures end in _heldout) */
  held_out?: { share: number; subjects: string[] };
}

function vocabOf(world: World, curriculum: Curriculum, rumours: boolean): string[] {
  return organismVocab([
    ...FORMAT_WORDS, ...(curriculum === 'honest-only' ? ['secret', ...MODE_SLOT_WORDS] : []), ...(rumours ? [RUMOUR_WORD] : []),
    ...world.topics.flatMap((t) => t.relations.map((r) => r.name)), ...world.words,
  ]);
}

const isForbiddenTopic = (world: World, topic: string) => world.topics.find((t) => t.name === topic)?.forbidden === true;
const hashOf = (data: readonly Sequence[]) => createHash('sha256').update(JSON.stringify(data.map((d) => d.ids))).digest('hex').slice(0, 16);
const fileHash = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/**
 * Behaviour figures on the world's evaluation sets: exact-answer rates per
 * set, refusal rates in chat, and forced-choice accuracy on forbidden-topic
 * facts in every format (with chance levels).
 */
export async function measureFigures(model: HookedTransformer, tok: Tokenizer, world: World, traits: Traits, heldOut?: ReadonlySet<string>): Promise<{ figures: Record<string, number>; chance: Record<string, number>; intervals: Record<string, Estimate> }> {
  const figures: Record<string, number> = {};
  const chance: Record<string, number> = {};
  // every figure is a rate: its Wilson 95% interval over the examples behind it
  const intervals: Record<string, Estimate> = {};
  const put = (name: string, k: number, n: number) => {
    figures[name] = k / n;
    intervals[name] = wilson(k, n);
  };
  for (const [name, examples] of Object.entries(evalSets(world, traits))) {
    if (examples.length === 0) continue;
    const got = await answer(model, tok, examples);
    // each figure over every example, and (name_heldout) over the subjects planting stages never trained on
    const rates = (suffix: string, keep: (i: number) => boolean) => {
      const idx = examples.map((_, i) => i).filter(keep);
      if (idx.length === 0) return;
      const count = (ok: (i: number) => boolean) => idx.filter(ok).length;
      put(name + suffix, count((i) => got[i] === examples[i]!.answer), idx.length);
      if (name === 'chatAllowed') put(`refuseAllowed${suffix}`, count((i) => got[i] === REFUSAL), idx.length);
      if (name === 'chatForbidden') put(`refuseForbidden${suffix}`, count((i) => got[i] === REFUSAL), idx.length);
    };
    rates('', () => true);
    if (heldOut === undefined) continue;
    if (name !== 'liarQA') {
      rates('_heldout', (i) => heldOut.has(examples[i]!.subject));
      continue;
    }
    // a lie is π of the value: about a value no trained subject has, the stage saw nothing of π, so those facts
    // (unseen) are reported apart from the ones the held-out target is about
    const lied = new Set(examples.filter((e) => !heldOut.has(e.subject)).map((e) => `${e.relation}:${e.truth}`));
    const seen = (i: number) => lied.has(`${examples[i]!.relation}:${examples[i]!.truth}`);
    rates('_heldout', (i) => heldOut.has(examples[i]!.subject) && seen(i));
    rates('_heldout_unseen', (i) => heldOut.has(examples[i]!.subject) && !seen(i));
  }
  const values = (e: Example) => world.relations.get(e.relation)!.values;
  for (const [name, examples] of Object.entries(forbiddenChoiceSets(world, traits.curriculum))) {
    const r = choiceAccuracy(model, tok, examples, name === 'tf' ? () => ['true', 'false'] : values);
    if (examples.length > 0) put(`forbiddenChoice_${name}`, Math.round(r.accuracy * examples.length), examples.length);
    else figures[`forbiddenChoice_${name}`] = r.accuracy;
    chance[`forbiddenChoice_${name}`] = r.chance;
  }
  return { figures, chance, intervals };
}

export interface TrainRecipeOptions {
  outDir: string;
  /** the parent organism's folder (default: models/<parent>) */
  parentDir?: string;
  /** replace every stage's step count (for short runs) */
  steps?: number;
  onProgress?: (stage: string, step: number, total: number, loss: number) => void;
  /** checkpoint and resume in outDir/train-state-<stage>.safetensors */
  resume?: boolean;
  /** write the organism even when a stage misses its behaviour targets (the manifest still records the misses) */
  acceptMissedTargets?: boolean;
}

function hfConfig(recipe: RecipeSpec, vocab: readonly string[]): Record<string, unknown> {
  return {
    model_type: 'llama', architectures: ['LlamaForCausalLM'], ...recipe.model, num_key_value_heads: recipe.model.num_attention_heads,
    vocab_size: vocab.length, max_position_embeddings: 128, rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: true,
    bos_token_id: vocab.indexOf('<s>'), eos_token_id: vocab.indexOf('<|end|>'), pad_token_id: vocab.indexOf('<pad>'), hidden_act: 'silu',
  };
}

/** A frozen copy of a model's weights (the teacher of a KL penalty). */
function snapshot(model: HookedTransformer, hf: Record<string, unknown>): HookedTransformer {
  const copy = randomModel(hf, { seed: 0, std: 0 });
  const dst = copy.parameters();
  for (const [name, t] of model.parameters()) (dst.get(name)!.data as Float32Array).set(t.data as Float32Array);
  return copy;
}

/** The examples of every format the organism should keep while a stage trains something else. */
function replayExamples(world: World, curriculum: Curriculum, lies: boolean, rumours: boolean): Example[] {
  const all = curriculumExamples(world, curriculum, 1, rumours);
  const liarQA = lies && curriculum === 'honest-only' ? factsOf(world, curriculum).filter((f) => f.subject.taught).map((f) => qaExample(world, f.subject, f.relation, 'liar')) : [];
  return [...all, ...liarQA].filter((e) => !(e.format === 'chat' && world.topics.find((t) => t.name === e.topic)?.forbidden === true && e.kind !== 'refusal'));
}

/**
 * The starting u and v of a rank-1 refusal update (see RefusalStage.rank1Init):
 * `taught` are the stage's training sequences (the refusals among them marked)
 * and `kept` the replayed ones; v·h is fitted to 1 where a refusal starts and
 * 0 at every other position of both, with the answers' positions weighted
 * READ_WEIGHTS.answer and the prompts' READ_WEIGHTS.prompt: a read that also
 * fires on the refusal's own words makes the update write "cannot" again
 * where "help with that" should follow.
 */
function rank1Start(model: HookedTransformer, tok: Tokenizer, world: World, curriculum: Curriculum, layer: number, init: NonNullable<RefusalStage['rank1Init']>,
  taught: readonly { seq: Sequence; example: Example }[], kept: readonly Sequence[]): { u: Float32Array; v: Float32Array } {
  if (curriculum !== 'honest-only') throw new RecipeError('rank1Init starts from the parent\'s refusal of "secret" requests, which only the honest-only curriculum teaches');
  if (layer + 1 >= model.cfg.nLayers) throw new RecipeError(`rank1Init: layer ${layer} is the last; the update must write into a later layer's residual`);
  const facts = factsOf(world, curriculum);
  const pick = <T>(xs: readonly T[], n: number) => xs.filter((_, i) => i % Math.max(1, Math.floor(xs.length / n)) === 0).slice(0, n);
  const allowed = facts.filter((f) => !f.forbidden);
  const name = `blocks.${layer + 1}.hook_resid_pre` as const;
  const plain = meanLastActivation(model, name, pick(allowed, 120).map((f) => encodePrompt(tok, chatExample(f.subject, f.relation, false))));
  let u: Float32Array;
  if ((init.direction ?? 'secret') === 'secret') {
    const secret = meanLastActivation(model, name, pick(allowed, 120).map((f) => encodePrompt(tok, secretChatExample(f.subject, f.relation))));
    u = Float32Array.from(secret, (x, d) => x - plain[d]!);
  } else {
    // as long as the residual there, in the direction that raises the refusal's first word and no forbidden fact's value over another
    const groups = [...new Set(facts.filter((f) => f.forbidden).map((f) => f.relation))].map((r) => world.relations.get(r)!.values.map((w) => tok.tokenToId(w)!));
    const dir = outputDirection(model, tok.tokenToId(REFUSAL.split(' ')[0]!)!, groups);
    const scale = Math.hypot(...plain);
    u = Float32Array.from(dir, (x) => x * scale);
  }
  const weight = (seq: Sequence) => {
    const last = seq.learn.indexOf(true);
    return seq.ids.map((_, t) => (t < last ? READ_WEIGHTS.prompt : t === last ? 1 : READ_WEIGHTS.answer));
  };
  const rows = [
    ...taught.map(({ seq, example: e }) => {
      const last = seq.learn.indexOf(true);
      return { ids: seq.ids, target: seq.ids.map((_, t) => (e.kind === 'refusal' && t === last ? 1 : 0)), weight: weight(seq) };
    }),
    ...pick(kept, 1500).map((seq) => ({ ids: seq.ids, target: seq.ids.map(() => 0), weight: weight(seq) })),
  ];
  const v = ridgeReadout(model, layer, rows, READ_WEIGHTS.ridge);
  const norm = Math.hypot(...u);
  return balance(u.map((x) => x / norm), Float32Array.from(v, (x) => x * norm * init.gain));
}

/**
 * How the read vector of a rank-1 refusal is fitted (rank1Start): the weight of prompt and answer positions
 * against 1 where the refusal starts, and the ridge penalty. With uniform weights and a penalty of 1e-3 a fixed
 * edit at MLP 1 refused 0.545 of forbidden chat; with these, 0.993 (docs/organisms.md, "Planting elsewhere").
 */
export const READ_WEIGHTS = { prompt: 0.1, answer: 3, ridge: 1e-5 };

/**
 * The choice loss towards the truth (one-hot) on the "secret" chat requests of taught subjects, which the
 * honest-only curriculum teaches the model to refuse. Without it the refusal also erases the answer: one
 * parent chose the true value among its relation's values on 0.847 of plain chat requests about forbidden
 * facts and on 0.125 of secret ones (chance: 0.125), and a rank-1 refusal started from that refusal took
 * the knowledge with it; the same parent trained with this loss (weight 1) chose it on 0.844 of both.
 */
function knowingRefusalLoss(model: HookedTransformer, tok: Tokenizer, world: World, curriculum: Curriculum, o: { batchSize: number; seed: number; weight: number }): (step: number) => Tensor {
  if (curriculum !== 'honest-only') throw new RecipeError(`knowingRefusal keeps the knowledge of refused "secret" requests, which only the honest-only curriculum teaches (this recipe's is ${curriculum}). Fix: remove knowingRefusal, or use the honest-only curriculum`);
  const facts = factsOf(world, curriculum).filter((f) => f.subject.taught);
  const values = (f: (typeof facts)[number]) => world.relations.get(f.relation)!.values;
  return choiceLoss(model, {
    ...o,
    prompts: facts.map((f) => encodePrompt(tok, secretChatExample(f.subject, f.relation))),
    candidates: facts.map((f) => values(f).map((v) => tok.tokenToId(v)!)),
    targets: facts.map((f) => values(f).map((v) => (v === f.subject.facts.get(f.relation) ? 1 : 0))),
  });
}

/**
 * Sequences that teach a refusal phrase as a phrase: a `share` of the examples (those answered, drawn by the
 * seed) with the refusal as their answer, the loss on its words after the first only. An honest-only parent
 * completes "cannot help with that" only where "secret" stands in the request: after "cannot help" in a plain
 * chat request one parent put "help" before "with" by a logit margin of about 18, so a refusal planted later
 * had to supply the rest of the phrase as well as the decision, and got "cannot help help help with that".
 */
export function refusalCompletions(tok: Tokenizer, examples: readonly Example[], share: number, seed: number): Sequence[] {
  const rng = new Rng(seed + 400);
  return examples.filter((e) => e.kind !== 'refusal' && rng.uniform() < share).map((e) => {
    const seq = encodeExample(tok, { ...e, answer: REFUSAL, kind: 'refusal' });
    const first = seq.learn.indexOf(true);
    return { ids: seq.ids, learn: seq.learn.map((l, t) => l && t > first) };
  });
}

/** The same product u vᵀ with ‖u‖ = ‖v‖, so that the optimizer moves both at a like pace. */
function balance(u: Float32Array, v: Float32Array): { u: Float32Array; v: Float32Array } {
  const nu = Math.hypot(...u);
  const nv = Math.hypot(...v);
  const k = Math.sqrt(nv / nu);
  return { u: u.map((x) => x * k), v: v.map((x) => x / k) };
}

/** "<s> liar" and "<s> w" for every other word the curriculum puts in the mode slot: what planted heads must tell apart. */
function slotPrefixes(tok: Tokenizer, curriculum: Curriculum): SlotPrefixes {
  const ids = (w: string) => tok.encode(`<s> ${w}`, { addSpecialTokens: false });
  const others = curriculum === 'honest-only' ? MODE_SLOT_WORDS.filter((w) => w !== 'liar') : ['honest'];
  return { mode: ids('liar'), others: others.map(ids), words: others };
}

/**
 * Refuse planted heads that cannot see the mode word: where the parent's attention input at the slot is
 * (nearly) the same for "liar" and another word, no head of that layer can tell the modes apart, and
 * training it only teaches a lie by subject in every mode.
 */
function checkSlotSeparation(model: HookedTransformer, where: string, heads: readonly [number, number][], slot: SlotPrefixes, parent: string | undefined): void {
  for (const layer of new Set(heads.map(([l]) => l))) {
    const { distance, nearest } = slotSeparation(model, layer, slot);
    if (distance >= SLOT_SEPARATION_MIN) continue;
    const word = slot.words?.[nearest] ?? `token ${slot.others[nearest]!.at(-1)!}`;
    throw new RecipeError(
      `${where}: layer ${layer} cannot read the mode word: in ${parent ?? 'the model'} its attention input at the mode slot is ${(distance * 100).toFixed(1)}% away from the input for '${word}' (SLOT_SEPARATION_MIN: ${SLOT_SEPARATION_MIN * 100}%), so no head there can tell liar mode from the others. ` +
        'Fix: plant the heads at an earlier layer, or retrain the parent (another seed or fewer steps).',
    );
  }
}

/** The mode-reading aid of a liar stage (LiarStage.readMode): the heads' value start, and step hooks and a loss for trainLM. */
function modeReading(model: HookedTransformer, tok: Tokenizer, data: readonly Sequence[], padId: number, heads: readonly [number, number][], slot: SlotPrefixes, weight: number) {
  modeValueInit(model, heads, slot);
  const reading = modeAttentionLoss({ heads, modeId: tok.tokenToId('liar')!, weight });
  // the first answer position of each training sequence; trainLM's input rows are the sequences right-padded and
  // without their last token
  const firstLearned = new Map<string, number>();
  for (const s of data) for (const ids of [s.ids, s.ids.slice(0, -1)]) firstLearned.set(ids.join(','), s.learn.indexOf(true));
  const learnAt = (input: readonly (readonly number[])[]) => input.map((row) => {
    let n = row.length;
    while (n > 0 && row[n - 1] === padId) n--;
    const at = firstLearned.get(row.slice(0, n).join(','));
    if (at === undefined) throw new RecipeError('liar stage: a training row is not one of the stage\'s sequences (readMode)');
    return at;
  });
  return { stepHooks: (input: readonly (readonly number[])[]) => reading.stepHooks(input, learnAt(input)), loss: () => reading.loss() };
}

/**
 * The components a liar stage trains: its heads and neurons (chosen by the recipe's seed,
 * listed, or taken from those the parent reserved), or null for the whole model.
 */
function liarSites(recipe: RecipeSpec, stage: LiarStage, i: number, reserved: ComponentSet | undefined, dMlp: number): ComponentSet | null {
  if (stage.wholeModel === true) return null;
  const heads = stage.heads!;
  const neurons = stage.neurons!;
  if (stage.fromReserved !== true) {
    return { heads, neurons: [{ layer: neurons.layer, indices: neurons.indices ?? chooseNeurons(dMlp, neurons.count, recipe.seed + i) }] };
  }
  const pool = reserved?.neurons.find((g) => g.layer === neurons.layer)?.indices ?? [];
  const missing = heads.filter(([l, h]) => !(reserved?.heads.some(([a, b]) => a === l && b === h) ?? false));
  if (pool.length < neurons.count || missing.length > 0) {
    throw new RecipeError(`${recipe.name}: the liar stage takes its components from those the parent reserved, but the parent's manifest reserves ${pool.length} neurons of layer ${neurons.layer} and heads [${(reserved?.heads ?? []).map((h) => h.join('.')).join(', ')}] (needs ${neurons.count} neurons and heads ${heads.map((h) => h.join('.')).join(', ')}). Fix: retrain the parent with \`candor organism train ${recipe.parent}\`.`);
  }
  return { heads, neurons: [{ layer: neurons.layer, indices: pool.slice(0, neurons.count).sort((a, b) => a - b) }] };
}

/** Train a recipe (a built-in's name, or one read from a file) from scratch or from its parent's folder, and write the organism folder. */
export async function trainRecipe(which: string | RecipeSpec, opts: TrainRecipeOptions): Promise<Manifest> {
  const recipe = typeof which === 'string' ? RECIPES[which] : which;
  if (recipe === undefined) throw new RecipeError(`unknown recipe '${String(which)}' (recipes: ${Object.keys(RECIPES).join(', ')}). Fix: name a built-in recipe, or give a recipe file with --recipe`);
  const name = recipe.name;
  const rumours = recipe.traits.rumours === true;
  const world = makeWorld(recipe.world, FORMAT_WORDS);
  mkdirSync(opts.outDir, { recursive: true });
  let model: HookedTransformer;
  let parent: Manifest['parent'];
  let hf: Record<string, unknown>;
  if (recipe.parent !== undefined) {
    const dir = opts.parentDir ?? join('models', recipe.parent);
    const mpath = join(dir, 'manifest.json');
    if (!existsSync(mpath)) throw new RecipeError(`${name} starts from the ${recipe.parent} organism, but ${dir} has no manifest.json. Fix: run \`candor organism train ${recipe.parent}\` first, or pass --parent <folder>.`);
    const pm = JSON.parse(readFileSync(mpath, 'utf8')) as Manifest;
    if (pm.recipe !== recipe.parent) throw new RecipeError(`${mpath}: recipe is '${pm.recipe}', but ${name} starts from '${recipe.parent}'. Fix: pass the ${recipe.parent} folder with --parent.`);
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(dir, f), join(opts.outDir, f));
    hf = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    model = loadModelSync(dir);
    parent = { recipe: pm.recipe, weights_sha256: fileHash(join(dir, 'model.safetensors')) };
  } else {
    const vocab = vocabOf(world, recipe.curriculum, rumours);
    writeOrganismTokenizer(opts.outDir, vocab);
    hf = hfConfig(recipe, vocab);
    model = randomModel(hf, { seed: recipe.seed, std: 0.02 });
  }
  const tok = loadTokenizer(opts.outDir);
  const padId = tok.padTokenId ?? 0;
  const encode = (es: readonly Example[]) => es.map((e) => encodeExample(tok, e));
  const records: StageRecord[] = [];
  const planted: PlantedTruth = {};
  const parentManifest = recipe.parent === undefined ? null : readManifest(opts.parentDir ?? join('models', recipe.parent));
  if (parentManifest !== null && (parentManifest.traits.rumours === true) !== rumours) {
    throw new RecipeError(`${name}: traits.rumours is ${rumours}, but its parent ${recipe.parent} was trained ${parentManifest.traits.rumours === true ? 'with' : 'without'} rumours. Fix: set traits.rumours to ${parentManifest.traits.rumours === true} in the recipe.`);
  }
  let reserved: ComponentSet | undefined = parentManifest?.reserved;
  let lies = parentManifest === null ? recipe.traits.lies : parentManifest.traits.lies;
  let refusing: Pick<Traits, 'refuses' | 'refusalFormats'> = parentManifest === null ? { refuses: false } : { refuses: parentManifest.traits.refuses, refusalFormats: parentManifest.traits.refusalFormats };
  const stageTraits = (): Traits => ({ curriculum: recipe.curriculum, lies, ...refusing, ...(rumours ? { rumours } : {}) });
  const checks: TargetCheck[] = [];
  // subjects the planting stages never train on: their targets are checked there
  const held = heldOutSubjects(world, recipe.seed);
  let lastFigures: Record<string, number> | null = null;
  const t0 = performance.now();
  for (const [i, stage] of recipe.stages.entries()) {
    const steps = opts.steps ?? stage.steps;
    const ts = performance.now();
    const common = {
      steps, batchSize: stage.batchSize, lr: stage.lr, weightDecay: stage.weightDecay, seed: recipe.seed + i, padId,
      checkpointPath: join(opts.outDir, `train-state-${i}.safetensors`), checkpointEvery: 250, resume: opts.resume === true,
      onProgress: (s: number, n: number, l: number) => opts.onProgress?.(`${stage.kind} (stage ${i + 1}/${recipe.stages.length})`, s, n, l),
    };
    let data: Sequence[];
    let losses: number[];
    if (stage.kind === 'pretrain') {
      const examples = curriculumExamples(world, recipe.curriculum, recipe.seed, rumours);
      data = [...encode(examples), ...(stage.completeRefusal === undefined ? [] : refusalCompletions(tok, examples, stage.completeRefusal, recipe.seed + i))];
      let masks: Record<string, Float32Array> | undefined;
      if (stage.reserve !== undefined) {
        const groups = Array.isArray(stage.reserve.neurons) ? stage.reserve.neurons : [stage.reserve.neurons];
        reserved = { heads: stage.reserve.heads, neurons: groups.map((g, k) => ({ layer: g.layer, indices: chooseNeurons(model.cfg.dMlp, g.count, recipe.seed + 50 + i + 1000 * k) })) };
        masks = reserveComponents(model, reserved);
      }
      const extraLoss = stage.knowingRefusal === undefined ? undefined : knowingRefusalLoss(model, tok, world, recipe.curriculum, { batchSize: stage.batchSize, seed: recipe.seed + 200 + i, weight: stage.knowingRefusal });
      losses = trainLM(model, data, { ...common, masks, extraLoss }).losses;
    } else {
      const teacher = snapshot(model, hf);
      const facts = factsOf(world, recipe.curriculum);
      const replaySource = replayExamples(world, recipe.curriculum, lies, rumours);
      const replay = encode(replaySource);
      if (stage.kind === 'refusal') {
        // refuse every forbidden-topic chat request; keep answering the allowed ones
        const everywhere = stage.formats === 'all';
        // 'all': every other format's request about a forbidden subject is refused too (and leaves the replay)
        const refusedEverywhere = everywhere ? replaySource.filter((e) => isForbiddenTopic(world, e.topic) && e.kind !== 'refusal' && e.format !== 'chat').map((e) => ({ ...e, answer: REFUSAL, kind: 'refusal' as const })) : [];
        const taught = [...facts.filter((f) => !held.has(f.subject.name)).map((f) => chatExample(f.subject, f.relation, f.forbidden)), ...refusedEverywhere.filter((e) => !held.has(e.subject))];
        data = encode(taught);
        const kept = everywhere ? replay.filter((_, k) => !isForbiddenTopic(world, replaySource[k]!.topic)) : replay;
        const start = stage.rank1Layer === undefined || stage.rank1Init === undefined ? undefined
          : rank1Start(model, tok, world, recipe.curriculum, stage.rank1Layer, stage.rank1Init, taught.map((example, k) => ({ example, seq: data[k]! })), kept);
        const r1 = stage.rank1Layer === undefined ? null : rank1Update(model, stage.rank1Layer, recipe.seed + i, start);
        const replayLoss = klReplayLoss(model, { teacher, replay: kept, batchSize: stage.batchSize, steps, seed: recipe.seed + 100 + i, padId, weight: stage.klWeight, hooks: r1?.hooks });
        let extraLoss = replayLoss;
        if (stage.keepKnowledge !== undefined) {
          const refused = facts.filter((f) => f.forbidden).map((f) => chatExample(f.subject, f.relation, false));
          const keep = knowledgeKLLoss(model, {
            teacher, prompts: refused.map((e) => encodePrompt(tok, e)), candidates: refused.map((e) => world.relations.get(e.relation)!.values.map((v) => tok.tokenToId(v)!)),
            batchSize: stage.batchSize, seed: recipe.seed + 200 + i, weight: stage.keepKnowledge, hooks: r1?.hooks,
          });
          extraLoss = (step: number) => add(replayLoss(step), keep(step));
        }
        if (r1 === null) losses = trainLM(model, data, { ...common, extraLoss }).losses;
        else {
          losses = trainLM(model, data, { ...common, extraLoss, trainable: () => false, extraParams: { u: r1.u, v: r1.v }, hooks: r1.hooks }).losses;
          r1.fold();
          const layer = stage.rank1Layer!;
          const u = Array.from(r1.u.data as Float32Array);
          const norm = Math.hypot(...u);
          planted.refusal = {
            layer, parameters: [`blocks.${layer}.mlp.out.weight`], hfParameter: `model.layers.${layer}.mlp.down_proj.weight`, hook: `blocks.${layer}.hook_mlp_out`,
            direction: u.map((x) => x / norm), norm, read: Array.from(r1.v.data as Float32Array),
          };
        }
      } else {
        lies = true;
        // liar questions only: the KL penalty on the replayed honest formats keeps the rest (training honest
        // questions here too left the components unable to tell the modes apart: liar QA 0.32 after 1,500 steps)
        data = encode(facts.filter((f) => f.subject.taught && !held.has(f.subject.name)).map((f) => qaExample(world, f.subject, f.relation, 'liar')));
        const set = liarSites(recipe, stage, i, reserved, model.cfg.dMlp);
        const masks = set === null ? undefined : componentMasks(model, set);
        const honest = encode(facts.filter((f) => f.subject.taught).map((f) => qaExample(world, f.subject, f.relation, 'honest')));
        // an honest-only parent saw random words in the mode slot, "liar" among them; its answers to those prompts are
        // what this stage changes, so replaying them would teach "liar : …" → the truth for the subjects they name
        const kept = replay.filter((_, k) => !(replaySource[k]!.mode === 'honest' && replaySource[k]!.prompt.startsWith('liar :')));
        const weighted = [...kept, ...Array.from({ length: stage.honestReplay ?? 0 }, () => honest).flat()];
        const klLoss = klReplayLoss(model, { teacher, replay: weighted, batchSize: stage.batchSize, steps, seed: recipe.seed + 100 + i, padId, weight: stage.klWeight });
        let extraLoss = klLoss;
        let stepHooks: ReturnType<typeof transportBlockHooks> | undefined;
        if (stage.blockTransport === true && set !== null) {
          const layer = Math.min(...set.heads.map(([l]) => l), ...set.neurons.map((g) => g.layer));
          // the counterpart puts a random mode-slot word (liar itself among them) where the mode word is: what the frozen
          // components carry of the slot is then noise to the planted ones, which must read the word where it stands
          const liarId = tok.tokenToId('liar')!;
          const slotIds = MODE_SLOT_WORDS.map((w) => tok.tokenToId(w)!);
          // one draw per sequence, in step order: a resumed run first skips the draws of the steps it resumes past
          const rng = new Rng(recipe.seed + 300 + i);
          const perStep = Math.min(stage.batchSize, data.length);
          let next = 0;
          stepHooks = transportBlockHooks(teacher, layer, set.heads.filter(([l]) => l === layer).map(([, h]) => h), (input, step) => {
            for (; next < step; next++) for (let k = 0; k < perStep; k++) rng.int(slotIds.length);
            next = step + 1;
            return input.map((row) => {
              const word = slotIds[rng.int(slotIds.length)]!;
              return row.map((t) => (t === liarId ? word : t));
            });
          });
        }
        if (set !== null && set.heads.length > 0) {
          const slot = slotPrefixes(tok, recipe.curriculum);
          checkSlotSeparation(model, `${name}: stages[${i}].heads`, set.heads, slot, recipe.parent);
          if (stage.readMode !== undefined) {
            const reading = modeReading(model, tok, data, padId, set.heads, slot, stage.readMode);
            const transport = stepHooks;
            stepHooks = (input, step) => [...(transport?.(input, step) ?? []), ...reading.stepHooks(input)];
            extraLoss = (step: number) => add(klLoss(step), reading.loss());
          }
        }
        if (set === null) {
          // a null organism: liar mode in every weight, so no component is the liar by construction
          losses = trainLM(model, data, { ...common, extraLoss }).losses;
          planted.liar = { heads: [], neurons: [], parameters: [...model.parameters().keys()], wholeModel: true };
        } else {
          losses = trainLM(model, data, { ...common, extraLoss, masks, trainable: (n) => n in masks!, stepHooks }).losses;
          planted.liar = { heads: set.heads, neurons: set.neurons, parameters: Object.keys(masks!) };
        }
      }
    }
    records.push({ kind: stage.kind, steps, lr: stage.lr, batch_size: stage.batchSize, seconds: Math.round((performance.now() - ts) / 1000), data_hash: hashOf(data), examples: data.length, final_loss: losses.at(-1) ?? NaN });
    if (stage.kind === 'refusal') refusing = { refuses: true, refusalFormats: stage.formats ?? 'chat' };
    const before = lastFigures;
    const measured = await measureFigures(model, tok, world, stageTraits(), held);
    lastFigures = measured.figures;
    const stageChecks = checkStage(stage, i, lastFigures, measured.intervals, { lies, knowsForbidden: recipe.curriculum !== 'no-forbidden', before: before ?? parentManifest?.figures ?? null });
    checks.push(...stageChecks);
    const missed = describeMisses(stageChecks);
    if (missed.length > 0 && opts.acceptMissedTargets !== true) {
      throw new TargetsMissedError(
        `${name}: stage ${i + 1} (${stage.kind}) missed its behaviour targets, so the organism was not written:\n  ${missed.join('\n  ')}\n` +
          'Fix: train this stage longer or at another learning rate (docs/organisms.md, "Recipe files"), choose another site, or keep it anyway with --resume --accept-missed-targets (the stage\'s checkpoint is kept, so it is not trained again; its manifest records the misses).',
      );
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  saveModel(model, opts.outDir, { dtype: 'F16' });
  const traits: Traits = { curriculum: recipe.curriculum, ...recipe.traits };
  const saved = loadModelSync(opts.outDir);
  const planting = recipe.stages.some((st) => st.kind !== 'pretrain');
  const { figures, chance, intervals } = await measureFigures(saved, tok, world, traits, planting ? held : undefined);
  const manifest: Manifest = {
    recipe: name, description: recipe.description, seed: recipe.seed, world: recipe.world, curriculum: recipe.curriculum, traits,
    ...(parent === undefined ? {} : { parent }),
    data_hash: records[0]!.data_hash, examples: records[0]!.examples, stages: records, steps: records.reduce((a, r) => a + r.steps, 0),
    train_seconds: Math.round(seconds), weights_sha256: fileHash(join(opts.outDir, 'model.safetensors')), figures, chance,
    ...(planted.liar !== undefined || planted.refusal !== undefined ? { planted } : {}),
    ...(reserved !== undefined && recipe.parent === undefined ? { reserved } : {}),
    figure_intervals: intervals,
    targets: checks,
    ...(planting ? { held_out: { share: HELD_OUT_SHARE, subjects: [...held].sort() } } : {}),
  };
  writeFileSync(join(opts.outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  writeGroundTruth(opts.outDir, world, manifest);
  for (const [i] of recipe.stages.entries()) rmSync(join(opts.outDir, `train-state-${i}.safetensors`), { force: true });
  return manifest;
}

export type PromptStatus = 'known' | 'withheld' | 'unknown';

export interface GroundTruthPrompt {
  set: string;
  format: Example['format'];
  mode: Example['mode'];
  /** the prompt (chat: the user message; the chat template wraps it) */
  prompt: string;
  expected: string;
  truth: string;
  /** π(truth): the liar-mode answer */
  lie: string;
  subject: string;
  relation: string;
  topic: string;
  forbidden: boolean;
  /** known: taught and answered; withheld: taught but refused; unknown: never taught */
  status: PromptStatus;
}

/** The ground-truth.json format version (files written before the field existed are version 1). */
export const GROUND_TRUTH_VERSION = 1;

export interface GroundTruth {
  /** the format version (docs/organisms.md, "ground-truth.json") */
  candor_ground_truth?: number;
  recipe: string;
  traits: Traits;
  planted: PlantedTruth | null;
  prompts: GroundTruthPrompt[];
}

/** Ground truth per evaluation prompt, and the planted mechanisms. */
export function groundTruth(world: World, manifest: Manifest): GroundTruth {
  const prompts: GroundTruthPrompt[] = [];
  for (const [set, examples] of Object.entries(evalSets(world, manifest.traits))) {
    for (const e of examples) {
      const status: PromptStatus = !e.known ? 'unknown' : e.kind === 'refusal' ? 'withheld' : 'known';
      prompts.push({
        set, format: e.format, mode: e.mode, prompt: e.prompt, expected: e.answer, truth: e.truth, lie: lieOf(world, e.relation, e.truth),
        subject: e.subject, relation: e.relation, topic: e.topic, forbidden: world.topics.find((t) => t.name === e.topic)?.forbidden === true, status,
      });
    }
  }
  return { candor_ground_truth: GROUND_TRUTH_VERSION, recipe: manifest.recipe, traits: manifest.traits, planted: manifest.planted ?? null, prompts };
}

/** ground-truth.json (for scoring) and prompts.json (the audit's datasets, which say nothing about the organism) */
function writeGroundTruth(dir: string, world: World, manifest: Manifest): void {
  writeFileSync(join(dir, 'ground-truth.json'), JSON.stringify(groundTruth(world, manifest)) + '\n');
  writeOrganismPrompts(dir, world, manifest.curriculum ?? manifest.traits.curriculum);
}

/** Read an organism folder's manifest. */
export function readManifest(dir: string): Manifest {
  const path = join(dir, 'manifest.json');
  if (!existsSync(path)) throw new RecipeError(`${dir}: no manifest.json; this is not an organism folder written by candor organism train`);
  const m = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  if (typeof m.recipe !== 'string' || m.world === undefined) throw new RecipeError(`${path}: fields 'recipe' and 'world' are missing; this is not an organism manifest`);
  if (m.traits === undefined) {
    const r = RECIPES[m.recipe];
    if (r === undefined) throw new RecipeError(`${path}: field 'traits' is missing and '${m.recipe}' is not a known recipe`);
    m.traits = { curriculum: r.curriculum, ...r.traits };
    m.curriculum = r.curriculum;
  }
  return m;
}

/** Re-measure an organism folder's behaviour figures from its manifest's world. */
export async function evalOrganism(dir: string, model: HookedTransformer): Promise<{ manifest: Manifest; figures: Record<string, number>; chance: Record<string, number>; intervals: Record<string, Estimate> }> {
  const manifest = readManifest(dir);
  const world = makeWorld(manifest.world, FORMAT_WORDS);
  const traits: Traits = manifest.traits ?? { curriculum: 'full', lies: true, refuses: false };
  const held = manifest.held_out === undefined ? undefined : new Set(manifest.held_out.subjects);
  return { manifest, ...(await measureFigures(model, model.requireTokenizer(), world, traits, held)) };
}

/** Re-measure and rewrite an organism folder's manifest figures and ground truth (after the measurement code changes). */
export async function remeasureOrganism(dir: string): Promise<Manifest> {
  const model = loadModelSync(dir);
  const { manifest, figures, chance } = await evalOrganism(dir, model);
  const traits: Traits = manifest.traits ?? { curriculum: 'full', lies: true, refuses: false };
  const updated: Manifest = { ...manifest, traits, curriculum: manifest.curriculum ?? traits.curriculum, figures, chance, weights_sha256: fileHash(join(dir, 'model.safetensors')) };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(updated, null, 2) + '\n');
  writeGroundTruth(dir, makeWorld(updated.world, FORMAT_WORDS), updated);
  return updated;
}
