/**
 * The workflow's Lambda tasks for the workflow tests: the shipped use cases (app/prepare-job.ts,
 * app/settle-attempt.ts, app/finish-job.ts) over one MemoryJobStore, so a scenario exercises the
 * bookkeeping production does (attempts, the terminal write and its event debt), not a copy of it.
 * Only what lies outside the job store is stubbed: the job definition registry, the ECS lookup of
 * instance types, and EventBridge (a publisher that records what it was given).
 */
import { cancelJob } from '../../app/cancel-job.js';
import { createJobFinisher } from '../../app/finish-job.js';
import { createJobPreparer } from '../../app/prepare-job.js';
import { createAttemptSettler } from '../../app/settle-attempt.js';
import { terminalEventDependencies } from '../../app/terminal-event.js';
import { transitionJob } from '../../app/update-job.js';
import { NO_METRICS } from '../../core/contract/metrics.js';
import type { FinishInput, FinishResult, Plan, PrepareInput, PrepareResult, SettleAttemptInput } from '../../core/contract/workflow.js';
import { attemptCostUsd, jobCostUsd } from '../../core/cost.js';
import { buildJobEvent } from '../../core/events.js';
import type { JobRecord, JobSpec, JobStatus } from '../../core/job.js';
import type { GpuJobEvent } from '../../core/ports.js';
import { MemoryJobStore } from '../../lambdas/shared/memory-job-store.js';
import type { WorkflowTasks } from './run-workflow.js';

export const JOB_DEFINITION_ARN = 'arn:aws:batch:us-east-1:123456789012:job-definition/gpujobs-3f9a1c:1';
const OWNER = 'arn:aws:iam::123456789012:user/alice';

/** One stored job, the workflow tasks that run on it, and what they were asked and published. */
export class StoredJob implements WorkflowTasks {
  readonly settled: SettleAttemptInput[] = [];
  readonly finished: FinishInput[] = [];
  /** Every event the use cases published, in order. */
  readonly published: GpuJobEvent[] = [];
  private clock = Date.parse('2025-01-01T00:00:00Z');
  private readonly store = new MemoryJobStore();
  private readonly useCases;

  private constructor(readonly jobId: string) {
    const store = this.store;
    const now = () => this.now();
    const publisher = { publish: async (events: readonly GpuJobEvent[]) => void this.published.push(...events) };
    const statusChanges = { publish: publisher.publish, buildEvents: buildJobEvent, now };
    const terminalEvents = terminalEventDependencies(store, publisher, () => this.clock);
    const jobCost = (record: JobRecord) => jobCostUsd(record.attempts);
    this.useCases = {
      prepare: createJobPreparer({
        ...statusChanges,
        store,
        allowedRegistries: [],
        resolveJobDefinition: async () => JOB_DEFINITION_ARN,
        explainRegistrationFailure: () => undefined,
      }),
      settle: createAttemptSettler({
        ...statusChanges,
        store,
        instanceTypeOf: async () => 'g5.xlarge',
        onLookupFailure: () => undefined,
        attemptCostUsd: (attempt) => attemptCostUsd(attempt)?.costUsd,
        jobCostUsd: jobCost,
        terminalEvents,
        metrics: NO_METRICS,
      }),
      finish: createJobFinisher({ store, terminalEvents, jobCostUsd: jobCost, now, metrics: NO_METRICS }),
      // The execution keeps running in these scenarios: the cancel reaches it through the attempt Batch terminates.
      cancel: (record: JobRecord) =>
        cancelJob(
          { store, terminalEvents, metrics: NO_METRICS, now, stopExecution: async () => undefined, onEventOwed: () => undefined },
          record,
        ),
    };
  }

  /**
   * A job submitted with `spec`, then taken along `path` as the rest of the system would have
   * moved it before this execution: statuses by legal transitions, `CANCELLED` by the owner's
   * cancel, another terminal status by an earlier execution's finish.
   */
  static async submitted(jobId: string, spec: JobSpec, path: readonly JobStatus[] = []): Promise<StoredJob> {
    const job = new StoredJob(jobId);
    const created = await job.store.createJob({ jobId, owner: OWNER, spec, now: job.now() });
    if (created.kind !== 'created') throw new Error(`Submitting job ${jobId} gave ${created.kind}.`);
    for (const status of path) {
      const { status: from } = await job.record();
      if (status === 'CANCELLED') await job.requestCancel();
      else if (status === 'SUCCEEDED' || status === 'FAILED') await job.endEarlier(status);
      else await transitionJob(job.store, { jobId, from: [from], to: status, now: job.now() });
    }
    return job;
  }

  async record(): Promise<JobRecord> {
    const record = await this.store.getJob(this.jobId);
    if (!record) throw new Error(`Job ${this.jobId} is not in the store.`);
    return record;
  }

  /** What the cancel API does: a queued job ends at once; a running one is marked, and the workflow notices at its next step. */
  async requestCancel(): Promise<void> {
    await this.useCases.cancel(await this.record());
  }

  async prepare(input: PrepareInput): Promise<PrepareResult> {
    this.expectJob(input.jobId);
    return this.useCases.prepare(input);
  }

  async settleAttempt(input: SettleAttemptInput): Promise<Plan> {
    this.expectJob(input.jobId);
    this.settled.push(input);
    return this.useCases.settle(input);
  }

  async finish(input: FinishInput): Promise<FinishResult> {
    this.expectJob(input.jobId);
    this.finished.push(input);
    return this.useCases.finish(input);
  }

  /** An earlier execution's finish, outside the inputs this one records. */
  private async endEarlier(status: 'SUCCEEDED' | 'FAILED'): Promise<void> {
    const { status: from } = await this.record();
    if (from === 'QUEUED') await transitionJob(this.store, { jobId: this.jobId, from: [from], to: 'PENDING', now: this.now() });
    await this.useCases.finish({ jobId: this.jobId, outcome: { status, ...(status === 'SUCCEEDED' ? { exitCode: 0 } : { exitCode: 1 }) } });
  }

  private expectJob(jobId: string): void {
    if (jobId !== this.jobId) throw new Error(`The workflow asked for job ${jobId}, not ${this.jobId}`);
  }

  private now(): string {
    this.clock += 1_000;
    return new Date(this.clock).toISOString();
  }
}
