/** Question 3 (prediction of wrong answers): the answer from the findings, its figures, method and caveats. */
import { INTENT_MIN_CLASS } from '../experiments/detection.js';
import { pct, num, numE, STRONG, WEAK, bandE, readableE } from './format.js';
import type { Context } from './context.js';
import type { QuestionAnswer } from '../results.js';

export const QUESTION = 'Which components are prone to shallow or wrong answers — can internal states predict a wrong answer before it is produced?';

export function answerQuestion(c: Context): QuestionAnswer {
  const { detection } = c;
  const d = detection;
  const evidence: QuestionAnswer['evidence'] = [];
  let answer = 'Not measured.';
  if (d !== undefined) {
    const intent = d.curves.find((c) => c.dataset === 'intent');
    const st = d.curves.find((c) => c.dataset === 'statements');
    const an = d.curves.find((c) => c.dataset === 'answers');
    const at = (c: (typeof d.curves)[number]) => `AUROC ${numE(c.reported.auroc)} at layer ${c.bestLayer}, chosen on other facts`;
    const h = d.honestAnswers;
    const lead = intent === undefined
      ? `Not established: the model gave ${h.wrong} wrong and ${h.right} right answers to the honest questions (${h.declined} declined), too few of one kind (at least ${INTENT_MIN_CLASS} of each) to train a probe that predicts a wrong answer.`
      : `${{ strong: 'Yes', weak: 'Weakly', none: 'No', unsettled: 'Not established' }[bandE(intent.reported.auroc)]}: from the question alone, before the answer is produced, a probe tells the ${h.wrong} wrong answers from the ${h.right} right ones with ${at(intent)}.`;
    const parts: string[] = [];
    if (an !== undefined) parts.push(`whether a given answer is true is ${readableE(an.reported.auroc)} (${at(an)}; the true answer and the lie each after the honest and the liar instruction, so the instruction gives nothing away)`);
    if (st !== undefined) parts.push(`whether a statement is true is ${readableE(st.reported.auroc)} (${at(st)})${d.verdictAccuracy !== null ? `, while the model's own true/false verdicts are right ${pct(d.verdictAccuracy.value)} of the time (95% ${pct(d.verdictAccuracy.lo)}–${pct(d.verdictAccuracy.hi)}, n = ${d.verdictAccuracy.n})` : ''}`);
    answer = `${lead}${parts.length > 0 ? ` Inside the model, ${parts.join('; ')}.` : ''}`;
    for (const c of d.curves) evidence.push({ label: `${c.dataset} probe AUROC by layer (n=${c.n}; layer chosen on ${c.split.select} items, reported on ${c.split.report})`, value: c.auroc.map((x) => num(x)).join(', ') });
    if (d.skipped.length > 0) evidence.push({ label: 'probes not trained', value: d.skipped.join('; ') });
    evidence.push({ label: 'honest-mode answers: right / wrong / declined', value: `${h.right} / ${h.wrong} / ${h.declined}` });
  }
  return {
    id: 3, question: QUESTION, answer, evidence, charts: ['probe-curves'],
    method: `Logistic probes on the last-position residual after each block, scored out-of-fold (5-fold; the items about one fact stay in one fold): statements (labelled by their truth), answers (a question followed by the true answer or the lie, after the honest or the liar instruction, labelled by whether the answer is true) and intent (the question alone in honest mode, labelled by whether the model's own answer is wrong). AUROC ≥ ${STRONG} counts as readable, ${WEAK}–${STRONG} as weakly readable, below ${WEAK} as not readable.`,
    caveats: ['A probe shows the information is linearly present, not that the model uses it.', 'Each probe\'s layer is chosen on half of the facts and its figures reported on the other half; the curves show every layer over all items.', 'Out-of-fold AUROC on data with no signal scatters around 0.5, and a little below it as often as above.'],
  };
}
