/**
 * `fovea observe`: flows and drops from the agent on this node, like `hubble observe`. Connects to
 * the agent's local socket (src/observe/server.ts), sends one request (filter, --last, --follow) and
 * prints what comes back (src/observe/protocol.ts) as a table or JSON lines (src/observe/format.ts).
 */
import { createConnection, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { formatIssues, hint } from '../config/issues.js';
import type { NetworkEvent } from '../events/types.js';
import { parseFilterFlags } from '../observe/filter.js';
import { FollowTable, formatJsonLine, formatLost, formatTable } from '../observe/format.js';
import {
  DEFAULT_OBSERVE_SOCKET, LineSplitter, MAX_MESSAGE_BYTES, OBSERVE_SOCKET_ENV, PROTOCOL_VERSION, encodeRequest,
  parseServerMessage, type ObserveRequest,
} from '../observe/protocol.js';
import { EXIT, type Command, type CommandIo } from './types.js';

/** Without --last, --since or --follow: this many events, then exit (as hubble observe). */
export const DEFAULT_LAST = 20;
const PROG = 'fovea observe';

export const OBSERVE_FLAGS = {
  event: { type: 'string', multiple: true },
  'dns-name': { type: 'string', multiple: true },
  rcode: { type: 'string', multiple: true },
  verdict: { type: 'string', multiple: true },
  reason: { type: 'string', multiple: true },
  pod: { type: 'string', multiple: true },
  namespace: { type: 'string', multiple: true },
  ip: { type: 'string', multiple: true },
  port: { type: 'string', multiple: true },
  protocol: { type: 'string', multiple: true },
  since: { type: 'string' },
  last: { type: 'string' },
  follow: { type: 'boolean', short: 'f' },
  output: { type: 'string', short: 'o' },
  socket: { type: 'string' },
  server: { type: 'string' },
  'no-color': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const OUTPUTS = ['table', 'json'] as const;
type Output = (typeof OUTPUTS)[number];

export const OBSERVE_HELP = [
  'Usage: fovea observe [filters] [--last N | --since TIME] [--follow] [-o table|json]',
  '',
  'Shows the flows, drops and TCP events (resets, failed connects, retransmissions) that the agent',
  'on this node sees, like `hubble observe`: from the',
  "agent's recent history (its last 8192 events by default), then live with --follow. Without",
  `--last, --since or --follow it prints the last ${DEFAULT_LAST} matching events and exits.`,
  '',
  'Filters (each repeatable or comma-separated; the values of one filter are OR-ed, different',
  'filters AND-ed; pod, namespace, IP and port match either end of the event):',
  '  --event <kind>                   drop, flow, reset, connect-failed, retransmit, tcp (the last three), dns',
  '  --dns-name <suffix>              DNS events whose question is that name or under it (svc.cluster.local)',
  '  --rcode <code>                   DNS events with that outcome: NXDOMAIN, SERVFAIL, REFUSED, NOERROR …, TIMEOUT',
  '  --verdict <FORWARDED|DROPPED>    Verdict (drops and flows; TCP events have none)',
  '  --reason <name>                  Kernel drop reason, any case: NETFILTER_DROP, NO_SOCKET ... (`fovea reasons`)',
  '  --pod <[namespace/]name[*]>      Pod by name, in any namespace or in one; a trailing * matches a prefix',
  '  --namespace <name>               Namespace',
  '  --ip <address|cidr>              IPv4 or IPv6 address, or CIDR (10.0.0.0/8, fd00::/64)',
  '  --port <n>                       TCP/UDP port, 0..65535',
  '  --protocol <tcp|udp|icmp|other>  Transport protocol (icmp includes ICMPv6)',
  '',
  'Which events:',
  '  --since <time>                   Events since a duration ago (30s, 5m, 1h) or a time (RFC 3339: 2024-05-01T12:00:00Z)',
  '  --last <n>                       The last n matching events (with --follow: then live ones)',
  '  -f, --follow                     Keep printing new events until Ctrl-C',
  '',
  'Output and connection:',
  '  -o, --output <table|json>        An aligned table (default), or one event as JSON per line',
  '  --no-color                       No colours (also when NO_COLOR is set; colours only on a terminal)',
  `  --socket <path>                  The agent's socket [env ${OBSERVE_SOCKET_ENV}] (default: ${DEFAULT_OBSERVE_SOCKET})`,
  '  --server <host:port>             Connect over TCP instead (only when the agent is configured to listen on it)',
  '  -h, --help                       Show this help',
  '',
  'Examples:',
  '  fovea observe                                        the last 20 events',
  '  fovea observe --verdict DROPPED -f                   every drop, live',
  '  fovea observe --event reset,connect-failed -f        refused and failed connections, live',
  '  fovea observe --rcode NXDOMAIN,TIMEOUT --namespace shop -f   failing DNS lookups of shop\'s pods, live',
  '  fovea observe --pod shop/checkout-* --since 5m       flows and drops of the checkout pods, last 5 minutes',
  '  fovea observe --reason NETFILTER_DROP --port 443 -f  policy drops to or from port 443, live',
  '  fovea observe --ip 10.0.0.0/8 --protocol udp --last 100 -o json | jq .destination',
  '',
  'The socket is readable by root only (events name pods and addresses): run as root or with sudo.',
  'Exit codes: 0 done (also Ctrl-C in --follow), 1 cannot connect or the agent failed, 2 invalid flags.',
].join('\n');

export interface ObserveOptions {
  readonly request: ObserveRequest;
  readonly output: Output;
  readonly color: boolean;
  readonly target: { readonly path: string } | { readonly host: string; readonly port: number };
}

export type ParsedObserveArgs =
  | { readonly kind: 'run'; readonly options: ObserveOptions }
  | { readonly kind: 'help' }
  | { readonly kind: 'error'; readonly message: string };

function parseServer(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65535) return undefined;
  return { host: m[1] ?? m[2] ?? '', port };
}

/** argv → options; every problem reported at once. Pure but for `env` and `isTTY`. */
export function parseObserveArgs(args: readonly string[], env: NodeJS.ProcessEnv, isTTY: boolean, nowMs: number = Date.now()): ParsedObserveArgs {
  let values;
  try {
    ({ values } = parseArgs({ args: [...args], options: OBSERVE_FLAGS, strict: true, allowPositionals: false }));
  } catch (err) {
    const e = err as Error & { code?: string };
    const unknown = /^Unknown option '(-{1,2})([^']+)'/.exec(e.message);
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) {
      const names = Object.keys(OBSERVE_FLAGS);
      const h = hint(unknown[2]!, names).replace(/"([^"]+)"/, '"--$1"');
      return { kind: 'error', message: `unknown flag ${unknown[1]}${unknown[2]}${h}` };
    }
    return { kind: 'error', message: e.message };
  }
  if (values.help) return { kind: 'help' };
  const problems: string[] = [];
  const parsed = parseFilterFlags(values, nowMs);
  if (!parsed.ok) problems.push(formatIssues(parsed.issues));
  let last: number | undefined;
  if (values.last !== undefined) {
    if (!/^\d+$/.test(values.last.trim())) problems.push(`flag --last: expected a whole number of events, got ${JSON.stringify(values.last)}`);
    else last = Math.min(Number(values.last.trim()), Number.MAX_SAFE_INTEGER);
  }
  const output = (values.output ?? 'table').toLowerCase();
  if (!(OUTPUTS as readonly string[]).includes(output)) {
    problems.push(`flag --output: expected one of ${OUTPUTS.join(', ')}, got ${JSON.stringify(values.output)}${hint(output, OUTPUTS)}`);
  }
  let target: ObserveOptions['target'] = { path: values.socket ?? (env[OBSERVE_SOCKET_ENV] || DEFAULT_OBSERVE_SOCKET) };
  if (values.server !== undefined) {
    if (values.socket !== undefined) problems.push('flags --socket and --server: give one of them');
    const server = parseServer(values.server);
    if (server === undefined) problems.push(`flag --server: expected host:port or [ipv6]:port, got ${JSON.stringify(values.server)}`);
    else target = server;
  }
  if (values.socket === '') problems.push('flag --socket: needs a path');
  if (problems.length > 0 || !parsed.ok) return { kind: 'error', message: problems.join('\n') };
  const follow = values.follow === true;
  // hubble's default: a screenful of recent events, then exit
  const effectiveLast = last ?? (follow ? (values.since === undefined ? 0 : undefined) : (values.since === undefined ? DEFAULT_LAST : undefined));
  const noColor = values['no-color'] === true || (env['NO_COLOR'] ?? '') !== '' || env['TERM'] === 'dumb';
  return {
    kind: 'run',
    options: {
      request: { v: PROTOCOL_VERSION, filter: parsed.filter, follow, ...(effectiveLast !== undefined ? { last: effectiveLast } : {}) },
      output: output as Output,
      color: isTTY && !noColor,
      target,
    },
  };
}

