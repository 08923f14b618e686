/**
 * Exactly one terminal event per job, across retries and crashes.
 *
 * The rule: the terminal event is owed by the code path whose conditional write made
 * the job terminal. That write stores the debt on the record itself
 * (`terminalEvent: {writer, previousStatus, published: false}`), in the same
 * conditional update as the status, so the debt exists if and only if the
 * transition happened. Publishing then settles it with a second conditional update
 * (`published: false → true`). A retry of the same path (Step Functions retrying
 * finish after PutEvents failed; reconcile after its Lambda failed) finds the debt
 * unpaid and publishes it; any other path finds a terminal job and does nothing.
 *
 * A duplicate is possible only if the process dies between an accepted PutEvents
 * and the marker write; consumers dedupe on jobId for that case (at-least-once).
 */
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { JobRecord, JobStatus } from '../../core/job.js';
import type { GpuJobEvent, TransitionRequest } from '../../core/ports.js';
import { jobKey } from '../../core/table.js';

/** Which code path wrote a job's terminal status (`api`: a QUEUED job cancelled at once). */
export type TerminalWriter = 'finish' | 'reconcile' | 'api';

export interface TerminalEventMarker {
  readonly writer: TerminalWriter;
  readonly previousStatus: JobStatus;
  readonly published: boolean;
}

export type RecordWithTerminalEvent = JobRecord & { readonly terminalEvent?: TerminalEventMarker };

/** The fields a terminal transition writes: the caller's plus the event debt. */
export function terminalTransitionFields(
  fields: NonNullable<TransitionRequest['set']>,
  writer: TerminalWriter,
  previousStatus: JobStatus,
): NonNullable<TransitionRequest['set']> {
  const marker: TerminalEventMarker = { writer, previousStatus, published: false };
  // The store writes every field it is given in the same conditional update; the port's
  // type does not list this one yet.
  return { ...fields, terminalEvent: marker } as NonNullable<TransitionRequest['set']>;
}

export function terminalEventOf(record: JobRecord): TerminalEventMarker | undefined {
  return (record as RecordWithTerminalEvent).terminalEvent;
}

/** Sets `published` on the marker; false when it was already set (another invocation paid the debt). */
export type MarkTerminalEventPublished = (jobId: string) => Promise<boolean>;

export function dynamoTerminalEventMarker(documentClient: DynamoDBDocumentClient, tableName: string): MarkTerminalEventPublished {
  return async (jobId) => {
    try {
      await documentClient.send(
        new UpdateCommand({
          TableName: tableName,
          Key: jobKey(jobId),
          UpdateExpression: 'SET #marker.#published = :true, #version = #version + :one',
          ConditionExpression: '#marker.#published = :false',
          ExpressionAttributeNames: { '#marker': 'terminalEvent', '#published': 'published', '#version': 'version' },
          ExpressionAttributeValues: { ':true': true, ':false': false, ':one': 1 },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof Error && error.name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  };
}

export interface TerminalEventDependencies {
  readonly publish: (events: readonly GpuJobEvent[]) => Promise<void>;
  readonly buildEvents: (record: JobRecord, previousStatus: JobStatus) => readonly GpuJobEvent[];
  readonly markPublished: MarkTerminalEventPublished;
}

/**
 * Publishes the terminal events still owed for this record, if any; true when it did.
 * A failed publish throws with the debt still recorded, so the caller's retry pays it.
 * Finish and reconcile never run at once for one job (reconcile hears of an execution
 * only after it ended), so whichever finds the debt unpaid may pay it: reconcile pays
 * what a finish that exhausted its retries could not.
 */
export async function payTerminalEventDebt(dependencies: TerminalEventDependencies, record: JobRecord): Promise<boolean> {
  const marker = terminalEventOf(record);
  if (!marker || marker.published) return false;
  await dependencies.publish(dependencies.buildEvents(record, marker.previousStatus));
  await dependencies.markPublished(record.jobId);
  return true;
}
