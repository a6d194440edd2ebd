/** The candor command line: thin commands over the library. */
import { readFileSync } from 'node:fs';
import { CandorError } from '../tensor/errors.js';
import { UsageError, parse, type Command } from './common.js';
import { doctorCommand, generateCommand, infoCommand, logitsCommand } from './commands.js';
import { attributeCommand, lensCommand, patchCommand, tokensCommand, traceCommand } from './localisation.js';
import { directionCommand, neuronsCommand, probeCommand, steerCommand } from './representation.js';
import { organismCommand } from './organisms.js';
import { auditCommand } from './audit.js';

const version = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const commands: Command[] = [doctorCommand(version), infoCommand, generateCommand, logitsCommand, tokensCommand, lensCommand, attributeCommand, patchCommand, traceCommand, probeCommand, directionCommand, steerCommand, neuronsCommand, organismCommand, auditCommand];

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `candor ${version} — do language models know what they will not say?

Usage: candor <command> [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Every command takes --json for machine-readable output and --help for its options.`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 1 : 0;
  }
  if (name === '--version' || name === '-v') {
    console.log(version);
    return 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (cmd === undefined) throw new UsageError(`unknown command '${name}'. Run \`candor --help\` for the list.`);
  const { values, positionals } = parse(cmd, rest);
  if (values.help) {
    console.log(cmd.usage);
    return 0;
  }
  return cmd.run(values, positionals);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const parseError = e instanceof TypeError && typeof (e as { code?: unknown }).code === 'string' && (e as unknown as { code: string }).code.startsWith('ERR_PARSE_ARGS');
    if (e instanceof CandorError || parseError) {
      process.stderr.write(`candor: ${(e as Error).message}\n`);
      process.exitCode = 2;
    } else {
      throw e;
    }
  },
);
