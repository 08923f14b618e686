/**
 * `gpujobs smoke`: the first thing to run after `cdk deploy` (or `npm start`). It submits
 * a few tiny jobs through the API as any user would, waits for each outcome by polling
 * its status, checks each terminal event, and prints one PASS/FAIL/SKIP line per step.
 * Everything it creates (jobs still running, the temporary rule and queue) is removed
 * when it ends, also after a failure or Ctrl-C.
 */
import { randomBytes } from 'node:crypto';
import { isTerminal, type Attempt, type Job, type JobStatus } from '../../core/job.js';
import { JSON_MEDIA_TYPE } from '../../core/media-type.js';
import { ATTEMPT_VARIABLE } from '../../core/plan.js';
import { TERMINAL_DETAIL_TYPE } from '../../core/transitions.js';
import type { LocalInfo } from '../../local/http-api.js';
import { regionFromExecuteApiHost } from '../auth.js';
import { awsAccess, clientRegion, type AwsAccess } from '../aws-setup.js';
import { ApiProblemError, EndpointUnreachableError, type GpuJobsClient } from '../client.js';
import { EXIT, UsageError, stringOption, type Command, type CommandContext } from '../command.js';
import { isLoopback, readSavedConfig, type ResolvedEndpoint } from '../config.js';
import { withPollRetries } from '../follow.js';
import {
  LeftoverResourcesError,
  LocalEventFeed,
  SMOKE_TAG_KEY,
  TemporaryEventQueue,
  type TerminalEvent,
  type TerminalEventFeed,
} from '../smoke-events.js';
import { UnitParseError, parseDurationSeconds } from '../units.js';
import { API_URL_OUTPUT_KEY, describeStackOutputs, findApiUrl } from './configure.js';

const NAME = 'smoke';

/** The stack output that holds the event bus name (the CfnOutput id in the stack). */
export const EVENT_BUS_NAME_OUTPUT_KEY = 'EventBusName';

export const SMOKE_STEPS = ['gpu', 'failure', 'cancel', 'failover', 'events'] as const;
export type SmokeStep = (typeof SMOKE_STEPS)[number];

/** Has nvidia-smi (the NVIDIA runtime mounts it into GPU containers), sh and sleep. */
export const DEFAULT_SMOKE_IMAGE = 'nvidia/cuda:12.4.1-base-ubuntu22.04';

/** Per wait: on AWS the first job also waits for an instance to launch and pull the image. */
export const DEFAULT_SMOKE_TIMEOUT_SECONDS = { aws: 30 * 60, local: 2 * 60 } as const;

export const SMOKE_FAILURE_EXIT_CODE = 3;

/** EventBridge delivers within seconds; a missing event should not hold the run for the whole --timeout. */
const EVENT_WAIT_CAP_SECONDS = 5 * 60;

/** Each smoke job's own attempt timeout: a job the run loses track of still ends by itself. */
const SMOKE_JOB_TIMEOUT_SECONDS = 15 * 60;

/** The smallest shape every GPU instance type can hold, so the smoke test never waits for a big one. */
const SMOKE_JOB_RESOURCES = { gpus: 1, vcpus: 1, memoryMiB: 1024 } as const;

export type StepOutcome = 'PASS' | 'FAIL' | 'SKIP';

export interface StepResult {
  readonly step: SmokeStep | 'cleanup';
  readonly outcome: StepOutcome;
  /** Seconds the step took; on PASS only. */
  readonly seconds?: number;
  readonly detail: string;
}

class StepFailure extends Error {
  override readonly name = 'StepFailure';
}

class StepSkipped extends Error {
  override readonly name = 'StepSkipped';
}

class SmokeInterrupted extends Error {
  override readonly name = 'SmokeInterrupted';
}

type Mode = 'local' | 'aws';

interface SmokeTarget {
  readonly mode: Mode;
  readonly client: GpuJobsClient;
  readonly localInfo?: LocalInfo;
  readonly stack?: string;
  readonly eventBusName?: string;
  readonly aws?: AwsAccess & { readonly region: string };
}

