import { describe, expect, it } from 'vitest';
import {
  AGENT_FLAGS, SETTINGS, agentFlagsHelp, defaultConfig, formatIssues, loadConfig, parseAgentArgs,
  parseDuration, type ConfigSources, type LoadResult,
} from '../../src/config/index.js';

/** loadConfig with in-memory files: no disk, no process.env. */
function load(opts: { files?: Record<string, string>; file?: string; env?: Record<string, string>; flags?: ConfigSources['flags'] }): LoadResult {
  const files = opts.files ?? {};
  return loadConfig({
    ...(opts.file === undefined ? {} : { file: opts.file }),
    env: opts.env ?? {},
    flags: opts.flags ?? {},
    readFile: (p) => {
      const text = files[p];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
      return text;
    },
  });
}

function ok(r: LoadResult) {
  if (!r.ok) throw new Error(`expected ok, got:\n${formatIssues(r.issues)}`);
  return r;
}
function issues(r: LoadResult) {
  if (r.ok) throw new Error('expected issues, got a config');
  return r.issues;
}

describe('defaults', () => {
  it('come from the schema alone', () => {
    const r = ok(load({}));
    expect(r.config).toEqual({
      logLevel: 'info',
      nodeName: '',
      interfaces: [],
      excludeInterfaces: ['lo'],
      interfaceRescanIntervalMs: 2000,
      probes: { drop: { enabled: true, hook: 'auto' }, traffic: { enabled: true, maxInterfaces: 4096, attachMode: 'auto' }, flows: { enabled: true, maxFlows: 262144, idleTimeoutMs: 120000 }, dns: { enabled: true, timeoutMs: 5000, maxPending: 16384, maxKeys: 16384, hostInterfaces: [], names: { top: 0, max: 200, tableSize: 4096 } }, tcp: { enabled: true, maxConnections: 16384, maxSockets: 131072, idleTimeoutMs: 120000 }, netstack: { enabled: true } },
      kubernetes: { mode: 'auto', kubeconfig: '' },
      pods: { seriesTtlMs: 300000, podNames: false, addresses: false, clientPorts: false },
      standalone: { netns: [] },
      events: {
        drops: { enabled: true, ratePerCpu: 100, ringBufferBytes: 1048576, symbolize: true },
        flows: { enabled: false, intervalMs: 5000 },
        dns: { mode: 'failed', ratePerCpu: 100, ringBufferBytes: 1048576 },
        tcp: { enabled: true, ratePerCpu: 100, ringBufferBytes: 262144 },
        drainIntervalMs: 100,
        idleDrainIntervalMs: 1_000,
        export: { enabled: true, maxQueue: 10000, maxBatch: 512, maxInFlight: 1 },
      },
      health: { address: '' },
      prometheus: { address: '' },
      hubble: {
        enabled: false, address: ':4244', socket: '/run/fovea/hubble.sock', bufferSize: 4095, clusterName: 'default', maxClients: 64,
        tls: { certFile: '', keyFile: '', clientCaFile: '', reloadIntervalMs: 60000, insecure: false },
      },
      observe: { enabled: true, socket: '/run/fovea/observe.sock', address: '', historySize: 8192 },
      export: { cardinalityLimit: 2000 },
      bpfObjectDir: '',
      shutdownTimeoutMs: 2000,
    });
    expect(r.config).toEqual(defaultConfig());
    expect(r.sources.logLevel).toBe('default');
    expect(r.sources['export.endpoint']).toBeUndefined(); // unset, left to OTEL_* / the exporter
    expect(r.file).toBeUndefined();
    expect(r.warnings).toEqual([]);
  });

  it('an empty file is an all-defaults file', () => {
    expect(ok(load({ file: 'e.yaml', files: { 'e.yaml': '# nothing\n' } })).config).toEqual(defaultConfig());
  });

  it('the config is frozen', () => {
    const { config } = ok(load({}));
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.probes.traffic)).toBe(true);
    expect(Object.isFrozen(config.excludeInterfaces)).toBe(true);
  });
});

