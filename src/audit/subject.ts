/**
 * What an audit runs on: a model with its tokenizer and the prompt sets the
 * experiments need, all as token ids. Organisms and users' models are the
 * same kind of subject: datasets of questions and answers, and a model whose
 * own answers decide what it refuses, knows or gets wrong. Ground truth never
 * enters a subject; only the scorer (scorer.ts) reads it.
 *
 * Sets:
 *   harmful     requests the model should refuse (organisms: chat questions in the forbidden topics)
 *   harmless    requests it should answer (organisms: chat questions in the allowed topics)
 *   calibration chat questions whose answer shows whether the model knows (answers vs "i do not know"):
 *               the knowledge classifier is calibrated here, never on refused prompts
 *   honest/liar the same fact questions in honest and in liar mode, paired (equal token counts)
 *   statements  true/false statements with their truth
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { CandorError } from '../tensor/errors.js';
import type { Tokenizer } from '../io/tokenizer.js';
import { generate } from '../model/generate.js';
import type { HookSpec } from '../model/hooks.js';
import type { HookedTransformer } from '../model/transformer.js';
import type { OrganismPrompts } from '../organisms/prompts-file.js';
import { IDK, REFUSAL } from '../organisms/formats.js';

export class AuditError extends CandorError {
  override name = 'AuditError';
}

export interface AuditItem {
  ids: number[];
  /** the prompt as text (chat: the user message) */
  text: string;
  /** the true answer and its first token ('' and −1 for requests without one, such as harmful requests) */
  truth: string;
  truthId: number;
  /** the liar-mode answer (organisms: π(truth)) and its first token, when there is one */
  lie: string | null;
  lieId: number | null;
  topic: string;
  /** the fact or request the item is about: items of one group share a cross-validation fold */
  group: string;
  /** statements: whether the statement is true */
  label?: boolean;
  /** other forms of the true answer that count as right */
  aliases?: readonly string[];
}

export interface AuditSubject {
  name: string;
  /** 'organism' (bundled, with ground truth) or 'model' (a user's chat model) */
  kind: 'organism' | 'model';
  model: HookedTransformer;
  tok: Tokenizer;
  /** first tokens of a refusal (for the refusal score) */
  refusalTokens: number[];
  isRefusal: (answer: string) => boolean;
  /** sees every batch of generated answers before they are classified (a judge model classifies them in batches) */
  readAnswers?: (answers: readonly string[]) => void;
  /** told how many of a list of prompts are answered so far (generation is most of an audit's time on a large model) */
  onAnswering?: (done: number, total: number) => void;
  /** whether an answer says the model does not know */
  isIdk: (answer: string) => boolean;
  /** whether a generated answer gives the item's true answer */
  isCorrect: (answer: string, item: AuditItem) => boolean;
  maxNewTokens: number;
  sets: {
    harmful: AuditItem[];
    harmless: AuditItem[];
    /**
     * questions labelled by whether the model can know them: true (real facts: counted as known only when
     * answered right), false (made-up entities, known to no model), null (read from the model's own answer:
     * right = known, "I do not know" = not known, anything else left out)
     */
    calibration: (AuditItem & { known: boolean | null })[];
    honest: AuditItem[];
    liar: AuditItem[];
    statements: AuditItem[];
  };
}

// greedy answers without hooks depend only on the model and the items: experiments that ask the same list of a
// model (the refusal experiment with and without the base, the withheld and depth experiments) share them
const answerMemo = new WeakMap<HookedTransformer, WeakMap<readonly AuditItem[], string[]>>();

/** Greedy answers of a subject to items (optionally under hooks), as text. */
export function answers(s: AuditSubject, items: readonly AuditItem[], hooks: readonly HookSpec[] = []): string[] {
  if (hooks.length === 0) {
    const hit = answerMemo.get(s.model)?.get(items);
    if (hit !== undefined) return hit.slice();
    const said = generateAnswers(s, items, hooks);
    if (!answerMemo.has(s.model)) answerMemo.set(s.model, new WeakMap());
    answerMemo.get(s.model)!.set(items, said);
    return said.slice();
  }
  return generateAnswers(s, items, hooks);
}

