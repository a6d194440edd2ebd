/** The candor command line: thin commands over the library. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CandorError } from '../tensor/errors.js';
import { doctor, formatDoctor } from './doctor.js';

const version = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const USAGE = `candor ${version} — do language models know what they will not say?

Usage: candor <command> [options]

Commands:
  doctor     which GEMM kernel is active, its threads and measured GFLOP/s

Options:
  --json     machine-readable output (every command)
  --help     this text
  --version  the version`;

export class UsageError extends CandorError {
  override name = 'UsageError';
}

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return command === undefined ? 1 : 0;
  }
  if (command === '--version' || command === '-v') {
    console.log(version);
    return 0;
  }
  switch (command) {
    case 'doctor': {
      const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } }, strict: true });
      if (values.help) {
        console.log('Usage: candor doctor [--json]\n\nReports the GEMM kernel in use (native OpenBLAS or portable TypeScript), its thread count and a measured GFLOP/s.\nSet CANDOR_KERNEL=native|portable to choose.');
        return 0;
      }
      const r = doctor(version);
      console.log(values.json ? JSON.stringify(r, null, 2) : formatDoctor(r));
      return 0;
    }
    default:
      throw new UsageError(`unknown command '${command}'. Run \`candor --help\` for the list.`);
  }
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  if (e instanceof CandorError || (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))) {
    console.error(`candor: ${(e as Error).message}`);
    process.exitCode = 2;
  } else {
    throw e;
  }
}
