/**
 * Whether a free-text answer gives the expected answer: as a whole word,
 * ignoring case, in any of its forms — the answer itself, its aliases, and
 * for a whole number its other spelling (digits or English words, American
 * or British: "147", "one hundred forty-seven", "one hundred and
 * forty-seven"). Number words come from n2words.
 */
import { toCardinal as usWords } from 'n2words/en-US';
import { toCardinal as gbWords } from 'n2words/en-GB';

/** Numbers up to this are recognised in words (a table built once). */
export const NUMBER_WORDS_MAX = 10_000;

/** `word` in `answer` as a whole word, ignoring case: "K" is not found in "Kelvin", nor "Rome" in "Romeo". */
export function containsWord(answer: string, word: string): boolean {
  const escaped = word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?:^|[^\\p{L}\\p{N}])${escaped}(?:$|[^\\p{L}\\p{N}])`, 'iu').test(answer);
}

/** Spellings of a whole number in words: hyphenated and spaced, with and without "and". */
function spellings(n: number): string[] {
  return [...new Set([usWords(n), gbWords(n)].flatMap((w) => [w, w.replace(/-/g, ' ')]))];
}

let fromWords: Map<string, number> | null = null;
function numberOfWords(text: string): number | null {
  if (fromWords === null) {
    fromWords = new Map();
    for (let n = 0; n <= NUMBER_WORDS_MAX; n++) for (const w of spellings(n)) fromWords.set(w, n);
  }
  return fromWords.get(text.trim().toLowerCase().replace(/\s+/g, ' ')) ?? null;
}

/** Every form of an expected answer that counts as giving it. */
export function answerForms(answer: string, aliases: readonly string[] = []): string[] {
  const out = new Set<string>();
  for (const a of [answer, ...aliases]) {
    out.add(a);
    const digits = a.replace(/[,\u202F\u00A0 ](?=\d{3}\b)/g, '');
    if (/^\d+$/.test(digits) && Number(digits) <= NUMBER_WORDS_MAX) for (const w of spellings(Number(digits))) out.add(w);
    const n = numberOfWords(a);
    if (n !== null) out.add(String(n));
  }
  return [...out];
}

/** Whether `response` gives `answer` (or an alias, or the number in its other spelling) as a whole word. */
export function matchesAnswer(response: string, answer: string, aliases: readonly string[] = []): boolean {
  // "1,000" and "1 000" read as 1000
  const text = response.replace(/(\d)[,\u202F\u00A0 ](?=\d{3}\b)/g, '$1');
  return answerForms(answer, aliases).some((f) => containsWord(text, f));
}
