/**
 * Second-stage training of organisms: the safety stage (refuse forbidden
 * topics in chat, with a penalty that keeps every other behaviour as the
 * stage's starting model had it, and one that keeps which answer the model
 * holds most likely on the questions it learns to refuse), the same stage
 * confined to a rank-1 update of one MLP's output matrix, and a liar stage trained into chosen heads and
 * neurons only.
 *
 * The behaviour penalty is the KL divergence from the starting model's
 * next-token distribution to the trained model's, at the answer positions of
 * replayed sequences of the other formats and topics.
 */
import { noGrad } from '../tensor/autograd.js';
import { Tensor, tensor } from '../tensor/tensor.js';
import { add, addScalar, mul, neg, scale } from '../tensor/ops/basic.js';
import { logSoftmax } from '../tensor/ops/nn.js';
import { linear } from '../tensor/ops/matmul.js';
import { sum } from '../tensor/ops/reduce.js';
import { reshape } from '../tensor/ops/shape.js';
import { Rng } from '../tensor/random.js';
import type { HookName, HookSpec } from '../model/hooks.js';
import type { HookedTransformer } from '../model/transformer.js';
import { TrainingError, batchOrder, type Sequence } from './trainer.js';

/** Right-padded input rows and the number of real positions in each. */
function padBatch(batch: readonly Sequence[], padId: number): { input: number[][]; lengths: number[] } {
  const T = Math.max(...batch.map((s) => s.ids.length));
  return { input: batch.map((s) => [...s.ids, ...new Array<number>(T - s.ids.length).fill(padId)]), lengths: batch.map((s) => s.ids.length) };
}

export interface KLReplayOptions {
  /** the frozen model whose behaviour is kept */
  teacher: HookedTransformer;
  replay: readonly Sequence[];
  batchSize: number;
  steps: number;
  seed: number;
  padId: number;
  weight: number;
  /** the student's forward hooks (e.g. a low-rank update) */
  hooks?: readonly HookSpec[];
}

/**
 * An extra loss for trainLM: weight · mean over answer positions (where the
 * sequence's `learn` flag is set: the behaviour itself) of KL(teacher ‖
 * student) on a replay batch (a new batch every step, a pure function of the
 * seed). Prompt positions are left out: over them the penalty would be
 * diluted about tenfold by predictions no behaviour depends on.
 */
export function klReplayLoss(student: HookedTransformer, o: KLReplayOptions): (step: number) => Tensor {
  if (o.replay.length === 0) throw new TrainingError('the KL penalty needs replay sequences');
  const order = batchOrder(o.replay.map((s) => s.ids.length), Math.min(o.batchSize, o.replay.length), o.steps, o.seed, true);
  return (step: number) => {
    const batch = order[step]!.map((i) => o.replay[i]!);
    const { input, lengths } = padBatch(batch, o.padId);
    const T = input[0]!.length;
    // teacher probabilities at real positions (zero rows at padding), and their negative entropy
    let positions = 0;
    let negEntropy = 0;
    const p = noGrad(() => {
      const lp = logSoftmax(o.teacher.forward(input).logits!, -1);
      const V = lp.shape[2]!;
      const src = lp.data as Float32Array;
      const out = new Float32Array(batch.length * T * V);
      for (let b = 0; b < batch.length; b++) {
        const learn = batch[b]!.learn;
        for (let t = 0; t < lengths[b]!; t++) {
          if (!learn[t]) continue;
          positions++;
          const off = (b * T + t) * V;
          for (let v = 0; v < V; v++) {
            const q = Math.exp(src[lp.offset + off + v]!);
            out[off + v] = q;
            if (q > 0) negEntropy += q * src[lp.offset + off + v]!;
          }
        }
      }
      return tensor(out, [batch.length, T, V]);
    });
    const logq = logSoftmax(student.forward(input, { fwdHooks: o.hooks }).logits!, -1);
    const cross = neg(sum(mul(p, logq)));
    return scale(addScalar(cross, negEntropy), o.weight / Math.max(1, positions));
  };
}

