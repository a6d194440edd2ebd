/**
 * Neuron tracing on small random models with planted neurons.
 *
 * The plant (layer 0, neurons P): the marker token's embedding is set to 5 ×
 * a unit direction ê (about 9× the norm of the other embeddings, so the
 * normalised residual at a marker position points along ê); the planted
 * neurons' input rows (gate and up for llama, W_in for GPT-2) read ê with
 * weight 1, so they fire strongly (llama ≈ 30, GPT-2 ≈ 5) at marker positions
 * and weakly elsewhere; their W_out columns write the unit unembedding û of
 * the target token, scaled (0.03 llama, 0.2 GPT-2) so that each firing neuron
 * adds about 1 along û: five of them raise the target logit without
 * saturating the final norm, so each one's removal is visible on its own. The same models without the plant are the controls: the
 * instruments must not find "planted" neurons there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.js';
import { randomModel } from '../src/model/random.js';
import type { HookedTransformer } from '../src/model/transformer.js';
import { blockHook, type HookSpec } from '../src/model/hooks.js';
import {
  NeuronError, ablationCurve, neuronActivations, rankByActivationDifference, rankByEffect, renderTopActivating, topActivatingExamples,
  type NeuronRef,
} from '../src/methods/neurons.js';

const MARKER = 7;
const TARGET = 13;
const PLANTED = [3, 17, 29, 41, 58];
const V = 50;

function unit(a: number[]): number[] {
  const n = Math.hypot(...a);
  return a.map((v) => v / n);
}

function baseModel(family: 'llama' | 'gpt2', seed: number): HookedTransformer {
  return family === 'llama'
    ? randomModel({ model_type: 'llama', hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 2, intermediate_size: 64, vocab_size: V, max_position_embeddings: 32 }, { seed, std: 0.1, normStd: 0.1 })
    : randomModel({ model_type: 'gpt2', n_embd: 32, n_head: 4, n_layer: 2, n_inner: 64, n_positions: 32, vocab_size: V }, { seed, std: 0.1, biasStd: 0.05, normStd: 0.1 });
}

/** A model whose layer-0 neurons PLANTED fire on the marker token and write towards the target token. */
function plantedModel(family: 'llama' | 'gpt2', seed: number, plant = true): HookedTransformer {
  const model = baseModel(family, seed);
  if (!plant) return model;
  const D = model.cfg.dModel;
  const F = model.cfg.dMlp;
  const w = model.weights;
  let row = Array.from(w.embed.data.subarray(MARKER * D, (MARKER + 1) * D));
  if (family === 'gpt2') {
    // LayerNorm removes the mean: read the centred direction
    const m = row.reduce((a, b) => a + b, 0) / D;
    row = row.map((v) => v - m);
  }
  const dir = unit(row);
  for (let d = 0; d < D; d++) w.embed.data[MARKER * D + d] = 5 * dir[d]!;
  const u = unit(Array.from(w.unembed.data.subarray(TARGET * D, (TARGET + 1) * D)));
  // each planted neuron adds about 1 along û when it fires: a sum of five that does not saturate the final norm
  const gain = family === 'llama' ? 0.03 : 0.2;
  const b0 = w.blocks[0]!;
  for (const n of PLANTED) {
    for (let d = 0; d < D; d++) {
      b0.wIn!.data[n * D + d] = dir[d]!;
      if (b0.wGate !== null) b0.wGate.data[n * D + d] = dir[d]!;
      b0.wOut!.data[d * F + n] = gain * u[d]!;
    }
    if (b0.bIn !== null) b0.bIn.data[n] = 0;
  }
  return model;
}

/** Prompts of 5–9 tokens without the marker; set A ends with it. */
function promptSets(seed: number, n = 12): { setA: number[][]; setB: number[][] } {
  const rng = new T.Rng(seed);
  const tok = () => {
    let t;
    do t = rng.int(V);
    while (t === MARKER);
    return t;
  };
  const setA = Array.from({ length: n }, () => {
    const p = Array.from({ length: 5 + rng.int(5) }, tok);
    p[p.length - 1] = MARKER;
    return p;
  });
  const setB = Array.from({ length: n }, () => Array.from({ length: 5 + rng.int(5) }, tok));
  return { setA, setB };
}

const targetLogit = (row: Float32Array) => row[TARGET]!;

