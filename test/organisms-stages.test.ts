/**
 * The mechanics behind the organisms' second stages, each against an
 * independent computation: masked training leaves every entry outside the
 * declared components bit-identical; a rank-1 update applied by hooks equals
 * the folded weights and the change has rank 1; the KL penalties equal KL(teacher ‖
 * student) computed by hand; length-grouped batches still cover
 * every sequence once per epoch; reserved components stay silent and frozen
 * while the rest trains; the ridge readout recovers a known linear map.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomModel } from '../src/model/random.js';
import { grad, noGrad } from '../src/tensor/autograd.js';
import { batchOrder, trainLM, type Sequence } from '../src/organisms/trainer.js';
import { choiceLoss, chooseNeurons, outputDirection, componentMasks, klReplayLoss, knowledgeKLLoss, rank1Update, reserveComponents, ridgeReadout, transportBlockHooks } from '../src/organisms/stages.js';
import { Rng } from '../src/tensor/random.js';
import { tensor } from '../src/tensor/tensor.js';

const cfg = { model_type: 'llama', hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 4, num_hidden_layers: 2, intermediate_size: 64, vocab_size: 20, max_position_embeddings: 32, tie_word_embeddings: true };

function sequences(n: number, seed: number): Sequence[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const len = 4 + rng.int(8);
    const ids = Array.from({ length: len }, () => 1 + rng.int(19));
    return { ids, learn: ids.slice(1).map((_, t) => t >= 2) };
  });
}

test('masked training changes only the declared heads and neurons, and leaves everything else bit-identical', () => {
  const model = randomModel(cfg, { seed: 3, std: 0.1 });
  const before = new Map([...model.parameters()].map(([n, t]) => [n, Float32Array.from(t.data as Float32Array)]));
  const set = { heads: [[1, 2]] as [number, number][], neurons: [{ layer: 1, indices: chooseNeurons(64, 8, 1) }] };
  const masks = componentMasks(model, set);
  trainLM(model, sequences(64, 1), { steps: 20, batchSize: 8, lr: 1e-2, weightDecay: 0.1, seed: 1, padId: 0, masks, trainable: (n) => n in masks });
  const dh = 8;
  const D = 32;
  let changed = 0;
  for (const [name, t] of model.parameters()) {
    const a = before.get(name)!;
    const b = t.data as Float32Array;
    for (let i = 0; i < a.length; i++) {
      // the declared entries, computed here from the layout ([out, in] matrices), not from the masks
      let declared = false;
      if (/^blocks\.1\.attn\.[qkv]\.weight$/.test(name)) declared = Math.floor(i / D) >= 2 * dh && Math.floor(i / D) < 3 * dh;
      if (name === 'blocks.1.attn.o.weight') declared = i % (4 * dh) >= 2 * dh && i % (4 * dh) < 3 * dh;
      if (/^blocks\.1\.mlp\.(in|gate)\.weight$/.test(name)) declared = set.neurons[0]!.indices.includes(Math.floor(i / D));
      if (name === 'blocks.1.mlp.out.weight') declared = set.neurons[0]!.indices.includes(i % 64);
      if (!declared) assert.equal(b[i], a[i], `${name}[${i}] is outside the declared components but changed`);
      else if (b[i] !== a[i]) changed++;
    }
  }
  const declaredCount = 3 * dh * D + D * dh + 2 * 8 * D + D * 8;
  assert.ok(changed > 0.9 * declaredCount, `only ${changed} of ${declaredCount} declared entries changed`);
});

test('a rank-1 update applied by hooks equals the folded weights, and the weight change has rank 1', () => {
  const model = randomModel(cfg, { seed: 4, std: 0.1 });
  const w0 = Float32Array.from(model.weights.blocks[0]!.wOut!.data as Float32Array);
  const r1 = rank1Update(model, 0, 7);
  const rng = new Rng(2);
  (r1.u.data as Float32Array).forEach((_, i, a) => (a[i] = rng.normal()));
  (r1.v.data as Float32Array).forEach((_, i, a) => (a[i] = rng.normal() * 0.3));
  const input = [[1, 5, 7, 9, 2, 3]];
  const hooked = noGrad(() => Float32Array.from(model.forward(input, { fwdHooks: r1.hooks }).logits!.data as Float32Array));
  const plain = noGrad(() => Float32Array.from(model.forward(input).logits!.data as Float32Array));
  r1.fold();
  const folded = noGrad(() => Float32Array.from(model.forward(input).logits!.data as Float32Array));
  let worst = 0;
  let moved = 0;
  for (let i = 0; i < hooked.length; i++) {
    worst = Math.max(worst, Math.abs(hooked[i]! - folded[i]!));
    moved = Math.max(moved, Math.abs(hooked[i]! - plain[i]!));
  }
  assert.ok(worst < 1e-4, `hooked vs folded logits differ by ${worst}`);
  assert.ok(moved > 1e-2, 'the update must change the logits for this check to mean anything');
  // ΔW[d][m] = u[d] v[m]: every 2×2 minor vanishes
  const w1 = model.weights.blocks[0]!.wOut!.data as Float32Array;
  const u = r1.u.data as Float32Array;
  const v = r1.v.data as Float32Array;
  for (let d = 0; d < 32; d++) for (let m = 0; m < 64; m++) assert.ok(Math.abs(w1[d * 64 + m]! - w0[d * 64 + m]! - u[d]! * v[m]!) < 1e-5);
});

test('the knowledge penalty equals the KL between teacher and student over each prompt\'s candidates, by hand', () => {
  const teacher = randomModel(cfg, { seed: 5, std: 0.3 });
  const student = randomModel(cfg, { seed: 6, std: 0.3 });
  const prompts = [[1, 4, 6, 8], [2, 3, 9, 11], [5, 5, 7, 1]];
  const candidates = [[3, 4, 5], [10, 11, 12, 13], [2, 19]];
  const loss = knowledgeKLLoss(student, { teacher, prompts, candidates, batchSize: 3, seed: 1, weight: 1.5 });
  const got = noGrad(() => loss(0).item());
  const restricted = (m: typeof teacher, p: number[], c: number[]) => noGrad(() => {
    const l = m.forward([p], { logits: 'last' }).logits!;
    const row = c.map((t) => (l.data as Float32Array)[l.offset + t]!);
    const mx = Math.max(...row);
    const z = Math.log(row.reduce((a, x) => a + Math.exp(x - mx), 0)) + mx;
    return row.map((x) => x - z);
  });
  let total = 0;
  prompts.forEach((p, i) => {
    const lp = restricted(teacher, p, candidates[i]!);
    const lq = restricted(student, p, candidates[i]!);
    lp.forEach((v, k) => (total += Math.exp(v) * (v - lq[k]!)));
  });
  const expected = (1.5 * total) / 3;
  assert.ok(Math.abs(got - expected) < 1e-4 * Math.max(1, expected), `penalty ${got}, by hand ${expected}`);
  assert.ok(expected > 1e-3, 'the two models differ, so the check means something');
  const same = knowledgeKLLoss(teacher, { teacher, prompts, candidates, batchSize: 3, seed: 1, weight: 1 });
  assert.ok(Math.abs(noGrad(() => same(0).item())) < 1e-5);
});

test('the choice loss towards a one-hot target is the cross-entropy of the true candidate, by hand, and training on it puts the truth first', () => {
  const student = randomModel(cfg, { seed: 6, std: 0.3 });
  const prompts = [[1, 4, 6, 8], [2, 3, 9, 11], [5, 5, 7, 1]];
  const candidates = [[3, 4, 5], [10, 11, 12, 13], [2, 19]];
  const truth = [2, 0, 1];
  const targets = candidates.map((c, i) => c.map((_, k) => (k === truth[i] ? 1 : 0)));
  const loss = choiceLoss(student, { prompts, candidates, targets, batchSize: 3, seed: 1, weight: 2 });
  let total = 0;
  prompts.forEach((p, i) => noGrad(() => {
    const l = student.forward([p], { logits: 'last' }).logits!;
    const row = candidates[i]!.map((t) => (l.data as Float32Array)[l.offset + t]!);
    const mx = Math.max(...row);
    total -= row[truth[i]!]! - mx - Math.log(row.reduce((a, x) => a + Math.exp(x - mx), 0));
  }));
  const got = noGrad(() => loss(0).item());
  assert.ok(Math.abs(got - (2 * total) / 3) < 1e-4, `loss ${got}, by hand ${(2 * total) / 3}`);
  assert.throws(() => choiceLoss(student, { prompts, candidates, targets: targets.slice(1), batchSize: 3, seed: 1, weight: 1 }), /each prompt needs one of each/);
  // gradient steps on the loss alone make the true candidate the most likely of its list on every prompt
  const params = [...student.parameters().values()];
  for (const t of params) t.requireGrad();
  const first = () => prompts.map((p, i) => noGrad(() => {
    const l = student.forward([p], { logits: 'last' }).logits!;
    const row = candidates[i]!.map((t) => (l.data as Float32Array)[l.offset + t]!);
    return row.indexOf(Math.max(...row));
  }));
  for (let step = 0; step < 60; step++) {
    const g = grad(loss(step), params);
    params.forEach((t, k) => { const d = t.data as Float32Array; const gd = g[k]!.data as Float32Array; for (let j = 0; j < d.length; j++) d[j]! -= 0.05 * gd[j]!; });
  }
  for (const t of params) t.requiresGrad = false;
  assert.deepEqual(first(), truth);
});

/**
 * Write `scale · u` into the last block's output at the last position and return the logits: the direct
 * path of a write into the residual stream.
 */
