/**
 * The SDK calls the real handlers make for a job, measured in local mode: jobs are submitted over
 * HTTP one at a time and followed to their end, and every call the process makes meanwhile is
 * counted (bench/support/sdk-call-counter.ts), with the handlers' log bytes (./log-meter.ts).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { ENV } from '../../core/contract/environment.js';
import { batchJobName } from '../../core/contract/workflow.js';
import type { Job } from '../../core/job.js';
import { jobKey } from '../../core/table.js';
import type { LocalPlatform } from '../../local/platform.js';
import { dynamoItemSizeBytes } from './cost-model.js';
import { submitJob, waitForTerminalEvents } from './local-platform.js';
import type { HandlerLogMeter } from './log-meter.js';
import { SdkCallCounter } from './sdk-call-counter.js';
import type { MeasuredCalls } from './usage-model.js';
import type { CostScenario } from './workflow-path.js';

/** The SQS requests local mode's stand-in for the event source makes; in AWS that polling is Lambda's, priced on its own. */
const EVENT_SOURCE_SQS_COMMANDS = new Set([
  'ReceiveMessageCommand',
  'DeleteMessageBatchCommand',
  'DeleteMessageCommand',
  'ChangeMessageVisibilityBatchCommand',
  'ChangeMessageVisibilityCommand',
  'GetQueueAttributesCommand',
  'CreateQueueCommand',
]);

/** A counter of the handlers' calls: local mode's stand-in for the SQS event source polls the queue through the SDK too. */
export function handlerCallCounter(): SdkCallCounter {
  return new SdkCallCounter((call) => call.client === 'SQSClient' && EVENT_SOURCE_SQS_COMMANDS.has(call.command));
}

export interface MeasuredPath extends MeasuredCalls {
  /** The jobs as the API returns them at the end, to confirm the path each took. */
  readonly jobRecords: readonly (Job | undefined)[];
}

/** Waits until no call has been made for `quietMs`, so a job's trailing calls land in its own count. */
async function untilQuiet(counter: SdkCallCounter, quietMs: number): Promise<void> {
  let last = -1;
  while (counter.pending !== last) {
    last = counter.pending;
    await new Promise((resolve) => setTimeout(resolve, quietMs));
  }
}

/** Runs `jobs` jobs of the scenario one after another; the calls and log bytes are theirs alone. */
export async function measurePath(
  platform: LocalPlatform,
  counter: SdkCallCounter,
  meter: HandlerLogMeter,
  scenario: CostScenario,
  jobs: number,
): Promise<MeasuredPath> {
  await untilQuiet(counter, 500);
  counter.take();
  meter.bytes = 0;
  const jobIds: string[] = [];
  for (let i = 0; i < jobs; i++) {
    // The failover job runs long enough to be interrupted on Spot, and has no second Spot attempt.
    const body =
      scenario === 'happy' ? { image: 'local', command: ['true'] } : { image: 'local', command: ['sleep', '1'], maxSpotAttempts: 1 };
    const submission = await submitJob(platform.url, body);
    if (submission.status !== 202 || !submission.jobId)
      throw new Error(`Submitting a ${scenario} job failed with HTTP ${submission.status}.`);
    const jobId = submission.jobId;
    jobIds.push(jobId);
    if (scenario === 'reclaim-failover') {
      const deadline = Date.now() + 30_000;
      while (!platform.runningProcesses().some((p) => p.jobName === batchJobName(jobId, 1) && p.capacity === 'spot')) {
        if (Date.now() > deadline) throw new Error(`Job ${jobId} never ran on Spot.`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      platform.interruptSpot();
    }
    if (!(await waitForTerminalEvents(platform, [jobId], Date.now() + 60_000, 20)))
      throw new Error(`Job ${jobId} did not finish within 60 s.`);
    await untilQuiet(counter, 300);
  }
  await untilQuiet(counter, 750);
  const calls = counter.take();
  const handlerLogBytes = meter.bytes;

  // Read back (uncounted): the stored item's size, and the records to confirm the path taken.
  const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  const stored = await documents.send(new GetCommand({ TableName: process.env[ENV.tableName], Key: jobKey(jobIds[jobIds.length - 1]!) }));
  documents.destroy();
  const jobRecords = await Promise.all(
    jobIds.map(async (jobId) => {
      const response = await fetch(`${platform.url}/v1/jobs/${jobId}`);
      return response.status === 200 ? ((await response.json()) as Job) : undefined;
    }),
  );
  await untilQuiet(counter, 200);
  counter.take();
  // Without the item (it should not happen), a 1 KiB item: one request unit either way.
  return { jobs, calls, handlerLogBytes, itemBytes: stored.Item ? dynamoItemSizeBytes(stored.Item) : 1024, jobRecords };
}