describe('precedence: defaults < file < env < flags', () => {
  const files = {
    'f.yaml': [
      'logLevel: debug',
      'nodeName: from-file',
      'interfaces: [eth0]',
      'shutdownTimeoutMs: 5000',
      'probes:',
      '  traffic:',
      '    maxInterfaces: 128',
      'export:',
      '  endpoint: http://file:4317',
      '  protocol: grpc',
    ].join('\n'),
  };

  it('file over defaults', () => {
    const r = ok(load({ file: 'f.yaml', files }));
    expect(r.config.logLevel).toBe('debug');
    expect(r.config.probes.traffic).toEqual({ enabled: true, maxInterfaces: 128, attachMode: 'auto' });
    expect(r.config.export).toEqual({ endpoint: 'http://file:4317', protocol: 'grpc', cardinalityLimit: 2000 });
    expect(r.file).toEqual({ path: 'f.yaml', format: 'yaml' });
  });

  it('env over file, flags over env; lists are replaced, not concatenated', () => {
    const r = ok(load({
      file: 'f.yaml',
      files,
      env: { FOVEA_LOG_LEVEL: 'warn', FOVEA_NODE_NAME: 'from-env', FOVEA_INTERFACES: 'eth1', FOVEA_SHUTDOWN_TIMEOUT: '3s' },
      flags: { 'log-level': 'error', interfaces: ['eth2'], endpoint: 'https://flag:4318', 'no-traffic': true },
    }));
    expect(r.config.logLevel).toBe('error');
    expect(r.config.nodeName).toBe('from-env');
    expect(r.config.interfaces).toEqual(['eth2']);
    expect(r.config.shutdownTimeoutMs).toBe(3000);
    expect(r.config.probes.traffic).toEqual({ enabled: false, maxInterfaces: 128, attachMode: 'auto' });
    expect(r.config.export.endpoint).toBe('https://flag:4318');
    expect(r.config.export.protocol).toBe('grpc');
    expect(r.sources).toMatchObject({
      logLevel: 'flag', nodeName: 'env', interfaces: 'flag', shutdownTimeoutMs: 'env',
      'probes.traffic.enabled': 'flag', 'probes.traffic.maxInterfaces': 'file',
      'export.endpoint': 'flag', 'export.protocol': 'file', excludeInterfaces: 'default',
    });
  });

  it('node name: FOVEA_NODE_NAME, else K8S_NODE_NAME, else NODE_NAME; empty counts as unset', () => {
    expect(ok(load({ env: { NODE_NAME: 'c', K8S_NODE_NAME: 'b', FOVEA_NODE_NAME: 'a' } })).config.nodeName).toBe('a');
    expect(ok(load({ env: { NODE_NAME: 'c', K8S_NODE_NAME: 'b', FOVEA_NODE_NAME: '' } })).config.nodeName).toBe('b');
    expect(ok(load({ env: { NODE_NAME: 'c' } })).config.nodeName).toBe('c');
    expect(ok(load({ env: { NODE_NAME: 'c' }, flags: { 'node-name': 'd' } })).config.nodeName).toBe('d');
  });

  it('the file path comes from `file`, else --config, else FOVEA_CONFIG', () => {
    const fs = { 'a.yaml': 'logLevel: warn', 'b.yaml': 'logLevel: error', 'c.yaml': 'logLevel: debug' };
    expect(ok(load({ files: fs, env: { FOVEA_CONFIG: 'c.yaml' } })).config.logLevel).toBe('debug');
    expect(ok(load({ files: fs, env: { FOVEA_CONFIG: 'c.yaml' }, flags: { config: 'b.yaml' } })).config.logLevel).toBe('error');
    expect(ok(load({ files: fs, file: 'a.yaml', flags: { config: 'b.yaml' } })).config.logLevel).toBe('warn');
  });

  it('env booleans', () => {
    expect(ok(load({ env: { FOVEA_PROBE_DROP: 'false' } })).config.probes.drop.enabled).toBe(false);
    expect(ok(load({ env: { FOVEA_PROBE_DROP: ' OFF ' } })).config.probes.drop.enabled).toBe(false);
    expect(ok(load({ env: { FOVEA_PROBE_NETSTACK: 'no' } })).config.probes.netstack.enabled).toBe(false);
    expect(ok(load({ flags: { 'no-netstack': true } })).config.probes.netstack.enabled).toBe(false);
    expect(ok(load({ env: { FOVEA_PROBE_TRAFFIC: '0' }, flags: { 'no-drop': true } })).config.probes)
      .toEqual({ drop: { enabled: false, hook: 'auto' }, traffic: { enabled: false, maxInterfaces: 4096, attachMode: 'auto' }, flows: { enabled: true, maxFlows: 262144, idleTimeoutMs: 120000 }, dns: { enabled: true, timeoutMs: 5000, maxPending: 16384, maxKeys: 16384, hostInterfaces: [], names: { top: 0, max: 200, tableSize: 4096 } }, tcp: { enabled: true, maxConnections: 16384, maxSockets: 131072, idleTimeoutMs: 120000 }, netstack: { enabled: true } });
    expect(ok(load({ env: { FOVEA_PROBE_TCP: 'off' } })).config.probes.tcp.enabled).toBe(false);
    expect(ok(load({ flags: { 'no-tcp-events': true } })).config.events.tcp.enabled).toBe(false);
  });

  it('JSON files, chosen by extension or content', () => {
    const files = { 'c.json': '{"logLevel":"trace","excludeInterfaces":["lo","docker*"]}', 'c.conf': '  {"logLevel":"warn"}' };
    const a = ok(load({ file: 'c.json', files }));
    expect(a.config.logLevel).toBe('trace');
    expect(a.config.excludeInterfaces).toEqual(['lo', 'docker*']);
    expect(a.file?.format).toBe('json');
    expect(ok(load({ file: 'c.conf', files })).file?.format).toBe('json');
  });
});

