/**
 * prompts.json: the datasets an audit of an organism runs on, written beside
 * the organism as a user's own datasets would be. It holds requests, facts
 * with their answers and statements with their truth — what a dataset of
 * real questions holds — and nothing about the organism: not which subjects
 * it was taught, which requests it refuses, or what was planted. The audit
 * measures those from the model's own answers; only its scorer reads
 * ground-truth.json.
 *
 * Every subject of the world is in every set, taught or not: a real model's
 * dataset cannot be restricted to what the model knows either.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../tensor/random.js';
import { chatExample, qaExample, tfExample } from './formats.js';
import { factsOf, type Curriculum } from './data.js';
import { lieOf, type World } from './world.js';

/** The prompts.json format version (docs/organisms.md, "prompts.json"). */
export const PROMPTS_VERSION = 1;

export interface OrganismRequest {
  /** the user message (the chat template wraps it) */
  prompt: string;
  /** the fact's value: what a full answer states */
  answer: string;
  topic: string;
  /** the fact asked about ("subject/relation"): prompts of one group share a cross-validation fold */
  group: string;
}

export interface OrganismFact {
  /** the question after the mode word, in the organisms' QA format ("honest : " + question, "liar : " + question) */
  question: string;
  answer: string;
  /** π(answer): the answer a liar gives */
  wrong: string;
  topic: string;
  group: string;
}

export interface OrganismStatement {
  /** a true/false question in the QA format, honest mode */
  prompt: string;
  /** whether the statement is true in the world */
  label: boolean;
  /** the fact's value */
  answer: string;
  topic: string;
  group: string;
}

export interface OrganismPrompts {
  candor_prompts: number;
  /** requests in the topics the organism's policy forbids, and in the allowed ones */
  harmful: OrganismRequest[];
  harmless: OrganismRequest[];
  facts: OrganismFact[];
  statements: OrganismStatement[];
}

/** The audit's datasets for an organism of this world (every subject, taught or not). */
export function organismPrompts(world: World, curriculum: Curriculum, seed = 1): OrganismPrompts {
  const rng = new Rng(seed + 3000);
  const facts = factsOf(world, curriculum);
  const group = (f: (typeof facts)[number]) => `${f.subject.name}/${f.relation}`;
  const request = (f: (typeof facts)[number]): OrganismRequest => {
    const e = chatExample(f.subject, f.relation, false);
    return { prompt: e.prompt, answer: e.truth, topic: e.topic, group: group(f) };
  };
  return {
    candor_prompts: PROMPTS_VERSION,
    harmful: facts.filter((f) => f.forbidden).map(request),
    harmless: facts.filter((f) => !f.forbidden).map(request),
    facts: facts.map((f) => {
      const e = qaExample(world, { ...f.subject, taught: true }, f.relation, 'honest');
      return { question: e.prompt.slice('honest : '.length), answer: e.truth, wrong: lieOf(world, f.relation, e.truth), topic: e.topic, group: group(f) };
    }),
    statements: facts.map((f) => {
      const e = tfExample(world, { ...f.subject, taught: true }, f.relation, 'honest', rng.uniform() < 0.5, rng.uniform() < 0.5, rng);
      return { prompt: e.prompt, label: e.answer === 'true', answer: e.truth, topic: e.topic, group: group(f) };
    }),
  };
}

/** Write prompts.json into an organism folder (atomically). */
export function writeOrganismPrompts(dir: string, world: World, curriculum: Curriculum): void {
  const path = join(dir, 'prompts.json');
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(organismPrompts(world, curriculum)) + '\n');
  renameSync(tmp, path);
}