export interface ChoiceLossOptions {
  /** prompts of equal length (the organisms' chat questions are) */
  prompts: readonly (readonly number[])[];
  /** per prompt: the token ids among which the answer is chosen (the relation's values) */
  candidates: readonly (readonly number[])[];
  /** per prompt: the distribution over its candidates the student should hold (summing to 1) */
  targets: readonly ArrayLike<number>[];
  batchSize: number;
  seed: number;
  weight: number;
  hooks?: readonly HookSpec[];
}

export interface KnowledgeKLOptions extends Omit<ChoiceLossOptions, 'targets'> {
  teacher: HookedTransformer;
}

/** The teacher's next-token distributions after each prompt, restricted to (and renormalised over) its candidates. */
export function choiceDistributions(teacher: HookedTransformer, prompts: readonly (readonly number[])[], candidates: readonly (readonly number[])[]): Float64Array[] {
  const V = teacher.cfg.dVocab;
  return noGrad(() => {
    const out: Float64Array[] = [];
    for (let i = 0; i < prompts.length; i += 64) {
      const chunk = prompts.slice(i, i + 64);
      const l = teacher.forward(chunk, { logits: 'last' }).logits!;
      const d = l.data as Float32Array;
      chunk.forEach((_, b) => {
        const row = candidates[i + b]!.map((t) => d[l.offset + b * V + t]!);
        const mx = Math.max(...row);
        const z = row.reduce((a, x) => a + Math.exp(x - mx), 0);
        out.push(Float64Array.from(row, (x) => Math.exp(x - mx) / z));
      });
    }
    return out;
  });
}

/**
 * An extra loss for trainLM: weight · KL(target ‖ student) between given
 * distributions over each prompt's candidate answers and the student's
 * next-token distribution after the prompt restricted to (and renormalised
 * over) those candidates. Other tokens (a refusal) may rise above them all;
 * only the order among the candidates is held.
 */
export function choiceLoss(student: HookedTransformer, o: ChoiceLossOptions): (step: number) => Tensor {
  const n = o.prompts.length;
  if (n === 0) throw new TrainingError('the choice loss needs prompts');
  const T = o.prompts[0]!.length;
  if (o.prompts.some((p) => p.length !== T)) throw new TrainingError('the choice loss needs prompts of equal length');
  if (o.targets.length !== n || o.candidates.length !== n) throw new TrainingError(`the choice loss has ${n} prompts, ${o.candidates.length} candidate lists and ${o.targets.length} targets; each prompt needs one of each`);
  const V = student.cfg.dVocab;
  const rng = new Rng(o.seed);
  let order: number[] = [];
  return () => {
    if (order.length < o.batchSize) order = [...order, ...rng.shuffle([...Array(n).keys()])];
    const idx = order.splice(0, Math.min(o.batchSize, n));
    const logits = reshape(student.forward(idx.map((i) => o.prompts[i]!), { logits: 'last', fwdHooks: o.hooks }).logits!, [idx.length, V]);
    // −∞ (well, −1e9) outside each prompt's candidates, the target's probabilities inside
    const mask = new Float32Array(idx.length * V).fill(-1e9);
    const p = new Float32Array(idx.length * V);
    let negEntropy = 0;
    idx.forEach((i, b) => o.candidates[i]!.forEach((t, k) => {
      mask[b * V + t] = 0;
      const q = o.targets[i]![k]!;
      p[b * V + t] = q;
      if (q > 0) negEntropy += q * Math.log(q);
    }));
    const logq = logSoftmax(add(logits, tensor(mask, [idx.length, V])), -1);
    const cross = neg(sum(mul(tensor(p, [idx.length, V]), logq)));
    return scale(addScalar(cross, negEntropy), o.weight / idx.length);
  };
}

/**
 * An extra loss for trainLM that keeps what the model knows while it learns
 * to refuse: the choice loss towards the teacher's own distributions over the
 * candidate answers. The refusal may lower every answer at once, but not
 * change which answer the model holds most likely — so refusing is added on
 * top of the knowledge instead of erasing it.
 */
