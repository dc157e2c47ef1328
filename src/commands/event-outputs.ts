/**
 * The agent's event outputs, from the configuration: the OTLP log exporter (when events are
 * exported), the `fovea observe` server (when enabled) and the Hubble API server (when enabled).
 * Shared by `fovea agent` and `fovea demo`.
 */
import { hostname, networkInterfaces } from 'node:os';
import type { Resource } from '@opentelemetry/resources';
import type { Config } from '../config/index.js';
import type { EventOutput } from '../events/pipeline.js';
import type { EventName } from '../events/types.js';
import { createEventLogExporter } from '../export/log-queue.js';
import type { OtlpSettings } from '../export/otlp-settings.js';
import { packageVersion } from '../export/resource.js';
import type { IdentitySource, NodeSource } from '../k8s/types.js';
import type { Logger } from '../log.js';
import { EVENT, EVENT_LOSS_STAGE } from '../names.js';
import { parseHostPort } from '../net/address.js';
import { ObserveServer } from '../observe/server.js';

/** What the Hubble server needs from the agent's identity stage. */
export interface OutputContext {
  readonly identity?: IdentitySource;
  /** the cluster's nodes (Kubernetes with the node watch); absent: this host alone */
  readonly nodes?: NodeSource;
}

/** Whether any output wants events at all (the event stage runs only then). */
export function eventsWanted(config: Config): boolean {
  return config.events.drops.enabled || config.events.flows.enabled || config.events.tcp.enabled
    || (config.probes.dns.enabled && config.events.dns.mode !== 'off') || config.hubble.enabled;
}

/** Starts the outputs; throws (after closing what started) when one cannot be served. */
export async function createEventOutputs(
  config: Config, logs: OtlpSettings | undefined, resource: Resource, logger: Logger, ctx: OutputContext = {},
): Promise<EventOutput[]> {
  const outputs: EventOutput[] = [];
  if (!eventsWanted(config)) return outputs;
  // flow events may run for Hubble alone: the other outputs take them only when asked for
  const accepts: readonly EventName[] = [
    ...(config.events.drops.enabled ? [EVENT.drop] : []),
    ...(config.events.flows.enabled ? [EVENT.flow] : []),
    ...(config.events.tcp.enabled ? [EVENT.tcpReset, EVENT.tcpConnectFailed, EVENT.tcpRetransmit] : []),
    ...(config.probes.dns.enabled && config.events.dns.mode !== 'off' ? [EVENT.dns, EVENT.dnsTimeout] : []),
  ];
  const eventsOn = accepts.length > 0;
  try {
    if (eventsOn && logs) {
      outputs.push(taking(accepts, createEventLogExporter({
        settings: logs, resource, logger,
        maxQueue: config.events.export.maxQueue, maxBatch: config.events.export.maxBatch, maxInFlight: config.events.export.maxInFlight,
      })));
    }
    if (eventsOn && config.observe.enabled) {
      let server: ObserveServer;
      try {
        server = await ObserveServer.start({
          socketPath: config.observe.socket, logger, historySize: config.observe.historySize,
          ...(config.observe.address ? { tcpAddress: config.observe.address } : {}),
        });
      } catch (err) {
        throw new Error(`fovea observe socket: ${(err as Error).message} (set observe.enabled=false or another observe.socket)`);
      }
      outputs.push(taking(accepts, observeOutput(server)));
    }
    // Hubble flows are drops and forwarded flows: TCP events have no flow.Flow form
    if (config.hubble.enabled) outputs.push(taking([EVENT.drop, EVENT.flow], await hubbleOutput(config, logger, ctx)));
  } catch (err) {
    await Promise.all(outputs.map((o) => o.close(0)));
    throw err;
  }
  return outputs;
}

/** The output, taking only the named events. */
function taking(accepts: readonly EventName[], o: EventOutput): EventOutput {
  return {
    name: o.name, accepts,
    publish: (events) => o.publish(events),
    ...(o.stats ? { stats: () => o.stats!() } : {}),
    ...(o.kernelLoss ? { kernelLoss: (n: number) => o.kernelLoss!(n) } : {}),
    close: (timeoutMs) => o.close(timeoutMs),
  };
}

function observeOutput(server: ObserveServer): EventOutput {
  return {
    name: 'observe',
    publish: (events) => server.publish(events),
    stats: () => ({ clients: server.clients(), lost: { [EVENT_LOSS_STAGE.observeSlowClient]: server.lostEvents() } }),
    close: () => server.stop(),
  };
}

/** The Hubble API server as an output (loaded only when enabled). */
async function hubbleOutput(config: Config, logger: Logger, ctx: OutputContext): Promise<EventOutput> {
  const [{ FlowBuilder }, { HubbleObserver }, { PeerService, selfNodeSource }, { HubbleServer }] = await Promise.all([
    import('../hubble/flows.js'), import('../hubble/observer.js'), import('../hubble/peer.js'), import('../hubble/server.js'),
  ]);
  const h = config.hubble;
  const node = config.nodeName || hostname();
  const nodes = ctx.nodes ?? selfNodeSource(node, hostAddresses());
  const version = packageVersion();
  const identity = ctx.identity;
  const builder = new FlowBuilder({
    cluster: h.clusterName, node, version,
    ...(identity ? { podByUid: (uid: string) => identity.podByUid(uid) } : {}),
    nodeLabels: nodeLabelsOf(nodes, node),
  });
  const observer = new HubbleObserver({ builder, logger, bufferSize: h.bufferSize, version: `fovea ${version}`, cluster: h.clusterName });
  const tls = h.tls.certFile || h.tls.keyFile || h.tls.clientCaFile;
  if (tls && (!h.tls.certFile || !h.tls.keyFile)) {
    throw new Error('hubble.tls: certFile and keyFile go together (and clientCaFile needs both)');
  }
  const port = h.address ? parseHostPort(h.address, 'hubble.address').port : 4244;
  let bound: number | undefined;
  const peer = new PeerService({ nodes, cluster: h.clusterName, port: () => bound ?? port, tls: Boolean(tls) });
  const server = await HubbleServer.start({
    observer, peer, logger, address: h.address, socket: h.socket, maxClients: h.maxClients,
    insecure: h.tls.insecure,
    ...(tls ? {
      tls: {
        certFile: h.tls.certFile, keyFile: h.tls.keyFile, reloadIntervalMs: h.tls.reloadIntervalMs,
        ...(h.tls.clientCaFile ? { clientCaFile: h.tls.clientCaFile } : {}),
      },
    } : {}),
  });
  bound = server.port;
  return server.output();
}

/** This node's labels as `key=value` (Flow.node_labels), recomputed when the node list changes. */
function nodeLabelsOf(nodes: NodeSource, node: string): () => readonly string[] {
  let seen: readonly unknown[] | undefined;
  let labels: readonly string[] = [];
  return () => {
    const list = nodes.nodes();
    if (list !== seen) {
      seen = list;
      const me = list.find((n) => n.name === node);
      labels = me ? Object.entries(me.labels).map(([k, v]) => `${k}=${v}`).sort() : [];
    }
    return labels;
  };
}

/** This host's addresses, IPv4 first (the peer address of a standalone agent). */
function hostAddresses(): string[] {
  const all = Object.values(networkInterfaces()).flat().filter((a) => a !== undefined && !a.internal);
  return [...all.filter((a) => a!.family === 'IPv4'), ...all.filter((a) => a!.family === 'IPv6' && !a!.address.startsWith('fe80'))]
    .map((a) => a!.address);
}