/** Fraction of the top-k entries that are planted neurons. */
function precisionAt(ranked: readonly NeuronRef[], k = PLANTED.length): number {
  return ranked.slice(0, k).filter((r) => r.layer === 0 && PLANTED.includes(r.neuron)).length / k;
}

/** Mean over prompts of score(hooked run) − score(plain run), from the tokens with plain hooks (no batching, no startAt). */
function plainEffect(model: HookedTransformer, prompts: number[][], hooksFor: (i: number) => HookSpec[]): number {
  return T.noGrad(() => {
    let s = 0;
    prompts.forEach((p, i) => {
      const plain = model.forward([p], { logits: 'last' }).logits!.toArray()[TARGET]!;
      const hooked = model.forward([p], { logits: 'last', fwdHooks: hooksFor(i) }).logits!.toArray()[TARGET]!;
      s += hooked - plain;
    });
    return s / prompts.length;
  });
}

function setNeurons(layer: number, neurons: readonly number[], value: (n: number) => T.Tensor | number): HookSpec {
  return [blockHook(layer, 'mlp.hook_post'), (act) => {
    let out = act;
    for (const n of neurons) out = T.sliceAssign(out, 2, n, n + 1, value(n));
    return out;
  }];
}

test('neuronActivations equals the cached mlp.hook_post at the chosen positions, for prompts of different lengths', () => {
  const model = plantedModel('llama', 1);
  const prompts = [[1, 2, 3, 4, 5], [9, 8, 7], [4, 4, 4, 4, 4], [6, 1]];
  const F = model.cfg.dMlp;
  const ref = T.noGrad(() => prompts.map((p) => {
    const { cache } = model.runWithCache([p], { names: [blockHook(0, 'mlp.hook_post'), blockHook(1, 'mlp.hook_post')] });
    return [0, 1].map((l) => cache.at(blockHook(l, 'mlp.hook_post')).toArray());
  }));
  for (const [position, pos] of [['last', (n: number) => [n - 1]], ['all', (n: number) => [...Array(n).keys()]], [-2, (n: number) => [n - 2]], [1, () => [1]]] as const) {
    for (const batchSize of [undefined, 1]) {
      const r = neuronActivations(model, prompts, { position, batchSize });
      assert.deepEqual(r.layers, [0, 1]);
      const expected = prompts.flatMap((p, i) => pos(p.length).map((t) => ({ prompt: i, position: t })));
      assert.deepEqual(r.examples, expected, `examples for position ${position}`);
      for (const l of [0, 1]) {
        const a = r.acts.get(l)!;
        assert.equal(a.length, expected.length * F);
        expected.forEach(({ prompt, position: t }, e) => {
          for (let n = 0; n < F; n++) assert.ok(Math.abs(a[e * F + n]! - ref[prompt]![l]![t * F + n]!) < 1e-5, `layer ${l} example ${e} neuron ${n}`);
        });
      }
    }
  }
  const one = neuronActivations(model, prompts, { layers: [1] });
  assert.deepEqual([...one.acts.keys()], [1]);
  // the planted neurons fire at the marker (prompt 1 position 2) and nowhere else
  const all = neuronActivations(model, prompts, { layers: [0], position: 'all' });
  all.examples.forEach(({ prompt, position }, e) => {
    const isMarker = prompts[prompt]![position] === MARKER;
    for (const n of PLANTED) {
      const a = all.acts.get(0)![e * F + n]!;
      assert.ok(isMarker ? a > 15 : a < 3, `neuron ${n} at prompt ${prompt} position ${position}: ${a}`);
    }
  });
});

