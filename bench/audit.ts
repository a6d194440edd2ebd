/**
 * npm run bench:audit — the model-mode audit (`candor audit --model`) of a
 * Qwen2.5-0.5B-shaped chat model with candor's research-size prompt sets
 * (data/prompts: harmful, harmless and facts), timed step by step, with the
 * peak resident memory against the model's float32 weights.
 *
 *   model:  Qwen2.5-0.5B's shape (24 layers, hidden 896, 14 heads with 2
 *           key-value heads, MLP 4864, vocabulary 151,936, tied embeddings),
 *           random weights, a byte-level tokenizer with a ChatML template
 *   judge:  a second random chat model of the same tokenizer as --judge. A
 *           random model refuses nothing, so isRefusal would skip the refusal
 *           search; the random judge calls about half of the answers refusals,
 *           which makes every experiment run (and times the judge too)
 *
 * Targets (issue "real chat models"): the whole audit ≤ 15 minutes here with
 * the native kernel (goal 10), peak memory ≤ 1.5× the float32 weights.
 * `--quick` audits the first 48 items of each set (a check that the bench runs).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelStatus } from '../src/tensor/kernels/index.js';
import { runAudit } from '../src/audit/run.js';
import { writeByteChatModel } from '../test/helpers/byte-chat-model.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const quick = process.argv.includes('--quick');
const QWEN25 = {
  model_type: 'qwen2', hidden_size: 896, num_attention_heads: 14, num_key_value_heads: 2, intermediate_size: 4864,
  vocab_size: 151936, max_position_embeddings: 32768, rope_theta: 1000000, rms_norm_eps: 1e-6, tie_word_embeddings: true, eos_token_id: 257,
};
const TARGET_S = 15 * 60;
const GOAL_S = 10 * 60;
const MEMORY_TARGET = 1.5;

const dir = join(tmpdir(), 'candor-bench', 'audit');
const model = join(dir, 'qwen2.5-0.5B-chat');
const judge = join(dir, 'judge');
process.stderr.write(`writing random Qwen2.5-0.5B-shaped chat weights to ${model}\n`);
writeByteChatModel(model, 1, 24, QWEN25);
writeByteChatModel(judge, 7, 2);

let sets = { harmful: join(root, 'data', 'prompts', 'harmful.jsonl'), harmless: join(root, 'data', 'prompts', 'harmless.jsonl'), facts: join(root, 'data', 'prompts', 'facts.jsonl') };
if (quick) {
  const { readFileSync } = await import('node:fs');
  const cut = (f: string) => {
    const out = join(dir, `quick-${f.split('/').pop()}`);
    writeFileSync(out, readFileSync(f, 'utf8').trim().split('\n').slice(0, 48).join('\n') + '\n');
    return out;
  };
  sets = { harmful: cut(sets.harmful), harmless: cut(sets.harmless), facts: cut(sets.facts) };
}

const t0 = Date.now();
const r = await runAudit({
  outDir: join(dir, 'out'), model, judge, datasets: sets, resume: false,
  onStep: (step, i, n) => process.stderr.write(`[${i}/${n}] ${step} (${Math.round((Date.now() - t0) / 1000)} s)\n`),
  onProgress: (step, done, total) => {
    if (done === total || done % Math.max(1, Math.ceil(total / 20)) === 0) process.stderr.write(`  ${step}: ${done}/${total} (${Math.round((Date.now() - t0) / 1000)} s)\n`);
  },
});
const seconds = (Date.now() - t0) / 1000;
const subject = r.subjects.find((s) => s.name === 'model')!;
const weightsBytes = subject.parameters * 4;
const peakBytes = process.resourceUsage().maxRSS * 1024;
const report = {
  benchmark: 'audit',
  quick,
  model: { shape: 'Qwen2.5-0.5B', parameters: subject.parameters, float32_bytes: weightsBytes },
  sets: Object.fromEntries(Object.entries(sets).map(([k, f]) => [k, f.replace(root, '.')])),
  seconds: +seconds.toFixed(1),
  step_seconds: r.seconds,
  peak_rss_bytes: peakBytes,
  peak_over_weights: +(peakBytes / weightsBytes).toFixed(3),
  target: { max_seconds: TARGET_S, goal_seconds: GOAL_S, max_peak_over_weights: MEMORY_TARGET, met: !quick && seconds <= TARGET_S && peakBytes <= MEMORY_TARGET * weightsBytes },
  kernel: kernelStatus().description,
  date: new Date().toISOString(),
};
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', quick ? 'audit-quick.json' : 'audit.json'), JSON.stringify(report, null, 2) + '\n');
console.log(JSON.stringify(report, null, 2));
