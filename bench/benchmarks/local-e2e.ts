/**
 * Local mode end to end: bursts of no-op jobs (`["true"]`) submitted concurrently over HTTP to a
 * local platform with 4 GPU slots and a fresh data dir, then followed to their terminal status.
 * The client keeps at most 64 requests in flight. Submit→RUNNING comes from the job records
 * (createdAt → startedAt, both written by the platform's handlers); completeness is checked
 * against the records and the local event log: every accepted job must end with exactly one
 * terminal status and exactly one terminal event.
 */
import type { Job } from '../../core/job.js';
import type { LocalPlatform } from '../../local/platform.js';
import { startBenchPlatform, submitJob, terminalEventCounts, waitForTerminalEvents } from '../support/local-platform.js';
import { figure, type Figure } from '../support/report.js';
import { mapWithConcurrency, percentile, summarize } from '../support/stats.js';
import type { Benchmark, BenchmarkContext } from './types.js';

const GPU_SLOTS = 4;
const CLIENT_CONCURRENCY = 64;
const DEFAULT_BURSTS = [300, 1_000];
const WARM_UP_JOBS = 5;
const IDLE_PROBES = 20;
const GOALS = { jobsPerSecond: 200, submitP99Ms: 25, submitToRunningP50Ms: 20, firstStartSeconds: 8 } as const;
const NO_OP_JOB = { image: 'local', command: ['true'] };

async function submitNoOp(url: string) {
  return submitJob(url, NO_OP_JOB);
}

async function fetchJobs(url: string, jobIds: readonly string[]): Promise<(Job | undefined)[]> {
  return mapWithConcurrency(jobIds, 16, async (jobId) => {
    const response = await fetch(`${url}/v1/jobs/${jobId}`);
    return response.status === 200 ? ((await response.json()) as Job) : undefined;
  });
}

const ms = (iso: string | undefined) => (iso ? Date.parse(iso) : Number.NaN);

interface BurstOutcome {
  readonly figures: (Figure & { digits?: number })[];
  readonly details: Record<string, unknown>;
}

