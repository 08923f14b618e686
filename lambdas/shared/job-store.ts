/**
 * The DynamoDB adapter for the JobStore port (core/ports.ts), on the document client.
 *
 * Guarantees:
 * - Every write that changes a job is conditional on the statuses it may move from and on the
 *   version it was computed from, and increments `version`; a lost race surfaces as a
 *   ConflictError carrying the record as it is now. No race can produce an illegal history.
 * - Idempotent creation without transactions (idempotent-create.ts): the key is claimed with a
 *   conditional Put, then the job is Put with `attribute_not_exists`.
 * - Attempts live in a map keyed by attempt number (job-item.ts), so writing one attempt never
 *   rewrites another, and their statuses only move forward (a late Batch event never undoes a
 *   settled attempt).
 * - A job's terminal event debt (`terminalEvent`) is written with its terminal status and settled
 *   by markTerminalEventPublished, conditional on being unpaid, so it is settled once.
 * - The two list indexes' keys are rewritten on every status change.
 */
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { JOB_STATUSES, isTerminal, type JobRecord } from '../../core/job.js';
import type { JobChange } from '../../core/job-change.js';
import {
  ConflictError,
  type CreateJobRequest,
  type CreateJobResult,
  type JobStore,
  type ListJobsPage,
  type ListJobsQuery,
} from '../../core/ports.js';
import { idempotencyKey, jobKey } from '../../core/table.js';
import { createJobIdempotently, liveClaim, type IdempotencyClaim, type IdempotentCreatePrimitives } from './idempotent-create.js';
import {
  applyChange,
  newJobItem,
  recordFromItem,
  withdrawRefusal,
  type Item,
  type StoredJobRecord,
  type UpdateCondition,
} from './job-item.js';
import { listingStart, pageOf } from './page-token.js';

/** The statuses a job can still leave, as listUnfinished filters on them. */
const UNFINISHED_STATUSES = JOB_STATUSES.filter((status) => !isTerminal(status));

