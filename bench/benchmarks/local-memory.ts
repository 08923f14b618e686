/**
 * Local mode's memory under a long burst: 10,000 no-op jobs (`["true"]`) in waves of 2,000 over
 * HTTP to one platform with 4 GPU slots. After each wave has ended (every job's terminal event
 * seen), the heap is collected and measured. The stand-ins keep a bounded window of finished
 * jobs, executions and events, so once the window is full the heap must stop growing with the
 * number of jobs run: the figure that matters is the growth from the first wave's end to the
 * last's. The client follows the event log by page token, holding no more than one page.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startBenchPlatform, submitJob } from '../support/local-platform.js';
import { figure } from '../support/report.js';
import { mapWithConcurrency } from '../support/stats.js';
import type { Benchmark, BenchmarkContext } from './types.js';

const GPU_SLOTS = 4;
const CLIENT_CONCURRENCY = 64;
const WAVE_SIZE = 2_000;
const WAVES = 5;
const NO_OP_JOB = { image: 'local', command: ['true'] };
const TERMINAL_DETAIL_TYPES = new Set(['GPU Job Succeeded', 'GPU Job Failed', 'GPU Job Cancelled']);
/** Heap growth allowed from the first wave's end to the last's, for 8,000 more jobs. */
const GROWTH_GOAL_MIB = 64;
const PEAK_RSS_GOAL_MIB = 1_024;
const MiB = 1024 * 1024;

// A full collection before each reading, so the figures are what is retained, not garbage not yet collected.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

function heapMiB(): { heapUsed: number; rss: number } {
  collectGarbage();
  collectGarbage();
  const usage = process.memoryUsage();
  return { heapUsed: usage.heapUsed / MiB, rss: usage.rss / MiB };
}

/** Reads the event log from `token` on, counting terminal events of `waiting` until none is left. */
async function followTerminalEvents(
  url: string,
  waiting: Set<string>,
  token: string | undefined,
  deadline: number,
): Promise<string | undefined> {
  let nextToken = token;
  while (waiting.size > 0) {
    if (Date.now() > deadline) throw new Error(`${waiting.size} jobs had no terminal event in time.`);
    const response = await fetch(`${url}/local/events?limit=1000${nextToken ? `&nextToken=${encodeURIComponent(nextToken)}` : ''}`);
    if (response.status !== 200) throw new Error(`GET /local/events answered ${response.status}.`);
    const page = (await response.json()) as { events: { 'detail-type': string; detail: { jobId?: string } }[]; nextToken?: string };
    for (const event of page.events) {
      if (TERMINAL_DETAIL_TYPES.has(event['detail-type']) && event.detail.jobId) waiting.delete(event.detail.jobId);
    }
    nextToken = page.nextToken ?? nextToken;
    if (page.events.length === 0) await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return nextToken;
}

async function run(context: BenchmarkContext) {
  const bench = await startBenchPlatform({ gpus: GPU_SLOTS, quiet: true });
  const { platform } = bench;
  const started = Date.now();
  let peakRss = process.memoryUsage().rss / MiB;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss / MiB);
  }, 250);
  const afterWave: { jobs: number; heapUsed: number; rss: number; seconds: number }[] = [];
  const atStart = heapMiB();
  let token: string | undefined;
  let rejected = 0;
  try {
    for (let wave = 1; wave <= WAVES; wave++) {
      const submissions = await mapWithConcurrency(Array.from({ length: WAVE_SIZE }), CLIENT_CONCURRENCY, () =>
        submitJob(platform.url, NO_OP_JOB),
      );
      const accepted = submissions.flatMap((submission) => (submission.status === 202 && submission.jobId ? [submission.jobId] : []));
      rejected += submissions.length - accepted.length;
      token = await followTerminalEvents(platform.url, new Set(accepted), token, Date.now() + 20 * 60_000);
      const reading = heapMiB();
      afterWave.push({ jobs: wave * WAVE_SIZE, ...reading, seconds: (Date.now() - started) / 1000 });
      context.log(
        `wave ${wave}/${WAVES}: ${wave * WAVE_SIZE} jobs ended; heap ${reading.heapUsed.toFixed(0)} MiB, rss ${reading.rss.toFixed(0)} MiB`,
      );
    }
  } finally {
    clearInterval(sampler);
    await bench.close();
  }
  const first = afterWave[0]!;
  const last = afterWave.at(-1)!;
  const growth = last.heapUsed - first.heapUsed;
  return {
    figures: [
      figure({ id: 'memory.heapAtStartMiB', label: 'heap after start', value: atStart.heapUsed, unit: 'MiB' }),
      figure({ id: 'memory.heapAfter2000MiB', label: `heap after ${first.jobs} jobs`, value: first.heapUsed, unit: 'MiB' }),
      figure({ id: 'memory.heapAfter10000MiB', label: `heap after ${last.jobs} jobs`, value: last.heapUsed, unit: 'MiB' }),
      figure({
        id: 'memory.heapGrowthMiB',
        label: `heap growth from ${first.jobs} to ${last.jobs} jobs`,
        value: growth,
        unit: 'MiB',
        goal: { comparison: '<=', value: GROWTH_GOAL_MIB },
        note: 'the stand-ins keep a bounded window; growth here would be memory per job ever run',
      }),
      figure({
        id: 'memory.peakRssMiB',
        label: 'peak RSS during the burst',
        value: peakRss,
        unit: 'MiB',
        goal: { comparison: '<=', value: PEAK_RSS_GOAL_MIB },
      }),
      figure({
        id: 'memory.rejected',
        label: 'submissions rejected',
        value: rejected,
        unit: 'jobs',
        goal: { comparison: '==', value: 0 },
        digits: 0,
      }),
    ],
    notes: [
      `${WAVES} waves of ${WAVE_SIZE} no-op jobs, ${CLIENT_CONCURRENCY} submissions in flight, ${GPU_SLOTS} GPU slots; the client runs in the platform's process, so the figures include it.`,
      'Heap figures are taken after two full garbage collections once every job of the wave has its terminal event; RSS is sampled every 250 ms.',
    ],
    details: { afterWave, atStart },
  };
}

export const benchmark: Benchmark = { title: 'local mode memory over a 10,000-job burst', run };
