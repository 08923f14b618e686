/**
 * The gpujobs event bus as the handlers that announce job changes use it. Apart from
 * wiring.ts because it brings the EventBridge client: the dispatcher, which announces
 * nothing, stays without it (its bundle and its role).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { ENV } from '../../core/contract/environment.js';
import { buildJobEvent } from '../../core/events.js';
import type { StatusChangeDependencies } from '../../app/status-change.js';
import { terminalEventDependencies, type TerminalEventDependencies } from '../../app/terminal-event.js';
import { requireEnv } from './config.js';
import { EventPublisher } from './events-publisher.js';
import type { DynamoJobStore } from './job-store.js';
import { metricsFromEnvironment, type JobMetrics } from './metrics.js';
import { functionLogger, jobStoreFromEnvironment } from './wiring.js';

/**
 * The publisher on the function's event bus.
 * @default eventBusName - the EVENT_BUS_NAME variable, required
 */
export function publisherFromEnvironment(eventBusName: string = requireEnv(ENV.eventBusName)): EventPublisher {
  return new EventPublisher(new EventBridgeClient({}), eventBusName);
}

/** How the use cases that announce a status change send its events: built from the record, then published. */
export function jobEventSending(publisher: EventPublisher): Pick<StatusChangeDependencies, 'publish' | 'buildEvents'> {
  return { publish: (events) => publisher.publish(events), buildEvents: buildJobEvent };
}

/** The terminal-event claim protocol on the store, publishing through `publisher`. */
export function terminalEventsFor(store: DynamoJobStore, publisher: EventPublisher): TerminalEventDependencies {
  return terminalEventDependencies(store, publisher);
}

/** What a function that changes jobs, announces the changes and counts them is composed of. */
export interface JobFunctionWiring {
  readonly logger: Logger;
  readonly store: DynamoJobStore;
  readonly publisher: EventPublisher;
  readonly metrics: JobMetrics;
  readonly terminalEvents: TerminalEventDependencies;
}

/**
 * The logger named `serviceName`, the store on TABLE_NAME, the publisher on EVENT_BUS_NAME and
 * the metrics, each variable checked as this runs (at module load).
 */
export function jobFunctionFromEnvironment(serviceName: string): JobFunctionWiring {
  const logger = functionLogger(serviceName);
  const store = jobStoreFromEnvironment();
  const publisher = publisherFromEnvironment();
  const metrics = metricsFromEnvironment(logger);
  return { logger, store, publisher, metrics, terminalEvents: terminalEventsFor(store, publisher) };
}
