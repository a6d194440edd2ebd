/**
 * npm run bench:forward — candor's forward pass against PyTorch eager
 * (Hugging Face transformers) on the same random weights, in the same run:
 *
 *   prefill: 128 tokens at batch 1 and batch 8 (logits of the last position,
 *            as generation's prefill computes them)
 *   decode:  64 tokens, one at a time with the KV cache, after a 128-token prompt
 *
 * for GPT-2-small- (124M), Qwen2.5-0.5B- and Qwen3-0.6B-shaped models. Medians over
 * repeats; ratio = torch_ms / candor_ms (above 1: candor is faster). The peer
 * is Python with torch + transformers: $CANDOR_BENCH_PYTHON, else
 * .venv-bench/bin/python, else /usr/bin/python3 (Debian's python3-torch).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as T from '../src/tensor/index.js';
import { kernelStatus } from '../src/tensor/kernels/index.js';
import { randomModel } from '../src/model/random.js';
import { saveModel } from '../src/model/save.js';
import { loadModelSync } from '../src/model/load.js';
import type { HookedTransformer } from '../src/model/transformer.js';
import { findTorchPython } from './peer.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODELS: Record<string, Record<string, unknown>> = {
  'gpt2-124M': { model_type: 'gpt2', n_embd: 768, n_head: 12, n_layer: 12, n_positions: 1024, vocab_size: 50257 },
  'qwen2.5-0.5B': {
    model_type: 'qwen2', hidden_size: 896, num_attention_heads: 14, num_key_value_heads: 2, num_hidden_layers: 24, intermediate_size: 4864,
    vocab_size: 151936, max_position_embeddings: 32768, rope_theta: 1000000, rms_norm_eps: 1e-6, tie_word_embeddings: true,
  },
  'qwen3-0.6B': {
    model_type: 'qwen3', hidden_size: 1024, num_attention_heads: 16, num_key_value_heads: 8, head_dim: 128, num_hidden_layers: 28, intermediate_size: 3072,
    vocab_size: 151936, max_position_embeddings: 40960, rope_theta: 1000000, rms_norm_eps: 1e-6, tie_word_embeddings: true,
  },
};
const PROMPT = 128;
const DECODE = 64;
const only = process.argv[2];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const findPython = (): string | null => findTorchPython(root);

const PEER = String.raw`
import json, sys, time, torch
from transformers import AutoModelForCausalLM
d, spec = sys.argv[1], json.load(open(sys.argv[2]))
torch.manual_seed(0)
m = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32, attn_implementation="eager").eval()
def med(xs): return sorted(xs)[len(xs)//2]
out = {"torch": torch.__version__, "threads": torch.get_num_threads()}
with torch.inference_mode():
    for case, ids, reps in [("prefill_b1_t128", spec["b1"], spec["reps_b1"]), ("prefill_b8_t128", spec["b8"], spec["reps_b8"])]:
        x = torch.tensor(ids)
        m(x, logits_to_keep=1)
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter(); m(x, logits_to_keep=1); ts.append((time.perf_counter() - t0) * 1000)
        out[case] = med(ts)
    x = torch.tensor(spec["b1"])
    out["last_logits"] = m(x, logits_to_keep=1).logits[0, -1, :8].tolist()
    ts = []
    for _ in range(spec["reps_decode"]):
        o = m(x, use_cache=True, logits_to_keep=1)
        pkv, tok = o.past_key_values, o.logits[:, -1].argmax(-1, keepdim=True)
        toks = []
        t0 = time.perf_counter()
        for i in range(spec["decode"]):
            o = m(tok, past_key_values=pkv, use_cache=True)
            pkv, tok = o.past_key_values, o.logits[:, -1].argmax(-1, keepdim=True)
            toks.append(int(tok[0, 0]))
        ts.append((time.perf_counter() - t0) * 1000)
    out["decode_b1_64"] = med(ts)
    out["decode_tokens"] = toks
print(json.dumps(out))
`;

function candorTimes(model: HookedTransformer, b1: number[][], b8: number[][], reps: { b1: number; b8: number; decode: number }) {
  const out: Record<string, number | number[]> = {};
  for (const [name, ids, n] of [['prefill_b1_t128', b1, reps.b1], ['prefill_b8_t128', b8, reps.b8]] as const) {
    T.noGrad(() => model.forward(ids, { logits: 'last' }).logits!.size);
    const ts: number[] = [];
    for (let r = 0; r < n; r++) {
      const t0 = performance.now();
      T.noGrad(() => model.forward(ids, { logits: 'last' }).logits!.size);
      ts.push(performance.now() - t0);
    }
    out[name] = median(ts);
  }
  out.last_logits = T.noGrad(() => model.forward(b1, { logits: 'last' }).logits!.toArray().slice(0, 8));
  const ts: number[] = [];
  let toks: number[] = [];
  for (let r = 0; r < reps.decode; r++) {
    const cache = model.newCache(1, PROMPT + DECODE + 1);
    let tok = T.noGrad(() => T.argmax(T.reshape(model.forward(b1, { cache, logits: 'last' }).logits!, [-1]), 0).item());
    toks = [];
    const t0 = performance.now();
    for (let i = 0; i < DECODE; i++) {
      const t = tok;
      tok = T.noGrad(() => T.argmax(T.reshape(model.forward([[t]], { cache, logits: 'last' }).logits!, [-1]), 0).item());
      toks.push(tok);
    }
    ts.push(performance.now() - t0);
  }
  out.decode_b1_64 = median(ts);
  out.decode_tokens = toks;
  return out;
}

const python = findPython();
const rng = new T.Rng(7);
const results: Record<string, unknown>[] = [];
const checks: Record<string, unknown> = {};
let torchVersion: string | null = null;
let torchThreads: number | null = null;
for (const [name, hf] of Object.entries(MODELS)) {
  if (only && only !== name) continue;
  const dir = join(tmpdir(), 'candor-bench', name);
  if (!existsSync(join(dir, 'model.safetensors'))) {
    process.stderr.write(`writing random ${name} weights to ${dir}\n`);
    saveModel(randomModel(hf, { seed: 1, std: 0.02 }), dir);
  }
  const vocab = (hf.vocab_size as number);
  const row = () => Array.from({ length: PROMPT }, () => rng.int(vocab));
  const b1 = [row()];
  const b8 = Array.from({ length: 8 }, row);
  const reps = { b1: 5, b8: 3, decode: 3 };
  let peer: Record<string, number | number[] | string> | null = null;
  if (python !== null) {
    process.stderr.write(`${name}: PyTorch (${python})\n`);
    const spec = join(dir, 'spec.json');
    writeFileSync(spec, JSON.stringify({ b1, b8, reps_b1: reps.b1, reps_b8: reps.b8, reps_decode: reps.decode, decode: DECODE }));
    const r = spawnSync(python, ['-c', PEER, dir, spec], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`the PyTorch peer failed: ${r.stderr.slice(-2000)}`);
    peer = JSON.parse(r.stdout.trim().split('\n').pop()!);
    torchVersion = peer!.torch as string;
    torchThreads = peer!.threads as number;
  }
  process.stderr.write(`${name}: candor\n`);
  const model = loadModelSync(dir);
  const mine = candorTimes(model, b1, b8, reps);
  for (const c of ['prefill_b1_t128', 'prefill_b8_t128', 'decode_b1_64']) {
    const cm = mine[c] as number;
    const tm = peer ? (peer[c] as number) : null;
    results.push({ model: name, case: c, candor_ms: +cm.toFixed(2), torch_ms: tm === null ? null : +tm.toFixed(2), ratio: tm === null ? null : +(tm / cm).toFixed(3) });
  }
  if (peer) {
    const a = mine.last_logits as number[];
    const b = peer.last_logits as number[];
    checks[name] = {
      last_logits_max_abs_diff: Math.max(...a.map((v, i) => Math.abs(v - b[i]!))),
      decode_tokens_identical: JSON.stringify(mine.decode_tokens) === JSON.stringify(peer.decode_tokens),
    };
  }
}
const ks = kernelStatus();
const report = {
  results,
  checks,
  kernel: ks.description,
  torch: torchVersion,
  torch_threads: torchThreads,
  peer: python ?? 'not found (install torch + transformers into .venv-bench, or Debian python3-torch)',
  note: 'ratio = torch_ms / candor_ms; prefill computes the last position\'s logits; decode is 64 greedy steps with the KV cache after a 128-token prompt, batch 1',
  date: new Date().toISOString(),
};
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'forward.json'), JSON.stringify(report, null, 2) + '\n');
console.log(JSON.stringify(report, null, 2));
