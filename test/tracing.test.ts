/**
 * Causal tracing: every cell against a plain hooked forward pass from the
 * embeddings (no startAt, no batching), exact known answers (last layer and
 * last position, positions the noise never reaches, a model whose only
 * cross-position layer is known), determinism and options, ROME's windows,
 * and typed errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.js';
import { randomModel } from '../src/model/random.js';
import { blockHook, type HookName, type HookSpec } from '../src/model/hooks.js';
import type { HookedTransformer } from '../src/model/transformer.js';
import { causalTrace, traceNoise, TracingError, type TraceKind } from '../src/methods/tracing.js';

const llamaCfg = { model_type: 'llama', hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 3, intermediate_size: 48, vocab_size: 40, max_position_embeddings: 64, rms_norm_eps: 1e-6 };
const gpt2Cfg = { model_type: 'gpt2', n_embd: 32, n_head: 4, n_layer: 3, n_positions: 32, vocab_size: 40 };
const neoxCfg = { model_type: 'gpt_neox', hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 3, intermediate_size: 48, vocab_size: 40, max_position_embeddings: 32, rotary_pct: 0.5 };
const gemma2Cfg = { model_type: 'gemma2', hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8, num_hidden_layers: 3, intermediate_size: 48, vocab_size: 40, max_position_embeddings: 32, final_logit_softcapping: 30, attn_logit_softcapping: 50, sliding_window: 4 };
const llama = randomModel(llamaCfg, { seed: 1, std: 0.3, normStd: 0.1 });
const gpt2 = randomModel(gpt2Cfg, { seed: 2, std: 0.3, biasStd: 0.05, normStd: 0.1 });
const ids = [3, 14, 15, 9, 26, 5, 7];
const P = ids.length;

/** P(target) at the last position, in double precision. */
function probOf(logits: T.Tensor, target: number): number {
  const a = logits.toArray();
  const row = a.slice(a.length - logits.shape[logits.ndim - 1]!);
  const m = Math.max(...row);
  const s = row.reduce((acc, v) => acc + Math.exp(v - m), 0);
  return Math.exp(row[target]! - m) / s;
}

/** ROME's window, written as in its code: range(max(0, l - w // 2), min(L, l - (-w // 2))). */
function romeWindow(l: number, w: number, L: number): number[] {
  const out: number[] = [];
  for (let k = Math.max(0, l - Math.floor(w / 2)); k < Math.min(L, l - Math.floor(-w / 2)); k++) out.push(k);
  return out;
}

/**
 * The trace computed the slow way: for every cell and sample, a full forward
 * pass from the tokens with hooks that add the noise at hook_embed and put
 * the clean activation back at the restored points.
 */
function referenceTrace(model: HookedTransformer, toks: number[], corrupt: number[], kind: TraceKind, window: number, samples: number, seed: number, target: number) {
  const L = model.cfg.nLayers;
  const D = model.cfg.dModel;
  const { draws } = traceNoise(model, corrupt.length, { samples, seed });
  const sorted = [...new Set(corrupt)].sort((a, b) => a - b);
  const noise = draws.map((d) => {
    const n = T.zeros([1, toks.length, D]);
    sorted.forEach((p, i) => n.data.set(d.subarray(i * D, (i + 1) * D), p * D));
    return n;
  });
  const clean = T.noGrad(() => model.runWithCache([toks]));
  const run = (s: number, extra: HookSpec[]) =>
    T.noGrad(() => probOf(model.runWithHooks([toks], { fwdHooks: [['hook_embed', (a) => T.add(a, noise[s]!)], ...extra], logits: 'last' }).logits!, target));
  const restoreAt = (name: HookName, p: number): HookSpec => [name, (a) => T.sliceAssign(a, 1, p, p + 1, T.slice(clean.cache.at(name), 1, p, p + 1))];
  let corrupted = 0;
  for (let s = 0; s < samples; s++) corrupted += run(s, []) / samples;
  const restored: number[][] = [];
  for (let l = 0; l < L; l++) {
    const row: number[] = [];
    for (let p = 0; p < toks.length; p++) {
      const names: HookName[] = kind === 'resid' ? [blockHook(l, 'hook_resid_post')] : romeWindow(l, window, L).map((k) => blockHook(k, kind === 'mlp' ? 'hook_mlp_out' : 'hook_attn_out'));
      let v = 0;
      for (let s = 0; s < samples; s++) v += run(s, names.map((n) => restoreAt(n, p))) / samples;
      row.push(v);
    }
    restored.push(row);
  }
  return { cleanProb: probOf(clean.logits!, target), corrupted, restored };
}

