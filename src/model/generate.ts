/**
 * Generation: greedy decoding or sampling (temperature, top-k, top-p, seeded),
 * with the KV cache, hooks active on every step, left-padded batches, and an
 * async iterator that streams tokens as they are produced.
 */
import { CandorError } from '../tensor/errors.js';
import { noGrad } from '../tensor/autograd.js';
import { Rng } from '../tensor/random.js';
import type { HookName, HookSpec } from './hooks.js';
import type { Tensor } from '../tensor/tensor.js';
import { contiguousCopy } from '../tensor/ops/basic.js';

/**
 * A live readout while generating: the projection of the activation at a hook
 * point (the newest position) on a vector, plus a bias, optionally through a
 * sigmoid (a probe's probability). One value per sequence and step.
 */
export interface Gauge {
  name: string;
  hook: HookName;
  vector: ArrayLike<number>;
  bias?: number;
  squash?: 'sigmoid' | 'none';
}
import type { HookedTransformer } from './transformer.js';

export class GenerateError extends CandorError {
  override name = 'GenerateError';
}

export interface GenerateOptions {
  maxNewTokens?: number;
  /** 0 (default) = greedy */
  temperature?: number;
  /** keep the k most likely tokens (0 = off) */
  topK?: number;
  /** keep the smallest set of tokens whose probability reaches p (1 = off) */
  topP?: number;
  seed?: number;
  /** stop a sequence at any of these ids (default: every EOS id of the model; [] never stops) */
  stopTokens?: readonly number[];
  /** hooks applied on the prompt and on every generated token */
  fwdHooks?: readonly HookSpec[];
  /** token used after a sequence stopped, and for left padding (default: pad, else EOS, else 0) */
  padTokenId?: number;
  /**
   * choose among the first n token ids only (default: the model's tokenizer's vocabulary, when it has one):
   * embedding matrices are often padded past the tokenizer (Qwen2.5: 151,936 rows, 151,665 tokens), and an id
   * in the padding has no text
   */
  vocabSize?: number;
  /** readouts taken on every step (the prompt's last position, then each new token) */
  gauges?: readonly Gauge[];
}

export interface GenerateStep {
  /** 0-based index of the generated token */
  step: number;
  /** the new token of each sequence (the pad id for sequences that already stopped) */
  tokens: number[];
  /** which sequences have stopped, after this step */
  done: boolean[];
  /** per gauge, per sequence: the readout at the position that produced this token */
  gauges: Record<string, number[]>;
}

export interface GenerateResult {
  /** per sequence: the generated ids (up to and including a stop token) */
  newTokens: number[][];
  /** per gauge, per sequence: one readout per generated token */
  gauges: Record<string, number[][]>;
  /** per sequence: prompt (without padding) followed by newTokens */
  sequences: number[][];
}

/** Choose the next token from one row of logits. */
export function sampleToken(logits: ArrayLike<number>, offset: number, V: number, opts: GenerateOptions, rng: Rng): number {
  const temperature = opts.temperature ?? 0;
  if (temperature <= 0) {
    let best = 0;
    let bv = -Infinity;
    for (let i = 0; i < V; i++) {
      const v = logits[offset + i]!;
      if (v > bv) {
        bv = v;
        best = i;
      }
    }
    return best;
  }
  const order = Array.from({ length: V }, (_, i) => i);
  const scaled = new Float64Array(V);
  for (let i = 0; i < V; i++) scaled[i] = logits[offset + i]! / temperature;
  order.sort((a, b) => scaled[b]! - scaled[a]! || a - b);
  let keep = V;
  if (opts.topK !== undefined && opts.topK > 0) keep = Math.min(keep, opts.topK);
  const m = scaled[order[0]!]!;
  const probs = new Float64Array(keep);
  let z = 0;
  for (let i = 0; i < keep; i++) z += probs[i] = Math.exp(scaled[order[i]!]! - m);
  for (let i = 0; i < keep; i++) probs[i]! /= z;
  const topP = opts.topP ?? 1;
  if (topP < 1) {
    let c = 0;
    let n = 0;
    while (n < keep) {
      c += probs[n]!;
      n++;
      if (c >= topP) break;
    }
    keep = Math.max(1, n);
    let z2 = 0;
    for (let i = 0; i < keep; i++) z2 += probs[i]!;
    for (let i = 0; i < keep; i++) probs[i]! /= z2;
  }
  let u = rng.uniform();
  for (let i = 0; i < keep; i++) {
    u -= probs[i]!;
    if (u < 0) return order[i]!;
  }
  return order[keep - 1]!;
}

