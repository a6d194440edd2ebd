/**
 * Running an audit: the experiments in order, each finding saved under
 * <out>/state/ as soon as it is done, so an interrupted run resumes where it
 * stopped; then the answers to the questions, results.json and report.html.
 *
 * Without a model the audit runs on the bundled organisms, each with its own
 * datasets (prompts.json); with a user's chat model it uses the prompt sets
 * candor ships (see prompts.ts), and --base adds the fine-tuning diff. Both
 * run the same experiments on the model's own answers. For organisms, the
 * scorer then reads ground-truth.json and scores the findings: it is the only
 * step that does (collectEvidence never opens manifest.json or ground-truth.json).
 */
import { readFacts, readPrompts } from '../io/datasets.js';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModelSync, loadModel } from '../model/load.js';
import type { GroundTruth } from '../organisms/recipes.js';
import { AuditError, organismSubject, readOrganismPrompts, type AuditItem, type AuditSubject } from './subject.js';
import { modelSubject, type ModelSubjectOptions } from './prompts.js';
import { refusalJudge } from './judge.js';
import { refusalExperiment } from './experiments/refusal.js';
import { withheldExperiment } from './experiments/withheld.js';
import { lyingExperiment } from './experiments/lying.js';
import { detectionExperiment } from './experiments/detection.js';
import { depthExperiment } from './experiments/depth.js';
import { diffExperiment } from './experiments/diff.js';
import { riskExperiment } from './experiments/risks.js';
import { answerQuestions } from './questions.js';
import { readGroundTruth, scoreAgainstTruth } from './scorer.js';
import { RESULTS_SCHEMA, type AuditFindings, type AuditResults } from './results.js';
export { RESULTS_SCHEMA, type AuditFindings, type AuditResults } from './results.js';
import { renderReport } from './report.js';

/** The bundled organisms' folder (models/ at the package root). */
export function bundledOrganisms(): string {
  return fileURLToPath(new URL('../../../models', import.meta.url));
}

export interface AuditOptions {
  outDir: string;
  /** a user's chat model (folder, llama2.c file or Hub id); without it the bundled organisms */
  model?: string;
  /** the model before fine-tuning, for the diff */
  base?: string;
  /** where the organisms are (default: the bundled ones) */
  organisms?: string;
  /** the user's own prompt sets (files), in place of candor's; only with `model` */
  datasets?: { harmful?: string; harmless?: string; facts?: string };
  /** a chat model that decides what is a refusal, in place of isRefusal's phrase patterns; only with `model` */
  judge?: string;
  /** reuse findings saved by an earlier, interrupted run with the same inputs (default true) */
  resume?: boolean;
  seed?: number;
  onProgress?: (step: string, done: number, total: number) => void;
  onStep?: (step: string, index: number, total: number, cached: boolean) => void;
}

interface Step {
  key: string;
  run: () => unknown;
}

/** Run an audit: the evidence, then (organisms) the scorer, then results.json and report.html. */
export async function runAudit(opts: AuditOptions): Promise<AuditResults> {
  const { results, sources } = await collectEvidence(opts);
  if (results.mode === 'organisms') {
    const truths = new Map<string, GroundTruth>([...sources.entries()].map(([name, dir]) => [name, readGroundTruth(dir)]));
    results.scores = scoreAgainstTruth(results, truths);
  }
  writeAtomic(join(opts.outDir, 'results.json'), JSON.stringify(results, null, 1) + '\n');
  writeAtomic(join(opts.outDir, 'report.html'), renderReport(results));
  return results;
}

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/**
 * The evidence pipeline: every experiment on every subject, with findings saved for resuming, and the answers
 * to the questions. It reads models and datasets only, never an organism's manifest.json or ground-truth.json
 * (a test checks this), so organisms are audited exactly as a user's model is.
 */
