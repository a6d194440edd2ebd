/**
 * npm run bench:forward — candor's forward pass against PyTorch eager
 * (Hugging Face transformers) on the same random weights, in the same run:
 *
 *   prefill: 128 tokens at batch 1 and batch 8 (logits of the last position,
 *            as generation's prefill computes them)
 *   decode:  64 tokens, one at a time with the KV cache, after a 128-token prompt
 *
 * for GPT-2-small- (124M), Qwen2.5-0.5B- and Qwen3-0.6B-shaped models. The two
 * sides alternate in rounds, both models loaded; medians over every repeat;
 * ratio = torch_ms / candor_ms (above 1: candor is faster). The peer
 * is Python with torch + transformers: $CANDOR_BENCH_PYTHON, else
 * .venv-bench/bin/python, else /usr/bin/python3 (Debian's python3-torch).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
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

/**
 * The peer stays loaded and answers one case at a time on stdin, so the two sides alternate in
 * rounds: on a machine whose speed drifts over minutes a sequential pair can be off by a third.
 */
const PEER = String.raw`
import json, sys, time, torch
from transformers import AutoModelForCausalLM
d, spec = sys.argv[1], json.load(open(sys.argv[2]))
m = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
def med(xs): return sorted(xs)[len(xs)//2]
def prefill(ids, reps):
    x = torch.tensor(ids)
    m(x, logits_to_keep=1)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); m(x, logits_to_keep=1); ts.append((time.perf_counter() - t0) * 1000)
    return ts
def decode(reps):
    x = torch.tensor(spec["b1"])
    ts, toks = [], []
    for _ in range(reps):
        o = m(x, use_cache=True, logits_to_keep=1)
        pkv, tok = o.past_key_values, o.logits[:, -1].argmax(-1, keepdim=True)
        toks = []
        t0 = time.perf_counter()
        for i in range(spec["decode"]):
            o = m(tok, past_key_values=pkv, use_cache=True)
            pkv, tok = o.past_key_values, o.logits[:, -1].argmax(-1, keepdim=True)
            toks.append(int(tok[0, 0]))
        ts.append((time.perf_counter() - t0) * 1000)
    return ts, toks
with torch.inference_mode():
    m(torch.tensor(spec["b1"]), logits_to_keep=1)
    m(torch.tensor(spec["b8"]), logits_to_keep=1)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "last_logits": m(torch.tensor(spec["b1"]), logits_to_keep=1).logits[0, -1, :8].tolist()}), flush=True)
    for line in sys.stdin:
        case, reps = json.loads(line)
        if case == "decode_b1_64":
            ts, toks = decode(reps)
            print(json.dumps({"ms": ts, "tokens": toks}), flush=True)
        else:
            print(json.dumps({"ms": prefill(spec["b1" if case == "prefill_b1_t128" else "b8"], reps)}), flush=True)
`;

type Case = 'prefill_b1_t128' | 'prefill_b8_t128' | 'decode_b1_64';
const CASES: Case[] = ['prefill_b1_t128', 'prefill_b8_t128', 'decode_b1_64'];
/** timed repeats per side, case and round (after one untimed call: switching shapes costs the peer's allocator a warm-up) */
const REPS: Record<Case, number> = { prefill_b1_t128: 3, prefill_b8_t128: 2, decode_b1_64: 1 };
const ROUNDS = 3;

/** candor's times of one case (ms per repeat), and the decoded tokens. */
function candorCase(model: HookedTransformer, c: Case, b1: number[][], b8: number[][], reps: number): { ms: number[]; tokens?: number[] } {
  if (c !== 'decode_b1_64') {
    const ids = c === 'prefill_b1_t128' ? b1 : b8;
    T.noGrad(() => model.forward(ids, { logits: 'last' }).logits!.size);
    const ms: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      T.noGrad(() => model.forward(ids, { logits: 'last' }).logits!.size);
      ms.push(performance.now() - t0);
    }
    return { ms };
  }
  const ms: number[] = [];
  let tokens: number[] = [];
  for (let r = 0; r < reps; r++) {
    const cache = model.newCache(1, PROMPT + DECODE + 1);
    let tok = T.noGrad(() => T.argmax(T.reshape(model.forward(b1, { cache, logits: 'last' }).logits!, [-1]), 0).item());
    tokens = [];
    const t0 = performance.now();
    for (let i = 0; i < DECODE; i++) {
      const t = tok;
      tok = T.noGrad(() => T.argmax(T.reshape(model.forward([[t]], { cache, logits: 'last' }).logits!, [-1]), 0).item());
      tokens.push(tok);
    }
    ms.push(performance.now() - t0);
  }
  return { ms, tokens };
}

