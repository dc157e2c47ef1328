/**
 * Schema validation of rendered manifests against the Kubernetes API types, as generated from the
 * Kubernetes v1.34 OpenAPI spec into @kubernetes/client-node's models (already a dependency; no
 * schema download). Catches unknown fields (a misspelt `readOnlyRootFileSystem` is silently
 * dropped by kubectl apply with client-side defaults), wrong value types and missing required
 * fields. Enum values and cross-field rules (the API server's own validation) are not covered.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { K8sObject } from './helpers.js';

interface Attr { name: string; baseName: string; type: string; format: string }
type Model = { getAttributeTypeMap(): Attr[] };

const models = k8s as unknown as Record<string, Model | undefined>;
const require = createRequire(import.meta.url);
const MODELS_DIR = join(dirname(require.resolve('@kubernetes/client-node')), 'gen', 'models');

const requiredCache = new Map<string, Set<string>>();
/** Required JSON fields of a model: `'field': T;` (not `'field'?: T;`) in its generated .d.ts. */
function required(model: string): Set<string> {
  let r = requiredCache.get(model);
  if (!r) {
    const dts = readFileSync(join(MODELS_DIR, `${model}.d.ts`), 'utf8');
    const names = new Set([...dts.matchAll(/^\s+'([A-Za-z_][A-Za-z0-9_]*)':\s/gm)].map((m) => m[1]!));
    const attrs = models[model]!.getAttributeTypeMap();
    r = new Set(attrs.filter((a) => names.has(a.name)).map((a) => a.baseName));
    requiredCache.set(model, r);
  }
  return r;
}

/** `apps/v1` + `DaemonSet` → `V1DaemonSet`. */
export function modelName(apiVersion: string, kind: string): string {
  const version = apiVersion.split('/').pop()!;
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
}

function check(value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) {
    if (!Array.isArray(value)) { out.push(`${path}: expected a list`); return; }
    value.forEach((v, i) => check(v, arr[1]!, `${path}[${i}]`, out));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value !== 'object' || Array.isArray(value)) { out.push(`${path}: expected a map`); return; }
    for (const [k, v] of Object.entries(value)) check(v, map[1]!, `${path}.${k}`, out);
    return;
  }
  switch (type) {
    case 'string': case 'Date': case 'V1MicroTime':
      if (typeof value !== 'string') out.push(`${path}: expected a string, got ${JSON.stringify(value)}`);
      return;
    case 'number':
      if (typeof value !== 'number') out.push(`${path}: expected a number, got ${JSON.stringify(value)}`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') out.push(`${path}: expected true/false, got ${JSON.stringify(value)}`);
      return;
    case 'IntOrString':
      if (typeof value !== 'string' && typeof value !== 'number') out.push(`${path}: expected an int or a string`);
      return;
    case 'any': case 'object':
      return;
  }
  const model = models[type];
  if (!model?.getAttributeTypeMap) { out.push(`${path}: no schema for type ${type}`); return; }
  if (typeof value !== 'object' || Array.isArray(value)) { out.push(`${path}: expected an object (${type})`); return; }
  const attrs = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a]));
  for (const [k, v] of Object.entries(value)) {
    const a = attrs.get(k);
    if (!a) out.push(`${path}.${k}: unknown field of ${type}`);
    else check(v, a.type, `${path}.${k}`, out);
  }
  for (const k of required(type)) {
    if ((value as Record<string, unknown>)[k] === undefined) out.push(`${path}: missing required field ${k} (${type})`);
  }
}

/** Schema problems of one object, as `Kind/name.path: message`. */
export function schemaProblems(o: K8sObject): string[] {
  const out: string[] = [];
  const model = modelName(o.apiVersion, o.kind);
  if (!models[model]?.getAttributeTypeMap) return [`${o.kind}/${o.metadata.name}: no schema for ${o.apiVersion} ${o.kind}`];
  check(o, model, `${o.kind}/${o.metadata.name}`, out);
  return out;
}
