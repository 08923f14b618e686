/**
 * A real JobStore (the DynamoJobStore, or the in-memory store with its semantics), keeping every
 * version of each job it reads or writes, so a test can check the whole history of a record:
 * each conditional write is decided on a record its writer read (the state before) and returns
 * the item as written (the state after). It can also wait a few event-loop turns before each call, which varies
 * which of two racing handlers reads or writes first.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { JobChange } from '../../core/job-change.js';
import type { AttemptStatus, JobRecord, JobStatus, TerminalEventDebt } from '../../core/job.js';
import type { CreateJobRequest, CreateJobResult, JobStore } from '../../core/ports.js';
import { DynamoJobStore } from '../../lambdas/shared/job-store.js';
import type { StoredJobRecord } from '../../lambdas/shared/job-item.js';
import { MemoryJobStore } from '../../lambdas/shared/memory-job-store.js';

/** The part of a record whose history the lifecycle properties are about. */
export interface Snapshot {
  readonly version: number;
  readonly status: JobStatus;
  readonly attempts: readonly { readonly attempt: number; readonly status: AttemptStatus }[];
  readonly cancelRequested?: boolean;
  readonly terminalEvent?: TerminalEventDebt;
}

export interface WriteLog {
  /** Every version of the job seen, read or written. */
  readonly snapshots: ReadonlyMap<number, Snapshot>;
  /** The versions written by a status change (including PENDING → PENDING). */
  readonly transitionVersions: ReadonlySet<number>;
}

/** Thrown when one version of a job was seen with two different contents: a write that did not move the version. */
export class InconsistentVersionError extends Error {
  override readonly name = 'InconsistentVersionError';
}

const snapshotOf = (record: StoredJobRecord): Snapshot => ({
  version: record.version,
  status: record.status,
  attempts: record.attempts.map((attempt) => ({ attempt: attempt.attempt, status: attempt.status })),
  ...(record.cancelRequested === undefined ? {} : { cancelRequested: record.cancelRequested }),
  ...(record.terminalEvent === undefined
    ? {}
    : {
        terminalEvent: {
          writer: record.terminalEvent.writer,
          previousStatus: record.terminalEvent.previousStatus,
          published: record.terminalEvent.published,
        },
      }),
});

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Both store classes: their reads inside a write go through `this.getJob`, which the recording overrides. */
// biome-ignore lint/suspicious/noExplicitAny: a mixin's base constructor must take any[] (TypeScript's rule for mixins)
type StoreClass = abstract new (...args: any[]) => StoredJobStore;

/** The JobStore port as both stores implement it: records come back with their attempts' log streams. */
interface StoredJobStore extends JobStore {
  getJob(jobId: string): Promise<StoredJobRecord | undefined>;
  update(current: JobRecord, change: JobChange): Promise<StoredJobRecord>;
}

function recording<Base extends StoreClass>(Store: Base) {
  abstract class Recording extends Store {
    private readonly logs = new Map<string, { snapshots: Map<number, Snapshot>; transitionVersions: Set<number> }>();
    private delays: readonly number[] = [0];
    private calls = 0;

    /** Before each later call, wait the next of these many event-loop turns (cyclically). */
    delayCallsBy(delays: readonly number[]): void {
      this.delays = delays.length > 0 ? delays : [0];
      this.calls = 0;
    }

    writeLog(jobId: string): WriteLog {
      const log = this.logs.get(jobId);
      return { snapshots: new Map(log?.snapshots), transitionVersions: new Set(log?.transitionVersions) };
    }

    forget(jobId: string): void {
      this.logs.delete(jobId);
    }

    override async createJob(request: CreateJobRequest): Promise<CreateJobResult> {
      const result = await super.createJob(request);
      if (result.kind !== 'key-conflict') this.keep(result.job as StoredJobRecord);
      return result;
    }

    override async getJob(jobId: string): Promise<StoredJobRecord | undefined> {
      await this.pause();
      const record = await super.getJob(jobId);
      if (record) this.keep(record);
      return record;
    }

    override async update(current: JobRecord, change: JobChange): Promise<StoredJobRecord> {
      await this.pause();
      const record = await super.update(current, change);
      this.keep(record);
      if (change.to !== undefined && record.version !== current.version) this.logFor(record.jobId).transitionVersions.add(record.version);
      return record;
    }

    override async markTerminalEventPublished(jobId: string): Promise<boolean> {
      await this.pause();
      return super.markTerminalEventPublished(jobId);
    }

    private async pause(): Promise<void> {
      const turns = this.delays[this.calls++ % this.delays.length] ?? 0;
      for (let turn = 0; turn < turns; turn++) await nextTurn();
    }

    private logFor(jobId: string) {
      let log = this.logs.get(jobId);
      if (!log) {
        log = { snapshots: new Map(), transitionVersions: new Set() };
        this.logs.set(jobId, log);
      }
      return log;
    }

    private keep(record: StoredJobRecord): StoredJobRecord {
      const snapshot = snapshotOf(record);
      const { snapshots } = this.logFor(record.jobId);
      const known = snapshots.get(record.version);
      if (known && JSON.stringify(known) !== JSON.stringify(snapshot)) {
        throw new InconsistentVersionError(
          `Job ${record.jobId} was seen twice at version ${record.version} with different contents: ${JSON.stringify(known)} and ${JSON.stringify(snapshot)}.`,
        );
      }
      snapshots.set(record.version, snapshot);
      return record;
    }
  }
  return Recording;
}

/** The methods the lifecycle properties use on a recording store, whichever store it records. */
export interface RecordingStore extends StoredJobStore {
  delayCallsBy(delays: readonly number[]): void;
  writeLog(jobId: string): WriteLog;
  forget(jobId: string): void;
}

export class RecordingJobStore extends recording(DynamoJobStore) implements RecordingStore {
  constructor(documentClient: DynamoDBDocumentClient, tableName: string) {
    super(documentClient, tableName);
  }
}

export class RecordingMemoryJobStore extends recording(MemoryJobStore) implements RecordingStore {}