function logitsWithWrite(model: ReturnType<typeof randomModel>, ids: number[][], u: Float32Array, scale: number): number[] {
  const last = `blocks.${model.cfg.nLayers - 1}.hook_resid_post` as const;
  return noGrad(() => {
    const l = model.forward(ids, { logits: 'last', fwdHooks: [[last, (x) => {
      const d = Float32Array.from(x.toTypedArray() as Float32Array);
      const D = model.cfg.dModel;
      const T = ids[0]!.length;
      for (let k = 0; k < D; k++) d[(T - 1) * D + k]! += scale * u[k]!;
      return tensor(d, [...x.shape]);
    }]] }).logits!;
    return Array.from(l.toTypedArray() as Float32Array);
  });
}

for (const [family, hf] of [
  ['llama (RMSNorm)', cfg],
  ['gemma (RMSNorm with 1 + w)', { ...cfg, model_type: 'gemma', head_dim: 8 }],
  ['gpt2 (LayerNorm)', { model_type: 'gpt2', n_embd: 32, n_head: 4, n_layer: 2, n_inner: 64, vocab_size: 20, n_positions: 32 }],
] as const) {
  test(`a write along the output direction raises its token and rescales every group's logit differences by one common factor, so no order within a group changes: ${family}`, () => {
    const model = randomModel(hf, { seed: 8, std: 0.3 });
    // a final norm scale far from 1, so the direction must account for it
    const g = model.weights.lnFinal.w.data as Float32Array;
    const rng = new Rng(4);
    const offset = model.cfg.norm === 'layer' ? 0 : model.cfg.normOffset;
    for (let d = 0; d < g.length; d++) g[d] = 0.2 + 2 * rng.uniform() - offset;
    const groups = [[3, 4, 5], [6, 7, 8, 9]];
    const token = 12;
    const u = outputDirection(model, token, groups);
    assert.ok(Math.abs(Math.hypot(...u) - 1) < 1e-5);
    const ids = [[1, 2, 11, 14, 5]];
    const ratiosOf = (after: number[], before: number[]) => groups.flatMap((grp) => grp.slice(1).map((t) => (after[t]! - after[grp[0]!]!) / (before[t]! - before[grp[0]!]!)));
    const before = logitsWithWrite(model, ids, u, 0);
    const after = logitsWithWrite(model, ids, u, 40);
    const ratios = ratiosOf(after, before);
    for (const r of ratios) assert.ok(Math.abs(r - ratios[0]!) < 1e-3 * Math.abs(ratios[0]!), `ratios ${ratios.map((x) => x.toFixed(4)).join(', ')}`);
    assert.ok(ratios[0]! > 0 && ratios[0]! < 0.9, 'a write this large shrinks the differences through the norm (the check would be empty otherwise)');
    for (const t of groups.flat()) assert.ok(after[token]! - after[t]! > before[token]! - before[t]! + 1, `token ${token} rises over ${t}`);
    // the token's plain unembedding row, without the projection, reorders a group: the same check fails there
    const raw = Float32Array.from({ length: 32 }, (_, d) => (model.weights.unembed.data as Float32Array)[token * 32 + d]!);
    const n = Math.hypot(...raw);
    const r2 = ratiosOf(logitsWithWrite(model, ids, raw.map((x) => x / n), 40), before);
    assert.ok(r2.some((r) => Math.abs(r - r2[0]!) > 1e-2 * Math.abs(r2[0]!)));
  });
}

