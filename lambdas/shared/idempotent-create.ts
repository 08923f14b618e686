/**
 * JobStore.createJob for both stores, written once over the few table operations each supplies.
 *
 * Idempotent creation without transactions (dynalite has none): the idempotency record is claimed
 * first with a conditional write and names the job id; the job is then written only if no job has
 * that id. Any request that finds the key already claimed with the same body writes the job under
 * the CLAIMED job id, so concurrent replays, or a replay after a crash between the two writes,
 * converge on exactly one job: whoever's write lands first created it, everyone else replays it.
 */
import { ConflictError, type CreateJobRequest, type CreateJobResult } from '../../core/ports.js';
import { toEpochSeconds, type Item, type StoredJobRecord } from './job-item.js';

/** How long an Idempotency-Key is remembered. */
export const IDEMPOTENCY_WINDOW_SECONDS = 24 * 60 * 60;

/** Idempotent creation tries again this many times when a claim vanished underneath it. */
export const MAX_CLAIM_ROUNDS = 8;

/** An idempotency record: the key names the job its first request created, and that request's body hash. */
export interface IdempotencyClaim {
  readonly jobId: string;
  readonly requestHash: string;
  /** Epoch seconds; the table's expiry attribute, and from then on the key is free again. */
  readonly expiresAt: number;
}

/** The table operations the algorithm runs on; each is one conditional write or one consistent read. */
export interface IdempotentCreatePrimitives {
  /**
   * Writes `claim` as the owner's record for `key` if the key is free: absent, or its claim expired
   * at `nowEpochSeconds`. True when this call now holds the key.
   */
  claimIdempotencyKey(owner: string, key: string, claim: IdempotencyClaim, nowEpochSeconds: number): Promise<boolean>;
  /** The owner's record for `key`, unless there is none or it expired at `nowEpochSeconds`. */
  readClaim(owner: string, key: string, nowEpochSeconds: number): Promise<IdempotencyClaim | undefined>;
  /** Writes the job QUEUED under `jobId` (newJobItem); undefined when a job with that id already exists. */
  putNewJob(request: CreateJobRequest, jobId: string): Promise<StoredJobRecord | undefined>;
  getJob(jobId: string): Promise<StoredJobRecord | undefined>;
}

/** The claim an idempotency record holds, unless it is missing or expired at `nowEpochSeconds`. */
export function liveClaim(item: Item | undefined, nowEpochSeconds: number): IdempotencyClaim | undefined {
  // DynamoDB deletes expired items only eventually (dynalite never): an expired claim is no claim.
  if (!item || typeof item.expiresAt !== 'number' || item.expiresAt <= nowEpochSeconds) return undefined;
  return { jobId: String(item.jobId), requestHash: String(item.requestHash), expiresAt: item.expiresAt };
}

/**
 * Creates the job, or, for a request with an Idempotency-Key, replays the job the key's first
 * request created (same body) or reports the key's job (different body). Throws ConflictError
 * when the job id is taken, or when the key's job changed or vanished underneath the replay.
 */
export async function createJobIdempotently(primitives: IdempotentCreatePrimitives, request: CreateJobRequest): Promise<CreateJobResult> {
  if (!request.idempotency) {
    const created = await primitives.putNewJob(request, request.jobId);
    if (!created) throw new ConflictError(`Job ${request.jobId} already exists.`, await primitives.getJob(request.jobId));
    return { kind: 'created', job: created };
  }
  const { key, requestHash } = request.idempotency;
  const nowEpochSeconds = toEpochSeconds(request.now);
  const claim: IdempotencyClaim = { jobId: request.jobId, requestHash, expiresAt: nowEpochSeconds + IDEMPOTENCY_WINDOW_SECONDS };
  // A claim can vanish between our failed claim and our read (expired, or deleted after a failed
  // intake send); trying again is then correct, and the loop is bounded by how rarely that happens.
  for (let claimRound = 0; claimRound < MAX_CLAIM_ROUNDS; claimRound++) {
    if (await primitives.claimIdempotencyKey(request.owner, key, claim, nowEpochSeconds)) {
      return createOrReplay(primitives, request, request.jobId);
    }
    const existing = await primitives.readClaim(request.owner, key, nowEpochSeconds);
    if (!existing) continue;
    if (existing.requestHash !== requestHash) return { kind: 'key-conflict', existingJobId: existing.jobId };
    return createOrReplay(primitives, request, existing.jobId);
  }
  throw new ConflictError(`Idempotency key ${key} kept changing while the job was being created.`);
}

async function createOrReplay(primitives: IdempotentCreatePrimitives, request: CreateJobRequest, jobId: string): Promise<CreateJobResult> {
  const created = await primitives.putNewJob(request, jobId);
  if (created) return { kind: 'created', job: created };
  const existing = await primitives.getJob(jobId);
  if (existing && existing.owner === request.owner && existing.requestHash === request.idempotency?.requestHash) {
    return { kind: 'replayed', job: existing };
  }
  // The job was withdrawn between our write and our read; the client's retry will recreate it.
  throw new ConflictError(`Job ${jobId} changed while its idempotent request was replayed.`, existing);
}