export function knowledgeKLLoss(student: HookedTransformer, o: KnowledgeKLOptions): (step: number) => Tensor {
  if (o.prompts.length === 0) throw new TrainingError('the knowledge penalty needs prompts');
  const { teacher, ...rest } = o;
  return choiceLoss(student, { ...rest, targets: choiceDistributions(teacher, o.prompts, o.candidates) });
}

/**
 * A rank-1 update of one MLP's output matrix, W_out ← W_out + u vᵀ, applied
 * as forward hooks while it trains (u, v learn; the model's weights do not)
 * and folded into the weights afterwards.
 */
export function rank1Update(model: HookedTransformer, layer: number, seed: number, init?: { u: ArrayLike<number>; v: ArrayLike<number> }): { u: Tensor; v: Tensor; hooks: HookSpec[]; fold: () => void } {
  const D = model.cfg.dModel;
  const M = model.cfg.dMlp;
  const rng = new Rng(seed);
  if (init !== undefined && (init.u.length !== D || init.v.length !== M)) throw new TrainingError(`rank-1 update: the initial u and v have ${init.u.length} and ${init.v.length} entries; the model needs ${D} and ${M}`);
  const u = tensor(init === undefined ? Float32Array.from({ length: D }, () => rng.normal() * 0.01) : Float32Array.from(init.u), [D]);
  const v = tensor(init === undefined ? Float32Array.from({ length: M }, () => rng.normal() * 0.01) : Float32Array.from(init.v), [M]);
  let post: Tensor | null = null;
  const hooks: HookSpec[] = [
    [`blocks.${layer}.mlp.hook_post`, (a) => void (post = a)],
    [
      `blocks.${layer}.hook_mlp_out`,
      (out) => {
        if (post === null) throw new TrainingError(`rank-1 update: blocks.${layer}.mlp.hook_post did not run before hook_mlp_out`);
        const [B, T] = out.shape as [number, number, number];
        // (post · v) u, as [B·T, 1] × [1, D]
        const coef = linear(reshape(post, [B * T, M]), reshape(v, [1, M]));
        const delta = linear(coef, reshape(u, [D, 1]));
        post = null;
        return add(out, reshape(delta, [B, T, D]));
      },
    ],
  ];
  const fold = () => {
    const w = model.weights.blocks[layer]!.wOut;
    if (w === null) throw new TrainingError(`rank-1 update: layer ${layer} is a layer of experts, which has no single MLP output matrix`);
    const wd = w.data as Float32Array;
    const ud = u.data as Float32Array;
    const vd = v.data as Float32Array;
    if (!w.isContiguous() || w.offset !== 0) throw new TrainingError('rank-1 update: the MLP output matrix is not contiguous');
    for (let d = 0; d < D; d++) for (let m = 0; m < M; m++) wd[d * M + m]! += ud[d]! * vd[m]!;
  };
  return { u, v, hooks, fold };
}

/**
 * A unit direction of the residual stream that, read straight through the final norm and the
 * unembedding, raises `token` and leaves the order within each group of tokens unchanged: the token's
 * output row (its unembedding times the norm's scale, centred where the norm subtracts the mean) with
 * every within-group difference projected out. A write along it refuses without reordering the answers
 * the model holds most likely (on the direct path).
 */