function prepare(model: HookedTransformer, prompts: readonly (readonly number[])[], opts: GenerateOptions) {
  if (prompts.length === 0 || prompts.some((p) => p.length === 0)) throw new GenerateError('generate: every prompt needs at least one token');
  const maxNew = opts.maxNewTokens ?? 32;
  if (!(Number.isInteger(maxNew) && maxNew >= 0)) throw new GenerateError(`generate: maxNewTokens must be a non-negative integer, got ${maxNew}`);
  const pad = opts.padTokenId ?? model.cfg.padTokenId ?? model.cfg.eosTokenId ?? 0;
  const stops = new Set(opts.stopTokens ?? model.cfg.eosTokenIds);
  const T = Math.max(...prompts.map((p) => p.length));
  const ids: number[][] = prompts.map((p) => [...new Array(T - p.length).fill(pad), ...p]);
  const mask: number[][] = prompts.map((p) => [...new Array(T - p.length).fill(0), ...new Array(p.length).fill(1)]);
  const cache = model.newCache(prompts.length, T + maxNew);
  if (T + maxNew > cache.capacity) throw new GenerateError(`generate: ${T} prompt tokens + ${maxNew} new ones exceed the model's ${cache.capacity} positions`);
  return { maxNew, pad, stops, ids, mask, cache, rng: new Rng(opts.seed ?? 0) };
}

/** A decoding loop: each call to next() runs one forward step and returns each sequence's new token. */
function decoder(model: HookedTransformer, prompts: readonly (readonly number[])[], opts: GenerateOptions) {
  const { maxNew, pad, stops, ids, mask, cache, rng } = prepare(model, prompts, opts);
  const B = prompts.length;
  const V = model.cfg.dVocab;
  const candidates = Math.min(V, opts.vocabSize ?? model.tokenizer?.vocabSize ?? V);
  const done = new Array<boolean>(B).fill(false);
  let input: number[][] = ids;
  let inputMask: number[][] = mask;
  let step = 0;
  const readings: Record<string, number[]> = {};
  const gaugeHooks: HookSpec[] = (opts.gauges ?? []).map((g) => {
    if (g.vector.length === 0) throw new GenerateError(`gauge '${g.name}' has an empty vector`);
    return [
      g.hook,
      (act: Tensor) => {
        const a = contiguousCopy(act).data as Float32Array;
        const [rows, T] = act.shape as [number, number];
        const width = act.size / (rows * T);
        if (width !== g.vector.length) throw new GenerateError(`gauge '${g.name}': the vector has ${g.vector.length} entries but ${g.hook} has ${width} per position`);
        readings[g.name] = Array.from({ length: rows }, (_, b) => {
          let s = g.bias ?? 0;
          const off = (b * T + T - 1) * width;
          for (let d = 0; d < width; d++) s += a[off + d]! * g.vector[d]!;
          return g.squash === 'sigmoid' ? 1 / (1 + Math.exp(-s)) : s;
        });
      },
    ] as HookSpec;
  });
  const hooks = [...(opts.fwdHooks ?? []), ...gaugeHooks];
  return {
    readings,
    done,
    more: () => step < maxNew && !done.every(Boolean),
    next(): number[] {
      const tokens = noGrad(() => {
        const { logits } = model.forward(input, { cache, attentionMask: inputMask, fwdHooks: hooks, logits: 'last' });
        const d = logits!.data;
        const out: number[] = [];
        for (let b = 0; b < B; b++) out.push(done[b] ? pad : sampleToken(d, logits!.offset + b * V, candidates, opts, rng));
        return out;
      });
      step++;
      input = tokens.map((t) => [t]);
      inputMask = tokens.map(() => [1]);
      return tokens;
    },
    stops,
  };
}

/** Stream generated tokens, one step at a time. */
export async function* streamTokens(model: HookedTransformer, prompts: readonly (readonly number[])[], opts: GenerateOptions = {}): AsyncGenerator<GenerateStep> {
  const dec = decoder(model, prompts, opts);
  for (let step = 0; dec.more(); step++) {
    const tokens = dec.next();
    tokens.forEach((t, b) => {
      if (!dec.done[b] && dec.stops.has(t)) dec.done[b] = true;
    });
    yield { step, tokens, done: [...dec.done], gauges: { ...dec.readings } };
    await new Promise<void>((r) => setImmediate(r));
  }
}

/** Generate for a batch of prompts (token id lists of any lengths; they are left-padded). */
export function generate(model: HookedTransformer, prompts: readonly (readonly number[])[], opts: GenerateOptions = {}): GenerateResult {
  const dec = decoder(model, prompts, opts);
  const newTokens: number[][] = prompts.map(() => []);
  const gauges: Record<string, number[][]> = Object.fromEntries((opts.gauges ?? []).map((g) => [g.name, prompts.map(() => [])]));
  while (dec.more()) {
    dec.next().forEach((t, b) => {
      if (dec.done[b]) return;
      newTokens[b]!.push(t);
      for (const [name, r] of Object.entries(dec.readings)) gauges[name]![b]!.push(r[b]!);
      if (dec.stops.has(t)) dec.done[b] = true;
    });
  }
  return { newTokens, gauges, sequences: prompts.map((p, b) => [...p, ...newTokens[b]!]) };
}
