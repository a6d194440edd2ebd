/** Question 1 (localisation of false output): the answer from the findings, its figures, method and caveats. */
import { RESTORES_MOST, SINGLE_UNIT_MOST, unitName } from '../experiments/lying.js';
import { against } from '../../methods/statistics.js';
import { pct, num, pctE } from './format.js';
import type { Context } from './context.js';
import type { QuestionAnswer } from '../results.js';

export const QUESTION = 'Is false output localised?';

export function answerQuestion(c: Context): QuestionAnswer {
  const { r, lyingP } = c;
  const l = lyingP;
  const evidence: QuestionAnswer['evidence'] = [];
  let answer = 'Not measured: the model showed no honest/liar pairs to compare.';
  if (l !== undefined && l.reason !== null) answer = `Not measured: ${l.reason}.`;
  if (l !== undefined && l.reason === null && l.bestUnit !== null) {
    const top = l.bestUnit;
    const single = against(top.effects.restore, SINGLE_UNIT_MOST);
    const subj = r.subjects.find((x) => x.name === l.subject);
    const totalHeads = subj === undefined ? NaN : subj.layers * subj.heads;
    const where = `on ${l.pairs.measure} held-out pairs (the units were ranked on ${l.pairs.rank} others)`;
    const topLine = `${unitName(top)} (ranked first in ${pct(top.topFrequency)} of resamples of the ranking pairs) restores ${pctE(top.effects.restore)}`;
    if (single === 'above') answer = `Largely yes: one component, ${topLine} of honest behaviour ${where} when patched from an honest run into a liar run.`;
    else {
      const lead = single === 'unsettled'
        ? `Not established whether one component suffices: the best, ${topLine}, an interval that crosses ${pct(SINGLE_UNIT_MOST)}`
        : `There is no single lying neuron or head: the best, ${topLine}`;
      const m = l.minimalSet;
      if (m === null) answer = `${lead}; no set of up to ${l.curve.at(-1)?.k ?? 0} top-ranked components restores ${pct(RESTORES_MOST)} ${where} — the effect is spread out.`;
      else {
        const c = l.curve.find((x) => x.k === m.k)!;
        const settled = against(m.restoration, RESTORES_MOST) === 'above' ? '' : ` (not established: the interval crosses ${pct(RESTORES_MOST)})`;
        // a random set holding most of the model's heads is not a sharp control: say so rather than call the effect unspecific
        const control = c.restoration.lo > c.randomMean + 2 * c.randomStd ? `, against ${pct(c.randomMean)} for random sets of the same size`
          : c.heads >= totalHeads / 2 ? `; random sets of the same size and make-up restore ${pct(c.randomMean)}, but they hold ${c.heads} of the model's ${totalHeads} heads, so in a model this small the comparison cannot show whether the effect is specific`
            : `; random sets of the same size restore ${pct(c.randomMean)}, so the effect is not specific to them`;
        answer = `Partly. ${lead}; ${m.k} components together restore ${pctE(m.restoration)} of honest behaviour ${where}${settled}${control}.`;
      }
    }
    // how concentrated: the share of the model's heads and neurons the effect runs through (the carriers), and what they do
    if (subj !== undefined && l.carriers.threshold !== null) {
      answer += ` Above the noise, the effect runs through ${l.carriers.heads} of ${subj.layers * subj.heads} heads and ${l.carriers.neurons} of ${subj.layers * subj.d_mlp} neurons (each a carrier again in ${pct(l.carriers.stability)} of resamples, on average).`;
    }
    const ce = l.carriers.effects;
    if (ce !== null) {
      answer += ` Mean-ablating them makes liar runs ${pctE(ce.ablateLiar)} honest and honest runs ${pctE(ce.ablateHonest)} liar; their liar-mode activations alone turn honest runs ${pctE(ce.induce)} of the way to the lie.`;
      evidence.push({ label: 'carriers: honest activations into liar runs (restore) / liar activations into honest runs (induce)', value: `${pctE(ce.restore)} / ${pctE(ce.induce)}` });
      evidence.push({ label: 'carriers mean-ablated: liar runs turned honest / honest runs turned liar', value: `${pctE(ce.ablateLiar)} / ${pctE(ce.ablateHonest)}` });
    }
    evidence.push({ label: 'honest/liar pairs: candidates, usable, ranking, measuring', value: `${l.pairs.candidates}, ${l.pairs.usable}, ${l.pairs.rank}, ${l.pairs.measure}` });
    for (const c of l.curve) evidence.push({ label: `top ${c.k} (${c.heads} head${c.heads === 1 ? '' : 's'}) vs random`, value: `${pctE(c.restoration)} vs ${pct(c.randomMean)} ± ${pct(c.randomStd)}` });
    evidence.push({ label: 'all heads / all neurons patched', value: `${pctE(l.allHeads)} / ${pctE(l.allNeurons)}` });
    evidence.push({
      label: `units whose attribution stands above the noise (estimated false discovery rate ≤ ${l.carriers.q})`,
      value: l.carriers.threshold === null ? 'none' : `${l.carriers.heads} heads, ${l.carriers.neurons} neurons (attribution ≥ ${num(l.carriers.threshold, 4)}, estimated FDR ${num(l.carriers.estimatedFdr ?? NaN, 2)})`,
    });
    const it = l.instruction.topUnits[0];
    evidence.push({ label: 'attribution at the instruction\'s own tokens (how the word is read; not ranked above)', value: `${pct(l.instruction.share)} of the mass${it === undefined ? '' : `; largest: ${unitName(it)}`}` });
  }
  return {
    id: 1, question: QUESTION, answer, evidence, charts: ['lying-curve', 'lying-heads'],
    method: 'The same fact is asked in honest and in liar mode. Attribution patching scores every head and neuron by how much copying its honest-run activation into the liar run moves logit(true answer) − logit(lie); sets of the top-ranked units are then patched together for real (0 = liar run, 1 = honest run) and compared with random sets of the same size and make-up.',
    caveats: ['Restoration measures what carries the mode difference (including where the instruction is read), not only where a false answer is composed.', 'The metric compares two specific tokens; other wrong answers are not counted.', 'Units are ranked by a first-order estimate; the curve itself is measured by real patching.', 'The noise floor of the carriers is estimated from the units with negative attribution, taking attribution to be symmetric about zero where a unit plays no part; units with real negative effects raise the floor, so fewer units are counted, not more.'],
  };
}
