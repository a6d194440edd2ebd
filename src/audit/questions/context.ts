/** The findings a question's answer reads: those of the subject the questions are answered for, and the controls. */
import type { AuditResults } from '../results.js';

export interface Context {
  r: AuditResults;
  f: AuditResults['findings'];
  /** the subject the questions are answered for */
  P: string;
  refusal: AuditResults['findings']['refusal'][number] | undefined;
  withheld: AuditResults['findings']['withheld'][number] | undefined;
  lyingP: AuditResults['findings']['lying'][number] | undefined;
  detection: AuditResults['findings']['detection'][number] | undefined;
  depth: AuditResults['findings']['depth'][number] | undefined;
  diff: AuditResults['findings']['diff'][number] | undefined;
  risk: AuditResults['findings']['risks'][number] | undefined;
  /** the control that never learned the forbidden facts */
  ignorant: AuditResults['findings']['withheld'][number] | undefined;
  ignorantRefusal: AuditResults['findings']['refusal'][number] | undefined;
}

export function contextOf(r: AuditResults): Context {
  const f = r.findings;
  const P = r.primary;
  return {
    r, f, P,
    // the primary run of each experiment (the refusal experiment with the model before fine-tuning, where both ran)
    refusal: f.refusal.find((x) => x.subject === P),
    withheld: f.withheld.find((x) => x.subject === P),
    lyingP: f.lying.find((x) => x.subject === P),
    detection: f.detection.find((x) => x.subject === P),
    depth: f.depth.find((x) => x.subject === P),
    diff: f.diff.find((x) => x.subject === P),
    risk: f.risks.find((x) => x.subject === P),
    ignorant: f.withheld.find((x) => x.subject === 'ignorant'),
    ignorantRefusal: f.refusal.find((x) => x.subject === 'ignorant'),
  };
}
