/**
 * Lying (questions 1 and 6): which heads and neurons carry liar mode? For
 * the same fact asked in honest and in liar mode, activations of the honest
 * run are patched into the liar run; the metric is logit(true answer) −
 * logit(lie), normalised so 0 = the liar run and 1 = the honest run.
 *
 * Every head and neuron is first scored by attribution patching (one forward
 * and backward pass per pair), at the positions where the two prompts hold
 * the same token: there a unit's activation differs only because the model
 * acts on the instruction. At the instruction's own tokens every unit differs
 * because the input does; that share (how the instruction word is read) is
 * reported apart. Sets of the top-ranked units are then patched
 * together for real, and compared with random sets of the same size and
 * make-up. The smallest set restoring 80% answers "how few components", and
 * the single best unit answers "is there a lying neuron?".
 */
import { noGrad } from '../../tensor/autograd.js';
import { contiguousCopy } from '../../tensor/ops/basic.js';
import { tensor, type Tensor } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import { blockHook, type HookName, type HookSpec } from '../../model/hooks.js';
import { attributionPatching } from '../../methods/patching.js';
import { answers, type AuditSubject } from '../subject.js';
import { lengthBatches, mean, std } from '../measure.js';
import { meanEstimate, selectionFrequency, type Estimate } from '../../methods/statistics.js';

export interface Unit {
  kind: 'head' | 'neuron';
  layer: number;
  /** head or neuron index */
  index: number;
}

export const unitName = (u: Unit): string => (u.kind === 'head' ? `head ${u.layer}.${u.index}` : `neuron ${u.layer}.${u.index}`);

/** What a set of units does when patched or ablated on the measure pairs (bootstrap 95% intervals over pairs). */
export interface UnitSetEffects {
  /** honest activations patched into liar runs: how far the liar run returns to honest (0 liar, 1 honest) */
  restore: Estimate;
  /** liar activations patched into honest runs: how far the honest run turns to the lie (0 honest, 1 liar) */
  induce: Estimate;
  /** the units mean-ablated in liar runs: how far the liar run returns to honest (the units are needed to lie) */
  ablateLiar: Estimate;
  /** the units mean-ablated in honest runs: how far the honest run turns to the lie (the units are needed for honesty) */
  ablateHonest: Estimate;
}

export interface LyingFinding {
  subject: string;
  /** why nothing was measured (null when it was) */
  reason: string | null;
  /**
   * honest/liar pairs: `rank` ranked the units (attribution), `measure` — disjoint from them — measured every
   * effect below; `usable` pairs behaved differently in the two modes, of `candidates`
   */
  pairs: { candidates: number; usable: number; rank: number; measure: number };
  /** mean normalised attribution per head [layer][head] (rank pairs) and the top units */
  headEffects: number[][];
  topUnits: (Unit & { attribution: number })[];
  /** restoration by patching the top-k units together, against random sets of the same size and make-up */
  curve: { k: number; heads: number; restoration: Estimate; randomMean: number; randomStd: number }[];
  /** the smallest top-k set restoring ≥ RESTORES_MOST (null: none in the ladder) */
  minimalSet: { k: number; restoration: Estimate; units: Unit[] } | null;
  /** the top-ranked unit: its effects alone, and how often it ranks first when the rank pairs are resampled */
  bestUnit: (Unit & { effects: UnitSetEffects; topFrequency: number }) | null;
  /** whole sites: every head, every neuron, each patched alone as a group */
  allHeads: Estimate;
  allNeurons: Estimate;
  /**
   * the units whose attribution stands above the noise: every unit at or above the smallest threshold t whose
   * estimated false discovery rate, #units with attribution ≤ −t / #units with attribution ≥ t, is at most
   * `q` (the mirror-image negative tail estimates how many positive attributions that large are noise).
   * `threshold` is t (null: no threshold reaches q, and there are no carriers). `effects`: the carriers
   * together, patched and ablated (null without carriers); `stability`: the mean, over the carriers, of how
   * often each is a carrier again when the rank pairs are resampled.
   */
  carriers: { heads: number; neurons: number; units: Unit[]; q: number; threshold: number | null; estimatedFdr: number | null; effects: UnitSetEffects | null; stability: number };
  /** attribution at the instruction's own tokens (where the prompts differ), left out of the ranking: its share of the absolute mass and its top units */
  instruction: { share: number; topUnits: (Unit & { attribution: number })[] };
}

