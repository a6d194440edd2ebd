/** Shared pieces of the command line: argument parsing, output, progress. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CandorError } from '../tensor/errors.js';
import { loadModel } from '../model/load.js';
import type { HookedTransformer } from '../model/transformer.js';

export class UsageError extends CandorError {
  override name = 'UsageError';
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number> | number;
}

export function parse(cmd: Command, args: string[]): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const { values, positionals } = parseArgs({ args, options: { ...cmd.options, json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } }, allowPositionals: true, strict: true });
  return { values: values as Record<string, string | boolean | undefined>, positionals };
}

export function required(values: Record<string, unknown>, name: string, cmd: Command): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`${cmd.name}: --${name} is required.\n${cmd.usage}`);
  return v;
}

export function intOption(values: Record<string, unknown>, name: string, fallback: number): number {
  const v = values[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
}

export function numOption(values: Record<string, unknown>, name: string, fallback: number): number {
  const v = values[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got ${JSON.stringify(v)}`);
  return n;
}

export function idList(text: string, name = 'ids'): number[] {
  const parts = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const out = parts.map(Number);
  if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n < 0)) throw new UsageError(`--${name} must be comma-separated token ids like 1,2,3; got ${JSON.stringify(text)}`);
  return out;
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

/** Progress on stderr: a bar with ETA on a TTY, plain lines otherwise. */
export class Progress {
  private start = Date.now();
  private last = 0;
  /** plain: plain lines even on a terminal (--json runs: stdout carries the result, stderr the progress) */
  constructor(private readonly label: string, private readonly total: number, private readonly plain = false) {}
  update(done: number, note = ''): void {
    const now = Date.now();
    const tty = process.stderr.isTTY === true && !this.plain;
    if (done < this.total && now - this.last < (tty ? 100 : 2000)) return;
    this.last = now;
    const frac = this.total > 0 ? done / this.total : 1;
    const elapsed = (now - this.start) / 1000;
    const eta = frac > 0 && frac < 1 ? (elapsed / frac) * (1 - frac) : 0;
    if (tty) {
      const width = 28;
      const fill = Math.round(frac * width);
      process.stderr.write(`\r${this.label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${done}/${this.total} ${eta > 0 ? `ETA ${eta.toFixed(0)}s` : ''} ${note}\x1b[K`);
      if (done >= this.total) process.stderr.write('\n');
    } else {
      process.stderr.write(`${this.label}: ${done}/${this.total}${eta > 0 ? ` (ETA ${eta.toFixed(0)}s)` : ''}${note ? ` ${note}` : ''}\n`);
    }
  }
}

/** The model named by --model (folder, llama2.c file or Hub id), with --tokenizer for llama2.c files; downloads report progress unless --json. */
export async function openModel(values: Record<string, unknown>, cmd: Command): Promise<HookedTransformer> {
  const source = required(values, 'model', cmd);
  return loadModel(source, {
    tokenizerPath: typeof values.tokenizer === 'string' ? values.tokenizer : undefined,
    onProgress: values.json ? undefined : (e) => process.stderr.write(`downloading ${e.file}: ${(e.loaded / 2 ** 20).toFixed(1)}${e.total ? `/${(e.total / 2 ** 20).toFixed(1)}` : ''} MiB\n`),
  });
}
