/**
 * Step Functions task `Finish`: FinishInput → FinishResult. See app/finish-job.ts.
 */
import { createJobFinisher } from '../../app/finish-job.js';
import type { FinishInput, FinishResult } from '../../core/contract/workflow.js';
import { jobFunctionFromEnvironment } from '../shared/event-wiring.js';
import { handlerWith, isoNow, recordCostUsd } from '../shared/wiring.js';

const { logger, store, metrics, terminalEvents } = jobFunctionFromEnvironment('gpujobs-finish');
const finishJob = createJobFinisher({
  store,
  terminalEvents,
  metrics,
  jobCostUsd: recordCostUsd,
  now: isoNow,
});

async function finish(input: FinishInput): Promise<FinishResult> {
  const result = await finishJob(input);
  logger.info('Finished job', { ...result, outcome: input.outcome });
  return result;
}

export const handler = handlerWith(finish, { logger, metrics });
