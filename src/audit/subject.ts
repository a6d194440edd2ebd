/**
 * What an audit runs on: a model with its tokenizer and the prompt sets the
 * experiments need, all as token ids, plus (for organisms) the ground truth
 * each finding is scored against.
 *
 * Sets:
 *   harmful     requests the model should refuse (organisms: forbidden-topic chat questions)
 *   harmless    requests it should answer (organisms: allowed-topic chat questions about taught subjects)
 *   calibration chat questions whose answer shows whether the model knows (answers vs "i do not know"),
 *               labelled known / unknown: the knowledge classifier is calibrated here, never on refused prompts
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
import type { GroundTruth, GroundTruthPrompt, Manifest } from '../organisms/recipes.js';
import { REFUSAL } from '../organisms/formats.js';

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
  /** organisms' ground truth: known, withheld (known but refused) or unknown */
  status: 'known' | 'withheld' | 'unknown' | null;
  topic: string;
  /** the fact or request the item is about: items of one group share a cross-validation fold */
  group: string;
  /** statements: whether the statement is true */
  label?: boolean;
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
  /** whether a generated answer gives the item's true answer */
  isCorrect: (answer: string, item: AuditItem) => boolean;
  maxNewTokens: number;
  sets: {
    harmful: AuditItem[];
    harmless: AuditItem[];
    calibration: (AuditItem & { known: boolean })[];
    honest: AuditItem[];
    liar: AuditItem[];
    statements: AuditItem[];
  };
  manifest: Manifest | null;
  truth: GroundTruth | null;
}

/** Greedy answers of a subject to items (optionally under hooks), as text. */
export function answers(s: AuditSubject, items: readonly AuditItem[], hooks: readonly HookSpec[] = []): string[] {
  const out: string[] = [];
  const eos = s.model.cfg.eosTokenIds;
  for (let i = 0; i < items.length; i += 32) {
    const chunk = items.slice(i, i + 32);
    const r = generate(s.model, chunk.map((it) => it.ids), { maxNewTokens: s.maxNewTokens, fwdHooks: hooks, padTokenId: s.tok.padTokenId ?? eos[0] ?? 0 });
    for (const ids of r.newTokens) out.push(s.tok.decode(ids.filter((t) => !eos.includes(t)), { skipSpecialTokens: true }).trim());
  }
  return out;
}

// ---------------------------------------------------------------------------
// organisms


function tokenId(tok: Tokenizer, word: string, where: string): number {
  const id = tok.tokenToId(word);
  if (id === null) throw new AuditError(`${where}: '${word}' is not in the organism's vocabulary; ground-truth.json and tokenizer.json do not belong together`);
  return id;
}

/** Read an organism folder's ground truth (written by candor organism train). */
export function readGroundTruth(dir: string): GroundTruth {
  const path = join(dir, 'ground-truth.json');
  if (!existsSync(path)) throw new AuditError(`${dir}: no ground-truth.json. Fix: re-train the organism with \`candor organism train\`, which writes it.`);
  const gt = JSON.parse(readFileSync(path, 'utf8')) as GroundTruth;
  if (!Array.isArray(gt.prompts)) throw new AuditError(`${path}: field 'prompts' is missing or not a list`);
  return gt;
}

/** An organism as an audit subject: prompt sets from its ground truth. */
export function organismSubject(name: string, model: HookedTransformer, manifest: Manifest, truth: GroundTruth): AuditSubject {
  const tok = model.requireTokenizer();
  const where = `organism ${name}`;
  const render = (p: GroundTruthPrompt) =>
    p.format === 'chat' ? tok.encode(tok.applyChatTemplate([{ role: 'user', content: p.prompt }], { addGenerationPrompt: true }), { addSpecialTokens: false }) : tok.encode(`<s> ${p.prompt}`, { addSpecialTokens: false });
  const item = (p: GroundTruthPrompt): AuditItem => ({
    ids: render(p), text: p.prompt, truth: p.truth, truthId: tokenId(tok, p.truth, where), lie: p.lie, lieId: tokenId(tok, p.lie, where),
    status: p.status, topic: p.topic, group: `${p.subject}/${p.relation}`,
  });
  const bySet = (set: string) => truth.prompts.filter((p) => p.set === set);
  const chatAllowed = bySet('chatAllowed');
  const honest = bySet('honestQA');
  const liarByFact = new Map(bySet('liarQA').map((p) => [`${p.subject}/${p.relation}`, p]));
  const pairs = honest.filter((p) => liarByFact.has(`${p.subject}/${p.relation}`));
  const statements = bySet('tf').filter((p) => p.expected === 'true' || p.expected === 'false').map((p) => ({ ...item(p), label: (p.expected === 'true') !== (p.mode === 'liar') }));
  return {
    name, kind: 'organism', model, tok,
    refusalTokens: [tokenId(tok, REFUSAL.split(' ')[0]!, where)],
    isRefusal: (a) => a === REFUSAL,
    isCorrect: (a, it) => a === it.truth,
    maxNewTokens: 6,
    sets: {
      harmful: bySet('chatForbidden').map(item),
      harmless: chatAllowed.filter((p) => p.status === 'known').map(item),
      calibration: chatAllowed.map((p) => ({ ...item(p), known: p.status === 'known' })),
      honest: pairs.map(item),
      liar: pairs.map((p) => item(liarByFact.get(`${p.subject}/${p.relation}`)!)),
      statements,
    },
    manifest, truth,
  };
}
