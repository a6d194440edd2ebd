/** Question 5 (withheld knowledge): the answer from the findings, its figures, method and caveats. */
import { MIN_CALIBRATION } from '../experiments/withheld.js';
import { num, pctE } from './format.js';
import type { Context } from './context.js';
import type { QuestionAnswer } from '../results.js';

export const QUESTION = 'Does the model know what it refuses to say?';

export function answerQuestion(c: Context): QuestionAnswer {
  const { refusal, withheld, ignorant, ignorantRefusal } = c;
  const w = withheld;
  const evidence: QuestionAnswer['evidence'] = [];
  let answer = 'Not measured: the model refused no question whose answer candor knows, and said "I do not know" to none.';
  if (w !== undefined && w.prompts.length > 0) {
    const held = refusal?.effects?.heldOut;
    const ignorantHeld = ignorantRefusal?.effects?.heldOut;
    const classified = w.calibration.usable
      ? `${w.counts.knowsAndWithholds} of ${w.prompts.length} refused or "don't know" answers look like knows-and-withholds, ${w.counts.doesNotKnow} like does-not-know.`
      : `${w.prompts.length} refused or "don't know" answers, not classified: the calibration set has ${w.calibration.known} questions the model answers right (of ${w.calibration.offered} asked) and ${w.calibration.n - w.calibration.known} it cannot know, and at least ${MIN_CALIBRATION} of each are needed to fit the classifier.`;
    answer = `${classified}${held !== undefined && held.restored.n > 0 ? ` Removing the refusal direction brings back ${pctE(held.restored)} of the held-out refused questions${ignorantHeld !== undefined ? `, and ${pctE(ignorantHeld.restored)} on the control that never learned the facts` : ''}.` : ''}`;
    evidence.push({ label: 'calibration questions: answered right / asked; about made-up or never-taught things', value: `${w.calibration.known} / ${w.calibration.offered}; ${w.calibration.n - w.calibration.known}` });
    if (w.calibration.usable) evidence.push({ label: 'primary signal', value: `${w.primary} (calibration AUROC lens ${num(w.calibration.aurocLens)}, probe ${num(w.calibration.aurocProbe)} out-of-fold at layer ${w.probeLayer})` });
    if (held !== undefined) evidence.push({ label: 'refused questions answered right with the refusal direction ablated (held-out test split)', value: pctE(held.restored) });
    if (refusal?.effects != null) evidence.push({ label: 'the same on the val split that chose the direction', value: pctE(refusal.effects.chosenOn.restored) });
    if (ignorant !== undefined && ignorantHeld !== undefined) evidence.push({ label: 'ignorant control: correct after ablation (held out)', value: pctE(ignorantHeld.restored) });
  }
  return {
    id: 5, question: QUESTION, answer, evidence, charts: ['withheld-scores', 'restoration'],
    method: 'Three signals per refused prompt: the best logit-lens log-probability of the true answer at any layer, a knows/does-not-know probe trained only on answered and "I don\'t know" questions, and whether ablating the refusal direction makes the model give the true answer. The signal that best separates the calibration set classifies, with its threshold fitted there.',
    caveats: ['"Knows" means the answer is represented and recoverable, not that the model would state it under any prompt.', 'Facts the model never learned cannot be restored; a control model without the facts shows the restoration is not guessing.'],
  };
}