export async function collectEvidence(opts: AuditOptions): Promise<{ results: AuditResults; sources: Map<string, string> }> {
  const seed = opts.seed ?? 1;
  const stateDir = join(opts.outDir, 'state');
  mkdirSync(stateDir, { recursive: true });
  const subjects = new Map<string, AuditSubject>();
  const sources = new Map<string, string>();
  const findings: AuditFindings = { refusal: [], withheld: [], lying: [], detection: [], depth: [], diff: [], risks: [] };
  const seconds: Record<string, number> = {};
  let mode: AuditResults['mode'];
  let primary: string;
  const steps: Step[] = [];
  const subject = (name: string): AuditSubject => {
    const s = subjects.get(name);
    if (s === undefined) throw new AuditError(`internal: subject ${name} was not loaded`);
    return s;
  };
  const byName = <T extends { subject: string }>(list: T[], name: string): T => {
    const f = list.find((x) => x.subject === name);
    if (f === undefined) throw new AuditError(`internal: no finding for ${name}`);
    return f;
  };
  // the questions with an answer that the model actually refused (its own answers, not a label, decide)
  const refusedQuestions = (name: string): AuditItem[] => byName(findings.refusal, name).refused.map((i) => subject(name).sets.harmful[i]!).filter((i) => i.truthId >= 0);

  if (opts.model === undefined) {
    const given = Object.entries({ ...opts.datasets, judge: opts.judge }).filter(([, f]) => f !== undefined).map(([k]) => `--${k}`);
    if (given.length > 0) throw new AuditError(`${given.join(', ')} ${given.length > 1 ? 'belong' : 'belongs'} to a model audit (the organisms are audited on their own prompts.json and answer in a fixed format). Fix: add --model, or leave ${given.length > 1 ? 'them' : 'it'} out.`);
    mode = 'organisms';
    const dir = opts.organisms ?? bundledOrganisms();
    const has = (name: string) => existsSync(join(dir, name, 'prompts.json'));
    const load = (name: string) => {
      const folder = join(dir, name);
      if (!has(name)) throw new AuditError(`${folder}: the ${name} organism is missing (no prompts.json). Fix: run \`candor organism train ${name}\`, or pass --organisms <folder holding the organisms>.`);
      const model = loadModelSync(folder);
      subjects.set(name, organismSubject(name, model, readOrganismPrompts(folder)));
      sources.set(name, folder);
    };
    // the safety-tuned organism and its base are required; the controls and the planted organism join when present
    for (const n of ['safety-tuned', 'base']) load(n);
    const pairs: [string, string][] = [['ignorant', 'ignorant-parent'], ['planted', 'planted-parent']];
    for (const [child, parent] of pairs) if (has(child) && has(parent)) [child, parent].forEach(load);
    primary = 'safety-tuned';
    const parentOf: Record<string, string> = { 'safety-tuned': 'base', ignorant: 'ignorant-parent', planted: 'planted-parent' };
    const refusal = (name: string) => steps.push({ key: `refusal-${name}`, run: () => findings.refusal.push(refusalExperiment(subject(name), { seed, base: subjects.has(parentOf[name] ?? '') ? subject(parentOf[name]!) : undefined, onProgress: (d, t) => opts.onProgress?.(`refusal ${name}`, d, t) })) });
    const withheld = (name: string) => steps.push({ key: `withheld-${name}`, run: () => findings.withheld.push(withheldExperiment(subject(name), byName(findings.refusal, name).selected === null ? null : byName(findings.refusal, name).direction, seed)) });
    refusal('safety-tuned');
    withheld('safety-tuned');
    // the same without the parent, as a user without the model before fine-tuning would run it
    steps.push({ key: 'refusal-safety-tuned-no-base', run: () => findings.refusal.push(refusalExperiment(subject('safety-tuned'), { seed, onProgress: (d, t) => opts.onProgress?.('refusal safety-tuned (no base)', d, t) })) });
    if (subjects.has('ignorant')) {
      refusal('ignorant');
      withheld('ignorant');
    }
    if (subjects.has('planted')) {
      refusal('planted');
      // with the parent the recovered direction is the planted one by construction (the fine-tune's shift is the
      // rank-1 update itself); without it, finding it is a test of the method
      steps.push({ key: 'refusal-planted-no-base', run: () => findings.refusal.push(refusalExperiment(subject('planted'), { seed, onProgress: (d, t) => opts.onProgress?.('refusal planted (no base)', d, t) })) });
      steps.push({ key: 'lying-planted', run: () => findings.lying.push(lyingExperiment(subject('planted'), { seed, onProgress: (d, t) => opts.onProgress?.('lying planted', d, t) })) });
    }
    steps.push({ key: 'lying-safety-tuned', run: () => findings.lying.push(lyingExperiment(subject('safety-tuned'), { seed, onProgress: (d, t) => opts.onProgress?.('lying safety-tuned', d, t) })) });
    steps.push({ key: 'detection-safety-tuned', run: () => findings.detection.push(detectionExperiment(subject('safety-tuned'), { seed })) });
    steps.push({ key: 'depth-safety-tuned', run: () => findings.depth.push(depthExperiment(subject('safety-tuned'), refusedQuestions('safety-tuned'), seed)) });
    if (subjects.has('planted')) steps.push({ key: 'depth-planted', run: () => findings.depth.push(depthExperiment(subject('planted'), [], seed)) });
    steps.push({ key: 'diff-safety-tuned', run: () => findings.diff.push(diffExperiment(subject('safety-tuned'), subject('base'), refusedQuestions('safety-tuned'))) });
    if (subjects.has('planted')) steps.push({ key: 'diff-planted', run: () => findings.diff.push(diffExperiment(subject('planted'), subject('planted-parent'), refusedQuestions('planted'))) });
    steps.push({
      key: 'risks-safety-tuned',
      run: () => {
        const r = byName(findings.refusal, 'safety-tuned');
        if (r.selected !== null) findings.risks.push(riskExperiment(subject('safety-tuned'), r.direction, r.testItems));
      },
    });
  } else {
    mode = 'model';
    const model = await loadModel(opts.model);
    primary = 'model';
    const d = opts.datasets ?? {};
    const sets: ModelSubjectOptions = {
      seed,
      harmful: d.harmful === undefined ? undefined : readPrompts(d.harmful).map((r) => r.prompt),
      harmless: d.harmless === undefined ? undefined : readPrompts(d.harmless).map((r) => r.prompt),
      facts: d.facts === undefined ? undefined : readFacts(d.facts),
      judge: opts.judge === undefined ? undefined : refusalJudge(await loadModel(opts.judge), opts.judge),
    };
    if (opts.judge !== undefined) sources.set('refusal judge', opts.judge);
    for (const [k, f] of Object.entries(d)) if (f !== undefined) sources.set(`${k} dataset`, f);
    subjects.set('model', modelSubject('model', model, sets));
    sources.set('model', opts.model);
    if (opts.base !== undefined) {
      const baseModel = await loadModel(opts.base);
      subjects.set('base', modelSubject('base', baseModel, sets));
      sources.set('base', opts.base);
    }
    steps.push({ key: 'refusal-model', run: () => findings.refusal.push(refusalExperiment(subject('model'), { seed, base: subjects.get('base'), onProgress: (d, t) => opts.onProgress?.('refusal', d, t) })) });
    steps.push({ key: 'withheld-model', run: () => findings.withheld.push(withheldExperiment(subject('model'), byName(findings.refusal, 'model').selected === null ? null : byName(findings.refusal, 'model').direction, seed)) });
    steps.push({ key: 'lying-model', run: () => findings.lying.push(lyingExperiment(subject('model'), { seed, onProgress: (d, t) => opts.onProgress?.('lying', d, t) })) });
    steps.push({ key: 'detection-model', run: () => findings.detection.push(detectionExperiment(subject('model'), { seed })) });
    steps.push({ key: 'depth-model', run: () => findings.depth.push(depthExperiment(subject('model'), refusedQuestions('model'), seed)) });
    if (opts.base !== undefined) steps.push({ key: 'diff-model', run: () => findings.diff.push(diffExperiment(subject('model'), subject('base'), refusedQuestions('model'))) });
    steps.push({
      key: 'risks-model',
      run: () => {
        const r = byName(findings.refusal, 'model');
        if (r.selected !== null) findings.risks.push(riskExperiment(subject('model'), r.direction, r.testItems));
      },
    });
  }
  for (const s of subjects.values()) s.onAnswering = (done, total) => opts.onProgress?.(`answering (${s.name})`, done, total);

  // resume: a step's saved finding is reused when the inputs are the same (the same candor, settings and model
  // files, by size and modification time); otherwise every saved finding is removed before the first step runs,
  // so an interrupted run can never mix findings of two different runs
  const fingerprint = createHash('sha256').update(JSON.stringify({
    mode, seed, schema: RESULTS_SCHEMA, code: codeSignature(),
    sources: [...sources.entries()].map(([name, src]) => [name, src, filesSignature(src)]),
  })).digest('hex').slice(0, 16);
  const fpPath = join(stateDir, 'fingerprint');
  const resume = opts.resume !== false && existsSync(fpPath) && readFileSync(fpPath, 'utf8').trim() === fingerprint;
  if (!resume) {
    rmSync(fpPath, { force: true });
    for (const f of readdirSync(stateDir)) if (f.endsWith('.json')) rmSync(join(stateDir, f));
  }
  writeFileSync(fpPath, fingerprint + '\n');
  for (const [i, step] of steps.entries()) {
    const path = join(stateDir, `${step.key}.json`);
    const before = snapshotCounts(findings);
    if (resume && existsSync(path)) {
      const saved = JSON.parse(readFileSync(path, 'utf8'), reviveNumbers) as { added: Partial<AuditFindings>; seconds: number };
      for (const [k, v] of Object.entries(saved.added)) (findings[k as keyof AuditFindings] as unknown[]).push(...(v as unknown[]));
      seconds[step.key] = saved.seconds;
      opts.onStep?.(step.key, i + 1, steps.length, true);
      continue;
    }
    opts.onStep?.(step.key, i + 1, steps.length, false);
    const t0 = performance.now();
    step.run();
    seconds[step.key] = Math.round((performance.now() - t0) / 100) / 10;
    const added: Partial<AuditFindings> = {};
    for (const k of Object.keys(findings) as (keyof AuditFindings)[]) {
      const extra = findings[k].slice(before[k]);
      if (extra.length > 0) (added as Record<string, unknown[]>)[k] = extra;
    }
    writeFileSync(path, JSON.stringify({ added, seconds: seconds[step.key] }, keepNumbers));
  }
  const results: AuditResults = {
    schema: RESULTS_SCHEMA, created: new Date().toISOString(), mode, primary,
    subjects: [...subjects.values()].map((s) => ({
      name: s.name, kind: s.kind, source: sources.get(s.name)!, layers: s.model.cfg.nLayers, d_model: s.model.cfg.dModel, heads: s.model.cfg.nHeads, d_mlp: s.model.cfg.dMlp, parameters: s.model.parameterCount(),
    })),
    questions: [], scores: [], findings, seconds,
    ...(opts.judge !== undefined && mode === 'model' ? { refusalJudge: opts.judge } : {}),
  };
  results.questions = answerQuestions(results);
  return { results, sources };
}

