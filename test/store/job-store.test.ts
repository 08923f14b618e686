/**
 * The JobStore contract: every behaviour the handlers rely on, run against the DynamoDB adapter
 * on dynalite (real conditional writes and indexes) and against the in-memory store, so the
 * in-memory store the lifecycle properties use behaves as the one that runs in production.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { JobStatus } from '../../core/job.js';
import { ConflictError, JobNotFoundError, type CreateJobRequest } from '../../core/ports.js';
import { idempotencyKey } from '../../core/table.js';
import { DynamoJobStore } from '../../lambdas/shared/job-store.js';
import { InvalidNextTokenError } from '../../lambdas/shared/page-token.js';
import { MemoryJobStore } from '../../lambdas/shared/memory-job-store.js';
import { documentClientFor, startDynalite } from '../support/dynalite.js';
import { aJobId, aJobSpec, anOwner } from '../support/jobs.js';
import { putJobAttempts, requestJobCancel, transitionJob } from '../../app/update-job.js';

interface IdempotencyClaim {
  readonly jobId: string;
  readonly requestHash: string;
  readonly expiresAt: number;
}

/** A store under test, and how to leave behind a claimed key without its job (a crash between the two writes). */
interface StoreUnderTest {
  readonly store: DynamoJobStore | MemoryJobStore;
  readonly seedIdempotencyClaim: (owner: string, key: string, claim: IdempotencyClaim) => Promise<void>;
  readonly stop: () => Promise<void>;
}

const STORES: readonly { readonly name: string; readonly start: () => Promise<StoreUnderTest> }[] = [
  {
    name: 'DynamoJobStore on dynalite',
    start: async () => {
      const dynamo = await startDynalite();
      const documentClient = documentClientFor(dynamo.endpoint);
      return {
        store: new DynamoJobStore(documentClient, dynamo.tableName),
        seedIdempotencyClaim: async (owner, key, claim) => {
          await documentClient.send(new PutCommand({ TableName: dynamo.tableName, Item: { ...idempotencyKey(owner, key), ...claim } }));
        },
        stop: async () => {
          documentClient.destroy();
          await dynamo.stop();
        },
      };
    },
  },
  {
    name: 'MemoryJobStore',
    start: async () => {
      const store = new MemoryJobStore();
      return {
        store,
        seedIdempotencyClaim: async (owner, key, claim) => store.seedIdempotencyClaim(owner, key, claim),
        stop: async () => undefined,
      };
    },
  },
];

