/**
 * EventBridge "Batch Job State Change" for the job queues → the job's and its
 * attempts' status, Batch job id, instance type, times and log stream (and the
 * attempts Batch retried in place, settled). See app/apply-batch-event.ts.
 */
import { createBatchEventApplier, type BatchEventEffect } from '../../app/apply-batch-event.js';
import { jobEventSending, jobFunctionFromEnvironment } from '../shared/event-wiring.js';
import { runPricingFromEcs } from '../shared/run-pricing-wiring.js';
import { handlerWith, isoNow } from '../shared/wiring.js';
import { attemptFactsFrom } from './batch-job-event.js';

const { logger, store, publisher, metrics } = jobFunctionFromEnvironment('gpujobs-batch-events');
const applyBatchEvent = createBatchEventApplier({
  store,
  ...runPricingFromEcs(),
  ...jobEventSending(publisher),
  now: isoNow,
  metrics,
});

const QUIET_EFFECTS = new Set<BatchEventEffect>(['duplicate', 'stale', 'job-terminal', 'not-our-job']);

async function applyEvent(event: unknown): Promise<{ effect: BatchEventEffect }> {
  const facts = attemptFactsFrom(event);
  if (!facts) return { effect: 'not-our-job' };
  const effect = await applyBatchEvent(facts);
  // Duplicates and late events are expected traffic, not news.
  const log = QUIET_EFFECTS.has(effect) ? logger.debug.bind(logger) : logger.info.bind(logger);
  log('Applied Batch job state change', { jobId: facts.jobId, attempt: facts.attempt, batchStatus: facts.batchStatus, effect });
  return { effect };
}

export const handler = handlerWith(applyEvent, { logger, metrics });