async function runBurst(platform: LocalPlatform, size: number, deadlineSeconds: number, context: BenchmarkContext): Promise<BurstOutcome> {
  context.log(`burst of ${size}: submitting with ${CLIENT_CONCURRENCY} in flight …`);
  const firstSubmitAt = Date.now();
  const submissions = await mapWithConcurrency(Array.from({ length: size }), CLIENT_CONCURRENCY, () => submitNoOp(platform.url));
  const lastResponseAt = Math.max(...submissions.map((s) => s.startedAt + s.latencyMs));
  const accepted = submissions.filter((s) => s.status === 202 && s.jobId).map((s) => s.jobId!);
  const rejected = submissions.length - accepted.length;
  const uniqueAccepted = [...new Set(accepted)];
  context.log(`burst of ${size}: ${accepted.length} accepted; waiting for terminal events (up to ${deadlineSeconds} s) …`);
  const allTerminal = await waitForTerminalEvents(platform, uniqueAccepted, firstSubmitAt + deadlineSeconds * 1000, 500);

  const records = await fetchJobs(platform.url, uniqueAccepted);
  const events = terminalEventCounts(platform);
  const terminalRecords = records.filter(
    (job): job is Job => job !== undefined && ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(job.status),
  );
  const lost = uniqueAccepted.length - terminalRecords.length;
  const duplicatedIds = accepted.length - uniqueAccepted.length;
  const wrongEventCount = uniqueAccepted.filter((id) => (events.get(id) ?? 0) !== 1).length;
  const notSucceeded = terminalRecords.filter((job) => job.status !== 'SUCCEEDED').length;
  const lastTerminalAt =
    terminalRecords.length > 0 ? Math.max(...terminalRecords.map((job) => ms(job.finishedAt ?? job.updatedAt))) : Number.NaN;
  const jobsPerSecond = allTerminal && lost === 0 ? uniqueAccepted.length / ((lastTerminalAt - firstSubmitAt) / 1000) : null;
  const acceptedPerSecond = accepted.length / ((lastResponseAt - firstSubmitAt) / 1000);
  const submitLatency = submissions.map((s) => s.latencyMs);
  const submitToRunning = records.flatMap((job) => (job?.startedAt ? [ms(job.startedAt) - ms(job.createdAt)] : []));

  const label = (text: string) => `${size} jobs: ${text}`;
  /** A count of jobs that went wrong in one way: the goal is none. */
  const noneWrong = (id: string, text: string, value: number) =>
    figure({ id: `burst${size}.${id}`, label: label(text), value, unit: 'jobs', goal: { comparison: '==', value: 0 }, digits: 0 });
  const figures = [
    figure({ id: `burst${size}.acceptedPerSecond`, label: label('accepted/s'), value: acceptedPerSecond, unit: '/s' }),
    figure({
      id: `burst${size}.jobsPerSecond`,
      label: label('jobs/s, first submit → last terminal'),
      value: jobsPerSecond,
      unit: '/s',
      goal: { comparison: '>=', value: GOALS.jobsPerSecond },
      ...(allTerminal ? {} : { note: `not all terminal within ${deadlineSeconds} s` }),
    }),
    figure({ id: `burst${size}.submitP50Ms`, label: label('submit latency p50'), value: percentile(submitLatency, 50), unit: 'ms' }),
    figure({
      id: `burst${size}.submitP99Ms`,
      label: label('submit latency p99'),
      value: percentile(submitLatency, 99),
      unit: 'ms',
      goal: { comparison: '<=', value: GOALS.submitP99Ms },
    }),
    figure({
      id: `burst${size}.submitToRunningP50Ms`,
      label: label('submit→RUNNING p50'),
      value: submitToRunning.length > 0 ? percentile(submitToRunning, 50) : null,
      unit: 'ms',
      note: `includes waiting for one of ${GPU_SLOTS} GPU slots behind the burst; the overhead goal is checked on the idle platform`,
    }),
    figure({
      id: `burst${size}.submitToRunningP99Ms`,
      label: label('submit→RUNNING p99'),
      value: submitToRunning.length > 0 ? percentile(submitToRunning, 99) : null,
      unit: 'ms',
    }),
    noneWrong('rejected', 'submissions rejected', rejected),
    noneWrong('lost', 'lost (accepted, no terminal status)', lost),
    noneWrong('duplicated', 'duplicated (id twice, or ≠ 1 terminal event)', duplicatedIds + wrongEventCount),
    noneWrong('notSucceeded', 'ended other than SUCCEEDED', notSucceeded),
  ];
  return {
    figures,
    details: {
      size,
      accepted: accepted.length,
      rejectedStatuses: submissions
        .filter((s) => s.status !== 202)
        .map((s) => s.status)
        .slice(0, 20),
      allTerminalWithinDeadline: allTerminal,
      submitLatencyMs: summarize(submitLatency),
      submitToRunningMs: submitToRunning.length > 0 ? summarize(submitToRunning) : null,
      firstSubmitAt: new Date(firstSubmitAt).toISOString(),
      lastTerminalAt: Number.isNaN(lastTerminalAt) ? null : new Date(lastTerminalAt).toISOString(),
      jobsWithoutExactlyOneTerminalEvent: uniqueAccepted.filter((id) => (events.get(id) ?? 0) !== 1).slice(0, 20),
    },
  };
}

/** One job at a time on an idle platform: submit→RUNNING is then the control plane's own overhead. */
async function runIdleProbes(platform: LocalPlatform, context: BenchmarkContext, count: number) {
  const submitLatency: number[] = [];
  const submitToRunning: number[] = [];
  const submitToTerminal: number[] = [];
  for (let i = 0; i < count; i++) {
    const submission = await submitNoOp(platform.url);
    if (submission.status !== 202 || !submission.jobId) throw new Error(`Idle probe submission failed with HTTP ${submission.status}.`);
    await waitForTerminalEvents(platform, [submission.jobId], Date.now() + 30_000, 20);
    const [job] = await fetchJobs(platform.url, [submission.jobId]);
    submitLatency.push(submission.latencyMs);
    if (job?.startedAt) submitToRunning.push(ms(job.startedAt) - ms(job.createdAt));
    if (job?.finishedAt) submitToTerminal.push(ms(job.finishedAt) - ms(job.createdAt));
  }
  context.log(`idle probes: ${count} jobs one at a time done`);
  return { submitLatency, submitToRunning, submitToTerminal };
}

