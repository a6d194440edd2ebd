/**
 * Linear probes on cases whose answer is known: synthetic features with a
 * planted direction, and a small model whose weights are edited so that a
 * known direction reaches the probed position at exactly one layer.
 */
import { StatisticsError } from '../src/methods/statistics.js';
import { cosine as cos } from '../src/methods/directions.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../src/tensor/index.js';
import { randomModel } from '../src/model/random.js';
import type { HookedTransformer } from '../src/model/transformer.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import {
  ProbeError, accuracy, auroc, collectActivations, fitCCS, fitLogistic, fitMassMean, kfold, complement, loadProbes, makeProbe,
  probeLayers, saveProbes, selectRows, transferMatrix, type FeatureMatrix,
} from '../src/methods/probes.js';

// ---------------------------------------------------------------------------
// synthetic features

function unitRandom(d: number, rng: T.Rng): Float64Array {
  const u = new Float64Array(d);
  for (let k = 0; k < d; k++) u[k] = rng.normal();
  const n = Math.hypot(...u);
  return u.map((x) => x / n);
}

/** n Gaussian rows (N(0, I) plus `mix` × a shared N(0,1) along `noiseDir`), labels alternating, class 1 shifted by delta·u. */
function planted(n: number, d: number, u: Float64Array, delta: number, rng: T.Rng, noise?: { dir: Float64Array; std: number }): { X: FeatureMatrix; y: number[] } {
  const data = new Float32Array(n * d);
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 2;
    y.push(c);
    const g = noise === undefined ? 0 : noise.std * rng.normal();
    for (let k = 0; k < d; k++) data[i * d + k] = rng.normal() + c * delta * u[k]! + (noise === undefined ? 0 : g * noise.dir[k]!) + 0.5;
  }
  return { X: { data, n, d }, y };
}

test('planted direction in Gaussian features: logistic and mass-mean find it; no signal gives chance', () => {
  const rng = new T.Rng(1);
  const d = 32;
  const u = unitRandom(d, rng);
  const train = planted(400, d, u, 5, rng);
  const heldOut = planted(2000, d, u, 5, rng);
  const lr = fitLogistic(train.X, train.y);
  assert.ok(lr.converged, `L-BFGS converged (${lr.iterations} iterations)`);
  const mm = fitMassMean(train.X, train.y);
  for (const [name, fit] of [['logistic', lr], ['mass-mean', mm]] as const) {
    const s = (() => {
      const out: number[] = [];
      for (let i = 0; i < heldOut.X.n; i++) {
        let v = fit.bias;
        for (let k = 0; k < d; k++) v += heldOut.X.data[i * d + k]! * fit.weights[k]!;
        out.push(v);
      }
      return out;
    })();
    const a = auroc(s, heldOut.y);
    const c = cos(fit.direction, u);
    console.log(`# synthetic ${name}: held-out AUROC ${a.toFixed(4)}, accuracy ${accuracy(s, heldOut.y).toFixed(4)}, cos(direction, u) ${c.toFixed(4)}`);
    assert.ok(a >= 0.99, `${name}: AUROC ${a}`);
    assert.ok(c >= 0.95, `${name}: cos ${c}`);
    assert.ok(accuracy(s, heldOut.y) >= 0.97);
    assert.ok(Math.abs(Math.hypot(...fit.direction) - 1) < 1e-9);
  }
  // deterministic
  assert.deepEqual(fitLogistic(train.X, train.y).weights, lr.weights);
  // no signal: the same features with no shift
  const nullTrain = planted(1000, d, u, 0, rng);
  const nullTest = planted(2000, d, u, 0, rng);
  for (const fit of [fitLogistic(nullTrain.X, nullTrain.y), fitMassMean(nullTrain.X, nullTrain.y), fitMassMean(nullTrain.X, nullTrain.y, { whiten: true })]) {
    const a = auroc(makeProbe({ kind: 'logistic', layer: 0, site: 'resid_post', weights: fit.weights, bias: fit.bias }).score(nullTest.X), nullTest.y);
    console.log(`# synthetic, no signal: AUROC ${a.toFixed(4)}`);
    assert.ok(a >= 0.4 && a <= 0.6, `no signal: AUROC ${a}`);
  }
});

