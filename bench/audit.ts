/**
 * npm run bench:audit — the model-mode audit (`candor audit --model`) of a
 * Qwen2.5-0.5B-shaped chat model with candor's research-size prompt sets
 * (data/prompts: harmful, harmless and facts), timed step by step, with the
 * peak resident memory against the model's float32 weights.
 *
 *   model:  Qwen2.5-0.5B's shape (24 layers, hidden 896, 14 heads with 2
 *           key-value heads, MLP 4864, vocabulary 151,936, tied embeddings),
 *           random weights, a ChatML template, and GPT-2's byte-level BPE
 *           (../shared/fixtures/gpt2-tokenizer, with ChatML's two special
 *           tokens added) so that prompts are as many tokens as a subword
 *           tokenizer makes them; where that folder is absent, a byte-level
 *           tokenizer (one token per byte: 3-4× longer prompts, recorded as
 *           `tokenizer` in the results)
 *   judge:  a second random chat model of the same tokenizer as --judge. A
 *           random model refuses nothing, so isRefusal would skip the refusal
 *           search; the random judge calls about half of the answers refusals,
 *           which makes every experiment run (and times the judge too)
 *
 * Targets (issue "real chat models"): the whole audit ≤ 15 minutes here with
 * the native kernel (goal 10), peak memory ≤ 1.5× the float32 weights.
 * `--quick` audits the first 48 items of each set (a check that the bench runs).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelStatus } from '../src/tensor/kernels/index.js';
import { runAudit } from '../src/audit/run.js';
import { CHATML_TEMPLATE, writeByteChatModel } from '../test/helpers/byte-chat-model.js';
import { randomModel } from '../src/model/random.js';
import { saveModel } from '../src/model/save.js';

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
const gpt2 = join(root, '..', 'shared', 'fixtures', 'gpt2-tokenizer');

/** A random chat model of `arch` with GPT-2's tokenizer plus ChatML's <|im_start|> and <|im_end|> (ids 50257, 50258). */
function writeBpeChatModel(dir: string, seed: number, arch: Record<string, unknown>): void {
  const tj = JSON.parse(readFileSync(join(gpt2, 'tokenizer.json'), 'utf8')) as { added_tokens: unknown[] };
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  tj.added_tokens.push(special(50257, '<|im_start|>'), special(50258, '<|im_end|>'));
  saveModel(randomModel({ model_type: 'llama', ...arch, eos_token_id: 50258 }, { seed, std: 0.02 }), dir);
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tj));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|im_end|>', pad_token: '<|endoftext|>', chat_template: CHATML_TEMPLATE }));
}

const tokenizer = existsSync(join(gpt2, 'tokenizer.json')) ? 'GPT-2 byte-level BPE + ChatML tokens' : 'byte-level (one token per byte)';
if (process.argv.includes('--write-models')) {
  if (tokenizer.startsWith('GPT-2')) writeBpeChatModel(model, 1, { ...QWEN25, num_hidden_layers: 24 });
  else writeByteChatModel(model, 1, 24, QWEN25);
  writeByteChatModel(judge, 7, 2);
  process.exit(0);
}
// the weights are made and written by a child process, so that the peak memory read below is the audit's own
process.stderr.write(`writing random Qwen2.5-0.5B-shaped chat weights to ${model} (tokenizer: ${tokenizer})\n`);
const writer = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--write-models'], { stdio: 'inherit' });
if (writer.status !== 0) throw new Error(`writing the bench models failed (exit ${writer.status})`);

let sets = { harmful: join(root, 'data', 'prompts', 'harmful.jsonl'), harmless: join(root, 'data', 'prompts', 'harmless.jsonl'), facts: join(root, 'data', 'prompts', 'facts.jsonl') };
if (quick) {
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
  model: { shape: 'Qwen2.5-0.5B', parameters: subject.parameters, float32_bytes: weightsBytes, tokenizer },
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
