/**
 * Loading costs no more memory than the weights themselves: RSS after loading
 * ≤ 1.1 × the model's float32 size + a fixed 32 MiB, for a family loaded
 * tensor by tensor (Llama) and one whose weights are transposed at load (GPT-2).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomModel } from '../src/model/random.js';
import { saveModel } from '../src/model/save.js';

const child = fileURLToPath(new URL('./helpers/load-memory-child.js', import.meta.url));
const configs: Record<string, Record<string, unknown>> = {
  llama: { model_type: 'llama', hidden_size: 512, num_attention_heads: 8, num_key_value_heads: 4, num_hidden_layers: 6, intermediate_size: 1536, vocab_size: 8000, max_position_embeddings: 256 },
  gpt2: { model_type: 'gpt2', n_embd: 512, n_head: 8, n_layer: 6, n_positions: 256, vocab_size: 8000 },
};

for (const [family, cfg] of Object.entries(configs)) {
  test(`${family}: RSS after loading ≤ 1.1 × float32 size + 32 MiB`, () => {
    const dir = mkdtempSync(join(tmpdir(), `candor-mem-${family}-`));
    try {
      saveModel(randomModel(cfg, { seed: 1 }), dir);
      const out = execFileSync(process.execPath, ['--expose-gc', child, dir], { encoding: 'utf8' });
      const r = JSON.parse(out.trim()) as { before: number; after: number; float32Bytes: number };
      const grown = r.after - r.before;
      const limit = 1.1 * r.float32Bytes + 32 * 2 ** 20;
      const mib = (b: number) => (b / 2 ** 20).toFixed(1);
      assert.ok(grown <= limit, `loading grew RSS by ${mib(grown)} MiB for ${mib(r.float32Bytes)} MiB of weights (limit ${mib(limit)} MiB)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
