/** Question 6 (heads and blocks): the answer from the findings, its figures, method and caveats. */
import { ABLATION_LEAVES_AT_MOST, ADDITION_INDUCES_AT_LEAST } from '../experiments/refusal.js';
import { against } from '../../methods/statistics.js';
import { pct, num, pctE } from './format.js';
import type { Context } from './context.js';
import type { QuestionAnswer } from '../results.js';

export const QUESTION = 'Do specific heads or blocks carry refusal or deception?';

export function answerQuestion(c: Context): QuestionAnswer {
  const { f, P, refusal, lyingP } = c;
  const evidence: QuestionAnswer['evidence'] = [];
  const heads = [...(refusal?.heads ?? [])].sort((a, b) => b.score - a.score);
  const mlps = [...(refusal?.mlps ?? [])].sort((a, b) => b.score - a.score);
  if (heads.length > 0) evidence.push({ label: 'heads writing the refusal direction (harmful − harmless projection)', value: heads.slice(0, 5).map((h) => `${h.layer}.${h.head}: ${num(h.score, 2)}`).join(', ') });
  if (mlps.length > 0) evidence.push({ label: 'MLPs writing it', value: mlps.slice(0, 4).map((m) => `${m.layer}: ${num(m.score, 2)}`).join(', ') });
  const lyingHeads = lyingP === undefined || lyingP.reason !== null ? [] : lyingP.topUnits.filter((u) => u.kind === 'head').slice(0, 5);
  if (lyingHeads.length > 0) evidence.push({ label: 'heads whose patching turns a liar run honest (attribution)', value: lyingHeads.map((u) => `${u.layer}.${u.index}: ${num(u.attribution, 2)}`).join(', ') });
  const topWriter = refusal?.topWriter ?? null;
  const deception = lyingHeads.length > 0 ? ` For deception, head ${lyingHeads[0]!.layer}.${lyingHeads[0]!.index} has the largest honest-restoring effect among heads.` : '';
  let answer = `No refusal direction${refusal?.reason != null ? `: ${refusal.reason}` : ''}, so no heads are attributed to refusal.${deception}`;
  if (refusal?.selected != null && refusal.effects !== null) {
    const sel = refusal.selected;
    const e = refusal.effects.heldOut;
    // on the held-out split: necessary when ablation leaves at most ABLATION_LEAVES_AT_MOST of the refusals,
    // sufficient when addition makes at least ADDITION_INDUCES_AT_LEAST of harmless requests refused; a verdict
    // stands only when the whole 95% interval is on one side of the bound
    const necessary = against(e.ablated, ABLATION_LEAVES_AT_MOST * e.before.value);
    const sufficient = against(e.induced, ADDITION_INDUCES_AT_LEAST);
    const nec = necessary === 'below' ? 'necessary for refusal' : necessary === 'above' ? 'not necessary (ablating it leaves much of the refusal in place, so refusal has other routes too)' : `not established as necessary (the interval of the refusal rate left by ablation crosses ${pct(ABLATION_LEAVES_AT_MOST)} of the rate before)`;
    const suf = sufficient === 'above' ? 'sufficient on its own' : sufficient === 'below' ? 'not sufficient on its own' : `not established as sufficient (the interval of refusals induced crosses ${pct(ADDITION_INDUCES_AT_LEAST)})`;
    answer = `${necessary === 'below' ? 'Refusal runs through one direction' : 'The best candidate refusal direction lies'} at resid_pre of layer ${sel.layer} (${sel.method}). On held-out requests that played no part in finding or choosing it, ablating it takes refusals of harmful requests from ${pctE(e.before)} to ${pctE(e.ablated)}${e.restored.n > 0 ? ` and gives back ${pctE(e.restored)} of the refused questions' answers` : ''}, while adding it to harmless requests makes ${pctE(e.induced)} of them refused: the direction is ${nec}, and ${suf}. Its largest writer before that layer is ${topWriter === null ? 'n/a' : `${topWriter.name} (the largest again in ${pct(topWriter.frequency)} of resamples of the requests)`}.${deception}`;
    // the same procedure without the model before fine-tuning, as a user without it would run it
    const alone = refusal.withBase ? f.refusal.find((x) => x.subject === P && !x.withBase) : undefined;
    if (alone !== undefined) {
      const ae = alone.effects?.heldOut;
      answer += alone.selected === null || ae === undefined
        ? ` Without the model before fine-tuning no direction passes the selection rules${alone.reason !== null ? ` (${alone.reason})` : ''}.`
        : ` Without the model before fine-tuning, the same procedure picks the ${alone.selected.method} at layer ${alone.selected.layer}${alone.selected.reference !== null ? ` (by agreement with the ${alone.selected.reference})` : ''}: ablating it gives back ${pctE(ae.restored)} of the held-out refused questions' answers${alone.effects?.plain != null ? `, where the plain harmful − harmless direction (layer ${alone.effects.plain.layer}), which also carries what the requests are about, gives back ${pctE(alone.effects.plain.restored)}` : ''}.`;
      evidence.push({ label: 'without the model before fine-tuning: method, layer; refused questions answered after ablation (held out)', value: alone.selected === null || ae === undefined ? 'none selected' : `${alone.selected.method}, ${alone.selected.layer}; ${pctE(ae.restored)}` });
    }
    if (refusal.effects.plain !== null) evidence.push({ label: `the plain harmful − harmless direction (layer ${refusal.effects.plain.layer}), held out: refused after ablation; answers restored; induced`, value: `${pctE(refusal.effects.plain.ablated)}; ${pctE(refusal.effects.plain.restored)}; ${pctE(refusal.effects.plain.induced)}` });
    const c = refusal.effects.chosenOn;
    evidence.push({ label: 'requests per split, harmful / harmless (train: means; val: choice; test: effects)', value: `${refusal.split.harmful.train}/${refusal.split.harmless.train}, ${refusal.split.harmful.val}/${refusal.split.harmless.val}, ${refusal.split.harmful.test}/${refusal.split.harmless.test}` });
    evidence.push({ label: 'on the val split that chose it: refused after ablation; answers restored; induced', value: `${pctE(c.ablated)}; ${pctE(c.restored)}; ${pctE(c.induced)}` });
  }
  return {
    id: 6, question: QUESTION, answer, evidence, charts: ['refusal-writers', 'lying-heads'],
    method: 'The refusal direction is the difference in mean residuals between harmful and harmless requests, chosen among layers and positions before the last 20% by how well ablating it removes refusal and how little it changes harmless outputs (KL); whether adding it induces refusal is measured, not required. Each head\'s and MLP\'s output is projected on it.',
    caveats: ['Writing along the direction is correlational; the ablation and addition results are the causal evidence for the direction itself, not for each writer.'],
  };
}