describe.each(STORES)('$name', ({ start }) => {
  let underTest: StoreUnderTest;
  let store: StoreUnderTest['store'];
  const seedIdempotencyClaim = (owner: string, key: string, claim: IdempotencyClaim) => underTest.seedIdempotencyClaim(owner, key, claim);

  beforeAll(async () => {
    underTest = await start();
    store = underTest.store;
  });

  afterAll(async () => {
    await underTest?.stop();
  });

  const NOW = '2026-03-01T12:00:00.000Z';

  function createRequest(overrides: Partial<CreateJobRequest> = {}): CreateJobRequest {
    return { jobId: aJobId(), owner: anOwner(), spec: aJobSpec(), now: NOW, ...overrides };
  }

  async function allJobsOf(owner: string) {
    return (await store.listJobs({ owner, limit: 100 })).jobs;
  }

  describe('createJob', () => {
    it('stores a QUEUED job at version 1 with no attempts, named after its id when unnamed', async () => {
      const request = createRequest();

      const result = await store.createJob(request);

      expect(result.kind).toBe('created');
      const stored = await store.getJob(request.jobId);
      expect(stored).toMatchObject({
        jobId: request.jobId,
        name: request.jobId,
        owner: request.owner,
        status: 'QUEUED',
        version: 1,
        attempts: [],
        costUsd: 0,
        createdAt: NOW,
        updatedAt: NOW,
        image: request.spec.image,
        command: request.spec.command,
      });
      expect(stored).not.toHaveProperty('pk');
      expect(stored).not.toHaveProperty('gsi1pk');
    });

    it('refuses a second job with the same id', async () => {
      const request = createRequest();
      await store.createJob(request);

      await expect(store.createJob({ ...request, owner: anOwner() })).rejects.toBeInstanceOf(ConflictError);
    });

    it('replays the first job for the same key and body, creating nothing', async () => {
      const owner = anOwner();
      const first = await store.createJob(createRequest({ owner, idempotency: { key: 'k-1', requestHash: 'h-1' } }));

      const replay = await store.createJob(createRequest({ owner, idempotency: { key: 'k-1', requestHash: 'h-1' } }));

      expect(first.kind).toBe('created');
      expect(replay.kind).toBe('replayed');
      expect(replay.kind === 'replayed' && replay.job.jobId).toBe(first.kind === 'created' && first.job.jobId);
      expect(await allJobsOf(owner)).toHaveLength(1);
    });

    it('reports a key conflict for the same key with a different body', async () => {
      const owner = anOwner();
      const first = await store.createJob(createRequest({ owner, idempotency: { key: 'k-2', requestHash: 'h-1' } }));

      const second = await store.createJob(createRequest({ owner, idempotency: { key: 'k-2', requestHash: 'h-2' } }));

      expect(second).toEqual({ kind: 'key-conflict', existingJobId: first.kind === 'created' ? first.job.jobId : '' });
      expect(await allJobsOf(owner)).toHaveLength(1);
    });

    it('keeps keys of different owners apart', async () => {
      const first = await store.createJob(createRequest({ idempotency: { key: 'shared', requestHash: 'h' } }));
      const second = await store.createJob(createRequest({ idempotency: { key: 'shared', requestHash: 'h' } }));

      expect([first.kind, second.kind]).toEqual(['created', 'created']);
    });

    it('keeps an owner whose id contains # apart from an owner whose key does', async () => {
      // GIVEN owner `a#b` with key `c`, and owner `a` with key `b#c`: joined with # they would read the same
      const suffix = randomUUID();
      const ownerWithHash = `owner-${suffix}#b`;
      const plainOwner = `owner-${suffix}`;

      // WHEN each submits with its key and the same body
      const first = await store.createJob(createRequest({ owner: ownerWithHash, idempotency: { key: 'c', requestHash: 'same-body' } }));
      const second = await store.createJob(createRequest({ owner: plainOwner, idempotency: { key: 'b#c', requestHash: 'same-body' } }));

      // THEN two jobs exist, each seen only by its own owner
      expect([first.kind, second.kind]).toEqual(['created', 'created']);
      const firstJobId = first.kind === 'created' ? first.job.jobId : '';
      const secondJobId = second.kind === 'created' ? second.job.jobId : '';
      expect(firstJobId).not.toBe(secondJobId);
      expect((await allJobsOf(ownerWithHash)).map((job) => job.jobId)).toEqual([firstJobId]);
      expect((await allJobsOf(plainOwner)).map((job) => job.jobId)).toEqual([secondJobId]);
      expect((await store.getJob(firstJobId))?.owner).toBe(ownerWithHash);
      expect((await store.getJob(secondJobId))?.owner).toBe(plainOwner);
    });

    it('forgets a key after 24 hours', async () => {
      const owner = anOwner();
      await store.createJob(createRequest({ owner, idempotency: { key: 'k-3', requestHash: 'h' } }));

      const dayLater = await store.createJob(
        createRequest({ owner, now: '2026-03-02T12:00:01.000Z', idempotency: { key: 'k-3', requestHash: 'other' } }),
      );

      expect(dayLater.kind).toBe('created');
      expect(await allJobsOf(owner)).toHaveLength(2);
    });

    it('remembers a key until the 24 hours are up, and forgets it at the second they are', async () => {
      // GIVEN a key used at NOW
      const owner = anOwner();
      const first = await store.createJob(createRequest({ owner, idempotency: { key: 'k-window', requestHash: 'h' } }));

      // WHEN the same body comes a second before the window ends, and another body as it ends
      const justBefore = await store.createJob(
        createRequest({ owner, now: '2026-03-02T11:59:59.000Z', idempotency: { key: 'k-window', requestHash: 'h' } }),
      );
      const atTheEnd = await store.createJob(
        createRequest({ owner, now: '2026-03-02T12:00:00.000Z', idempotency: { key: 'k-window', requestHash: 'other' } }),
      );

      // THEN the first is replayed and the second creates a new job
      expect(justBefore).toEqual({
        kind: 'replayed',
        job: expect.objectContaining({ jobId: first.kind === 'created' ? first.job.jobId : '' }),
      });
      expect(atTheEnd.kind).toBe('created');
      expect(await allJobsOf(owner)).toHaveLength(2);
    });

    it('fails when `now` is not an ISO-8601 timestamp', async () => {
      await expect(
        store.createJob(createRequest({ now: 'yesterday', idempotency: { key: 'k-bad-now', requestHash: 'h' } })),
      ).rejects.toThrow('now must be an ISO-8601 timestamp. Received yesterday.');
    });

    it('creates exactly one job when many requests with one key race', async () => {
      const owner = anOwner();
      const requests = Array.from({ length: 12 }, () => createRequest({ owner, idempotency: { key: 'race', requestHash: 'same-body' } }));

      const results = await Promise.all(requests.map((request) => store.createJob(request)));

      expect(results.filter((result) => result.kind === 'created')).toHaveLength(1);
      const jobIds = new Set(results.map((result) => (result.kind === 'key-conflict' ? undefined : result.job.jobId)));
      expect(jobIds.size).toBe(1);
      const jobs = await allJobsOf(owner);
      expect(jobs.map((job) => job.jobId)).toEqual([...jobIds]);
    });

    it('recreates the job under the claimed id when a request stopped between the key and the job', async () => {
      const owner = anOwner();
      const claimedJobId = aJobId();
      await seedIdempotencyClaim(owner, 'k-4', { jobId: claimedJobId, requestHash: 'h', expiresAt: Date.parse(NOW) / 1000 + 3600 });

      const retry = await store.createJob(createRequest({ owner, idempotency: { key: 'k-4', requestHash: 'h' } }));

      expect(retry.kind).toBe('created');
      expect(retry.kind === 'created' && retry.job.jobId).toBe(claimedJobId);
      expect((await store.getJob(claimedJobId))?.status).toBe('QUEUED');
    });
  });

  describe('deleteUnsentJob', () => {
    it('removes the job and frees its idempotency key', async () => {
      const owner = anOwner();
      const request = createRequest({ owner, idempotency: { key: 'k-5', requestHash: 'h' } });
      await store.createJob(request);

      await store.deleteUnsentJob(request.jobId, owner, 'k-5');

      expect(await store.getJob(request.jobId)).toBeUndefined();
      const retry = await store.createJob(createRequest({ owner, idempotency: { key: 'k-5', requestHash: 'other-body' } }));
      expect(retry.kind).toBe('created');
    });

    it('refuses to delete a job that has already left QUEUED', async () => {
      const request = createRequest();
      await store.createJob(request);
      await transitionJob(store, { jobId: request.jobId, from: ['QUEUED'], to: 'PENDING', now: NOW });

      const deletion = store.deleteUnsentJob(request.jobId, request.owner);

      await expect(deletion).rejects.toBeInstanceOf(ConflictError);
      expect((await store.getJob(request.jobId))?.status).toBe('PENDING');
    });

    it("refuses to delete another owner's job, and keeps a key claimed for another job", async () => {
      // GIVEN a job whose key is claimed for it
      const owner = anOwner();
      const request = createRequest({ owner, idempotency: { key: 'k-6', requestHash: 'h' } });
      await store.createJob(request);

      // WHEN another owner withdraws it, and its owner withdraws another job id under the same key
      const byStranger = await store.deleteUnsentJob(request.jobId, anOwner()).catch((error: unknown) => error);
      await store.deleteUnsentJob(aJobId(), owner, 'k-6');

      // THEN the job is still there and its key still replays it
      expect(byStranger).toBeInstanceOf(ConflictError);
      expect((byStranger as Error).message).toBe(`Job ${request.jobId} belongs to another owner; only its own owner may withdraw it.`);
      expect((await store.getJob(request.jobId))?.status).toBe('QUEUED');
      const replay = await store.createJob(createRequest({ owner, idempotency: { key: 'k-6', requestHash: 'h' } }));
      expect(replay.kind === 'replayed' && replay.job.jobId).toBe(request.jobId);
    });

    it('does nothing for a job that does not exist', async () => {
      await expect(store.deleteUnsentJob(aJobId(), anOwner(), 'never-used')).resolves.toBeUndefined();
    });
  });

  describe('transition', () => {
    it('moves the status, bumps the version, writes the extra fields and moves the job between status listings', async () => {
      const request = createRequest();
      await store.createJob(request);

      const updated = await transitionJob(store, {
        jobId: request.jobId,
        from: ['QUEUED'],
        to: 'PENDING',
        now: '2026-03-01T12:00:05.000Z',
        set: { executionArn: 'arn:aws:states:us-east-1:123456789012:execution:jobs:x', statusReason: undefined },
      });

      expect(updated).toMatchObject({ status: 'PENDING', version: 2, updatedAt: '2026-03-01T12:00:05.000Z', createdAt: NOW });
      expect(updated.executionArn).toContain(':execution:');
      expect(updated).not.toHaveProperty('statusReason');
      const queued = await store.listJobs({ owner: request.owner, status: 'QUEUED', limit: 10 });
      const pending = await store.listJobs({ owner: request.owner, status: 'PENDING', limit: 10 });
      expect(queued.jobs).toHaveLength(0);
      expect(pending.jobs.map((job) => job.jobId)).toEqual([request.jobId]);
    });

    it('refuses a move from a status not allowed, carrying the current record', async () => {
      const request = createRequest();
      await store.createJob(request);

      const error = await transitionJob(store, { jobId: request.jobId, from: ['RUNNING'], to: 'SUCCEEDED', now: NOW }).catch(
        (caught: unknown) => caught,
      );

      expect(error).toBeInstanceOf(ConflictError);
      expect((error as ConflictError).current).toMatchObject({ jobId: request.jobId, status: 'QUEUED', version: 1 });
    });

    it('refuses a move computed from an older version', async () => {
      const request = createRequest();
      await store.createJob(request);
      await transitionJob(store, { jobId: request.jobId, from: ['QUEUED'], to: 'PENDING', now: NOW });

      const stale = transitionJob(store, { jobId: request.jobId, from: ['PENDING'], to: 'RUNNING', now: NOW, expectedVersion: 1 });

      await expect(stale).rejects.toBeInstanceOf(ConflictError);
      expect((await store.getJob(request.jobId))?.status).toBe('PENDING');
    });

    it('lets exactly one of racing terminal transitions win', async () => {
      const request = createRequest();
      await store.createJob(request);
      await transitionJob(store, { jobId: request.jobId, from: ['QUEUED'], to: 'RUNNING', now: NOW });
      const terminals = ['SUCCEEDED', 'CANCELLED', 'FAILED', 'SUCCEEDED', 'CANCELLED', 'FAILED'] as const;

      const outcomes = await Promise.allSettled(
        terminals.map((to) => transitionJob(store, { jobId: request.jobId, from: ['QUEUED', 'PENDING', 'RUNNING'], to, now: NOW })),
      );

      const winners = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
      const losers = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason] : []));
      expect(winners).toHaveLength(1);
      expect(losers.every((reason) => reason instanceof ConflictError)).toBe(true);
      const final = await store.getJob(request.jobId);
      expect(final?.status).toBe(winners[0]?.status);
      expect(final?.version).toBe(3);
    });

    it('fails with JobNotFoundError for an unknown job', async () => {
      await expect(transitionJob(store, { jobId: aJobId(), from: ['QUEUED'], to: 'PENDING', now: NOW })).rejects.toBeInstanceOf(
        JobNotFoundError,
      );
    });
  });

  describe('putAttempt', () => {
    it('keeps every attempt when several are written at once', async () => {
      const request = createRequest();
      await store.createJob(request);

      await Promise.all(
        [1, 2, 3, 4, 5].map((attempt) => putJobAttempts(store, request.jobId, [{ attempt, capacity: 'spot', status: 'PENDING' }])),
      );

      const stored = await store.getJob(request.jobId);
      expect(stored?.attempts.map((attempt) => attempt.attempt)).toEqual([1, 2, 3, 4, 5]);
      expect(stored?.version).toBe(6);
    });

    it('merges new fields of an attempt into the ones already recorded', async () => {
      const request = createRequest();
      await store.createJob(request);
      await putJobAttempts(store, request.jobId, [
        { attempt: 1, capacity: 'spot', status: 'PENDING', batchJobId: 'b-1', logStreamName: 'jobs/default/abc' },
      ]);

      const updated = await putJobAttempts(store, request.jobId, [
        { attempt: 1, capacity: 'spot', status: 'RUNNING', instanceType: 'g5.xlarge' },
      ]);

      expect(updated.attempts).toEqual([
        {
          attempt: 1,
          capacity: 'spot',
          status: 'RUNNING',
          batchJobId: 'b-1',
          logStreamName: 'jobs/default/abc',
          instanceType: 'g5.xlarge',
        },
      ]);
    });

    it('moves updatedAt forward when it writes an attempt', async () => {
      const request = createRequest();
      await store.createJob(request);

      const updated = await putJobAttempts(store, request.jobId, [{ attempt: 1, capacity: 'spot', status: 'PENDING' }]);

      expect(updated.updatedAt > NOW).toBe(true);
      expect((await store.getJob(request.jobId))?.updatedAt).toBe(updated.updatedAt);
    });

    it('leaves a terminal job untouched: a job closes its attempts in the write that ends it', async () => {
      const request = createRequest();
      await store.createJob(request);
      await transitionJob(store, { jobId: request.jobId, from: ['QUEUED'], to: 'FAILED', now: NOW });

      const late = putJobAttempts(store, request.jobId, [{ attempt: 1, capacity: 'spot', status: 'RUNNING' }]);
      await expect(late).rejects.toBeInstanceOf(ConflictError);
      const closing = putJobAttempts(store, request.jobId, [{ attempt: 1, capacity: 'spot', status: 'FAILED', exitCode: 2 }]);
      await expect(closing).rejects.toBeInstanceOf(ConflictError);
      expect((await store.getJob(request.jobId))?.attempts).toEqual([]);
    });
  });

  describe('putAttempt keeps attempt statuses monotonic', () => {
    async function jobWithAttempt(status: 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED') {
      const request = createRequest();
      await store.createJob(request);
      await transitionJob(store, { jobId: request.jobId, from: ['QUEUED'], to: 'PENDING', now: NOW });
      return putJobAttempts(store, request.jobId, [
        { attempt: 1, capacity: 'spot', status, ...(status === 'SUCCEEDED' ? { exitCode: 0 } : {}) },
      ]);
    }

    it.each(['SUCCEEDED', 'FAILED', 'CANCELLED'] as const)(
      'refuses to move a %s attempt back to RUNNING or PENDING, changing nothing',
      async (settled) => {
        // GIVEN an attempt settled by the workflow
        const before = await jobWithAttempt(settled);

        // WHEN a late Batch event's RUNNING (or a waiting PENDING) write lands after it
        const running = putJobAttempts(store, before.jobId, [
          { attempt: 1, capacity: 'spot', status: 'RUNNING', instanceType: 'g5.xlarge' },
        ]);
        const pending = putJobAttempts(store, before.jobId, [{ attempt: 1, capacity: 'spot', status: 'PENDING' }]);

        // THEN both are refused as conflicts carrying the record, and the record is as it was
        await expect(running).rejects.toBeInstanceOf(ConflictError);
        await expect(pending).rejects.toBeInstanceOf(ConflictError);
        await expect(running).rejects.toMatchObject({ current: { version: before.version } });
        expect(await store.getJob(before.jobId)).toEqual(before);
      },
    );

    it('refuses to move a settled attempt to another settled status', async () => {
      const before = await jobWithAttempt('FAILED');

      await expect(putJobAttempts(store, before.jobId, [{ attempt: 1, capacity: 'spot', status: 'SUCCEEDED' }])).rejects.toBeInstanceOf(
        ConflictError,
      );

      expect(await store.getJob(before.jobId)).toEqual(before);
    });

    it('adds facts to a settled attempt when the write keeps its status', async () => {
      const before = await jobWithAttempt('SUCCEEDED');

      const updated = await putJobAttempts(store, before.jobId, [
        { attempt: 1, capacity: 'spot', status: 'SUCCEEDED', stoppedAt: '2026-03-01T12:30:00.000Z' },
      ]);

      expect(updated.attempts).toEqual([
        { attempt: 1, capacity: 'spot', status: 'SUCCEEDED', exitCode: 0, stoppedAt: '2026-03-01T12:30:00.000Z' },
      ]);
    });

    it('never moves a RUNNING attempt back to PENDING: a retry Batch makes in place is the next attempt', async () => {
      const before = await jobWithAttempt('RUNNING');

      const late = putJobAttempts(store, before.jobId, [{ attempt: 1, capacity: 'spot', status: 'PENDING' }]);

      await expect(late).rejects.toBeInstanceOf(ConflictError);
      expect(await store.getJob(before.jobId)).toEqual(before);
    });

    it('moves attempts forward: PENDING to RUNNING to SUCCEEDED', async () => {
      const pending = await jobWithAttempt('PENDING');

      const running = await putJobAttempts(store, pending.jobId, [{ attempt: 1, capacity: 'spot', status: 'RUNNING' }]);
      const succeeded = await putJobAttempts(store, pending.jobId, [{ attempt: 1, capacity: 'spot', status: 'SUCCEEDED', exitCode: 0 }]);

      expect(running.attempts[0]?.status).toBe('RUNNING');
      expect(succeeded.attempts[0]).toEqual({ attempt: 1, capacity: 'spot', status: 'SUCCEEDED', exitCode: 0 });
    });

    it('treats a write that changes nothing as a no-op: no new version', async () => {
      const before = await jobWithAttempt('RUNNING');

      const again = await putJobAttempts(store, before.jobId, [{ attempt: 1, capacity: 'spot', status: 'RUNNING' }]);

      expect(again.version).toBe(before.version);
      expect(await store.getJob(before.jobId)).toEqual(before);
    });

    it('decides on the record as stored when a settle lands between a reader and its write', async () => {
      // GIVEN a reader saw the attempt RUNNING, then the workflow settled it
      const seenRunning = await jobWithAttempt('RUNNING');
      await putJobAttempts(store, seenRunning.jobId, [{ attempt: 1, capacity: 'spot', status: 'SUCCEEDED', exitCode: 0 }]);
      const settled = await store.getJob(seenRunning.jobId);

      // WHEN the reader writes what it saw, with a new fact
      const stale = putJobAttempts(store, seenRunning.jobId, [{ ...seenRunning.attempts[0]!, instanceType: 'g5.xlarge' }]);

      // THEN the write is refused and the settled attempt stays as it is
      await expect(stale).rejects.toBeInstanceOf(ConflictError);
      expect(await store.getJob(seenRunning.jobId)).toEqual(settled);
    });
  });

  describe('markTerminalEventPublished', () => {
    it('settles the debt a terminal transition recorded exactly once', async () => {
      // GIVEN a job made terminal with its event owed
      const request = createRequest();
      await store.createJob(request);
      const cancelled = await transitionJob(store, {
        jobId: request.jobId,
        from: ['QUEUED'],
        to: 'CANCELLED',
        now: NOW,
        set: { terminalEvent: { writer: 'api', previousStatus: 'QUEUED', published: false } },
      });

      // WHEN two invocations mark it published
      const first = await store.markTerminalEventPublished(request.jobId);
      const second = await store.markTerminalEventPublished(request.jobId);

      // THEN only the first settled it
      expect(cancelled.terminalEvent).toEqual({ writer: 'api', previousStatus: 'QUEUED', published: false });
      expect([first, second]).toEqual([true, false]);
      expect(await store.getJob(request.jobId)).toMatchObject({
        status: 'CANCELLED',
        terminalEvent: { writer: 'api', previousStatus: 'QUEUED', published: true },
        version: cancelled.version + 1,
      });
    });

    it('answers false for a job that owes nothing and for an unknown job, writing nothing', async () => {
      const request = createRequest();
      await store.createJob(request);

      expect(await store.markTerminalEventPublished(request.jobId)).toBe(false);
      expect(await store.markTerminalEventPublished(aJobId())).toBe(false);
      expect((await store.getJob(request.jobId))?.version).toBe(1);
    });
  });

  describe('claimTerminalEvent', () => {
    const at = (seconds: number) => new Date(Date.parse(NOW) + seconds * 1000).toISOString();

    async function jobOwingItsTerminalEvent() {
      const request = createRequest();
      await store.createJob(request);
      await transitionJob(store, {
        jobId: request.jobId,
        from: ['QUEUED'],
        to: 'CANCELLED',
        now: NOW,
        set: { terminalEvent: { writer: 'api', previousStatus: 'QUEUED', published: false } },
      });
      return request.jobId;
    }

    it('lets one invocation publish while its claim is fresh, and another once it lapsed', async () => {
      // GIVEN a job whose terminal event is owed
      const jobId = await jobOwingItsTerminalEvent();

      // WHEN two invocations claim it at once, and a third after the first claim lapsed
      const [first, second] = await Promise.all([
        store.claimTerminalEvent(jobId, at(0), at(30)),
        store.claimTerminalEvent(jobId, at(0), at(30)),
      ]);
      const beforeLapse = await store.claimTerminalEvent(jobId, at(29), at(59));
      const afterLapse = await store.claimTerminalEvent(jobId, at(31), at(61));

      // THEN exactly one of the first two won, and the lapsed claim could be taken again
      expect([first, second].sort()).toEqual([false, true]);
      expect(beforeLapse).toBe(false);
      expect(afterLapse).toBe(true);
      expect((await store.getJob(jobId))?.terminalEvent).toMatchObject({ published: false, claimedUntil: at(61) });
    });

    it('releases only its own claim, so a failed publisher lets the next one in at once', async () => {
      const jobId = await jobOwingItsTerminalEvent();
      await store.claimTerminalEvent(jobId, at(0), at(30));

      await store.releaseTerminalEventClaim(jobId, at(99));
      const whileHeld = await store.claimTerminalEvent(jobId, at(1), at(31));
      await store.releaseTerminalEventClaim(jobId, at(30));
      const afterRelease = await store.claimTerminalEvent(jobId, at(1), at(31));

      expect([whileHeld, afterRelease]).toEqual([false, true]);
    });

    it('refuses to claim an event already published, or a job that owes none', async () => {
      const jobId = await jobOwingItsTerminalEvent();
      await store.markTerminalEventPublished(jobId);
      const owesNothing = createRequest();
      await store.createJob(owesNothing);

      expect(await store.claimTerminalEvent(jobId, at(0), at(30))).toBe(false);
      expect(await store.claimTerminalEvent(owesNothing.jobId, at(0), at(30))).toBe(false);
    });

    it('holds a claim up to and including its last instant, and bumps the version for each claim and release', async () => {
      // GIVEN a job whose terminal event is owed, claimed until at(30)
      const jobId = await jobOwingItsTerminalEvent();
      const before = (await store.getJob(jobId))!.version;
      await store.claimTerminalEvent(jobId, at(0), at(30));

      // WHEN another invocation tries at exactly at(30), and the holder releases it
      const atExpiry = await store.claimTerminalEvent(jobId, at(30), at(60));
      await store.releaseTerminalEventClaim(jobId, at(30));

      // THEN the claim still held at its last instant, and each write moved the version by one
      expect(atExpiry).toBe(false);
      const released = (await store.getJob(jobId))!;
      expect(released.version).toBe(before + 2);
      expect(released.terminalEvent).toEqual({ writer: 'api', previousStatus: 'QUEUED', published: false });
    });

    it('leaves the claim of a published event alone on release', async () => {
      const jobId = await jobOwingItsTerminalEvent();
      await store.claimTerminalEvent(jobId, at(0), at(30));
      await store.markTerminalEventPublished(jobId);
      const published = (await store.getJob(jobId))!;

      await store.releaseTerminalEventClaim(jobId, at(30));

      expect(await store.getJob(jobId)).toEqual(published);
    });
  });

  describe('requestCancel', () => {
    it('marks a running job once and leaves it running', async () => {
      const request = createRequest();
      await store.createJob(request);
      await transitionJob(store, { jobId: request.jobId, from: ['QUEUED'], to: 'RUNNING', now: NOW });

      const first = await requestJobCancel(store, request.jobId, NOW);
      const second = await requestJobCancel(store, request.jobId, NOW);

      expect(first).toMatchObject({ status: 'RUNNING', cancelRequested: true, version: 3 });
      expect(second.version).toBe(3);
    });

    it('refuses a finished job', async () => {
      const request = createRequest();
      await store.createJob(request);
      await transitionJob(store, { jobId: request.jobId, from: ['QUEUED'], to: 'SUCCEEDED', now: NOW });

      await expect(requestJobCancel(store, request.jobId, NOW)).rejects.toBeInstanceOf(ConflictError);
    });
  });

  describe('listJobs', () => {
    async function createJobsAt(owner: string, count: number) {
      const jobIds: string[] = [];
      for (let second = 0; second < count; second++) {
        const jobId = aJobId();
        await store.createJob(createRequest({ owner, jobId, now: `2026-03-01T12:00:${String(second).padStart(2, '0')}.000Z` }));
        jobIds.push(jobId);
      }
      return jobIds;
    }

    it("pages through the owner's jobs newest first, with no token on the last page", async () => {
      const owner = anOwner();
      const oldestFirst = await createJobsAt(owner, 5);
      await createJobsAt(anOwner(), 2);

      const page1 = await store.listJobs({ owner, limit: 2 });
      const page2 = await store.listJobs({ owner, limit: 2, nextToken: page1.nextToken });
      const page3 = await store.listJobs({ owner, limit: 1, nextToken: page2.nextToken });

      const seen = [...page1.jobs, ...page2.jobs, ...page3.jobs].map((job) => job.jobId);
      expect(seen).toEqual([...oldestFirst].reverse());
      expect(page1.nextToken).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(page3.nextToken).toBeUndefined();
    });

    it('filters by status', async () => {
      const owner = anOwner();
      const [first, second, third] = await createJobsAt(owner, 3);
      await transitionJob(store, { jobId: first!, from: ['QUEUED'], to: 'PENDING', now: NOW });
      await transitionJob(store, { jobId: third!, from: ['QUEUED'], to: 'PENDING', now: NOW });

      const pending = await store.listJobs({ owner, status: 'PENDING', limit: 10 });
      const queued = await store.listJobs({ owner, status: 'QUEUED', limit: 10 });

      expect(pending.jobs.map((job) => job.jobId)).toEqual([third, first]);
      expect(queued.jobs.map((job) => job.jobId)).toEqual([second]);
    });

    it('orders by creation time, not by the order the jobs were written', async () => {
      // GIVEN three jobs written in an order unlike their creation times
      const owner = anOwner();
      const [middle, newest, oldest] = [aJobId(), aJobId(), aJobId()];
      await store.createJob(createRequest({ owner, jobId: middle, now: '2026-03-01T12:00:02.000Z' }));
      await store.createJob(createRequest({ owner, jobId: newest, now: '2026-03-01T12:00:03.000Z' }));
      await store.createJob(createRequest({ owner, jobId: oldest, now: '2026-03-01T12:00:01.000Z' }));

      // WHEN the owner lists them
      const listed = await store.listJobs({ owner, limit: 10 });

      // THEN the newest comes first
      expect(listed.jobs.map((job) => job.jobId)).toEqual([newest, middle, oldest]);
    });

    it.each([
      ['not base64url', '%%%'],
      ['not JSON', Buffer.from('hello').toString('base64url')],
      ['a JSON array', Buffer.from('[]').toString('base64url')],
      ['foreign keys', Buffer.from(JSON.stringify({ pk: 'x', sk: 'y' })).toString('base64url')],
    ])('rejects a token that is %s', async (_, nextToken) => {
      await expect(store.listJobs({ owner: anOwner(), limit: 5, nextToken })).rejects.toBeInstanceOf(InvalidNextTokenError);
    });

    it("rejects another owner's token and a token from a different filter", async () => {
      const owner = anOwner();
      await createJobsAt(owner, 3);
      const { nextToken } = await store.listJobs({ owner, limit: 1 });

      await expect(store.listJobs({ owner: anOwner(), limit: 1, nextToken })).rejects.toBeInstanceOf(InvalidNextTokenError);
      await expect(store.listJobs({ owner, status: 'QUEUED', limit: 1, nextToken })).rejects.toBeInstanceOf(InvalidNextTokenError);
    });
  });

  describe('listUnfinished', () => {
    async function unfinishedAmong(jobIds: readonly string[]) {
      return (await store.listUnfinished()).filter((job) => jobIds.includes(job.jobId));
    }

    it('lists the QUEUED, PENDING and RUNNING jobs of every owner, as stored, and none that ended', async () => {
      const jobIds = { queued: aJobId(), pending: aJobId(), running: aJobId(), succeeded: aJobId(), failed: aJobId(), cancelled: aJobId() };
      for (const [status, jobId] of Object.entries(jobIds)) {
        await store.createJob(createRequest({ jobId, idempotency: { key: `unfinished-${jobId}`, requestHash: status } }));
        if (status !== 'queued') await transitionJob(store, { jobId, from: ['QUEUED'], to: status.toUpperCase() as JobStatus, now: NOW });
      }

      const unfinished = await unfinishedAmong(Object.values(jobIds));

      expect(unfinished.map((job) => job.jobId).sort()).toEqual([jobIds.queued, jobIds.pending, jobIds.running].sort());
      for (const job of unfinished) expect(job).toEqual(await store.getJob(job.jobId));
      expect(new Set(unfinished.map((job) => job.owner)).size).toBe(3);
    });

    it('leaves out idempotency records and withdrawn jobs', async () => {
      const owner = anOwner();
      const request = createRequest({ owner, idempotency: { key: 'withdrawn', requestHash: 'h-1' } });
      await store.createJob(request);
      await store.deleteUnsentJob(request.jobId, owner, 'withdrawn');
      const claimedJobId = aJobId();
      await seedIdempotencyClaim(owner, 'crashed', { jobId: claimedJobId, requestHash: 'h-2', expiresAt: Date.parse(NOW) / 1000 + 60 });

      const all = await store.listUnfinished();

      expect(all.map((job) => job.jobId)).not.toContain(request.jobId);
      expect(all.map((job) => job.jobId)).not.toContain(claimedJobId);
      expect(all.filter((job) => job.owner === undefined || job.status === undefined)).toEqual([]);
    });
  });

  describe('putAttempts', () => {
    async function runningJob() {
      const request = createRequest();
      await store.createJob(request);
      await transitionJob(store, { jobId: request.jobId, from: ['QUEUED'], to: 'PENDING', now: NOW });
      return putJobAttempts(store, request.jobId, [{ attempt: 1, capacity: 'spot', status: 'RUNNING', startedAt: NOW }]);
    }

    it('settles one attempt and records the next in a single write', async () => {
      const before = await runningJob();

      const after = await putJobAttempts(store, before.jobId, [
        { attempt: 1, capacity: 'spot', status: 'FAILED', failureClass: 'SPOT_RECLAIM' },
        { attempt: 2, capacity: 'spot', status: 'RUNNING' },
      ]);

      expect(after.version).toBe(before.version + 1);
      expect(after.attempts).toEqual([
        { attempt: 1, capacity: 'spot', status: 'FAILED', failureClass: 'SPOT_RECLAIM', startedAt: NOW },
        { attempt: 2, capacity: 'spot', status: 'RUNNING' },
      ]);
      expect(await store.getJob(before.jobId)).toEqual(after);
    });

    it('writes none of them when one would move an attempt back', async () => {
      const before = await runningJob();

      const write = putJobAttempts(store, before.jobId, [
        { attempt: 1, capacity: 'spot', status: 'PENDING' },
        { attempt: 2, capacity: 'spot', status: 'PENDING' },
      ]);

      await expect(write).rejects.toBeInstanceOf(ConflictError);
      expect(await store.getJob(before.jobId)).toEqual(before);
    });

    it('fails when one attempt number comes twice, writing nothing', async () => {
      const before = await runningJob();

      const write = putJobAttempts(store, before.jobId, [
        { attempt: 2, capacity: 'spot', status: 'PENDING' },
        { attempt: 2, capacity: 'on-demand', status: 'PENDING' },
      ]);

      await expect(write).rejects.toThrow('A change names attempt numbers more than once: 2, 2.');
      expect(await store.getJob(before.jobId)).toEqual(before);
    });

    it('fails with JobNotFoundError for an unknown job', async () => {
      await expect(putJobAttempts(store, aJobId(), [{ attempt: 1, capacity: 'spot', status: 'PENDING' }])).rejects.toBeInstanceOf(
        JobNotFoundError,
      );
      await expect(requestJobCancel(store, aJobId(), NOW)).rejects.toBeInstanceOf(JobNotFoundError);
    });
  });
});
