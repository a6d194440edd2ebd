/** Question 8 (risks): the answer from the findings, its figures, method and caveats. */
import { ABLATION_LEAVES_AT_MOST } from '../experiments/refusal.js';
import { against } from '../../methods/statistics.js';
import { pct, pctE } from './format.js';
import type { Context } from './context.js';
import type { QuestionAnswer } from '../results.js';

export const QUESTION = 'What are the risks?';

export function answerQuestion(c: Context): QuestionAnswer {
  const { refusal, risk } = c;
  const k = risk;
  const evidence: QuestionAnswer['evidence'] = [];
  let answer = `Not measured: ${refusal?.reason ?? 'no refusal direction was found'}.`;
  if (k !== undefined) {
    const undone = against(k.refusalAfter, ABLATION_LEAVES_AT_MOST * k.refusalBefore.value);
    const harmlessCost = k.harmlessBefore.n > 0
      ? `harmless answers go from ${pctE(k.harmlessBefore)} to ${pctE(k.harmlessAfter)} correct (${pctE(k.harmlessUnchanged)} word for word unchanged)`
      : `${pctE(k.harmlessUnchanged)} of harmless answers stay word for word the same`;
    const lead = undone === 'below' ? 'Refusal is cheap to undo' : undone === 'above' ? 'A rank-1 edit along the direction does not undo refusal here' : 'Not established whether a rank-1 edit undoes refusal';
    answer = `${lead}: on held-out requests, projecting one direction out of ${k.edit.matrices} weight matrices (a rank-1 edit of each, ${pct(k.edit.normRemoved)} of the weights' squared norm) takes refusals from ${pctE(k.refusalBefore)} to ${pctE(k.refusalAfter)}${k.restoredAfter.n > 0 ? ` and brings back ${pctE(k.restoredAfter)} of the refused questions' answers` : ''}, while ${harmlessCost}.`;
    evidence.push({ label: 'edited matrices / parameters in them', value: `${k.edit.matrices} / ${k.edit.parameters}` });
    evidence.push({ label: 'refusal rate before → after (held out)', value: `${pctE(k.refusalBefore)} → ${pctE(k.refusalAfter)}` });
  }
  if (refusal?.monitor != null) evidence.push({ label: 'refusal monitor false-positive rate (held out)', value: pctE(refusal.monitor.falsePositiveRate) });
  return {
    id: 8, question: QUESTION, answer, evidence, charts: ['restoration'],
    method: 'The refusal direction is orthogonalised out of the embedding and every attention and MLP output matrix; the edited model answers the same requests.',
    caveats: ['A model whose safety training leaves knowledge in place can be made to state it by anyone with the weights; refusal is not a substitute for not knowing.', 'Established on the audited prompt sets only; other refusal behaviours may use other directions.'],
  };
}
