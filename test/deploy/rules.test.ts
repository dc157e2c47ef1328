/**
 * deploy/alerts: the rules pass `promtool check rules` and their unit tests (`promtool test
 * rules`, Debian 13's promtool), query only metrics Fovea emits (Prometheus form, src/names.ts)
 * or recording rules of the same file, use only labels Fovea's series carry, and every alert
 * carries a severity, a runbook that names a section of docs/runbook.md, and a unit test.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PROM_LABELS, PROM_METRICS, REPO, TOOLS, describeWithTools, promLabelsFor, promqlRefs, run } from './helpers.js';

const DIR = join(REPO, 'deploy/alerts');
const RULES_FILE = 'fovea-rules.yaml';
const TESTS_FILE = 'fovea-rules.test.yaml';

interface Rule { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
const groups = (parse(readFileSync(join(DIR, RULES_FILE), 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> }).groups;
const rules = groups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert);
const records = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));

describe('deploy/alerts: names', () => {
  it('has alerts for drop spikes, new reasons, agents down, lost events or records, lossy or slow TCP paths, and failing DNS', () => {
    expect(alerts.map((a) => a.alert)).toEqual(expect.arrayContaining([
      'FoveaDropRateSpike', 'FoveaNewDropReason', 'FoveaAgentDown', 'FoveaEventsLost', 'FoveaKernelRecordsLost', 'FoveaFlowsEvicted',
      'FoveaTcpRetransmitRatioHigh', 'FoveaTcpResetsSentSpike', 'FoveaTcpConnectFailureSpike', 'FoveaTcpHandshakeSlow',
      'FoveaDnsServfailRatioHigh', 'FoveaDnsNxdomainSpike', 'FoveaDnsTimeouts', 'FoveaDnsServerLatencyHigh',
    ]));
    expect(groups.find((g) => g.name === 'fovea-tcp')?.rules.map((r) => r.alert)).toEqual([
      'FoveaTcpRetransmitRatioHigh', 'FoveaTcpResetsSentSpike', 'FoveaTcpConnectFailureSpike', 'FoveaTcpHandshakeSlow',
    ]);
    expect(groups.find((g) => g.name === 'fovea-dns')?.rules.map((r) => r.alert)).toEqual([
      'FoveaDnsServfailRatioHigh', 'FoveaDnsNxdomainSpike', 'FoveaDnsTimeouts', 'FoveaDnsServerLatencyHigh',
    ]);
    for (const a of groups.find((g) => g.name === 'fovea-dns')!.rules) expect(a.annotations?.['runbook'], a.alert).toBe('Fovea docs/runbook.md → "Is it DNS?"');
  });

  it('queries only metrics Fovea emits (or recording rules defined here) and labels its series carry', () => {
    const bad: string[] = [];
    for (const r of rules) {
      const refs = promqlRefs(r.expr);
      for (const m of refs.metrics) if (!PROM_METRICS.has(m) && !records.has(m)) bad.push(`${r.alert ?? r.record}: metric ${m}`);
      const labels = promLabelsFor(refs.metrics);
      for (const l of refs.labels) if (!labels.has(l)) bad.push(`${r.alert ?? r.record}: label ${l}`);
      for (const text of Object.values(r.annotations ?? {})) {
        for (const m of text.matchAll(/\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)/g)) if (!PROM_LABELS.has(m[1]!)) bad.push(`${r.alert}: annotation label ${m[1]}`);
      }
    }
    expect(bad).toEqual([]);
    // the scanner sees the names it must see
    expect(promqlRefs(alerts.find((a) => a.alert === 'FoveaAgentDown')!.expr).metrics).toEqual(new Set(['fovea_agent_probe_up']));
  });

  it('every alert has a severity, a summary, a description and a runbook section of docs/runbook.md, and a unit test', () => {
    const runbook = readFileSync(join(REPO, 'docs', 'runbook.md'), 'utf8');
    const tests = readFileSync(join(DIR, TESTS_FILE), 'utf8');
    for (const a of alerts) {
      expect(['info', 'warning', 'critical'], a.alert).toContain(a.labels?.['severity']);
      expect(a.annotations?.['summary'], a.alert).toBeTruthy();
      expect(a.annotations?.['description'], a.alert).toBeTruthy();
      const section = /→ "([^"]+)"/.exec(a.annotations?.['runbook'] ?? '')?.[1];
      expect(section, `${a.alert}: runbook names a section`).toBeTruthy();
      const heading = new RegExp(`^#+ ${section!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`, 'm');
      expect(a.annotations?.['runbook'], a.alert).toMatch(/^Fovea docs\/runbook\.md → /);
      expect(heading.test(runbook), `${a.alert}: docs/runbook.md has a heading "${section}"`).toBe(true);
      expect(tests, `${a.alert}: unit test`).toMatch(new RegExp(`alertname: ${a.alert}\\b`));
    }
  });
});

describeWithTools('deploy/alerts: promtool', ['promtool'], () => {
  it('promtool check rules', () => {
    const r = run(TOOLS.promtool, ['check', 'rules', RULES_FILE], { cwd: DIR });
    expect(r.stderr + r.stdout).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.code).toBe(0);
  });

  it('promtool test rules (the unit tests in fovea-rules.test.yaml)', () => {
    const r = run(TOOLS.promtool, ['test', 'rules', TESTS_FILE], { cwd: DIR });
    expect(r.stdout + r.stderr).toMatch(/SUCCESS/);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});
