/**
 * deploy/dashboards: Grafana dashboards that import anywhere (a Prometheus data source variable,
 * unique ids), whose every query is valid PromQL (`promtool check rules` over a rules file made
 * of them) and asks only for metrics Fovea emits and labels its series carry.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { INSTRUMENTS } from '../../src/names.js';
import {
  PROM_LABELS, PROM_METRICS, REPO, TOOLS, describeWithTools, grafanaQueryRefs, promLabelsFor, promqlRefs, run, substituteGrafanaVariables,
} from './helpers.js';

const DIR = join(REPO, 'deploy/dashboards');
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

interface Target { refId: string; expr: string; legendFormat?: string; datasource?: { type: string; uid: string } }
interface Panel { id: number; type: string; title: string; gridPos: { h: number; w: number; x: number; y: number }; datasource?: { type: string; uid: string }; targets?: Target[]; panels?: Panel[] }
interface Variable { name: string; type: string; query: string | { query: string }; datasource?: { uid: string } }
interface Dashboard { uid: string; title: string; schemaVersion: number; panels: Panel[]; templating: { list: Variable[] } }

const dashboards = FILES.map((f) => [f, JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Dashboard] as const);
const allPanels = (d: Dashboard): Panel[] => d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queryOf = (v: Variable): string => (typeof v.query === 'string' ? v.query : v.query.query);
const BUILTIN_VARIABLES = new Set(['__rate_interval', '__range', '__interval', 'datasource']);

describe('deploy/dashboards', () => {
  it('cover node drops by reason, top dropping pods and workloads, pod traffic, workload flows, TCP health, DNS and agent health', () => {
    const titles = dashboards.flatMap(([, d]) => allPanels(d).map((p) => p.title));
    for (const t of ['Drops by kernel reason', 'Top dropping pods', 'Top dropping workloads', 'Pod traffic', 'Flows between workloads', 'Probes', 'Losses and failures',
      'Retransmissions between workloads', 'Retransmission ratio between workloads (top 10)', 'Top retransmitting pods', 'Resets sent and received by pods (top 10)',
      'Failed connects between workloads (top 10)', 'Handshake time between workloads (slowest 10)', 'RTT between workloads (slowest 10)',
      'Pod connections by state (top 15)', 'Connections opened, closed and failed',
      'Query rate by response code (clients)', 'Failed lookup ratio per client workload (top 10)', 'DNS timeouts per client pod (top 10)',
      'Lookup latency between workloads (slowest 10)', 'Queries received per DNS server pod', 'DNS server latency per pod (p50, p99)',
      'Error codes sent per DNS server pod', 'Empty answers (NODATA) per client workload (top 10)']) {
      expect(titles).toContain(t);
    }
    expect(dashboards.map(([, d]) => d.uid).sort()).toEqual(['fovea-agent', 'fovea-dns', 'fovea-drops', 'fovea-tcp', 'fovea-traffic']);
    const kustomization = readFileSync(join(DIR, 'kustomization.yaml'), 'utf8');
    for (const f of FILES) expect(kustomization, f).toMatch(new RegExp(`^\\s*- ${f.replace('.', '\\.')}$`, 'm'));
  });

  it('knows histograms: classic _bucket (with le), _sum and _count series, never the bare name', () => {
    for (const i of [INSTRUMENTS.flowTcpHandshake, INSTRUMENTS.dnsDuration, INSTRUMENTS.podDnsDuration, INSTRUMENTS.flowDnsDuration]) {
      const h = i.prometheus;
      for (const suffix of ['_bucket', '_sum', '_count']) expect(PROM_METRICS.has(`${h}${suffix}`), `${h}${suffix}`).toBe(true);
      expect(PROM_METRICS.has(h), h).toBe(false);
      expect(promLabelsFor([`${h}_bucket`]).has('le'), h).toBe(true);
      expect(promLabelsFor([`${h}_count`, INSTRUMENTS.flowPackets.prometheus]).has('le'), h).toBe(false);
    }
    expect(PROM_LABELS.has('le')).toBe(false);
  });

  it('knows the DNS families and their labels from src/names.ts, not names that look like them', () => {
    for (const i of [INSTRUMENTS.dnsQueries, INSTRUMENTS.podDnsResponses, INSTRUMENTS.flowDnsTimeouts]) expect(PROM_METRICS.has(i.prometheus), i.prometheus).toBe(true);
    for (const l of ['fovea_dns_view', 'fovea_dns_role', 'fovea_dns_question_type', 'fovea_dns_response_code', 'fovea_dns_answer_empty']) expect(PROM_LABELS.has(l), l).toBe(true);
    expect(PROM_METRICS.has('fovea_dns_requests_total')).toBe(false);
    expect(PROM_LABELS.has('fovea_dns_rcode')).toBe(false);
  });

  for (const [file, d] of dashboards) {
    describe(file, () => {
      it('imports anywhere: Prometheus data source variable, unique panel ids, panels inside the 24-column grid', () => {
        expect(d.title).toMatch(/^Fovea \/ /);
        expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
        const ds = d.templating.list.find((v) => v.name === 'datasource');
        expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
        const panels = allPanels(d);
        expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
        for (const p of panels) {
          expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
          if (p.type === 'row') continue;
          expect(p.datasource?.uid, p.title).toBe('${datasource}');
          expect(p.targets?.length, p.title).toBeGreaterThan(0);
          for (const t of p.targets!) expect(t.datasource?.uid ?? '${datasource}', p.title).toBe('${datasource}');
        }
        for (const v of d.templating.list.filter((x) => x.type === 'query')) expect(v.datasource?.uid, v.name).toBe('${datasource}');
      });

      it('queries only metrics Fovea emits and labels its series carry; uses only defined variables', () => {
        const bad: string[] = [];
        const defined = new Set([...d.templating.list.map((v) => v.name), ...BUILTIN_VARIABLES]);
        const queries: Array<[string, string]> = [
          ...d.templating.list.filter((v) => v.type === 'query').map((v) => [`variable ${v.name}`, queryOf(v)] as [string, string]),
          ...allPanels(d).flatMap((p) => (p.targets ?? []).map((t) => [`${p.title} ${t.refId}`, t.expr] as [string, string])),
        ];
        for (const [where, q] of queries) {
          const refs = q.startsWith('label_values') ? grafanaQueryRefs(q) : promqlRefs(q);
          if (refs.metrics.size === 0) bad.push(`${where}: no metric`);
          for (const m of refs.metrics) if (!PROM_METRICS.has(m)) bad.push(`${where}: metric ${m}`);
          const labels = promLabelsFor(refs.metrics);
          for (const l of refs.labels) if (!labels.has(l)) bad.push(`${where}: label ${l}`);
          for (const m of q.matchAll(/\$\{?([a-zA-Z_][a-zA-Z0-9_]*)/g)) if (!defined.has(m[1]!)) bad.push(`${where}: variable $${m[1]}`);
        }
        for (const p of allPanels(d)) {
          for (const t of p.targets ?? []) {
            const labels = promLabelsFor(promqlRefs(t.expr).metrics);
            for (const m of (t.legendFormat ?? '').matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)) {
              if (!labels.has(m[1]!)) bad.push(`${p.title}: legend label ${m[1]}`);
            }
          }
        }
        expect(bad).toEqual([]);
      });
    });
  }
});

describeWithTools('deploy/dashboards: promtool', ['promtool'], () => {
  it('every query and variable query is valid PromQL (promtool check rules)', () => {
    const rules: Array<{ record: string; expr: string }> = [];
    for (const [file, d] of dashboards) {
      const exprs = [
        ...d.templating.list.filter((v) => v.type === 'query').map(queryOf)
          .map((q) => /^\s*label_values\(\s*(.*),\s*[a-zA-Z_]\w*\s*\)\s*$/.exec(q)?.[1] ?? q),
        ...allPanels(d).flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
      ];
      exprs.forEach((e, i) => rules.push({ record: `dashboard:${file.replace(/\W/g, '_')}:${i}`, expr: substituteGrafanaVariables(e) }));
    }
    const dir = mkdtempSync(join(tmpdir(), 'fovea-dashboards-'));
    try {
      writeFileSync(join(dir, 'queries.yaml'), stringify({ groups: [{ name: 'dashboard-queries', rules }] }));
      const r = run(TOOLS.promtool, ['check', 'rules', 'queries.yaml'], { cwd: dir });
      expect(r.stdout + r.stderr).toMatch(new RegExp(`SUCCESS: ${rules.length} rules found`));
      expect(r.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
