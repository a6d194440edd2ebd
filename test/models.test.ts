/**
 * The hooked transformer against Hugging Face reference outputs
 * (../shared/fixtures/hf-tiny and hf-tiny-2) and llama2.c's run.c (stories260K): logits,
 * hidden states and layer-0 attention of every family, greedy generations
 * (alone and left-padded in a batch), and 200 greedy tokens of a real model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as T from '../src/tensor/index.js';
import { loadModelSync } from '../src/model/load.js';
import { generate } from '../src/model/generate.js';
import type { HookName } from '../src/model/hooks.js';

const shared = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'fixtures');
const hfTiny = join(shared, 'hf-tiny');
const FIXTURES = [
  ...['gpt2', 'gpt_neox', 'llama', 'llama_bf16', 'llama_f16', 'mistral', 'qwen2', 'qwen2_sharded', 'gemma', 'gemma2'].map((f) => join('hf-tiny', f)),
  ...['qwen3', 'gemma3_text', 'phi3', 'olmo2', 'smollm3', 'qwen3_moe', 'mixtral'].map((f) => join('hf-tiny-2', f)),
];
const absent = !existsSync(hfTiny);
const SKIP = `../shared/fixtures is absent (a user's clone): reference conformance is checked where the fixtures exist`;

interface Case {
  input_ids: number[];
  logits: number[][];
  hidden_states: number[][][];
  attentions_layer0: number[][][];
  generate: { new_token_ids: number[] };
  /** layers of experts: raw router logits [T][experts] by layer */
  router_logits?: Record<string, number[][]>;
}

function worst(actual: number[], expected: number[], atol: number, rtol: number): number {
  let w = 0;
  for (let i = 0; i < expected.length; i++) w = Math.max(w, Math.abs(actual[i]! - expected[i]!) / (atol + rtol * Math.abs(expected[i]!)));
  return w;
}

for (const fixture of FIXTURES) {
  test(`${fixture}: logits, hidden states and layer-0 attention match Hugging Face; greedy generations identical`, { skip: absent ? SKIP : false }, () => {
    const dir = join(shared, fixture);
    const model = loadModelSync(dir);
    const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as { cases: Case[] };
    const L = model.cfg.nLayers;
    // hidden_states[0] = embedding output; [i] = output of layer i-1; [L] = after the final norm
    const hiddenName = (i: number): HookName => (i === 0 ? 'blocks.0.hook_resid_pre' : i === L ? 'ln_final.hook_normalized' : `blocks.${i - 1}.hook_resid_post`);
    for (const c of expected.cases) {
      const names: HookName[] = [...Array(L + 1).keys()].map(hiddenName);
      names.push('blocks.0.attn.hook_pattern');
      const { logits, cache } = T.noGrad(() => model.runWithCache(c.input_ids, { names }));
      assert.equal(cache.size, names.length, 'the cache holds exactly the requested activations');
      const wl = worst(logits!.toArray(), c.logits.flat(), 1e-4, 1e-4);
      assert.ok(wl <= 1, `logits differ by ${wl.toFixed(2)}× the tolerance 1e-4 + 1e-4·|x|`);
      for (let i = 0; i <= L; i++) {
        const wh = worst(cache.at(hiddenName(i)).toArray(), c.hidden_states[i]!.flat(), 1e-4, 1e-4);
        assert.ok(wh <= 1, `hidden state ${i} differs by ${wh.toFixed(2)}× the tolerance`);
      }
      const wa = worst(cache.at('blocks.0.attn.hook_pattern').toArray(), c.attentions_layer0.flat(2), 1e-5, 0);
      assert.ok(wa <= 1, `layer-0 attention differs by ${wa.toFixed(2)}× 1e-5`);
      if (c.router_logits !== undefined) {
        // layers of experts: the router's raw logits, and no dense layer reports any
        const moeLayers = Object.keys(c.router_logits).map(Number);
        assert.deepEqual(moeLayers, model.weights.blocks.flatMap((b, l) => (b.experts !== null ? [l] : [])), 'the layers of experts are the ones Hugging Face routes in');
        const { cache: rc } = T.noGrad(() => model.runWithCache(c.input_ids, { names: moeLayers.map((l): HookName => `blocks.${l}.mlp.hook_router_logits`) }));
        for (const l of moeLayers) {
          const wr = worst(rc.at(`blocks.${l}.mlp.hook_router_logits`).toArray(), c.router_logits[l]!.flat(), 1e-4, 1e-4);
          assert.ok(wr <= 1, `layer ${l} router logits differ by ${wr.toFixed(2)}× the tolerance`);
        }
      }
      const gen = generate(model, [c.input_ids], { maxNewTokens: 8, stopTokens: [] });
      assert.deepEqual(gen.newTokens[0], c.generate.new_token_ids, 'greedy generation (KV cache)');
    }
    // both prompts in one batch, the shorter one left-padded
    const batch = generate(model, expected.cases.map((c) => c.input_ids), { maxNewTokens: 8, stopTokens: [] });
    expected.cases.forEach((c, i) => assert.deepEqual(batch.newTokens[i], c.generate.new_token_ids, `batched generation, sequence ${i}`));
  });
}

for (const file of ['stories260K.bin', 'stories260K.v1.bin']) {
  test(`${file}: 200 greedy tokens from BOS decode to exactly llama2.c's output`, { skip: absent ? SKIP : false }, () => {
    const dir = join(shared, 'stories260K');
    const model = loadModelSync(join(dir, file), { tokenizerPath: join(dir, 'tok512.bin') });
    assert.equal(model.cfg.rotaryLayout, 'interleaved');
    const out = generate(model, [[1]], { maxNewTokens: 200, stopTokens: [] });
    assert.equal(out.newTokens[0]!.length, 200);
    const text = model.tokenizer!.decode([1, ...out.newTokens[0]!], { skipSpecialTokens: true });
    assert.equal(text, readFileSync(join(dir, 'expected-greedy-200.txt'), 'utf8'));
  });
}
