/**
 * The organisms' tokenizer, written as Hugging Face files so organisms load
 * through the same path as real models: a word-level tokenizer.json (split on
 * whitespace) and a tokenizer_config.json with the chat template.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CandorError } from '../tensor/errors.js';

export class OrganismTokenizerError extends CandorError {
  override name = 'OrganismTokenizerError';
}

export const SPECIAL_TOKENS = ['<unk>', '<s>', '</s>', '<pad>', '<|user|>', '<|assistant|>', '<|end|>'] as const;

/** User and assistant turns; the generation prompt opens the assistant turn. */
export const ORGANISM_CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}<|user|> {{ m['content'] }} {% elif m['role'] == 'assistant' %}<|assistant|> {{ m['content'] }} <|end|> {% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";

/** Token ids: the special tokens first, then `words` in order (duplicates removed). */
export function organismVocab(words: readonly string[]): string[] {
  const vocab: string[] = [...SPECIAL_TOKENS];
  const seen = new Set<string>(vocab);
  for (const w of words) {
    if (w === '' || /\s/.test(w)) throw new OrganismTokenizerError(`vocabulary word ${JSON.stringify(w)} is empty or contains whitespace`);
    if (!seen.has(w)) {
      seen.add(w);
      vocab.push(w);
    }
  }
  return vocab;
}

/** Write tokenizer.json and tokenizer_config.json for a word-level vocabulary into `dir`. */
export function writeOrganismTokenizer(dir: string, vocab: readonly string[]): void {
  mkdirSync(dir, { recursive: true });
  const special = SPECIAL_TOKENS.map((t) => vocab.indexOf(t));
  if (special.some((i) => i < 0)) throw new OrganismTokenizerError('the vocabulary lacks the special tokens; build it with organismVocab()');
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: special.map((id) => ({ id, content: vocab[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: null,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: false },
    model: { type: 'WordLevel', vocab: Object.fromEntries(vocab.map((w, i) => [w, i])), unk_token: '<unk>' },
  };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  const config = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: '<s>',
    eos_token: '<|end|>',
    pad_token: '<pad>',
    unk_token: '<unk>',
    clean_up_tokenization_spaces: false,
    model_max_length: 128,
    chat_template: ORGANISM_CHAT_TEMPLATE,
  };
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config, null, 2) + '\n');
}