export class DynamoJobStore implements JobStore {
  constructor(
    private readonly documentClient: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** The table operations idempotent creation runs on; getJob through `this`, so a subclass's reads count. */
  private readonly createPrimitives: IdempotentCreatePrimitives = {
    claimIdempotencyKey: (owner, key, claim, nowEpochSeconds) => this.claimIdempotencyKey(owner, key, claim, nowEpochSeconds),
    readClaim: (owner, key, nowEpochSeconds) => this.readClaim(owner, key, nowEpochSeconds),
    putNewJob: (request, jobId) => this.putNewJob(request, jobId),
    getJob: (jobId) => this.getJob(jobId),
  };

  async createJob(request: CreateJobRequest): Promise<CreateJobResult> {
    return createJobIdempotently(this.createPrimitives, request);
  }

  async deleteUnsentJob(jobId: string, owner: string, idempotencyKeyValue?: string): Promise<void> {
    // The job goes first: if we stop half-way, a replay finds the key without its job and recreates
    // the job under the claimed id, which is what a retrying client wants.
    try {
      await this.documentClient.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: jobKey(jobId),
          ConditionExpression: '#owner = :owner AND #status = :queued',
          ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
          ExpressionAttributeValues: { ':owner': owner, ':queued': 'QUEUED' },
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailure(error)) throw error;
      const current = await this.getJob(jobId);
      if (current) throw new ConflictError(withdrawRefusal(jobId, owner, current), current, { cause: error });
    }
    if (idempotencyKeyValue === undefined) return;
    try {
      await this.documentClient.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: idempotencyKey(owner, idempotencyKeyValue),
          ConditionExpression: 'jobId = :jobId',
          ExpressionAttributeValues: { ':jobId': jobId },
        }),
      );
    } catch (error) {
      // Absent, or already claimed for another job: either way it is not ours to delete.
      if (!isConditionalCheckFailure(error)) throw error;
    }
  }

  async getJob(jobId: string): Promise<StoredJobRecord | undefined> {
    const { Item } = await this.documentClient.send(
      new GetCommand({ TableName: this.tableName, Key: jobKey(jobId), ConsistentRead: true }),
    );
    return Item ? recordFromItem(Item) : undefined;
  }

  async listJobs(query: ListJobsQuery): Promise<ListJobsPage> {
    const { index, partitionValue, exclusiveStartKey } = listingStart(query);
    const { Items = [] } = await this.documentClient.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: index.indexName,
        KeyConditionExpression: '#partition = :partition',
        ExpressionAttributeNames: { '#partition': index.partitionKey },
        ExpressionAttributeValues: { ':partition': partitionValue },
        ScanIndexForward: false,
        Limit: query.limit + 1,
        ExclusiveStartKey: exclusiveStartKey,
      }),
    );
    return pageOf(Items, query.limit, index);
  }

  async listUnfinished(): Promise<readonly JobRecord[]> {
    const unfinished: StoredJobRecord[] = [];
    let exclusiveStartKey: Item | undefined;
    do {
      const page = await this.documentClient.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: `sk = :job AND #status IN (${UNFINISHED_STATUSES.map((_, position) => `:unfinished${position}`).join(', ')})`,
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':job': jobKey('').sk,
            ...Object.fromEntries(UNFINISHED_STATUSES.map((status, position) => [`:unfinished${position}`, status])),
          },
          ...(exclusiveStartKey ? { ExclusiveStartKey: exclusiveStartKey } : {}),
        }),
      );
      unfinished.push(...(page.Items ?? []).map(recordFromItem));
      exclusiveStartKey = page.LastEvaluatedKey;
    } while (exclusiveStartKey);
    return unfinished;
  }

  async update(current: JobRecord, change: JobChange): Promise<StoredJobRecord> {
    return applyChange(current, change, (...write) => this.conditionalUpdate(...write));
  }

  async markTerminalEventPublished(jobId: string): Promise<boolean> {
    // The claim has done its work once the event is out.
    return this.updateDebt(
      jobId,
      'SET #debt.#published = :true, #version = #version + :one REMOVE #debt.#claimedUntil',
      '#debt.#published = :false',
      {
        ':true': true,
      },
    );
  }

  async claimTerminalEvent(jobId: string, now: string, until: string): Promise<boolean> {
    return this.updateDebt(
      jobId,
      'SET #debt.#claimedUntil = :until, #version = #version + :one',
      '#debt.#published = :false AND (attribute_not_exists(#debt.#claimedUntil) OR #debt.#claimedUntil < :now)',
      { ':until': until, ':now': now },
    );
  }

  async releaseTerminalEventClaim(jobId: string, until: string): Promise<void> {
    // Only our own claim: a lapsed one may already have been taken by someone else.
    await this.updateDebt(
      jobId,
      'REMOVE #debt.#claimedUntil SET #version = #version + :one',
      '#debt.#published = :false AND #debt.#claimedUntil = :until',
      {
        ':until': until,
      },
    );
  }

  /**
   * Rewrites the job's terminal event debt with `update` (which bumps the version) when the job
   * exists and `condition` holds of its debt; false when it does not.
   */
  private async updateDebt(jobId: string, update: string, condition: string, values: Item): Promise<boolean> {
    try {
      await this.documentClient.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: jobKey(jobId),
          UpdateExpression: update,
          ConditionExpression: `attribute_exists(pk) AND ${condition}`,
          ExpressionAttributeNames: {
            '#debt': 'terminalEvent',
            '#published': 'published',
            '#claimedUntil': 'claimedUntil',
            '#version': 'version',
          },
          ExpressionAttributeValues: { ...values, ':false': false, ':one': 1 },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailure(error)) return false;
      throw error;
    }
  }

  /**
   * Sets `fields` (and whole attempts) if the job is still at `expectedVersion` and in one of
   * `allowedStatuses`; bumps the version. Returns undefined when the condition failed.
   */
  private async conditionalUpdate(
    jobId: string,
    expectedVersion: number,
    fields: Item,
    condition: UpdateCondition,
  ): Promise<StoredJobRecord | undefined> {
    const names: Record<string, string> = { '#version': 'version', '#status': 'status' };
    const values: Record<string, unknown> = { ':expectedVersion': expectedVersion, ':nextVersion': expectedVersion + 1 };
    const assignments = ['#version = :nextVersion'];
    Object.entries(fields).forEach(([field, value], position) => {
      names[`#f${position}`] = field;
      values[`:f${position}`] = value;
      assignments.push(`#f${position} = :f${position}`);
    });
    condition.attempts?.forEach((attempt, position) => {
      names['#attempts'] = 'attempts';
      names[`#attemptNumber${position}`] = String(attempt.attempt);
      values[`:attempt${position}`] = attempt;
      assignments.push(`#attempts.#attemptNumber${position} = :attempt${position}`);
    });
    const statusPlaceholders = condition.allowedStatuses.map((status, position) => {
      values[`:allowed${position}`] = status;
      return `:allowed${position}`;
    });
    try {
      const { Attributes } = await this.documentClient.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: jobKey(jobId),
          UpdateExpression: `SET ${assignments.join(', ')}`,
          ConditionExpression: `attribute_exists(pk) AND #version = :expectedVersion AND #status IN (${statusPlaceholders.join(', ')})`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes ? recordFromItem(Attributes) : undefined;
    } catch (error) {
      if (isConditionalCheckFailure(error)) return undefined;
      throw error;
    }
  }

  private async claimIdempotencyKey(owner: string, key: string, claim: IdempotencyClaim, nowEpochSeconds: number): Promise<boolean> {
    try {
      await this.documentClient.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...idempotencyKey(owner, key), ...claim },
          // DynamoDB deletes expired items only eventually (dynalite never): an expired claim is free.
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt <= :now',
          ExpressionAttributeValues: { ':now': nowEpochSeconds },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailure(error)) return false;
      throw error;
    }
  }

  private async readClaim(owner: string, key: string, nowEpochSeconds: number): Promise<IdempotencyClaim | undefined> {
    const { Item } = await this.documentClient.send(
      new GetCommand({ TableName: this.tableName, Key: idempotencyKey(owner, key), ConsistentRead: true }),
    );
    return liveClaim(Item, nowEpochSeconds);
  }

  private async putNewJob(request: CreateJobRequest, jobId: string): Promise<StoredJobRecord | undefined> {
    const { record, item } = newJobItem(request, jobId);
    try {
      await this.documentClient.send(
        new PutCommand({ TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }),
      );
      return record;
    } catch (error) {
      if (isConditionalCheckFailure(error)) return undefined;
      throw error;
    }
  }
}

function isConditionalCheckFailure(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}
