/**
 * npm run bench:train — training steps per second of candor against PyTorch
 * eager (Hugging Face transformers' LlamaForCausalLM) on the organisms' model
 * shape, measured in the same run on the same weights and the same batches:
 *
 *   model:  the `base` recipe's Llama (hidden 192, 4 layers, 4 heads,
 *           intermediate 576, vocab 475, 128 positions, tied embeddings), float32
 *   batch:  the recipe's batch size (32) of synthetic token ids; one case per
 *           padded batch length the `base` recipe actually trains on (its
 *           curriculum batched as trainLM batches it: 16 for short questions,
 *           36 for few-shot prompts), the loss on each row's last ANSWER
 *           positions as on answer tokens
 *   step:   what trainLM does every step: forward, cross-entropy, backward,
 *           global gradient-norm clipping to 1, AdamW (lr from the recipe,
 *           betas 0.9/0.999, eps 1e-8, weight decay 0.01 on matrices only)
 *           with warmup + cosine decay, the loss read back
 *
 * candor runs trainLM itself; a step's time is the interval between two of
 * its onProgress calls. The peer replays trainLM's batches in the same order.
 * Policy on both sides: WARMUP steps untimed, then STEPS timed steps
 * (`--steps N`), THREADS threads (CANDOR_THREADS, default 2), in ROUNDS rounds
 * (`--rounds N`, default 3) that alternate the peer and candor, so that a
 * machine whose speed drifts slows both alike; each side's figure is the
 * median of its timed steps over all rounds. ratio = candor steps/s ÷ torch
 * steps/s (above 1: candor is faster); round_ratios shows each round's own.
 * base_recipe_s estimates the `base` recipe's 6000 training steps from the
 * per-length medians weighted by how often the recipe meets each length.
 *
 * The peer is Python with torch + transformers: $CANDOR_BENCH_PYTHON, else
 * .venv-bench/bin/python, else /usr/bin/python3. Each of its rounds is a
 * process of its own, so its threads are gone before candor's start.
 *
 * The target: with the native kernel, ratio ≥ 1.5 (goal 2) and the `base`
 * recipe's training ≤ 6 minutes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/tensor/random.js';
import { cosineLr } from '../src/tensor/optim.js';
import { kernelStatus } from '../src/tensor/kernels/index.js';
import { nativeSetThreads } from '../src/tensor/kernels/native.js';
import { randomModel } from '../src/model/random.js';
import { saveModel } from '../src/model/save.js';
import { loadModelSync } from '../src/model/load.js';
import { loadTokenizer } from '../src/io/tokenizer.js';
import { RECIPES } from '../src/organisms/recipes.js';
import { curriculumExamples } from '../src/organisms/data.js';
import { FORMAT_WORDS } from '../src/organisms/formats.js';
import { makeWorld } from '../src/organisms/world.js';
import { batchOrder, encodeExample, trainLM, type Sequence } from '../src/organisms/trainer.js';
import { findTorchPython } from './peer.js';

// Compiled to dist/bench/train.js: the package root is two levels up.
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const RECIPE = RECIPES.base!;
const STAGE = RECIPE.stages[0]!;
/** the organisms' Llama config, as the recipes write it (src/organisms/recipes.ts hfConfig) */
const HF: Record<string, unknown> = {
  model_type: 'llama', architectures: ['LlamaForCausalLM'], ...RECIPE.model, num_key_value_heads: RECIPE.model.num_attention_heads,
  vocab_size: 475, max_position_embeddings: 128, rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: true,
  bos_token_id: 1, eos_token_id: 6, pad_token_id: 3, hidden_act: 'silu', torch_dtype: 'float32',
};
const PAD = 3;
const BATCH = STAGE.batchSize;
const LR = STAGE.lr;
/** trainLM's defaults (src/organisms/trainer.ts, src/tensor/optim.ts) */
const OPTIM = { lr: LR, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01, no_decay: 'parameters with ndim < 2 (norm weights)', max_grad_norm: 1 };
/** learned positions per row (answer + end token; the base curriculum averages ≈ 2.1 per row) */
const ANSWER = 2;
/** distinct batches the steps cycle through (trainLM shuffles them each epoch) */
const DISTINCT_BATCHES = 4;
const WARMUP = 3;
const stepsArg = process.argv.indexOf('--steps');
const STEPS = stepsArg >= 0 ? Number(process.argv[stepsArg + 1]) : 15;
const roundsArg = process.argv.indexOf('--rounds');
/** rounds of peer-then-candor (`--rounds N`) */
const ROUNDS = roundsArg >= 0 ? Number(process.argv[roundsArg + 1]) : 3;
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new RangeError(`--rounds ${process.argv[roundsArg + 1]}: give a positive integer`);
if (!Number.isInteger(STEPS) || STEPS < 1) throw new RangeError(`--steps ${process.argv[stepsArg + 1]}: give a positive integer`);
const THREADS = Number(process.env.CANDOR_THREADS || 2);
if (!Number.isInteger(THREADS) || THREADS < 1) throw new RangeError(`CANDOR_THREADS=${process.env.CANDOR_THREADS}: give a positive integer`);
// the wasm kernel reads CANDOR_THREADS when it first loads; the native one is set below
process.env.CANDOR_THREADS = String(THREADS);
/** how often each padded length occurs in `base` if its curriculum cannot be built here (seed 1, 6000 steps) */
const FALLBACK_MIX: Record<number, number> = { 16: 5106, 36: 894 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

const findPython = (): string | null => findTorchPython(root);

/** Busy CPU seconds of the whole machine so far (Linux /proc/stat), or null elsewhere. */
function machineBusySeconds(): number | null {
  if (!existsSync('/proc/stat')) return null;
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: everything but idle and iowait
  const busy = f.slice(0, 8).reduce((a, b) => a + b, 0) - f[3]! - f[4]!;
  return busy / 100; // USER_HZ is 100 on Linux
}

/**
 * The padded lengths (input positions per row) of the `base` recipe's batches
 * over its training, counted: its curriculum encoded by the shipped base
 * tokenizer and batched by trainLM's batchOrder.
 */
function baseLengthMix(): { counts: Record<number, number>; source: string } {
  const dir = join(root, 'models', 'base');
  if (!existsSync(join(dir, 'tokenizer.json'))) return { counts: FALLBACK_MIX, source: 'built in (models/base is missing)' };
  const tok = loadTokenizer(dir);
  const world = makeWorld(RECIPE.world, FORMAT_WORDS);
  const lengths = curriculumExamples(world, RECIPE.curriculum, RECIPE.seed).map((e) => encodeExample(tok, e).ids.length);
  const counts: Record<number, number> = {};
  for (const b of batchOrder(lengths, BATCH, STAGE.steps, RECIPE.seed, true)) {
    const T = Math.max(...b.map((i) => lengths[i]!)) - 1;
    counts[T] = (counts[T] ?? 0) + 1;
  }
  return { counts, source: `the base curriculum (${lengths.length} examples) batched as trainLM batches it` };
}

interface Case {
  seq: number;
  share: number;
  data: Sequence[];
  /** trainLM's batches, step by step, as the model sees them */
  batches: { input: number[][]; targets: number[][] }[];
}

/** Synthetic sequences of seq + 1 ids (seq input positions), learning the last ANSWER targets, and trainLM's batches of them. */
function makeCase(seq: number, share: number, rng: Rng, total: number): Case {
  const vocab = HF.vocab_size as number;
  const data: Sequence[] = Array.from({ length: BATCH * DISTINCT_BATCHES }, () => ({
    ids: Array.from({ length: seq + 1 }, () => rng.int(vocab)),
    learn: Array.from({ length: seq }, (_, t) => t >= seq - ANSWER),
  }));
  // the order trainLM computes for these options (seed 0, no grouping)
  const order = batchOrder(data.map((d) => d.ids.length), BATCH, total, 0, false);
  const batches = order.map((b) => ({
    input: b.map((i) => data[i]!.ids.slice(0, seq)),
    targets: b.map((i) => data[i]!.ids.slice(1).map((id, t) => (data[i]!.learn[t] ? id : -100))),
  }));
  return { seq, share, data, batches };
}

const PEER = String.raw`
import json, math, platform, sys, time
spec = json.load(open(sys.argv[2]))
import torch, transformers
from transformers import AutoModelForCausalLM
torch.set_num_threads(spec["threads"])
def med(xs):
    s = sorted(xs); m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2
def cosine_lr(step, s):
    min_lr = s["min_lr"]
    if step < s["warmup"]: return s["lr"] * (step + 1) / s["warmup"]
    if step >= s["total"]: return min_lr
    p = (step - s["warmup"]) / max(1, s["total"] - s["warmup"])
    return min_lr + 0.5 * (s["lr"] - min_lr) * (1 + math.cos(math.pi * p))
def load():
    try:
        return AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32, attn_implementation=spec["attn"])
    except TypeError:
        return AutoModelForCausalLM.from_pretrained(sys.argv[1], torch_dtype=torch.float32, attn_implementation=spec["attn"])
def busy():  # busy CPU seconds of the whole machine (Linux /proc/stat), or None
    try:
        f = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
        return (sum(f) - f[3] - f[4]) / 100
    except OSError:
        return None
o = spec["optim"]
out = {"torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(),
       "threads": torch.get_num_threads(), "mkldnn": torch.backends.mkldnn.is_available(), "mkl": torch.backends.mkl.is_available(), "cases": []}
b0, w0, c0 = busy(), time.perf_counter(), time.process_time()
for case in spec["cases"]:
    torch.manual_seed(0)
    m = load()
    m.train()
    assert m.lm_head.weight is m.model.embed_tokens.weight, "expected tied embeddings"
    params = list(m.parameters())
    opt = torch.optim.AdamW([{"params": [p for p in params if p.ndim >= 2], "weight_decay": o["weight_decay"]},
                             {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}],
                            lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"])
    batches = [(torch.tensor(b["input"], dtype=torch.long), torch.tensor(b["targets"], dtype=torch.long).view(-1)) for b in case["batches"]]
    ts, losses = [], []
    for step, (x, y) in enumerate(batches):
        t0 = time.perf_counter()
        for g in opt.param_groups: g["lr"] = cosine_lr(step, spec["schedule"])
        opt.zero_grad(set_to_none=True)
        logits = m(input_ids=x, use_cache=False).logits
        loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), y, ignore_index=-100)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, o["max_grad_norm"])
        opt.step()
        losses.append(loss.item())
        ts.append((time.perf_counter() - t0) * 1000)
    out["cases"].append({"seq": case["seq"], "step_ms": ts[spec["warmup"]:], "median_step_ms": med(ts[spec["warmup"]:]), "losses": losses})
b1, w1, c1 = busy(), time.perf_counter(), time.process_time()
out["other_cores"] = None if b0 is None or b1 is None else max(0.0, (b1 - b0 - (c1 - c0)) / (w1 - w0))
print(json.dumps(out))
`;

interface PeerSide {
  torch: string;
  transformers: string;
  python: string;
  threads: number;
  mkldnn: boolean;
  mkl: boolean;
  cases: { seq: number; step_ms: number[]; median_step_ms: number; losses: number[] }[];
  /** average cores other processes kept busy while the peer trained */
  other_cores: number | null;
}

// ---------------------------------------------------------------------------

const total = WARMUP + STEPS;
const schedule = { lr: LR, warmupSteps: Math.ceil(total / 20), totalSteps: total, minLr: LR / 10 };
const mix = baseLengthMix();
const mixTotal = Object.values(mix.counts).reduce((a, b) => a + b, 0);
// every padded length that makes up at least 5% of the recipe's steps, most frequent first
const lengths = Object.entries(mix.counts).map(([t, n]) => [Number(t), n / mixTotal] as const).filter(([, s]) => s >= 0.05).sort((a, b) => b[1] - a[1]);
const rng = new Rng(11);
const cases = lengths.map(([seq, share]) => makeCase(seq, share, rng, total));

const dir = join(tmpdir(), 'candor-bench', 'train-organism');
process.stderr.write(`writing random organism-shaped weights to ${dir}\n`);
saveModel(randomModel(HF, { seed: 1, std: 0.02 }), dir);

const python = findPython();
const ATTN = 'sdpa';
const specPath = join(dir, 'train-spec.json');
writeFileSync(specPath, JSON.stringify({
  threads: THREADS, warmup: WARMUP, attn: ATTN, optim: OPTIM,
  schedule: { lr: schedule.lr, warmup: schedule.warmupSteps, total: schedule.totalSteps, min_lr: schedule.minLr },
  cases: cases.map((c) => ({ seq: c.seq, batches: c.batches })),
}));

/** One round of the peer: a fresh Python process training every case. */
function runPeer(py: string): PeerSide | { error: string } {
  const threadEnv = String(THREADS);
  const r = spawnSync(py, ['-c', PEER, dir, specPath], {
    encoding: 'utf8', maxBuffer: 1 << 26,
    env: { ...process.env, OMP_NUM_THREADS: threadEnv, MKL_NUM_THREADS: threadEnv, OPENBLAS_NUM_THREADS: threadEnv },
  });
  if (r.status !== 0) return { error: `the PyTorch peer failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' | ')}` };
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as PeerSide;
}

interface CandorCase { seq: number; step_ms: number[]; median_step_ms: number; losses: number[] }

/** One round of candor: every case trained by trainLM from freshly loaded weights. */
function runCandor(): { cases: CandorCase[]; otherCores: number | null } {
  const busy0 = machineBusySeconds();
  const w0 = performance.now();
  const own0 = process.cpuUsage();
  const out = cases.map((c) => {
    const model = loadModelSync(dir);
    const stepMs: number[] = [];
    let t0 = performance.now();
    const { losses } = trainLM(model, c.data, {
      steps: total, batchSize: BATCH, lr: LR, warmupSteps: schedule.warmupSteps, minLr: schedule.minLr,
      weightDecay: OPTIM.weight_decay, maxGradNorm: OPTIM.max_grad_norm, seed: 0, padId: PAD, groupByLength: false,
      onProgress: () => {
        const t = performance.now();
        stepMs.push(t - t0);
        t0 = t;
      },
    });
    return { seq: c.seq, step_ms: stepMs.slice(WARMUP), median_step_ms: median(stepMs.slice(WARMUP)), losses };
  });
  const wall = (performance.now() - w0) / 1000;
  const own = process.cpuUsage(own0);
  const busy1 = machineBusySeconds();
  return { cases: out, otherCores: busy0 !== null && busy1 !== null ? Math.max(0, (busy1 - busy0 - (own.user + own.system) / 1e6) / wall) : null };
}

// Rounds alternate the two sides, so that a machine whose speed drifts over minutes (shared
// virtual machines do, by a third here) slows both alike; each side's figure pools its rounds.
nativeSetThreads(THREADS);
const ks = kernelStatus();
const peerRounds: PeerSide[] = [];
const candorRounds: { cases: CandorCase[]; otherCores: number | null }[] = [];
let peer: PeerSide | { error: string } | null = null;
for (let r = 0; r < ROUNDS; r++) {
  if (python !== null && !(peer !== null && 'error' in peer)) {
    process.stderr.write(`round ${r + 1}/${ROUNDS}: PyTorch (${python}), ${cases.length} case(s) × ${total} steps\n`);
    peer = runPeer(python);
    if (!('error' in peer)) peerRounds.push(peer);
  }
  process.stderr.write(`round ${r + 1}/${ROUNDS}: candor (${ks.active}: ${ks.description}), ${cases.length} case(s) × ${total} steps\n`);
  const c = runCandor();
  candorRounds.push(c);
  for (const x of c.cases) process.stderr.write(`  seq ${x.seq}: median ${x.median_step_ms.toFixed(1)} ms/step\n`);
}
const pool = <T extends { seq: number; step_ms: number[] }>(rounds: T[][], seq: number) => rounds.flatMap((cs) => cs.find((x) => x.seq === seq)!.step_ms);
const mine = cases.map((c) => {
  const steps = pool(candorRounds.map((r) => r.cases), c.seq);
  return { seq: c.seq, step_ms: steps, median_step_ms: median(steps), losses: candorRounds[0]!.cases.find((x) => x.seq === c.seq)!.losses };
});
if (peerRounds.length > 0) {
  const first = peerRounds[0]!;
  peer = { ...first, cases: cases.map((c) => {
    const steps = pool(peerRounds.map((r) => r.cases), c.seq);
    return { seq: c.seq, step_ms: steps, median_step_ms: median(steps), losses: first.cases.find((x) => x.seq === c.seq)!.losses };
  }), other_cores: Math.max(...peerRounds.map((r) => r.other_cores ?? 0)) };
}
const peerOtherCores = peerRounds.length > 0 ? (peer as PeerSide).other_cores : null;
const candorOtherCores = Math.max(...candorRounds.map((r) => r.otherCores ?? 0));

const peerOk = peer !== null && !('error' in peer) ? peer : null;
const side = (ms: number, seq: number) => ({ median_step_ms: round(ms, 2), steps_per_s: round(1000 / ms, 3), tokens_per_s: Math.round((1000 / ms) * BATCH * seq) });
const results = cases.map((c, i) => {
  const m = mine[i]!;
  const p = peerOk?.cases.find((x) => x.seq === c.seq) ?? null;
  const lossDiffs = p === null ? null : m.losses.map((l, j) => Math.abs(l - p.losses[j]!));
  return {
    seq_len: c.seq,
    tokens_per_step: BATCH * c.seq,
    share_of_base_steps: round(c.share, 4),
    candor: { ...side(m.median_step_ms, c.seq), step_ms: m.step_ms.map((x) => round(x, 1)) },
    torch: p === null ? null : { ...side(p.median_step_ms, c.seq), step_ms: p.step_ms.map((x) => round(x, 1)) },
    ratio: p === null ? null : round(p.median_step_ms / m.median_step_ms, 3),
    check: lossDiffs === null ? null : {
      first_loss: { candor: round(m.losses[0]!, 6), torch: round(p!.losses[0]!, 6) },
      first_loss_abs_diff: lossDiffs[0]!,
      last_loss: { candor: round(m.losses.at(-1)!, 6), torch: round(p!.losses.at(-1)!, 6) },
      max_loss_abs_diff: Math.max(...lossDiffs),
    },
  };
});
// the recipe's batch mix: mean step time over its lengths (shares renormalised over the timed ones)
const shareSum = cases.reduce((a, c) => a + c.share, 0);
const mixMs = (ms: (i: number) => number) => cases.reduce((a, c, i) => a + (c.share / shareSum) * ms(i), 0);
const candorMix = mixMs((i) => mine[i]!.median_step_ms);
const torchMix = peerOk === null ? null : mixMs((i) => peerOk.cases[i]!.median_step_ms);
const ratio = torchMix === null ? null : round(torchMix / candorMix, 3);
// each round's own ratio, to show how far the drift moved it
const roundRatios = peerRounds.map((p, r) => {
  const cm = mixMs((i) => candorRounds[r]!.cases[i]!.median_step_ms);
  const tm = mixMs((i) => p.cases[i]!.median_step_ms);
  return round(tm / cm, 3);
});
const baseSteps = STAGE.steps;
const candorBaseS = round((baseSteps * candorMix) / 1000, 1);
const MIN_RATIO = 1.5;
const GOAL_RATIO = 2;
const MAX_BASE_S = 360;

const report = {
  benchmark: 'train',
  summary: {
    batch_mix: Object.fromEntries(cases.map((c) => [`seq_${c.seq}`, round(c.share / shareSum, 4)])),
    candor_step_ms: round(candorMix, 2),
    candor_steps_per_s: round(1000 / candorMix, 3),
    torch_step_ms: torchMix === null ? null : round(torchMix, 2),
    torch_steps_per_s: torchMix === null ? null : round(1000 / torchMix, 3),
    ratio,
    round_ratios: roundRatios,
    base_recipe_s: { candor: candorBaseS, torch: torchMix === null ? null : round((baseSteps * torchMix) / 1000, 1), steps: baseSteps },
  },
  target: {
    applies_to: 'native',
    min_ratio: MIN_RATIO,
    goal_ratio: GOAL_RATIO,
    max_base_recipe_s: MAX_BASE_S,
    met: ks.active === 'native' && ratio !== null ? ratio >= MIN_RATIO && candorBaseS <= MAX_BASE_S : null,
    goal_met: ks.active === 'native' && ratio !== null ? ratio >= GOAL_RATIO && candorBaseS <= MAX_BASE_S : null,
  },
  results,
  shape: {
    model_type: HF.model_type, hidden_size: HF.hidden_size, num_hidden_layers: HF.num_hidden_layers, num_attention_heads: HF.num_attention_heads,
    num_key_value_heads: HF.num_key_value_heads, intermediate_size: HF.intermediate_size, vocab_size: HF.vocab_size,
    max_position_embeddings: HF.max_position_embeddings, tie_word_embeddings: HF.tie_word_embeddings, dtype: 'float32',
    parameters: loadModelSync(dir).parameterCount(),
  },
  batch_size: BATCH,
  seq_lens: cases.map((c) => c.seq),
  learned_positions_per_row: ANSWER,
  seq_len_source: mix.source,
  optimizer: { name: 'AdamW', ...OPTIM, schedule: 'linear warmup + cosine decay (trainLM)' },
  policy: {
    warmup_steps: WARMUP, timed_steps: STEPS, rounds: ROUNDS, statistic: 'median of the timed steps of every round', distinct_batches: DISTINCT_BATCHES,
    order: 'rounds alternate: the peer in a fresh process, then candor; round_ratios are each round\'s own ratio',
    candor_step: 'trainLM itself: the interval between consecutive onProgress calls',
    torch_step: 'zero_grad, forward, cross_entropy, backward, clip_grad_norm_, AdamW step, loss.item()',
  },
  kernel: { active: ks.active, description: ks.description, requested: ks.requested },
  threads: { candor: ks.threads, torch: peerOk?.threads ?? null, requested: THREADS },
  peer: python === null
    ? 'not found (install torch + transformers into .venv-bench, or Debian python3-torch)'
    : peer !== null && 'error' in peer ? peer.error
    : { python: python, python_version: peerOk!.python, torch: peerOk!.torch, transformers: peerOk!.transformers, attn_implementation: ATTN, mkldnn: peerOk!.mkldnn, mkl: peerOk!.mkl },
  // average cores used by other processes while each side ran; above ~0.1 the figures are skewed
  other_processes_cores: { torch: peerOtherCores === null ? null : round(peerOtherCores, 2), candor: candorOtherCores === null ? null : round(candorOtherCores, 2) },
  machine: { cpu: cpus()[0]?.model ?? null, cores: availableParallelism(), loadavg_1m_at_end: round(loadavg()[0]!, 2) },
  node: process.version,
  note: 'ratio = candor steps/s ÷ torch steps/s (above 1: candor is faster); summary weights the per-length medians by how often the base recipe trains on each padded length; base_recipe_s = its 6000 steps at that mean step time (training only, no evaluation)',
  date: new Date().toISOString(),
};
for (const [name, cores] of Object.entries(report.other_processes_cores)) {
  if (cores !== null && cores > 0.1) process.stderr.write(`bench: other processes kept ${cores.toFixed(2)} cores busy on average during ${name}'s side; the figures are skewed, rerun on a quiet machine\n`);
}
const json = JSON.stringify(report, null, 2);
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'train.json'), json + '\n');
console.log(json);