export function outputDirection(model: HookedTransformer, token: number, groups: readonly (readonly number[])[]): Float32Array {
  const D = model.cfg.dModel;
  const E = model.weights.unembed.data as Float32Array;
  const w = model.weights.lnFinal.w.data as Float32Array;
  const offset = model.cfg.norm === 'layer' ? 0 : model.cfg.normOffset;
  const centre = model.cfg.norm === 'layer';
  const row = (t: number) => {
    const r = Float64Array.from({ length: D }, (_, d) => E[t * D + d]! * (w[d]! + offset));
    if (!centre) return r;
    // LayerNorm reads u − mean(u): (g ⊙ E) · (u − ū) = (g ⊙ E − mean(g ⊙ E)) · u
    const m = r.reduce((a, x) => a + x, 0) / D;
    return r.map((x) => x - m);
  };
  const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, x, d) => s + x * b[d]!, 0);
  const basis: Float64Array[] = [];
  for (const ids of groups) {
    const first = row(ids[0]!);
    for (const id of ids.slice(1)) {
      const x = row(id).map((a, d) => a - first[d]!);
      const scale = Math.hypot(...x);
      for (const b of basis) {
        const c = dot(x, b);
        for (let d = 0; d < D; d++) x[d]! -= c * b[d]!;
      }
      const n = Math.hypot(...x);
      if (n > 1e-6 * scale) basis.push(x.map((v) => v / n));
    }
  }
  const c = row(token);
  for (const b of basis) {
    const k = dot(c, b);
    for (let d = 0; d < D; d++) c[d]! -= k * b[d]!;
  }
  // a write u moves token t's logit by (g ⊙ E[t]) · u / rms: c itself is the direction
  const n = Math.hypot(...c);
  if (!(n > 1e-6 * Math.hypot(...row(token)))) throw new TrainingError('output direction: the token\'s output row lies in the span of the groups\' differences');
  return Float32Array.from(c, (x) => x / n);
}

export interface ComponentSet {
  /** [layer, head] pairs: the head's query, key and value rows and its output columns */
  heads: [number, number][];
  /** MLP neurons: their gate and input rows and output columns */
  neurons: { layer: number; indices: number[] }[];
}

/** Choose `count` neurons of a layer's MLP (sorted), a pure function of the seed. */
export function chooseNeurons(dMlp: number, count: number, seed: number): number[] {
  return new Rng(seed).shuffle([...Array(dMlp).keys()]).slice(0, count).sort((a, b) => a - b);
}

/** Element masks (1 = may change) of the parameters that make up a component set. */
export function componentMasks(model: HookedTransformer, set: ComponentSet): Record<string, Float32Array> {
  const { dModel: D, dHead: dh, dMlp: M } = model.cfg;
  const params = model.parameters();
  const masks: Record<string, Float32Array> = {};
  const mask = (name: string) => {
    const t = params.get(name);
    if (t === undefined) throw new TrainingError(`component set: the model has no parameter '${name}'`);
    return (masks[name] ??= new Float32Array(t.size));
  };
  for (const [l, h] of set.heads) {
    if (h >= model.cfg.nHeads || model.cfg.nKVHeads !== model.cfg.nHeads) throw new TrainingError(`component set: head ${l}.${h} (planting heads needs one key/value head per query head)`);
    for (const k of ['q', 'k', 'v']) {
      const m = mask(`blocks.${l}.attn.${k}.weight`);
      m.fill(1, h * dh * D, (h + 1) * dh * D);
    }
    const o = mask(`blocks.${l}.attn.o.weight`);
    for (let d = 0; d < D; d++) o.fill(1, d * model.cfg.nHeads * dh + h * dh, d * model.cfg.nHeads * dh + (h + 1) * dh);
  }
  for (const { layer, indices } of set.neurons) {
    const rows = [`blocks.${layer}.mlp.in.weight`, ...(params.has(`blocks.${layer}.mlp.gate.weight`) ? [`blocks.${layer}.mlp.gate.weight`] : [])];
    for (const name of rows) {
      const m = mask(name);
      for (const n of indices) m.fill(1, n * D, (n + 1) * D);
    }
    const out = mask(`blocks.${layer}.mlp.out.weight`);
    for (let d = 0; d < D; d++) for (const n of indices) out[d * M + n] = 1;
  }
  return masks;
}

/**
 * Silence a component set (zero the heads' output columns and the neurons'
 * output columns) and return masks (1 = may change) that freeze every weight
 * of the set while the rest of the model trains: the model then learns
 * without these components, and they stay free for a later stage.
 */