for (const family of ['llama', 'gpt2'] as const) {
  test(`${family}: ranking by activation difference finds the planted neurons (precision 1 at k = 5), and nothing in the unplanted model`, () => {
    const { setA, setB } = promptSets(101);
    const model = plantedModel(family, 1);
    const control = plantedModel(family, 1, false);
    for (const measure of ['mean_diff', 'cohen_d', 'auroc'] as const) {
      const r = rankByActivationDifference(model, setA, setB, { measure });
      assert.equal(r.length, 2 * model.cfg.dMlp);
      const p = precisionAt(r);
      assert.ok(p >= 0.9, `${measure}: precision at 5 is ${p}; top: ${r.slice(0, 6).map((x) => `L${x.layer}N${x.neuron}=${x.score.toFixed(2)}`).join(' ')}`);
      for (const x of r.slice(0, 5)) assert.ok(x.meanA > x.meanB + 3, `${measure}: planted neuron ${x.neuron} fires more on set A (${x.meanA} vs ${x.meanB})`);
      if (measure === 'auroc') assert.ok(r.slice(0, 5).every((x) => x.score === 1), 'the planted neurons separate the sets perfectly');
      const keys = r.map((x) => (measure === 'auroc' ? Math.abs(x.score - 0.5) : Math.abs(x.score)));
      for (let i = 1; i < keys.length; i++) assert.ok(keys[i - 1]! >= keys[i]!, 'sorted by strength');
      // the same instrument on the unplanted model does not single out those neurons
      const c = precisionAt(rankByActivationDifference(control, setA, setB, { measure }));
      assert.ok(c <= 0.4, `${measure}: the control model gives precision ${c}`);
    }
    // a mean difference is meanA − meanB exactly
    const md = rankByActivationDifference(model, setA, setB, { measure: 'mean_diff', layers: [1] });
    assert.ok(md.every((x) => x.layer === 1 && Math.abs(x.score - (x.meanA - x.meanB)) < 1e-9));
  });

  test(`${family}: ranking by effect on the target logit finds the planted neurons in every mode`, () => {
    const { setA } = promptSets(102);
    const model = plantedModel(family, 2);
    // patch: the same prompts with the marker replaced
    const source = setA.map((p) => [...p.slice(0, -1), MARKER + 1]);
    for (const [mode, extra] of [['zero_ablate', {}], ['mean_ablate', {}], ['patch', { source }]] as const) {
      const r = rankByEffect(model, setA, { score: targetLogit, mode, ...extra });
      const p = precisionAt(r);
      assert.ok(p >= 0.9, `${mode}: precision at 5 is ${p}; top: ${r.slice(0, 6).map((x) => `L${x.layer}N${x.neuron}=${x.effect.toFixed(3)}`).join(' ')}`);
      for (const x of r.slice(0, 5)) assert.ok(x.effect < -0.1, `${mode}: removing planted neuron ${x.neuron} lowers the target logit (${x.effect})`);
      assert.ok(Math.abs(r[5]!.effect) < 0.5 * Math.abs(r[4]!.effect), `${mode}: the sixth neuron (${r[5]!.effect}) is far below the fifth (${r[4]!.effect})`);
    }
    const control = rankByEffect(plantedModel(family, 2, false), setA, { score: targetLogit, mode: 'zero_ablate' });
    assert.ok(precisionAt(control) <= 0.4, `control precision ${precisionAt(control)}`);
  });
}

test('a random ranking does not pass the precision check', () => {
  const model = plantedModel('llama', 1);
  const all: NeuronRef[] = [0, 1].flatMap((layer) => Array.from({ length: model.cfg.dMlp }, (_, neuron) => ({ layer, neuron })));
  const rng = new T.Rng(7);
  for (let d = 0; d < 50; d++) assert.ok(precisionAt(rng.shuffle([...all])) < 0.9);
});

