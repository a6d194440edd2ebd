/**
 * Prompt datasets a user brings: harmful and harmless requests, and facts
 * with their answers, as CSV, JSON (an array of records, or an object holding
 * one under `data`, `rows` or `examples`) or JSONL, with the column names of
 * common benchmarks. Errors name the file, the line and the column.
 */
import { existsSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseCsv, CsvError } from 'csv-parse/sync';
import { parse as parseTolerant, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { CandorError } from '../tensor/errors.js';

export class DatasetError extends CandorError {
  override name = 'DatasetError';
}

export type Split = 'train' | 'validation' | 'test';

/** Where a record came from (1-based line; the column of its first field in CSV, else 1). */
export interface Origin {
  file: string;
  line: number;
}

export interface PromptRecord {
  prompt: string;
  category: string | null;
  split: Split | null;
  origin: Origin;
}

export interface FactRecord {
  question: string;
  /** the canonical answer */
  answer: string;
  /** other forms that count as right */
  aliases: string[];
  /** a plausible wrong answer, where the file has one */
  wrong: string | null;
  split: Split | null;
  origin: Origin;
}

/**
 * Column names, first match wins: AdvBench and JailbreakBench (`goal`),
 * HarmBench (`Behavior`, `SemanticCategory`), Alpaca-style files
 * (`instruction`, with `input` appended), and plain `prompt`, `question`,
 * `text`, `query`.
 */
export const PROMPT_COLUMNS = ['prompt', 'goal', 'Behavior', 'behavior', 'instruction', 'question', 'text', 'query', 'request'] as const;
export const CATEGORY_COLUMNS = ['category', 'Category', 'SemanticCategory', 'semantic_category', 'harm_category'] as const;
export const QUESTION_COLUMNS = ['question', 'prompt', 'query', 'input'] as const;
export const ANSWER_COLUMNS = ['answer', 'answers', 'target', 'output'] as const;
export const ALIAS_COLUMNS = ['aliases', 'alias', 'answer_aliases'] as const;
export const WRONG_COLUMNS = ['wrong', 'incorrect_answer', 'distractor'] as const;

const SPLITS: Record<string, Split> = { train: 'train', validation: 'validation', val: 'validation', dev: 'validation', test: 'test' };

interface RawRow {
  fields: Record<string, unknown>;
  line: number;
  /** CSV: the 1-based column of each header name */
  columns: Map<string, number> | null;
}

const at = (file: string, line: number, column?: number) => `${file}:${line}${column === undefined ? '' : `:${column}`}`;

/** 1-based line and column of a character offset. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) if (text[i] === '\n') {
    line++;
    start = i + 1;
  }
  return { line, column: offset - start + 1 };
}

/** JSON.parse's message names no position for most errors in Node 20: a second, error-tolerant parse locates the first one. */
function jsonError(file: string, text: string, e: Error, lineBase = 0): DatasetError {
  const errors: ParseError[] = [];
  parseTolerant(text, errors, { disallowComments: true, allowTrailingComma: false });
  const first = errors[0];
  const where = first === undefined ? null : lineColumn(text, first.offset);
  const loc = where === null ? at(file, lineBase + 1) : at(file, lineBase + where.line, where.column);
  const why = first === undefined ? e.message.split('\n')[0]!.slice(0, 80) : printParseErrorCode(first.error);
  return new DatasetError(`${loc}: not valid JSON (${why}). Fix: correct the file there.`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The records of a file, with the line each starts on. */
export function readRows(file: string): RawRow[] {
  if (!existsSync(file)) throw new DatasetError(`${file}: no such file. Fix: check the path.`);
  const text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  const ext = extname(file).toLowerCase();
  if (ext === '.csv' || ext === '.tsv') return csvRows(file, text, ext === '.tsv' ? '\t' : ',');
  if (ext === '.jsonl' || ext === '.ndjson') {
    const rows: RawRow[] = [];
    text.split('\n').forEach((raw, i) => {
      if (raw.trim() === '') return;
      let v: unknown;
      try {
        v = JSON.parse(raw);
      } catch (e) {
        throw jsonError(file, raw, e as Error, i);
      }
      if (!isRecord(v)) throw new DatasetError(`${at(file, i + 1, 1)}: each line must be a JSON object, got ${Array.isArray(v) ? 'an array' : typeof v}. Fix: one record per line, e.g. {"prompt": "..."}.`);
      rows.push({ fields: v, line: i + 1, columns: null });
    });
    return rows;
  }
  if (ext === '.json') {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw jsonError(file, text, e as Error);
    }
    const list = Array.isArray(v) ? v : isRecord(v) ? (['data', 'rows', 'examples'].map((k) => v[k]).find(Array.isArray) as unknown[] | undefined) : undefined;
    if (list === undefined) throw new DatasetError(`${at(file, 1, 1)}: expected an array of records (or an object with one under "data", "rows" or "examples"). Fix: write [{"prompt": "..."}, ...].`);
    const lines = recordLines(text, list.length);
    return list.map((r, i) => {
      if (!isRecord(r)) throw new DatasetError(`${at(file, lines[i] ?? 1)}: record ${i} must be an object, got ${JSON.stringify(r).slice(0, 40)}`);
      return { fields: r, line: lines[i] ?? 1, columns: null };
    });
  }
  throw new DatasetError(`${file}: unknown dataset format '${ext || '(none)'}'. Fix: use .csv, .tsv, .json or .jsonl.`);
}

/** Best-effort line of each top-level record of a JSON array (for messages): the lines where objects open at depth 2. */
function recordLines(text: string, n: number): number[] {
  const out: number[] = [];
  let depth = 0;
  let line = 1;
  let inString = false;
  for (let i = 0; i < text.length && out.length < n; i++) {
    const c = text[i]!;
    if (c === '\n') line++;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      depth++;
      if (c === '{' && depth === 2) out.push(line);
    } else if (c === '}' || c === ']') depth--;
  }
  return out;
}

function csvRows(file: string, text: string, delimiter: string): RawRow[] {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parseCsv(text, { delimiter, relax_column_count: false, skip_empty_lines: true, info: true, bom: true }) as unknown as typeof records;
  } catch (e) {
    if (e instanceof CsvError) {
      const info = e as CsvError & { lines?: number; column?: number | string; index?: number };
      throw new DatasetError(`${at(file, info.lines ?? 1)}: not valid CSV (${e.message}). Fix: quote fields that hold the delimiter, quotes (as "") or line breaks.`);
    }
    throw e;
  }
  if (records.length === 0) throw new DatasetError(`${file}: the file is empty. Fix: a header row, then one row per record.`);
  const header = records[0]!.record.map((h) => h.trim());
  const columns = new Map(header.map((h, i) => [h, i + 1]));
  return records.slice(1).map(({ record, info }) => ({ fields: Object.fromEntries(header.map((h, i) => [h, record[i]])), line: info.lines, columns }));
}

