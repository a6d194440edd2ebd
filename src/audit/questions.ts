/**
 * The answers: each question of QUESTIONS.md answered in plain language from
 * the findings (direct answer first, then the figures, the method, and what
 * the evidence does not establish), one module per question under
 * questions/. Only the findings are read: scoring against an organism's
 * ground truth is the scorer's (scorer.ts).
 */
import type { AuditResults, QuestionAnswer } from './results.js';
import { contextOf, type Context } from './questions/context.js';
import * as q1 from './questions/q1-localisation.js';
import * as q2 from './questions/q2-depth.js';
import * as q3 from './questions/q3-prediction.js';
import * as q4 from './questions/q4-diagnostics.js';
import * as q5 from './questions/q5-withheld.js';
import * as q6 from './questions/q6-heads.js';
import * as q7 from './questions/q7-fine-tuning.js';
import * as q8 from './questions/q8-risks.js';

export type { QuestionAnswer, TruthScore } from './results.js';

const MODULES: { QUESTION: string; answerQuestion: (c: Context) => QuestionAnswer }[] = [q1, q2, q3, q4, q5, q6, q7, q8];

/** The questions, in the order of QUESTIONS.md. */
export const QUESTIONS = MODULES.map((m) => m.QUESTION);

export function answerQuestions(r: AuditResults): QuestionAnswer[] {
  const c = contextOf(r);
  return MODULES.map((m) => m.answerQuestion(c));
}
