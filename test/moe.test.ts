/**
 * Layers of experts (Mixture of Experts): the hook points add up to what the
 * layer writes, routing follows the router (including a hooked one), and
 * gradients through the routed path match finite differences.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.js';
import { randomModel } from '../src/model/random.js';
import type { HookName } from '../src/model/hooks.js';
import { FAMILY_CONFIGS } from './helpers/families.js';
import { directLogitAttribution, topContributions } from '../src/methods/dla.js';
import { activationPatching } from '../src/methods/patching.js';
import { neuronActivations } from '../src/methods/neurons.js';

const ids = [[3, 17, 8, 41, 22, 9, 30], [5, 5, 12, 48, 1, 33, 7]];

for (const family of ['qwen3_moe', 'mixtral'] as const) {
  test(`${family}: Σ over experts of route weight × expert output equals hook_mlp_out; route weights follow the config`, () => {
    const model = randomModel(FAMILY_CONFIGS[family]!, { seed: 5, std: 0.3, normStd: 0.1 });
    const moe = model.cfg.moe!;
    const l = model.weights.blocks.findIndex((b) => b.experts !== null);
    const E = moe.nExperts;
    const names: HookName[] = [`blocks.${l}.hook_mlp_out`, `blocks.${l}.mlp.hook_expert_weights`, `blocks.${l}.mlp.hook_expert_indices`, `blocks.${l}.mlp.hook_route_weights`,
      ...Array.from({ length: E }, (_, e): HookName => `blocks.${l}.mlp.experts.${e}.hook_post`)];
    const { cache } = T.noGrad(() => model.runWithCache(ids, { names }));
    const [B, P, D] = cache.at(`blocks.${l}.hook_mlp_out`).shape as [number, number, number];
    const out = cache.at(`blocks.${l}.hook_mlp_out`).toArray();
    const probs = cache.at(`blocks.${l}.mlp.hook_expert_weights`).toArray();
    const chosen = cache.at(`blocks.${l}.mlp.hook_expert_indices`).toArray();
    const route = cache.at(`blocks.${l}.mlp.hook_route_weights`).toArray();
    const sum = new Float64Array(B * P * D);
    for (let e = 0; e < E; e++) {
      const post = cache.at(`blocks.${l}.mlp.experts.${e}.hook_post`).toArray();
      const w = model.weights.blocks[l]!.experts![e]!.wOut.toArray(); // [D, I]
      const I = moe.dExpert;
      for (let n = 0; n < B * P; n++) {
        for (let d = 0; d < D; d++) {
          let s = 0;
          for (let i = 0; i < I; i++) s += w[d * I + i]! * post[n * I + i]!;
          sum[n * D + d]! += route[n * E + e]! * s;
        }
      }
    }
    for (let i = 0; i < out.length; i++) assert.ok(Math.abs(out[i]! - sum[i]!) < 1e-5, `position ${Math.floor(i / D)}: ${out[i]} vs ${sum[i]}`);
    for (let n = 0; n < B * P; n++) {
      const picked = chosen.slice(n * moe.topK, (n + 1) * moe.topK);
      const top = [...probs.slice(n * E, (n + 1) * E)].map((p, e) => [p, e] as const).sort((a, b) => b[0] - a[0]).slice(0, moe.topK).map(([, e]) => e);
      assert.deepEqual([...picked].sort(), [...top].sort(), 'the chosen experts are the k most probable');
      const total = picked.reduce((a, e) => a + route[n * E + e]!, 0);
      const expected = moe.normTopK ? 1 : picked.reduce((a, e) => a + probs[n * E + e]!, 0);
      assert.ok(Math.abs(total - expected) < 1e-6, `route weights sum to ${total}, expected ${expected}`);
      for (let e = 0; e < E; e++) if (!picked.includes(e)) assert.equal(route[n * E + e], 0);
    }
  });
}

test('a hook on the router logits changes the routing; one on an expert changes only the positions routed to it', () => {
  const model = randomModel(FAMILY_CONFIGS.mixtral!, { seed: 6, std: 0.3 });
  const E = model.cfg.moe!.nExperts;
  const name: HookName = 'blocks.0.mlp.hook_router_logits';
  // every token to experts 0..k-1 by a wide margin
  const forced = (x: T.Tensor) => T.tensor(Float32Array.from({ length: x.size }, (_, i) => (i % E < model.cfg.moe!.topK ? 50 - (i % E) : -50)), x.shape);
  const { cache } = T.noGrad(() => model.runWithCache(ids, { names: ['blocks.0.mlp.hook_expert_indices', 'blocks.0.mlp.experts.3.hook_post'], fwdHooks: [[name, forced]] }));
  const chosen = cache.at('blocks.0.mlp.hook_expert_indices').toArray();
  assert.ok(chosen.every((e) => e < model.cfg.moe!.topK), 'every token goes to the forced experts');
  assert.ok(cache.at('blocks.0.mlp.experts.3.hook_post').toArray().every((v) => v === 0), 'an expert no token chose reports zeros');
  const plain = T.noGrad(() => model.forward(ids).logits!.toArray());
  const zeroed = T.noGrad(() => model.forward(ids, { fwdHooks: [['blocks.0.mlp.experts.3.hook_post', (x) => T.scale(x, 0)]] }).logits!.toArray());
  const route = T.noGrad(() => model.runWithCache(ids, { names: ['blocks.0.mlp.hook_route_weights'] }).cache.at('blocks.0.mlp.hook_route_weights').toArray());
  const used = route.some((w, i) => i % E === 3 && w > 0);
  assert.equal(plain.some((v, i) => Math.abs(v - zeroed[i]!) > 1e-6), used, 'silencing expert 3 matters exactly when some token is routed to it');
});

test('gradients through a layer of experts match finite differences (router and experts)', () => {
  const model = randomModel(FAMILY_CONFIGS.qwen3_moe!, { seed: 7, std: 0.3, normStd: 0.1 });
  const b = model.weights.blocks.find((x) => x.experts !== null)!;
  const params = [b.router!, b.experts![1]!.wOut, b.experts![2]!.wGate];
  for (const p of params) p.requiresGrad = true;
  const loss = () => T.sum(T.mul(model.forward(ids).logits!, T.tensor(Float32Array.from({ length: 2 * 7 * 50 }, (_, i) => Math.sin(i)), [2, 7, 50])));
  const grads = T.grad(loss(), params);
  for (const [k, p] of params.entries()) {
    const g = grads[k]!.toArray();
    const d = p.data as Float32Array;
    for (const i of [0, 7, Math.floor(p.size / 2), p.size - 1]) {
      const keep = d[i]!;
      const h = 1e-2;
      d[i] = keep + h;
      const up = T.noGrad(() => loss().item());
      d[i] = keep - h;
      const down = T.noGrad(() => loss().item());
      d[i] = keep;
      const fd = (up - down) / (2 * h);
      assert.ok(Math.abs(fd - g[i]!) <= 2e-2 * Math.max(1, Math.abs(fd)), `parameter ${k}, entry ${i}: autograd ${g[i]} vs finite difference ${fd}`);
    }
  }
});

test('direct logit attribution splits a layer of experts into its experts, which add up to the layer', () => {
  for (const family of ['qwen3_moe', 'mixtral'] as const) {
    const model = randomModel(FAMILY_CONFIGS[family]!, { seed: 8, std: 0.3, normStd: 0.1 });
    const r = directLogitAttribution(model, ids[0]!, { tokens: [4, 9] });
    assert.ok(Math.abs(r.sum - r.total) < 1e-4 * Math.max(1, Math.abs(r.total)), `${family}: parts sum to ${r.sum}, the model computes ${r.total}`);
    model.weights.blocks.forEach((b, l) => {
      if (b.experts === null) {
        assert.equal(r.experts![l], null);
        return;
      }
      const parts = r.experts![l]!;
      assert.equal(parts.length, b.experts.length);
      assert.ok(Math.abs(parts.reduce((a, x) => a + x, 0) - r.mlp[l]!) < 1e-4, `${family} layer ${l}: experts sum to the layer's part`);
      assert.ok(parts.filter((x) => x !== 0).length <= model.cfg.moe!.topK, 'only the chosen experts contribute');
    });
    assert.ok(topContributions(r, 100).some(([name]) => /^L\dE\d$/.test(name)), 'experts are ranked among the parts');
  }
});

test('patching neurons of a layer of experts is refused with the fix', () => {
  const model = randomModel(FAMILY_CONFIGS.mixtral!, { seed: 9 });
  assert.throws(() => activationPatching(model, ids[0]!, ids[1]!, { site: 'neurons', layers: [0], metric: { kind: 'kl' } }), (e: Error) => e.name === 'PatchingError' && /layers of experts/.test(e.message) && /Fix: patch the site mlp_out/.test(e.message));
});

test('neuron tools read the dense layers of a model with experts, and refuse a layer of experts with the fix', () => {
  const moe = randomModel(FAMILY_CONFIGS.qwen3_moe!, { seed: 10 });
  const acts = neuronActivations(moe, ids, {});
  assert.deepEqual(acts.layers, [1], 'qwen3_moe here routes in layers 0 and 2; layer 1 is dense');
  assert.throws(() => neuronActivations(moe, ids, { layers: [0] }), (e: Error) => e.name === 'NeuronError' && /layer of experts/.test(e.message) && /Fix:/.test(e.message));
  assert.throws(() => neuronActivations(randomModel(FAMILY_CONFIGS.mixtral!, { seed: 10 }), ids, {}), (e: Error) => e.name === 'NeuronError' && /every layer of this model is a layer of experts/.test(e.message));
});