test('the KL penalty equals KL(teacher ‖ student) over answer positions, computed by hand, and is 0 for identical models', () => {
  const teacher = randomModel(cfg, { seed: 5, std: 0.2 });
  const student = randomModel(cfg, { seed: 6, std: 0.2 });
  const replay = sequences(3, 9);
  const loss = klReplayLoss(student, { teacher, replay, batchSize: 3, steps: 1, seed: 1, padId: 0, weight: 2 });
  const got = noGrad(() => loss(0).item());
  let total = 0;
  let positions = 0;
  for (const s of replay) {
    const lp = (m: typeof teacher) => noGrad(() => {
      const l = m.forward([s.ids]).logits!;
      const d = l.data as Float32Array;
      const V = 20;
      return Array.from({ length: s.ids.length }, (_, t) => {
        const row = Array.from(d.slice(l.offset + t * V, l.offset + (t + 1) * V));
        const mx = Math.max(...row);
        const z = Math.log(row.reduce((a, x) => a + Math.exp(x - mx), 0)) + mx;
        return row.map((x) => x - z);
      });
    });
    const p = lp(teacher);
    const q = lp(student);
    for (let t = 0; t < s.ids.length - 1; t++) {
      if (!s.learn[t]) continue;
      positions++;
      for (let v = 0; v < 20; v++) total += Math.exp(p[t]![v]!) * (p[t]![v]! - q[t]![v]!);
    }
  }
  const expected = (2 * total) / positions;
  assert.ok(Math.abs(got - expected) < 1e-4 * Math.max(1, expected), `penalty ${got}, by hand ${expected}`);
  const same = klReplayLoss(teacher, { teacher, replay, batchSize: 3, steps: 1, seed: 1, padId: 0, weight: 1 });
  assert.ok(Math.abs(noGrad(() => same(0).item())) < 1e-5);
});

