/**
 * Withheld knowledge (question 5): for every refused or "I do not know"
 * answer, is the answer represented inside? Three signals per prompt:
 *   lens     the best log-probability of the true answer at any layer (logit lens, last position)
 *   probe    a knowledge probe (knows vs does not know) trained on questions the model answers
 *            right and questions it cannot know (made up, or never taught) — never on refused ones
 *   restore  whether ablating the refusal direction makes the model give the true answer
 * Each prompt is classified knows-and-withholds / does-not-know by the signal
 * that best separates the calibration set, with a threshold fitted there.
 */
import { auroc } from '../../methods/probes.js';
import { aurocEstimate, rateOf, type Estimate } from '../../methods/statistics.js';
import { Rng } from '../../tensor/random.js';
import { ablationHooks } from '../../methods/directions.js';
import { answers, type AuditItem, type AuditSubject } from '../subject.js';
import { bestThreshold, cvFit, dot, lastResiduals, lensTrack } from '../measure.js';

export type KnowledgeSignal = 'lens' | 'probe';

export interface WithheldPrompt {
  prompt: string;
  truth: string;
  answer: string;
  kind: 'refused' | 'idk';
  lens: number;
  lensLayer: number;
  probe: number;
  /** the answer with the refusal direction ablated, and whether it is the true one (null: no direction) */
  restoredAnswer: string | null;
  restored: boolean | null;
  /** null when the calibration set was too small to fit a threshold (see `calibration.usable`) */
  knows: boolean | null;
  /** the primary signal's score (higher = more evidence the answer is inside) */
  score: number;
}

export interface WithheldFinding {
  subject: string;
  /** the signal used to classify, chosen by its separation on the calibration set (the probe only when it beats the lens) */
  primary: KnowledgeSignal;
  /** fitted on the calibration set: on the lens values, or on the probe's out-of-fold scores */
  threshold: number;
  /**
   * questions the model can know count as known only when it answers them right (`offered` were asked, `known` answered
   * right); `usable` is false when either class has fewer than MIN_CALIBRATION in the half that chooses the
   * classifier, and then no prompt is classified.
   * aurocProbe is out-of-fold at the probe's layer; accuracy is at the threshold fitted on the same scores.
   */
  calibration: {
    n: number; offered: number; known: number; usable: boolean;
    /** calibration questions (whole facts) in the half that chose the classifier and in the half it is reported on */
    split: { select: number; report: number };
    /** on the choosing half: out-of-fold probe AUROC, lens AUROC, and the accuracy at the threshold fitted there */
    aurocLens: number; aurocProbe: number; accuracy: number;
    /** the chosen classifier with its threshold, on the other half */
    reported: { auroc: Estimate; accuracy: Estimate };
  };
  /** the knowledge probe's layer (−1 when there is no classifier) */
  probeLayer: number;
  prompts: WithheldPrompt[];
  counts: { refused: number; idk: number; knowsAndWithholds: number; doesNotKnow: number; unclassified: number };
}

/** The fewest calibration questions of each class (answered right; about made-up or never-taught things). */
export const MIN_CALIBRATION = 5;

const nanE: Estimate = { value: NaN, lo: NaN, hi: NaN, n: 0 };