test('whitened mass-mean undoes correlated noise: direction ≈ Σ⁻¹u and a higher AUROC', () => {
  const rng = new T.Rng(2);
  const d = 32;
  const u = unitRandom(d, rng);
  // noise with std 4 along a direction 0.6 aligned with u
  const r = unitRandom(d, rng);
  const rp = r.map((x, k) => x - cos(r, u) * u[k]!);
  const rn = Math.hypot(...rp);
  const dir = u.map((x, k) => 0.6 * x + 0.8 * (rp[k]! / rn));
  const noise = { dir, std: 4 };
  const train = planted(4000, d, u, 2, rng, noise);
  const heldOut = planted(2000, d, u, 2, rng, noise);
  const plain = fitMassMean(train.X, train.y);
  const white = fitMassMean(train.X, train.y, { whiten: true, ridge: 1e-3 });
  const aPlain = auroc(makeProbe({ kind: 'mass_mean', layer: 0, site: 'resid_post', ...plain }).score(heldOut.X), heldOut.y);
  const aWhite = auroc(makeProbe({ kind: 'mass_mean', layer: 0, site: 'resid_post', ...white }).score(heldOut.X), heldOut.y);
  // Σ = I + 16·dir dirᵀ, so Σ⁻¹u = u − 16(dir·u)/(1 + 16) dir
  const ideal = u.map((x, k) => x - ((16 * 0.6) / 17) * dir[k]!);
  const c = cos(white.direction, ideal);
  console.log(`# whitening: AUROC ${aPlain.toFixed(4)} → ${aWhite.toFixed(4)}, cos(direction, Σ⁻¹u) ${c.toFixed(4)}`);
  assert.ok(aWhite > aPlain + 0.02, `whitened ${aWhite} vs plain ${aPlain}`);
  assert.ok(c >= 0.95, `cos ${c}`);
});

test('CCS recovers a truth direction from contrast pairs without labels; a few labels fix its sign', () => {
  const rng = new T.Rng(3);
  const d = 32;
  const n = 1000;
  const u = unitRandom(d, rng);
  const yes = unitRandom(d, rng);
  const pos = new Float32Array(n * d);
  const neg = new Float32Array(n * d);
  const truth: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = rng.uniform() < 0.5 ? 1 : 0;
    truth.push(t);
    const sgn = 2 * t - 1;
    for (let k = 0; k < d; k++) {
      const base = 2 * rng.normal(); // the question: shared by both statements, large variance
      pos[i * d + k] = base + 3 * yes[k]! + 4 * sgn * u[k]! + rng.normal();
      neg[i * d + k] = base - 3 * yes[k]! - 4 * sgn * u[k]! + rng.normal();
    }
  }
  const P: FeatureMatrix = { data: pos, n, d };
  const N: FeatureMatrix = { data: neg, n, d };
  const unsup = fitCCS(P, N, { seed: 0, restarts: 5 });
  assert.equal(unsup.signFixed, false);
  assert.ok(Math.abs(cos(unsup.direction, u)) >= 0.95, `unsupervised |cos| ${cos(unsup.direction, u)}`);
  const idx = [0, 1, 2, 3, 4, 5, 6, 7];
  const fit = fitCCS(P, N, { seed: 0, restarts: 5, labels: { indices: idx, labels: idx.map((i) => truth[i]!) } });
  assert.equal(fit.signFixed, true);
  const probe = makeProbe({ kind: 'ccs', layer: 0, site: 'resid_post', ...fit });
  const s = probe.scorePairs(P, N);
  const a = auroc(s, truth);
  const c = cos(fit.direction, u);
  console.log(`# CCS: loss ${fit.loss.toFixed(4)}, AUROC ${a.toFixed(4)}, accuracy ${accuracy(s, truth).toFixed(4)}, cos(direction, u) ${c.toFixed(4)} (restart losses ${fit.restartLosses.map((l) => l.toFixed(3)).join(' ')})`);
  assert.ok(c >= 0.95, `signed cos ${c}`);
  assert.ok(a >= 0.99, `AUROC ${a}`);
  assert.ok(accuracy(s, truth) >= 0.95);
  // labels that say the opposite flip it
  const flipped = fitCCS(P, N, { seed: 0, restarts: 5, labels: { indices: idx, labels: idx.map((i) => 1 - truth[i]!) } });
  assert.ok(cos(flipped.direction, u) <= -0.95);
  // the pair score does not depend on which raw rows were used to fit the normalisation (it uses the stored one)
  const sub = [10, 20, 30];
  assert.deepEqual(probe.scorePairs(selectRows(P, sub), selectRows(N, sub)), sub.map((i) => s[i]!));
});

