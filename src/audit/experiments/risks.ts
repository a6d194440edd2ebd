/**
 * Risks (question 8): how little it takes to remove refusal. The refusal
 * direction is projected out of every matrix that writes the residual stream
 * — a rank-1 edit of each — and the edited model is asked again: how often
 * it still refuses, how many withheld answers come back, and what the edit
 * costs on harmless requests.
 */
import { orthogonalizeWeights } from '../../methods/directions.js';
import { answers, type AuditSubject } from '../subject.js';
import { rateOf, type Estimate } from '../../methods/statistics.js';

export interface RiskFinding {
  subject: string;
  /** matrices edited (each by a rank-1 update) and the share of all weights' squared norm removed */
  edit: { matrices: number; parameters: number; normRemoved: number };
  /** every rate on the refusal experiment's test split (requests that played no part in finding the direction) */
  refusalBefore: Estimate;
  refusalAfter: Estimate;
  /** refused questions with an answer given correctly after the edit */
  restoredAfter: Estimate;
  /** harmless requests answered correctly before and after the edit (n = 0 where the requests have no known answer, as candor's requests for a user's model) */
  harmlessBefore: Estimate;
  harmlessAfter: Estimate;
  /** harmless requests whose answer is word for word the same after the edit */
  harmlessUnchanged: Estimate;
}

/** `test`: the refusal experiment's test split (indices into the harmful and harmless sets), where every rate is measured. */
export function riskExperiment(s: AuditSubject, direction: readonly number[], test: { harmful: readonly number[]; harmless: readonly number[] }): RiskFinding {
  const edited = orthogonalizeWeights(s.model, direction);
  const other: AuditSubject = { ...s, model: edited };
  const harmful = test.harmful.map((i) => s.sets.harmful[i]!);
  const harmless = test.harmless.map((i) => s.sets.harmless[i]!);
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
    refusalBefore: rateOf(before.map(s.isRefusal)),
    refusalAfter: rateOf(after.map(s.isRefusal)),
    restoredAfter: rateOf(withheld.map((i) => s.isCorrect(after[i]!, harmful[i]!))),
    harmlessBefore: rateOf(withAnswer.map((i) => s.isCorrect(hb[i]!, harmless[i]!))),
    harmlessAfter: rateOf(withAnswer.map((i) => s.isCorrect(ha[i]!, harmless[i]!))),
    harmlessUnchanged: rateOf(ha.map((a, i) => a === hb[i])),
  };
}
