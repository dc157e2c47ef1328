/**
 * Hubble label selectors against Cilium label lists: the source-prefix translation, every
 * Kubernetes selector operator, Cilium's source matching (`any` matches every source), invalid
 * syntax, and the Go netip parser the cidr labels (and the IP filters) use. Cases marked
 * "upstream" restate ones of cilium/cilium pkg/hubble/filters/labels_test.go.
 */
import { describe, expect, it } from 'vitest';
import {
  ADDR_V4, ADDR_V6, ADDR_V6_ZONE, LabelArrayCache, addrError, compileLabelSelector, parseAddrInto, parseCiliumLabel,
  parseLabelArray, parsePrefix, prefixContains, translateSelector,
} from '../../src/hubble/label-selector.js';

function matches(selector: string, labels: readonly string[]): boolean {
  return compileLabelSelector(selector)(parseLabelArray(labels));
}

const web = ['k8s:app=web', 'k8s:io.kubernetes.pod.namespace=shop', 'k8s:tier=frontend', 'k8s:replicas=3'];

describe('parseCiliumLabel (Cilium ParseLabel)', () => {
  it('reads source:key=value, source:key and key=value', () => {
    expect(parseCiliumLabel('k8s:app=web')).toEqual({ source: 'k8s', key: 'app', value: 'web' });
    expect(parseCiliumLabel('reserved:world')).toEqual({ source: 'reserved', key: 'world', value: '' });
    expect(parseCiliumLabel('app=web')).toEqual({ source: 'unspec', key: 'app', value: 'web' });
    expect(parseCiliumLabel('label1=val1=toomuch')).toEqual({ source: 'unspec', key: 'label1', value: 'val1=toomuch' });
  });
  it('reads the $host short form and reserved. as reserved sources', () => {
    expect(parseCiliumLabel('$host')).toEqual({ source: 'reserved', key: 'host', value: '' });
    expect(parseCiliumLabel('reserved.health')).toEqual({ source: 'reserved', key: 'health', value: '' });
    expect(parseCiliumLabel('reserved:=world')).toEqual({ source: 'reserved', key: 'world', value: '' });
  });
  it('parses a cidr label key as a prefix (IPv6 written with dashes)', () => {
    expect(parseCiliumLabel('cidr:10.0.0.0/8').prefix?.bits).toBe(8);
    expect(parseCiliumLabel('cidr:2001-db8--/32').prefix?.v4).toBe(false);
  });
  it('sorts a list by key, keeping equal keys in order', () => {
    expect(parseLabelArray(['k8s:b=1', 'container:a=2', 'k8s:a=3']).map((l) => `${l.source}:${l.key}`))
      .toEqual(['container:a', 'k8s:a', 'k8s:b']);
  });
});

describe('translateSelector (labelparser.go)', () => {
  it('turns source colons into dots and gives bare keys the any source', () => {
    expect(translateSelector('bar=baz,k8s:app=hubble,reserved:world')).toBe('any.bar=baz,k8s.app=hubble,reserved.world');
    expect(translateSelector('any:dash-label.com,k8s:io.cilium in (is-awesome,rocks)'))
      .toBe('any.dash-label.com,k8s.io.cilium in (is-awesome,rocks)');
    expect(translateSelector('!k8s:app, tier notin (a, b)')).toBe('!k8s.app, any.tier notin (a, b)');
    expect(translateSelector('app!=web')).toBe('any.app!=web');
  });
  it('leaves the empty selector empty', () => {
    expect(translateSelector('')).toBe('');
  });
});