export const smokeCommand: Command = {
  name: NAME,
  summary: 'Check a deployment end to end: a GPU job, a failure, a cancel, failover, events',
  usage: '[--stack NAME] [--timeout DURATION] [--image IMAGE] [--failover] [--json]',
  description: [
    'Submits tiny jobs and checks what the platform does with them, printing one line per step:',
    '`PASS <step> (<seconds>s): <what was seen>`, `FAIL <step>: <reason>` or `SKIP <step>: <reason>`.',
    `  gpu       \`nvidia-smi -L\` succeeds and its log names a GPU (local mode without a real GPU:`,
    '            the job sees CUDA_VISIBLE_DEVICES instead)',
    `  failure   a job exiting ${SMOKE_FAILURE_EXIT_CODE} ends FAILED with exit code ${SMOKE_FAILURE_EXIT_CODE}`,
    '  cancel    a running job is cancelled and ends CANCELLED',
    '  failover  local mode: a Spot attempt is reclaimed (POST /local/spot/interrupt) and the job',
    '            succeeds On-Demand; AWS: skipped (a reclaim cannot be forced), or with --failover a',
    '            job runs on the On-Demand queue to show the failover target works',
    '  events    each job above has exactly one terminal event (GPU Job Succeeded/Failed/Cancelled)',
    '',
    'Against a stack (--stack NAME, or the stack saved by `gpujobs configure`) the events are read',
    `through a temporary EventBridge rule on the stack's bus (output "${EVENT_BUS_NAME_OUTPUT_KEY}") and a temporary`,
    'SQS queue, both removed at the end, also on failure or Ctrl-C. In local mode they come from',
    'GET /local/events. Every wait ends at --timeout. Exits 0 when no step FAILED, 1 otherwise,',
    '130 when interrupted. On AWS the jobs run on real GPU instances: a few cents per run.',
  ].join('\n'),
  options: [
    {
      flags: '--stack <name>',
      description: `the deployed stack: its "${API_URL_OUTPUT_KEY}" and "${EVENT_BUS_NAME_OUTPUT_KEY}" outputs (else the usual endpoint)`,
    },
    {
      flags: '--timeout <duration>',
      description: `longest wait for each outcome (default ${DEFAULT_SMOKE_TIMEOUT_SECONDS.aws / 60}m on AWS, ${DEFAULT_SMOKE_TIMEOUT_SECONDS.local / 60}m locally)`,
    },
    { flags: '--image <image>', description: `image of the smoke jobs (default ${DEFAULT_SMOKE_IMAGE}); it needs sh and sleep` },
    { flags: '--failover', description: 'on AWS, also run a job on the On-Demand queue (the failover target)' },
  ],
  globalOptionHelp: { json: 'print the results as JSON on stdout (the lines go to stderr)' },
  examples: [
    'gpujobs smoke                      # local mode (npm start)',
    'gpujobs smoke --stack GpuJobs --region eu-west-1',
    'npm run smoke -- --stack GpuJobs --failover',
  ],

  async run(context, commandLine) {
    const { values } = commandLine;
    if (commandLine.positionals.length > 0 || commandLine.rest.length > 0) {
      throw new UsageError(`smoke takes no arguments. Received: ${[...commandLine.positionals, ...commandLine.rest].join(' ')}`, NAME);
    }
    const timeoutText = stringOption(values, 'timeout');
    let timeoutSeconds: number | undefined;
    try {
      timeoutSeconds = timeoutText === undefined ? undefined : parseDurationSeconds(timeoutText);
    } catch (error) {
      if (error instanceof UnitParseError) throw new UsageError(`--timeout: ${error.message}`, NAME, { cause: error });
      throw error;
    }
    if (timeoutSeconds === 0) throw new UsageError('--timeout must be more than 0 seconds. Received 0.', NAME);

    const target = await resolveTarget(context, stringOption(values, 'stack'));
    const run = new SmokeRun(context, target, {
      runId: randomBytes(4).toString('hex'),
      image: stringOption(values, 'image') ?? DEFAULT_SMOKE_IMAGE,
      timeoutSeconds: timeoutSeconds ?? DEFAULT_SMOKE_TIMEOUT_SECONDS[target.mode],
      failover: values.failover === true,
    });
    return run.execute();
  },
};

