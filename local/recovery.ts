/**
 * Restart recovery: what to do on start with the jobs an earlier run of the platform on the same
 * data dir left open.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { changeStatus } from '../app/status-change.js';
import { putJobAttempts } from '../app/update-job.js';
import { buildJobEvent } from '../core/events.js';
import { isTerminal, type JobRecord } from '../core/job.js';
import { interruptedAttemptWrites } from '../core/plan.js';
import type { GpuJobEvent } from '../core/ports.js';
import { createDocumentClient } from '../lambdas/shared/clients.js';
import { EventPublisher } from '../lambdas/shared/events-publisher.js';
import { DynamoJobStore } from '../lambdas/shared/job-store.js';
import { LOCAL_CREDENTIALS } from './credentials.js';
import type { RunningAwsServer } from './aws-server.js';
import type { RunningDynamoDb } from './dynamodb.js';
import type { LocalEventBus } from './event-bus.js';
import type { LocalLogger } from './logger.js';
import { EVENT_BUS_NAME, TABLE_NAME } from './resources.js';
import type { RunningSqs } from './sqs.js';

/** The statusReason of an attempt that was running when the platform stopped (or was killed). */
const RESTART_REASON = 'The local platform stopped while the attempt ran';

export interface RecoveredJobs {
  /** QUEUED jobs sent to the intake queue again. */
  readonly requeued: readonly string[];
  /** PENDING or RUNNING jobs whose workflow starts again, planned from the attempts they settled. */
  readonly resumed: readonly string[];
  /** Of the resumed jobs, those whose attempt was running: it ended interrupted, and the job's policy decides the next. */
  readonly interrupted: readonly string[];
}

/**
 * Jobs the previous run left behind: the intake queue, the executions and the Batch queue
 * lived in memory, the job records on disk. Every open job is sent to the intake queue
 * again, oldest first, and the dispatcher starts its workflow as usual (execution name =
 * job id, unknown to the fresh Step Functions). QUEUED and PENDING jobs that only waited
 * lose nothing: Prepare plans them from their record, reusing the attempt planned and never
 * run. An attempt that was running cannot be resumed: it is settled first as interrupted
 * (its host went away, see interruptedAttemptWrites) and a RUNNING job goes back to PENDING,
 * as settle-attempt does after a reclaim, so Prepare counts that attempt against the job's
 * own policy, like any other, and the job runs again or ends as its policy says.
 */
export async function recoverInterruptedJobs(context: {
  readonly dynamodb: RunningDynamoDb;
  readonly sqs: RunningSqs;
  readonly aws: RunningAwsServer;
  readonly region: string;
  readonly bus: LocalEventBus;
  readonly logger: LocalLogger;
}): Promise<RecoveredJobs> {
  const documents = createDocumentClient(
    new DynamoDBClient({ endpoint: context.dynamodb.endpoint, region: context.region, credentials: LOCAL_CREDENTIALS }),
  );
  const sqs = new SQSClient({ endpoint: context.sqs.endpoint, region: context.region, credentials: LOCAL_CREDENTIALS });
  const eventBridge = new EventBridgeClient({ endpoint: context.aws.endpoint, region: context.region, credentials: LOCAL_CREDENTIALS });
  const store = new DynamoJobStore(documents, TABLE_NAME);
  const publisher = new EventPublisher(eventBridge, EVENT_BUS_NAME);
  const statusChange = {
    store,
    publish: (events: readonly GpuJobEvent[]) => publisher.publish(events),
    buildEvents: buildJobEvent,
    now: () => new Date().toISOString(),
  };
  const requeued: string[] = [];
  const resumed: string[] = [];
  const interrupted: string[] = [];
  try {
    // In submission order, so the jobs that waited longest get the slots first again.
    const open = [...(await store.listUnfinished())].sort(
      (a, b) => a.createdAt.localeCompare(b.createdAt) || a.jobId.localeCompare(b.jobId),
    );

    for (const { jobId } of open) {
      // Read again: the listing is a scan, and a job's record is decided on as it is now.
      let record: JobRecord | undefined = await store.getJob(jobId);
      if (!record || isTerminal(record.status)) continue;
      if (record.status === 'QUEUED') {
        requeued.push(jobId);
      } else {
        const writes = interruptedAttemptWrites(record, { stoppedAt: statusChange.now(), statusReason: RESTART_REASON });
        if (writes.length > 0) {
          record = await putJobAttempts(store, jobId, writes, statusChange.now());
          interrupted.push(jobId);
        }
        if (record.status === 'RUNNING') await changeStatus(statusChange, record, 'PENDING');
        resumed.push(jobId);
      }
      await sqs.send(new SendMessageCommand({ QueueUrl: context.sqs.queueUrl, MessageBody: JSON.stringify({ jobId }) }));
    }
    await context.bus.drain();
  } finally {
    documents.destroy();
    sqs.destroy();
    eventBridge.destroy();
  }
  if (requeued.length + resumed.length > 0) {
    context.logger.info(
      `recovered after restart: ${requeued.length} queued job(s) requeued, ${resumed.length} waiting or running job(s) resumed (${interrupted.length} with an interrupted attempt)`,
    );
  }
  return { requeued, resumed, interrupted };
}
