/** The benchmarks `npm run bench` runs, in this order (synth-test-time first: its cloud assembly feeds bundles and cost). */
import type { Benchmark } from './types.js';

export const BENCHMARKS = {
  'synth-test-time': {
    summary: '`cdk synth` seconds, and `npm test` seconds (with --with-tests; else the last recorded)',
    load: () => import('./synth-test-time.js'),
    timeLimitSeconds: 900,
  },
  bundles: {
    summary: 'Lambda bundle sizes as the stack bundles them, and cold init per bundle over an empty module',
    load: () => import('./bundles.js'),
    timeLimitSeconds: 240,
  },
  cost: {
    summary: 'control-plane cost per job (happy path; reclaim + failover) and idle monthly cost, from the template',
    load: () => import('./cost.js'),
    timeLimitSeconds: 240,
  },
  'dispatch-rate': {
    summary: '5,000 jobs through the real dispatcher against Batch stand-in limited to 50 SubmitJob/s',
    load: () => import('./dispatch-rate.js'),
    timeLimitSeconds: 300,
  },
  'local-e2e': {
    summary: 'bursts of 300 and 1,000 no-op jobs over HTTP to local mode with 4 GPU slots',
    load: () => import('./local-e2e.js'),
    timeLimitSeconds: 420,
  },
  'local-memory': {
    summary: "local mode memory over 10,000 no-op jobs in waves of 2,000: heap growth once the stand-ins' windows are full",
    load: () => import('./local-memory.js'),
    timeLimitSeconds: 1_500,
  },
} as const satisfies Record<string, { summary: string; load: () => Promise<{ benchmark: Benchmark }>; timeLimitSeconds: number }>;

export type BenchmarkName = keyof typeof BENCHMARKS;

export function isBenchmarkName(name: string): name is BenchmarkName {
  return Object.hasOwn(BENCHMARKS, name);
}
