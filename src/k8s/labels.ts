/**
 * Which pod labels identify a workload. A workload's replicas share their labels but for a few
 * that Kubernetes sets per pod (template hashes, ordinal names, Job controller uids): those, and
 * the ones Kubernetes owns (`kubernetes.io/…`, `k8s.io/…`), are left out, as Cilium's default
 * label filter leaves them out of security identities. What remains is stable across rollouts,
 * so identities derived from it (src/hubble/identity.ts) are the same on every node and restart.
 */

/** Keys starting with one of these are not identity labels. */
const EXCLUDED_PREFIXES = [
  'io.kubernetes', 'kubernetes.io', 'k8s.io',
  'statefulset.kubernetes.io/', 'apps.kubernetes.io/', 'batch.kubernetes.io/',
  'pod-template-', 'controller-revision-hash', 'controller-uid', 'job-name', 'annotation.', 'etcd_node',
];

export function isIdentityLabel(key: string): boolean {
  if (key.includes('beta.kubernetes.io')) return false;
  return !EXCLUDED_PREFIXES.some((p) => key.startsWith(p));
}

/** The identity labels of a label map (undefined when none are left). */
export function identityLabels(labels: Readonly<Record<string, string>> | undefined): Readonly<Record<string, string>> | undefined {
  if (!labels) return undefined;
  let out: Record<string, string> | undefined;
  for (const key of Object.keys(labels).sort()) {
    if (!isIdentityLabel(key)) continue;
    (out ??= {})[key] = labels[key]!;
  }
  return out;
}

export function sameLabels(a: Readonly<Record<string, string>> | undefined, b: Readonly<Record<string, string>> | undefined): boolean {
  if (a === b) return true;
  const ak = a ? Object.keys(a) : [];
  const bk = b ? Object.keys(b) : [];
  return ak.length === bk.length && ak.every((k) => b?.[k] === a?.[k]);
}