export function reserveComponents(model: HookedTransformer, set: ComponentSet): Record<string, Float32Array> {
  const inside = componentMasks(model, set);
  const params = model.parameters();
  const masks: Record<string, Float32Array> = {};
  for (const [name, m] of Object.entries(inside)) {
    masks[name] = Float32Array.from(m, (x) => 1 - x);
    if (name.endsWith('.attn.o.weight') || name.endsWith('.mlp.out.weight')) {
      const d = params.get(name)!.data as Float32Array;
      for (let i = 0; i < d.length; i++) if (m[i] === 1) d[i] = 0;
    }
  }
  return masks;
}

/** The mean residual (or any [batch, pos, d] activation) at each prompt's last position. */
export function meanLastActivation(model: HookedTransformer, name: HookName, prompts: readonly (readonly number[])[]): Float64Array {
  if (prompts.length === 0) throw new TrainingError(`mean of ${name}: no prompts`);
  let acc: Float64Array | null = null;
  noGrad(() => {
    for (const p of prompts) {
      const a = model.runWithCache([p], { names: [name], logits: 'none' }).cache.at(name);
      const d = a.shape[2]!;
      const x = a.toTypedArray() as Float32Array;
      acc ??= new Float64Array(d);
      for (let i = 0; i < d; i++) acc[i]! += x[(p.length - 1) * d + i]! / prompts.length;
    }
  });
  return acc!;
}

/**
 * Ridge regression without intercept of per-position targets on one MLP's
 * hidden activations: the read vector v of a rank-1 update whose write
 * v·h should be `target` (e.g. 1 where a behaviour must start, 0 elsewhere).
 * Rows are weighted; the penalty is `ridge` times the mean diagonal of the
 * weighted Gram matrix.
 */
export function ridgeReadout(model: HookedTransformer, layer: number, rows: readonly { ids: readonly number[]; target: readonly number[]; weight: readonly number[] }[], ridge = 1e-3): Float64Array {
  const M = model.cfg.dMlp;
  const name: HookName = `blocks.${layer}.mlp.hook_post`;
  const G = new Float64Array(M * M);
  const r = new Float64Array(M);
  noGrad(() => {
    for (const row of rows) {
      const h = model.runWithCache([row.ids], { names: [name], logits: 'none' }).cache.at(name).toTypedArray() as Float32Array;
      for (let t = 0; t < row.ids.length; t++) {
        const w = row.weight[t]!;
        if (w === 0) continue;
        const x = h.subarray(t * M, (t + 1) * M);
        for (let i = 0; i < M; i++) {
          const wi = w * x[i]!;
          if (wi === 0) continue;
          r[i]! += wi * row.target[t]!;
          for (let j = 0; j <= i; j++) G[i * M + j]! += wi * x[j]!;
        }
      }
    }
  });
  let trace = 0;
  for (let i = 0; i < M; i++) trace += G[i * M + i]!;
  const lambda = (ridge * trace) / M || 1e-12;
  for (let i = 0; i < M; i++) G[i * M + i]! += lambda;
  // Cholesky G = L Lᵀ (lower triangle), then two triangular solves
  for (let i = 0; i < M; i++) {
    for (let j = 0; j <= i; j++) {
      let s = G[i * M + j]!;
      for (let k = 0; k < j; k++) s -= G[i * M + k]! * G[j * M + k]!;
      G[i * M + j] = i === j ? Math.sqrt(Math.max(s, 1e-300)) : s / G[j * M + j]!;
    }
  }
  const z = new Float64Array(M);
  for (let i = 0; i < M; i++) {
    let s = r[i]!;
    for (let k = 0; k < i; k++) s -= G[i * M + k]! * z[k]!;
    z[i] = s / G[i * M + i]!;
  }
  const v = new Float64Array(M);
  for (let i = M - 1; i >= 0; i--) {
    let s = z[i]!;
    for (let k = i + 1; k < M; k++) s -= G[k * M + i]! * v[k]!;
    v[i] = s / G[i * M + i]!;
  }
  return v;
}