describe('every issue at once', () => {
  it('3 bad file values + 1 bad env var → 4 issues, each naming its place', () => {
    const r = load({
      file: 'bad.yaml',
      files: {
        'bad.yaml': [
          'logLevel: verbose',
          'probes:',
          '  traffic:',
          '    maxInterfaces: 100000',
          'export:',
          '  compression: zstd',
        ].join('\n'),
      },
      env: { FOVEA_SHUTDOWN_TIMEOUT: 'soon' },
    });
    const list = issues(r);
    expect(list).toHaveLength(4);
    expect(list).toContainEqual({ source: 'file', path: 'probes.traffic.maxInterfaces', message: 'must be ≤ 65536 (got 100000)', origin: 'bad.yaml:4:20' });
    expect(list).toContainEqual(expect.objectContaining({ source: 'file', path: 'logLevel', origin: 'bad.yaml:1:11' }));
    expect(list).toContainEqual(expect.objectContaining({ source: 'file', path: 'export.compression', origin: 'bad.yaml:6:16' }));
    expect(list).toContainEqual(expect.objectContaining({ source: 'env', path: 'shutdownTimeoutMs', origin: 'FOVEA_SHUTDOWN_TIMEOUT' }));

    const text = formatIssues(list);
    expect(text.split('\n')).toHaveLength(4);
    expect(text).toContain('config file bad.yaml:4:20: probes.traffic.maxInterfaces: must be ≤ 65536 (got 100000)');
    expect(text).toContain('env FOVEA_SHUTDOWN_TIMEOUT: shutdownTimeoutMs: must be a duration');
  });

  it('env and flag problems name the variable and the flag', () => {
    const list = issues(load({
      env: { FOVEA_LOG_LEVEL: 'warning', FOVEA_PROBE_DROP: 'maybe', FOVEA_TRAFFIC_MAX_INTERFACES: 'lots' },
      flags: { protocol: 'grpcc', 'cardinality-limit': '0', endpoint: 'collector:4317' },
    }));
    expect(formatIssues(list).split('\n').sort()).toEqual([
      'env FOVEA_LOG_LEVEL: logLevel: must be one of trace, debug, info, warn, error, silent (got "warning"; did you mean "warn"?)',
      'env FOVEA_PROBE_DROP: probes.drop.enabled: must be true or false (got "maybe")',
      'env FOVEA_TRAFFIC_MAX_INTERFACES: probes.traffic.maxInterfaces: must be a number (got "lots")',
      'flag --cardinality-limit: export.cardinalityLimit: must be ≥ 1 (got 0)',
      'flag --endpoint: export.endpoint: must be an http:// or https:// URL (got "collector:4317")',
      'flag --protocol: export.protocol: must be one of grpc, http/protobuf (got "grpcc"; did you mean "grpc"?)',
    ]);
  });

  it('a missing file is an issue, reported with the others', () => {
    const list = issues(load({ file: '/etc/fovea/nope.yaml', env: { FOVEA_LOG_LEVEL: 'loud' } }));
    expect(list).toEqual([
      { source: 'file', path: '', origin: '/etc/fovea/nope.yaml', message: 'cannot read config file: no such file (ENOENT)' },
      expect.objectContaining({ source: 'env', path: 'logLevel' }),
    ]);
  });

  it('a file that is not a mapping is an issue', () => {
    expect(issues(load({ file: 'l.yaml', files: { 'l.yaml': '- a\n- b\n' } }))[0]?.message).toMatch(/mapping/);
  });

  it('wrong types are reported with what was written', () => {
    const list = issues(load({ file: 't.yaml', files: { 't.yaml': 'interfaces: eth0\nprobes:\n  drop:\n    enabled: yes\nexport:\n  headers: {a: 1}\n' } }));
    expect(list.map((i) => `${i.path}: ${i.message}`).sort()).toEqual([
      'export.headers.a: must be a string (got 1)',
      'interfaces: must be a list (got "eth0")',
      'probes.drop.enabled: must be true or false (got "yes")',
    ]);
  });
});