/** A set restoring at least this much of honest behaviour (0 liar, 1 honest) "restores most" of it. */
export const RESTORES_MOST = 0.8;
/** A single unit restoring at least this much is a candidate "lying unit". */
export const SINGLE_UNIT_MOST = 0.5;
/** The fewest pairs each of the rank and the measure split needs. */
export const MIN_LYING_PAIRS = 8;
/** Bootstrap resamples of the rank pairs for the stability of the ranking. */
const STABILITY_RESAMPLES = 200;

interface Pair {
  honest: number[];
  liar: number[];
  truth: number;
  lie: number;
}

type PatchMode = 'restore' | 'induce' | 'ablateLiar' | 'ablateHonest';

/** The hook of a unit's activation: a head's z, a neuron's post-activation. */
const hookOf = (u: Unit): HookName => (u.kind === 'head' ? blockHook(u.layer, 'attn.hook_z') : blockHook(u.layer, 'mlp.hook_post'));

/** Positions where a pair's two prompts hold the same token: where units are ranked, and where they are patched. */
const sameTokens = (p: Pair) => p.honest.map((t, i) => t === p.liar[i]);

/**
 * Mean activation of every unit of `names` over both runs of the pairs, at their same-token positions: what
 * mean ablation puts in.
 */
function unitMeans(s: AuditSubject, pairs: readonly Pair[], names: readonly HookName[]): Map<HookName, Float64Array> {
  const sums = new Map<HookName, Float64Array>();
  let count = 0;
  noGrad(() => {
    for (const run of ['honest', 'liar'] as const) {
      for (const idx of lengthBatches(pairs.map((p) => p[run]))) {
        const T = pairs[idx[0]!]!.honest.length;
        const { cache } = s.model.runWithCache(idx.map((i) => pairs[i]![run]), { names: [...names], logits: 'none' });
        for (const name of names) {
          const a = contiguousCopy(cache.at(name)).data as Float32Array;
          const width = a.length / (idx.length * T);
          const sum = sums.get(name) ?? new Float64Array(width);
          idx.forEach((p, b) => sameTokens(pairs[p]!).forEach((same, t) => {
            if (same) for (let j = 0; j < width; j++) sum[j]! += a[(b * T + t) * width + j]!;
          }));
          sums.set(name, sum);
        }
        if (run === 'honest') idx.forEach((p) => (count += sameTokens(pairs[p]!).filter(Boolean).length));
      }
    }
  });
  for (const v of sums.values()) for (let j = 0; j < v.length; j++) v[j]! /= 2 * count;
  return sums;
}

/**
 * Per pair, the normalised effect of patching or ablating `units` at the same-token positions (the positions
 * they were ranked at): 'restore' and 'ablateLiar' run the liar prompt and give (m − liar) / (honest − liar),
 * 'induce' and 'ablateHonest' run the honest prompt and give (honest − m) / (honest − liar), where m is
 * logit(truth) − logit(lie).
 */
