/**
 * Tuned lens: identity at initialisation, the read-out equals the model's own
 * logits in every norm/softcap family, the KL against an independent
 * computation, the gradient against finite differences, training lowers the
 * KL of every intermediate layer, and save → load (with typed errors for a
 * lens of another model).
 */
import { readOut } from '../src/methods/lens.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../src/tensor/index.js';
import { randomModel } from '../src/model/random.js';
import {
  TunedLens, TunedLensError, trainTunedLens, lensKL, tunedLensLoss, klDivergence, defaultTunedLensPath,
} from '../src/methods/tuned-lens.js';
import { writeSafetensors } from '../src/io/safetensors.js';

const llamaCfg = { model_type: 'llama', hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 4, intermediate_size: 64, vocab_size: 48, max_position_embeddings: 64, rms_norm_eps: 1e-6 };
const llama = randomModel(llamaCfg, { seed: 7, std: 0.2, normStd: 0.1 });
const rng = new T.Rng(11);
const texts = Array.from({ length: 32 }, () => Array.from({ length: 16 }, () => rng.int(48)));

function maxAbsDiff(a: readonly number[], b: readonly number[]): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function randomLens(model: typeof llama, seed: number, std: number): TunedLens {
  const r = new T.Rng(seed);
  const d = model.cfg.dModel;
  const n = model.cfg.nLayers - 1;
  return new TunedLens(d, model.cfg.nLayers, {
    A: Array.from({ length: n }, () => T.randn([d, d], r, std)),
    b: Array.from({ length: n }, () => T.randn([d], r, std)),
  });
}

test('a new tuned lens is the identity, and the last layer is never translated', () => {
  const lens = TunedLens.identity(llama);
  assert.equal(lens.nLayers, 4);
  assert.equal(lens.dModel, 32);
  assert.equal(lens.parameters().length, 6, 'A and b for layers 0..2');
  const { cache } = T.noGrad(() => llama.runWithCache([texts[0]!], { names: (n) => n.endsWith('hook_resid_post') }));
  for (let l = 0; l < 4; l++) {
    const h = cache.at(`blocks.${l}.hook_resid_post`);
    assert.deepEqual(lens.translate(l, h).toArray(), h.toArray(), `layer ${l}`);
    assert.deepEqual(lens.translator(l, h).toArray(), h.toArray());
  }
  // a non-zero lens changes layers 0..2 but returns the last layer's residual itself
  const r = randomLens(llama, 1, 0.1);
  const h0 = cache.at('blocks.0.hook_resid_post');
  assert.ok(maxAbsDiff(r.translate(0, h0).toArray(), h0.toArray()) > 1e-3);
  const h3 = cache.at('blocks.3.hook_resid_post');
  assert.equal(r.translate(3, h3), h3);
  assert.throws(() => r.translate(4, h3), (e: unknown) => e instanceof TunedLensError && /layer 4 is outside \[0, 3\]/.test(e.message));
  assert.throws(() => r.translate(0, T.zeros([2, 5, 16])), TunedLensError);
});

test("the read-out of the last residual is the model's own logits (RMSNorm, LayerNorm with bias, Gemma 2 offset + softcap)", () => {
  const models = [
    llama,
    randomModel({ model_type: 'gpt2', n_embd: 32, n_head: 4, n_layer: 2, n_positions: 32, vocab_size: 40 }, { seed: 2, std: 0.2, biasStd: 0.05, normStd: 0.1 }),
    randomModel({ model_type: 'gemma2', hidden_size: 48, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, num_hidden_layers: 3, intermediate_size: 64, vocab_size: 60, max_position_embeddings: 32, final_logit_softcapping: 3.5, attn_logit_softcapping: 50.5 }, { seed: 15, std: 0.25, normStd: 0.1 }),
  ];
  for (const model of models) {
    const L = model.cfg.nLayers;
    const ids = [[1, 5, 9, 3, 7, 2], [4, 4, 8, 1, 0, 6]];
    const { logits, cache } = T.noGrad(() => model.runWithCache(ids, { names: [`blocks.${L - 1}.hook_resid_post`] }));
    const mine = T.noGrad(() => readOut(model, cache.at(`blocks.${L - 1}.hook_resid_post`)));
    assert.deepEqual(mine.shape, logits!.shape);
    assert.ok(maxAbsDiff(mine.toArray(), logits!.toArray()) < 1e-5, model.cfg.family);
    const kl = lensKL(model, TunedLens.identity(model), ids);
    assert.equal(kl.length, L);
    assert.ok(Math.abs(kl[L - 1]!) < 1e-6, `${model.cfg.family}: the last layer's KL is 0 (${kl[L - 1]})`);
    for (let l = 0; l < L - 1; l++) assert.ok(kl[l]! > 1e-4, `${model.cfg.family}: layer ${l} differs from the output (${kl[l]})`);
  }
});

