/**
 * The DynamoDB adapter for the JobStore port (core/ports.ts), on the document client.
 *
 * Guarantees:
 * - Every write that changes a job is conditional on the statuses it may move from and on the
 *   version it was computed from, and increments `version`; a lost race surfaces as a
 *   ConflictError carrying the record as it is now. No race can produce an illegal history.
 * - Idempotent creation without transactions (dynalite has none): the idempotency record is
 *   claimed first with a conditional Put and names the job id; the job is then Put with
 *   `attribute_not_exists`. Any request that finds the key already claimed with the same body
 *   Puts the job under the CLAIMED job id, so concurrent replays, or a replay after a crash
 *   between the two writes, converge on exactly one job: whoever's Put lands first created it,
 *   everyone else replays it.
 * - Attempts live in a map keyed by attempt number, so writing one attempt never rewrites another,
 *   and their statuses only move forward (a late Batch event never undoes a settled attempt).
 * - A job's terminal event debt (`terminalEvent`) is written with its terminal status and settled
 *   by markTerminalEventPublished, conditional on being unpaid, so it is settled once.
 * - The two list indexes' keys are rewritten on every status change.
 */
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import type { JobRecord, JobStatus } from '../../core/job.js';
import { planChange, type JobChange, type StoredAttempt } from '../../core/job-change.js';
import {
  ConflictError,
  type CreateJobRequest,
  type CreateJobResult,
  type JobStore,
  type ListJobsPage,
  type ListJobsQuery,
} from '../../core/ports.js';
import { JOB_TABLE, idempotencyKey, jobKey, ownerIndexKey, ownerStatusIndexKey } from '../../core/table.js';

/** How long an Idempotency-Key is remembered. */
export const IDEMPOTENCY_WINDOW_SECONDS = 24 * 60 * 60;

export type { StoredAttempt } from '../../core/job-change.js';

/** A job record whose attempts may carry their log stream names. */
export type StoredJobRecord = JobRecord & { readonly attempts: readonly StoredAttempt[] };

/** The nextToken of a list request is not one this store issued for this query. */
export class InvalidNextTokenError extends Error {
  override readonly name = 'InvalidNextTokenError';
  constructor(message = 'nextToken is not a token returned by a previous page of this query.', options?: ErrorOptions) {
    super(message, options);
  }
}

/** Idempotent creation tries again this many times when a claim vanished underneath it. */
export const MAX_CLAIM_ROUNDS = 8;

/** A job or idempotency record as stored in the table. */
export type Item = Record<string, unknown>;

interface IdempotencyItem {
  readonly jobId: string;
  readonly requestHash: string;
  readonly expiresAt: number;
}

const INDEX_ATTRIBUTES = [
  JOB_TABLE.partitionKey,
  JOB_TABLE.sortKey,
  JOB_TABLE.indexes.byOwner.partitionKey,
  JOB_TABLE.indexes.byOwner.sortKey,
  JOB_TABLE.indexes.byOwnerStatus.partitionKey,
  JOB_TABLE.indexes.byOwnerStatus.sortKey,
] as const;

export class DynamoJobStore implements JobStore {
  constructor(
    private readonly documentClient: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async createJob(request: CreateJobRequest): Promise<CreateJobResult> {
    if (!request.idempotency) {
      const created = await this.putNewJob(request, request.jobId);
      if (!created) throw new ConflictError(`Job ${request.jobId} already exists.`, await this.getJob(request.jobId));
      return { kind: 'created', job: created };
    }
    const { key, requestHash } = request.idempotency;
    const nowEpochSeconds = toEpochSeconds(request.now);
    // A claim can vanish between our failed Put and our Get (expired, or deleted after a failed
    // intake send); trying again is then correct, and the loop is bounded by how rarely that happens.
    for (let claimRound = 0; claimRound < MAX_CLAIM_ROUNDS; claimRound++) {
      if (await this.claimIdempotencyKey(request.owner, key, requestHash, request.jobId, nowEpochSeconds)) {
        return this.createOrReplay(request, request.jobId);
      }
      const claim = await this.readClaim(request.owner, key, nowEpochSeconds);
      if (!claim) continue;
      if (claim.requestHash !== requestHash) return { kind: 'key-conflict', existingJobId: claim.jobId };
      return this.createOrReplay(request, claim.jobId);
    }
    throw new ConflictError(`Idempotency key ${key} kept changing while the job was being created.`);
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
    const index = query.status === undefined ? JOB_TABLE.indexes.byOwner : JOB_TABLE.indexes.byOwnerStatus;
    const partitionValue = query.status === undefined ? query.owner : `${query.owner}#${query.status}`;
    const exclusiveStartKey =
      query.nextToken === undefined ? undefined : decodePageToken(query.nextToken, index, partitionValue);
    // One extra item tells whether another page exists, so the last page carries no nextToken.
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
    const pageItems = Items.slice(0, query.limit);
    const lastItem = pageItems.at(-1);
    return {
      jobs: pageItems.map(recordFromItem),
      nextToken: Items.length > query.limit && lastItem ? encodePageToken(lastItem, index) : undefined,
    };
  }

  async update(current: JobRecord, change: JobChange): Promise<StoredJobRecord> {
    return applyChange(current, change, (...write) => this.conditionalUpdate(...write));
  }

  async markTerminalEventPublished(jobId: string): Promise<boolean> {
    try {
      await this.documentClient.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: jobKey(jobId),
          // The claim has done its work once the event is out.
          UpdateExpression: 'SET #debt.#published = :true, #version = #version + :one REMOVE #debt.#claimedUntil',
          ConditionExpression: 'attribute_exists(pk) AND #debt.#published = :false',
          ExpressionAttributeNames: { '#debt': 'terminalEvent', '#published': 'published', '#claimedUntil': 'claimedUntil', '#version': 'version' },
          ExpressionAttributeValues: { ':true': true, ':false': false, ':one': 1 },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailure(error)) return false;
      throw error;
    }
  }