const targetText = (t: ObserveOptions['target']): string => ('path' in t ? t.path : `${t.host}:${t.port}`);

/** A failed connect → what to do about it. */
export function connectErrorMessage(err: NodeJS.ErrnoException, target: ObserveOptions['target']): string {
  const where = targetText(target);
  if ('path' in target) {
    switch (err.code) {
      case 'ENOENT':
        return `no agent socket at ${where}: is the agent running on this node? it listens on ${DEFAULT_OBSERVE_SOCKET} `
          + `unless configured otherwise (point to another path with --socket or ${OBSERVE_SOCKET_ENV})`;
      case 'ECONNREFUSED':
        return `nothing is listening on ${where} (a socket left by an agent that stopped?): is the agent running on this node?`;
      case 'EACCES':
      case 'EPERM':
        return `permission denied on ${where}: the socket is for root only (events name pods and addresses); run fovea observe as root (sudo)`;
      case 'ENOTSOCK':
        return `${where} is not a socket: point --socket at the agent's observe socket (default ${DEFAULT_OBSERVE_SOCKET})`;
    }
  } else if (err.code === 'ECONNREFUSED') {
    return `nothing is listening on ${where}: is the agent configured to serve fovea observe on this TCP address?`;
  }
  return `cannot connect to ${where}: ${err.message}`;
}