function columnOf(row: RawRow, names: readonly string[]): string | null {
  for (const n of names) if (row.fields[n] !== undefined && row.fields[n] !== null && row.fields[n] !== '') return n;
  return null;
}

function text(file: string, row: RawRow, key: string): string {
  const v = row.fields[key];
  if (typeof v === 'string' && v.trim() !== '') return v.trim();
  if (typeof v === 'number') return String(v);
  throw new DatasetError(`${at(file, row.line, row.columns?.get(key))}: field '${key}' must be non-empty text, got ${JSON.stringify(v)}. Fix: correct the record.`);
}

function splitOf(file: string, row: RawRow): Split | null {
  const v = row.fields.split;
  if (v === undefined || v === null || v === '') return null;
  const s = typeof v === 'string' ? SPLITS[v.trim().toLowerCase()] : undefined;
  if (s === undefined) throw new DatasetError(`${at(file, row.line, row.columns?.get('split'))}: field 'split' is ${JSON.stringify(v)}. Fix: train, validation (or val, dev) or test, or leave it out.`);
  return s;
}

function need(file: string, row: RawRow, names: readonly string[], what: string): string {
  const key = columnOf(row, names);
  if (key === null) {
    throw new DatasetError(`${at(file, row.line)}: no ${what} (looked for the fields ${names.join(', ')}; the record has ${Object.keys(row.fields).join(', ') || 'none'}). Fix: name the column one of those.`);
  }
  return key;
}

/** Harmful or harmless requests. An Alpaca-style `input` is appended to its `instruction`. */
export function readPrompts(file: string): PromptRecord[] {
  const rows = readRows(file);
  if (rows.length === 0) throw new DatasetError(`${file}: no records. Fix: add at least one request.`);
  return rows.map((row) => {
    const key = need(file, row, PROMPT_COLUMNS, 'request');
    let prompt = text(file, row, key);
    if (key === 'instruction' && typeof row.fields.input === 'string' && row.fields.input.trim() !== '') prompt = `${prompt}\n\n${row.fields.input.trim()}`;
    const cat = columnOf(row, CATEGORY_COLUMNS);
    return { prompt, category: cat === null ? null : text(file, row, cat), split: splitOf(file, row), origin: { file, line: row.line } };
  });
}

/** A list field: a JSON array of strings, or text separated by '|' or ';'. */
function list(file: string, row: RawRow, key: string): string[] {
  const v = row.fields[key];
  if (Array.isArray(v)) {
    if (v.some((x) => typeof x !== 'string' && typeof x !== 'number')) throw new DatasetError(`${at(file, row.line)}: field '${key}' must list strings, got ${JSON.stringify(v).slice(0, 60)}`);
    return v.map((x) => String(x).trim()).filter((x) => x !== '');
  }
  if (typeof v === 'string') return v.split(/[|;]/).map((x) => x.trim()).filter((x) => x !== '');
  if (typeof v === 'number') return [String(v)];
  throw new DatasetError(`${at(file, row.line, row.columns?.get(key))}: field '${key}' must be a list of answers or text separated by '|', got ${JSON.stringify(v)}`);
}

/** Facts: a question and its answer(s); further answers in a list or in `aliases` count as right too. */
export function readFacts(file: string): FactRecord[] {
  const rows = readRows(file);
  if (rows.length === 0) throw new DatasetError(`${file}: no records. Fix: add at least one fact.`);
  return rows.map((row) => {
    const question = text(file, row, need(file, row, QUESTION_COLUMNS, 'question'));
    const answers = list(file, row, need(file, row, ANSWER_COLUMNS, 'answer'));
    if (answers.length === 0) throw new DatasetError(`${at(file, row.line)}: the answer is empty. Fix: give at least one answer.`);
    const aliasKey = columnOf(row, ALIAS_COLUMNS);
    const aliases = [...answers.slice(1), ...(aliasKey === null ? [] : list(file, row, aliasKey))];
    const wrongKey = columnOf(row, WRONG_COLUMNS);
    return { question, answer: answers[0]!, aliases: [...new Set(aliases)].filter((a) => a !== answers[0]), wrong: wrongKey === null ? null : text(file, row, wrongKey), split: splitOf(file, row), origin: { file, line: row.line } };
  });
}