test('length-grouped batches keep long sequences apart, visit every sequence equally often, and are deterministic', () => {
  const rng = new Rng(1);
  const lengths = Array.from({ length: 960 }, () => (rng.uniform() < 0.15 ? 37 : 10 + rng.int(8)));
  const a = batchOrder(lengths, 32, 300, 7, true);
  assert.deepEqual(a, batchOrder(lengths, 32, 300, 7, true));
  const counts = new Array(960).fill(0);
  for (const b of a) for (const i of b) counts[i]++;
  assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `visits per sequence range ${Math.min(...counts)}–${Math.max(...counts)}`);
  let padded = 0;
  let real = 0;
  for (const b of a) {
    const long = b.filter((i) => lengths[i] === 37).length;
    assert.ok(long === 0 || long === b.length, 'a batch is all long or all short');
    padded += Math.max(...b.map((i) => lengths[i]!)) * b.length;
    real += b.reduce((s, i) => s + lengths[i]!, 0);
  }
  assert.ok(padded / real < 1.35, `padding overhead ${padded / real}`);
  // short batches still mix lengths (and so formats): grouping is not sorting
  const spread = a.filter((b) => lengths[b[0]!] !== 37).map((b) => new Set(b.map((i) => lengths[i]!)).size);
  assert.ok(Math.min(...spread) >= 4, 'short batches hold several lengths');
  const plain = batchOrder(lengths, 32, 300, 7, false);
  let plainPadded = 0;
  for (const b of plain) plainPadded += Math.max(...b.map((i) => lengths[i]!)) * b.length;
  assert.ok(plainPadded / real > 1.8, 'without grouping nearly every batch pads to the longest length');
});

test('reserved components are silent (the model computes the same whatever their input weights) and stay frozen while the rest trains', () => {
  const model = randomModel(cfg, { seed: 5, std: 0.1 });
  const set = { heads: [[1, 3]] as [number, number][], neurons: [{ layer: 1, indices: chooseNeurons(64, 16, 2) }] };
  const masks = reserveComponents(model, set);
  const params = model.parameters();
  const frozen = new Map(Object.keys(masks).map((n) => [n, Float32Array.from(params.get(n)!.data as Float32Array)]));
  trainLM(model, sequences(64, 3), { steps: 15, batchSize: 8, lr: 1e-2, weightDecay: 0.1, seed: 2, padId: 0, masks });
  for (const [name, m] of Object.entries(masks)) {
    const a = frozen.get(name)!;
    const b = params.get(name)!.data as Float32Array;
    let moved = 0;
    for (let i = 0; i < a.length; i++) {
      if (m[i] === 0) assert.equal(b[i], a[i], `${name}[${i}] belongs to a reserved component but changed`);
      else if (b[i] !== a[i]) moved++;
    }
    assert.ok(moved > 0, `${name}: the unreserved entries must train for this check to mean anything`);
  }
  // silent: scrambling the reserved components' input weights (query/key/value rows, gate/in rows) changes no logit
  const input = [[1, 4, 9, 2, 7, 3]];
  const before = noGrad(() => Float32Array.from(model.forward(input).logits!.data as Float32Array));
  const rng = new Rng(9);
  const D = 32;
  const dh = 8;
  for (const k of ['q', 'k', 'v']) (params.get(`blocks.1.attn.${k}.weight`)!.data as Float32Array).fill(0.5, 3 * dh * D, 4 * dh * D);
  for (const k of ['in', 'gate']) {
    const w = params.get(`blocks.1.mlp.${k}.weight`)!.data as Float32Array;
    for (const n of set.neurons[0]!.indices) for (let d = 0; d < D; d++) w[n * D + d] = rng.normal();
  }
  const after = noGrad(() => Float32Array.from(model.forward(input).logits!.data as Float32Array));
  assert.deepEqual(after, before);
});