test('rankByEffect equals single-neuron runs from the tokens with hooks, for any batch size', () => {
  const model = plantedModel('llama', 3);
  const { setA, setB } = promptSets(103, 4);
  const prompts = [setA[0]!, setB[0]!, setA[1]!, setB[1]!];
  const source = prompts.map((p) => p.map((t) => (t + 3) % V));
  const neurons = [PLANTED[0]!, 5, 40];
  const F = model.cfg.dMlp;
  // the mean over every position of every prompt, for mean ablation
  const acts = neuronActivations(model, prompts, { position: 'all' });
  const meanOf = (l: number, n: number) => {
    const a = acts.acts.get(l)!;
    let s = 0;
    for (let e = 0; e < acts.examples.length; e++) s += a[e * F + n]!;
    return s / acts.examples.length;
  };
  for (const mode of ['zero_ablate', 'mean_ablate', 'patch'] as const) {
    const runs = [undefined, 1, 5].map((batchSize) => rankByEffect(model, prompts, { score: targetLogit, mode, neurons, batchSize, ...(mode === 'patch' ? { source } : {}) }));
    for (const r of runs) assert.equal(r.length, 2 * neurons.length);
    for (const layer of [0, 1]) {
      for (const n of neurons) {
        const expected = plainEffect(model, prompts, (i) => {
          if (mode === 'zero_ablate') return [setNeurons(layer, [n], () => 0)];
          if (mode === 'mean_ablate') return [setNeurons(layer, [n], () => meanOf(layer, n))];
          const src = T.noGrad(() => T.keep(T.slice(model.runWithCache([source[i]!], { names: [blockHook(layer, 'mlp.hook_post')] }).cache.at(blockHook(layer, 'mlp.hook_post')), 2, n, n + 1)));
          return [setNeurons(layer, [n], () => src)];
        });
        for (const r of runs) {
          const got = r.find((x) => x.layer === layer && x.neuron === n)!.effect;
          assert.ok(Math.abs(got - expected) < 1e-4, `${mode} L${layer}N${n}: ${got} vs ${expected}`);
        }
      }
    }
  }
  // patching every prompt from itself changes nothing
  const self = rankByEffect(model, prompts, { score: targetLogit, mode: 'patch', source: prompts, neurons });
  assert.ok(self.every((x) => Math.abs(x.effect) < 1e-4));
  let calls = 0;
  rankByEffect(model, prompts, { score: targetLogit, mode: 'zero_ablate', layers: [1], neurons, batchSize: 5, onProgress: () => calls++ });
  assert.ok(calls >= 2);
});

test('ablation curve: the top-5 neurons drop the target logit far more than any 5 random neurons', () => {
  const { setA } = promptSets(104);
  const model = plantedModel('llama', 4);
  const ranked = rankByEffect(model, setA, { score: targetLogit, mode: 'zero_ablate' });
  const ks = [0, 1, 2, 3, 5, 10];
  const c = ablationCurve(model, setA, { score: targetLogit, ranked, ks, randomDraws: 10, seed: 3 });
  assert.deepEqual(c.ks, ks);
  assert.equal(c.random.draws.length, 10);
  assert.ok(c.random.draws.every((d) => d.length === ks.length));
  // k = 0 ablates nothing
  assert.ok(Math.abs(c.topK[0]! - c.baseline) < 1e-4);
  assert.ok(c.random.draws.every((d) => Math.abs(d[0]! - c.baseline) < 1e-4));
  // the curve falls as planted neurons are removed
  for (let i = 1; i <= 4; i++) assert.ok(c.topK[i]! < c.topK[i - 1]!, `top-${ks[i]} (${c.topK[i]}) below top-${ks[i - 1]} (${c.topK[i - 1]})`);
  const i5 = ks.indexOf(5);
  const drop = c.baseline - c.topK[i5]!;
  const bar = c.random.mean[i5]! - 3 * c.random.std[i5]!;
  assert.ok(c.topK[i5]! < bar, `top-5 ${c.topK[i5]} vs random ${c.random.mean[i5]} ± ${c.random.std[i5]}`);
  assert.ok(c.random.draws.every((d) => d[i5]! > c.topK[i5]! + 0.5 * drop), 'every random draw of 5 stays far above the top-5 ablation');
  // the top-5 point equals ablating the planted set by hand
  const byHand = plainEffect(model, setA, () => [setNeurons(0, PLANTED, () => 0)]);
  assert.ok(Math.abs(c.topK[i5]! - c.baseline - byHand) < 1e-4, `${c.topK[i5]! - c.baseline} vs ${byHand}`);
  // seeded: the same seed gives the same draws, another seed others
  const again = ablationCurve(model, setA, { score: targetLogit, ranked, ks, randomDraws: 10, seed: 3, batchSize: 7 });
  again.random.draws.forEach((d, i) => d.forEach((v, j) => assert.ok(Math.abs(v - c.random.draws[i]![j]!) < 1e-4)));
  const other = ablationCurve(model, setA, { score: targetLogit, ranked, ks: [10], randomDraws: 10, seed: 4 });
  assert.ok(other.random.draws.some((d, i) => Math.abs(d[0]! - c.random.draws[i]![ks.indexOf(10)]!) > 1e-6));
  // mean ablation separates too
  const m = ablationCurve(model, setA, { score: targetLogit, ranked, ks: [5], randomDraws: 5, seed: 3, mode: 'mean_ablate' });
  assert.ok(m.topK[0]! < m.random.mean[0]! - 3 * m.random.std[0]!, `mean ablation: top-5 ${m.topK[0]} vs ${m.random.mean[0]} ± ${m.random.std[0]}`);
  // random sets come from the layers of the ranked list: layer 1 only never touches the planted neurons
  const l1 = ablationCurve(model, setA, { score: targetLogit, ranked: ranked.filter((x) => x.layer === 1), ks: [5], randomDraws: 10, seed: 3 });
  assert.ok(l1.random.draws.every((d) => Math.abs(d[0]! - l1.baseline) < 0.1 * drop));
  // an unplanted model: the curve of its own top-5 is not separated like that
  const control = plantedModel('llama', 4, false);
  const cr = rankByEffect(control, setA, { score: targetLogit, mode: 'zero_ablate' });
  const cc = ablationCurve(control, setA, { score: targetLogit, ranked: cr, ks: [5], randomDraws: 10, seed: 3 });
  assert.ok(cc.baseline - cc.topK[0]! < 0.5 * drop, `control drop ${cc.baseline - cc.topK[0]!} vs planted ${drop}`);
});

