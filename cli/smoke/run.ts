/**
 * One `gpujobs smoke` run: it submits a few tiny jobs through the API as any user would,
 * waits for each outcome by polling its status, checks each terminal event, and prints
 * one PASS/FAIL/SKIP line per step. Everything it creates (jobs still running, the
 * temporary rule and queue) is removed when it ends, also after a failure or Ctrl-C.
 */
import { isTerminal, type Job, type JobStatus } from '../../core/job.js';
import { JSON_MEDIA_TYPE } from '../../core/media-type.js';
import { ATTEMPT_VARIABLE } from '../../core/plan.js';
import { TERMINAL_DETAIL_TYPE } from '../../core/transitions.js';
import { ApiProblemError } from '../client.js';
import { EXIT, type CommandContext } from '../command.js';
import { withPollRetries } from '../follow.js';
import { describeAttempt, describeAttempts, describeEnd, describeError, describeTarget } from './describe.js';
import {
  LeftoverResourcesError,
  LocalEventFeed,
  SMOKE_TAG_KEY,
  TemporaryEventQueue,
  type TerminalEvent,
  type TerminalEventFeed,
} from './events.js';
import {
  SMOKE_FAILURE_EXIT_CODE,
  SMOKE_STEPS,
  SmokeInterrupted,
  StepFailure,
  StepSkipped,
  type SmokeStep,
  type StepResult,
} from './steps.js';
import { EVENT_BUS_NAME_OUTPUT_KEY, type SmokeTarget } from './target.js';

/** EventBridge delivers within seconds; a missing event should not hold the run for the whole --timeout. */
const EVENT_WAIT_CAP_SECONDS = 5 * 60;

/** Each smoke job's own attempt timeout: a job the run loses track of still ends by itself. */
const SMOKE_JOB_TIMEOUT_SECONDS = 15 * 60;

/** The smallest shape every GPU instance type can hold, so the smoke test never waits for a big one. */
const SMOKE_JOB_RESOURCES = { gpus: 1, vcpus: 1, memoryMiB: 1024 } as const;

/** What the command line chose for this run. */
export interface SmokeSettings {
  /** Names the jobs, tags them and names the temporary resources, so one run's leftovers are easy to find. */
  readonly runId: string;
  /** The image every smoke job runs. */
  readonly image: string;
  /** The longest wait for each outcome. */
  readonly timeoutSeconds: number;
  /** On AWS, also run a job on the On-Demand queue (the failover target). */
  readonly failover: boolean;
}

interface TrackedJob {
  readonly step: SmokeStep;
  /** The latest status seen (and printed). */
  status: JobStatus;
}

/** Runs the steps once against one target; `execute` resolves to the command's exit code. */
export class SmokeRun {
  private readonly jobs = new Map<string, TrackedJob>();
  private readonly interrupt = new AbortController();
  private readonly results: StepResult[] = [];
  private eventQueue: TemporaryEventQueue | undefined;
  private eventSetupError: unknown;

  constructor(
    private readonly context: CommandContext,
    private readonly target: SmokeTarget,
    private readonly settings: SmokeSettings,
  ) {}

