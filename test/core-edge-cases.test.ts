/**
 * Edge cases of the tensor core and the model: strided index tensors and
 * bases, the native exp at the ends of float's range, pooled buffers reached
 * through .data, gradients and caches made inside buffer scopes, token-id
 * views, a failed step on a KV cache, gate biases, list-valued EOS ids, and
 * Hugging Face config defaults (transformers v5 rope_parameters, keys a
 * diff-serialised config.json omits).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../src/tensor/index.js';
import { configFromHF } from '../src/model/config.js';
import { randomModel } from '../src/model/random.js';
import { hfStateDict } from '../src/model/save.js';
import { loadModelSync } from '../src/model/load.js';
import { generate } from '../src/model/generate.js';
import { writeSafetensors } from '../src/io/safetensors.js';

const tiny = {
  model_type: 'llama', hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 2, intermediate_size: 48,
  vocab_size: 50, max_position_embeddings: 64, num_key_value_heads: 2,
};

function maxDiff(a: readonly number[], b: readonly number[]): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

// ---------------------------------------------------------------------------
// tensor ops

test('indexSelect: a non-contiguous index tensor with a storage offset selects its own entries (not storage read from the wrong offset)', () => {
  // column 1 of [[0,1],[2,3]]: a view with stride 2 and offset 1 holding [1, 3]
  const col = T.select(T.transpose(T.ids([[0, 1], [2, 3]]), 0, 1), 0, 1);
  assert.deepEqual(col.toArray(), [1, 3]);
  const src = T.tensor([[10], [11], [12], [13]]);
  const out = T.indexSelect(src, 0, col);
  assert.deepEqual(out.shape, [2, 1]);
  assert.deepEqual(out.toArray(), [11, 13]);
});

test('sliceAssign: a non-contiguous base gets the value written into the sliced region, not at the base-stride offset in the copy', () => {
  const base = T.transpose(T.tensor([[1, 2, 3], [4, 5, 6]])); // [[1,4],[2,5],[3,6]], strides [1, 3]
  assert.deepEqual(T.sliceAssign(base, 0, 1, 2, 9).toNested(), [[1, 4], [9, 9], [3, 6]]);
  assert.deepEqual(T.sliceAssign(base, 1, 1, 2, 0).toNested(), [[1, 0], [2, 0], [3, 0]]);
});

// ---------------------------------------------------------------------------
// native kernels

test('native exp: no clamping of the argument (exp(88.5) is finite and exact, exp(100) overflows to Infinity, exp(-100) is ~3.8e-44)', { skip: !T.kernelStatus().nativeAvailable ? 'native kernel not built' : false }, () => {
  const prev = T.kernel().name;
  T.setKernel('native');
  try {
    // 1024 elements: the size from which the native vector kernel is used
    const at = (v: number) => T.exp(T.full([1024], v)).toArray()[0]!;
    const want885 = Math.fround(Math.exp(88.5));
    assert.ok(Math.abs(at(88.5) - want885) / want885 < 1e-6, `exp(88.5) = ${at(88.5)}, expected ${want885}`);
    assert.equal(at(100), Infinity, 'exp(100) overflows float32, as the small-tensor path gives');
    assert.equal(at(100), T.exp(T.full([4], 100)).toArray()[0]);
    assert.ok(at(-100) < 1e-40, `exp(-100) = ${at(-100)}, expected ${Math.fround(Math.exp(-100))}`);
  } finally {
    T.setKernel(prev);
  }
});

// ---------------------------------------------------------------------------
// buffer pool

test('scope: a tensor() sharing a pooled buffer obtained through .data never silently changes after the block', () => {
  const x = T.ones([6]);
  const w = T.noGrad(() => {
    const y = T.scale(x, 2);
    return T.tensor(y.data as Float32Array, [6]); // "a typed array (shared, not copied)"
  });
  assert.deepEqual(w.toArray(), [2, 2, 2, 2, 2, 2]);
  T.noGrad(() => T.scale(x, 7)); // reuses the pooled buffer
  let after: number[] | null = null;
  try {
    after = w.toArray();
  } catch (e) {
    // failing loudly (DisposedTensorError) would honour the pool's contract too
    assert.ok(e instanceof T.DisposedTensorError);
    return;
  }
  assert.deepEqual(after, [2, 2, 2, 2, 2, 2], 'the wrapped buffer was recycled and overwritten');
});

test('scope: backward() inside scope()/noGrad() does not recycle the .grad of a leaf created outside the block', () => {
  const p = T.tensor([1, 2, 3]).requireGrad();
  const loss = T.sum(T.mul(p, p));
  T.scope(() => {
    T.backward(loss);
  });
  T.noGrad(() => T.exp(T.ones([3])));
  assert.deepEqual(p.grad!.toArray(), [2, 4, 6]);
});

test('noGrad: a KVCache created inside the block and returned from it stays usable (class instances are not traversed by the collector)', () => {
  const m = randomModel(tiny, { seed: 1 });
  const cache = T.noGrad(() => {
    const c = m.newCache(1, 8);
    m.forward([[1, 2]], { cache: c });
    return c;
  });
  assert.doesNotThrow(() => T.noGrad(() => m.forward([[3]], { cache })));
});

// ---------------------------------------------------------------------------
// model

test('forward: token ids given as a non-contiguous view are validated by their own elements, not by the storage around them', () => {
  const m = randomModel(tiny, { seed: 1 });
  // labels-style storage: the last column holds -100 and is outside the view
  const view = T.slice(T.ids([[1, 2, 3, -100], [4, 5, 6, -100]]), 1, 0, 3);
  const want = T.contiguousCopy(m.forward(T.contiguousCopy(view)).logits!).toArray();
  const got = T.contiguousCopy(m.forward(view).logits!).toArray();
  assert.ok(maxDiff(got, want) < 1e-6);
});

test('KV cache: a forward call rejected with an error does not advance the cache positions (later steps keep correct rotary positions)', () => {
  const m = randomModel(tiny, { seed: 1, std: 0.2 });
  const clean = T.noGrad(() => {
    const c = m.newCache(1, 8);
    m.forward([[1, 2, 3]], { cache: c });
    return T.contiguousCopy(m.forward([[4]], { cache: c }).logits!).toArray();
  });
  const c = m.newCache(1, 8);
  T.noGrad(() => m.forward([[1, 2, 3]], { cache: c }));
  assert.throws(() => T.noGrad(() => m.forward([[9]], { cache: c, startAt: { layer: 0, residual: T.zeros([1, 1, 32]) } })), /startAt cannot be combined/);
  assert.equal(c.nextPosition[0], 3, 'the rejected call advanced nextPosition');
  const got = T.noGrad(() => T.contiguousCopy(m.forward([[4]], { cache: c }).logits!).toArray());
  assert.ok(maxDiff(got, clean) < 1e-5);
});

test('llama mlp_bias: gate_proj.bias is loaded and applied (it was silently dropped)', () => {
  const hf = { ...tiny, num_hidden_layers: 1, mlp_bias: true };
  const m = randomModel(hf, { seed: 3, std: 0.3, biasStd: 0.2 });
  const sd = hfStateDict(m);
  const root = mkdtempSync(join(tmpdir(), 'candor-edge-'));
  try {
    const logitsWithGateBias = (v: number): number[] => {
      const dir = join(root, `gate-${v}`);
      mkdirSync(dir);
      const s = new Map(sd);
      s.set('model.layers.0.mlp.gate_proj.bias', T.full([hf.intermediate_size], v));
      writeSafetensors(join(dir, 'model.safetensors'), s);
      writeFileSync(join(dir, 'config.json'), JSON.stringify(hf));
      const mm = loadModelSync(dir, { noTokenizer: true });
      return T.contiguousCopy(mm.forward([[1, 2, 3]]).logits!).toArray();
    };
    assert.ok(maxDiff(logitsWithGateBias(0), logitsWithGateBias(5)) > 1e-3, 'a gate bias of 5 changes nothing: it is ignored');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('generate: every id of a list-valued eos_token_id stops generation (only the first was used)', () => {
  const m0 = randomModel(tiny, { seed: 4, std: 0.3 });
  const first = generate(m0, [[1, 2, 3]], { maxNewTokens: 1, stopTokens: [] }).newTokens[0]![0]!;
  const other = (first + 1) % tiny.vocab_size;
  const m = randomModel({ ...tiny, eos_token_id: [other, first] }, { seed: 4, std: 0.3 });
  assert.deepEqual(generate(m, [[1, 2, 3]], { maxNewTokens: 5 }).newTokens, [[first]]);
});

// ---------------------------------------------------------------------------
// config.json defaults

test('configFromHF: transformers v5 rope_parameters (rope_theta, rope scaling) are read, not replaced by theta 10000', () => {
  const cfg = configFromHF({
    ...tiny,
    rope_parameters: { rope_type: 'llama3', rope_theta: 500000, factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
  });
  assert.equal(cfg.rotaryTheta, 500000);
  assert.equal(cfg.ropeScaling?.type, 'llama3');
});

test("configFromHF: Gemma 2 uses Hugging Face's defaults for keys a diff-serialised config.json omits (softcaps 50/30, sliding window 4096, head_dim 256)", () => {
  const cfg = configFromHF({ model_type: 'gemma2', hidden_size: 2304, num_attention_heads: 8, num_key_value_heads: 4, num_hidden_layers: 2, intermediate_size: 9216, vocab_size: 256000 });
  assert.equal(cfg.attnSoftcap, 50);
  assert.equal(cfg.finalSoftcap, 30);
  assert.deepEqual(cfg.slidingWindow, [4096, null]);
  assert.equal(cfg.dHead, 256);
});

test("configFromHF: Mistral uses Hugging Face's defaults for omitted sliding_window (4096) and num_key_value_heads (8)", () => {
  const cfg = configFromHF({ model_type: 'mistral', hidden_size: 4096, num_attention_heads: 32, num_hidden_layers: 1, intermediate_size: 14336, vocab_size: 32000 });
  assert.equal(cfg.nKVHeads, 8);
  assert.deepEqual(cfg.slidingWindow, [4096]);
});

test('generation chooses among the tokenizer\'s ids when the embedding is padded past them', async () => {
  const { writeByteChatModel } = await import('./helpers/byte-chat-model.js');
  const dir = mkdtempSync(join(tmpdir(), 'candor-padded-vocab-'));
  writeByteChatModel(dir, 3, 2, { vocab_size: 4096 }); // 259 tokens, 4096 embedding rows
  const model = loadModelSync(dir);
  const tok = model.requireTokenizer();
  assert.equal(tok.vocabSize, 259);
  const prompts = ['hello', 'a question', 'xyz'].map((t) => tok.encode(t, { addSpecialTokens: false }));
  const all = (r: { newTokens: number[][] }) => r.newTokens.flat();
  const limited = generate(model, prompts, { maxNewTokens: 12, stopTokens: [] });
  assert.ok(all(limited).every((id) => id < 259), 'every generated id has text');
  assert.doesNotThrow(() => limited.newTokens.map((ids) => tok.decode(ids)));
  // the padding rows are real candidates without the limit: random weights pick them most of the time
  const unlimited = generate(model, prompts, { maxNewTokens: 12, stopTokens: [], vocabSize: 4096 });
  assert.ok(all(unlimited).some((id) => id >= 259), 'with vocabSize 4096 some ids fall in the padding');
});
