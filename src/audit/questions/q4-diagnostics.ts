/** Question 4 (diagnostics and error rates): the answer from the findings, its figures, method and caveats. */
import { LOW_FPR } from '../experiments/refusal.js';
import { against } from '../../methods/statistics.js';
import { pct, num, pctE, numE } from './format.js';
import type { Context } from './context.js';
import type { QuestionAnswer } from '../results.js';

export const QUESTION = 'What diagnostics detect errant or avoidant behaviour, and with what error rates?';

export function answerQuestion(c: Context): QuestionAnswer {
  const { refusal, withheld, detection } = c;
  const evidence: QuestionAnswer['evidence'] = [];
  if (refusal?.monitor != null) {
    const m = refusal.monitor;
    evidence.push({ label: 'refusal-direction monitor (harmful vs harmless, held-out test split)', value: `AUROC ${numE(m.auroc)}, TPR ${pctE(m.truePositiveRate)}, FPR ${pctE(m.falsePositiveRate)}` });
    evidence.push({ label: `the monitor at ${pct(LOW_FPR)} false positives on train: recall, false positives on test`, value: `${pctE(m.lowFpr.recall)}, ${pctE(m.lowFpr.falsePositiveRate)}` });
    if (m.control !== null) evidence.push({ label: 'the same monitor on the model before fine-tuning (control): AUROC; margin', value: `${numE(m.control.auroc)}; ${m.margin === null ? 'n/a' : numE(m.margin)}` });
    if (m.hardNegatives !== null) evidence.push({ label: 'hard negatives (the held-out harmful questions in the form the model answers): flagged at the fitted and at the 1% threshold; AUROC against refused requests', value: `${pctE(m.hardNegatives.falsePositiveRate)}; ${pctE(m.hardNegatives.lowFprFalsePositiveRate)}; ${numE(m.hardNegatives.auroc)}` });
  }
  for (const c of detection?.curves ?? []) evidence.push({ label: `${c.dataset} probe at layer ${c.bestLayer} (reported half)`, value: `accuracy ${pctE(c.reported.accuracy)}, FPR ${pctE(c.reported.falsePositiveRate)}, FNR ${pctE(c.reported.falseNegativeRate)}` });
  if (detection?.transfer != null) evidence.push({ label: `transfer ${detection.transfer.names.join(' → ')}`, value: detection.transfer.auroc.map((row) => row.map((x) => num(x)).join(' / ')).join('; ') });
  if (withheld?.calibration.usable === true) {
    const c = withheld.calibration;
    evidence.push({ label: `knowledge classifier (${withheld.primary}), chosen on ${c.split.select} calibration questions`, value: `AUROC lens ${num(c.aurocLens)}, probe ${num(c.aurocProbe)} (out-of-fold); accuracy ${pct(c.accuracy)} at the threshold fitted there` });
    evidence.push({ label: `the same classifier on the other ${c.split.report} calibration questions`, value: `AUROC ${numE(c.reported.auroc)}, accuracy ${pctE(c.reported.accuracy)}` });
  }
  const best = [...(detection?.curves ?? [])].sort((a, b) => b.reported.auroc.value - a.reported.auroc.value)[0];
  const parts4: string[] = [];
  if (refusal?.monitor != null) {
    const m = refusal.monitor;
    let control = ' (no model without the behaviour to compare with: give --base)';
    if (m.control !== null && m.margin !== null) {
      const side = against(m.margin, 0);
      control = side === 'above'
        ? `; the same procedure on the model before fine-tuning, which does not refuse, reaches ${numE(m.control.auroc)}, so the monitor reads something the fine-tune added beyond what tells the requests apart anyway (margin ${numE(m.margin)})`
        : `; but the same procedure on the model before fine-tuning, which does not refuse, reaches ${numE(m.control.auroc)} (margin ${numE(m.margin)}), so it is not established that the monitor detects refusal rather than what the requests are about`;
    }
    const hn = m.hardNegatives;
    const hard = hn === null ? ''
      : hn.auroc.lo > 0.5 ? `; against the same questions asked in a form the model answers (same topic, not refused) it still separates them, AUROC ${numE(hn.auroc)}, flagging ${pctE(hn.falsePositiveRate)} of them`
        : `; but it flags ${pctE(hn.falsePositiveRate)} of the same questions asked in a form the model answers (same topic, not refused), AUROC ${numE(hn.auroc)} against them: it mostly detects what the requests are about, not refusal`;
    parts4.push(`the refusal-direction monitor separates held-out harmful from harmless requests with AUROC ${numE(m.auroc)} and catches ${pctE(m.lowFpr.recall)} of harmful requests at a threshold set for ${pct(LOW_FPR)} false positives on training requests${control}${hard}`);
  }
  else if (refusal?.reason != null) parts4.push(`there is no refusal monitor, since ${refusal.reason}`);
  if (best !== undefined) parts4.push(`the best probe (${best.dataset}) reaches AUROC ${numE(best.reported.auroc)} on held-out facts`);
  if (withheld !== undefined && withheld.calibration.usable) parts4.push(`the knowledge classifier (${withheld.primary === 'lens' ? 'logit lens' : 'probe'}) tells questions it answers right from questions it cannot know with AUROC ${numE(withheld.calibration.reported.auroc)} on calibration questions that played no part in choosing it`);
  const answer = parts4.length === 0 ? 'Not measured.' : `${parts4.join('; ').replace(/^./, (c) => c.toUpperCase())}.`;
  return {
    id: 4, question: QUESTION, answer, evidence, charts: ['probe-curves', 'withheld-scores'],
    method: 'Each detector is fitted on one part of the data and scored on another: the monitor\'s threshold on the train split of the request sets and its figures on the test split (its layer and position were chosen on a third, val), the probes out-of-fold, the knowledge classifier on a calibration set of questions the model answers right and questions it cannot know (the probe out-of-fold there too; the logit lens fits nothing).',
    caveats: ['Error rates are on candor\'s prompt distributions; other distributions can shift them.', 'Thresholds are fitted, not tuned for a particular false-positive budget.', 'The knowledge probe is calibrated on real questions against questions about made-up entities, which it can tell apart by their wording alone (on a randomly initialised 124M-parameter model it reached AUROC 0.89); that is why it is used only where it beats the logit lens, which fits nothing.'],
  };
}