describe('compileLabelSelector: operators', () => {
  it('exists and does-not-exist', () => {
    expect(matches('app', web)).toBe(true);
    expect(matches('team', web)).toBe(false);
    expect(matches('!team', web)).toBe(true);
    expect(matches('!app', web)).toBe(false);
  });
  it('= and == and !=', () => {
    expect(matches('app=web', web)).toBe(true);
    expect(matches('app==web', web)).toBe(true);
    expect(matches('app=api', web)).toBe(false);
    expect(matches('app!=api', web)).toBe(true);
    expect(matches('app!=web', web)).toBe(false);
    // != also holds when the key is absent
    expect(matches('team!=x', web)).toBe(true);
  });
  it('in and notin', () => {
    expect(matches('app in (api, web)', web)).toBe(true);
    expect(matches('app in (api,db)', web)).toBe(false);
    expect(matches('team in (a)', web)).toBe(false);
    expect(matches('app notin (api, db)', web)).toBe(true);
    expect(matches('app notin (web)', web)).toBe(false);
    expect(matches('team notin (a)', web)).toBe(true);
  });
  it('> and < compare integers; a non-integer label value never matches', () => {
    expect(matches('replicas>2', web)).toBe(true);
    expect(matches('replicas>3', web)).toBe(false);
    expect(matches('replicas<4', web)).toBe(true);
    expect(matches('replicas<3', web)).toBe(false);
    expect(matches('app>1', web)).toBe(false);
    expect(matches('team>1', web)).toBe(false);
  });
  it('a comma ANDs requirements', () => {
    expect(matches('app=web, tier=frontend', web)).toBe(true);
    expect(matches('app=web,tier=backend', web)).toBe(false);
    expect(matches('app in (web), !team', web)).toBe(true);
  });
  it('the empty selector selects everything, even no labels (upstream "matchall")', () => {
    expect(matches('', web)).toBe(true);
    expect(matches('', [])).toBe(true);
    expect(matches('', [''])).toBe(true);
  });
  it('an equality with an empty value matches an empty label value', () => {
    expect(matches('reserved:world=', ['reserved:world'])).toBe(true);
    expect(matches('app in ()', ['app'])).toBe(true);
    expect(matches('app in (,x)', ['app'])).toBe(true);
  });
  it('"in" and "notin" may be keys or values', () => {
    expect(matches('in=notin', ['k8s:in=notin'])).toBe(true);
  });
});

describe('compileLabelSelector: sources', () => {
  it('k8s: selects only k8s labels, a bare key (any) every source', () => {
    expect(matches('k8s:app=web', ['k8s:app=web'])).toBe(true);
    expect(matches('k8s:app=web', ['container:app=web'])).toBe(false);
    expect(matches('app=web', ['container:app=web'])).toBe(true);
    expect(matches('any:app', ['k8s:app=web'])).toBe(true);
    expect(matches('app', ['app=web'])).toBe(true);
  });
  it('a label written with source any is not selected by a specific source', () => {
    expect(matches('k8s:app', ['any:app=web'])).toBe(false);
  });
  it('reserved labels: reserved:world selects reserved:world and $world', () => {
    expect(matches('reserved:world', ['reserved:world'])).toBe(true);
    expect(matches('reserved:world', ['$world'])).toBe(true);
    expect(matches('reserved:host', ['reserved:world'])).toBe(false);
    expect(matches('world', ['reserved:world'])).toBe(true);
  });
  it('upstream "cilium fixed prefix filters"', () => {
    const m = (labels: string[]): boolean => ['k8s:app=bar', 'foo', 'reserved:host'].some((s) => matches(s, labels));
    expect(m(['k8s:app=bar'])).toBe(true);
    expect(m(['k8s:foo=baz'])).toBe(true);
    expect(m(['k8s.app=bar'])).toBe(false);
    expect(m(['container:foo=bar', 'reserved:host'])).toBe(true);
  });
  it('upstream "cilium any prefix filters"', () => {
    expect(matches('any:key', ['key'])).toBe(true);
    expect(matches('any:key', ['reserved:key'])).toBe(true);
    expect(matches('any:key', ['any.key'])).toBe(false);
  });
  it('upstream "complex label filter"', () => {
    const s = 'label1 in (val1, val2), label3 notin ()';
    expect(matches(s, ['label1'])).toBe(false);
    expect(matches(s, ['label1=val1'])).toBe(true);
    expect(matches(s, ['label1=val2', 'label2=val1', 'label3=val3'])).toBe(true);
    expect(matches(s, ['label2=val2', 'label3'])).toBe(false);
  });
  it('the value of the first label with the key (sorted by key) decides', () => {
    expect(matches('app=a', ['k8s:app=a', 'container:app=b'])).toBe(true);
    expect(matches('app=b', ['k8s:app=a', 'container:app=b'])).toBe(false);
  });
  it('cidr keys select labels with a prefix inside theirs', () => {
    expect(matches('cidr:10.0.0.0/8', ['cidr:10.1.2.3/32'])).toBe(true);
    expect(matches('cidr:10.0.0.0/8', ['cidr:11.0.0.0/32'])).toBe(false);
    expect(matches('cidr:10.1.2.3/32', ['cidr:10.0.0.0/8'])).toBe(false);
  });
  it('a key with a DNS prefix', () => {
    expect(matches('k8s:app.kubernetes.io/name=web', ['k8s:app.kubernetes.io/name=web'])).toBe(true);
  });
});

