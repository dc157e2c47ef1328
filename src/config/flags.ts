/** Command-line flags of the agent command: the parseArgs spec, a collecting parser, and --help. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { z } from 'zod';
import { hint, type ConfigIssue } from './issues.js';
import { defaultConfig, schemaAt, unwrapSchema } from './schema.js';
import { CONFIG_FILE_ENV, SETTINGS, type Setting } from './settings.js';

/** node:util parseArgs options. Every entry but `config` and `help` is bound in SETTINGS. */
export const AGENT_FLAGS = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
  'log-level': { type: 'string' },
  'node-name': { type: 'string' },
  interfaces: { type: 'string', multiple: true },
  'exclude-interfaces': { type: 'string', multiple: true },
  'rescan-interval': { type: 'string' },
  'no-drop': { type: 'boolean' },
  'drop-hook': { type: 'string' },
  'no-traffic': { type: 'boolean' },
  'max-interfaces': { type: 'string' },
  'attach-mode': { type: 'string' },
  'no-flows': { type: 'boolean' },
  'max-flows': { type: 'string' },
  'flow-idle-timeout': { type: 'string' },
  'no-dns': { type: 'boolean' },
  'dns-timeout': { type: 'string' },
  'dns-top-names': { type: 'string' },
  'dns-host-interfaces': { type: 'string', multiple: true },
  'no-tcp': { type: 'boolean' },
  'tcp-max-sockets': { type: 'string' },
  'no-netstack': { type: 'boolean' },
  kubernetes: { type: 'string' },
  kubeconfig: { type: 'string' },
  'pod-series-ttl': { type: 'string' },
  netns: { type: 'string', multiple: true },
  'export-interval': { type: 'string' },
  endpoint: { type: 'string' },
  protocol: { type: 'string' },
  'cardinality-limit': { type: 'string' },
  'no-drop-events': { type: 'boolean' },
  'drop-event-rate': { type: 'string' },
  'dns-events': { type: 'string' },
  'no-tcp-events': { type: 'boolean' },
  'tcp-event-rate': { type: 'string' },
  'flow-events': { type: 'boolean' },
  'no-event-export': { type: 'boolean' },
  'observe-socket': { type: 'string' },
  'observe-address': { type: 'string' },
  'health-address': { type: 'string' },
  'prometheus-address': { type: 'string' },
  hubble: { type: 'boolean' },
  'hubble-address': { type: 'string' },
  'hubble-socket': { type: 'string' },
  'hubble-insecure': { type: 'boolean' },
  'bpf-dir': { type: 'string' },
  'shutdown-timeout': { type: 'string' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

export type AgentFlagName = keyof typeof AGENT_FLAGS;

type FlagValueOf<O> = O extends { type: 'boolean' }
  ? O extends { multiple: true } ? boolean[] : boolean
  : O extends { multiple: true } ? string[] : string;

/** Parsed flag values, as parseArgs returns them for AGENT_FLAGS. */
export type FlagValues = { -readonly [K in AgentFlagName]: FlagValueOf<(typeof AGENT_FLAGS)[K]> };

export type ParsedArgs =
  | { readonly ok: true; readonly flags: Partial<FlagValues>; readonly positionals: string[] }
  | { readonly ok: false; readonly issues: ConfigIssue[] };

/**
 * Parse argv (without node and script) against AGENT_FLAGS, reporting every unknown flag (with a
 * "did you mean"), missing value and stray value at once instead of throwing at the first.
 */
export function parseAgentArgs(args: readonly string[]): ParsedArgs {
  const names = Object.keys(AGENT_FLAGS);
  const issues: ConfigIssue[] = [];
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options: AGENT_FLAGS, strict: false, allowPositionals: true, tokens: true });
  } catch (e) {
    return { ok: false, issues: [{ source: 'flag', path: '', origin: args.join(' '), message: (e as Error).message }] };
  }
  for (const t of parsed.tokens) {
    if (t.kind !== 'option') continue;
    const spec = (AGENT_FLAGS as Record<string, { type: 'string' | 'boolean' }>)[t.name];
    if (spec === undefined) {
      issues.push({ source: 'flag', path: '', origin: t.rawName, message: `unknown flag${hint(t.name, names).replace(/"([^"]+)"/, '"--$1"')}` });
    } else if (spec.type === 'string' && t.value === undefined) {
      issues.push({ source: 'flag', path: '', origin: t.rawName, message: 'needs a value' });
    } else if (spec.type === 'string' && !t.inlineValue && t.value?.startsWith('-') === true && t.value.length > 1) {
      // Non-strict parseArgs would swallow the next flag as this one's value.
      issues.push({ source: 'flag', path: '', origin: t.rawName, message: `needs a value (got the flag ${JSON.stringify(t.value)}; use ${t.rawName}=VALUE for a value starting with "-")` });
    } else if (spec.type === 'boolean' && t.inlineValue === true) {
      issues.push({ source: 'flag', path: '', origin: t.rawName, message: `takes no value (got ${JSON.stringify(t.value)})` });
    }
  }
  if (issues.length > 0) return { ok: false, issues };
  const flags: Partial<FlagValues> = {};
  for (const [k, v] of Object.entries(parsed.values)) {
    if (k in AGENT_FLAGS) (flags as Record<string, unknown>)[k] = v;
  }
  return { ok: true, flags, positionals: parsed.positionals };
}