test('top-activating examples of a planted neuron are the marker positions, with the marker highlighted', () => {
  const model = plantedModel('gpt2', 5);
  const rng = new T.Rng(9);
  // 20 texts of 12 tokens; texts 0, 3, 6, … carry the marker at some position
  const texts = Array.from({ length: 20 }, (_, i) => {
    const t = Array.from({ length: 12 }, () => {
      let x;
      do x = rng.int(V);
      while (x === MARKER);
      return x;
    });
    if (i % 3 === 0) t[rng.int(12)] = MARKER;
    return t;
  });
  const markers = texts.filter((t) => t.includes(MARKER)).length;
  const top = topActivatingExamples(model, texts, { layer: 0, neuron: PLANTED[2]!, k: markers + 2, window: 3 });
  assert.equal(top.length, markers + 2);
  top.slice(0, markers).forEach((e) => {
    assert.equal(e.tokens[e.highlight], MARKER, `example from text ${e.text} position ${e.position}`);
    assert.equal(texts[e.text]![e.position], MARKER);
    const from = Math.max(0, e.position - 3);
    assert.deepEqual(e.tokens, texts[e.text]!.slice(from, Math.min(12, e.position + 4)));
    assert.equal(e.highlight, e.position - from);
  });
  for (const e of top.slice(markers)) assert.notEqual(e.tokens[e.highlight], MARKER);
  assert.ok(top[markers - 1]!.activation > 2 * top[markers]!.activation, 'a gap after the marker examples');
  for (let i = 1; i < top.length; i++) assert.ok(top[i - 1]!.activation >= top[i]!.activation);
  // an unplanted neuron's top examples are not the markers
  const other = topActivatingExamples(model, texts, { layer: 0, neuron: 10, k: markers });
  assert.ok(other.filter((e) => e.tokens[e.highlight] === MARKER).length < markers);
  // at most one example per text
  const dup = [[1, MARKER, 2, MARKER, 3]];
  assert.equal(topActivatingExamples(model, dup, { layer: 0, neuron: PLANTED[0]!, k: 3 }).length, 3);
  assert.equal(topActivatingExamples(model, dup, { layer: 0, neuron: PLANTED[0]!, k: 3, maxPerText: 1 }).length, 1);
  // rendering marks the activating token
  const decode = (ids: number[]) => ids.map((i) => (i === MARKER ? 'MK' : `t${i}`)).join(' ');
  const text = renderTopActivating(top.slice(0, 2), decode);
  const lines = text.split('\n');
  assert.equal(lines.length, 2);
  for (const line of lines) assert.match(line, /^\d\. \d+\.\d{3} {2}text \d+ pos \d+: .*«MK»/);
  assert.match(renderTopActivating(top.slice(0, 1), decode, { marks: ['[', ']'], digits: 1 }), /\[MK\]/);
});

