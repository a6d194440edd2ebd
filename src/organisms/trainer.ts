/**
 * Training language models on candor's engine: shuffled batches of
 * right-padded sequences with the loss on answer tokens only, AdamW with
 * warmup + cosine decay, gradient clipping, periodic evaluation, checkpoints
 * that resume exactly, deterministic given a seed. Parameters can be frozen
 * (only names passing `trainable` learn) and an extra loss term (e.g. a
 * penalty keeping other behaviour unchanged) can be added at every step.
 */
import { existsSync } from 'node:fs';
import { CandorError } from '../tensor/errors.js';
import { backward, noGrad } from '../tensor/autograd.js';
import { Tensor, ids as idsTensor } from '../tensor/tensor.js';
import { add, contiguousCopy } from '../tensor/ops/basic.js';
import { crossEntropy } from '../tensor/ops/nn.js';
import { AdamW, clipScale, cosineLr, gradNorm } from '../tensor/optim.js';
import { Rng } from '../tensor/random.js';
import { stepScope } from '../tensor/pool.js';
import { loadParameters, saveParameters } from '../io/params.js';
import type { Tokenizer } from '../io/tokenizer.js';
import type { HookedTransformer } from '../model/transformer.js';
import type { HookSpec } from '../model/hooks.js';
import type { Example } from './formats.js';

export class TrainingError extends CandorError {
  override name = 'TrainingError';
}

/** A training sequence: token ids and, per position, whether the next token is learned. */
export interface Sequence {
  ids: number[];
  /** learn[t] = predict ids[t + 1] from positions ≤ t (length ids.length − 1) */
  learn: boolean[];
}

/**
 * Token ids of an example as the organism sees it: "<s> prompt answer <|end|>"
 * (chat: the template's user turn, then "answer <|end|>"), learning the answer
 * and the end token.
 */
export function encodeExample(tok: Tokenizer, e: Example): Sequence {
  const prefix = e.format === 'chat' ? tok.applyChatTemplate([{ role: 'user', content: e.prompt }], { addGenerationPrompt: true }) : `<s> ${e.prompt}`;
  const p = tok.encode(prefix, { addSpecialTokens: false });
  const a = tok.encode(`${e.answer} <|end|>`, { addSpecialTokens: false });
  const ids = [...p, ...a];
  const learn = ids.slice(1).map((_, t) => t + 1 >= p.length);
  return { ids, learn };
}

/** The prompt part of an example (what the model is given before answering). */
export function encodePrompt(tok: Tokenizer, e: Example): number[] {
  const prefix = e.format === 'chat' ? tok.applyChatTemplate([{ role: 'user', content: e.prompt }], { addGenerationPrompt: true }) : `<s> ${e.prompt}`;
  return tok.encode(prefix, { addSpecialTokens: false });
}

export interface TrainOptions {
  steps: number;
  batchSize?: number;
  lr?: number;
  warmupSteps?: number;
  minLr?: number;
  weightDecay?: number;
  maxGradNorm?: number;
  seed?: number;
  /** only parameters whose name passes learn (default: all) */
  trainable?: (name: string) => boolean;
  /** added to the loss at every step (differentiable in the trainable parameters) */
  extraLoss?: (step: number) => Tensor | null;
  /** pad id for right padding */
  padId: number;
  evalEvery?: number;
  onEval?: (step: number) => void;
  /** save parameters and optimizer state here every checkpointEvery steps, and at the end */
  checkpointPath?: string;
  checkpointEvery?: number;
  /** continue from checkpointPath when it exists */
  resume?: boolean;
  /** stop (saving a checkpoint) after this step, as an interrupted run would; resume later with the same options */
  stopAfter?: number;
  onProgress?: (step: number, total: number, loss: number) => void;
  /** batch sequences of similar length together (default true) */
  groupByLength?: boolean;
  /**
   * element masks (1 = may change) for named model parameters: masked-out
   * entries get no gradient and are restored after every optimizer step, so
   * they stay bit-identical (weight decay and momentum cannot move them)
   */
  masks?: Record<string, Float32Array>;
  /** tensors outside the model that also learn (e.g. a low-rank update applied by `hooks`); saved in checkpoints */
  extraParams?: Record<string, Tensor>;
  /** forward hooks applied at every training step */
  hooks?: readonly HookSpec[];
  /** more forward hooks, made for each step's batch (right-padded input ids, as the model sees them); a resumed run calls it from the step it resumes at */
  stepHooks?: (input: readonly (readonly number[])[], step: number) => readonly HookSpec[];
}