  async execute(): Promise<number> {
    const { term } = this.context;
    term.err(
      term.dim(
        `Smoke test ${this.settings.runId} of ${describeTarget(this.target)}; each wait ends after ${this.settings.timeoutSeconds}s.`,
      ),
    );
    let interrupted = false;
    const onSignal = (): void => {
      if (this.interrupt.signal.aborted) return;
      term.err('Interrupted: cancelling the smoke jobs and removing what the run created…');
      this.interrupt.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      await this.setUpEventFeed();
      for (const step of SMOKE_STEPS) {
        const result = await this.runStep(step);
        this.report(result);
      }
    } catch (error) {
      if (!(error instanceof SmokeInterrupted)) throw error;
      interrupted = true;
    } finally {
      await this.cleanUp();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    const failed = this.results.filter((result) => result.outcome === 'FAIL').length;
    const passed = this.results.filter((result) => result.outcome === 'PASS').length;
    const skipped = this.results.filter((result) => result.outcome === 'SKIP').length;
    if (this.context.json) {
      this.context.term.out(
        JSON.stringify(
          {
            runId: this.settings.runId,
            mode: this.target.mode,
            endpoint: this.target.client.endpoint.url.href,
            interrupted,
            results: this.results,
            ok: failed === 0 && !interrupted,
          },
          null,
          2,
        ),
      );
    }
    term.err(`${passed} passed, ${failed} failed, ${skipped} skipped${interrupted ? ', interrupted' : ''}`);
    if (interrupted) return EXIT.cancelled;
    return failed === 0 ? EXIT.ok : EXIT.failure;
  }

  private report(result: StepResult): void {
    this.results.push(result);
    const { term } = this.context;
    const verdict = result.outcome === 'PASS' ? term.green('PASS') : result.outcome === 'FAIL' ? term.red('FAIL') : term.yellow('SKIP');
    const line =
      result.outcome === 'PASS'
        ? `${verdict} ${result.step} (${(result.seconds ?? 0).toFixed(1)}s): ${result.detail}`
        : `${verdict} ${result.step}: ${result.detail}`;
    if (this.context.json) term.err(line);
    else term.out(line);
  }

  private async runStep(step: SmokeStep): Promise<StepResult> {
    const started = this.context.now();
    try {
      const detail = await this.steps[step]();
      return { step, outcome: 'PASS', seconds: (this.context.now() - started) / 1000, detail };
    } catch (error) {
      if (error instanceof SmokeInterrupted || this.interrupt.signal.aborted) throw new SmokeInterrupted('interrupted', { cause: error });
      if (error instanceof StepSkipped) return { step, outcome: 'SKIP', detail: error.message };
      if (error instanceof StepFailure) return { step, outcome: 'FAIL', detail: error.message };
      return { step, outcome: 'FAIL', detail: describeError(error) };
    }
  }

  private readonly steps: Record<SmokeStep, () => Promise<string>> = {
    gpu: () => this.gpuStep(),
    failure: () => this.failureStep(),
    cancel: () => this.cancelStep(),
    failover: () => this.failoverStep(),
    events: () => this.eventsStep(),
  };

  private async gpuStep(): Promise<string> {
    const realGpu = this.target.mode === 'aws' || this.target.localInfo?.gpus.real === true;
    if (realGpu) {
      const job = await this.runToEnd('gpu', { command: ['nvidia-smi', '-L'] });
      expectSucceeded(job, '`nvidia-smi -L`');
      const gpuLine = await this.waitForLogLine(job.jobId, /^GPU \d+: .+$/m, 'a "GPU 0: …" line from nvidia-smi -L');
      return `${gpuLine} on ${describeAttempt(job.attempts.at(-1))}`;
    }
    const job = await this.runToEnd('gpu', {
      command: ['sh', '-c', 'test -n "$CUDA_VISIBLE_DEVICES" && echo "CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"'],
    });
    expectSucceeded(job, 'the CUDA_VISIBLE_DEVICES check (is the variable set for jobs?)');
    const seen = await this.waitForLogLine(job.jobId, /^CUDA_VISIBLE_DEVICES=\S+$/m, 'the CUDA_VISIBLE_DEVICES line');
    return `no real GPU in local mode, so checked the GPU slot instead: the job saw ${seen}`;
  }

  private async failureStep(): Promise<string> {
    const job = await this.runToEnd('failure', {
      command: ['sh', '-c', `echo "smoke: exiting with ${SMOKE_FAILURE_EXIT_CODE}"; exit ${SMOKE_FAILURE_EXIT_CODE}`],
    });
    if (job.status !== 'FAILED' || job.exitCode !== SMOKE_FAILURE_EXIT_CODE) {
      throw new StepFailure(`expected FAILED with exit code ${SMOKE_FAILURE_EXIT_CODE}; job ${job.jobId} ended ${describeEnd(job)}`);
    }
    const failureClass = job.attempts.at(-1)?.failureClass;
    return `job ${job.jobId} ended FAILED with exit code ${SMOKE_FAILURE_EXIT_CODE}${failureClass ? ` (${failureClass})` : ''}${job.statusReason ? `: ${job.statusReason}` : ''}`;
  }

  private async cancelStep(): Promise<string> {
    const submitted = await this.submit('cancel', { command: ['sleep', String(SMOKE_JOB_TIMEOUT_SECONDS * 4)] });
    const running = await this.waitFor(submitted.jobId, (job) => job.status === 'RUNNING' || isTerminal(job.status), 'RUNNING');
    if (running.status !== 'RUNNING') throw new StepFailure(`job ${running.jobId} ended ${describeEnd(running)} before it ran`);
    const requestedAt = this.context.now();
    await this.target.client.cancel(running.jobId);
    const ended = await this.waitFor(running.jobId, (job) => isTerminal(job.status), 'its end after the cancel');
    if (ended.status !== 'CANCELLED')
      throw new StepFailure(`expected CANCELLED after a cancel while RUNNING; job ${ended.jobId} ended ${describeEnd(ended)}`);
    return `job ${ended.jobId} cancelled while RUNNING, CANCELLED ${((this.context.now() - requestedAt) / 1000).toFixed(1)}s later`;
  }

  private async failoverStep(): Promise<string> {
    if (this.target.mode === 'local') return this.localFailover();
    if (!this.settings.failover) {
      throw new StepSkipped(
        'a Spot reclaim cannot be forced on AWS; --failover runs a job on the On-Demand queue (the failover target) instead',
      );
    }
    const job = await this.runToEnd('failover', { command: ['nvidia-smi', '-L'], capacity: 'on-demand' });
    expectSucceeded(job, 'the On-Demand job');
    const last = job.attempts.at(-1);
    if (last?.capacity !== 'on-demand') throw new StepFailure(`job ${job.jobId} ran on ${last?.capacity ?? 'no capacity'}, not on-demand`);
    return `job ${job.jobId} ran on ${describeAttempt(last)}: the On-Demand failover target works (the switch itself needs a real reclaim)`;
  }

  /**
   * One Spot attempt allowed, reclaimed while it runs: the workflow must move the job to
   * On-Demand, where the command sees attempt 2 and ends at once.
   */
  private async localFailover(): Promise<string> {
    const submitted = await this.submit('failover', {
      command: [
        'sh',
        '-c',
        `if [ "$${ATTEMPT_VARIABLE}" = 1 ]; then echo "smoke: waiting for the reclaim"; sleep ${this.settings.timeoutSeconds}; fi; ` +
          `echo "smoke: attempt $${ATTEMPT_VARIABLE} done"`,
      ],
      capacity: 'spot-first',
      maxSpotAttempts: 1,
    });
    let reclaimed = false;
    const ended = await this.waitFor(
      submitted.jobId,
      async (job) => {
        if (!reclaimed && job.status === 'RUNNING' && job.attempts.at(-1)?.capacity === 'spot')
          reclaimed = (await this.reclaimLocalSpot()) > 0;
        return isTerminal(job.status);
      },
      'its end after the Spot reclaim',
    );
    const [first, ...rest] = ended.attempts;
    const last = rest.at(-1);
    if (ended.status !== 'SUCCEEDED' || first?.failureClass !== 'SPOT_RECLAIM' || last?.capacity !== 'on-demand') {
      throw new StepFailure(
        `expected a reclaimed Spot attempt, then SUCCEEDED on on-demand; job ${ended.jobId} ended ${describeEnd(ended)} after ${describeAttempts(ended.attempts)}`,
      );
    }
    return `job ${ended.jobId}: spot attempt reclaimed, then SUCCEEDED on on-demand (attempt ${last.attempt})`;
  }

  private async reclaimLocalSpot(): Promise<number> {
    const response = await this.context.fetch(new URL('/local/spot/interrupt', this.target.client.endpoint.url), {
      method: 'POST',
      headers: { 'content-type': JSON_MEDIA_TYPE },
      signal: this.interrupt.signal,
    });
    if (!response.ok) throw new StepFailure(`POST /local/spot/interrupt answered ${response.status}`);
    return ((await response.json()) as { interrupted?: number }).interrupted ?? 0;
  }

  private async eventsStep(): Promise<string> {
    const ended = [...this.jobs].filter(([, job]) => isTerminal(job.status));
    if (ended.length === 0) throw new StepSkipped('no smoke job reached a terminal status');
    const feed = this.eventFeed();
    const deadline = this.context.now() + Math.min(this.settings.timeoutSeconds, EVENT_WAIT_CAP_SECONDS) * 1000;
    const events = await feed.collect(
      ended.map(([jobId]) => jobId),
      deadline,
      this.interrupt.signal,
    );
    const problems: string[] = [];
    const counts = new Map<string, number>();
    for (const [jobId, job] of ended) {
      const expected = TERMINAL_DETAIL_TYPE[job.status as keyof typeof TERMINAL_DETAIL_TYPE];
      const received: TerminalEvent[] = events.get(jobId) ?? [];
      if (received.length === 0) problems.push(`no "${expected}" event for job ${jobId} (${job.step})`);
      else if (received.length > 1) {
        const types = received.map((event) => event.detailType).join(', ');
        problems.push(`${received.length} terminal events for job ${jobId} (${job.step}): ${types}; expected exactly one`);
      } else if (received[0]!.detailType !== expected)
        problems.push(`job ${jobId} (${job.step}) ended ${job.status} but its event is "${received[0]!.detailType}"`);
      else counts.set(expected, (counts.get(expected) ?? 0) + 1);
    }
    if (problems.length > 0) throw new StepFailure(`${problems.join('; ')} (read from ${feed.description})`);
    const summary = [...counts].map(([detailType, count]) => `${detailType} ×${count}`).join(', ');
    return `exactly one terminal event per job: ${summary} (from ${feed.description})`;
  }

  private eventFeed(): TerminalEventFeed {
    if (this.target.mode === 'local') return new LocalEventFeed(this.target.client.endpoint.url, this.context.fetch, this.context);
    if (this.eventQueue && this.eventSetupError === undefined) return this.eventQueue;
    if (this.eventSetupError !== undefined) {
      throw new StepFailure(
        `could not set up the temporary rule and queue on bus ${this.target.eventBusName}: ${describeError(this.eventSetupError)}`,
      );
    }
    if (this.target.stack) throw new StepSkipped(`stack ${this.target.stack} has no "${EVENT_BUS_NAME_OUTPUT_KEY}" output`);
    throw new StepSkipped('the event bus is known only from a stack: pass --stack NAME (or `gpujobs configure --stack NAME` first)');
  }

  /** Before the first job: the rule must exist when the first terminal event is published. */
  private async setUpEventFeed(): Promise<void> {
    const { aws, eventBusName } = this.target;
    if (this.target.mode !== 'aws' || !aws || !eventBusName) return;
    const [{ SQSClient }, { EventBridgeClient }] = await Promise.all([
      import('@aws-sdk/client-sqs'),
      import('@aws-sdk/client-eventbridge'),
    ]);
    this.eventQueue = new TemporaryEventQueue({
      sqs: new SQSClient(aws),
      eventBridge: new EventBridgeClient(aws),
      eventBusName,
      runId: this.settings.runId,
      region: aws.region,
      now: this.context.now,
    });
    try {
      await this.eventQueue.setUp();
      this.context.term.err(this.context.term.dim(`Events: ${this.eventQueue.description}`));
    } catch (error) {
      this.eventSetupError = error;
    }
  }

  private async cleanUp(): Promise<void> {
    const { term } = this.context;
    for (const [jobId, job] of this.jobs) {
      if (isTerminal(job.status)) continue;
      try {
        await this.target.client.cancel(jobId);
        term.err(term.dim(`Cancelled smoke job ${jobId} (${job.step}), last seen ${job.status}.`));
      } catch (error) {
        if (error instanceof ApiProblemError && error.problem.status === 409) continue;
        term.err(
          `${term.red('warning:')} could not cancel smoke job ${jobId} (${job.step}): ${describeError(error)}; cancel it with \`gpujobs cancel ${jobId}\`.`,
        );
      }
    }
    if (!this.eventQueue) return;
    try {
      await this.eventQueue.remove();
    } catch (error) {
      if (!(error instanceof LeftoverResourcesError)) throw error;
      this.report({ step: 'cleanup', outcome: 'FAIL', detail: `${error.message}. Remove them with:\n  ${error.commands.join('\n  ')}` });
    }
  }

  private async submit(step: SmokeStep, overrides: Record<string, unknown> & { command: readonly string[] }): Promise<Job> {
    const job = await this.target.client.submit({
      name: `smoke-${this.settings.runId}-${step}`,
      image: this.settings.image,
      ...SMOKE_JOB_RESOURCES,
      timeoutSeconds: SMOKE_JOB_TIMEOUT_SECONDS,
      tags: { [SMOKE_TAG_KEY]: this.settings.runId },
      ...overrides,
    });
    this.jobs.set(job.jobId, { step, status: job.status });
    this.context.term.err(this.context.term.dim(`  ${step}: submitted ${job.jobId} (${job.status})`));
    return job;
  }

  private async runToEnd(step: SmokeStep, overrides: Record<string, unknown> & { command: readonly string[] }): Promise<Job> {
    const submitted = await this.submit(step, overrides);
    return this.waitFor(submitted.jobId, (job) => isTerminal(job.status), 'its end');
  }

  /** Polls the job until `done` says so; a StepFailure naming the status it was stuck in at the deadline. */
  private async waitFor(jobId: string, done: (job: Job) => boolean | Promise<boolean>, what: string): Promise<Job> {
    const deadline = this.context.now() + this.settings.timeoutSeconds * 1000;
    const tracked = this.jobs.get(jobId);
    for (;;) {
      this.throwIfInterrupted();
      const job = await withPollRetries(this.context, () => this.target.client.get(jobId));
      if (tracked && job.status !== tracked.status) {
        this.context.term.err(this.context.term.dim(`  ${tracked.step}: ${jobId} ${job.status}`));
        tracked.status = job.status;
      }
      if (await done(job)) return job;
      if (this.context.now() >= deadline) {
        throw new StepFailure(
          `job ${jobId} was still ${job.status} after ${this.settings.timeoutSeconds}s waiting for ${what}${job.statusReason ? ` (${job.statusReason})` : ''}`,
        );
      }
      await this.context.sleep(this.context.pollIntervalMs);
    }
  }

  /** Log delivery can trail the job's end (CloudWatch ingestion), so the logs are read until the line shows. */
  private async waitForLogLine(jobId: string, pattern: RegExp, what: string): Promise<string> {
    const deadline = this.context.now() + this.settings.timeoutSeconds * 1000;
    for (;;) {
      this.throwIfInterrupted();
      const lines = await this.readLogs(jobId);
      const found = pattern.exec(lines.join('\n'));
      if (found) return found[0];
      if (this.context.now() >= deadline) {
        const said = lines.length > 0 ? `; it says: ${lines.slice(0, 3).join(' | ')}` : ' (it is empty)';
        throw new StepFailure(`job ${jobId} SUCCEEDED but its log has no ${what} after ${this.settings.timeoutSeconds}s${said}`);
      }
      await this.context.sleep(this.context.pollIntervalMs);
    }
  }

  private async readLogs(jobId: string): Promise<string[]> {
    const lines: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await withPollRetries(this.context, () => this.target.client.logs(jobId, nextToken ? { nextToken } : {}));
      lines.push(...page.lines.map((line) => line.message));
      nextToken = page.nextToken;
    } while (nextToken);
    return lines;
  }

  private throwIfInterrupted(): void {
    if (this.interrupt.signal.aborted) throw new SmokeInterrupted('interrupted');
  }
}

function expectSucceeded(job: Job, what: string): void {
  if (job.status !== 'SUCCEEDED') throw new StepFailure(`${what} ended ${describeEnd(job)} (job ${job.jobId})`);
}