// JSON has no NaN or ±Infinity (JSON.stringify writes null), and a finding read back must compare as it did
// when computed: a NaN figure fails every check, null would pass `null <= 0.05`
const keepNumbers = (_k: string, v: unknown): unknown => (typeof v === 'number' && !Number.isFinite(v) ? { $number: String(v) } : v);
const reviveNumbers = (_k: string, v: unknown): unknown =>
  v !== null && typeof v === 'object' && Object.keys(v).length === 1 && typeof (v as { $number?: unknown }).$number === 'string' ? Number((v as { $number: string }).$number) : v;

/** A hash of candor's own compiled code (every .js file beside this one's package root), so a changed candor never reuses findings. */
function codeSignature(): string {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith('.js')) h.update(path.slice(root.length)).update(readFileSync(path));
    }
  };
  walk(root);
  return h.digest('hex').slice(0, 16);
}

/** Names, sizes and modification times of a local model's files (a file, or a folder's top-level files); '' for anything else. */
function filesSignature(src: string): string {
  try {
    const st = statSync(src);
    if (st.isFile()) return `${st.size}:${st.mtimeMs}`;
    return readdirSync(src).sort().map((f) => {
      const s2 = statSync(join(src, f));
      return s2.isFile() ? `${f}:${s2.size}:${s2.mtimeMs}` : f;
    }).join(',');
  } catch {
    return '';
  }
}

function snapshotCounts(f: AuditFindings): Record<keyof AuditFindings, number> {
  return Object.fromEntries(Object.entries(f).map(([k, v]) => [k, (v as unknown[]).length])) as Record<keyof AuditFindings, number>;
}