test('errors are NeuronErrors naming the field', () => {
  const model = plantedModel('llama', 1);
  const p = [[1, 2, 3], [4, 5, 6, 7]];
  const ranked = [{ layer: 0, neuron: 1 }, { layer: 0, neuron: 2 }];
  const cases: [() => unknown, RegExp][] = [
    [() => neuronActivations(model, []), /prompts must be a non-empty array/],
    [() => neuronActivations(model, [[]]), /prompts\[0\] must be a non-empty array/],
    [() => neuronActivations(model, [[1, V]]), /prompts\[0\]\[1\] = 50 is not a token id in \[0, 50\)/],
    [() => neuronActivations(model, p, { layers: [2] }), /opts\.layers\[0\] = 2 is not a layer of this 2-layer model/],
    [() => neuronActivations(model, p, { position: 3 }), /opts\.position = 3 is outside prompts\[0\] \(3 tokens\)/],
    [() => neuronActivations(model, p, { position: -4 }), /opts\.position = -4 is outside prompts\[0\]/],
    [() => neuronActivations(model, p, { position: 'first' as never }), /opts\.position = first must be/],
    [() => neuronActivations(model, p, { batchSize: 0 }), /opts\.batchSize = 0 must be an integer ≥ 1/],
    [() => rankByActivationDifference(model, p, [], {}), /setB must be a non-empty array/],
    [() => rankByActivationDifference(model, p, p, { measure: 'ttest' as never }), /opts\.measure = ttest/],
    [() => rankByActivationDifference(model, [[1, 2]], p, { measure: 'cohen_d' }), /'cohen_d' needs at least 2 examples in each set \(got 1 and 2\)/],
    [() => rankByEffect(model, p, { score: targetLogit, mode: 'patch' }), /mode 'patch' needs opts\.source/],
    [() => rankByEffect(model, p, { score: targetLogit, mode: 'patch', source: [[1, 2, 3]] }), /opts\.source has 1 prompts for 2 prompts/],
    [() => rankByEffect(model, p, { score: targetLogit, mode: 'patch', source: [[1, 2, 3], [4, 5, 6]] }), /opts\.source\[1\] has 3 tokens but prompts\[1\] has 4/],
    [() => rankByEffect(model, p, { score: targetLogit, mode: 'zero_ablate', source: p }), /only used by mode 'patch'/],
    [() => rankByEffect(model, p, { score: targetLogit, mode: 'knockout' as never }), /opts\.mode = knockout/],
    [() => rankByEffect(model, p, { score: targetLogit, mode: 'zero_ablate', neurons: [64] }), /opts\.neurons\[0\] = 64 is not a neuron index in \[0, 64\)/],
    [() => rankByEffect(model, p, { score: () => NaN, mode: 'zero_ablate', neurons: [1] }), /opts\.score returned NaN for prompt 0/],
    [() => rankByEffect(model, p, { mode: 'zero_ablate' } as never), /opts\.score must be a function/],
    [() => ablationCurve(model, p, { score: targetLogit, ranked, ks: [3] }), /opts\.ks\[0\] = 3 must be an integer in \[0, 2\]/],
    [() => ablationCurve(model, p, { score: targetLogit, ranked: [], ks: [1] }), /opts\.ranked must be a non-empty list/],
    [() => ablationCurve(model, p, { score: targetLogit, ranked: [ranked[0]!, ranked[0]!], ks: [1] }), /opts\.ranked\[1\] \(layer 0, neuron 1\) appears twice/],
    [() => ablationCurve(model, p, { score: targetLogit, ranked: [{ layer: 5, neuron: 0 }], ks: [1] }), /opts\.ranked\[0\]\.layer = 5/],
    [() => ablationCurve(model, p, { score: targetLogit, ranked, ks: [1], randomDraws: 0 }), /opts\.randomDraws = 0 must be an integer ≥ 1/],
    [() => ablationCurve(model, p, { score: targetLogit, ranked, ks: [1], mode: 'patch' as never }), /opts\.mode = patch must be 'zero_ablate' or 'mean_ablate'/],
    [() => topActivatingExamples(model, p, { layer: 0, neuron: -1 }), /opts\.neuron = -1 is not a neuron index/],
    [() => topActivatingExamples(model, p, { layer: 0, neuron: 1, k: 0 }), /opts\.k = 0 must be an integer ≥ 1/],
    [() => renderTopActivating([{ text: 0, position: 0, activation: 1, tokens: [1], highlight: 1 }], String), /highlight 1 outside its 1 tokens/],
  ];
  for (const [fn, re] of cases) {
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof NeuronError, `expected a NeuronError, got ${String(e)}`);
      assert.ok(e instanceof T.CandorError);
      assert.match(e.message, re);
      return true;
    });
  }
});