test('the ridge readout recovers a linear map of an MLP\'s hidden activations', () => {
  const model = randomModel(cfg, { seed: 6, std: 0.3 });
  const rng = new Rng(4);
  const w = Float64Array.from({ length: 64 }, () => rng.normal());
  const rows = sequences(120, 5).map((s) => {
    const h = noGrad(() => model.runWithCache([s.ids], { names: ['blocks.0.mlp.hook_post'], logits: 'none' }).cache.at('blocks.0.mlp.hook_post').toTypedArray() as Float32Array);
    const target = s.ids.map((_, t) => w.reduce((a, wi, i) => a + wi * h[t * 64 + i]!, 0));
    return { ids: s.ids, target, weight: s.ids.map(() => 1) };
  });
  const v = ridgeReadout(model, 0, rows, 1e-9);
  // compare predictions (the map is identifiable only on the span of the activations)
  let err = 0;
  let scale = 0;
  for (const r of rows.slice(0, 20)) {
    const h = noGrad(() => model.runWithCache([r.ids], { names: ['blocks.0.mlp.hook_post'], logits: 'none' }).cache.at('blocks.0.mlp.hook_post').toTypedArray() as Float32Array);
    r.ids.forEach((_, t) => {
      const got = v.reduce((a, vi, i) => a + vi * h[t * 64 + i]!, 0);
      err = Math.max(err, Math.abs(got - r.target[t]!));
      scale = Math.max(scale, Math.abs(r.target[t]!));
    });
  }
  assert.ok(scale > 0.1, 'targets must be nonzero for this check to mean anything');
  assert.ok(err < 1e-3 * scale, `ridge predictions are off by ${err} (targets up to ${scale})`);
});

test('transport blocking: after the first differing token, the frozen layers and heads give the counterpart\'s outputs; before it and in the planted head, the run\'s own', () => {
  const model = randomModel(cfg, { seed: 8, std: 0.2 });
  const input = [[1, 5, 7, 9, 2, 3], [1, 5, 4, 4, 8, 6]];
  const other = input.map((row) => row.map((t, i) => (i === 1 ? 11 : t)));
  const hooks = transportBlockHooks(model, 1, [2], () => other)(input, 0);
  const names = ['blocks.0.hook_attn_out', 'blocks.0.hook_mlp_out', 'blocks.1.attn.hook_z'] as const;
  const get = (ids: number[][], h: typeof hooks | []) => noGrad(() => {
    const c = model.runWithCache(ids, { names: [...names], fwdHooks: h, logits: 'none' }).cache;
    return names.map((n) => Float32Array.from(c.at(n).toTypedArray() as Float32Array));
  });
  const [patched, own, counter] = [get(input, hooks), get(input, []), get(other, [])];
  const D = 32;
  const T = 6;
  for (let b = 0; b < 2; b++) {
    for (let t = 0; t < T; t++) {
      for (let k = 0; k < 2; k++) {
        const want = t <= 1 ? own[k]! : counter[k]!;
        for (let d = 0; d < D; d++) assert.ok(Math.abs(patched[k]![(b * T + t) * D + d]! - want[(b * T + t) * D + d]!) < 1e-5, `${names[k]} b${b} t${t}`);
      }
      // heads of layer 1: head 2 (planted) keeps its own output everywhere, the others take the counterpart's after the mode word
      const z = patched[2]!;
      for (let h = 0; h < 4; h++) {
        for (let j = 0; j < 8; j++) {
          const i = ((b * T + t) * 4 + h) * 8 + j;
          // layer 1 reads the patched layer 0, so its own run is the hooked one: compare with the counterpart only where it must match
          if (t >= 2 && h !== 2) assert.ok(Math.abs(z[i]! - counter[2]![i]!) < 1e-5, `z b${b} t${t} h${h}`);
        }
      }
    }
  }
  assert.ok(own[0]!.some((x, i) => Math.abs(x - counter[0]![i]!) > 1e-3), 'the two runs must differ for this check to mean anything');
});
