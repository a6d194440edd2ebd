/**
 * noGrad: nothing is recorded, buffers of intermediates are recycled, and a
 * recycled tensor can never be read by mistake.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.js';

test('noGrad records nothing and recycles intermediate buffers', () => {
  T.clearPool();
  const w = T.randn([64, 64], new T.Rng(1)).requireGrad();
  const x = T.randn([8, 64], new T.Rng(2));
  const step = () => T.noGrad(() => T.sum(T.tanh(T.matmul(T.gelu(T.matmul(x, w)), w))).item());
  const first = step();
  const pooled = T.poolStats().pooledBytes;
  assert.ok(pooled > 0, 'intermediates went back to the pool');
  for (let i = 0; i < 20; i++) assert.equal(step(), first, 'reused buffers give identical results');
  assert.equal(T.poolStats().pooledBytes, pooled, 'the pool does not grow across identical steps');
  // the same computation with gradients recorded gives the same number
  assert.ok(Math.abs(T.sum(T.tanh(T.matmul(T.gelu(T.matmul(x, w)), w))).item() - first) < 1e-3);
});

test('returned and kept tensors survive; others fail loudly if used after the block', () => {
  let leaked: T.Tensor | null = null;
  let kept: T.Tensor | null = null;
  const result = T.noGrad(() => {
    const a = T.scale(T.ones([4, 4]), 2);
    leaked = T.add(a, 1);
    kept = T.keep(T.add(a, 2));
    return { out: T.mul(a, 3), nested: [T.add(a, 5)] };
  });
  assert.deepEqual(result.out.toArray().slice(0, 2), [6, 6]);
  assert.deepEqual(result.nested[0]!.toArray().slice(0, 2), [7, 7]);
  assert.deepEqual(kept!.toArray().slice(0, 2), [4, 4]);
  assert.throws(() => leaked!.toArray(), (e: Error) => e.name === 'DisposedTensorError' && /keep\(tensor\)/.test(e.message));
});

test('enableGrad inside noGrad keeps the graph intact', () => {
  const w = T.tensor([1, 2, 3]).requireGrad();
  const g = T.noGrad(() => T.enableGrad(() => {
    const y = T.sum(T.mul(T.exp(w), w));
    return T.grad(y, [w])[0]!;
  }));
  const want = [1, 2, 3].map((v) => Math.exp(v) * (1 + v));
  g.toArray().forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-3 * want[i]!));
});

test('a block that throws recycles nothing: tensors it made stay valid, even inside an enclosing scope', () => {
  let made: T.Tensor | null = null;
  T.noGrad(() => {
    try {
      T.scope(() => {
        made = T.scale(T.ones([64]), 3);
        throw new Error('stop');
      });
    } catch {
      // the error is handled here; `made` escaped the failed block
    }
    // later work in the enclosing block must not be handed `made`'s buffer
    for (let i = 0; i < 5; i++) T.scale(T.ones([64]), 9).toArray();
  });
  assert.deepEqual(made!.toArray().slice(0, 3), [3, 3, 3]);
});

test('stepScope recycles a training step\'s buffers, graph included, with bit-identical training and a loud error on a leaked tensor', async () => {
  const { randomModel } = await import('../src/model/random.js');
  const cfg = {
    model_type: 'llama', hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 48,
    vocab_size: 40, max_position_embeddings: 32, rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: true, hidden_act: 'silu',
  };
  const rng = new T.Rng(4);
  const batches = Array.from({ length: 3 }, () => Array.from({ length: 4 }, () => Array.from({ length: 9 }, () => rng.int(40))));
  const train = (useScope: boolean) => {
    const model = randomModel(cfg, { seed: 3, std: 0.05 });
    const params = [...model.parameters().values()];
    for (const p of params) p.requireGrad();
    const opt = new T.AdamW(params, { lr: 0.01 });
    let leaked: T.Tensor | null = null;
    const losses: number[] = [];
    for (let s = 0; s < 6; s++) {
      const ids = batches[s % 3]!;
      const step = () => {
        opt.zeroGrad();
        const logits = model.forward(ids.map((r) => r.slice(0, 8))).logits!;
        leaked = logits;
        // a no-grad block inside the step, after the graph was recorded, returns into the step
        const shift = T.noGrad(() => T.scale(T.ones([1]), 0));
        const loss = T.add(T.crossEntropy(logits, T.ids(ids.flatMap((r) => r.slice(1)), [4, 8])), T.sum(shift));
        T.backward(loss);
        opt.step();
        opt.zeroGrad();
        return loss.item();
      };
      losses.push(useScope ? T.stepScope(step) : step());
    }
    return { losses, leaked: leaked as T.Tensor | null, final: params[0]!.toArray() };
  };
  T.clearPool();
  const plain = train(false);
  const plainPooled = T.poolStats().pooledBytes;
  assert.ok(plainPooled <= 64, `without stepScope a recorded graph recycles nothing but the no-grad block's scalar (${plainPooled} bytes)`);
  const scoped = train(true);
  assert.deepEqual(scoped.losses, plain.losses, 'recycled buffers (dirty, not zero-filled) give the same losses, bit for bit');
  assert.deepEqual(scoped.final, plain.final, 'and the same weights');
  const pooled = T.poolStats().pooledBytes;
  assert.ok(pooled > 100_000, `the step's buffers went back to the pool (${pooled} bytes)`);
  assert.throws(() => scoped.leaked!.toArray(), (e: Error) => e.name === 'DisposedTensorError');
  assert.deepEqual(plain.leaked!.shape, [4, 8, 40], 'outside stepScope the same tensor stays valid');
  train(true);
  assert.equal(T.poolStats().pooledBytes, pooled, 'the pool does not grow from one training run to the next');
});