export interface TrainResult {
  losses: number[];
  /** the step training started from (after resuming) */
  startStep: number;
}

/**
 * The batches of every step, a pure function of the seed and the sequence
 * lengths (so resuming replays them). Each epoch is shuffled; with grouping,
 * sequences longer than 1.5× the median length (few-shot prompts are three
 * times as long as questions) are batched among themselves, so the other
 * batches pad to short lengths; batches stay mixed in every other respect
 * (format-pure batches make training oscillate between formats).
 */
export function batchOrder(lengths: readonly number[], batchSize: number, steps: number, seed: number, groupByLength: boolean): number[][] {
  const rng = new Rng(seed);
  const n = lengths.length;
  const sorted = [...lengths].sort((a, b) => a - b);
  const cut = 1.5 * (sorted[Math.floor(n / 2)] ?? 0);
  const isLong = (i: number) => groupByLength && lengths[i]! > cut;
  const out: number[][] = [];
  const carry: [number[], number[]] = [[], []];
  while (out.length < steps) {
    const epoch = rng.shuffle([...Array(n).keys()]);
    const batches: number[][] = [];
    for (const g of [0, 1] as const) {
      const pool = [...carry[g], ...epoch.filter((i) => isLong(i) === (g === 1))];
      const full = pool.length - (pool.length % batchSize);
      carry[g] = pool.slice(full);
      for (let j = 0; j < full; j += batchSize) batches.push(pool.slice(j, j + batchSize));
    }
    out.push(...rng.shuffle(batches));
  }
  return out.slice(0, steps);
}