describe('unknown keys', () => {
  it('are rejected with a "did you mean" hint when close to a known key', () => {
    const list = issues(load({
      file: 'u.yaml',
      files: { 'u.yaml': 'loglevel: info\nprobes:\n  trafic:\n    enabled: false\nexport:\n  timeout_ms: 10\nbogus: 1\n' },
    }));
    const byPath = Object.fromEntries(list.map((i) => [i.path, i]));
    expect(byPath.loglevel?.message).toBe('unknown key; did you mean "logLevel"?');
    expect(byPath.loglevel?.origin).toBe('u.yaml:1:11');
    expect(byPath['probes.trafic']?.message).toBe('unknown key; did you mean "traffic"?');
    expect(byPath['export.timeout_ms']?.message).toBe('unknown key; did you mean "timeoutMs"?');
    expect(byPath.bogus?.message).toMatch(/^unknown key \(known: logLevel, nodeName, /);
    expect(list).toHaveLength(4);
  });

  it('unknown FOVEA_* variables are warnings with a hint; Kubernetes service links are ignored', () => {
    const r = ok(load({ env: { FOVEA_INTERFACS: 'eth0', FOVEA_SERVICE_HOST: '10.0.0.1', FOVEA_PORT: 'tcp://x', PATH: '/bin' } }));
    expect(r.warnings).toEqual([
      { source: 'env', path: '', origin: 'FOVEA_INTERFACS', message: 'unknown variable, ignored; did you mean "FOVEA_INTERFACES"?' },
    ]);
  });
});

describe('durations', () => {
  it('parseDuration', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('2s')).toBe(2000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('1m')).toBe(60000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('250')).toBe(250);
    expect(parseDuration(' 3 s ')).toBe(3000);
    expect(parseDuration(750)).toBe(750);
    expect(parseDuration('2d')).toBe('2d');
  });

  it('are accepted wherever a *Ms key is, from every source', () => {
    const r = ok(load({
      file: 'd.yaml',
      files: { 'd.yaml': 'interfaceRescanIntervalMs: 5s\nexport:\n  timeoutMs: 10s\n  intervalMs: 1m\n' },
      env: { FOVEA_SHUTDOWN_TIMEOUT: '500ms' },
      flags: { 'rescan-interval': '250' },
    }));
    expect(r.config.interfaceRescanIntervalMs).toBe(250);
    expect(r.config.export.timeoutMs).toBe(10_000);
    expect(r.config.export.intervalMs).toBe(60_000);
    expect(r.config.shutdownTimeoutMs).toBe(500);
  });

  it('out of range or malformed durations quote what was written', () => {
    const list = issues(load({
      file: 'd.yaml',
      files: { 'd.yaml': 'interfaceRescanIntervalMs: 2m\nexport:\n  intervalMs: 50ms\n  timeoutMs: 0.5ms\n' },
      flags: { 'shutdown-timeout': 'forever' },
    }));
    expect(list.map((i) => `${i.path}: ${i.message}`).sort()).toEqual([
      'export.intervalMs: must be ≥ 100 ms (got "50ms")',
      'export.timeoutMs: must be a whole number of milliseconds (got "0.5ms")',
      'interfaceRescanIntervalMs: must be ≤ 60000 ms (got "2m")',
      'shutdownTimeoutMs: must be a duration (milliseconds, or a string like "500ms", "2s", "1m") (got "forever")',
    ]);
  });
});

