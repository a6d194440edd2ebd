/** Question 7 (fine-tuning): the answer from the findings, its figures, method and caveats. */
import { FORMED_BEFORE_MIN, KEEPS_KNOWLEDGE } from '../experiments/diff.js';
import { against } from '../../methods/statistics.js';
import { pct, num, pctE } from './format.js';
import type { Context } from './context.js';
import type { QuestionAnswer } from '../results.js';

export const QUESTION = 'How does fine-tuning shape these behaviours — does it erase knowledge or gate it?';

export function answerQuestion(c: Context): QuestionAnswer {
  const { diff } = c;
  const d = diff;
  const evidence: QuestionAnswer['evidence'] = [];
  let answer = 'Not measured: give --base with the model before fine-tuning.';
  if (d !== undefined) {
    const k = d.knowledge;
    const facts = `on the ${k.n} refused questions the true answer is formed inside in ${pctE(k.formedTuned)} of cases (before fine-tuning: ${pctE(k.formedBase)}), and given at the output in ${pctE(k.answeredTuned)} (before: ${pctE(k.answeredBase)})`;
    // gated: the fine-tuned model still forms at least KEEPS_KNOWLEDGE of what the model before it formed; the
    // verdict stands only when the interval clears that bound
    const kept = against(k.formedTuned, KEEPS_KNOWLEDGE * k.formedBase.value);
    answer = k.n === 0
      ? 'Not established: the fine-tuned model refused no question whose answer candor knows, so there is no withheld knowledge to compare.'
      : !(k.formedBase.value >= FORMED_BEFORE_MIN)
        ? `Not established: ${facts}; the model before fine-tuning rarely formed these answers either, so there was little knowledge to erase or gate.`
        : kept === 'above' ? `It gates knowledge rather than erasing it: ${facts}.`
          : kept === 'below' ? `It erases part of the knowledge: ${facts}.`
            : `Not established whether it gates or erases knowledge: ${facts}; the interval crosses ${pct(KEEPS_KNOWLEDGE)} of the share formed before.`;
    evidence.push({ label: 'largest weight changes (‖ΔW‖/‖W‖)', value: d.parameters.slice(0, 5).map((p) => `${p.name}: ${num(p.relative, 3)}`).join(', ') });
    evidence.push({ label: 'activation change by layer, harmful requests', value: d.activations.harmful.map((x) => num(x, 3)).join(', ') });
    evidence.push({ label: 'activation change by layer, harmless requests', value: d.activations.harmless.map((x) => num(x, 3)).join(', ') });
  }
  return {
    id: 7, question: QUESTION, answer, evidence, charts: ['diff-layers'],
    method: 'Weights are compared tensor by tensor; activations at the last position after each block are compared on the same prompts; knowledge is read with the logit lens on the refused questions in both models.',
    caveats: ['A small weight change can matter more than a large one; the activation and knowledge comparisons are the behavioural evidence.'],
  };
}