// ---------------------------------------------------------------------------------------------

function valueName(s: Setting): string {
  const node = schemaAt(s.path.split('.'));
  const inner = node === undefined ? undefined : unwrapSchema(node).inner;
  if (inner instanceof z.ZodEnum) return `<${(inner.options as string[]).join('|')}>`;
  switch (s.kind) {
    case 'list': return '<glob,...>';
    case 'duration': return '<duration>';
    case 'number': return '<n>';
    case 'bool': return '<bool>';
    case 'string': return s.path.endsWith('Dir') ? '<dir>' : s.path.endsWith('endpoint') ? '<url>' : '<value>';
  }
}

function showDefault(v: unknown, s: Setting): string {
  if (v === undefined || v === '') return '';
  if (Array.isArray(v)) return ` (default: ${v.length === 0 ? 'none' : v.join(',')})`;
  if (s.kind === 'duration' && typeof v === 'number') return ` (default: ${v}ms)`;
  return ` (default: ${String(v)})`;
}

function getPath(root: unknown, path: string): unknown {
  let v = root;
  for (const seg of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[seg] : undefined;
  return v;
}

/** Help for the agent command: every flag with its description, env variables and default. */
export function agentFlagsHelp(): string {
  const defaults = defaultConfig();
  const rows: [string, string][] = [
    ['-c, --config <path>', `Config file, YAML or JSON [env ${CONFIG_FILE_ENV}]`],
  ];
  for (const s of SETTINGS) {
    const node = schemaAt(s.path.split('.'));
    const description = (node && unwrapSchema(node).description) ?? s.path;
    const env = s.env && s.env.length > 0 ? ` [env ${s.env.join(', else ')}]` : '';
    const left = s.flag === undefined ? `(${s.path})`
      : s.negate || s.kind === 'bool' ? `    --${s.flag}`
        : `    --${s.flag} ${valueName(s)}`;
    const def = s.negate ? ' (default: enabled)' : showDefault(getPath(defaults, s.path), s);
    const repeat = s.kind === 'list' && s.flag !== undefined ? ' (repeatable)' : '';
    rows.push([left, `${s.negate ? `Disable: ${description}` : description}${repeat}${env}${def}`]);
  }
  rows.push(['-h, --help', 'Show this help']);
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return [
    'Options (precedence: flags > environment > config file > defaults):',
    ...rows.map(([l, r]) => `  ${l.padEnd(width)}${r}`),
    '',
    'Durations accept milliseconds or "500ms", "2s", "1m", "1h". Lists are comma-separated.',
    'OTLP export also reads the standard OTEL_EXPORTER_OTLP_* variables, which override the config',
    'file\'s export section; --endpoint, --protocol and --export-interval override both.',
    'With --prometheus-address and no OTLP endpoint set (--endpoint, export.endpoint or',
    'OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT), nothing is sent over OTLP: Prometheus scrapes /metrics.',
  ].join('\n');
}
