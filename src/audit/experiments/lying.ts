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
import type { AuditSubject } from '../subject.js';
import { lengthBatches, mean, std } from '../measure.js';

export interface Unit {
  kind: 'head' | 'neuron';
  layer: number;
  /** head or neuron index */
  index: number;
}

export const unitName = (u: Unit): string => (u.kind === 'head' ? `head ${u.layer}.${u.index}` : `neuron ${u.layer}.${u.index}`);

export interface LyingFinding {
  subject: string;
  pairs: number;
  /** mean normalised attribution per head [layer][head] and the top neurons */
  headEffects: number[][];
  topUnits: (Unit & { attribution: number })[];
  /** restoration by patching the top-k units together, against random sets of the same size and make-up */
  curve: { k: number; heads: number; restoration: number; randomMean: number; randomStd: number }[];
  /** the smallest top-k set restoring ≥ 80% (null: none in the ladder) */
  minimalSet: { k: number; restoration: number; units: Unit[] } | null;
  /** the single best unit patched alone */
  bestUnit: (Unit & { restoration: number }) | null;
  /** whole sites: every head, every neuron, each patched alone as a group */
  allHeads: number;
  allNeurons: number;
  /**
   * the units whose attribution stands above the noise: every unit at or above the smallest threshold t whose
   * estimated false discovery rate, #units with attribution ≤ −t / #units with attribution ≥ t, is at most
   * `q` (the mirror-image negative tail estimates how many positive attributions that large are noise).
   * `threshold` is t (null: no threshold reaches q, and there are no carriers).
   */
  carriers: { heads: number; neurons: number; units: Unit[]; q: number; threshold: number | null; estimatedFdr: number | null };
  /** attribution at the instruction's own tokens (where the prompts differ), left out of the ranking: its share of the absolute mass and its top units */
  instruction: { share: number; topUnits: (Unit & { attribution: number })[] };
}

interface Pair {
  honest: number[];
  liar: number[];
  truth: number;
  lie: number;
}