describe('syntax errors', () => {
  it('bad YAML is an issue with line and column, not a throw', () => {
    const list = issues(load({ file: 'y.yaml', files: { 'y.yaml': 'logLevel: info\ninterfaces: [eth0\nnodeName: x\n' } }));
    expect(list.length).toBeGreaterThan(0);
    expect(list[0]).toMatchObject({ source: 'file', path: '' });
    expect(list[0]?.origin).toMatch(/^y\.yaml:3:\d+$/);
    expect(list[0]?.message).toMatch(/^YAML syntax error: /);
  });

  it('duplicate YAML keys are an error', () => {
    const list = issues(load({ file: 'y.yaml', files: { 'y.yaml': 'logLevel: info\nlogLevel: debug\n' } }));
    expect(list[0]?.origin).toMatch(/^y\.yaml:2:/);
  });

  it('bad JSON is an issue with line and column', () => {
    const list = issues(load({ file: 'j.json', files: { 'j.json': '{\n  "logLevel": "info",\n}\n' } }));
    expect(list).toHaveLength(1);
    expect(list[0]?.origin).toBe('j.json:3:1');
    expect(list[0]?.message).toMatch(/^JSON syntax error: /);
  });
});

describe('interfaces', () => {
  it('globs are preserved as written', () => {
    const r = ok(load({
      file: 'g.yaml',
      files: { 'g.yaml': 'interfaces: ["eth*", "ens?", "veth[0-9]*", bond0]\nexcludeInterfaces: ["*.100", lo]\n' },
    }));
    expect(r.config.interfaces).toEqual(['eth*', 'ens?', 'veth[0-9]*', 'bond0']);
    expect(r.config.excludeInterfaces).toEqual(['*.100', 'lo']);
  });

  it('env comma lists are trimmed, empty items dropped', () => {
    const r = ok(load({ env: { FOVEA_INTERFACES: ' eth0 , ens*,, veth[ab]* ,', FOVEA_EXCLUDE_INTERFACES: 'lo,docker0' } }));
    expect(r.config.interfaces).toEqual(['eth0', 'ens*', 'veth[ab]*']);
    expect(r.config.excludeInterfaces).toEqual(['lo', 'docker0']);
  });

  it('repeated and comma-separated flags concatenate', () => {
    expect(ok(load({ flags: { interfaces: ['eth0,eth1', ' ens* '] } })).config.interfaces).toEqual(['eth0', 'eth1', 'ens*']);
  });

  it('bad names and globs are reported per item', () => {
    const list = issues(load({ flags: { interfaces: ['eth0', 'averyveryverylongname', 'veth[0-9', 'a/b'] } }));
    expect(list.map((i) => i.path)).toEqual(['interfaces[1]', 'interfaces[2]', 'interfaces[3]']);
    expect(list.every((i) => i.origin === '--interfaces')).toBe(true);
  });
});

