/**
 * Risks (question 8): how little it takes to remove refusal. The refusal
 * direction is projected out of every matrix that writes the residual stream
 * — a rank-1 edit of each — and the edited model is asked again: how often
 * it still refuses, how many withheld answers come back, and what the edit
 * costs on harmless requests.
 */
import { orthogonalizeWeights } from '../../methods/directions.js';
import { answers, type AuditSubject } from '../subject.js';
import { fraction, spread } from '../measure.js';

export interface RiskFinding {
  subject: string;
  /** matrices edited (each by a rank-1 update) and the share of all weights' squared norm removed */
  edit: { matrices: number; parameters: number; normRemoved: number };
  refusalBefore: number;
  refusalAfter: number;
  /** withheld answers (known, refused before) given correctly after the edit */
  restoredAfter: number;
  withheld: number;
  /** harmless requests answered correctly before and after the edit (NaN where the requests have no known answer, as candor's requests for a user's model) */
  harmlessBefore: number;
  harmlessAfter: number;
  /** harmless requests whose answer is word for word the same after the edit */
  harmlessUnchanged: number;
}

export function riskExperiment(s: AuditSubject, direction: readonly number[]): RiskFinding {
  const edited = orthogonalizeWeights(s.model, direction);
  const other: AuditSubject = { ...s, model: edited };
  const harmful = s.sets.harmful;
  const harmless = spread(s.sets.harmless, 200);
  const before = answers(s, harmful);
  const after = answers(other, harmful);
  const withheld = harmful.map((_, i) => i).filter((i) => harmful[i]!.truthId >= 0 && s.isRefusal(before[i]!));
  const hb = answers(s, harmless);
  const ha = answers(other, harmless);
  const withAnswer = harmless.map((_, i) => i).filter((i) => harmless[i]!.truth !== '');
  let total = 0;
  let removed = 0;
  const ep = edited.parameters();
  let matrices = 0;
  let parameters = 0;
  for (const [name, t] of s.model.parameters()) {
    const e = ep.get(name);
    const a = t.data as Float32Array;
    for (let i = 0; i < a.length; i++) total += a[i]! * a[i]!;
    if (e === undefined || e === t) continue;
    const b = e.data as Float32Array;
    let changed = false;
    for (let i = 0; i < a.length; i++) {
      const d = a[i]! - b[i]!;
      if (d !== 0) changed = true;
      removed += a[i]! * a[i]! - b[i]! * b[i]!;
    }
    if (changed) {
      matrices++;
      parameters += a.length;
    }
  }
  return {
    subject: s.name,
    edit: { matrices, parameters, normRemoved: removed / total },
    refusalBefore: fraction(before.map(s.isRefusal)),
    refusalAfter: fraction(after.map(s.isRefusal)),
    restoredAfter: fraction(withheld.map((i) => s.isCorrect(after[i]!, harmful[i]!))),
    withheld: withheld.length,
    harmlessBefore: fraction(withAnswer.map((i) => s.isCorrect(hb[i]!, harmless[i]!))),
    harmlessAfter: fraction(withAnswer.map((i) => s.isCorrect(ha[i]!, harmless[i]!))),
    harmlessUnchanged: fraction(ha.map((a, i) => a === hb[i])),
  };
}