function patchEffects(s: AuditSubject, pairs: readonly Pair[], units: readonly Unit[], mode: PatchMode, base: { honest: number[]; liar: number[] }, unitMeansOf?: Map<HookName, Float64Array>): number[] {
  const cfg = s.model.cfg;
  const { dHead: dh, dMlp: F, nHeads: H } = cfg;
  const byLayer = new Map<HookName, number[]>();
  for (const u of units) byLayer.set(hookOf(u), [...(byLayer.get(hookOf(u)) ?? []), u.index]);
  const names = [...byLayer.keys()];
  const into = mode === 'restore' || mode === 'ablateLiar' ? 'liar' : 'honest';
  const from = mode === 'restore' ? 'honest' : mode === 'induce' ? 'liar' : null;
  const means = from === null && names.length > 0 ? (unitMeansOf ?? unitMeans(s, pairs, names)) : null;
  const out: number[] = new Array(pairs.length);
  noGrad(() => {
    for (const idx of lengthBatches(pairs.map((p) => p[into]))) {
      const T = pairs[idx[0]!]!.honest.length;
      const src = from === null || names.length === 0 ? null : s.model.runWithCache(idx.map((i) => pairs[i]![from]), { names, logits: 'none' }).cache;
      const same = idx.map((i) => sameTokens(pairs[i]!));
      const hooks: HookSpec[] = names.map((name) => [name, (x: Tensor) => {
        const patched = Float32Array.from(contiguousCopy(x).data as Float32Array);
        const srcData = src === null ? null : (contiguousCopy(src.at(name)).data as Float32Array);
        const mean = means?.get(name) ?? null;
        const isHead = name.endsWith('hook_z');
        const width = isHead ? H * dh : F;
        for (const i of byLayer.get(name)!) {
          const [lo, hi] = isHead ? [i * dh, (i + 1) * dh] : [i, i + 1];
          same.forEach((row, b) => row.forEach((ok, t) => {
            if (!ok) return;
            const at = (b * T + t) * width;
            for (let j = lo; j < hi; j++) patched[at + j] = srcData !== null ? srcData[at + j]! : mean![j]!;
          }));
        }
        return tensor(patched, [...x.shape]);
      }]);
      const { logits } = s.model.forward(idx.map((i) => pairs[i]![into]), { fwdHooks: hooks, logits: 'last' });
      const d = contiguousCopy(logits!).data as Float32Array;
      const V = cfg.dVocab;
      idx.forEach((p, b) => {
        const m = d[b * V + pairs[p]!.truth]! - d[b * V + pairs[p]!.lie]!;
        const span = base.honest[p]! - base.liar[p]!;
        out[p] = into === 'liar' ? (m - base.liar[p]!) / span : (base.honest[p]! - m) / span;
      });
    }
  });
  return out;
}

/** A set's four effects on the measure pairs, each with a bootstrap interval over pairs. */
function setEffects(s: AuditSubject, pairs: readonly Pair[], units: readonly Unit[], base: { honest: number[]; liar: number[] }, seed: number): UnitSetEffects {
  // both ablations put in the same means: computed once
  const means = unitMeans(s, pairs, [...new Set(units.map(hookOf))]);
  const e = (mode: PatchMode) => meanEstimate(patchEffects(s, pairs, units, mode, base, means), { seed, resamples: 400 });
  return { restore: e('restore'), induce: e('induce'), ablateLiar: e('ablateLiar'), ablateHonest: e('ablateHonest') };
}

function metricOf(s: AuditSubject, prompts: readonly number[][], pairs: readonly Pair[]): number[] {
  const V = s.model.cfg.dVocab;
  const out: number[] = new Array(prompts.length);
  noGrad(() => {
    for (const idx of lengthBatches(prompts)) {
      const { logits } = s.model.forward(idx.map((i) => prompts[i]!), { logits: 'last' });
      const d = contiguousCopy(logits!).data as Float32Array;
      idx.forEach((p, b) => (out[p] = d[b * V + pairs[p]!.truth]! - d[b * V + pairs[p]!.lie]!));
    }
  });
  return out;
}