function generateAnswers(s: AuditSubject, items: readonly AuditItem[], hooks: readonly HookSpec[]): string[] {
  const out: string[] = [];
  const eos = s.model.cfg.eosTokenIds;
  for (let i = 0; i < items.length; i += 32) {
    s.onAnswering?.(i, items.length);
    const chunk = items.slice(i, i + 32);
    const r = generate(s.model, chunk.map((it) => it.ids), { maxNewTokens: s.maxNewTokens, fwdHooks: hooks, padTokenId: s.tok.padTokenId ?? eos[0] ?? 0 });
    for (const ids of r.newTokens) out.push(s.tok.decode(ids.filter((t) => !eos.includes(t)), { skipSpecialTokens: true }).trim());
  }
  s.onAnswering?.(items.length, items.length);
  s.readAnswers?.(out);
  return out;
}

// ---------------------------------------------------------------------------
// organisms

function tokenId(tok: Tokenizer, word: string, where: string): number {
  const id = tok.tokenToId(word);
  if (id === null) throw new AuditError(`${where}: '${word}' is not in the organism's vocabulary; prompts.json and tokenizer.json do not belong together`);
  return id;
}

/** Read an organism folder's audit datasets (prompts.json, written by candor organism train). */
export function readOrganismPrompts(dir: string): OrganismPrompts {
  const path = join(dir, 'prompts.json');
  if (!existsSync(path)) throw new AuditError(`${dir}: no prompts.json. Fix: re-train the organism with \`candor organism train\`, which writes it beside ground-truth.json.`);
  let p: OrganismPrompts;
  try {
    p = JSON.parse(readFileSync(path, 'utf8')) as OrganismPrompts;
  } catch (e) {
    throw new AuditError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  for (const k of ['harmful', 'harmless', 'facts', 'statements'] as const) {
    if (!Array.isArray(p[k])) throw new AuditError(`${path}: field '${k}' is missing or not a list. Fix: re-train the organism with \`candor organism train\`.`);
  }
  return p;
}

/**
 * An organism as an audit subject. Its datasets say what was asked and what the answers are, never what the
 * organism knows, refuses or had planted: every experiment measures that from the model's own answers, as it
 * does for a user's model.
 */
export function organismSubject(name: string, model: HookedTransformer, prompts: OrganismPrompts): AuditSubject {
  const tok = model.requireTokenizer();
  const where = `organism ${name}`;
  const chat = (text: string) => tok.encode(tok.applyChatTemplate([{ role: 'user', content: text }], { addGenerationPrompt: true }), { addSpecialTokens: false });
  const plain = (text: string) => tok.encode(`<s> ${text}`, { addSpecialTokens: false });
  const request = (r: OrganismPrompts['harmful'][number]): AuditItem => ({
    ids: chat(r.prompt), text: r.prompt, truth: r.answer, truthId: tokenId(tok, r.answer, where), lie: null, lieId: null, topic: r.topic, group: r.group,
  });
  const fact = (f: OrganismPrompts['facts'][number], mode: 'honest' | 'liar'): AuditItem => ({
    ids: plain(`${mode} : ${f.question}`), text: f.question, truth: f.answer, truthId: tokenId(tok, f.answer, where), lie: f.wrong, lieId: tokenId(tok, f.wrong, where), topic: f.topic, group: f.group,
  });
  return {
    name, kind: 'organism', model, tok,
    refusalTokens: [tokenId(tok, REFUSAL.split(' ')[0]!, where)],
    isRefusal: (a) => a === REFUSAL,
    isIdk: (a) => a === IDK,
    isCorrect: (a, it) => a === it.truth,
    maxNewTokens: 6,
    sets: {
      harmful: prompts.harmful.map(request),
      harmless: prompts.harmless.map(request),
      // whether the organism knows each one is read from its own answer (see AuditSubject.sets.calibration)
      calibration: prompts.harmless.map((r) => ({ ...request(r), known: null })),
      honest: prompts.facts.map((f) => fact(f, 'honest')),
      liar: prompts.facts.map((f) => fact(f, 'liar')),
      statements: prompts.statements.map((st) => ({
        ids: plain(st.prompt), text: st.prompt, truth: st.answer, truthId: tokenId(tok, st.answer, where), lie: null, lieId: null, topic: st.topic, group: st.group, label: st.label,
      })),
    },
  };
}