/** Normalised restoration of patching `units` from honest into liar runs, averaged over pairs. */
function patchUnits(s: AuditSubject, pairs: readonly Pair[], units: readonly Unit[], base: { honest: number[]; liar: number[] }): number {
  const cfg = s.model.cfg;
  const dh = cfg.dHead;
  const F = cfg.dMlp;
  const H = cfg.nHeads;
  const byLayer = new Map<string, number[]>();
  for (const u of units) {
    const key = u.kind === 'head' ? blockHook(u.layer, 'attn.hook_z') : blockHook(u.layer, 'mlp.hook_post');
    byLayer.set(key, [...(byLayer.get(key) ?? []), u.index]);
  }
  const names = [...byLayer.keys()] as HookName[];
  const out: number[] = new Array(pairs.length);
  noGrad(() => {
    for (const idx of lengthBatches(pairs.map((p) => p.honest))) {
      const T = pairs[idx[0]!]!.honest.length;
      const B = idx.length;
      const src = names.length === 0 ? null : s.model.runWithCache(idx.map((i) => pairs[i]!.honest), { names, logits: 'none' }).cache;
      const hooks: HookSpec[] = names.map((name) => [name, (x: Tensor) => {
        const a = contiguousCopy(x).data as Float32Array;
        const from = contiguousCopy(src!.at(name)).data as Float32Array;
        const out2 = Float32Array.from(a);
        const isHead = name.endsWith('hook_z');
        for (const i of byLayer.get(name)!) {
          for (let bt = 0; bt < B * T; bt++) {
            if (isHead) for (let j = 0; j < dh; j++) out2[(bt * H + i) * dh + j] = from[(bt * H + i) * dh + j]!;
            else out2[bt * F + i] = from[bt * F + i]!;
          }
        }
        return tensor(out2, [...x.shape]);
      }]);
      const { logits } = s.model.forward(idx.map((i) => pairs[i]!.liar), { fwdHooks: hooks, logits: 'last' });
      const d = contiguousCopy(logits!).data as Float32Array;
      const V = cfg.dVocab;
      idx.forEach((p, b) => {
        const m = d[b * V + pairs[p]!.truth]! - d[b * V + pairs[p]!.lie]!;
        out[p] = (m - base.liar[p]!) / (base.honest[p]! - base.liar[p]!);
      });
    }
  });
  return mean(out);
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

export function lyingExperiment(s: AuditSubject, opts: LyingOptions = {}): LyingFinding {
  const cfg = s.model.cfg;
  const { nLayers: L, nHeads: H, dMlp: F } = cfg;
  const candidates: Pair[] = s.sets.honest.map((h, i) => ({ honest: h.ids, liar: s.sets.liar[i]!.ids, truth: h.truthId, lie: h.lieId! }))
    .filter((p) => p.lie !== null && p.honest.length === p.liar.length);
  // pairs where the two runs behave differently: honest prefers the truth, liar prefers the lie
  const hm = metricOf(s, candidates.map((p) => p.honest), candidates);
  const lm = metricOf(s, candidates.map((p) => p.liar), candidates);
  const usable = candidates.map((_, i) => i).filter((i) => hm[i]! > 0 && lm[i]! < 0);
  const chosen = new Rng(opts.seed ?? 1).shuffle(usable).slice(0, opts.pairs ?? 48).sort((a, b) => a - b);
  const pairs = chosen.map((i) => candidates[i]!);
  const base = { honest: chosen.map((i) => hm[i]!), liar: chosen.map((i) => lm[i]!) };
  const headAttr = Array.from({ length: L }, () => new Array<number>(H).fill(0));
  const neuronAttr = Array.from({ length: L }, () => new Float64Array(F));
  // the same at the instruction's own tokens
  const headInstr = Array.from({ length: L }, () => new Array<number>(H).fill(0));
  const neuronInstr = Array.from({ length: L }, () => new Float64Array(F));
  pairs.forEach((p, k) => {
    const r = attributionPatching(s.model, p.honest, p.liar, { metric: { kind: 'logit_diff', a: p.truth, b: p.lie }, sites: ['heads', 'neurons'], perPosition: true });
    const T = p.honest.length;
    const differs = p.honest.map((t, i) => t !== p.liar[i]);
    const hr = r.get('heads')!;
    const nr = r.get('neurons')!;
    for (let l = 0; l < L; l++) {
      for (let t = 0; t < T; t++) {
        const [hd, nd] = differs[t] ? [headInstr, neuronInstr] : [headAttr, neuronAttr];
        for (let h = 0; h < H; h++) hd[l]![h]! += hr.values[(l * H + h) * T + t]! / pairs.length;
        for (let n = 0; n < F; n++) nd[l]![n]! += nr.values[(l * F + n) * T + t]! / pairs.length;
      }
    }
    opts.onProgress?.(k + 1, pairs.length + 12);
  });
  const instrUnits: (Unit & { attribution: number })[] = [];
  let instrMass = 0;
  let actMass = 0;
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      instrUnits.push({ kind: 'head', layer: l, index: h, attribution: headInstr[l]![h]! });
      instrMass += Math.abs(headInstr[l]![h]!);
      actMass += Math.abs(headAttr[l]![h]!);
    }
    for (let n = 0; n < F; n++) {
      instrUnits.push({ kind: 'neuron', layer: l, index: n, attribution: neuronInstr[l]![n]! });
      instrMass += Math.abs(neuronInstr[l]![n]!);
      actMass += Math.abs(neuronAttr[l]![n]!);
    }
  }
  instrUnits.sort((a, b) => b.attribution - a.attribution);
  const units: (Unit & { attribution: number })[] = [];
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) units.push({ kind: 'head', layer: l, index: h, attribution: headAttr[l]![h]! });
    for (let n = 0; n < F; n++) units.push({ kind: 'neuron', layer: l, index: n, attribution: neuronAttr[l]![n]! });
  }
  units.sort((a, b) => b.attribution - a.attribution);
  const rng = new Rng((opts.seed ?? 1) + 7);
  const allHeadUnits: Unit[] = [];
  const allNeuronUnits: Unit[] = [];
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) allHeadUnits.push({ kind: 'head', layer: l, index: h });
    for (let n = 0; n < F; n++) allNeuronUnits.push({ kind: 'neuron', layer: l, index: n });
  }
  const curve: LyingFinding['curve'] = [];
  const ladder = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512].filter((k) => k <= units.length / 2);
  for (const k of ladder) {
    const top = units.slice(0, k);
    const nHeads = top.filter((u) => u.kind === 'head').length;
    const restoration = pairs.length === 0 ? NaN : patchUnits(s, pairs, top, base);
    const rand: number[] = [];
    for (let t = 0; t < 5 && pairs.length > 0; t++) {
      const set = [...rng.shuffle([...allHeadUnits]).slice(0, nHeads), ...rng.shuffle([...allNeuronUnits]).slice(0, k - nHeads)];
      rand.push(patchUnits(s, pairs, set, base));
    }
    curve.push({ k, heads: nHeads, restoration, randomMean: mean(rand), randomStd: std(rand) });
    opts.onProgress?.(pairs.length + curve.length, pairs.length + 12);
  }
  const minimal = curve.find((c) => c.restoration >= 0.8);
  const best = units[0];
  const bestRestoration = best === undefined || pairs.length === 0 ? NaN : patchUnits(s, pairs, [best], base);
  // the carriers: the units the effect runs through, each counted (the minimal set above is the fewest that suffice
  // together, which can be far fewer). A share-of-mass cut would be arbitrary and counts an upstream unit's effect
  // again in every unit downstream of it; instead a unit is a carrier when its attribution stands above the noise.
  const q = opts.fdr ?? 0.1;
  const cut = mirrorFdrThreshold(units.map((u) => u.attribution), q);
  const carriers: Unit[] = cut.threshold === null ? [] : units.filter((u) => u.attribution >= cut.threshold!);
  return {
    subject: s.name, pairs: pairs.length, headEffects: headAttr,
    topUnits: units.slice(0, 40),
    carriers: {
      heads: carriers.filter((u) => u.kind === 'head').length, neurons: carriers.filter((u) => u.kind === 'neuron').length,
      units: carriers.map(({ kind, layer, index }) => ({ kind, layer, index })), q, threshold: cut.threshold, estimatedFdr: cut.estimatedFdr,
    },
    instruction: { share: instrMass + actMass > 0 ? instrMass / (instrMass + actMass) : NaN, topUnits: instrUnits.slice(0, 10) },
    curve,
    minimalSet: minimal === undefined ? null : { k: minimal.k, restoration: minimal.restoration, units: units.slice(0, minimal.k).map(({ kind, layer, index }) => ({ kind, layer, index })) },
    bestUnit: best === undefined ? null : { kind: best.kind, layer: best.layer, index: best.index, restoration: bestRestoration },
    allHeads: pairs.length === 0 ? NaN : patchUnits(s, pairs, allHeadUnits, base),
    allNeurons: pairs.length === 0 ? NaN : patchUnits(s, pairs, allNeuronUnits, base),
  };
}