test('KL matches an independent computation on plain numbers, and is never negative', () => {
  const r = new T.Rng(5);
  const p = T.randn([3, 7, 11], r, 2);
  const q = T.randn([3, 7, 11], r, 2);
  const kl = T.noGrad(() => klDivergence(p, q));
  assert.deepEqual(kl.shape, [3, 7]);
  const pa = p.toArray();
  const qa = q.toArray();
  const ka = kl.toArray();
  for (let row = 0; row < 21; row++) {
    const lse = (a: number[]) => {
      const m = Math.max(...a);
      return m + Math.log(a.reduce((s, v) => s + Math.exp(v - m), 0));
    };
    const x = pa.slice(row * 11, row * 11 + 11);
    const y = qa.slice(row * 11, row * 11 + 11);
    const lx = lse(x);
    const ly = lse(y);
    let want = 0;
    for (let i = 0; i < 11; i++) want += Math.exp(x[i]! - lx) * ((x[i]! - lx) - (y[i]! - ly));
    assert.ok(Math.abs(ka[row]! - want) < 1e-5 * Math.max(1, want), `row ${row}: ${ka[row]} vs ${want}`);
    assert.ok(ka[row]! >= -1e-6);
  }
  // identical distributions: 0; a shift of every logit does not change the distribution
  const same = T.noGrad(() => klDivergence(p, T.addScalar(p, 3.25))).toArray();
  assert.ok(Math.max(...same.map(Math.abs)) < 1e-5);
});

test('the gradient of the training loss w.r.t. A and b matches finite differences', () => {
  const small = randomModel({ ...llamaCfg, hidden_size: 16, num_hidden_layers: 3, intermediate_size: 24, vocab_size: 20 }, { seed: 3, std: 0.3, normStd: 0.1 });
  const seqs = [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 19], [0, 5, 3, 12]]; // ragged: padded with a mask inside
  const lens = randomLens(small, 9, 0.05);
  const params = lens.parameters();
  for (const p of params) p.requireGrad();
  const loss = tunedLensLoss(small, lens, seqs);
  const grads = T.grad(loss, params);
  for (const p of params) p.requireGrad(false);
  const base = loss.item();
  assert.ok(base > 0);
  const r = new T.Rng(21);
  const eps = 1e-2;
  params.forEach((p, i) => {
    // a random unit direction u: compare ⟨∇, u⟩ with (L(p+εu) − L(p−εu)) / 2ε
    const u = T.randn([...p.shape], r).toArray();
    const norm = Math.sqrt(u.reduce((s, v) => s + v * v, 0));
    const g = grads[i]!.toArray();
    const analytic = u.reduce((s, v, j) => s + (v / norm) * g[j]!, 0);
    const d = p.data as Float32Array;
    const orig = Float32Array.from(d);
    const at = (sign: number) => {
      for (let j = 0; j < d.length; j++) d[j] = orig[j]! + (sign * eps * u[j]!) / norm;
      return T.noGrad(() => tunedLensLoss(small, lens, seqs).item());
    };
    const numeric = (at(1) - at(-1)) / (2 * eps);
    d.set(orig);
    assert.ok(Math.abs(analytic) > 1e-3, `parameter ${i}: the directional derivative is not negligible (${analytic})`);
    assert.ok(Math.abs(analytic - numeric) < 2e-3 * Math.abs(analytic) + 1e-6, `parameter ${i}: analytic ${analytic} vs numeric ${numeric}`);
  });
  // and the loss is the mean over layers 0..L-2 of lensKL's per-layer values
  const kl = lensKL(small, lens, seqs);
  assert.ok(Math.abs(base - (kl[0]! + kl[1]!) / 2) < 1e-5, `${base} vs ${kl}`);
});