function assertGridClose(actual: number[][], expected: number[][], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: layers`);
  actual.forEach((row, l) => {
    assert.equal(row.length, expected[l]!.length, `${what}: positions`);
    row.forEach((v, p) => assert.ok(Math.abs(v - expected[l]![p]!) < tol, `${what} [${l}][${p}]: ${v} vs ${expected[l]![p]}`));
  });
}

test('every cell of every kind equals a plain hooked forward pass from the embeddings', () => {
  const models: [string, HookedTransformer, TraceKind[], number][] = [
    ['llama', llama, ['resid', 'mlp', 'attn'], 3],
    ['gpt2', gpt2, ['resid', 'mlp', 'attn'], 2],
    ['gpt_neox', randomModel(neoxCfg, { seed: 3, std: 0.3, biasStd: 0.05, normStd: 0.1 }), ['resid', 'attn'], 3],
    ['gemma2', randomModel(gemma2Cfg, { seed: 4, std: 0.3, normStd: 0.1 }), ['resid', 'mlp'], 2],
  ];
  for (const [name, model, kinds, window] of models) {
    for (const kind of kinds) {
      const corrupt = [3, 1]; // unsorted on purpose
      const r = causalTrace(model, ids, { corrupt, kind, window, samples: 3, seed: 7, batchSize: 5 });
      const ref = referenceTrace(model, ids, corrupt, kind, window, 3, 7, r.target);
      const what = `${name} ${kind}`;
      assert.ok(Math.abs(r.cleanProb - ref.cleanProb) < 1e-6, `${what}: clean ${r.cleanProb} vs ${ref.cleanProb}`);
      assert.ok(Math.abs(r.corruptedProb - ref.corrupted) < 1e-5, `${what}: corrupted ${r.corruptedProb} vs ${ref.corrupted}`);
      assert.ok(Math.abs(r.cleanProb - r.corruptedProb) > 1e-3, `${what}: the noise changes the prediction (${r.cleanProb} vs ${r.corruptedProb})`);
      assertGridClose(r.restored, ref.restored, 1e-5, `${what} restored`);
      assertGridClose(r.indirect, ref.restored.map((row) => row.map((v) => v - ref.corrupted)), 1e-5, `${what} indirect`);
      assert.deepEqual(r.layers, [0, 1, 2]);
      assert.deepEqual(r.positions, [0, 1, 2, 3, 4, 5, 6]);
      assert.equal(r.window, kind === 'resid' ? 1 : window);
      assert.equal(r.kind, kind);
    }
  }
});

test('restoring the last layer at the last position gives back the clean probability; other positions there do nothing', () => {
  for (const model of [llama, gpt2]) {
    const L = model.cfg.nLayers;
    const r = causalTrace(model, ids, { corrupt: [2, 3, 4], samples: 4 });
    assert.ok(Math.abs(r.restored[L - 1]![P - 1]! - r.cleanProb) < 1e-5, `${r.restored[L - 1]![P - 1]} vs clean ${r.cleanProb}`);
    assert.ok(Math.abs(r.indirect[L - 1]![P - 1]! - (r.cleanProb - r.corruptedProb)) < 1e-5);
    for (let p = 0; p < P - 1; p++) assert.ok(Math.abs(r.indirect[L - 1]![p]!) < 1e-6, `last layer, position ${p}`);
    // the default target is the clean run's top prediction
    const logits = T.noGrad(() => model.forward([ids], { logits: 'last' }).logits!);
    assert.equal(r.target, T.argmax(logits, -1).item());
    assert.ok(r.cleanProb > r.corruptedProb, 'noise lowers the top prediction on average');
  }
});

test('positions before the first corrupted one are unreached by the noise: restoring them changes nothing', () => {
  for (const model of [llama, gpt2]) {
    for (const kind of ['resid', 'mlp', 'attn'] as const) {
      const r = causalTrace(model, ids, { corrupt: [5, 3], kind, window: 3, samples: 3 });
      for (let l = 0; l < r.layers.length; l++) for (let p = 0; p < 3; p++) assert.ok(Math.abs(r.indirect[l]![p]!) < 1e-6, `${kind} [${l}][${p}] = ${r.indirect[l]![p]}`);
      // and some cell at or after the corrupted positions does change the result
      assert.ok(r.indirect.some((row) => row.slice(3).some((v) => Math.abs(v) > 1e-4)), kind);
    }
  }
});

test('corrupting only the last position: restoring it after any layer recovers the clean run', () => {
  for (const model of [llama, gpt2]) {
    const r = causalTrace(model, ids, { corrupt: [P - 1], samples: 3 });
    r.restored.forEach((row, l) => {
      assert.ok(Math.abs(row[P - 1]! - r.cleanProb) < 1e-5, `layer ${l}: ${row[P - 1]} vs ${r.cleanProb}`);
      row.slice(0, P - 1).forEach((v) => assert.ok(Math.abs(v - r.corruptedProb) < 1e-6));
    });
  }
});

test('planted circuit: with attention only in layer k, the effect sits at the subject below k and at the last position from k on', () => {
  for (const [cfg, init] of [[{ ...llamaCfg, num_hidden_layers: 4 }, { seed: 5, std: 0.3 }], [{ ...gpt2Cfg, n_layer: 4 }, { seed: 6, std: 0.3, biasStd: 0.05 }]] as const) {
    const model = randomModel(cfg, init);
    const k = 2;
    const L = 4;
    // no attention output anywhere but layer k (a constant bias stays): positions exchange information only there
    model.weights.blocks.forEach((b, l) => {
      if (l !== k) b.wo.data.fill(0);
    });
    const c = 3;
    const r = causalTrace(model, ids, { corrupt: [c], samples: 5, seed: 1 });
    const gap = r.cleanProb - r.corruptedProb;
    assert.ok(Math.abs(gap) > 1e-3, `the noise at the subject matters (${gap})`);
    // restoring the subject before layer k repairs everything; from layer k on only the last position carries it
    const expected = Array.from({ length: L }, (_, l) => Array.from({ length: P }, (_, p) => ((l < k && p === c) || (l >= k && p === P - 1) ? gap : 0)));
    assertGridClose(r.indirect, expected, 1e-5, `${cfg.model_type} resid`);
    // attention outputs: only restoring layer k's output at the last position matters (the subject's own state is noisy)
    const attn = causalTrace(model, ids, { corrupt: [c], samples: 5, seed: 1, kind: 'attn', window: 2 });
    const attnExpected = Array.from({ length: L }, (_, l) => Array.from({ length: P }, (_, p) => (romeWindow(l, 2, L).includes(k) && p === P - 1 ? gap : 0)));
    assertGridClose(attn.indirect, attnExpected, 1e-5, `${cfg.model_type} attn`);
    // MLP outputs: only the subject below k and the last position from k on can matter
    const mlp = causalTrace(model, ids, { corrupt: [c], samples: 5, seed: 1, kind: 'mlp', window: 2 });
    mlp.indirect.forEach((row, l) => row.forEach((v, p) => {
      const w = romeWindow(l, 2, L);
      const can = (p === c && w.some((j) => j < k)) || (p === P - 1 && w.some((j) => j >= k));
      if (!can) assert.ok(Math.abs(v) < 1e-6, `${cfg.model_type} mlp [${l}][${p}] = ${v}`);
    }));
    assert.ok(mlp.indirect.some((row) => Math.abs(row[c]!) > 1e-4), 'some MLP window at the subject matters');
  }
});

test('the noise: 3 × the embedding standard deviation by default, seeded, samples and scale respected', () => {
  // the embedding std, computed here on its own
  const e = llama.weights.embed.toArray();
  const mean = e.reduce((a, b) => a + b, 0) / e.length;
  const std = Math.sqrt(e.reduce((a, b) => a + (b - mean) ** 2, 0) / (e.length - 1));
  const a = causalTrace(llama, ids, { corrupt: [2, 3], seed: 11 });
  assert.ok(Math.abs(a.noiseStd - 3 * std) < 1e-9 * std, `${a.noiseStd} vs ${3 * std}`);
  assert.equal(a.samples, 10);
  const b = causalTrace(llama, ids, { corrupt: [2, 3], seed: 11 });
  assert.deepEqual(b, a, 'same seed, same trace');
  const c = causalTrace(llama, ids, { corrupt: [2, 3], seed: 12 });
  assert.notEqual(c.corruptedProb, a.corruptedProb, 'another seed, other noise');
  const half = causalTrace(llama, ids, { corrupt: [2, 3], seed: 11, noiseScale: 1.5, samples: 2 });
  assert.ok(Math.abs(half.noiseStd - 1.5 * std) < 1e-9 * std);
  assert.equal(half.samples, 2);
  // the draws themselves have that spread
  const { draws } = traceNoise(llama, 2, { seed: 11, samples: 10 });
  const all = draws.flatMap((d) => Array.from(d));
  const sd = Math.sqrt(all.reduce((acc, v) => acc + v * v, 0) / all.length);
  assert.ok(Math.abs(sd / a.noiseStd - 1) < 0.05, `empirical noise std ${sd} vs ${a.noiseStd}`);
  // the corrupted probability is the mean over samples: one sample alone is the first draw
  const one = causalTrace(llama, ids, { corrupt: [2, 3], seed: 11, samples: 1 });
  const two = causalTrace(llama, ids, { corrupt: [2, 3], seed: 11, samples: 2 });
  const second = referenceTrace(llama, ids, [2, 3], 'resid', 1, 2, 11, one.target).corrupted * 2 - one.corruptedProb;
  assert.ok(Math.abs(two.corruptedProb - (one.corruptedProb + second) / 2) < 1e-6);
  // no noise: nothing is corrupted, nothing to restore
  const none = causalTrace(llama, ids, { corrupt: [2, 3], noiseScale: 0, samples: 2 });
  assert.equal(none.noiseStd, 0);
  assert.ok(Math.abs(none.corruptedProb - none.cleanProb) < 1e-6);
  none.indirect.forEach((row) => row.forEach((v) => assert.ok(Math.abs(v) < 1e-6)));
  // Gemma: σ is in hook_embed's units, after the √d_model embedding scale
  const gemma = randomModel({ model_type: 'gemma', hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 1, head_dim: 8, num_hidden_layers: 2, intermediate_size: 48, vocab_size: 40, max_position_embeddings: 32 }, { seed: 9, std: 0.3 });
  const ge = gemma.weights.embed.toArray();
  const gm = ge.reduce((x, y) => x + y, 0) / ge.length;
  const gs = Math.sqrt(ge.reduce((x, y) => x + (y - gm) ** 2, 0) / (ge.length - 1));
  const g = causalTrace(gemma, ids, { corrupt: [1], samples: 1 });
  assert.ok(Math.abs(g.noiseStd - 3 * gs * gemma.cfg.embedScale) < 1e-6 * g.noiseStd, `${g.noiseStd} vs ${3 * gs * gemma.cfg.embedScale}`);
});

test('grids follow the layers and positions asked for; batch size does not change the numbers; progress reaches the total', () => {
  const full = causalTrace(gpt2, ids, { corrupt: [1, 2], kind: 'mlp', window: 3, samples: 3 });
  const part = causalTrace(gpt2, ids, { corrupt: [1, 2], kind: 'mlp', window: 3, samples: 3, layers: [2, 0], positions: [6, 2, 4], batchSize: 1 });
  assert.equal(part.indirect.length, 2);
  part.indirect.forEach((row) => assert.equal(row.length, 3));
  assert.deepEqual(part.layers, [2, 0]);
  assert.deepEqual(part.positions, [6, 2, 4]);
  part.layers.forEach((l, li) => part.positions.forEach((p, pi) => assert.ok(Math.abs(part.restored[li]![pi]! - full.restored[l]![p]!) < 1e-6, `[${l}][${p}]`)));
  const calls: [number, number][] = [];
  causalTrace(llama, ids, { corrupt: [2], samples: 2, batchSize: 4, onProgress: (d, t) => calls.push([d, t]) });
  assert.ok(calls.length > 3);
  calls.forEach(([d, t], i) => {
    assert.equal(t, 3 * P * 2);
    if (i > 0) assert.ok(d >= calls[i - 1]![0]);
  });
  assert.equal(calls[calls.length - 1]![0], 3 * P * 2);
});

test('a window covering every layer restores the same layers for every row of the grid', () => {
  for (const kind of ['mlp', 'attn'] as const) {
    const r = causalTrace(llama, ids, { corrupt: [2], kind, window: 6, samples: 2 });
    assert.equal(r.window, 6);
    r.restored.forEach((row) => row.forEach((v, p) => assert.ok(Math.abs(v - r.restored[0]![p]!) < 1e-6, `${kind} position ${p}`)));
    // a window of one restores a single layer: a different grid
    const one = causalTrace(llama, ids, { corrupt: [2], kind, window: 1, samples: 2 });
    assert.ok(one.restored.some((row, l) => row.some((v, p) => Math.abs(v - r.restored[l]![p]!) > 1e-5)), `${kind}: windows differ`);
  }
});

test('bad positions, targets and options are TracingErrors naming the field', () => {
  const bad: [Parameters<typeof causalTrace>[2], RegExp][] = [
    [{ corrupt: [7] }, /opts\.corrupt\[0\] = 7/],
    [{ corrupt: [1, -1] }, /opts\.corrupt\[1\] = -1/],
    [{ corrupt: [1.5] }, /opts\.corrupt\[0\]/],
    [{ corrupt: [] }, /opts\.corrupt/],
    [{ corrupt: [1], target: 40 }, /opts\.target = 40/],
    [{ corrupt: [1], positions: [0, 9] }, /opts\.positions\[1\] = 9/],
    [{ corrupt: [1], layers: [3] }, /opts\.layers\[0\] = 3/],
    [{ corrupt: [1], samples: 0 }, /opts\.samples/],
    [{ corrupt: [1], noiseScale: -1 }, /opts\.noiseScale/],
    [{ corrupt: [1], kind: 'mlp', window: 0 }, /opts\.window/],
    [{ corrupt: [1], batchSize: 0 }, /opts\.batchSize/],
    [{ corrupt: [1], kind: 'heads' as TraceKind }, /opts\.kind/],
  ];
  for (const [opts, re] of bad) {
    assert.throws(() => causalTrace(llama, ids, opts), (e: unknown) => e instanceof TracingError && e.name === 'TracingError' && re.test(e.message), String(re));
  }
  assert.throws(() => causalTrace(llama, [], { corrupt: [0] }), TracingError);
  assert.throws(() => causalTrace(llama, [1, 99], { corrupt: [0] }), /ids\[1\] = 99/);
});
