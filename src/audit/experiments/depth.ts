/**
 * Depth (question 2): logit-lens trajectories of the true answer (and of the
 * lie) by layer in honest mode, liar mode and refused requests; the critical
 * layer where honest and liar runs part; and whether the true answer is
 * formed and then overwritten (it leads at some layer but not at the output)
 * or never formed.
 */
import type { AuditItem, AuditSubject } from '../subject.js';
import { fraction, lensTrack, mean, spread } from '../measure.js';

export interface Trajectory {
  mode: 'honest' | 'liar' | 'refused';
  n: number;
  /** per layer (after block l; the last is the output): mean log-probability of the true answer */
  truthLogprob: number[];
  /** per layer: mean log-probability of the lie (liar-mode answer), when there is one */
  lieLogprob: number[] | null;
  /** per layer: fraction of prompts where the true answer is the top token */
  truthTop: number[];
  /** fraction of prompts where the true answer is the top token at some layer before the output but not at the output */
  formedThenOverwritten: number;
  /** fraction where it is never the top token at any layer */
  neverFormed: number;
}

export interface DepthFinding {
  subject: string;
  layers: number;
  trajectories: Trajectory[];
  /** the first layer from which the liar run's truth − lie log-odds stays at least 1 nat below the honest run's (null: they never part) */
  criticalLayer: number | null;
  /** per layer: honest minus liar mean (truth − lie) log-probability gap */
  gap: number[];
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
    formedThenOverwritten: fraction(top.map((t) => t.slice(0, L - 1).some(Boolean) && !t[L - 1])),
    neverFormed: fraction(top.map((t) => !t.some(Boolean))),
  };
}

export function depthExperiment(s: AuditSubject, refused: readonly AuditItem[]): DepthFinding {
  const L = s.model.cfg.nLayers;
  const trajectories: Trajectory[] = [];
  const n = Math.min(s.sets.honest.length, 160);
  const honest = trajectory(s, spread(s.sets.honest, n), 'honest');
  trajectories.push(honest);
  let gap: number[] = [];
  let criticalLayer: number | null = null;
  if (s.sets.liar.length > 0) {
    const liar = trajectory(s, spread(s.sets.liar, n), 'liar');
    trajectories.push(liar);
    if (honest.lieLogprob !== null && liar.lieLogprob !== null) {
      gap = Array.from({ length: L }, (_, l) => honest.truthLogprob[l]! - honest.lieLogprob![l]! - (liar.truthLogprob[l]! - liar.lieLogprob![l]!));
      for (let l = 0; l < L; l++) if (gap.slice(l).every((g) => g >= 1)) {
        criticalLayer = l;
        break;
      }
    }
  }
  if (refused.length > 0) trajectories.push(trajectory(s, spread(refused, n), 'refused'));
  return { subject: s.name, layers: L, trajectories, criticalLayer, gap };
}