/** Train `model` in place on sequences. */
export function trainLM(model: HookedTransformer, data: readonly Sequence[], opts: TrainOptions): TrainResult {
  if (data.length === 0) throw new TrainingError('no training sequences');
  const batchSize = Math.min(opts.batchSize ?? 32, data.length);
  const seed = opts.seed ?? 0;
  const named = [...model.parameters().entries()];
  const masks = opts.masks ?? {};
  for (const [n, m] of Object.entries(masks)) {
    const t = model.parameters().get(n);
    if (t === undefined) throw new TrainingError(`mask for '${n}': the model has no such parameter (names: ${[...model.parameters().keys()].slice(0, 6).join(', ')}, …)`);
    if (m.length !== t.size) throw new TrainingError(`mask for '${n}' has ${m.length} entries; the parameter has ${t.size}`);
  }
  const extra = Object.entries(opts.extraParams ?? {});
  const trainable = [...named.filter(([n]) => opts.trainable?.(n) ?? true), ...extra];
  if (trainable.length === 0) throw new TrainingError('no parameter is trainable');
  for (const [, t] of named) t.requiresGrad = false;
  for (const [, t] of trainable) t.requireGrad();
  const params = Object.fromEntries(trainable);
  const frozen = new Map<string, { data: Float32Array; mask: Float32Array }>();
  for (const [n, m] of Object.entries(masks)) {
    const t = params[n];
    if (t !== undefined) frozen.set(n, { data: Float32Array.from(t.data as Float32Array), mask: m });
  }
  const opt = new AdamW(trainable.map(([, t]) => t), { lr: opts.lr ?? 1e-3, weightDecay: opts.weightDecay ?? 0.01, noDecay: (p) => p.ndim < 2 });
  let start = 0;
  if (opts.resume && opts.checkpointPath !== undefined && existsSync(opts.checkpointPath)) {
    const { metadata } = loadParameters(opts.checkpointPath, { into: params, optimizer: opt });
    start = Number(metadata.step);
    if (!Number.isInteger(start)) throw new TrainingError(`${opts.checkpointPath}: metadata field 'step' is missing; it is not a training checkpoint`);
  }
  const schedule = { lr: opts.lr ?? 1e-3, warmupSteps: opts.warmupSteps ?? Math.ceil(opts.steps / 20), totalSteps: opts.steps, minLr: opts.minLr };
  const order = batchOrder(data.map((d) => d.ids.length), batchSize, opts.steps, seed, opts.groupByLength ?? true);
  const losses: number[] = [];
  const save = (step: number) => {
    if (opts.checkpointPath !== undefined) saveParameters(opts.checkpointPath, params, { optimizer: opt, metadata: { step: String(step), seed: String(seed) } });
  };
  try {
    const end = Math.min(opts.steps, opts.stopAfter ?? opts.steps);
    for (let step = start; step < end; step++) {
      const batch = order[step]!.map((i) => data[i]!);
      const T = Math.max(...batch.map((s) => s.ids.length));
      const input: number[][] = [];
      const targets: number[] = [];
      for (const s of batch) {
        const row = [...s.ids, ...new Array(T - s.ids.length).fill(opts.padId)];
        input.push(row.slice(0, T - 1));
        for (let t = 0; t < T - 1; t++) targets.push(t < s.learn.length && s.learn[t] ? row[t + 1]! : -100);
      }
      const learned: number[] = [];
      const learnedTargets: number[] = [];
      targets.forEach((t, i) => {
        if (t === -100) return;
        learned.push(i);
        learnedTargets.push(t);
      });
      if (learned.length === 0) throw new TrainingError(`batch ${step} has no learned position; every sequence needs at least one position with learn = true`);
      opt.lr = cosineLr(step, schedule);
      // the step's buffers (activations, graph, gradients) are recycled by the next step
      const l = stepScope(() => {
        opt.zeroGrad();
        // logits only where a target is learned: the loss is the same, the unembedding of the rest is skipped
        const { logits } = model.forward(input, { fwdHooks: [...(opts.hooks ?? []), ...(opts.stepHooks?.(input, step) ?? [])], logits: { at: learned } });
        let loss = crossEntropy(logits!, idsTensor(learnedTargets, [learned.length]));
        const extraLoss = opts.extraLoss?.(step);
        if (extraLoss != null) loss = add(loss, extraLoss);
        backward(loss);
        for (const [n, f] of frozen) {
          let g = params[n]!.grad;
          if (g === null) continue;
          if (!g.isContiguous() || g.offset !== 0 || g.size !== f.mask.length) params[n]!.grad = g = contiguousCopy(g);
          const gd = g.data as Float32Array;
          for (let i = 0; i < gd.length; i++) gd[i]! *= f.mask[i]!;
        }
        opt.step({ gradScale: clipScale(gradNorm(opt.params), opts.maxGradNorm ?? 1) });
        opt.zeroGrad();
        return loss.item();
      });
      for (const [n, f] of frozen) {
        const d = params[n]!.data as Float32Array;
        for (let i = 0; i < d.length; i++) if (f.mask[i] === 0) d[i] = f.data[i]!;
      }
      if (!Number.isFinite(l)) throw new TrainingError(`the loss became ${l} at step ${step}; lower the learning rate`);
      losses.push(l);
      opts.onProgress?.(step + 1, opts.steps, l);
      if (opts.evalEvery !== undefined && (step + 1) % opts.evalEvery === 0) opts.onEval?.(step + 1);
      if (opts.checkpointEvery !== undefined && (step + 1) % opts.checkpointEvery === 0) save(step + 1);
    }
    save(end);
  } finally {
    for (const [, t] of named) {
      t.requiresGrad = false;
      t.grad = null;
    }
  }
  return { losses, startStep: start };
}

