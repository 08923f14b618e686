/**
 * The workflow's Lambda tasks for the workflow tests: the real decisions of core/ (planFirstAttempt,
 * interpretSubmissionResult, planAfterAttempt, the transition table) over one in-memory job record.
 * Only the bookkeeping a store would do lives here.
 */
import { interpretSubmissionResult, settledAttemptStatus } from '../../core/batch-result.js';
import { isTerminal, type Attempt, type JobRecord, type JobSpec } from '../../core/job.js';
import { planAfterAttempt, planFirstAttempt } from '../../core/plan.js';
import { applyTransition } from '../../core/transitions.js';
import type {
  FinishInput,
  FinishResult,
  Plan,
  PrepareInput,
  PrepareResult,
  SettleAttemptInput,
} from '../../core/contract/workflow.js';
import type { WorkflowTasks } from './run-workflow.js';

export const JOB_DEFINITION_ARN = 'arn:aws:batch:us-east-1:123456789012:job-definition/gpujobs-3f9a1c:1';

export function aJobRecord(jobId: string, spec: Partial<JobSpec> = {}, record: Partial<JobRecord> = {}): JobRecord {
  const now = '2025-01-01T00:00:00.000Z';
  return {
    jobId,
    name: 'train',
    owner: 'arn:aws:iam::123456789012:user/alice',
    image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/trainer:latest',
    command: ['python', 'train.py', '--epochs', '3'],
    environment: { DATASET: 's3://bucket/data' },
    tags: {},
    gpus: 1,
    vcpus: 4,
    memoryMiB: 16_384,
    capacity: 'spot-first',
    maxSpotAttempts: 3,
    timeoutSeconds: 3_600,
    ...spec,
    status: 'QUEUED',
    createdAt: now,
    updatedAt: now,
    attempts: [],
    costUsd: 0,
    version: 1,
    ...record,
  };
}

/** One job's record and the tasks that read and write it. */
export class InMemoryJob implements WorkflowTasks {
  record: JobRecord;
  readonly settled: SettleAttemptInput[] = [];
  readonly finished: FinishInput[] = [];
  private clock = Date.parse('2025-01-01T00:00:00Z');

  constructor(record: JobRecord) {
    this.record = record;
  }

  /** What the cancel API does to a running job: mark it; the workflow notices at its next step. */
  requestCancel(): void {
    this.record = { ...this.record, cancelRequested: true, version: this.record.version + 1 };
  }

  async prepare({ jobId }: PrepareInput): Promise<PrepareResult> {
    this.expectJob(jobId);
    if (isTerminal(this.record.status)) return { jobId, plan: { next: 'skip' } };
    if (this.record.status === 'QUEUED') this.record = applyTransition(this.record, 'PENDING', this.now());
    const plan = planFirstAttempt(this.record);
    this.recordPlannedAttempt(plan);
    if (plan.next !== 'spot' && plan.next !== 'on-demand') return { jobId, plan };
    return {
      jobId,
      job: { jobDefinitionArn: JOB_DEFINITION_ARN, command: this.record.command, timeoutSeconds: this.record.timeoutSeconds },
      plan,
    };
  }

  async settleAttempt(input: SettleAttemptInput): Promise<Plan> {
    this.expectJob(input.jobId);
    this.settled.push(input);
    // Each run Batch made of the submission is an attempt: input.attempt, input.attempt + 1, ...
    const results = interpretSubmissionResult(input.attemptResult, { cancelRequested: this.record.cancelRequested });
    results.forEach((result, index) =>
      this.putAttempt({
        attempt: input.attempt + index,
        capacity: input.capacity,
        status: settledAttemptStatus(result),
        ...(result.failureClass !== undefined && { failureClass: result.failureClass }),
        ...(result.batchJobId !== undefined && { batchJobId: result.batchJobId }),
        ...(result.exitCode !== undefined && { exitCode: result.exitCode }),
        ...(result.statusReason !== undefined && { statusReason: result.statusReason }),
      }),
    );
    const plan = planAfterAttempt(this.record, results.at(-1)!);
    this.recordPlannedAttempt(plan);
    return plan;
  }

  async finish(input: FinishInput): Promise<FinishResult> {
    this.expectJob(input.jobId);
    this.finished.push(input);
    if (isTerminal(this.record.status)) return { jobId: input.jobId, status: this.record.status, transitioned: false };
    const now = this.now();
    this.record = applyTransition(this.record, input.outcome.status, now, {
      finishedAt: now,
      ...(input.outcome.statusReason !== undefined && { statusReason: input.outcome.statusReason }),
      ...(input.outcome.exitCode !== undefined && { exitCode: input.outcome.exitCode }),
    });
    return { jobId: input.jobId, status: this.record.status, transitioned: true };
  }

  private recordPlannedAttempt(plan: Plan): void {
    if (plan.next === 'spot' || plan.next === 'on-demand') {
      this.putAttempt({ attempt: plan.attempt, capacity: plan.next, status: 'PENDING' });
    }
  }

  private putAttempt(attempt: Attempt): void {
    const others = this.record.attempts.filter((existing) => existing.attempt !== attempt.attempt);
    this.record = {
      ...this.record,
      attempts: [...others, attempt].sort((a, b) => a.attempt - b.attempt),
      version: this.record.version + 1,
    };
  }

  private expectJob(jobId: string): void {
    if (jobId !== this.record.jobId) throw new Error(`The workflow asked for job ${jobId}, not ${this.record.jobId}`);
  }

  private now(): string {
    this.clock += 1_000;
    return new Date(this.clock).toISOString();
  }
}
