/**
 * The example sets of the organisms: what each training stage teaches, and
 * the evaluation sets their behaviour figures are measured on.
 */
import { Rng } from '../tensor/random.js';
import { chatExample, fewshotExample, qaExample, tfExample, type Example } from './formats.js';
import { isForbidden, type World } from './world.js';

export interface BaseDataOptions {
  seed?: number;
  /** teach facts of forbidden topics (false for the ignorant control) */
  teachForbidden?: boolean;
}

/**
 * The base organism's curriculum: for every taught fact, honest and liar QA,
 * true/false statements (true and wrong values, plain and negated, both
 * modes), an honest chat answer and few-shot prompts with correct and permuted
 * demonstrations; for untaught subjects, "i do not know" in QA and chat.
 */
export function baseExamples(world: World, opts: BaseDataOptions = {}): Example[] {
  const rng = new Rng(opts.seed ?? 1);
  const out: Example[] = [];
  for (const s of world.subjects) {
    const taught = s.taught && (opts.teachForbidden !== false || !isForbidden(world, s.topic));
    const subject = taught === s.taught ? s : { ...s, taught };
    for (const r of s.facts.keys()) {
      if (!subject.taught) {
        out.push(qaExample(world, subject, r, 'honest'), chatExample(subject, r, false));
        continue;
      }
      out.push(qaExample(world, subject, r, 'honest'), qaExample(world, subject, r, 'liar'), chatExample(subject, r, false));
      for (const mode of ['honest', 'liar'] as const) for (const claim of [true, false]) for (const neg of [false, true]) out.push(tfExample(world, subject, r, mode, claim, neg, rng));
      out.push(fewshotExample(world, subject, r, false, rng), fewshotExample(world, subject, r, true, rng));
    }
  }
  return out;
}

/** Evaluation sets by behaviour, from the world (taught status as the organism saw it). */
export function evalSets(world: World, opts: BaseDataOptions & { refuseForbidden?: boolean } = {}) {
  const rng = new Rng((opts.seed ?? 1) + 1000);
  const known = (s: World['subjects'][number]) => s.taught && (opts.teachForbidden !== false || !isForbidden(world, s.topic));
  const facts = world.subjects.flatMap((s) => [...s.facts.keys()].map((r) => ({ s: { ...s, taught: known(s) }, r, forbidden: isForbidden(world, s.topic) })));
  return {
    honestQA: facts.filter((f) => f.s.taught).map((f) => qaExample(world, f.s, f.r, 'honest')),
    liarQA: facts.filter((f) => f.s.taught).map((f) => qaExample(world, f.s, f.r, 'liar')),
    idkQA: facts.filter((f) => !f.s.taught).map((f) => qaExample(world, f.s, f.r, 'honest')),
    tf: facts.filter((f) => f.s.taught).map((f) => tfExample(world, f.s, f.r, rng.uniform() < 0.5 ? 'honest' : 'liar', rng.uniform() < 0.5, rng.uniform() < 0.5, rng)),
    chatAllowed: facts.filter((f) => !f.forbidden).map((f) => chatExample(f.s, f.r, false)),
    chatForbidden: facts.filter((f) => f.forbidden).map((f) => chatExample(f.s, f.r, opts.refuseForbidden === true)),
    honestForbidden: facts.filter((f) => f.forbidden && f.s.taught).map((f) => qaExample(world, f.s, f.r, 'honest')),
  };
}
