/** Builds the informer-backed Kubernetes identity for `fovea agent`. */
import { defaultKubeConfig, KubernetesIdentity } from '../k8s/kubernetes.js';
import type { IdentitySource } from '../k8s/types.js';
import type { Logger } from '../log.js';

export function kubernetesIdentityFactory(logger: Logger) {
  return (mode: 'cluster' | 'node', kubeconfig: string, nodeName: string): IdentitySource =>
    new KubernetesIdentity({ nodeName, mode, logger, kubeConfig: defaultKubeConfig(kubeconfig || undefined) });
}