export const observeCommand: Command = {
  name: 'observe',
  summary: 'Watch flows and drops on this node live, with filters (like hubble observe)',
  help: () => OBSERVE_HELP,
  run: runObserve,
};

async function runObserve(args: string[], io: CommandIo): Promise<number> {
  const parsed = parseObserveArgs(args, io.env, io.stdout.isTTY === true);
  if (parsed.kind === 'error') {
    io.stderr.write(`${PROG}: ${parsed.message.split('\n').join(`\n${PROG}: `)}\n\nRun \`fovea observe --help\` for the flags.\n`);
    return EXIT.usage;
  }
  if (parsed.kind === 'help') {
    io.stdout.write(OBSERVE_HELP + '\n');
    return EXIT.ok;
  }
  return new ObserveSession(parsed.options, io).run();
}

/** One connection: request out, lines in, output written with the terminal's pace. */
class ObserveSession {
  private readonly splitter = new LineSplitter(MAX_MESSAGE_BYTES);
  private readonly collected: NetworkEvent[] = [];
  private readonly follow: FollowTable | undefined;
  private socket: Socket | undefined;
  private connected = false;
  private finished = false;
  private waitingDrain = false;
  private resolve: (code: number) => void = () => undefined;

  constructor(private readonly opts: ObserveOptions, private readonly io: CommandIo) {
    this.follow = opts.request.follow && opts.output === 'table' ? new FollowTable({ color: opts.color }) : undefined;
  }

  run(): Promise<number> {
    const done = new Promise<number>((resolve) => { this.resolve = resolve; });
    const onSignal = (): void => this.finish(EXIT.ok);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const t = this.opts.target;
    const sock = 'path' in t ? createConnection({ path: t.path }) : createConnection({ host: t.host, port: t.port });
    this.socket = sock;
    sock.setTimeout(10_000, () => { if (!this.connected) this.finish(EXIT.failure, `cannot connect to ${targetText(t)}: timed out`); });
    sock.on('connect', () => {
      this.connected = true;
      sock.setTimeout(0);
      sock.write(encodeRequest(this.opts.request));
      if (this.follow) this.out(this.follow.header());
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      this.finish(EXIT.failure, this.connected ? `the agent closed the connection (${err.code ?? err.message})` : connectErrorMessage(err, t));
    });
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('close', () => {
      this.finish(EXIT.failure, this.opts.request.follow
        ? 'the agent closed the connection (did it stop or restart?)'
        : 'the agent closed the connection before it had sent every event');
    });
    return done.finally(() => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    });
  }

  private onData(chunk: Buffer): void {
    if (this.finished) return;
    const lines = this.splitter.push(chunk);
    if (lines === undefined) {
      this.finish(EXIT.failure, `the agent sent a line longer than ${MAX_MESSAGE_BYTES} bytes`);
      return;
    }
    for (const line of lines) {
      const msg = parseServerMessage(line);
      if (!msg.ok) { this.finish(EXIT.failure, msg.message); return; }
      const m = msg.value;
      switch (m.type) {
        case 'event':
          if (this.opts.output === 'json') this.out(formatJsonLine(m.event));
          else if (this.follow) this.out(this.follow.row(m.event));
          else this.collected.push(m.event);
          break;
        case 'lost':
          this.io.stderr.write(formatLost(m.count));
          break;
        case 'error':
          this.finish(EXIT.failure, `the agent refused the request: ${m.message}`);
          return;
        case 'end':
          if (this.opts.output === 'table') {
            if (this.collected.length > 0) this.out(formatTable(this.collected, { color: this.opts.color }));
            else this.io.stderr.write(`${PROG}: no matching events in the agent's recent history\n`);
          }
          this.finish(EXIT.ok);
          return;
      }
    }
  }

  /** Writes to stdout; while stdout is full, stops reading the socket (the agent then drops, and says so). */
  private out(text: string): void {
    const stdout = this.io.stdout;
    if (stdout.write(text) || this.waitingDrain || typeof stdout.once !== 'function' || this.socket === undefined) return;
    const sock = this.socket;
    this.waitingDrain = true;
    sock.pause();
    stdout.once('drain', () => {
      this.waitingDrain = false;
      if (!this.finished) sock.resume();
    });
  }

  private finish(code: number, message?: string): void {
    if (this.finished) return;
    this.finished = true;
    if (message !== undefined) this.io.stderr.write(`${PROG}: ${message}\n`);
    this.socket?.destroy();
    this.resolve(code);
  }
}