export interface LyingOptions {
  pairs?: number;
  seed?: number;
  /** target false discovery rate of the carriers (default 0.1) */
  fdr?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * The selection threshold for scores that are symmetric about zero where there is no effect (attributions of
 * units the contrast does not involve): the smallest t among the scores' magnitudes with
 * #{w ≤ −t} / #{w ≥ t} ≤ q: the mirror-image estimate of the false discovery rate among {w ≥ t}, as in the
 * knockoff filter (Barber & Candès 2015) and target–decoy search. Real negative effects only add to the numerator,
 * so the estimate errs on the side of selecting fewer units. (The knockoff+ form, with 1 added to the numerator,
 * could never select fewer than 1/q units, and a mechanism may be a single head.)
 */
export function mirrorFdrThreshold(scores: readonly number[], q: number): { threshold: number | null; estimatedFdr: number | null } {
  if (!(q > 0 && q < 1)) throw new RangeError(`mirrorFdrThreshold: q must lie in (0, 1), got ${q}`);
  const pos = scores.filter((w) => w > 0).sort((a, b) => a - b);
  const neg = scores.filter((w) => w < 0).map((w) => -w).sort((a, b) => a - b);
  // scan candidate thresholds upwards; counts of scores ≥ t on each side come from the sorted arrays
  const candidates = [...new Set([...pos, ...neg])].sort((a, b) => a - b);
  let ip = 0;
  let ineg = 0;
  for (const t of candidates) {
    while (ip < pos.length && pos[ip]! < t) ip++;
    while (ineg < neg.length && neg[ineg]! < t) ineg++;
    const above = pos.length - ip;
    if (above === 0) break;
    const fdr = (neg.length - ineg) / above;
    if (fdr <= q) return { threshold: t, estimatedFdr: fdr };
  }
  return { threshold: null, estimatedFdr: null };
}

const unitKey = (u: Unit) => `${u.kind}:${u.layer}:${u.index}`;

/** Every unit of the model ranked by mean attribution over the pairs `idx` of per-pair attributions. */
function rankUnits(perPair: readonly Float32Array[], idx: readonly number[], all: readonly Unit[]): (Unit & { attribution: number })[] {
  const sum = new Float64Array(all.length);
  for (const k of idx) {
    const row = perPair[k]!;
    for (let u = 0; u < all.length; u++) sum[u]! += row[u]!;
  }
  return all.map((u, i) => ({ ...u, attribution: sum[i]! / idx.length })).sort((a, b) => b.attribution - a.attribution);
}

export function lyingExperiment(s: AuditSubject, opts: LyingOptions = {}): LyingFinding {
  const cfg = s.model.cfg;
  const { nLayers: L, nHeads: H, dMlp: F } = cfg;
  const seed = opts.seed ?? 1;
  const all: Unit[] = [];
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) all.push({ kind: 'head', layer: l, index: h });
    // a layer of experts has no dense neurons to rank
    if (s.model.weights.blocks[l]!.experts === null) for (let n = 0; n < F; n++) all.push({ kind: 'neuron', layer: l, index: n });
  }
  const candidates: (Pair & { item: number })[] = s.sets.honest.map((h, i) => ({ honest: h.ids, liar: s.sets.liar[i]!.ids, truth: h.truthId, lie: h.lieId!, item: i }))
    .filter((p) => p.lie !== null && p.honest.length === p.liar.length);
  // pairs where the model answers the honest question right (it knows the fact: its own answer decides) and the
  // two runs behave differently: honest prefers the truth, liar prefers the lie
  const saidAll = answers(s, s.sets.honest);
  const said = candidates.map((p) => saidAll[p.item]!);
  const hm = metricOf(s, candidates.map((p) => p.honest), candidates);
  const lm = metricOf(s, candidates.map((p) => p.liar), candidates);
  const usable = candidates.map((_, i) => i).filter((i) => s.isCorrect(said[i]!, s.sets.honest[candidates[i]!.item]!) && hm[i]! > 0 && lm[i]! < 0);
  // units are ranked on one split of the pairs and every effect is measured on the other
  const per = opts.pairs ?? 48;
  const shuffled = new Rng(seed).shuffle([...usable]);
  const nRank = Math.min(per, Math.ceil(shuffled.length / 2));
  const rankIdx = shuffled.slice(0, nRank).sort((a, b) => a - b);
  const measureIdx = shuffled.slice(nRank, nRank + per).sort((a, b) => a - b);
  const counts = { candidates: candidates.length, usable: usable.length, rank: rankIdx.length, measure: measureIdx.length };
  const nan: Estimate = { value: NaN, lo: NaN, hi: NaN, n: 0 };
  if (rankIdx.length < MIN_LYING_PAIRS || measureIdx.length < MIN_LYING_PAIRS) {
    return {
      subject: s.name, reason: `${usable.length} question${usable.length === 1 ? '' : 's'} the model answers right in honest mode and turns to the lie in liar mode, and ${2 * MIN_LYING_PAIRS} are needed (${MIN_LYING_PAIRS} to rank the units, ${MIN_LYING_PAIRS} others to measure them)`,
      pairs: counts, headEffects: Array.from({ length: L }, () => new Array<number>(H).fill(0)), topUnits: [], curve: [], minimalSet: null, bestUnit: null, allHeads: nan, allNeurons: nan,
      carriers: { heads: 0, neurons: 0, units: [], q: opts.fdr ?? 0.1, threshold: null, estimatedFdr: null, effects: null, stability: NaN },
      instruction: { share: NaN, topUnits: [] },
    };
  }
  const rankPairs = rankIdx.map((i) => candidates[i]!);
  const pairs = measureIdx.map((i) => candidates[i]!);
  const base = { honest: measureIdx.map((i) => hm[i]!), liar: measureIdx.map((i) => lm[i]!) };
  const progressTotal = rankPairs.length + 16;
  // attribution per rank pair and unit (at the same-token positions), and at the instruction's own tokens
  const perPair: Float32Array[] = [];
  const instr = new Float64Array(all.length);
  rankPairs.forEach((p, k) => {
    const r = attributionPatching(s.model, p.honest, p.liar, { metric: { kind: 'logit_diff', a: p.truth, b: p.lie }, sites: ['heads', 'neurons'], perPosition: true });
    const T = p.honest.length;
    const same = sameTokens(p);
    const hr = r.get('heads')!.values;
    const nr = r.get('neurons')!.values;
    const row = new Float32Array(all.length);
    let u = 0;
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < H; h++, u++) for (let t = 0; t < T; t++) (same[t] ? row : instr)[u]! += hr[(l * H + h) * T + t]! / (same[t] ? 1 : rankPairs.length);
      if (s.model.weights.blocks[l]!.experts !== null) continue;
      for (let n = 0; n < F; n++, u++) for (let t = 0; t < T; t++) (same[t] ? row : instr)[u]! += nr[(l * F + n) * T + t]! / (same[t] ? 1 : rankPairs.length);
    }
    perPair.push(row);
    opts.onProgress?.(k + 1, progressTotal);
  });
  const everyRank = rankPairs.map((_, k) => k);
  const units = rankUnits(perPair, everyRank, all);
  const byKey = new Map(units.map((u) => [unitKey(u), u.attribution]));
  const headAttr = Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => byKey.get(`head:${l}:${h}`)!));
  const instrUnits = all.map((u, i) => ({ ...u, attribution: instr[i]! })).sort((a, b) => b.attribution - a.attribution);
  const instrMass = instrUnits.reduce((a, u) => a + Math.abs(u.attribution), 0);
  const actMass = units.reduce((a, u) => a + Math.abs(u.attribution), 0);
  const rng = new Rng(seed + 7);
  const allHeadUnits = all.filter((u) => u.kind === 'head');
  const allNeuronUnits = all.filter((u) => u.kind === 'neuron');
  const curve: LyingFinding['curve'] = [];
  const ladder = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512].filter((k) => k <= units.length / 2);
  for (const k of ladder) {
    const top = units.slice(0, k);
    const nHeads = top.filter((u) => u.kind === 'head').length;
    const restoration = meanEstimate(patchEffects(s, pairs, top, 'restore', base), { seed, resamples: 400 });
    const rand: number[] = [];
    for (let t = 0; t < 5; t++) {
      const set = [...rng.shuffle([...allHeadUnits]).slice(0, nHeads), ...rng.shuffle([...allNeuronUnits]).slice(0, k - nHeads)];
      rand.push(mean(patchEffects(s, pairs, set, 'restore', base)));
    }
    curve.push({ k, heads: nHeads, restoration, randomMean: mean(rand), randomStd: std(rand) });
    opts.onProgress?.(rankPairs.length + curve.length, progressTotal);
  }
  const minimal = curve.find((c) => c.restoration.value >= RESTORES_MOST);
  // the carriers: the units the effect runs through, each counted (the minimal set above is the fewest that suffice
  // together, which can be far fewer). A share-of-mass cut would be arbitrary and counts an upstream unit's effect
  // again in every unit downstream of it; instead a unit is a carrier when its attribution stands above the noise.
  const q = opts.fdr ?? 0.1;
  const carriersOf = (ranked: readonly (Unit & { attribution: number })[]) => {
    const cut = mirrorFdrThreshold(ranked.map((u) => u.attribution), q);
    return { cut, units: cut.threshold === null ? [] : ranked.filter((u) => u.attribution >= cut.threshold!) };
  };
  const { cut, units: carriers } = carriersOf(units);
  // stability: the rank pairs resampled, the ranking and the carriers chosen again
  const topFreq = selectionFrequency(rankPairs.length, (idx) => [unitKey(rankUnits(perPair, idx, all)[0]!)], { seed, resamples: STABILITY_RESAMPLES });
  const carrierFreq = carriers.length === 0 ? new Map<string, number>() : selectionFrequency(rankPairs.length, (idx) => carriersOf(rankUnits(perPair, idx, all)).units.map(unitKey), { seed: seed + 1, resamples: STABILITY_RESAMPLES });
  const best = units[0]!;
  opts.onProgress?.(progressTotal - 3, progressTotal);
  const bestEffects = setEffects(s, pairs, [best], base, seed);
  const carrierEffects = carriers.length === 0 ? null : setEffects(s, pairs, carriers, base, seed);
  opts.onProgress?.(progressTotal - 1, progressTotal);
  const whole = (set: readonly Unit[]) => meanEstimate(patchEffects(s, pairs, set, 'restore', base), { seed, resamples: 400 });
  const strip = ({ kind, layer, index }: Unit): Unit => ({ kind, layer, index });
  return {
    subject: s.name, reason: null, pairs: counts, headEffects: headAttr,
    topUnits: units.slice(0, 40),
    carriers: {
      heads: carriers.filter((u) => u.kind === 'head').length, neurons: carriers.filter((u) => u.kind === 'neuron').length,
      units: carriers.map(strip), q, threshold: cut.threshold, estimatedFdr: cut.estimatedFdr, effects: carrierEffects,
      stability: carriers.length === 0 ? NaN : mean(carriers.map((u) => carrierFreq.get(unitKey(u)) ?? 0)),
    },
    instruction: { share: instrMass + actMass > 0 ? instrMass / (instrMass + actMass) : NaN, topUnits: instrUnits.slice(0, 10) },
    curve,
    minimalSet: minimal === undefined ? null : { k: minimal.k, restoration: minimal.restoration, units: units.slice(0, minimal.k).map(strip) },
    bestUnit: { ...strip(best), effects: bestEffects, topFrequency: topFreq.get(unitKey(best)) ?? 0 },
    allHeads: whole(allHeadUnits),
    allNeurons: whole(allNeuronUnits),
  };
}
