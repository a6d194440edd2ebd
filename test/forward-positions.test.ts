/**
 * forward({ logits: { at } }): logits at listed positions only. The last block
 * then computes queries from the earliest listed position on (earlier positions
 * serve as keys and values); logits and gradients must equal the full forward
 * pass's at those positions, on every feature the last block branches on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.js';
import { randomModel } from '../src/model/random.js';
import { ModelInputError } from '../src/model/transformer.js';

const base = { vocab_size: 50, max_position_embeddings: 64 };
const CONFIGS: Record<string, Record<string, unknown>> = {
  'llama (rotary, grouped-query attention)': { ...base, model_type: 'llama', hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 2, intermediate_size: 48 },
  'gpt2 (learned positions, layer norm, biases)': { ...base, model_type: 'gpt2', n_embd: 32, n_head: 4, n_layer: 2, n_positions: 64 },
  'gpt_neox (parallel residual, partial rotary)': { ...base, model_type: 'gpt_neox', hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 2, intermediate_size: 64, rotary_pct: 0.5, use_parallel_residual: true },
  'gemma2 (sliding window, softcaps, sandwich norms)': { ...base, model_type: 'gemma2', hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 2, intermediate_size: 48, head_dim: 8, sliding_window: 3 },
};

// rows of 7 tokens; the second is left-padded by 2 (per-sequence rotary positions)
const ids = [[3, 9, 4, 17, 22, 5, 8], [0, 0, 11, 2, 30, 7, 6]];
const attentionMask = [[1, 1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1, 1]];
const at = [4, 6, 7 + 5, 7 + 6]; // row 0: t 4, 6; row 1: t 5, 6 — the last block starts at t 4
const targets = [1, 2, 3, 4];

for (const [name, cfg] of Object.entries(CONFIGS)) {
  test(`logits.at equals the full forward pass at those positions, values and gradients: ${name}`, () => {
    const model = randomModel(cfg, { seed: 5, std: 0.2, biasStd: 0.1 });
    const params = [...model.parameters().values()];
    for (const p of params) p.requireGrad();
    const full = model.forward(ids, { attentionMask }).logits!; // [2, 7, V]
    const V = full.shape[2]!;
    const picked = T.indexSelect(T.reshape(full, [14, V]), 0, at);
    const some = model.forward(ids, { attentionMask, logits: { at } }).logits!;
    assert.deepEqual(some.shape, [at.length, V]);
    const a = picked.toArray();
    const b = some.toArray();
    const diff = Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));
    assert.ok(diff < 1e-5, `logits differ by ${diff}`);
    const gradsOf = (logits: T.Tensor) => {
      T.backward(T.crossEntropy(logits, T.ids(targets, [targets.length])));
      const g = params.map((p) => p.grad!.toArray());
      for (const p of params) p.grad = null;
      return g;
    };
    const gFull = gradsOf(T.indexSelect(T.reshape(model.forward(ids, { attentionMask }).logits!, [14, V]), 0, at));
    const gSome = gradsOf(model.forward(ids, { attentionMask, logits: { at } }).logits!);
    gFull.forEach((g, i) => {
      const d = Math.max(...g.map((x, j) => Math.abs(x - gSome[i]![j]!)));
      const scale = Math.max(1e-3, ...g.map(Math.abs));
      assert.ok(d <= 1e-5 + 1e-4 * scale, `gradient of ${params[i]!.name ?? i} differs by ${d} (largest entry ${scale})`);
    });
  });
}

test('logits.at: a hooked last block still sees whole sequences; positions outside the tokens are refused', () => {
  const model = randomModel(CONFIGS['llama (rotary, grouped-query attention)']!, { seed: 2 });
  const seen: number[][] = [];
  const out = model.forward(ids, { attentionMask, logits: { at }, fwdHooks: [['blocks.1.hook_resid_post', (x) => void seen.push([...x.shape])]] }).logits!;
  assert.deepEqual(seen, [[2, 7, 32]]);
  const full = model.forward(ids, { attentionMask }).logits!;
  const picked = T.indexSelect(T.reshape(full, [14, 50]), 0, at).toArray();
  assert.ok(Math.max(...out.toArray().map((x, i) => Math.abs(x - picked[i]!))) < 1e-5);
  assert.throws(() => model.forward(ids, { logits: { at: [14] } }), (e: Error) => e instanceof ModelInputError && /outside the 2×7 tokens/.test(e.message));
});