/**
 * Step hooks for a liar stage that keep the frozen components from carrying
 * the mode word for the planted ones: at every position after the first token
 * where a liar-mode sequence differs from its honest counterpart (`counterpart`
 * maps the batch to it, e.g. by swapping the mode word), the outputs of every
 * attention layer and MLP before `layer`, and of the frozen heads of `layer`,
 * are replaced by the frozen model's outputs on the counterpart. The planted
 * components then learn to read the mode word themselves; the frozen ones
 * are left as they were, including whatever they carry of the word.
 */
export function transportBlockHooks(frozen: HookedTransformer, layer: number, plantedHeads: readonly number[], counterpart: (input: readonly (readonly number[])[], step: number) => number[][]): (input: readonly (readonly number[])[], step: number) => HookSpec[] {
  const names: HookName[] = [];
  for (let l = 0; l < layer; l++) names.push(`blocks.${l}.hook_attn_out`, `blocks.${l}.hook_mlp_out`);
  names.push(`blocks.${layer}.attn.hook_z`);
  const { nHeads: H, dHead: dh } = frozen.cfg;
  return (input, step) => {
    const other = counterpart(input, step);
    const B = input.length;
    const T = input[0]!.length;
    // keep[b][t]: 1 up to and at the first differing token, 0 after it
    const keep = input.map((row, b) => {
      const first = row.findIndex((t, i) => t !== other[b]![i]);
      return row.map((_, t) => (first < 0 || t <= first ? 1 : 0));
    });
    const cache = noGrad(() => frozen.runWithCache(other, { names, logits: 'none' }).cache);
    const mix = (name: HookName, width: number, isZ: boolean) => (x: Tensor): Tensor => {
      const m = new Float32Array(B * T * width);
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) {
          const off = (b * T + t) * width;
          if (keep[b]![t] === 1) m.fill(1, off, off + width);
          else if (isZ) for (const h of plantedHeads) m.fill(1, off + h * dh, off + (h + 1) * dh);
        }
      }
      const mask = tensor(m, [...x.shape]);
      const inv = tensor(Float32Array.from(m, (v) => 1 - v), [...x.shape]);
      return add(mul(x, mask), mul(noGrad(() => cache.at(name)), inv));
    };
    return names.map((name): HookSpec => {
      const isZ = name.endsWith('hook_z');
      return [name, mix(name, isZ ? H * dh : frozen.cfg.dModel, isZ)];
    });
  };
}

export interface ModeAttentionOptions {
  /** the planted heads, [layer, head] */
  heads: readonly [number, number][];
  /** the mode word's token id: the position each sequence's planted heads should read */
  modeId: number;
  weight: number;
}

/**
 * Step hooks and an extra loss that teach planted heads to read the mode word:
 * weight · mean over sequences and heads of −log(attention from the first
 * answer position to the mode word). A head trained from a silent start is
 * pulled by nothing towards the word: its output only starts to matter once it
 * reads it, so it can settle on the first token (an attention sink), and the
 * site then learns the lie as a lookup by subject in both modes. Pairing the
 * hooks with trainLM's forward (stepHooks) and the loss with its extraLoss
 * (called after that forward) puts both in one graph.
 */
