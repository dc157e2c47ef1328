/** `fovea reasons`: the running kernel's drop-reason table, read from its BTF. */
import { parseArgs } from 'node:util';
import { DropProbe } from '../probes/drop/probe.js';
import { EXIT, type Command, type CommandIo } from './types.js';

export const reasonsCommand: Command = {
  name: 'reasons',
  summary: "Print the running kernel's packet drop reasons (enum skb_drop_reason, from BTF)",
  help: () => [
    'Usage: fovea reasons [--json]',
    '',
    'Prints value and name of every drop reason the running kernel defines, read from',
    '/sys/kernel/btf/vmlinux. These are the values of the fovea.drop.reason attribute; a value',
    'missing here is exported as UNKNOWN_<n>. Needs no privileges beyond reading BTF.',
    '',
    'Options:',
    '  --json      one JSON array of {value, name}',
    '  -h, --help  show this help',
  ].join('\n'),
  async run(args: string[], io: CommandIo): Promise<number> {
    let values;
    try {
      values = parseArgs({ args, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }).values;
    } catch (err) {
      io.stderr.write(`fovea reasons: ${(err as Error).message}\n`);
      return EXIT.usage;
    }
    if (values.help) {
      io.stdout.write(reasonsCommand.help() + '\n');
      return EXIT.ok;
    }
    let reasons;
    try {
      reasons = DropProbe.kernelReasons();
    } catch (err) {
      io.stderr.write(`fovea reasons: ${(err as Error).message}\n`);
      return EXIT.failure;
    }
    const entries = reasons.entries();
    if (values.json) {
      io.stdout.write(JSON.stringify(entries) + '\n');
    } else {
      const w = Math.max(5, ...entries.map((e) => String(e.value).length));
      io.stdout.write(`${'VALUE'.padStart(w)}  NAME\n`);
      for (const e of entries) io.stdout.write(`${String(e.value).padStart(w)}  ${e.name}\n`);
      io.stdout.write(`\n${entries.length} reasons; other values export as UNKNOWN_<n>\n`);
    }
    return EXIT.ok;
  },
};
