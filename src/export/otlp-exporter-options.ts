/**
 * Upstream http/protobuf exporter options from resolved OtlpSettings, shared by every signal (the
 * metrics pipeline and the event log exporter): headers, compression, and for https an agent with
 * the TLS files. (gRPC goes through grpc-transport.ts, which takes OtlpSettings as they are.)
 *
 * Everything resolved in OtlpSettings is passed explicitly so it wins over the upstream exporters'
 * own reading of OTEL_EXPORTER_OTLP_*.
 */
import type { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import type { OtlpSettings } from './otlp-settings.js';

// The config type every signal's http/protobuf exporter shares (metrics adds its temporality).
type ProtoConfig = NonNullable<ConstructorParameters<typeof ProtoLogExporter>[0]>;

export type HttpExporterOptions = Required<Pick<ProtoConfig, 'url' | 'timeoutMillis' | 'headers' | 'compression'>>
  & Pick<ProtoConfig, 'httpAgentOptions'>;

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
