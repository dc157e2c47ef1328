import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { buildResource, packageVersion, parseResourceAttributes } from '../../src/export/resource.js';

describe('parseResourceAttributes', () => {
  it('parses key=value pairs with percent-decoding and trimming', () => {
    expect(parseResourceAttributes(' deployment.environment=prod , k8s.cluster.name=a%2Cb%3Dc,empty=')).toEqual({
      attributes: { 'deployment.environment': 'prod', 'k8s.cluster.name': 'a,b=c', empty: '' },
      issues: [],
    });
    expect(parseResourceAttributes('')).toEqual({ attributes: {}, issues: [] });
  });

  it('reports every bad entry and discards the whole value (spec)', () => {
    const r = parseResourceAttributes('good=1,novalue,=x,bad=%ZZ');
    expect(r.attributes).toEqual({});
    expect(r.issues).toEqual([
      "OTEL_RESOURCE_ATTRIBUTES: entry 'novalue' is not key=value",
      "OTEL_RESOURCE_ATTRIBUTES: entry '=x' has an empty key",
      "OTEL_RESOURCE_ATTRIBUTES: entry 'bad=%ZZ' has invalid percent-encoding",
      'OTEL_RESOURCE_ATTRIBUTES ignored entirely (spec: discard the value on any error)',
    ]);
  });
});

describe('buildResource', () => {
  it('sets Fovea defaults: service name, version, host, instance id from the host name', () => {
    const r = buildResource({ env: {} });
    expect(r.issues).toEqual([]);
    expect(r.attributes).toEqual({
      'service.name': 'fovea',
      'service.version': packageVersion(),
      'host.name': hostname(),
      'service.instance.id': hostname(),
    });
    expect(packageVersion()).toMatch(/^\d+\.\d+\.\d+/);
    expect(r.resource.attributes['telemetry.sdk.language']).toBe('nodejs');
  });

  it('uses the node name as instance id and k8s.node.name in a cluster', () => {
    const r = buildResource({ env: {}, nodeName: 'node-7', hostName: 'fovea-abcde' });
    expect(r.resource.attributes).toMatchObject({
      'k8s.node.name': 'node-7', 'service.instance.id': 'node-7', 'host.name': 'fovea-abcde',
    });
  });

  it('applies precedence: env attributes < OTEL_SERVICE_NAME < caller values', () => {
    const env = {
      OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs,service.instance.id=i-1,deployment.environment=prod,host.name=h-env',
      OTEL_SERVICE_NAME: 'from-env',
    };
    expect(buildResource({ env }).attributes).toMatchObject({
      'service.name': 'from-env', 'service.instance.id': 'i-1', 'deployment.environment': 'prod', 'host.name': 'h-env',
    });
    expect(buildResource({ env, serviceName: 'from-config', instanceId: 'cfg', hostName: 'h-cfg' }).attributes).toMatchObject({
      'service.name': 'from-config', 'service.instance.id': 'cfg', 'host.name': 'h-cfg',
    });
  });

  it('reports bad OTEL_RESOURCE_ATTRIBUTES without failing', () => {
    const r = buildResource({ env: { OTEL_RESOURCE_ATTRIBUTES: 'x', OTEL_SERVICE_NAME: 'svc' } });
    expect(r.issues[0]).toMatch(/entry 'x' is not key=value/);
    expect(r.attributes['service.name']).toBe('svc');
  });
});
