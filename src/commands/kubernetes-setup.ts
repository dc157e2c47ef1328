/** Builds the informer-backed Kubernetes identity for `fovea agent`. */
import type { IdentitySource } from '../k8s/types.js';

export function makeKubernetesIdentity(): IdentitySource {
  throw new Error('Kubernetes identity: not wired yet');
}