test('auroc is exact, with ties at average rank; accuracy thresholds at 0', () => {
  assert.equal(auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
  assert.equal(auroc([1, 2, 2, 3], [0, 0, 1, 1]), 0.875);
  assert.equal(auroc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]), 0.5);
  assert.equal(auroc([3, 2, 1], [0, 1, 1]), 0);
  assert.equal(auroc([1, 1, 2, 2, 2], [1, 0, 0, 1, 1]), 3.5 / 6);
  // against the pairwise definition on random scores with many ties
  const rng = new T.Rng(4);
  for (let rep = 0; rep < 20; rep++) {
    const n = 30;
    const s = Array.from({ length: n }, () => rng.int(6));
    const y = Array.from({ length: n }, (_, i) => (i < 2 ? i : rng.int(2)));
    let num = 0;
    let den = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (y[i] === 1 && y[j] === 0) {
      den++;
      num += s[i]! > s[j]! ? 1 : s[i] === s[j] ? 0.5 : 0;
    }
    assert.ok(Math.abs(auroc(s, y) - num / den) < 1e-12);
  }
  assert.equal(accuracy([-1, 0, 0.5, 2], [0, 0, 1, 0]), 0.75);
  assert.throws(() => auroc([1, 2], [1, 1]), (e: unknown) => e instanceof StatisticsError && /both classes/.test((e as Error).message));
  assert.throws(() => auroc([1, 2, 3], [1, 0]), /3 examples/);
  assert.throws(() => auroc([1, NaN], [1, 0]), /NaN/);
  assert.throws(() => accuracy([1], [2]), /must be 0 or 1/);
});

test('kfold: a stratified, seeded partition', () => {
  const labels = Array.from({ length: 23 }, (_, i) => (i % 3 === 0 ? 1 : 0));
  for (const lab of [undefined, labels]) {
    const folds = kfold(23, 5, 7, lab);
    assert.equal(folds.length, 5);
    const all = folds.flat().sort((a, b) => a - b);
    assert.deepEqual(all, Array.from({ length: 23 }, (_, i) => i));
    const sizes = folds.map((f) => f.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `sizes ${sizes}`);
    assert.deepEqual(kfold(23, 5, 7, lab), folds);
    assert.notDeepEqual(kfold(23, 5, 8, lab), folds);
    if (lab !== undefined) {
      const ones = folds.map((f) => f.filter((i) => lab[i] === 1).length);
      assert.ok(Math.max(...ones) - Math.min(...ones) <= 1, `positives per fold ${ones}`);
    }
    for (const f of folds) assert.equal(complement(23, f).length + f.length, 23);
  }
  assert.throws(() => kfold(3, 5), (e: unknown) => e instanceof StatisticsError && /3 examples are too few for 5 folds/.test((e as Error).message));
  assert.throws(() => kfold(10, 1), /k must be an integer ≥ 2/);
});

test('kfold with groups: a group never straddles folds, and paired data scores honestly out-of-fold', () => {
  // 30 facts, each a true and a false statement; 7 facts of size 1 as well
  const groups = [...Array.from({ length: 60 }, (_, i) => `fact${i >> 1}`), ...Array.from({ length: 7 }, (_, i) => `single${i}`)];
  const labels = [...Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? 1 : 0)), ...Array.from({ length: 7 }, (_, i) => i % 2)];
  const folds = kfold(67, 5, 3, labels, groups);
  assert.deepEqual(folds.flat().sort((a, b) => a - b), Array.from({ length: 67 }, (_, i) => i));
  const foldOf = new Map<number, number>();
  folds.forEach((f, k) => f.forEach((i) => foldOf.set(i, k)));
  for (let i = 0; i < 60; i += 2) assert.equal(foldOf.get(i), foldOf.get(i + 1), `both statements of fact ${i >> 1} in one fold`);
  const sizes = folds.map((f) => f.length);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 2, `sizes ${sizes}`);
  assert.deepEqual(kfold(67, 5, 3, labels, groups), folds);
  // features that name the fact and nothing about truth: split pairs make the out-of-fold AUROC fall far
  // below 0.5 (the held-out twin inherits its partner's label, reversed); kept pairs leave it near 0.5
  const X = groups.map((g) => {
    const v = new Float32Array(40);
    let h = 0;
    for (const c of g) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    v[h % 40] = 1;
    v[(h >>> 8) % 40] += 1;
    return v;
  });
  const oof = (fs: number[][]) => {
    const sc = new Array<number>(67);
    for (const test of fs) {
      const train = complement(67, test);
      const fit = fitLogistic(train.map((i) => X[i]!), train.map((i) => labels[i]!), { l2: 1e-2 });
      for (const i of test) sc[i] = fit.bias + X[i]!.reduce((a, x, d) => a + x * fit.weights[d]!, 0);
    }
    return auroc(sc, labels);
  };
  const split = oof(kfold(67, 5, 3, labels));
  const kept = oof(folds);
  assert.ok(split < 0.35, `split pairs: AUROC ${split}`);
  assert.ok(kept > 0.35 && kept < 0.65, `kept pairs: AUROC ${kept}`);
  // single-item groups are stratified like plain folds: positives per fold within one of each other
  const lab31 = Array.from({ length: 31 }, (_, i) => (i % 3 === 0 ? 1 : 0));
  const strat = kfold(31, 5, 2, lab31, lab31.map((_, i) => `q${i}`));
  const pos = strat.map((f) => f.filter((i) => lab31[i] === 1).length);
  assert.ok(Math.max(...pos) - Math.min(...pos) <= 1, `positives per fold ${pos}`);
  assert.throws(() => kfold(4, 3, 0, undefined, ['a', 'a', 'b', 'b']), /2 groups are too few for 3 folds/);
  assert.throws(() => kfold(4, 2, 0, undefined, ['a', 'b']), /2 group keys for 4 examples/);
});

