/**
 * The OpenTelemetry Collector contrib release every file in collector-config/ and the manifests in
 * deploy/ are pinned to, and the components it contains.
 *
 * Source: open-telemetry/opentelemetry-collector-releases, distributions/otelcol-contrib/manifest.yaml
 * at commit 008cde8ca78cc0286ee3f0de92fa95e1641a445a, where every component module is at v0.136.0
 * (the gomod lines, module base names below, in the manifest's order).
 */
export const OTELCOL_CONTRIB_VERSION = '0.136.0';
export const OTELCOL_CONTRIB_IMAGE = 'otel/opentelemetry-collector-contrib';

export const MODULES = {
  extensions: [
    'zpagesextension', 'ackextension', 'asapauthextension', 'awsproxy', 'azureauthextension', 'basicauthextension',
    'bearertokenauthextension', 'cgroupruntimeextension', 'datadogextension',
    'awscloudwatchmetricstreamsencodingextension', 'awslogsencodingextension', 'googlecloudlogentryencodingextension',
    'jaegerencodingextension', 'jsonlogencodingextension', 'otlpencodingextension', 'skywalkingencodingextension',
    'textencodingextension', 'zipkinencodingextension', 'googleclientauthextension', 'headerssetterextension',
    'healthcheckextension', 'httpforwarderextension', 'jaegerremotesampling', 'oauth2clientauthextension',
    'dockerobserver', 'ecsobserver', 'ecstaskobserver', 'hostobserver', 'k8sobserver', 'kafkatopicsobserver',
    'oidcauthextension', 'opampextension', 'pprofextension', 'sigv4authextension', 'filestorage', 'dbstorage',
    'redisstorageextension', 'sumologicextension', 'k8sleaderelector',
  ],
  exporters: [
    'debugexporter', 'nopexporter', 'otlpexporter', 'otlphttpexporter', 'alibabacloudlogserviceexporter',
    'awscloudwatchlogsexporter', 'awsemfexporter', 'awskinesisexporter', 'awsxrayexporter', 'awss3exporter',
    'azureblobexporter', 'azuredataexplorerexporter', 'azuremonitorexporter', 'bmchelixexporter', 'carbonexporter',
    'cassandraexporter', 'clickhouseexporter', 'coralogixexporter', 'datadogexporter', 'datasetexporter',
    'dorisexporter', 'elasticsearchexporter', 'faroexporter', 'fileexporter', 'googlecloudexporter',
    'googlecloudpubsubexporter', 'googlemanagedprometheusexporter', 'honeycombmarkerexporter', 'influxdbexporter',
    'kafkaexporter', 'loadbalancingexporter', 'logicmonitorexporter', 'logzioexporter', 'mezmoexporter',
    'opensearchexporter', 'otelarrowexporter', 'prometheusexporter', 'prometheusremotewriteexporter',
    'pulsarexporter', 'rabbitmqexporter', 'sapmexporter', 'sentryexporter', 'signalfxexporter', 'splunkhecexporter',
    'stefexporter', 'sumologicexporter', 'syslogexporter', 'tencentcloudlogserviceexporter', 'tinybirdexporter',
    'zipkinexporter',
  ],
  processors: [
    'batchprocessor', 'memorylimiterprocessor', 'attributesprocessor', 'cumulativetodeltaprocessor',
    'coralogixprocessor', 'deltatocumulativeprocessor', 'deltatorateprocessor', 'filterprocessor', 'geoipprocessor',
    'groupbyattrsprocessor', 'groupbytraceprocessor', 'intervalprocessor', 'isolationforestprocessor',
    'k8sattributesprocessor', 'logdedupprocessor', 'metricsgenerationprocessor', 'metricstarttimeprocessor',
    'metricstransformprocessor', 'probabilisticsamplerprocessor', 'redactionprocessor', 'remotetapprocessor',
    'resourcedetectionprocessor', 'resourceprocessor', 'schemaprocessor', 'spanprocessor', 'sumologicprocessor',
    'tailsamplingprocessor', 'transformprocessor',
  ],
  receivers: [
    'nopreceiver', 'otlpreceiver', 'activedirectorydsreceiver', 'aerospikereceiver', 'apachereceiver',
    'apachesparkreceiver', 'awscloudwatchreceiver', 'awscontainerinsightreceiver', 'awsecscontainermetricsreceiver',
    'awsfirehosereceiver', 'awss3receiver', 'awsxrayreceiver', 'azureblobreceiver', 'azureeventhubreceiver',
    'azuremonitorreceiver', 'bigipreceiver', 'carbonreceiver', 'chronyreceiver', 'cloudflarereceiver',
    'cloudfoundryreceiver', 'collectdreceiver', 'couchdbreceiver', 'datadogreceiver', 'dockerstatsreceiver',
    'elasticsearchreceiver', 'envoyalsreceiver', 'expvarreceiver', 'faroreceiver', 'filelogreceiver',
    'filestatsreceiver', 'flinkmetricsreceiver', 'fluentforwardreceiver', 'githubreceiver',
    'googlecloudmonitoringreceiver', 'googlecloudpubsubreceiver', 'googlecloudspannerreceiver', 'haproxyreceiver',
    'hostmetricsreceiver', 'httpcheckreceiver', 'influxdbreceiver', 'iisreceiver', 'jaegerreceiver', 'jmxreceiver',
    'journaldreceiver', 'k8sclusterreceiver', 'k8seventsreceiver', 'k8sobjectsreceiver', 'kafkametricsreceiver',
    'kafkareceiver', 'kubeletstatsreceiver', 'libhoneyreceiver', 'lokireceiver', 'memcachedreceiver',
    'mongodbatlasreceiver', 'mongodbreceiver', 'mysqlreceiver', 'namedpipereceiver', 'netflowreceiver',
    'nginxreceiver', 'nsxtreceiver', 'ntpreceiver', 'oracledbreceiver', 'otlpjsonfilereceiver', 'otelarrowreceiver',
    'podmanreceiver', 'postgresqlreceiver', 'prometheusreceiver', 'prometheusremotewritereceiver', 'purefareceiver',
    'purefbreceiver', 'pulsarreceiver', 'rabbitmqreceiver', 'receivercreator', 'redisreceiver', 'riakreceiver',
    'saphanareceiver', 'signalfxreceiver', 'simpleprometheusreceiver', 'skywalkingreceiver', 'snowflakereceiver',
    'solacereceiver', 'splunkenterprisereceiver', 'splunkhecreceiver', 'stefreceiver', 'sqlqueryreceiver',
    'sqlserverreceiver', 'sshcheckreceiver', 'statsdreceiver', 'syslogreceiver', 'tcpcheckreceiver',
    'tcplogreceiver', 'tlscheckreceiver', 'udplogreceiver', 'vcenterreceiver', 'wavefrontreceiver', 'snmpreceiver',
    'webhookeventreceiver', 'windowseventlogreceiver', 'windowsperfcountersreceiver', 'zipkinreceiver',
    'zookeeperreceiver',
  ],
  connectors: [
    'forwardconnector', 'countconnector', 'datadogconnector', 'exceptionsconnector', 'failoverconnector',
    'grafanacloudconnector', 'otlpjsonconnector', 'roundrobinconnector', 'routingconnector',
    'servicegraphconnector', 'spanmetricsconnector', 'sumconnector', 'signaltometricsconnector',
  ],
} as const;

