/** `fovea reasons`: the running kernel's drop-reason table, read from its BTF. */
import { parseArgs } from 'node:util';
import { DropProbe } from '../probes/drop/probe.js';
import { DROP_REASON_NONE_GIVEN } from '../probes/drop/layout.js';
import { NO_KERNEL_REASON } from '../probes/drop/reasons.js';
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
    `A kernel older than 5.17 gives no reasons: then the one value is ${NO_KERNEL_REASON}, and`,
    'drops are told apart by the kernel function that freed them (fovea.drop.location).',
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
    let entries: Array<{ value: number; name: string }>;
    let given: boolean;
    try {
      const reasons = DropProbe.kernelReasonsIfGiven();
      given = reasons !== undefined;
      entries = reasons ? reasons.entries() : [{ value: DROP_REASON_NONE_GIVEN, name: NO_KERNEL_REASON }];
    } catch (err) {
      io.stderr.write(`fovea reasons: ${(err as Error).message}\n`);
      return EXIT.failure;
    }
    if (values.json) {
      io.stdout.write(JSON.stringify(entries) + '\n');
    } else {
      const w = Math.max(5, ...entries.map((e) => String(e.value).length));
      io.stdout.write(`${'VALUE'.padStart(w)}  NAME\n`);
      for (const e of entries) io.stdout.write(`${String(e.value).padStart(w)}  ${e.name}\n`);
      io.stdout.write(given
        ? `\n${entries.length} reasons; other values export as UNKNOWN_<n>\n`
        : `\nthis kernel gives no drop reasons (skb:kfree_skb has no reason argument before 5.17): every drop is ${NO_KERNEL_REASON},\n`
          + 'counted by the kernel function that freed the packet (fovea.drop.location)\n');
    }
    return EXIT.ok;
  },
};