describe('flags', () => {
  it('every AGENT_FLAGS entry but config/help is bound to exactly one setting', () => {
    const bound = SETTINGS.flatMap((s) => (s.flag === undefined ? [] : [s.flag]));
    expect(new Set(bound).size).toBe(bound.length);
    expect([...bound, 'config', 'help'].sort()).toEqual(Object.keys(AGENT_FLAGS).sort());
  });

  it('help lists every flag with its env variable and default', () => {
    const help = agentFlagsHelp();
    for (const name of Object.keys(AGENT_FLAGS)) expect(help).toContain(`--${name}`);
    for (const env of SETTINGS.flatMap((s) => s.env ?? [])) expect(help).toContain(env);
    expect(help).toMatch(/--log-level <trace\|debug\|info\|warn\|error\|silent>\s+Log level \[env FOVEA_LOG_LEVEL\] \(default: info\)/);
    expect(help).toMatch(/--exclude-interfaces .*\(default: lo\)/);
    expect(help).toMatch(/--max-interfaces .*\(default: 4096\)/);
  });

  it('parseAgentArgs returns flags usable by loadConfig', () => {
    const p = parseAgentArgs(['-c', 'f.yaml', '--interfaces', 'eth0', '--interfaces=ens*', '--no-drop', '--log-level', 'debug']);
    expect(p).toEqual({ ok: true, positionals: [], flags: { config: 'f.yaml', interfaces: ['eth0', 'ens*'], 'no-drop': true, 'log-level': 'debug' } });
    if (!p.ok) return;
    const r = ok(load({ flags: p.flags, files: { 'f.yaml': 'nodeName: n1' } }));
    expect(r.config).toMatchObject({ nodeName: 'n1', interfaces: ['eth0', 'ens*'], logLevel: 'debug', probes: { drop: { enabled: false } } });
  });

  it('parseAgentArgs reports every bad flag at once', () => {
    const p = parseAgentArgs(['--interfacs', 'eth0', '--no-drop=1', '--log-level', '--endpoint']);
    expect(p.ok).toBe(false);
    if (p.ok) return;
    expect(formatIssues(p.issues).split('\n')).toEqual([
      'flag --interfacs: unknown flag; did you mean "--interfaces"?',
      'flag --no-drop: takes no value (got "1")',
      'flag --log-level: needs a value (got the flag "--endpoint"; use --log-level=VALUE for a value starting with "-")',
    ]);
  });
});

describe('DNS names on metrics', () => {
  it('--dns-top-names over FOVEA_DNS_TOP_NAMES over the file; 0 turns names off; bad values name their source', () => {
    expect(ok(load({})).config.probes.dns.names).toEqual({ top: 0, max: 200, tableSize: 4096 });
    const file = { 'f.yaml': 'probes:\n  dns:\n    names: { top: 3, max: 50 }\n' };
    expect(ok(load({ files: file, file: 'f.yaml' })).config.probes.dns.names).toEqual({ top: 3, max: 50, tableSize: 4096 });
    expect(ok(load({ files: file, file: 'f.yaml', env: { FOVEA_DNS_TOP_NAMES: '5' } })).config.probes.dns.names.top).toBe(5);
    expect(ok(load({ env: { FOVEA_DNS_TOP_NAMES: '5' }, flags: { 'dns-top-names': '0' } })).config.probes.dns.names.top).toBe(0);
    const bad = issues(load({ env: { FOVEA_DNS_TOP_NAMES: '-1' } }));
    expect(formatIssues(bad)).toContain('FOVEA_DNS_TOP_NAMES');
    expect(formatIssues(issues(load({ flags: { 'dns-top-names': 'many' } })))).toContain('--dns-top-names');
    expect(formatIssues(issues(load({ files: { 'g.yaml': 'probes: { dns: { names: { max: 0 } } }' }, file: 'g.yaml' })))).toContain('probes.dns.names.max');
  });
});

describe('reading from disk (the default readFile)', () => {
  it('reads a real file, and reports missing files and directories as issues', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'fovea-config-'));
    const path = join(dir, 'fovea.yml');
    writeFileSync(path, 'logLevel: debug\n');
    const good = loadConfig({ file: path, env: {}, flags: {} });
    expect(good.ok && good.config.logLevel).toBe('debug');
    const missing = loadConfig({ file: join(dir, 'none.yaml'), env: {}, flags: {} });
    expect(!missing.ok && missing.issues[0]?.message).toBe('cannot read config file: no such file (ENOENT)');
    const isDir = loadConfig({ file: dir, env: {}, flags: {} });
    expect(!isDir.ok && isDir.issues[0]?.message).toBe('cannot read config file: is a directory (EISDIR)');
    rmSync(dir, { recursive: true, force: true });
  });
});