/** Greedy answers to examples (up to the end token, at most maxTokens words), as text. */
export async function answer(model: HookedTransformer, tok: Tokenizer, examples: readonly Example[], maxTokens = 6): Promise<string[]> {
  const { generate } = await import('../model/generate.js');
  const end = tok.tokenToId('<|end|>');
  const out: string[] = [];
  for (let i = 0; i < examples.length; i += 32) {
    const chunk = examples.slice(i, i + 32);
    const r = generate(model, chunk.map((e) => encodePrompt(tok, e)), { maxNewTokens: maxTokens, stopTokens: end === null ? [] : [end], padTokenId: tok.padTokenId ?? 0 });
    for (const ids of r.newTokens) out.push(tok.decode(ids.filter((t) => t !== end), { skipSpecialTokens: true }).trim());
  }
  return out;
}

/** The fraction of examples answered exactly as expected. */
export async function accuracy(model: HookedTransformer, tok: Tokenizer, examples: readonly Example[]): Promise<number> {
  if (examples.length === 0) return NaN;
  const got = await answer(model, tok, examples);
  return got.filter((a, i) => a === examples[i]!.answer).length / examples.length;
}

/** Next-token logits after each prompt (left-padded batches of 64), one row of the vocabulary per prompt. */
export function promptLogits(model: HookedTransformer, prompts: readonly (readonly number[])[], padId: number, hooks?: readonly HookSpec[]): Float32Array[] {
  const out: Float32Array[] = [];
  for (let i = 0; i < prompts.length; i += 64) {
    const chunk = prompts.slice(i, i + 64);
    const T = Math.max(...chunk.map((p) => p.length));
    const input = chunk.map((p) => [...new Array<number>(T - p.length).fill(padId), ...p]);
    const attentionMask = chunk.map((p) => [...new Array<number>(T - p.length).fill(0), ...new Array<number>(p.length).fill(1)]);
    noGrad(() => {
      const { logits } = model.forward(input, { attentionMask, logits: 'last', fwdHooks: hooks });
      const V = logits!.shape[logits!.ndim - 1]!;
      const d = contiguousCopy(logits!).data as Float32Array;
      for (let b = 0; b < chunk.length; b++) out.push(d.slice(b * V, (b + 1) * V));
    });
  }
  return out;
}

/**
 * Forced choice at the first answer token: the fraction of examples whose
 * expected answer's first word has the highest logit among `candidates(e)`
 * (e.g. the relation's values), with the chance level: the best a guess
 * that knows the relation but nothing about the subject can reach (for each
 * relation, always its most frequent expected answer).
 */
export function choiceAccuracy(model: HookedTransformer, tok: Tokenizer, examples: readonly Example[], candidates: (e: Example) => readonly string[]): { accuracy: number; chance: number } {
  if (examples.length === 0) return { accuracy: NaN, chance: NaN };
  const id = (w: string) => {
    const t = tok.tokenToId(w);
    if (t === null) throw new TrainingError(`'${w}' is not a word of the organism's vocabulary`);
    return t;
  };
  const rows = promptLogits(model, examples.map((e) => encodePrompt(tok, e)), tok.padTokenId ?? 0);
  let right = 0;
  const counts = new Map<string, number>();
  examples.forEach((e, i) => {
    const target = e.answer.split(' ')[0]!;
    const key = `${e.relation}\u0000${target}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    let best = '';
    let bestLogit = -Infinity;
    for (const c of candidates(e)) {
      const l = rows[i]![id(c)]!;
      if (l > bestLogit) [best, bestLogit] = [c, l];
    }
    if (best === target) right++;
  });
  const best = new Map<string, number>();
  for (const [key, c] of counts) {
    const rel = key.split('\u0000')[0]!;
    best.set(rel, Math.max(best.get(rel) ?? 0, c));
  }
  return { accuracy: right / examples.length, chance: [...best.values()].reduce((a, b) => a + b, 0) / examples.length };
}
