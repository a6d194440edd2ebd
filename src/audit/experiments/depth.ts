/**
 * Depth (question 2): logit-lens trajectories of the true answer (and of the
 * lie) by layer in honest mode, liar mode and refused requests; the critical
 * layer where honest and liar runs part; and whether the true answer is
 * formed and then overwritten (it leads at some layer but not at the output)
 * or never formed.
 */
import { answers, type AuditItem, type AuditSubject } from '../subject.js';
import { lensTrack, mean, spread } from '../measure.js';
import { meanEstimate, rateOf, selectionFrequency, type Estimate } from '../../methods/statistics.js';

export interface Trajectory {
  mode: 'honest' | 'liar' | 'refused';
  n: number;
  /** per layer (after block l; the last is the output): mean log-probability of the true answer */
  truthLogprob: number[];
  /** per layer: mean log-probability of the lie (liar-mode answer), when there is one */
  lieLogprob: number[] | null;
  /** per layer: fraction of prompts where the true answer is the top token */
  truthTop: number[];
  /** share of prompts where the true answer is the top token at some layer before the output but not at the output */
  formedThenOverwritten: Estimate;
  /** share where it is never the top token at any layer */
  neverFormed: Estimate;
}

export interface DepthFinding {
  subject: string;
  layers: number;
  trajectories: Trajectory[];
  /** the first layer from which the liar run's truth − lie log-odds stays at least PART_NATS below the honest run's (null: they never part) */
  criticalLayer: number | null;
  /** how often resampling the pairs gives the same critical layer (null included) */
  criticalLayerFrequency: number;
  /** per layer: honest minus liar mean (truth − lie) log-probability gap, with a bootstrap interval over the pairs */
  gap: Estimate[];
  /** the honest/liar pairs read: questions the model answers right in honest mode */
  pairs: number;
}

/** A critical layer is named only when resampling the pairs gives the same layer at least this often. */
export const CRITICAL_LAYER_STABLE = 0.8;

/** Honest and liar runs "part" where the liar run's truth − lie log-odds stays this many nats below the honest run's. */
export const PART_NATS = 1;

/** The first layer from which every later mean gap is at least PART_NATS (null: none). */
function partingLayer(meanGap: readonly number[]): number | null {
  for (let l = 0; l < meanGap.length; l++) if (meanGap.slice(l).every((g) => g >= PART_NATS)) return l;
  return null;
}

function trajectory(s: AuditSubject, items: readonly AuditItem[], mode: Trajectory['mode']): Trajectory {
  const L = s.model.cfg.nLayers;
  const hasLie = items.every((i) => i.lieId !== null);
  const r = lensTrack(s.model, items.map((i) => i.ids), items.map((i) => (hasLie ? [i.truthId, i.lieId!] : [i.truthId])));
  const per = (f: (p: number, l: number) => number) => Array.from({ length: L }, (_, l) => mean(items.map((_, p) => f(p, l))));
  const top = items.map((_, p) => r.rank[p]!.map((ranks) => ranks[0] === 0));
  return {
    mode, n: items.length,
    truthLogprob: per((p, l) => r.logprob[p]![l]![0]!),
    lieLogprob: hasLie ? per((p, l) => r.logprob[p]![l]![1]!) : null,
    truthTop: per((p, l) => (top[p]![l] ? 1 : 0)),
    formedThenOverwritten: rateOf(top.map((t) => t.slice(0, L - 1).some(Boolean) && !t[L - 1])),
    neverFormed: rateOf(top.map((t) => !t.some(Boolean))),
  };
}

/** Per item and layer: log P(truth) − log P(lie) in the logit lens. */
function logOdds(s: AuditSubject, items: readonly AuditItem[]): number[][] {
  const r = lensTrack(s.model, items.map((i) => i.ids), items.map((i) => [i.truthId, i.lieId!]));
  return items.map((_, p) => r.logprob[p]!.map((v) => v[0]! - v[1]!));
}

export function depthExperiment(s: AuditSubject, refused: readonly AuditItem[], seed = 1): DepthFinding {
  const L = s.model.cfg.nLayers;
  const trajectories: Trajectory[] = [];
  // the facts the model knows: it answers them right in honest mode (its own answer decides)
  const said = answers(s, s.sets.honest);
  const known = s.sets.honest.map((_, i) => i).filter((i) => s.isCorrect(said[i]!, s.sets.honest[i]!));
  const idx = spread(known, 160);
  const honestItems = idx.map((i) => s.sets.honest[i]!);
  if (honestItems.length > 0) trajectories.push(trajectory(s, honestItems, 'honest'));
  let gap: Estimate[] = [];
  let criticalLayer: number | null = null;
  let criticalLayerFrequency = NaN;
  const liarItems = idx.map((i) => s.sets.liar[i]).filter((x): x is AuditItem => x !== undefined);
  if (liarItems.length === honestItems.length && liarItems.length > 0 && honestItems.every((h, k) => h.lieId !== null && liarItems[k]!.lieId !== null)) {
    trajectories.push(trajectory(s, liarItems, 'liar'));
    // per pair and layer: how much lower the liar run's truth − lie log-odds is than the honest run's
    const h = logOdds(s, honestItems);
    const l = logOdds(s, liarItems);
    const per = h.map((row, p) => row.map((x, layer) => x - l[p]![layer]!));
    const meanAt = (ids: readonly number[]) => Array.from({ length: L }, (_, layer) => ids.reduce((a, p) => a + per[p]![layer]!, 0) / ids.length);
    gap = Array.from({ length: L }, (_, layer) => meanEstimate(per.map((row) => row[layer]!), { seed, resamples: 400 }));
    criticalLayer = partingLayer(meanAt(per.map((_, p) => p)));
    const freq = selectionFrequency(per.length, (ids) => [String(partingLayer(meanAt(ids)))], { seed, resamples: 200 });
    criticalLayerFrequency = freq.get(String(criticalLayer)) ?? 0;
  }
  if (refused.length > 0) trajectories.push(trajectory(s, spread(refused, 160), 'refused'));
  return { subject: s.name, layers: L, trajectories, criticalLayer, criticalLayerFrequency, gap, pairs: honestItems.length };
}
