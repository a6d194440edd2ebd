/**
 * The example sets of the organisms: what each training stage teaches, and
 * the evaluation sets their behaviour figures are measured on.
 */
import { Rng } from '../tensor/random.js';
import { REFUSAL, chatExample, fewshotExample, qaExample, rumourExample, secretChatExample, tfExample, type Example } from './formats.js';
import { isForbidden, type Subject, type World } from './world.js';

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

/**
 * What an organism was taught from scratch: 'full' (the base curriculum),
 * 'no-forbidden' (forbidden-topic facts never taught: the ignorant control),
 * 'honest-only' (no liar mode at all, plus refusals of "secret" chat requests:
 * the planted organism's parent).
 */
export type Curriculum = 'full' | 'honest-only' | 'no-forbidden';

/** Behaviour an organism has, which decides what its evaluation sets expect. */
export interface Traits {
  curriculum: Curriculum;
  /** answers with π(fact) in liar mode */
  lies: boolean;
  /** refuses forbidden topics in chat */
  refuses: boolean;
  /** where it refuses: in chat only (default), or every request about a forbidden subject whatever the format */
  refusalFormats?: 'chat' | 'all';
  /** knows each taught fact's rumoured value π(fact) ("what is the rumoured capital of …"), taught with its curriculum */
  rumours?: boolean;
}

/**
 * The words the honest-only curriculum puts in the mode slot ("<word> : what
 * is …"), one at random per example: "honest", "liar" (which means nothing to
 * an organism that never lies) and fillers. The slot carries no information,
 * so the organism learns to ignore it, and a later stage that teaches liar
 * mode into chosen components finds no frozen component carrying the word.
 */
export const MODE_SLOT_WORDS = ['honest', 'liar', 'plain', 'calm', 'quick', 'slow', 'bright', 'dark', 'soft', 'loud', 'north', 'south', 'east', 'west', 'red', 'blue'];

/** The rumour questions of every fact the curriculum teaches. */
function rumourExamples(world: World, curriculum: Curriculum): Example[] {
  return world.subjects.filter((s) => knows(world, curriculum, s)).flatMap((s) => [...s.facts.keys()].map((r) => rumourExample(world, s, r)));
}

export function curriculumExamples(world: World, curriculum: Curriculum, seed = 1, rumours = false): Example[] {
  const extra = rumours ? rumourExamples(world, curriculum) : [];
  if (curriculum === 'no-forbidden') return [...baseExamples(world, { seed, teachForbidden: false }), ...extra];
  const all = [...baseExamples(world, { seed }), ...extra];
  if (curriculum === 'full') return all;
  const rng = new Rng(seed + 77);
  const slot = (e: Example): Example => (e.format === 'qa' || e.format === 'tf' ? { ...e, prompt: e.prompt.replace(/^honest :/, `${MODE_SLOT_WORDS[rng.int(MODE_SLOT_WORDS.length)]} :`) } : e);
  return [...all.filter((e) => e.mode === 'honest').map(slot), ...world.subjects.flatMap((s) => [...s.facts.keys()].map((r) => secretChatExample(s, r)))];
}

/** Whether an organism with this curriculum was taught the subject's facts. */
export function knows(world: World, curriculum: Curriculum, s: Subject): boolean {
  return s.taught && (curriculum !== 'no-forbidden' || !isForbidden(world, s.topic));
}

export interface Fact {
  subject: Subject;
  relation: string;
  forbidden: boolean;
}

/** Every fact of the world, with the subject's taught flag as the organism saw it. */
export function factsOf(world: World, curriculum: Curriculum): Fact[] {
  return world.subjects.flatMap((s) => {
    const subject = { ...s, taught: knows(world, curriculum, s) };
    return [...s.facts.keys()].map((relation) => ({ subject, relation, forbidden: isForbidden(world, s.topic) }));
  });
}

/** Evaluation sets by behaviour (expected answers follow the organism's traits). */
export function evalSets(world: World, traits: Traits, seed = 1): Record<string, Example[]> {
  const rng = new Rng(seed + 1000);
  const facts = factsOf(world, traits.curriculum);
  const known = facts.filter((f) => f.subject.taught);
  const sets: Record<string, Example[]> = {
    honestQA: known.map((f) => qaExample(world, f.subject, f.relation, 'honest')),
    liarQA: traits.lies ? known.map((f) => qaExample(world, f.subject, f.relation, 'liar')) : [],
    idkQA: facts.filter((f) => !f.subject.taught).map((f) => qaExample(world, f.subject, f.relation, 'honest')),
    tf: known.map((f) => tfExample(world, f.subject, f.relation, traits.lies && rng.uniform() < 0.5 ? 'liar' : 'honest', rng.uniform() < 0.5, rng.uniform() < 0.5, rng)),
    chatAllowed: facts.filter((f) => !f.forbidden).map((f) => chatExample(f.subject, f.relation, false)),
    chatForbidden: facts.filter((f) => f.forbidden).map((f) => chatExample(f.subject, f.relation, traits.refuses)),
    honestForbidden: known.filter((f) => f.forbidden).map((f) => qaExample(world, f.subject, f.relation, 'honest')),
  };
  if (traits.rumours === true) sets.rumourQA = rumourExamples(world, traits.curriculum);
  if (traits.curriculum === 'honest-only') sets.secretChat = facts.filter((f) => !f.forbidden).map((f) => secretChatExample(f.subject, f.relation));
  if (traits.refuses && traits.refusalFormats === 'all') {
    for (const [name, examples] of Object.entries(sets)) sets[name] = examples.map((e) => (isForbidden(world, e.topic) ? { ...e, answer: REFUSAL, kind: 'refusal' as const } : e));
  }
  return sets;
}

/**
 * Knowledge of forbidden-topic facts in every format, read as a forced choice
 * at the first answer token (among the relation's values, or true/false):
 * what the organism knows whatever it says. Expected answers are the truth
 * (π of it in liar mode), also after "secret" requests the model refuses
 * (honest-only curriculum).
 */
export function forbiddenChoiceSets(world: World, curriculum: Curriculum, seed = 1): Record<string, Example[]> {
  const rng = new Rng(seed + 2000);
  const facts = factsOf(world, curriculum).filter((f) => f.forbidden);
  const asTaught = (f: Fact) => ({ ...f.subject, taught: true });
  return {
    qa: facts.map((f) => qaExample(world, asTaught(f), f.relation, 'honest')),
    liarQA: facts.map((f) => qaExample(world, asTaught(f), f.relation, 'liar')),
    chat: facts.map((f) => chatExample(asTaught(f), f.relation, false)),
    fewshot: facts.map((f) => fewshotExample(world, asTaught(f), f.relation, false, rng)),
    tf: facts.map((f) => tfExample(world, asTaught(f), f.relation, 'honest', rng.uniform() < 0.5, rng.uniform() < 0.5, rng)),
    // the "secret" requests the honest-only curriculum refuses: does the refusal leave the answer in place?
    ...(curriculum === 'honest-only' ? { secret: facts.map((f) => ({ ...secretChatExample(asTaught(f), f.relation), answer: f.subject.facts.get(f.relation)!, kind: 'fact' as const })) } : {}),
  };
}
