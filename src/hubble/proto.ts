/**
 * The Hubble API's message types, loaded once from the .proto files next to this module
 * (src/hubble/proto/, copied to dist/src/hubble/proto/ by the build). Field names are kept as the
 * .proto spells them (`node_name`, `IP`, `l4.TCP`), so objects built here, the filters, the field
 * mask and the JSON encoding all speak the proto's own names.
 */
import { fileURLToPath } from 'node:url';
import { isAbsolute, join } from 'node:path';
import protobuf from 'protobufjs';

/** Where the .proto files are, beside this module in src/ and in dist/src/ alike. */
export const PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));

export const PROTO_FILES = [
  'flow/flow.proto', 'observer/observer.proto', 'peer/peer.proto', 'relay/relay.proto', 'grpc/health/v1/health.proto',
] as const;

export interface HubbleTypes {
  readonly root: protobuf.Root;
  readonly Flow: protobuf.Type;
  readonly FlowFilter: protobuf.Type;
  readonly LostEvent: protobuf.Type;
  readonly GetFlowsRequest: protobuf.Type;
  readonly GetFlowsResponse: protobuf.Type;
  readonly GetAgentEventsRequest: protobuf.Type;
  readonly GetAgentEventsResponse: protobuf.Type;
  readonly GetDebugEventsRequest: protobuf.Type;
  readonly GetDebugEventsResponse: protobuf.Type;
  readonly GetNodesRequest: protobuf.Type;
  readonly GetNodesResponse: protobuf.Type;
  readonly GetNamespacesRequest: protobuf.Type;
  readonly GetNamespacesResponse: protobuf.Type;
  readonly ServerStatusRequest: protobuf.Type;
  readonly ServerStatusResponse: protobuf.Type;
  readonly NotifyRequest: protobuf.Type;
  readonly ChangeNotification: protobuf.Type;
  readonly HealthCheckRequest: protobuf.Type;
  readonly HealthCheckResponse: protobuf.Type;
  readonly Struct: protobuf.Type;
  readonly Observer: protobuf.Service;
  readonly Peer: protobuf.Service;
  readonly Health: protobuf.Service;
}

let loaded: HubbleTypes | undefined;

/** The Hubble types (parsed on first use, then shared). Throws when a .proto file is missing. */
export function hubbleTypes(): HubbleTypes {
  if (loaded) return loaded;
  const root = new protobuf.Root();
  // imports name files relative to the proto root; google/protobuf/* come with protobufjs
  root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') || isAbsolute(target) ? target : join(PROTO_DIR, target));
  for (const f of PROTO_FILES) root.loadSync(join(PROTO_DIR, f), { keepCase: true });
  // the extension Fovea puts in Flow.extensions (an Any holding a Struct)
  root.loadSync('google/protobuf/struct.proto');
  root.resolveAll();
  const t = (name: string): protobuf.Type => root.lookupType(name);
  const s = (name: string): protobuf.Service => root.lookupService(name);
  loaded = {
    root,
    Flow: t('flow.Flow'),
    FlowFilter: t('flow.FlowFilter'),
    LostEvent: t('flow.LostEvent'),
    GetFlowsRequest: t('observer.GetFlowsRequest'),
    GetFlowsResponse: t('observer.GetFlowsResponse'),
    GetAgentEventsRequest: t('observer.GetAgentEventsRequest'),
    GetAgentEventsResponse: t('observer.GetAgentEventsResponse'),
    GetDebugEventsRequest: t('observer.GetDebugEventsRequest'),
    GetDebugEventsResponse: t('observer.GetDebugEventsResponse'),
    GetNodesRequest: t('observer.GetNodesRequest'),
    GetNodesResponse: t('observer.GetNodesResponse'),
    GetNamespacesRequest: t('observer.GetNamespacesRequest'),
    GetNamespacesResponse: t('observer.GetNamespacesResponse'),
    ServerStatusRequest: t('observer.ServerStatusRequest'),
    ServerStatusResponse: t('observer.ServerStatusResponse'),
    NotifyRequest: t('peer.NotifyRequest'),
    ChangeNotification: t('peer.ChangeNotification'),
    HealthCheckRequest: t('grpc.health.v1.HealthCheckRequest'),
    HealthCheckResponse: t('grpc.health.v1.HealthCheckResponse'),
    Struct: t('google.protobuf.Struct'),
    Observer: s('observer.Observer'),
    Peer: s('peer.Peer'),
    Health: s('grpc.health.v1.Health'),
  };
  return loaded;
}
