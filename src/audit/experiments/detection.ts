/**
 * Lie detection (questions 3 and 4): can internal states tell true from
 * false, and predict a false answer before it is produced? Linear probes on
 * the last-position residual after every block, scored out-of-fold:
 *   statements  true/false statements, labelled by the statement's truth
 *   answers     a question followed by the answer the model gives (the truth
 *               in honest mode, the lie in liar mode), labelled by whether it is true
 *   intent      the question alone, labelled by whether the coming answer will be false
 * and transfer between statements and answers at each probe's best layer
 * (a truth direction that generalises, or a format-specific one).
 */
import { auroc, fitLogistic } from '../../methods/probes.js';
import type { AuditSubject } from '../subject.js';
import { cvScores, dot, errorRates, lastResiduals, spread } from '../measure.js';

export interface ProbeCurve {
  dataset: 'statements' | 'answers' | 'intent';
  n: number;
  /** out-of-fold AUROC after each block */
  auroc: number[];
  bestLayer: number;
  /** at the best layer, threshold 0, out-of-fold */
  accuracy: number;
  falsePositiveRate: number;
  falseNegativeRate: number;
}

export interface DetectionFinding {
  subject: string;
  curves: ProbeCurve[];
  /** AUROC of a probe trained on one dataset (row) tested on another (column), at the row's best layer */
  transfer: { names: string[]; auroc: number[][] } | null;
  /** organisms: how often the model's own verdict on the statements is right (a model at chance here may still represent truth inside) */
  verdictAccuracy: number | null;
}

export function detectionExperiment(s: AuditSubject): DetectionFinding {
  const model = s.model;
  const L = model.cfg.nLayers;
  const datasets: { name: ProbeCurve['dataset']; prompts: number[][]; y: number[] }[] = [];
  const st = s.sets.statements;
  if (st.length >= 10) datasets.push({ name: 'statements', prompts: st.map((i) => i.ids), y: st.map((i) => (i.label ? 1 : 0)) });
  const honest = spread(s.sets.honest, 200);
  const liar = spread(s.sets.liar, 200);
  if (liar.length >= 10) {
    datasets.push({
      name: 'answers',
      prompts: [...honest.map((i) => [...i.ids, i.truthId]), ...liar.map((i) => [...i.ids, i.lieId!])],
      y: [...honest.map(() => 1), ...liar.map(() => 0)],
    });
    datasets.push({ name: 'intent', prompts: [...honest.map((i) => i.ids), ...liar.map((i) => i.ids)], y: [...honest.map(() => 0), ...liar.map(() => 1)] });
  }
  const features = datasets.map((d) => lastResiduals(model, d.prompts));
  const curves: ProbeCurve[] = datasets.map((d, k) => {
    const aucs: number[] = [];
    const oof: number[][] = [];
    for (let l = 0; l < L; l++) {
      const sc = cvScores(features[k]![l]!, d.y);
      oof.push(sc);
      aucs.push(auroc(sc, d.y));
    }
    const bestLayer = aucs.indexOf(Math.max(...aucs));
    return { dataset: d.name, n: d.y.length, auroc: aucs, bestLayer, ...errorRates(oof[bestLayer]!, d.y) };
  });
  let transfer: DetectionFinding['transfer'] = null;
  const tIdx = datasets.map((d, i) => i).filter((i) => datasets[i]!.name !== 'intent');
  if (tIdx.length === 2) {
    const aurocs = tIdx.map((i) => {
      const l = curves[i]!.bestLayer;
      const fit = fitLogistic(features[i]![l]!, datasets[i]!.y, { l2: 1e-2 });
      return tIdx.map((j) => (i === j ? curves[i]!.auroc[l]! : auroc(features[j]![l]!.map((x) => dot(fit.weights, x) + fit.bias), datasets[j]!.y)));
    });
    transfer = { names: tIdx.map((i) => datasets[i]!.name), auroc: aurocs };
  }
  const verdictAccuracy = s.manifest?.figures.tf ?? null;
  return { subject: s.name, curves, transfer, verdictAccuracy };
}
