/**
 * Step Functions task `SettleAttempt`: SettleAttemptInput → Plan. See app/settle-attempt.ts.
 */
import { createAttemptSettler } from '../../app/settle-attempt.js';
import type { Plan, SettleAttemptInput } from '../../core/contract/workflow.js';
import { jobEventSending, jobFunctionFromEnvironment } from '../shared/event-wiring.js';
import { runPricingFromEcs } from '../shared/run-pricing-wiring.js';
import { handlerWith, isoNow, recordCostUsd } from '../shared/wiring.js';

const { logger, store, publisher, metrics, terminalEvents } = jobFunctionFromEnvironment('gpujobs-settle-attempt');
const settleAttempt = createAttemptSettler({
  store,
  terminalEvents,
  jobCostUsd: recordCostUsd,
  ...jobEventSending(publisher),
  now: isoNow,
  // The instance type comes from ECS: the state change event may not have named the instance yet when the attempt ends this fast.
  ...runPricingFromEcs(),
  onLookupFailure: (error, containerInstanceArn) =>
    logger.warn('Instance type lookup failed; the attempt is settled without it', { containerInstanceArn, error }),
  metrics,
});

async function settle(input: SettleAttemptInput): Promise<Plan> {
  const plan = await settleAttempt(input);
  logger.info('Settled attempt', { jobId: input.jobId, attempt: input.attempt, capacity: input.capacity, next: plan.next });
  return plan;
}

export const handler = handlerWith(settle, { logger, metrics });
