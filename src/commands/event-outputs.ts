/**
 * The agent's event outputs, from the configuration: the OTLP log exporter (when events are
 * exported) and the `fovea observe` server (when enabled). Shared by `fovea agent` and `fovea demo`.
 */
import type { Resource } from '@opentelemetry/resources';
import type { Config } from '../config/index.js';
import type { EventOutput } from '../events/pipeline.js';
import { createEventLogExporter } from '../export/log-queue.js';
import type { OtlpSettings } from '../export/otlp-settings.js';
import type { Logger } from '../log.js';
import { EVENT_LOSS_STAGE } from '../names.js';
import { ObserveServer } from '../observe/server.js';

/** Starts the outputs; throws (after closing what started) when the observe socket cannot be served. */
export async function createEventOutputs(
  config: Config, logs: OtlpSettings | undefined, resource: Resource, logger: Logger,
): Promise<EventOutput[]> {
  const eventsOn = config.events.drops.enabled || config.events.flows.enabled;
  const outputs: EventOutput[] = [];
  if (eventsOn && logs) {
    outputs.push(createEventLogExporter({
      settings: logs, resource, logger,
      maxQueue: config.events.export.maxQueue, maxBatch: config.events.export.maxBatch,
    }));
  }
  if (eventsOn && config.observe.enabled) {
    try {
      const server = await ObserveServer.start({
        socketPath: config.observe.socket, logger, historySize: config.observe.historySize,
        ...(config.observe.address ? { tcpAddress: config.observe.address } : {}),
      });
      outputs.push(observeOutput(server));
    } catch (err) {
      await Promise.all(outputs.map((o) => o.close(0)));
      throw new Error(`fovea observe socket: ${(err as Error).message} (set observe.enabled=false or another observe.socket)`);
    }
  }
  return outputs;
}

function observeOutput(server: ObserveServer): EventOutput {
  return {
    name: 'observe',
    publish: (events) => server.publish(events),
    stats: () => ({ clients: server.clients(), lost: { [EVENT_LOSS_STAGE.observeSlowClient]: server.lostEvents() } }),
    close: () => server.stop(),
  };
}
