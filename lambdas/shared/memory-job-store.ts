/**
 * The JobStore port (core/ports.ts) in memory, with exactly the DynamoDB adapter's semantics
 * (lambdas/shared/job-store.ts): the same items (index keys, attempts as a map keyed by number),
 * the same conditions on every write, the same version bumps, the same idempotency window and
 * the same opaque page tokens. Every table operation is one synchronous check-and-set, as a
 * DynamoDB conditional write is atomic; between a read and the write decided on it the method
 * awaits, so racing callers interleave there exactly as they do against DynamoDB.
 *
 * It exists so the lifecycle properties can run thousands of histories in seconds; the shared
 * contract suite (test/store/job-store.test.ts) holds it to the DynamoDB adapter's behaviour.
 */
import { isTerminal, type JobRecord, type JobStatus } from '../../core/job.js';
import type { JobChange, StoredAttempt } from '../../core/job-change.js';
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

const itemKey = (key: { readonly pk: string; readonly sk: string }) => `${key.pk}\u0000${key.sk}`;

/** A deep copy without undefined fields: what the document client (removeUndefinedValues) stores and returns. */
function stored<T>(value: T): T {
  if (Array.isArray(value)) return value.filter((element) => element !== undefined).map(stored) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, field]) => field !== undefined)
        .map(([field, fieldValue]) => [field, stored(fieldValue)]),
    ) as T;
  }
  return value;
}

/** A yield between a read and the write decided on it, where DynamoDB has a network round trip. */
const roundTrip = () => Promise.resolve();

export class MemoryJobStore implements JobStore {
  private readonly items = new Map<string, Item>();

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
    await roundTrip();
    const job = this.items.get(itemKey(jobKey(jobId)));
    if (job && job.owner === owner && job.status === 'QUEUED') {
      this.items.delete(itemKey(jobKey(jobId)));
    } else {
      const current = await this.getJob(jobId);
      if (current) throw new ConflictError(withdrawRefusal(jobId, owner, current), current);
    }
    if (idempotencyKeyValue === undefined) return;
    await roundTrip();
    const claimKey = itemKey(idempotencyKey(owner, idempotencyKeyValue));
    // Absent, or already claimed for another job: either way it is not ours to delete.
    if (this.items.get(claimKey)?.jobId === jobId) this.items.delete(claimKey);
  }

  async getJob(jobId: string): Promise<StoredJobRecord | undefined> {
    await roundTrip();
    const item = this.items.get(itemKey(jobKey(jobId)));
    return item ? recordFromItem(stored(item)) : undefined;
  }

  async listJobs(query: ListJobsQuery): Promise<ListJobsPage> {
    const { index, partitionValue, exclusiveStartKey } = listingStart(query);
    await roundTrip();
    // Newest first (ScanIndexForward: false), resuming after the token's position even if that item is gone.
    const startAfter = exclusiveStartKey === undefined ? undefined : String(exclusiveStartKey[index.sortKey]);
    const inPartition = [...this.items.values()]
      .filter((item) => item[index.partitionKey] === partitionValue)
      .filter((item) => startAfter === undefined || String(item[index.sortKey]) < startAfter)
      .sort((left, right) => (String(left[index.sortKey]) < String(right[index.sortKey]) ? 1 : -1));
    return pageOf(inPartition.slice(0, query.limit + 1).map(stored), query.limit, index);
  }

  async listUnfinished(): Promise<readonly JobRecord[]> {
    await roundTrip();
    return [...this.items.values()]
      .filter((item) => item.sk === jobKey('').sk && !isTerminal(item.status as JobStatus))
      .map((item) => recordFromItem(stored(item)));
  }

  async update(current: JobRecord, change: JobChange): Promise<StoredJobRecord> {
    return applyChange(current, change, (...write) => this.conditionalUpdate(...write));
  }

  async markTerminalEventPublished(jobId: string): Promise<boolean> {
    await roundTrip();
    return this.updateDebt(
      jobId,
      (debt) => debt.published === false,
      ({ claimedUntil: _done, ...debt }) => ({ ...debt, published: true }),
    );
  }

  async claimTerminalEvent(jobId: string, now: string, until: string): Promise<boolean> {
    await roundTrip();
    return this.updateDebt(
      jobId,
      (debt) => debt.published === false && (debt.claimedUntil === undefined || String(debt.claimedUntil) < now),
      (debt) => ({ ...debt, claimedUntil: until }),
    );
  }

  async releaseTerminalEventClaim(jobId: string, until: string): Promise<void> {
    await roundTrip();
    // Only our own claim: a lapsed one may already have been taken by someone else.
    this.updateDebt(
      jobId,
      (debt) => debt.published === false && debt.claimedUntil === until,
      ({ claimedUntil: _released, ...debt }) => debt,
    );
  }

  /** Rewrites the job's terminal event debt when it exists and `condition` holds of it; bumps the version. */
  private updateDebt(jobId: string, condition: (debt: Item) => boolean, update: (debt: Item) => Item): boolean {
    const item = this.items.get(itemKey(jobKey(jobId)));
    const debt = item?.terminalEvent as Item | undefined;
    if (!item || debt === undefined || !condition(debt)) return false;
    this.items.set(itemKey(jobKey(jobId)), { ...item, terminalEvent: stored(update(debt)), version: Number(item.version) + 1 });
    return true;
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
    await roundTrip();
    const key = itemKey(jobKey(jobId));
    const item = this.items.get(key);
    if (!item || item.version !== expectedVersion || !condition.allowedStatuses.includes(item.status as JobStatus)) return undefined;
    const attempts = { ...(item.attempts as Record<string, StoredAttempt>) };
    for (const attempt of condition.attempts ?? []) attempts[String(attempt.attempt)] = attempt;
    const updated = stored({ ...item, ...fields, attempts, version: expectedVersion + 1 });
    this.items.set(key, updated);
    return recordFromItem(stored(updated));
  }

  private async claimIdempotencyKey(owner: string, key: string, claim: IdempotencyClaim, nowEpochSeconds: number): Promise<boolean> {
    await roundTrip();
    const claimKey = idempotencyKey(owner, key);
    const existing = this.items.get(itemKey(claimKey));
    // An expired claim is free, as DynamoDB deletes expired items only eventually.
    if (existing && !(Number(existing.expiresAt) <= nowEpochSeconds)) return false;
    this.items.set(itemKey(claimKey), { ...claimKey, ...claim });
    return true;
  }

  private async readClaim(owner: string, key: string, nowEpochSeconds: number): Promise<IdempotencyClaim | undefined> {
    await roundTrip();
    return liveClaim(this.items.get(itemKey(idempotencyKey(owner, key))), nowEpochSeconds);
  }

  /**
   * Writes an idempotency record as a request that stopped after claiming its key would have
   * left it (the job not yet written): the crash the idempotent creation must recover from.
   */
  seedIdempotencyClaim(owner: string, key: string, claim: IdempotencyClaim): void {
    const claimKey = idempotencyKey(owner, key);
    this.items.set(itemKey(claimKey), { ...claimKey, ...claim });
  }

  private async putNewJob(request: CreateJobRequest, jobId: string): Promise<StoredJobRecord | undefined> {
    const { record, item } = newJobItem(request, jobId);
    await roundTrip();
    const key = itemKey(jobKey(jobId));
    if (this.items.has(key)) return undefined;
    this.items.set(key, stored(item));
    return record;
  }
}
