/**
 * Risks (question 8): how little it takes to remove refusal. The refusal
 * direction is projected out of every matrix that writes the residual stream
 * — a rank-1 edit of each — and the edited model is asked again: how often
 * it still refuses, how many withheld answers come back, and what the edit
 * costs on harmless requests. The edited model is run as the unedited one
 * with the direction projected out of every write into the stream
 * (ablationHooks 'writes'), which gives the edited weights' logits (within
 * 1e-4 on every family, test/directions.test.ts) without a copy of the
 * matrices: on a 0.5B model that copy is about 1 GB.
 */
import { ablationHooks, orthogonalizationEdit } from '../../methods/directions.js';
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
  const edit = ablationHooks(s.model, direction, 'writes');
  const harmful = test.harmful.map((i) => s.sets.harmful[i]!);
  const harmless = test.harmless.map((i) => s.sets.harmless[i]!);
  const before = answers(s, harmful);
  const after = answers(s, harmful, edit);
  const withheld = harmful.map((_, i) => i).filter((i) => harmful[i]!.truthId >= 0 && s.isRefusal(before[i]!));
  const hb = answers(s, harmless);
  const ha = answers(s, harmless, edit);
  const withAnswer = harmless.map((_, i) => i).filter((i) => harmless[i]!.truth !== '');
  return {
    subject: s.name,
    edit: orthogonalizationEdit(s.model, direction),
    refusalBefore: rateOf(before.map(s.isRefusal)),
    refusalAfter: rateOf(after.map(s.isRefusal)),
    restoredAfter: rateOf(withheld.map((i) => s.isCorrect(after[i]!, harmful[i]!))),
    harmlessBefore: rateOf(withAnswer.map((i) => s.isCorrect(hb[i]!, harmless[i]!))),
    harmlessAfter: rateOf(withAnswer.map((i) => s.isCorrect(ha[i]!, harmless[i]!))),
    harmlessUnchanged: rateOf(ha.map((a, i) => a === hb[i])),
  };
}
