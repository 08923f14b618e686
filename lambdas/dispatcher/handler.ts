/**
 * SQS intake queue → one Step Functions execution per job, one message at a time.
 * Failures are reported per message (`batchItemFailures`), so one bad message never
 * sends its whole batch back to the queue.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { ENV } from '../../core/contract/environment.js';
import { requireEnv } from '../shared/config.js';
import { functionLogger, handlerWith, jobStoreFromEnvironment } from '../shared/wiring.js';
import { createJobDispatcher, parseIntakeMessage } from './dispatch-job.js';
import { pacerFromEnvironment } from './pacer.js';

const logger = functionLogger('gpujobs-dispatcher');
const store = jobStoreFromEnvironment();
const stateMachineArn = requireEnv(ENV.stateMachineArn);

/**
 * Tries of one StartExecution, the first included. A throttled start is retried by the SDK with
 * exponential backoff and full jitter; adaptive mode also slows this client's own sending after a
 * throttle (client-side rate limiting), which fits one client hammering one account quota while the
 * intake queue drains. A start still throttled after these tries fails its message, and SQS
 * delivers it again after the visibility timeout.
 */
const START_EXECUTION_MAX_ATTEMPTS = 5;

const dispatchJob = createJobDispatcher({
  store,
  sfn: new SFNClient({ retryMode: 'adaptive', maxAttempts: START_EXECUTION_MAX_ATTEMPTS }),
  stateMachineArn,
  pace: pacerFromEnvironment(process.env[ENV.dispatchRatePerSecond], ENV.dispatchRatePerSecond),
});
const processor = new BatchProcessor(EventType.SQS);

async function dispatchRecord(record: SQSRecord): Promise<void> {
  try {
    const { jobId } = parseIntakeMessage(record.body);
    const outcome = await dispatchJob({ jobId });
    logger.info('Dispatched job', { jobId, outcome: outcome.kind });
  } catch (error) {
    logger.error('Could not dispatch intake message', { messageId: record.messageId, error });
    throw error;
  }
}

async function dispatchBatch(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  return processPartialResponse(event, dispatchRecord, processor, {
    context,
    // A fully failed batch is reported like a partial one: every message goes back to the
    // queue either way, and the per-message report keeps the DLQ count exact.
    throwOnFullBatchFailure: false,
    // One StartExecution at a time per invocation: the event source's MaximumConcurrency then
    // bounds the platform's start rate, keeping Batch under its 50 SubmitJob/s per account
    // (lib/config.ts). Powertools processes a batch in parallel unless told otherwise.
    processInParallel: false,
  });
}

// The dispatcher records no metrics, so none are published.
export const handler = handlerWith(dispatchBatch, { logger });
