/**
 * Builds the informer-backed Kubernetes identity for `fovea agent`. The Kubernetes client is
 * loaded only when it is used: standalone agents do not carry it.
 */
import type { IdentitySource } from '../k8s/types.js';
import type { Logger } from '../log.js';

/** `watchNodes`: also keep the cluster's Node list (the Hubble server's peer service). */
export function kubernetesIdentityFactory(logger: Logger, watchNodes = false) {
  return async (mode: 'cluster' | 'node', kubeconfig: string, nodeName: string): Promise<IdentitySource> => {
    const { defaultKubeConfig, KubernetesIdentity } = await import('../k8s/kubernetes.js');
    return new KubernetesIdentity({ nodeName, mode, logger, watchNodes, kubeConfig: defaultKubeConfig(kubeconfig || undefined) });
  };
}