test('fit errors are ProbeErrors that say what is wrong', () => {
  const X = [[1, 2], [3, 4], [5, 6]];
  assert.throws(() => fitLogistic(X, [1, 1, 1]), (e: unknown) => e instanceof ProbeError && /all 3 labels are 1/.test((e as Error).message));
  assert.throws(() => fitLogistic(X, [1, 0]), /2 labels for 3 examples/);
  assert.throws(() => fitMassMean([[1, 2], [3]], [1, 0]), /row 1 has 1 features/);
  assert.throws(() => fitCCS(X, [[1, 2]]), /pairs of the same size/);
  assert.throws(() => fitCCS(X, X, { labels: { indices: [5], labels: [1] } }), /labels.indices\[0\] = 5/);
  assert.throws(() => makeProbe({ kind: 'logistic', layer: 0, site: 'resid_post', weights: [1, 2, 3], bias: 0 }).score(X), /2 columns but the probe has 3 weights/);
});

test('probes are saved and loaded with their fields, scores and metadata', () => {
  const dir = mkdtempSync(join(tmpdir(), 'candor-probes-'));
  try {
    const rng = new T.Rng(5);
    const a = makeProbe({ kind: 'logistic', layer: 3, site: 'resid_post', position: 'last', weights: Array.from({ length: 8 }, () => rng.normal()), bias: 0.25 });
    const b = makeProbe({
      kind: 'ccs', layer: 1, site: 'head', head: 2, position: -2, weights: Array.from({ length: 8 }, () => rng.normal()), bias: -1,
      normalisation: { meanPos: Float64Array.from({ length: 8 }, () => rng.normal()), meanNeg: Float64Array.from({ length: 8 }, () => rng.normal()), scalePos: 1.5, scaleNeg: 0.5 },
    });
    const path = join(dir, 'p.safetensors');
    saveProbes(path, [a, b], { model: 'test-model', note: 'x' });
    const { probes, metadata } = loadProbes(path);
    assert.deepEqual(metadata, { model: 'test-model', note: 'x' });
    assert.equal(probes.length, 2);
    const X = Array.from({ length: 5 }, () => Array.from({ length: 8 }, () => rng.normal()));
    const Y = Array.from({ length: 5 }, () => Array.from({ length: 8 }, () => rng.normal()));
    for (const [orig, got] of [[a, probes[0]!], [b, probes[1]!]] as const) {
      assert.equal(got.kind, orig.kind);
      assert.equal(got.layer, orig.layer);
      assert.equal(got.site, orig.site);
      assert.equal(got.head, orig.head);
      assert.equal(got.position, orig.position);
      assert.deepEqual(got.weights, orig.weights);
      assert.deepEqual(got.direction, orig.direction);
      assert.equal(got.bias, orig.bias);
      got.score(X).forEach((s, i) => assert.ok(Math.abs(s - orig.score(X)[i]!) < 1e-6));
      got.scorePairs(X, Y).forEach((s, i) => assert.ok(Math.abs(s - orig.scorePairs(X, Y)[i]!) < 1e-6));
    }
    // errors name the file and the field
    assert.throws(() => loadProbes(join(dir, 'none.safetensors')), (e: unknown) => e instanceof ProbeError && /none\.safetensors: no probes file/.test((e as Error).message));
    const other = join(dir, 'other.safetensors');
    writeSafetensors(other, { x: T.zeros([2]) }, { metadata: { format: 'candor-tuned-lens' } });
    assert.throws(() => loadProbes(other), /other\.safetensors: field 'format' of the metadata is 'candor-tuned-lens'/);
    const partial = join(dir, 'partial.safetensors');
    writeSafetensors(partial, { 'probes.0.weights': T.zeros([4]) }, { metadata: { format: 'candor-probes', probes: JSON.stringify([{ kind: 'logistic', layer: 0, site: 'resid_post', head: null, position: 'last' }]) } });
    assert.throws(() => loadProbes(partial), /partial\.safetensors: field 'probes\.0\.bias' is missing/);
    const badKind = join(dir, 'kind.safetensors');
    writeSafetensors(badKind, { 'probes.0.weights': T.zeros([4]), 'probes.0.bias': T.zeros([1]) }, { metadata: { format: 'candor-probes', probes: JSON.stringify([{ kind: 'svm', layer: 0, site: 'resid_post' }]) } });
    assert.throws(() => loadProbes(badKind), /field 'probes\[0\]\.kind' is "svm"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------
// a model with a planted direction

const D = 48;
const MARK = 7; // class 1's token: the same embedding as FILLER plus delta·u
const FILLER = 8; // class 0's token at the same place
const GAIN = 100; // how strongly layer 2's head 0 writes what it reads along u

/**
 * A llama model in which a direction u reaches the last position only at
 * layer 2's attention: no token embedding and no MLP has a component along u
 * except MARK's (delta·u), layers 0 and 1 write no attention output, and
 * layer 2's head 0 attends uniformly, reads the u component of each position
 * and writes it (× GAIN) along u. So at the last position the u component of resid_mid is 0 at layers 0
 * and 1 for every prompt, and at layer 2 it is positive exactly when MARK is
 * in the prompt.
 */
function plantedModel(delta: number): { model: HookedTransformer; u: Float64Array } {
  const model = randomModel(
    { model_type: 'llama', hidden_size: D, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 3, intermediate_size: 64, vocab_size: 60, max_position_embeddings: 32 },
    { seed: 21, std: 0.25 },
  );
  const u = unitRandom(D, new T.Rng(99));
  const W = model.weights;
  const projectRows = (t: T.Tensor): void => {
    const [rows, cols] = t.shape as [number, number];
    for (let r = 0; r < rows; r++) {
      let p = 0;
      for (let c = 0; c < cols; c++) p += t.data[r * cols + c]! * u[c]!;
      for (let c = 0; c < cols; c++) t.data[r * cols + c] -= p * u[c]!;
    }
  };
  projectRows(W.embed);
  for (let c = 0; c < D; c++) W.embed.data[MARK * D + c] = W.embed.data[FILLER * D + c]! + delta * u[c]!;
  for (const l of [0, 1]) {
    W.blocks[l]!.wo.data.fill(0);
    // wOut [D, F]: remove the u component of every column (what a neuron writes)
    const w = W.blocks[l]!.wOut!;
    const F = w.shape[1]!;
    for (let f = 0; f < F; f++) {
      let p = 0;
      for (let r = 0; r < D; r++) p += w.data[r * F + f]! * u[r]!;
      for (let r = 0; r < D; r++) w.data[r * F + f] -= p * u[r]!;
    }
  }
  const b2 = W.blocks[2]!;
  const dh = model.cfg.dHead;
  // key-value head 0: value dimension 0 reads u, its other dimensions read nothing
  for (let r = 0; r < dh; r++) for (let c = 0; c < D; c++) b2.wv.data[r * D + c] = r === 0 ? u[c]! : 0;
  // only head 0's value dimension 0 is written, along u
  const HD = b2.wo.shape[1]!;
  b2.wo.data.fill(0);
  for (let r = 0; r < D; r++) b2.wo.data[r * HD] = GAIN * u[r]!;
  // head 0 attends uniformly (its queries are zero), so the mark reaches the last position wherever it is
  b2.wq.data.fill(0, 0, dh * D);
  return { model, u };
}

/** n prompts of length len with random filler tokens; MARK (class 1) or FILLER (class 0) at `at`. */
function prompts(n: number, len: number, at: number, seed: number, shuffleLabels = false): { prompts: number[][]; labels: number[] } {
  const rng = new T.Rng(seed);
  const ps: number[][] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = Array.from({ length: len }, () => 9 + rng.int(50));
    const c = i % 2;
    p[at] = c === 1 ? MARK : FILLER;
    ps.push(p);
    labels.push(shuffleLabels ? rng.int(2) : c);
  }
  return { prompts: ps, labels };
}

test('planted direction in a model: found at the layer it reaches, chance elsewhere, |cos| with u ≥ 0.95', () => {
  const { model, u } = plantedModel(4);
  const data = prompts(200, 8, 3, 1);
  const t0 = Date.now();
  // mass-mean is whitened: the class means also differ, by sampling, along the many directions in which the
  // last token varies (plain mass-mean reaches AUROC ≈ 0.7 here, printed below for comparison)
  for (const [kind, whiten] of [['logistic', false], ['mass_mean', true]] as const) {
    const r = probeLayers(model, { train: data, kind, whiten, site: 'resid_mid', position: 'last', folds: 5, seed: 0 });
    assert.equal(r.evaluation, 'cv');
    assert.deepEqual(r.layers.map((e) => e.layer), [0, 1, 2]);
    for (const e of r.layers) {
      const c = cos(r.probes[e.layer]!.direction, u);
      console.log(`# model ${kind} resid_mid layer ${e.layer}: AUROC ${e.auroc.toFixed(4)} ± ${e.aurocStd.toFixed(4)}, accuracy ${e.accuracy.toFixed(4)} ± ${e.accuracyStd.toFixed(4)}, cos(direction, u) ${c.toFixed(4)}`);
      assert.ok(Number.isFinite(e.aurocStd) && Number.isFinite(e.accuracyStd));
      if (e.layer === 2) {
        assert.ok(e.auroc >= 0.99, `${kind} layer 2: AUROC ${e.auroc}`);
        assert.ok(e.accuracy >= 0.95, `${kind} layer 2: accuracy ${e.accuracy}`);
        assert.ok(c >= 0.95, `${kind} layer 2: cos ${c}`);
      } else assert.ok(e.auroc >= 0.35 && e.auroc <= 0.65, `${kind} layer ${e.layer}: no signal, AUROC ${e.auroc}`);
    }
  }
  const plain = probeLayers(model, { train: data, kind: 'mass_mean', site: 'resid_mid', layers: [2] });
  console.log(`# model mass_mean (not whitened) resid_mid layer 2: AUROC ${plain.layers[0]!.auroc.toFixed(4)}, cos(direction, u) ${cos(plain.probes[0]!.direction, u).toFixed(4)}`);
  // before the marker nothing can know about it, at any layer
  const before = probeLayers(model, { train: data, site: 'resid_post', position: 2 });
  for (const e of before.layers) assert.ok(e.auroc >= 0.35 && e.auroc <= 0.65, `position 2, layer ${e.layer}: AUROC ${e.auroc}`);
  // without the plant, layer 2 is at chance too: the test can fail
  const control = probeLayers(plantedModel(0).model, { train: data, site: 'resid_mid', layers: [2] });
  console.log(`# control (delta 0) layer 2: AUROC ${control.layers[0]!.auroc.toFixed(4)}`);
  assert.ok(control.layers[0]!.auroc <= 0.65, `control: AUROC ${control.layers[0]!.auroc}`);
  console.log(`# model probes: ${Date.now() - t0} ms`);
});

test('probeLayers: cross-validated numbers equal folds done by hand; a test set scores the full probe', () => {
  const { model } = plantedModel(4);
  const data = prompts(60, 8, 3, 2);
  const r = probeLayers(model, { train: data, site: 'resid_mid', layers: [1, 2], folds: 4, seed: 3 });
  const acts = collectActivations(model, data.prompts, { site: 'resid_mid', layers: [1, 2] });
  for (const e of r.layers) {
    const X = acts.get(e.layer)!;
    const aucs: number[] = [];
    const accs: number[] = [];
    for (const testIdx of kfold(60, 4, 3, data.labels)) {
      const trIdx = complement(60, testIdx);
      const fit = fitLogistic(selectRows(X, trIdx), trIdx.map((i) => data.labels[i]!));
      const probe = makeProbe({ kind: 'logistic', layer: e.layer, site: 'resid_mid', ...fit });
      const s = probe.score(selectRows(X, testIdx));
      const y = testIdx.map((i) => data.labels[i]!);
      aucs.push(auroc(s, y));
      accs.push(accuracy(s, y));
    }
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const std = (v: number[]) => Math.sqrt(v.reduce((a, b) => a + (b - mean(v)) ** 2, 0) / (v.length - 1));
    assert.ok(Math.abs(e.auroc - mean(aucs)) < 1e-12 && Math.abs(e.aurocStd - std(aucs)) < 1e-12);
    assert.ok(Math.abs(e.accuracy - mean(accs)) < 1e-12 && Math.abs(e.accuracyStd - std(accs)) < 1e-12);
    // the returned probe is trained on everything
    assert.deepEqual(Array.from(r.probes[r.layers.indexOf(e)]!.weights), Array.from(Float32Array.from(fitLogistic(X, data.labels).weights)));
  }
  const held = prompts(80, 8, 3, 3);
  const rt = probeLayers(model, { train: data, test: held, site: 'resid_mid', layers: [2] });
  assert.equal(rt.evaluation, 'test');
  assert.equal(rt.layers[0]!.aurocStd, 0);
  const heldActs = collectActivations(model, held.prompts, { site: 'resid_mid', layers: [2] }).get(2)!;
  assert.equal(rt.layers[0]!.auroc, auroc(rt.probes[0]!.score(heldActs), held.labels));
  assert.ok(rt.layers[0]!.auroc >= 0.99);
});

test('collectActivations: rows equal the cache at the chosen position, for prompts of any length and for heads', () => {
  const { model } = plantedModel(4);
  const ps = [[9, 10, 11], [12, 13, 14, 15, 16], [17, 18, 19], [20, 21]];
  const acts = collectActivations(model, ps, { site: 'resid_post', position: 'last', batchSize: 1 });
  const heads = collectActivations(model, ps, { site: 'head', layers: [2], position: -2 });
  const H = model.cfg.nHeads;
  const dh = model.cfg.dHead;
  assert.equal(heads.get(2)!.d, H * dh);
  ps.forEach((p, i) => {
    const { cache } = T.noGrad(() => model.runWithCache([p], { names: (n) => n.endsWith('hook_resid_post') || n === 'blocks.2.attn.hook_z' }));
    for (let l = 0; l < 3; l++) {
      const want = T.select(T.select(cache.at(`blocks.${l}.hook_resid_post`), 0, 0), 0, p.length - 1).toArray();
      const got = Array.from(acts.get(l)!.data.subarray(i * D, (i + 1) * D));
      want.forEach((v, k) => assert.ok(Math.abs(v - got[k]!) < 1e-5, `prompt ${i} layer ${l} feature ${k}`));
    }
    const z = T.select(T.select(cache.at('blocks.2.attn.hook_z'), 0, 0), 0, p.length - 2).toArray();
    const got = Array.from(heads.get(2)!.data.subarray(i * H * dh, (i + 1) * H * dh));
    z.forEach((v, k) => assert.ok(Math.abs(v - got[k]!) < 1e-5));
  });
  // per-head probes: head 0 of layer 2 carries the mark
  const data = prompts(100, 8, 3, 4);
  const ph = probeLayers(model, { train: data, site: 'head', perHead: true, layers: [2], kind: 'mass_mean' });
  assert.deepEqual(ph.layers.map((e) => e.head), [0, 1, 2, 3]);
  assert.equal(ph.probes[0]!.weights.length, dh);
  assert.ok(ph.layers[0]!.auroc >= 0.99, `head 0: ${ph.layers[0]!.auroc}`);
  // errors
  assert.throws(() => collectActivations(model, [[1, 2]], { position: 5 }), (e: unknown) => e instanceof ProbeError && /position 5 is outside prompt 0, which has 2 tokens/.test((e as Error).message));
  assert.throws(() => collectActivations(model, [[1, 2]], { layers: [3] }), /layer 3 is not a layer of this 3-layer model/);
  assert.throws(() => collectActivations(model, [[]]), /prompt 0 is empty/);
  assert.throws(() => probeLayers(model, { train: data, kind: 'ccs' }), /CCS needs contrast pairs/);
  assert.throws(() => probeLayers(model, { train: { prompts: data.prompts.slice(0, 6), labels: [0, 0, 0, 0, 1, 1] }, folds: 5 }), /needs at least 5 examples of each class, but one class has 2/);
  assert.throws(() => probeLayers(model, { train: { prompts: data.prompts, labels: [0, 1] } }), /2 labels for 100 examples/);
  assert.throws(() => probeLayers(model, { train: data, site: 'resid_post', perHead: true }), /perHead needs site 'head'/);
  const neox = randomModel({ model_type: 'gpt_neox', hidden_size: 16, num_attention_heads: 2, num_hidden_layers: 1, intermediate_size: 32, vocab_size: 20, max_position_embeddings: 8 }, { seed: 1 });
  assert.throws(() => collectActivations(neox, [[1, 2]], { site: 'resid_mid' }), /'resid_mid' does not exist in this model/);
});

test('CCS on a model: contrast pairs whose true member carries the mark', () => {
  const { model, u } = plantedModel(4);
  // pair i: the same prompt twice, MARK at position 3 in the member that is "true" (the positive one when
  // the label is 1) and FILLER in the other; CCS sees only the pairs, 10 labels fix the sign
  const rng = new T.Rng(6);
  const pos: number[][] = [];
  const neg: number[][] = [];
  const labels: number[] = [];
  for (let i = 0; i < 120; i++) {
    const p = Array.from({ length: 8 }, () => 9 + rng.int(50));
    const t = rng.int(2);
    const q = [...p];
    p[3] = t === 1 ? MARK : FILLER;
    q[3] = t === 1 ? FILLER : MARK;
    pos.push(p);
    neg.push(q);
    labels.push(t);
  }
  const r = probeLayers(model, { train: { prompts: pos, contrast: neg, labels }, kind: 'ccs', site: 'resid_mid', restarts: 3 });
  for (const e of r.layers) {
    const c = cos(r.probes[e.layer]!.direction, u);
    console.log(`# model CCS resid_mid layer ${e.layer}: AUROC ${e.auroc.toFixed(4)} ± ${e.aurocStd.toFixed(4)}, cos(direction, u) ${c.toFixed(4)}`);
    if (e.layer === 2) {
      assert.ok(e.auroc >= 0.99, `CCS layer 2: AUROC ${e.auroc}`);
      assert.ok(c >= 0.95, `CCS layer 2: cos ${c}`);
    } else assert.ok(e.auroc >= 0.35 && e.auroc <= 0.65, `CCS layer ${e.layer}: AUROC ${e.auroc}`);
  }
  assert.equal(r.probes[2]!.kind, 'ccs');
  assert.ok(r.probes[2]!.normalisation !== null);
});

test('transfer matrix: the same mechanism transfers, shuffled labels do not', () => {
  const { model } = plantedModel(4);
  const early = prompts(100, 8, 2, 7);
  const late = prompts(100, 8, 5, 8);
  const shuffled = prompts(100, 8, 3, 9, true);
  const r = transferMatrix(model, [{ name: 'early', ...early }, { name: 'late', ...late }, { name: 'shuffled', ...shuffled }], { layer: 2, site: 'resid_mid' });
  assert.deepEqual(r.names, ['early', 'late', 'shuffled']);
  assert.equal(r.auroc.length, 3);
  for (const row of [...r.auroc, ...r.accuracy]) assert.equal(row.length, 3);
  console.log(`# transfer AUROC: ${r.auroc.map((row) => row.map((v) => v.toFixed(3)).join(' ')).join(' | ')}`);
  assert.ok(r.auroc[0]![0]! >= 0.99 && r.auroc[1]![1]! >= 0.99, 'diagonal (cross-validated)');
  assert.ok(r.auroc[0]![1]! >= 0.99 && r.auroc[1]![0]! >= 0.99, 'early ↔ late transfer');
  assert.ok(r.auroc[2]![2]! >= 0.35 && r.auroc[2]![2]! <= 0.65, `shuffled diagonal ${r.auroc[2]![2]}`);
  assert.ok(r.auroc[0]![2]! >= 0.35 && r.auroc[0]![2]! <= 0.65, `early → shuffled ${r.auroc[0]![2]}`);
  // the off-diagonal entries are the full probes' scores
  const acts = collectActivations(model, late.prompts, { site: 'resid_mid', layers: [2] }).get(2)!;
  assert.equal(r.auroc[0]![1], auroc(r.probes[0]!.score(acts), late.labels));
  const train = transferMatrix(model, [{ name: 'early', ...early }], { layer: 2, site: 'resid_mid', diagonal: 'train' });
  const eAct = collectActivations(model, early.prompts, { site: 'resid_mid', layers: [2] }).get(2)!;
  assert.equal(train.auroc[0]![0], auroc(train.probes[0]!.score(eAct), early.labels));
});