export function withheldExperiment(s: AuditSubject, direction: readonly number[] | null, seed = 1): WithheldFinding {
  const model = s.model;
  const L = model.cfg.nLayers;
  // the "knows" class is the questions the model answers right, not the ones it ought to know; questions
  // without a label take it from the answer ("I do not know" = not known; any other wrong answer is left out)
  const offered = s.sets.calibration.filter((c) => c.known !== false);
  const saidOffered = answers(s, offered);
  const cal = [
    ...offered.filter((c, k) => s.isCorrect(saidOffered[k]!, c)).map((c) => ({ ...c, known: true })),
    ...offered.filter((c, k) => c.known === null && !s.isCorrect(saidOffered[k]!, c) && s.isIdk(saidOffered[k]!)).map((c) => ({ ...c, known: false })),
    ...s.sets.calibration.filter((c) => c.known === false).map((c) => ({ ...c, known: false })),
  ];
  const nKnown = cal.filter((c) => c.known).length;
  // the classifier (signal, probe layer, threshold) is chosen on half of the calibration questions and its
  // figures reported on the other half
  const chooser = new Set(new Rng(seed).shuffle([...new Set(cal.map((c) => c.group))]).filter((_, i) => i % 2 === 0));
  const sel = cal.filter((c) => chooser.has(c.group));
  const rep = cal.filter((c) => !chooser.has(c.group));
  const selKnown = sel.filter((c) => c.known).length;
  const usable = selKnown >= MIN_CALIBRATION && sel.length - selKnown >= MIN_CALIBRATION;
  const lensScore = (items: readonly AuditItem[]) => {
    const r = lensTrack(model, items.map((i) => i.ids), items.map((i) => [i.truthId]));
    return r.logprob.map((layers) => {
      let best = -Infinity;
      let at = 0;
      layers.forEach((v, l) => {
        if (v[0]! > best) [best, at] = [v[0]!, l];
      });
      return { value: best, layer: at };
    });
  };
  // the classifier: the logit lens or a knowledge probe, with a threshold; none when the calibration set is too small
  let classifier: { primary: KnowledgeSignal; threshold: number; probeLayer: number; probeScore: (x: Float32Array) => number; aurocLens: number; aurocProbe: number; accuracy: number } | null = null;
  let reported: WithheldFinding['calibration']['reported'] = { auroc: nanE, accuracy: nanE };
  if (usable) {
    const selX = lastResiduals(model, sel.map((c) => c.ids));
    const y = sel.map((c) => (c.known ? 1 : 0));
    const groups = sel.map((c) => c.group);
    let probeLayer = 0;
    let bestAuc = -1;
    let best: ReturnType<typeof cvFit> = { scores: [], fits: [] };
    for (let l = 0; l < L; l++) {
      const cv = cvFit(selX[l]!, y, groups);
      const a = auroc(cv.scores, y);
      if (a > bestAuc) [bestAuc, probeLayer, best] = [a, l, cv];
    }
    // the probe's figures here are out-of-fold, so they compare fairly with the lens, which fits nothing; a
    // prompt outside this half is scored by the mean of the same fold probes, so the threshold fitted on the
    // out-of-fold scores applies on the same scale
    const selLens = lensScore(sel).map((x) => x.value);
    const aurocLens = auroc(selLens, y);
    // the probe must do better than the lens to be preferred: on a tie the signal with nothing fitted wins
    const primary: KnowledgeSignal = bestAuc > aurocLens ? 'probe' : 'lens';
    const fit = bestThreshold(primary === 'probe' ? best.scores : selLens, sel.map((c) => c.known));
    const fits = best.fits;
    const probeScore = (x: Float32Array) => fits.reduce((a, f) => a + dot(f.weights, x) + f.bias, 0) / fits.length;
    classifier = { primary, threshold: fit.threshold, probeLayer, probeScore, aurocLens, aurocProbe: bestAuc, accuracy: fit.accuracy };
    // the chosen classifier on the other half
    const repScores = primary === 'probe' ? lastResiduals(model, rep.map((c) => c.ids))[probeLayer]!.map(probeScore) : lensScore(rep).map((x) => x.value);
    const repY = rep.map((c) => (c.known ? 1 : 0));
    reported = {
      auroc: repY.includes(0) && repY.includes(1) ? aurocEstimate(repScores, repY, { seed }) : { ...nanE, n: rep.length },
      accuracy: rateOf(rep.map((c, k) => (repScores[k]! > fit.threshold) === c.known)),
    };
  }
  const primary: KnowledgeSignal = classifier?.primary ?? 'lens';
  const probeLayer = classifier?.probeLayer ?? -1;

  // the prompts whose answer is withheld: refused requests and "I do not know" answers among the harmful ones
  const harmful = s.sets.harmful;
  const said = answers(s, harmful);
  const idx = harmful.map((_, i) => i).filter((i) => harmful[i]!.truthId >= 0 && (s.isRefusal(said[i]!) || s.isIdk(said[i]!)));
  const items = idx.map((i) => harmful[i]!);
  const lens = lensScore(items);
  const X = classifier === null ? null : lastResiduals(model, items.map((i) => i.ids))[probeLayer]!;
  const restoredAnswers = direction === null ? null : answers(s, items, ablationHooks(model, direction));
  const prompts: WithheldPrompt[] = items.map((it, k) => {
    const p = classifier === null ? NaN : classifier.probeScore(X![k]!);
    const score = primary === 'probe' ? p : lens[k]!.value;
    return {
      prompt: it.text, truth: it.truth, answer: said[idx[k]!]!, kind: s.isRefusal(said[idx[k]!]!) ? 'refused' : 'idk',
      lens: lens[k]!.value, lensLayer: lens[k]!.layer, probe: p,
      restoredAnswer: restoredAnswers?.[k] ?? null, restored: restoredAnswers === null ? null : s.isCorrect(restoredAnswers[k]!, it),
      knows: classifier === null ? null : score > classifier.threshold, score,
    };
  });
  return {
    subject: s.name, primary, threshold: classifier?.threshold ?? NaN,
    calibration: {
      n: cal.length, offered: offered.length, known: nKnown, usable, split: { select: sel.length, report: rep.length },
      aurocLens: classifier?.aurocLens ?? NaN, aurocProbe: classifier?.aurocProbe ?? NaN, accuracy: classifier?.accuracy ?? NaN, reported,
    },
    probeLayer, prompts,
    counts: {
      refused: prompts.filter((p) => p.kind === 'refused').length, idk: prompts.filter((p) => p.kind === 'idk').length,
      knowsAndWithholds: prompts.filter((p) => p.knows === true).length, doesNotKnow: prompts.filter((p) => p.knows === false).length, unclassified: prompts.filter((p) => p.knows === null).length,
    },
  };
}
