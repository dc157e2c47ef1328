/**
 * Upstream OTLP exporter options from resolved OtlpSettings, shared by every signal (the metrics
 * pipeline and the event log exporter): gRPC metadata, TLS credentials and compression, or
 * http/protobuf headers and TLS agent options.
 *
 * Everything resolved in OtlpSettings is passed explicitly so it wins over the upstream exporters'
 * own reading of OTEL_EXPORTER_OTLP_*; upstream still merges gRPC metadata from the environment for
 * keys not set here (the same source, so the result is the same).
 */
import * as grpc from '@grpc/grpc-js';
import type { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import type { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import type { OtlpSettings } from './otlp-settings.js';

// The config types every signal's exporter of a transport shares (metrics adds its temporality).
type GrpcConfig = NonNullable<ConstructorParameters<typeof GrpcLogExporter>[0]>;
type ProtoConfig = NonNullable<ConstructorParameters<typeof ProtoLogExporter>[0]>;

export type GrpcExporterOptions = Required<Pick<GrpcConfig, 'url' | 'timeoutMillis' | 'metadata' | 'credentials' | 'compression'>>;
export type HttpExporterOptions = Required<Pick<ProtoConfig, 'url' | 'timeoutMillis' | 'headers' | 'compression'>>
  & Pick<ProtoConfig, 'httpAgentOptions'>;

/** gRPC: metadata from the headers, TLS (CA, mTLS key and certificate) or plaintext credentials. */
export function grpcExporterOptions(settings: OtlpSettings): GrpcExporterOptions {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(settings.headers)) metadata.set(k, v);
  const tls = settings.tls;
  const credentials = tls
    ? grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null)
    : grpc.credentials.createInsecure();
  return {
    url: settings.endpoint,
    timeoutMillis: settings.timeoutMs,
    metadata,
    credentials,
    compression: settings.compression as GrpcExporterOptions['compression'],
  };
}

/** http/protobuf: headers, and for https an agent with the CA and mTLS files. */
export function httpExporterOptions(settings: OtlpSettings): HttpExporterOptions {
  const tls = settings.tls;
  return {
    url: settings.endpoint,
    timeoutMillis: settings.timeoutMs,
    headers: { ...settings.headers },
    compression: settings.compression as HttpExporterOptions['compression'],
    ...(tls ? { httpAgentOptions: { keepAlive: true, ca: tls.ca, key: tls.key, cert: tls.cert } } : {}),
  };
}