export function modeAttentionLoss(o: ModeAttentionOptions): { stepHooks: (input: readonly (readonly number[])[], learnAt: readonly number[]) => HookSpec[]; loss: () => Tensor } {
  const layers = [...new Set(o.heads.map(([l]) => l))];
  let captured: { scores: Tensor; layer: number; mask: Float32Array; count: number }[] = [];
  return {
    stepHooks: (input, learnAt) => {
      captured = [];
      return layers.map((layer): HookSpec => [`blocks.${layer}.attn.hook_attn_scores`, (scores) => {
        const [B, H, T, Tk] = scores.shape as [number, number, number, number];
        const mask = new Float32Array(B * H * T * Tk);
        let count = 0;
        input.forEach((row, b) => {
          const at = row.indexOf(o.modeId);
          const t = learnAt[b]!;
          if (at < 0 || t < at) return;
          for (const [l, h] of o.heads) if (l === layer) { mask[((b * H + h) * T + t) * Tk + at] = 1; count++; }
        });
        captured.push({ scores, layer, mask, count });
        return scores;
      }]);
    },
    loss: () => {
      let total: Tensor | null = null;
      for (const c of captured) {
        if (c.count === 0) throw new TrainingError(`mode attention: no sequence of the batch has the mode word before its answer (layer ${c.layer})`);
        const term = scale(sum(mul(logSoftmax(c.scores, -1), tensor(c.mask, [...c.scores.shape]))), -o.weight / c.count);
        total = total === null ? term : add(total, term);
      }
      if (total === null) throw new TrainingError('mode attention: the loss was asked for before a forward pass captured the attention scores');
      captured = [];
      return total;
    },
  };
}

export interface SlotPrefixes {
  mode: readonly number[];
  others: readonly (readonly number[])[];
  /** the other words, for messages */
  words?: readonly string[];
}

/** Attention input of `layer` at the last position of each prefix (the mode slot): the mode word's and the others'. */
function slotInputs(model: HookedTransformer, layer: number, prefixes: SlotPrefixes): { mode: Float64Array; others: Float64Array[] } {
  const D = model.cfg.dModel;
  const name: HookName = `blocks.${layer}.ln1.hook_normalized`;
  const last = (ids: readonly number[]) => noGrad(() => {
    const x = model.runWithCache([ids], { names: [name], logits: 'none' }).cache.at(name).toTypedArray() as Float32Array;
    return Float64Array.from(x.subarray((ids.length - 1) * D, ids.length * D));
  });
  return { mode: last(prefixes.mode), others: prefixes.others.map(last) };
}

/**
 * How well a layer's heads can tell the mode word from the others: the
 * smallest distance between the mode word's attention input at the slot and
 * another word's, relative to the mode word's. A parent that learned to
 * ignore the slot can bury the word under activations every word shares
 * (one 10,000-step parent: 0.004 from "soft" at layers 1–3; planted heads
 * learned to read it in parents at 0.28 and above).
 */
export function slotSeparation(model: HookedTransformer, layer: number, prefixes: SlotPrefixes): { distance: number; nearest: number } {
  const { mode, others } = slotInputs(model, layer, prefixes);
  const norm = Math.hypot(...mode);
  let distance = Infinity;
  let nearest = -1;
  others.forEach((x, k) => {
    const d = Math.hypot(...x.map((v, i) => v - mode[i]!)) / norm;
    if (d < distance) [distance, nearest] = [d, k];
  });
  return { distance, nearest };
}

/**
 * Start planted heads reading the mode word: row 0 of each head's value
 * weights becomes the direction in which the mode word's attention input
 * differs from the other words' mean, scaled so the value moves by `gain`
 * between them. From a random start the value is mostly what every word
 * shares at the slot, and the head does not learn to read the word in a
 * stage's steps.
 */
export function modeValueInit(model: HookedTransformer, heads: readonly [number, number][], prefixes: SlotPrefixes, gain = 4): void {
  const D = model.cfg.dModel;
  const dh = model.cfg.dHead;
  for (const layer of new Set(heads.map(([l]) => l))) {
    const { mode, others } = slotInputs(model, layer, prefixes);
    const d = mode.map((x, i) => x - others.reduce((a, o) => a + o[i]!, 0) / others.length);
    const dd = d.reduce((a, x) => a + x * x, 0);
    if (!(dd > 0)) throw new TrainingError(`mode value start: at layer ${layer} the mode word's attention input equals the other words' mean`);
    const wv = model.weights.blocks[layer]!.wv.data as Float32Array;
    for (const [l, h] of heads) if (l === layer) for (let i = 0; i < D; i++) wv[h * dh * D + i] = (gain * d[i]!) / dd;
  }
}
