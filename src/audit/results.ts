/**
 * The audit's result types (results.json), in a file of their own: the runner
 * writes them, the questions and the report read them, and none of those
 * imports another for its types.
 */
import type { RefusalFinding } from './experiments/refusal.js';
import type { WithheldFinding } from './experiments/withheld.js';
import type { LyingFinding } from './experiments/lying.js';
import type { DetectionFinding } from './experiments/detection.js';
import type { DepthFinding } from './experiments/depth.js';
import type { DiffFinding } from './experiments/diff.js';
import type { RiskFinding } from './experiments/risks.js';

export const RESULTS_SCHEMA = 'candor-audit/4';

export interface QuestionAnswer {
  id: number;
  question: string;
  /** the direct answer, first */
  answer: string;
  evidence: { label: string; value: string }[];
  method: string;
  caveats: string[];
  /** ids of the report's charts for this question */
  charts: string[];
}

export interface TruthScore {
  check: string;
  subject: string;
  value: number;
  /** the value is a count, a layer or a rank, shown without decimals */
  integer?: boolean;
  target: string;
  pass: boolean;
  /** the 95% interval of a rate (Wilson) or an AUROC (bootstrap), and its count, where the figure has one */
  lo?: number;
  hi?: number;
  n?: number;
  /** a check of the organism's training rather than of a method: shown apart from the scores */
  sanity?: boolean;
}

export interface AuditFindings {
  refusal: RefusalFinding[];
  withheld: WithheldFinding[];
  lying: LyingFinding[];
  detection: DetectionFinding[];
  depth: DepthFinding[];
  diff: DiffFinding[];
  risks: RiskFinding[];
}

export interface AuditResults {
  schema: typeof RESULTS_SCHEMA;
  created: string;
  mode: 'organisms' | 'model';
  /** the subject the questions are answered for */
  primary: string;
  subjects: { name: string; kind: 'organism' | 'model'; source: string; layers: number; d_model: number; heads: number; d_mlp: number; parameters: number }[];
  /** the judge model that decided which answers are refusals (--judge); absent: isRefusal's phrase patterns */
  refusalJudge?: string;
  questions: QuestionAnswer[];
  /** organisms: each finding against the ground truth planted in training */
  scores: TruthScore[];
  findings: AuditFindings;
  seconds: Record<string, number>;
}

