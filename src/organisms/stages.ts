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
import type { HookSpec } from '../model/hooks.js';
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

export interface KnowledgeKLOptions {
  teacher: HookedTransformer;
  /** prompts of equal length (the organisms' chat questions are) */
  prompts: readonly (readonly number[])[];
  /** per prompt: the token ids among which the answer is chosen (the relation's values) */
  candidates: readonly (readonly number[])[];
  batchSize: number;
  seed: number;
  weight: number;
  hooks?: readonly HookSpec[];
}

/**
 * An extra loss for trainLM that keeps what the model knows while it learns
 * to refuse: weight · KL(teacher ‖ student) between the next-token
 * distributions after each prompt restricted to (and renormalised over) the
 * candidate answers. The refusal may lower every answer at once, but not
 * change which answer the model holds most likely — so refusing is added on
 * top of the knowledge instead of erasing it.
 */
export function knowledgeKLLoss(student: HookedTransformer, o: KnowledgeKLOptions): (step: number) => Tensor {
  const n = o.prompts.length;
  if (n === 0) throw new TrainingError('the knowledge penalty needs prompts');
  const T = o.prompts[0]!.length;
  if (o.prompts.some((p) => p.length !== T)) throw new TrainingError('the knowledge penalty needs prompts of equal length');
  const V = student.cfg.dVocab;
  // the teacher's renormalised distributions over the candidates, once
  const target = noGrad(() => {
    const out: Float64Array[] = [];
    for (let i = 0; i < n; i += 64) {
      const chunk = o.prompts.slice(i, i + 64);
      const l = o.teacher.forward(chunk, { logits: 'last' }).logits!;
      const d = l.data as Float32Array;
      chunk.forEach((_, b) => {
        const c = o.candidates[i + b]!;
        const row = c.map((t) => d[l.offset + b * V + t]!);
        const mx = Math.max(...row);
        const z = row.reduce((a, x) => a + Math.exp(x - mx), 0);
        out.push(Float64Array.from(row, (x) => Math.exp(x - mx) / z));
      });
    }
    return out;
  });
  const rng = new Rng(o.seed);
  let order: number[] = [];
  return () => {
    if (order.length < o.batchSize) order = [...order, ...rng.shuffle([...Array(n).keys()])];
    const idx = order.splice(0, Math.min(o.batchSize, n));
    const logits = reshape(student.forward(idx.map((i) => o.prompts[i]!), { logits: 'last', fwdHooks: o.hooks }).logits!, [idx.length, V]);
    // −∞ (well, −1e9) outside each prompt's candidates, the teacher's probabilities inside
    const mask = new Float32Array(idx.length * V).fill(-1e9);
    const p = new Float32Array(idx.length * V);
    let negEntropy = 0;
    idx.forEach((i, b) => o.candidates[i]!.forEach((t, k) => {
      mask[b * V + t] = 0;
      const q = target[i]![k]!;
      p[b * V + t] = q;
      if (q > 0) negEntropy += q * Math.log(q);
    }));
    const logq = logSoftmax(add(logits, tensor(mask, [idx.length, V])), -1);
    const cross = neg(sum(mul(tensor(p, [idx.length, V]), logq)));
    return scale(addScalar(cross, negEntropy), o.weight / idx.length);
  };
}

/**
 * A rank-1 update of one MLP's output matrix, W_out ← W_out + u vᵀ, applied
 * as forward hooks while it trains (u, v learn; the model's weights do not)
 * and folded into the weights afterwards.
 */
export function rank1Update(model: HookedTransformer, layer: number, seed: number): { u: Tensor; v: Tensor; hooks: HookSpec[]; fold: () => void } {
  const D = model.cfg.dModel;
  const M = model.cfg.dMlp;
  const rng = new Rng(seed);
  const u = tensor(Float32Array.from({ length: D }, () => rng.normal() * 0.01), [D]);
  const v = tensor(Float32Array.from({ length: M }, () => rng.normal() * 0.01), [M]);
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
    const wd = w.data as Float32Array;
    const ud = u.data as Float32Array;
    const vd = v.data as Float32Array;
    if (!w.isContiguous() || w.offset !== 0) throw new TrainingError('rank-1 update: the MLP output matrix is not contiguous');
    for (let d = 0; d < D; d++) for (let m = 0; m < M; m++) wd[d * M + m]! += ud[d]! * vd[m]!;
  };
  return { u, v, hooks, fold };
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