test('training lowers the KL of every intermediate layer (deterministically)', () => {
  const t0 = performance.now();
  const progress: number[] = [];
  const res = trainTunedLens(llama, texts, { steps: 200, lr: 1e-2, batchSize: 8, seed: 3, onProgress: (s) => progress.push(s) });
  const ms = performance.now() - t0;
  const { klBefore, klAfter, losses } = res;
  const fmt = (a: number[]) => a.map((v) => v.toFixed(4)).join(', ');
  console.log(`# tuned lens: 200 steps in ${ms.toFixed(0)} ms; KL before [${fmt(klBefore)}] after [${fmt(klAfter)}]`);
  assert.equal(losses.length, 200);
  assert.deepEqual(progress, Array.from({ length: 200 }, (_, i) => i + 1));
  assert.equal(klBefore.length, 4);
  assert.ok(Math.abs(klBefore[3]!) < 1e-6 && Math.abs(klAfter[3]!) < 1e-6, 'the last layer is the output itself');
  let reduction = 0;
  for (let l = 0; l < 3; l++) {
    assert.ok(klBefore[l]! > 0.05, `layer ${l}: the logit lens is off (${klBefore[l]})`);
    assert.ok(klAfter[l]! < 0.75 * klBefore[l]!, `layer ${l}: KL ${klBefore[l]} → ${klAfter[l]}`);
    reduction += 1 - klAfter[l]! / klBefore[l]!;
  }
  assert.ok(reduction / 3 > 0.35, `mean reduction ${reduction / 3}`);
  // klBefore is the logit lens, measured independently
  assert.ok(maxAbsDiff(klBefore, lensKL(llama, TunedLens.identity(llama), texts)) < 1e-6);
  assert.ok(maxAbsDiff(klAfter, lensKL(llama, res.lens, texts)) < 1e-6);
  // it generalises to held-out sequences (of other lengths: a padded batch)
  const r2 = new T.Rng(99);
  const held = Array.from({ length: 16 }, () => Array.from({ length: 5 + r2.int(12) }, () => r2.int(48)));
  const heldBefore = lensKL(llama, TunedLens.identity(llama), held);
  const heldAfter = lensKL(llama, res.lens, held);
  console.log(`# held out: KL before [${fmt(heldBefore)}] after [${fmt(heldAfter)}]`);
  for (let l = 0; l < 3; l++) assert.ok(heldAfter[l]! < 0.85 * heldBefore[l]!, `held out, layer ${l}: ${heldBefore[l]} → ${heldAfter[l]}`);
  // the model's weights were not touched, and nothing is left requiring a gradient
  assert.ok([...llama.parameters().values()].every((w) => !w.requiresGrad && w.grad === null));
  assert.ok(res.lens.parameters().every((p) => !p.requiresGrad && p.grad === null));
  // same seed, same lens, bit for bit; another seed, other batches
  const cached = trainTunedLens(llama, texts, { steps: 20, lr: 1e-2, seed: 3 });
  const twin = trainTunedLens(llama, texts, { steps: 20, lr: 1e-2, seed: 3 });
  assert.deepEqual(twin.losses, cached.losses);
  assert.deepEqual(twin.lens.A[1]!.toArray(), cached.lens.A[1]!.toArray());
  const other = trainTunedLens(llama, texts, { steps: 20, lr: 1e-2, seed: 4 });
  assert.notDeepEqual(other.losses, cached.losses);
  // running the model for every batch instead of keeping the residual streams gives the same training
  // (up to float32 rounding: a sequence's activations may differ in the last bit with the batch it is run in)
  const streamed = trainTunedLens(llama, texts, { steps: 20, lr: 1e-2, seed: 3, cacheActivations: false });
  assert.ok(maxAbsDiff(streamed.losses, cached.losses) < 1e-5);
  assert.ok(maxAbsDiff(streamed.lens.A[1]!.toArray(), cached.lens.A[1]!.toArray()) < 1e-4);
});