describe('compileLabelSelector: invalid selectors', () => {
  it.each([
    // a key runs up to '=' (so '()' is one key, and '=' has an empty one): both end up "any."
    ['()', 'name part'],
    ['=', 'name part'],
    [',', 'name part'],
    ['app,,x', 'name part'],
    ['app=', undefined], // valid: empty value
    ['app=web,', 'identifier after \',\''],
    ['app in web', '\'(\''],
    ['app in (a b)', '\',\' or \')\''],
    ['app>x', 'must be an integer'],
    ['app>-1', 'valid label'],
    ['app=a b', '\',\' or \'end of string\''],
    ['any:k8s:bla', 'name part'],
    ['$world', 'name part'],
    ['app=-bad', 'valid label'],
    ['k8s:Upper_Case', undefined], // valid: without a '/' the key is one name, which may hold both
    ['k8s:Bad_Prefix/x', 'lowercase RFC 1123 subdomain'],
    ['a/b/c', 'optional DNS subdomain prefix'],
    ['app=' + 'x'.repeat(64), 'no more than 63'],
    ['!app=x', '\',\' or \'end of string\''],
  ])('%s', (selector, problem) => {
    if (problem === undefined) {
      expect(() => compileLabelSelector(selector)).not.toThrow();
      return;
    }
    expect(() => compileLabelSelector(selector)).toThrow(`invalid label selector ${JSON.stringify(selector)}`);
    expect(() => compileLabelSelector(selector)).toThrow(problem);
  });
});

describe('LabelArrayCache', () => {
  it('parses each list once, by identity', () => {
    const cache = new LabelArrayCache();
    const list = ['k8s:app=web'];
    const first = cache.get(list);
    expect(cache.get(list)).toBe(first);
    expect(cache.get(['k8s:app=web'])).not.toBe(first);
    expect(cache.get(undefined)).toEqual([]);
  });
});

describe('Go netip', () => {
  const buf = new Uint8Array(16);
  it.each([
    ['1.2.3.4', ADDR_V4], ['::', ADDR_V6], ['2001:db8::1', ADDR_V6], ['::ffff:1.2.3.4', ADDR_V6], ['fe80::1%eth0', ADDR_V6_ZONE],
    ['1:2:3:4:5:6:7:8', ADDR_V6], ['A:b:C::', ADDR_V6],
  ])('parses %s', (s, kind) => {
    expect(parseAddrInto(s, buf)).toBe(kind);
  });
  it.each([
    ['01.2.3.4', 'leading zero'], ['256.1.1.1', '>255'], ['1.2.3', 'too short'], ['1.2.3.4.5', 'too long'], ['1..2.3', 'at least one digit'],
    ['', 'unable to parse IP'], ['abc', 'unable to parse IP'], ['%eth0', 'missing IPv6'], ['fe80::1%', 'zone'], ['1::2::3', 'multiple ::'],
    ['12345::', '4 or less'], ['1:2:3:4:5:6:7:8:9', 'trailing garbage'], ['1:2:3', 'too short'], ['1:2:3:4:5:6:7::8', 'at least one field'],
    ['1.2.3.4%x', 'unexpected character'],
  ])('rejects %s', (s, problem) => {
    const r = parseAddrInto(s, buf);
    expect(r).toBeLessThan(0);
    expect(addrError(r)).toContain(problem);
  });
  it('parses prefixes and checks containment by family', () => {
    const p = parsePrefix('10.0.0.1/8');
    if (typeof p === 'string') throw new Error(p);
    expect(prefixContains(p, parseAddrInto('10.200.0.1', buf), buf)).toBe(true);
    expect(prefixContains(p, parseAddrInto('11.0.0.1', buf), buf)).toBe(false);
    expect(prefixContains(p, parseAddrInto('::ffff:10.0.0.1', buf), buf)).toBe(false);
    const v6 = parsePrefix('2001:db8::/33');
    if (typeof v6 === 'string') throw new Error(v6);
    expect(prefixContains(v6, parseAddrInto('2001:db8:7fff::1', buf), buf)).toBe(true);
    expect(prefixContains(v6, parseAddrInto('2001:db8:8000::1', buf), buf)).toBe(false);
    expect(prefixContains(v6, parseAddrInto('2001:db8::1%eth0', buf), buf)).toBe(false);
  });
  it.each([['1.2.3.4', 'no \'/\''], ['1.2.3.4/33', 'out of range'], ['1.2.3.4/08', 'bad bits'], ['1.2.3.4/+8', 'bad bits'],
    ['fe80::1%eth0/64', 'zones'], ['1.2.3/8', 'too short']])('rejects prefix %s', (s, problem) => {
    expect(parsePrefix(s)).toContain(problem);
  });
});
