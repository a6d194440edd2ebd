/** Question 2 (depth): the answer from the findings, its figures, method and caveats. */
import { CRITICAL_LAYER_STABLE } from '../experiments/depth.js';
import { pct, num, pctE } from './format.js';
import type { Context } from './context.js';
import type { QuestionAnswer } from '../results.js';

export const QUESTION = 'Is there "avoidance" — is an answer formed early and then overwritten, or never formed?';

export function answerQuestion(c: Context): QuestionAnswer {
  const { depth } = c;
  const d = depth;
  const evidence: QuestionAnswer['evidence'] = [];
  let answer = 'Not measured.';
  if (d !== undefined) {
    const liar = d.trajectories.find((t) => t.mode === 'liar');
    const refused = d.trajectories.find((t) => t.mode === 'refused');
    const parts: string[] = [];
    // a layer is named only when resampling the pairs gives it again at least CRITICAL_LAYER_STABLE of the time
    const stable = d.criticalLayerFrequency >= CRITICAL_LAYER_STABLE;
    const parting = d.criticalLayer === null
      ? `honest and liar runs never clearly part in the logit lens (over ${d.pairs} questions the model answers right)`
      : stable ? `honest and liar runs part at layer ${d.criticalLayer} (the same layer in ${pct(d.criticalLayerFrequency)} of resamples of the ${d.pairs} pairs)`
        : `where honest and liar runs part is not established: layer ${d.criticalLayer} on all ${d.pairs} pairs, but only in ${pct(d.criticalLayerFrequency)} of resamples`;
    if (liar !== undefined) parts.push(`${parting}; in liar mode the true answer is formed and then overwritten in ${pctE(liar.formedThenOverwritten)} of prompts and never formed in ${pctE(liar.neverFormed)}`);
    if (refused !== undefined) parts.push(`in refused requests the true answer is the top token at some layer and then replaced by the refusal in ${pctE(refused.formedThenOverwritten)} of prompts (never formed: ${pctE(refused.neverFormed)})`);
    answer = parts.length === 0 ? 'Not measured.' : `${parts.join('; ').replace(/^./, (c) => c.toUpperCase())}.`;
    for (const t of d.trajectories) evidence.push({ label: `${t.mode}: log P(true answer) by layer`, value: t.truthLogprob.map((x) => num(x, 2)).join(', ') });
    if (d.gap.length > 0) evidence.push({ label: 'honest − liar (truth − lie) gap by layer, 95% interval', value: d.gap.map((x) => `${num(x.value, 2)} (${num(x.lo, 2)}–${num(x.hi, 2)})`).join(', ') });
  }
  return {
    id: 2, question: QUESTION, answer, evidence, charts: ['depth-lens'],
    method: 'Logit lens: the residual stream at the last prompt position after every block is read through the final norm and unembedding; the log-probability and rank of the true answer (and the lie) are averaged per mode.',
    caveats: ['The logit lens reads early layers in the output basis, which they were not trained to use; early-layer readings understate what is there.', '"Formed" means top-1 in the lens at some layer, a strict criterion.'],
  };
}