async function resolveTarget(context: CommandContext, stackName: string | undefined): Promise<SmokeTarget> {
  if (stackName) {
    const stack = await readStack(context, stackName);
    const client = await context.clientAt({ url: new URL(stack.apiUrl), source: 'stack', region: regionFromExecuteApiHost(new URL(stack.apiUrl).hostname) ?? stack.aws.region });
    return { mode: 'aws', client, stack: stackName, aws: stack.aws, ...(stack.eventBusName ? { eventBusName: stack.eventBusName } : {}) };
  }
  const client = await context.client();
  const localInfo = isLoopback(client.endpoint.url) ? await probeLocalMode(context, client.endpoint) : undefined;
  if (localInfo) return { mode: 'local', client, localInfo };
  // A deployed API reached through the saved configuration: its stack names the bus.
  const saved = client.endpoint.source === 'config' ? await readSavedConfig(context.env) : undefined;
  if (saved?.stack) {
    const stack = await readStack(context, saved.stack, saved.region);
    return { mode: 'aws', client, stack: saved.stack, aws: stack.aws, ...(stack.eventBusName ? { eventBusName: stack.eventBusName } : {}) };
  }
  return { mode: 'aws', client };
}

async function readStack(
  context: CommandContext,
  stackName: string,
  savedRegion?: string,
): Promise<{ apiUrl: string; eventBusName?: string; aws: AwsAccess & { region: string } }> {
  const access = await awsAccess(context, `read stack ${stackName}`, savedRegion);
  // Loaded here so that every other command starts without the AWS clients.
  const { CloudFormationClient } = await import('@aws-sdk/client-cloudformation');
  const cloudFormation = new CloudFormationClient(access);
  // The stack's region: where its bus is, so where the temporary rule and queue go.
  const region = await clientRegion(cloudFormation);
  const outputs = await describeStackOutputs(cloudFormation, stackName);
  const apiUrl = findApiUrl(outputs, stackName);
  const eventBusName = outputs.find((output) => output.OutputKey === EVENT_BUS_NAME_OUTPUT_KEY)?.OutputValue;
  return { apiUrl, ...(eventBusName ? { eventBusName } : {}), aws: { ...access, region } };
}

