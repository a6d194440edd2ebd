/**
 * Hook points: names and shapes, caching only what was asked, reading and
 * replacing activations (whole, per head, per neuron, per position),
 * gradients of a metric with respect to hook points (against finite
 * differences), backward hooks, and hooks on every generated token.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.js';
import { randomModel } from '../src/model/random.js';
import { generate, streamTokens } from '../src/model/generate.js';
import type { HookName, HookFn } from '../src/model/hooks.js';

const llamaCfg = { model_type: 'llama', hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 3, intermediate_size: 48, vocab_size: 40, max_position_embeddings: 64, rms_norm_eps: 1e-6 };
const gpt2Cfg = { model_type: 'gpt2', n_embd: 32, n_head: 4, n_layer: 2, n_positions: 32, vocab_size: 40 };
const llama = randomModel(llamaCfg, { seed: 1, std: 0.2, normStd: 0.1 });
const gpt2 = randomModel(gpt2Cfg, { seed: 2, std: 0.2, biasStd: 0.05, normStd: 0.1 });
const prompt = [[3, 14, 15, 9, 26, 5], [35, 8, 9, 7, 9, 3]];

test('hook points follow TransformerLens names and shapes', () => {
  const { cache } = T.noGrad(() => llama.runWithCache(prompt));
  const [B, P, H, KV, dh, D, F] = [2, 6, 4, 2, 8, 32, 48];
  const expect: [HookName, number[]][] = [
    ['hook_embed', [B, P, D]], ['blocks.0.hook_resid_pre', [B, P, D]], ['blocks.1.attn.hook_q', [B, P, H, dh]],
    ['blocks.1.attn.hook_k', [B, P, KV, dh]], ['blocks.1.attn.hook_v', [B, P, KV, dh]], ['blocks.1.attn.hook_rot_q', [B, P, H, dh]],
    ['blocks.1.attn.hook_attn_scores', [B, H, P, P]], ['blocks.1.attn.hook_pattern', [B, H, P, P]], ['blocks.1.attn.hook_z', [B, P, H, dh]],
    ['blocks.1.attn.hook_result', [B, P, H, D]], ['blocks.1.hook_attn_out', [B, P, D]], ['blocks.1.hook_resid_mid', [B, P, D]],
    ['blocks.1.mlp.hook_pre', [B, P, F]], ['blocks.1.mlp.hook_pre_linear', [B, P, F]], ['blocks.1.mlp.hook_post', [B, P, F]],
    ['blocks.2.hook_mlp_out', [B, P, D]], ['blocks.2.hook_resid_post', [B, P, D]], ['ln_final.hook_normalized', [B, P, D]],
  ];
  for (const [name, shape] of expect) assert.deepEqual(cache.at(name).shape, shape, name);
  assert.deepEqual([...cache.keys()], llama.hookNames(), 'a full cache holds every hook point, in order');
  const rows = T.sum(cache.at('blocks.0.attn.hook_pattern'), -1).toArray();
  rows.forEach((v) => assert.ok(Math.abs(v - 1) < 1e-5, 'pattern rows sum to 1'));
  assert.equal(cache.at('blocks.0.attn.hook_pattern').get(0, 0, 0, 1), 0, 'causal: the first query sees only itself');
});

test('runWithCache keeps only the requested activations', () => {
  const { cache } = T.noGrad(() => llama.runWithCache(prompt, { names: (n) => n.endsWith('hook_resid_post') }));
  assert.deepEqual([...cache.keys()], ['blocks.0.hook_resid_post', 'blocks.1.hook_resid_post', 'blocks.2.hook_resid_post']);
  const one = T.noGrad(() => llama.runWithCache(prompt, { names: ['blocks.1.mlp.hook_post'] }));
  assert.deepEqual([...one.cache.keys()], ['blocks.1.mlp.hook_post']);
});

test('per-head results sum to the attention output; resid_post = resid_mid + mlp_out', () => {
  for (const model of [llama, gpt2]) {
    const { cache } = T.noGrad(() => model.runWithCache(prompt));
    const summed = T.sum(cache.at('blocks.1.attn.hook_result'), 2);
    const bo = model.weights.blocks[1]!.bo;
    const withBias = bo === null ? summed : T.add(summed, bo);
    const diff = T.max(T.abs(T.sub(withBias, cache.at('blocks.1.hook_attn_out'))), -1).toArray();
    assert.ok(Math.max(...diff) < 1e-5, `${model.cfg.family}: Σ heads = attn_out (max diff ${Math.max(...diff)})`);
    const post = T.add(cache.at('blocks.1.hook_resid_mid'), cache.at('blocks.1.hook_mlp_out'));
    assert.deepEqual(post.toArray(), cache.at('blocks.1.hook_resid_post').toArray());
  }
});

test('replacing the whole residual stream at a layer reproduces the source run exactly', () => {
  const source = [[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]];
  const src = T.noGrad(() => llama.runWithCache(source, { names: ['blocks.1.hook_resid_pre'] }));
  const patched = T.noGrad(() => llama.forward(prompt, { fwdHooks: [['blocks.1.hook_resid_pre', () => src.cache.at('blocks.1.hook_resid_pre')]] }));
  assert.deepEqual(patched.logits!.toArray(), src.logits!.toArray());
});

test('per-head, per-neuron and per-position replacements act where they should', () => {
  const base = T.noGrad(() => llama.runWithCache(prompt, { names: ['blocks.1.hook_attn_out', 'blocks.1.hook_mlp_out', 'blocks.1.hook_resid_post'] }));
  // zero every head's z: the attention output is the (absent) bias, i.e. zero
  const allHeads = T.noGrad(() => llama.runWithCache(prompt, { names: ['blocks.1.hook_attn_out'], fwdHooks: [['blocks.1.attn.hook_z', (z) => T.sliceAssign(z, 2, 0, 4, 0)]] }));
  assert.ok(allHeads.cache.at('blocks.1.hook_attn_out').toArray().every((v) => v === 0));
  // one head: output changes, but less than with all heads
  const oneHead = T.noGrad(() => llama.runWithCache(prompt, { names: ['blocks.1.hook_attn_out'], fwdHooks: [['blocks.1.attn.hook_z', (z) => T.sliceAssign(z, 2, 1, 2, 0)]] }));
  const d1 = T.sum(T.abs(T.sub(oneHead.cache.at('blocks.1.hook_attn_out'), base.cache.at('blocks.1.hook_attn_out')))).item();
  assert.ok(d1 > 0);
  // a neuron ablated at one position only changes the MLP output at that position
  const neuron = T.noGrad(() => llama.runWithCache(prompt, { names: ['blocks.1.hook_mlp_out'], fwdHooks: [['blocks.1.mlp.hook_post', (h) => T.sliceAssign(h, 1, 4, 5, T.sliceAssign(T.slice(h, 1, 4, 5), 2, 7, 8, 0))]] }));
  const delta = T.sum(T.abs(T.sub(neuron.cache.at('blocks.1.hook_mlp_out'), base.cache.at('blocks.1.hook_mlp_out'))), 2).toArray();
  delta.forEach((v, i) => (i % 6 === 4 ? assert.ok(v > 0, `position ${i % 6} changed`) : assert.equal(v, 0, `position ${i % 6} unchanged`)));
  // a hook returning the wrong shape is refused with the hook's name
  assert.throws(() => T.noGrad(() => llama.forward(prompt, { fwdHooks: [['blocks.0.hook_resid_pre', () => T.zeros([1, 2])]] })), /hook on 'blocks.0.hook_resid_pre' returned shape \[1, 2\]/);
});

test('gradients at hook points match finite differences of the patched forward pass', () => {
  const target = 7;
  const metric = (logits: T.Tensor) => T.sum(T.select(T.select(T.select(logits, 0, 0), 0, -1), 0, target));
  const names: HookName[] = ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_mid', 'blocks.2.mlp.hook_post', 'blocks.1.attn.hook_pattern'];
  const g = llama.gradients(prompt, metric, names);
  assert.deepEqual([...g.grads.keys()].sort(), [...names].sort());
  const rng = new T.Rng(4);
  for (const name of names) {
    const act = g.activations.get(name)!;
    const dir = T.randn([...act.shape], rng);
    const analytic = T.sum(T.mul(g.grads.get(name)!, dir)).item();
    const at = (eps: number) => T.noGrad(() => metric(llama.forward(prompt, { fwdHooks: [[name, (a) => T.add(a, T.scale(dir, eps))]] }).logits!).item());
    const eps = 1e-3;
    const numeric = (at(eps) - at(-eps)) / (2 * eps);
    assert.ok(Math.abs(analytic - numeric) <= 5e-3 * Math.max(0.1, Math.abs(numeric)), `${name}: analytic ${analytic} vs numeric ${numeric}`);
  }
});

test('backward hooks see the gradient at their hook point and can replace it', () => {
  const metric = (logits: T.Tensor) => T.mean(logits);
  const ref = llama.gradients(prompt, metric, ['blocks.1.hook_resid_pre']).grads.get('blocks.1.hook_resid_pre')!;
  let seen: T.Tensor | null = null;
  const { logits } = llama.runWithHooks(prompt, { bwdHooks: [['blocks.1.hook_resid_pre', (g) => { seen = g; }]] });
  T.backward(metric(logits!));
  assert.ok(seen !== null);
  assert.deepEqual((seen as T.Tensor).toArray(), ref.toArray());
  // zeroing the gradient at layer 1 cuts it off from layer 0
  const cut = llama.gradients(prompt, metric, ['blocks.0.hook_resid_pre'], { bwdHooks: [['blocks.1.hook_resid_pre', (g) => T.scale(g, 0)]] });
  assert.ok(cut.grads.get('blocks.0.hook_resid_pre')!.toArray().every((v) => v === 0));
});

test('hooks run on the prompt and on every generated token; streaming equals generate', async () => {
  const lengths: number[] = [];
  const hook: [HookName, HookFn] = ['hook_embed', (x) => { lengths.push(x.shape[1]!); }];
  const out = generate(llama, [prompt[0]!], { maxNewTokens: 5, stopTokens: [], fwdHooks: [hook] });
  assert.deepEqual(lengths, [6, 1, 1, 1, 1]);
  const streamed: number[] = [];
  for await (const step of streamTokens(llama, [prompt[0]!], { maxNewTokens: 5, stopTokens: [] })) streamed.push(step.tokens[0]!);
  assert.deepEqual(streamed, out.newTokens[0]);
  // a steering hook changes what is generated
  const steered = generate(llama, [prompt[0]!], { maxNewTokens: 5, stopTokens: [], fwdHooks: [['blocks.1.hook_resid_post', (x) => T.add(x, T.scale(T.ones([32]), 5))]] });
  assert.notDeepEqual(steered.newTokens[0], out.newTokens[0]);
});

test('sampling: seeded, top-k 1 is greedy, the KV cache matches full recomputation', () => {
  const greedy = generate(llama, [prompt[0]!], { maxNewTokens: 6, stopTokens: [] });
  assert.deepEqual(generate(llama, [prompt[0]!], { maxNewTokens: 6, stopTokens: [], temperature: 1, topK: 1, seed: 3 }).newTokens, greedy.newTokens);
  const s1 = generate(llama, [prompt[0]!], { maxNewTokens: 6, stopTokens: [], temperature: 1.5, topP: 0.9, seed: 9 });
  const s2 = generate(llama, [prompt[0]!], { maxNewTokens: 6, stopTokens: [], temperature: 1.5, topP: 0.9, seed: 9 });
  assert.deepEqual(s1.newTokens, s2.newTokens);
  // greedy without a cache: argmax of a full forward on the growing sequence
  const seq = [...prompt[0]!];
  for (let i = 0; i < 6; i++) {
    const logits = T.noGrad(() => T.keep(llama.forward([seq], { logits: 'last' }).logits!));
    seq.push(T.argmax(T.reshape(logits, [-1]), 0).item());
  }
  assert.deepEqual(seq.slice(6), greedy.newTokens[0]);
  // stop tokens end a sequence
  const stopAt = greedy.newTokens[0]![2]!;
  const stopped = generate(llama, [prompt[0]!], { maxNewTokens: 6, stopTokens: [stopAt] });
  assert.deepEqual(stopped.newTokens[0], greedy.newTokens[0]!.slice(0, greedy.newTokens[0]!.indexOf(stopAt) + 1));
});

test('left padding: a padded sequence gets the same logits as alone', () => {
  const short = [4, 9, 2];
  const alone = T.noGrad(() => T.keep(gpt2.forward([short]).logits!));
  for (const model of [gpt2, llama]) {
    const a = T.noGrad(() => T.keep(model.forward([short]).logits!));
    const padded = T.noGrad(() => T.keep(model.forward([[0, 0, ...short], [1, 2, 3, 4, 5]], { attentionMask: [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]] }).logits!));
    const tail = T.slice(T.select(padded, 0, 0), 0, 2).toArray();
    const ref = T.select(a, 0, 0).toArray();
    const worst = Math.max(...tail.map((v, i) => Math.abs(v - ref[i]!)));
    assert.ok(worst < 1e-5, `${model.cfg.family}: padded logits differ by ${worst}`);
  }
  assert.ok(alone.size > 0);
});