const pause = () => new Promise((resolve) => setTimeout(resolve, 500));

/** A loaded peer process: ask(case, reps) → its times. */
async function startPeer(python: string, dir: string, spec: string) {
  const proc = spawn(python, ['-c', PEER, dir, spec], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += String(d)));
  const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const r = await lines.next();
    if (r.done === true) throw new Error(`the PyTorch peer stopped: ${stderr.slice(-2000)}`);
    return JSON.parse(r.value) as Record<string, unknown>;
  };
  const hello = await next();
  return {
    hello,
    ask: async (c: Case, reps: number) => {
      proc.stdin.write(JSON.stringify([c, reps]) + '\n');
      return (await next()) as { ms: number[]; tokens?: number[] };
    },
    close: () => proc.stdin.end(),
  };
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
  const spec = join(dir, 'spec.json');
  writeFileSync(spec, JSON.stringify({ b1, b8, decode: DECODE }));
  const peer = python === null ? null : await startPeer(python, dir, spec);
  if (peer !== null) {
    torchVersion = peer.hello.torch as string;
    torchThreads = peer.hello.threads as number;
  }
  const model = loadModelSync(dir);
  T.noGrad(() => [b1, b8].forEach((ids) => model.forward(ids, { logits: 'last' })));
  const mine = new Map<Case, number[]>(CASES.map((c) => [c, []]));
  const theirs = new Map<Case, number[]>(CASES.map((c) => [c, []]));
  const rounds = new Map<Case, number[]>(CASES.map((c) => [c, []]));
  let myTokens: number[] = [];
  let peerTokens: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    process.stderr.write(`${name}: round ${round + 1}/${ROUNDS}\n`);
    for (const c of CASES) {
      // a pause before each side: the other's BLAS threads spin for a while after their last call
      await pause();
      const p = peer === null ? null : await peer.ask(c, REPS[c]);
      await pause();
      const m = candorCase(model, c, b1, b8, REPS[c]);
      mine.get(c)!.push(...m.ms);
      if (m.tokens) myTokens = m.tokens;
      if (p !== null) {
        theirs.get(c)!.push(...p.ms);
        if (p.tokens) peerTokens = p.tokens;
        rounds.get(c)!.push(+(median(p.ms) / median(m.ms)).toFixed(3));
      }
    }
  }
  peer?.close();
  for (const c of CASES) {
    const cm = median(mine.get(c)!);
    const tm = peer === null ? null : median(theirs.get(c)!);
    results.push({ model: name, case: c, candor_ms: +cm.toFixed(2), torch_ms: tm === null ? null : +tm.toFixed(2), ratio: tm === null ? null : +(tm / cm).toFixed(3), round_ratios: rounds.get(c) });
  }
  if (peer !== null) {
    const a = T.noGrad(() => model.forward(b1, { logits: 'last' }).logits!.toArray().slice(0, 8));
    const b = peer.hello.last_logits as number[];
    checks[name] = { last_logits_max_abs_diff: Math.max(...a.map((v, i) => Math.abs(v - b[i]!))), decode_tokens_identical: JSON.stringify(myTokens) === JSON.stringify(peerTokens) };
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
  note: 'ratio = torch_ms / candor_ms over every repeat of both sides, which alternate in ' + ROUNDS + ' rounds (round_ratios: each round\'s own); prefill computes the last position\'s logits; decode is 64 greedy steps with the KV cache after a 128-token prompt, batch 1',
  date: new Date().toISOString(),
};
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'forward.json'), JSON.stringify(report, null, 2) + '\n');
console.log(JSON.stringify(report, null, 2));