function burstSizes(args: readonly string[]): number[] {
  const index = args.indexOf('--jobs');
  if (index < 0) return DEFAULT_BURSTS;
  const sizes = (args[index + 1] ?? '').split(',').map(Number);
  if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error(`--jobs takes burst sizes such as 300,1000. Received ${JSON.stringify(args[index + 1])}.`);
  return sizes;
}

async function run(context: BenchmarkContext) {
  const bursts = burstSizes(context.args);
  const bench = await startBenchPlatform({ gpus: GPU_SLOTS, quiet: true });
  const { platform, startupSeconds } = bench;
  context.log(`local platform up in ${startupSeconds.toFixed(1)} s at ${platform.url} (${platform.gpus.slots.length} GPU slots)`);
  try {
    for (let i = 0; i < WARM_UP_JOBS; i++) {
      const warmUp = await submitNoOp(platform.url);
      if (warmUp.jobId) await waitForTerminalEvents(platform, [warmUp.jobId], Date.now() + 30_000, 20);
    }
    const idle = await runIdleProbes(platform, context, IDLE_PROBES);
    const figures: (Figure & { digits?: number })[] = [
      figure({
        id: 'startup.firstStartSeconds',
        label: 'first start on a fresh data dir',
        value: startupSeconds,
        unit: 's',
        goal: { comparison: '<=', value: GOALS.firstStartSeconds },
        note: 'startLocalPlatform to ready, the workflow definition built in its child process; nothing cached',
      }),
      figure({
        id: 'idle.submitToRunningP50Ms',
        label: 'idle platform: submit→RUNNING p50',
        value: idle.submitToRunning.length > 0 ? percentile(idle.submitToRunning, 50) : null,
        unit: 'ms',
        goal: { comparison: '<=', value: GOALS.submitToRunningP50Ms },
        note: `${IDLE_PROBES} jobs one at a time: the control plane's own overhead`,
      }),
      figure({
        id: 'idle.submitToRunningP99Ms',
        label: 'idle platform: submit→RUNNING p99',
        value: idle.submitToRunning.length > 0 ? percentile(idle.submitToRunning, 99) : null,
        unit: 'ms',
      }),
      figure({ id: 'idle.submitP50Ms', label: 'idle platform: submit latency p50', value: percentile(idle.submitLatency, 50), unit: 'ms' }),
      figure({
        id: 'idle.submitToTerminalP50Ms',
        label: 'idle platform: submit→terminal p50',
        value: idle.submitToTerminal.length > 0 ? percentile(idle.submitToTerminal, 50) : null,
        unit: 'ms',
      }),
    ];
    const burstDetails: Record<string, unknown>[] = [];
    for (const size of bursts) {
      const outcome = await runBurst(platform, size, size <= 300 ? 90 : 210, context);
      figures.push(...outcome.figures);
      burstDetails.push(outcome.details);
    }
    return {
      figures,
      notes: [
        `Local mode started with startLocalPlatform: ${GPU_SLOTS} GPU slots (virtual unless nvidia-smi finds GPUs), a fresh temporary data dir, default dispatcher settings; the benchmark client runs in the same Node process and keeps at most ${CLIENT_CONCURRENCY} submissions in flight.`,
        `After ${WARM_UP_JOBS} unmeasured warm-up jobs, ${IDLE_PROBES} jobs run one at a time (idle platform), then the bursts (${bursts.join(', ')}) run one after the other on the same platform.`,
        'submit→RUNNING = job record startedAt − createdAt; jobs/s = accepted jobs / (last finishedAt − first submit); lost and duplicated are checked against the job records and the local event log (exactly one terminal event per accepted job).',
      ],
      details: {
        startupSeconds,
        gpuSlots: platform.gpus.slots.length,
        clientConcurrency: CLIENT_CONCURRENCY,
        idle: {
          submitLatencyMs: summarize(idle.submitLatency),
          submitToRunningMs: idle.submitToRunning.length > 0 ? summarize(idle.submitToRunning) : null,
          submitToTerminalMs: idle.submitToTerminal.length > 0 ? summarize(idle.submitToTerminal) : null,
        },
        bursts: burstDetails,
      },
    };
  } finally {
    await bench.close();
  }
}

export const benchmark: Benchmark = { title: 'local mode end to end (bursts of no-op jobs over HTTP)', run };