/** Local mode answers GET /local/info; a loopback endpoint that does not is something else (a tunnel, a proxy). */
async function probeLocalMode(context: CommandContext, endpoint: ResolvedEndpoint): Promise<LocalInfo | undefined> {
  let response: Response;
  try {
    response = await context.fetch(new URL('/local/info', endpoint.url), { signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    throw new EndpointUnreachableError(endpoint, cause?.code ?? (error instanceof Error ? error.message : String(error)), { cause: error });
  }
  if (!response.ok) {
    await response.body?.cancel();
    return undefined;
  }
  const body = (await response.json().catch(() => undefined)) as Partial<LocalInfo> | undefined;
  return typeof body?.gpus?.real === 'boolean' ? (body as LocalInfo) : undefined;
}

interface SmokeSettings {
  readonly runId: string;
  readonly image: string;
  readonly timeoutSeconds: number;
  readonly failover: boolean;
}

interface TrackedJob {
  readonly step: SmokeStep;
  /** The latest status seen (and printed). */
  status: JobStatus;
}

class SmokeRun {
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
    term.err(term.dim(`Smoke test ${this.settings.runId} of ${this.describeTarget()}; each wait ends after ${this.settings.timeoutSeconds}s.`));
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

  private describeTarget(): string {
    const url = this.target.client.endpoint.url.href;
    if (this.target.mode === 'local') {
      const gpus = this.target.localInfo?.gpus;
      return `local mode at ${url} (${gpus?.count ?? 0} ${gpus?.real ? 'real GPU(s)' : 'virtual GPU slot(s)'})`;
    }
    return this.target.stack ? `stack ${this.target.stack} at ${url}` : url;
  }

  private report(result: StepResult): void {
    this.results.push(result);
    const { term } = this.context;
    const verdict = result.outcome === 'PASS' ? term.green('PASS') : result.outcome === 'FAIL' ? term.red('FAIL') : term.yellow('SKIP');
    const line =
      result.outcome === 'PASS' ? `${verdict} ${result.step} (${(result.seconds ?? 0).toFixed(1)}s): ${result.detail}` : `${verdict} ${result.step}: ${result.detail}`;
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
    if (ended.status !== 'CANCELLED') throw new StepFailure(`expected CANCELLED after a cancel while RUNNING; job ${ended.jobId} ended ${describeEnd(ended)}`);
    return `job ${ended.jobId} cancelled while RUNNING, CANCELLED ${((this.context.now() - requestedAt) / 1000).toFixed(1)}s later`;
  }

  private async failoverStep(): Promise<string> {
    if (this.target.mode === 'local') return this.localFailover();
    if (!this.settings.failover) {
      throw new StepSkipped('a Spot reclaim cannot be forced on AWS; --failover runs a job on the On-Demand queue (the failover target) instead');
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
        if (!reclaimed && job.status === 'RUNNING' && job.attempts.at(-1)?.capacity === 'spot') reclaimed = (await this.reclaimLocalSpot()) > 0;
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
    const events = await feed.collect(ended.map(([jobId]) => jobId), deadline, this.interrupt.signal);
    const problems: string[] = [];
    const counts = new Map<string, number>();
    for (const [jobId, job] of ended) {
      const expected = TERMINAL_DETAIL_TYPE[job.status as keyof typeof TERMINAL_DETAIL_TYPE];
      const received: TerminalEvent[] = events.get(jobId) ?? [];
      if (received.length === 0) problems.push(`no "${expected}" event for job ${jobId} (${job.step})`);
      else if (received.length > 1) {
        const types = received.map((event) => event.detailType).join(', ');
        problems.push(`${received.length} terminal events for job ${jobId} (${job.step}): ${types}; expected exactly one`);
      }
      else if (received[0]!.detailType !== expected) problems.push(`job ${jobId} (${job.step}) ended ${job.status} but its event is "${received[0]!.detailType}"`);
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
      throw new StepFailure(`could not set up the temporary rule and queue on bus ${this.target.eventBusName}: ${describeError(this.eventSetupError)}`);
    }
    if (this.target.stack) throw new StepSkipped(`stack ${this.target.stack} has no "${EVENT_BUS_NAME_OUTPUT_KEY}" output`);
    throw new StepSkipped('the event bus is known only from a stack: pass --stack NAME (or `gpujobs configure --stack NAME` first)');
  }

  /** Before the first job: the rule must exist when the first terminal event is published. */
  private async setUpEventFeed(): Promise<void> {
    const { aws, eventBusName } = this.target;
    if (this.target.mode !== 'aws' || !aws || !eventBusName) return;
    const [{ SQSClient }, { EventBridgeClient }] = await Promise.all([import('@aws-sdk/client-sqs'), import('@aws-sdk/client-eventbridge')]);
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
        term.err(`${term.red('warning:')} could not cancel smoke job ${jobId} (${job.step}): ${describeError(error)}; cancel it with \`gpujobs cancel ${jobId}\`.`);
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
        throw new StepFailure(`job ${jobId} was still ${job.status} after ${this.settings.timeoutSeconds}s waiting for ${what}${job.statusReason ? ` (${job.statusReason})` : ''}`);
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

function describeEnd(job: Job): string {
  return `${job.status}${job.exitCode !== undefined ? ` with exit code ${job.exitCode}` : ''}${job.statusReason ? `: ${job.statusReason}` : ''}`;
}

function describeAttempts(attempts: readonly Attempt[]): string {
  const described = attempts.map((attempt) => `${attempt.capacity} ${attempt.status}${attempt.failureClass ? ` (${attempt.failureClass})` : ''}`);
  return described.join(', ') || 'no attempt';
}

function describeAttempt(attempt: Attempt | undefined): string {
  if (!attempt) return 'an unknown instance';
  return `${attempt.instanceType ?? 'an instance'} (${attempt.capacity})`;
}

function describeError(error: unknown): string {
  if (error instanceof ApiProblemError) {
    const fields = error.problem.errors?.map((field) => `${field.path}: ${field.message}`).join('; ');
    return `${error.message} (HTTP ${error.problem.status})${fields ? ` — ${fields}` : ''}`;
  }
  return error instanceof Error ? error.message : String(error);
}