test('save → load gives the same translations; a lens of another model fails with a TunedLensError', () => {
  const dir = mkdtempSync(join(tmpdir(), 'candor-tl-'));
  try {
    const lens = randomLens(llama, 2, 0.1);
    lens.source = '/models/tiny';
    const path = join(dir, 'tuned-lens.safetensors');
    lens.save(path, { steps: '200' });
    const back = TunedLens.load(path, llama);
    assert.equal(back.source, '/models/tiny');
    assert.equal(back.metadata.format, 'candor-tuned-lens');
    assert.equal(back.metadata.steps, '200');
    assert.equal(back.metadata.d_model, '32');
    const h = T.randn([2, 5, 32], new T.Rng(4));
    for (let l = 0; l < 4; l++) assert.deepEqual(back.translate(l, h).toArray(), lens.translate(l, h).toArray(), `layer ${l}`);
    assert.ok(maxAbsDiff(lensKL(llama, back, texts.slice(0, 4)), lensKL(llama, lens, texts.slice(0, 4))) === 0);

    const isErr = (...patterns: RegExp[]) => (e: unknown) => {
      assert.ok(e instanceof TunedLensError, `expected a TunedLensError, got ${String(e)}`);
      assert.ok(e instanceof T.CandorError);
      for (const p of patterns) assert.match(e.message, p);
      return true;
    };
    const wide = randomModel({ ...llamaCfg, hidden_size: 48 }, { seed: 1 });
    assert.throws(() => TunedLens.load(path, wide), isErr(new RegExp(path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), /field 'd_model' is 32/, /d_model 48/, /\/models\/tiny/));
    const deep = randomModel({ ...llamaCfg, num_hidden_layers: 5 }, { seed: 1 });
    assert.throws(() => TunedLens.load(path, deep), isErr(/field 'n_layers' is 4/, /5 layers/));
    assert.throws(() => TunedLens.load(join(dir, 'missing.safetensors')), isErr(/missing\.safetensors: no tuned lens file/));
    const notLens = join(dir, 'weights.safetensors');
    writeSafetensors(notLens, { x: T.zeros([2]) }, { metadata: { format: 'pt' } });
    assert.throws(() => TunedLens.load(notLens), isErr(/weights\.safetensors: field 'format'/, /'pt'/));
    const broken = join(dir, 'broken.safetensors');
    writeSafetensors(broken, { 'layers.0.A': T.zeros([32, 32]), 'layers.0.b': T.zeros([32]), 'layers.1.A': T.zeros([32, 16]) }, { metadata: { format: 'candor-tuned-lens', d_model: '32', n_layers: '3' } });
    assert.throws(() => TunedLens.load(broken), isErr(/field 'layers\.1\.A' has shape \[32, 16\]/));
    // the identity lens of a trained model round-trips too
    const id = TunedLens.identity(llama);
    id.save(join(dir, 'id.safetensors'));
    assert.ok(TunedLens.load(join(dir, 'id.safetensors')).A.every((a) => a.toArray().every((v) => v === 0)));

    // conventional paths: inside a model folder, beside a single-file checkpoint
    mkdirSync(join(dir, 'model'));
    writeFileSync(join(dir, 'stories15M.bin'), '');
    assert.equal(defaultTunedLensPath(join(dir, 'model')), join(dir, 'model', 'tuned-lens.safetensors'));
    assert.equal(defaultTunedLensPath(join(dir, 'stories15M.bin')), join(dir, 'stories15M.tuned-lens.safetensors'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