  async claimTerminalEvent(jobId: string, now: string, until: string): Promise<boolean> {
    try {
      await this.documentClient.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: jobKey(jobId),
          UpdateExpression: 'SET #debt.#claimedUntil = :until, #version = #version + :one',
          ConditionExpression:
            'attribute_exists(pk) AND #debt.#published = :false AND (attribute_not_exists(#debt.#claimedUntil) OR #debt.#claimedUntil < :now)',
          ExpressionAttributeNames: { '#debt': 'terminalEvent', '#published': 'published', '#claimedUntil': 'claimedUntil', '#version': 'version' },
          ExpressionAttributeValues: { ':until': until, ':now': now, ':false': false, ':one': 1 },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailure(error)) return false;
      throw error;
    }
  }

  async releaseTerminalEventClaim(jobId: string, until: string): Promise<void> {
    try {
      await this.documentClient.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: jobKey(jobId),
          UpdateExpression: 'REMOVE #debt.#claimedUntil SET #version = #version + :one',
          // Only our own claim: a lapsed one may already have been taken by someone else.
          ConditionExpression: 'attribute_exists(pk) AND #debt.#published = :false AND #debt.#claimedUntil = :until',
          ExpressionAttributeNames: { '#debt': 'terminalEvent', '#published': 'published', '#claimedUntil': 'claimedUntil', '#version': 'version' },
          ExpressionAttributeValues: { ':until': until, ':false': false, ':one': 1 },
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailure(error)) throw error;
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
    condition: { readonly allowedStatuses: readonly JobStatus[]; readonly attempts?: readonly StoredAttempt[] },
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

  /** True when this request now holds the key (it was free or its previous claim expired). */
  private async claimIdempotencyKey(
    owner: string,
    key: string,
    requestHash: string,
    jobId: string,
    nowEpochSeconds: number,
  ): Promise<boolean> {
    try {
      await this.documentClient.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...idempotencyKey(owner, key),
            jobId,
            requestHash,
            expiresAt: nowEpochSeconds + IDEMPOTENCY_WINDOW_SECONDS,
          },
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

  private async readClaim(owner: string, key: string, nowEpochSeconds: number): Promise<IdempotencyItem | undefined> {
    const { Item } = await this.documentClient.send(
      new GetCommand({ TableName: this.tableName, Key: idempotencyKey(owner, key), ConsistentRead: true }),
    );
    if (!Item || typeof Item.expiresAt !== 'number' || Item.expiresAt <= nowEpochSeconds) return undefined;
    return { jobId: String(Item.jobId), requestHash: String(Item.requestHash), expiresAt: Item.expiresAt };
  }

  private async createOrReplay(request: CreateJobRequest, jobId: string): Promise<CreateJobResult> {
    const created = await this.putNewJob(request, jobId);
    if (created) return { kind: 'created', job: created };
    const existing = await this.getJob(jobId);
    if (existing && existing.owner === request.owner && existing.requestHash === request.idempotency?.requestHash) {
      return { kind: 'replayed', job: existing };
    }
    // The job was withdrawn between our Put and our Get; the client's retry will recreate it.
    throw new ConflictError(`Job ${jobId} changed while its idempotent request was replayed.`, existing);
  }

  /** Puts the job QUEUED under `jobId`; undefined when a job with that id already exists. */
  private async putNewJob(request: CreateJobRequest, jobId: string): Promise<StoredJobRecord | undefined> {
    const { record, item } = newJobItem(request, jobId);
    try {
      await this.documentClient.send(new PutCommand({ TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }));
      return record;
    } catch (error) {
      if (isConditionalCheckFailure(error)) return undefined;
      throw error;
    }
  }
}

/** A new job as both stores write it: QUEUED, version 1, no attempts, under its owner's indexes. */
export function newJobItem(request: CreateJobRequest, jobId: string): { readonly record: StoredJobRecord; readonly item: Item } {
  const { spec, owner, now } = request;
  const record: StoredJobRecord = {
    ...spec,
    jobId,
    name: spec.name ?? jobId,
    owner,
    status: 'QUEUED',
    createdAt: now,
    updatedAt: now,
    attempts: [],
    costUsd: 0,
    version: 1,
    ...(request.idempotency ? { requestHash: request.idempotency.requestHash } : {}),
  };
  const { attempts: _noAttemptsYet, ...withoutAttempts } = record;
  const item: Item = {
    ...jobKey(jobId),
    ...ownerIndexKey(owner, now, jobId),
    ...ownerStatusIndexKey(owner, 'QUEUED', now, jobId),
    ...withoutAttempts,
    attempts: {},
  };
  return { record, item };
}

/** Why a job could not be withdrawn: another owner's, or past QUEUED. */
export function withdrawRefusal(jobId: string, owner: string, current: JobRecord): string {
  if (current.owner !== owner) return `Job ${jobId} belongs to another owner; only its own owner may withdraw it.`;
  return `Job ${jobId} is ${current.status}; only a QUEUED job can be withdrawn.`;
}

/** The conditional update both stores implement: `fields` and whole attempts at `expectedVersion`; undefined when the condition failed. */
export type ConditionalUpdate = (
  jobId: string,
  expectedVersion: number,
  fields: Item,
  condition: { readonly allowedStatuses: readonly JobStatus[]; readonly attempts?: readonly StoredAttempt[] },
) => Promise<StoredJobRecord | undefined>;

/**
 * JobStore.update for both stores: the change planned against the record the caller read
 * (core/job-change.ts), written in one update conditional on that record's version and status.
 */
export async function applyChange(current: JobRecord, change: JobChange, conditionalUpdate: ConditionalUpdate): Promise<StoredJobRecord> {
  const plan = planChange(current, change);
  if (plan.kind === 'refused') throw new ConflictError(plan.reason, current);
  if (plan.kind === 'unchanged') return current as StoredJobRecord;
  const { status, fields, attempts } = plan.write;
  const indexKey = status === undefined ? {} : ownerStatusIndexKey(current.owner, status, current.createdAt, current.jobId);
  const updated = await conditionalUpdate(current.jobId, current.version, { ...fields, ...indexKey }, { allowedStatuses: [current.status], attempts });
  if (!updated) throw new ConflictError(`Job ${current.jobId} changed after version ${current.version} was read.`);
  return updated;
}

export function recordFromItem(item: Item): StoredJobRecord {
  const copy: Item = { ...item };
  for (const attribute of INDEX_ATTRIBUTES) delete copy[attribute];
  const attemptsByNumber = (item.attempts ?? {}) as Record<string, StoredAttempt>;
  const attempts = Object.values(attemptsByNumber).sort((left, right) => left.attempt - right.attempt);
  return { ...copy, attempts } as unknown as StoredJobRecord;
}

export function encodePageToken(item: Item, index: { readonly partitionKey: string; readonly sortKey: string }): string {
  const key = {
    [JOB_TABLE.partitionKey]: item[JOB_TABLE.partitionKey],
    [JOB_TABLE.sortKey]: item[JOB_TABLE.sortKey],
    [index.partitionKey]: item[index.partitionKey],
    [index.sortKey]: item[index.sortKey],
  };
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

export function decodePageToken(
  token: string,
  index: { readonly partitionKey: string; readonly sortKey: string },
  partitionValue: string,
): Item {
  let decoded: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(token)) throw new Error('not base64url');
    decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch (error) {
    throw new InvalidNextTokenError(undefined, { cause: error });
  }
  const expectedKeys = [JOB_TABLE.partitionKey, JOB_TABLE.sortKey, index.partitionKey, index.sortKey].sort();
  if (
    typeof decoded !== 'object' ||
    decoded === null ||
    Array.isArray(decoded) ||
    Object.keys(decoded).sort().join() !== expectedKeys.join() ||
    // DynamoDB refuses (ValidationException, a 500 here) a sort key over 1,024 bytes of UTF-8, not characters:
    // https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
    !Object.values(decoded).every((value) => typeof value === 'string' && value.length > 0 && Buffer.byteLength(value, 'utf8') <= 1024) ||
    // A token from another caller's (or another filter's) listing would read someone else's partition.
    (decoded as Item)[index.partitionKey] !== partitionValue
  ) {
    throw new InvalidNextTokenError();
  }
  return decoded as Item;
}

export function toEpochSeconds(isoTimestamp: string): number {
  const milliseconds = Date.parse(isoTimestamp);
  if (Number.isNaN(milliseconds)) throw new RangeError(`now must be an ISO-8601 timestamp. Received ${isoTimestamp}.`);
  return Math.floor(milliseconds / 1000);
}

function isConditionalCheckFailure(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}
