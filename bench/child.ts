/**
 * Runs one benchmark in its own process (bench/run.ts starts one per benchmark): the handlers
 * read their endpoints when their modules load, so two benchmarks that point them at different
 * stand-ins cannot share a process.
 */
import '../local/polyfills.js';
import { fileURLToPath } from 'node:url';
import { BENCHMARKS, isBenchmarkName } from './benchmarks/index.js';
import { useOfflineAwsEnvironment } from './support/aws-env.js';
import { machineInfo } from './support/machine.js';
import { formatResult, recordResult, type BenchmarkResult } from './support/report.js';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const [name = '', ...args] = process.argv.slice(2);
if (!isBenchmarkName(name)) {
  process.stderr.write(`Unknown benchmark ${JSON.stringify(name)}. Known: ${Object.keys(BENCHMARKS).join(', ')}.\n`);
  process.exit(2);
}

useOfflineAwsEnvironment();
const started = performance.now();
const { benchmark } = await BENCHMARKS[name].load();
const outcome = await benchmark.run({
  projectRoot,
  args,
  ...(process.env.BENCH_ASSEMBLY_DIR ? { assemblyDir: process.env.BENCH_ASSEMBLY_DIR } : {}),
  log: (line) => process.stderr.write(`[${name}] ${line}\n`),
});
const result: BenchmarkResult = {
  benchmark: name,
  title: benchmark.title,
  machine: machineInfo(projectRoot),
  durationSeconds: Math.round((performance.now() - started) / 100) / 10,
  figures: outcome.figures,
  notes: outcome.notes,
  details: outcome.details,
};
recordResult(result);
process.stdout.write(`${formatResult(result)}\n`);
// Handler modules keep SDK sockets and timers alive; the results are written, so end here.
process.exit(0);
