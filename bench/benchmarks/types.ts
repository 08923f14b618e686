import type { Figure } from '../support/report.js';

export interface BenchmarkContext {
  readonly projectRoot: string;
  /** Arguments after the benchmark's name (e.g. `--with-tests`). */
  readonly args: readonly string[];
  /** A cloud assembly `cdk synth` wrote earlier in this run, with bundled assets. */
  readonly assemblyDir?: string;
  /** Progress lines (stderr), kept apart from the figures. */
  log(line: string): void;
}

export interface BenchmarkOutcome {
  readonly figures: readonly (Figure & { readonly digits?: number })[];
  readonly notes: readonly string[];
  readonly details: Record<string, unknown>;
}

export interface Benchmark {
  readonly title: string;
  run(context: BenchmarkContext): Promise<BenchmarkOutcome>;
}
