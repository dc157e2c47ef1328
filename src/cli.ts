/**
 * The `fovea` command line: picks a command and runs it. Composition only; each command lives in
 * src/commands/.
 */
import { COMMANDS } from './commands/index.js';
import { EXIT, type CommandIo } from './commands/types.js';
import { packageVersion } from './export/resource.js';

export function usage(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'fovea — eBPF network observability: kernel drop reasons and traffic, exported as OTLP',
    '',
    'Usage: fovea <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}${c.summary}`),
    '',
    'Run `fovea <command> --help` for the options of a command.',
  ].join('\n');
}

export async function main(argv: string[], io: CommandIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const entry = name === 'help' && rest[0] ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    io.stdout.write((entry ? (await entry.load()).help() : usage()) + '\n');
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(`${packageVersion()}\n`);
    return EXIT.ok;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    io.stderr.write(`fovea: unknown command "${name}"\n\n${usage()}\n`);
    return EXIT.usage;
  }
  return (await entry.load()).run(rest, io);
}