export type ComponentKind = keyof typeof MODULES;

/**
 * Configuration type names (the part before `/` in `memory_limiter`, `otlp/gateway`) whose module
 * is not simply `<type><kind>`; from each component's metadata.yaml `type:`.
 */
const TYPE_MODULE: Readonly<Record<string, string>> = {
  memory_limiter: 'memorylimiterprocessor',
  health_check: 'healthcheckextension',
  file_storage: 'filestorage',
  db_storage: 'dbstorage',
  zpages: 'zpagesextension',
  pprof: 'pprofextension',
};

const SUFFIX: Record<ComponentKind, string> = {
  extensions: 'extension', exporters: 'exporter', processors: 'processor', receivers: 'receiver', connectors: 'connector',
};

/** The module of a component type in the pinned release, or undefined when the release has none. */
export function moduleOf(kind: ComponentKind, type: string): string | undefined {
  const modules: readonly string[] = MODULES[kind];
  const candidate = TYPE_MODULE[type] ?? `${type}${SUFFIX[kind]}`;
  return modules.includes(candidate) ? candidate : undefined;
}

/** Signals each exporter type used here supports (its README's "Supported pipeline types"). */
export const EXPORTER_SIGNALS: Readonly<Record<string, readonly string[]>> = {
  otlp: ['traces', 'metrics', 'logs'],
  otlphttp: ['traces', 'metrics', 'logs'],
  debug: ['traces', 'metrics', 'logs'],
  awss3: ['traces', 'metrics', 'logs'],
  prometheus: ['metrics'],
  prometheusremotewrite: ['metrics'],
};
