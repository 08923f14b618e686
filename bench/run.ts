/**
 * `npm run bench` runs every benchmark; `npm run bench -- <name> [<name>…]` runs some;
 * `npm run bench -- synth-test-time --with-tests` also times `npm test`.
 * Each benchmark runs in a child process and writes bench/results/<name>.json and its row of
 * bench/RESULTS.md. A MISS is a result, not an error: the exit code is non-zero only when a
 * benchmark could not run to the end.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCHMARKS, isBenchmarkName, type BenchmarkName } from './benchmarks/index.js';
import { formatNumber, RESULTS_DIR, type BenchmarkResult } from './support/report.js';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const WHOLE_RUN_GOAL_SECONDS = 600;

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(
    [
      'Usage: npm run bench [-- <name>…] [--with-tests]',
      '',
      'Benchmarks (all when none is named):',
      ...Object.entries(BENCHMARKS).map(([name, b]) => `  ${name.padEnd(16)} ${b.summary}`),
      '',
      '--with-tests   synth-test-time also runs `npm test` (minutes); otherwise it reports the last recorded test time.',
      '',
    ].join('\n'),
  );
  process.exit(0);
}
const flags = argv.filter((arg) => arg.startsWith('--'));
const names = argv.filter((arg) => !arg.startsWith('--'));
const unknown = names.filter((name) => !isBenchmarkName(name));
if (unknown.length > 0) {
  process.stderr.write(`Unknown benchmark(s): ${unknown.join(', ')}. Known: ${Object.keys(BENCHMARKS).join(', ')}.\n`);
  process.exit(2);
}
const selected = (Object.keys(BENCHMARKS) as BenchmarkName[]).filter((name) => names.length === 0 || names.includes(name));

interface RunSummary {
  readonly name: BenchmarkName;
  readonly ok: boolean;
  readonly seconds: number;
  readonly result?: BenchmarkResult;
  readonly reason?: string;
}

function runChild(name: BenchmarkName, env: NodeJS.ProcessEnv): Promise<{ ok: boolean; reason?: string; seconds: number }> {
  const started = performance.now();
  const limitSeconds = BENCHMARKS[name].timeLimitSeconds;
  return new Promise((resolve) => {
    const child = spawn(join(projectRoot, 'node_modules', '.bin', 'tsx'), [join(projectRoot, 'bench', 'child.ts'), name, ...flags], {
      cwd: projectRoot,
      env,
      stdio: 'inherit',
      // Its own process group, so a benchmark that overruns is stopped with everything it started.
      detached: true,
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }
    }, limitSeconds * 1000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const seconds = (performance.now() - started) / 1000;
      if (timedOut) resolve({ ok: false, reason: `stopped after its ${limitSeconds} s limit`, seconds });
      else if (code === 0) resolve({ ok: true, seconds });
      else resolve({ ok: false, reason: `exited with ${code ?? signal}`, seconds });
    });
  });
}

function readResult(name: BenchmarkName): BenchmarkResult | undefined {
  const file = join(RESULTS_DIR, `${name}.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as BenchmarkResult) : undefined;
}

const runStarted = performance.now();
const summaries: RunSummary[] = [];
const env: NodeJS.ProcessEnv = { ...process.env };
delete env.BENCH_ASSEMBLY_DIR;
for (const name of selected) {
  process.stdout.write(`\n=== ${name}: ${BENCHMARKS[name].summary}\n`);
  const outcome = await runChild(name, env);
  const result = outcome.ok ? readResult(name) : undefined;
  summaries.push({
    name,
    ok: outcome.ok,
    seconds: outcome.seconds,
    ...(result ? { result } : {}),
    ...(outcome.reason ? { reason: outcome.reason } : {}),
  });
  // The assembly `cdk synth` just wrote holds the stack's bundles: later benchmarks use it instead of synthesizing again.
  const assemblyDir = (result?.details as { assemblyDir?: unknown } | undefined)?.assemblyDir;
  if (name === 'synth-test-time' && typeof assemblyDir === 'string' && existsSync(join(assemblyDir, 'manifest.json'))) {
    env.BENCH_ASSEMBLY_DIR = assemblyDir;
  }
}
const totalSeconds = (performance.now() - runStarted) / 1000;

process.stdout.write('\n=== summary\n');
for (const summary of summaries) {
  const figures = summary.result?.figures ?? [];
  const pass = figures.filter((f) => f.verdict === 'PASS').length;
  const miss = figures.filter((f) => f.verdict === 'MISS').length;
  const status = summary.ok ? `${pass} PASS, ${miss} MISS` : `DID NOT FINISH (${summary.reason})`;
  process.stdout.write(`  ${summary.name.padEnd(16)} ${status.padEnd(40)} ${summary.seconds.toFixed(1).padStart(6)} s\n`);
  for (const f of figures.filter((f) => f.verdict === 'MISS')) {
    process.stdout.write(`      MISS ${f.label}: ${formatNumber(f.value, f.digits ?? 1)} ${f.unit}${f.note ? ` (${f.note})` : ''}\n`);
  }
}
if (selected.length === Object.keys(BENCHMARKS).length) {
  const verdict = totalSeconds <= WHOLE_RUN_GOAL_SECONDS ? 'PASS' : 'MISS';
  process.stdout.write(`  whole run: ${totalSeconds.toFixed(1)} s (goal ≤ ${WHOLE_RUN_GOAL_SECONDS} s) ${verdict}\n`);
} else {
  process.stdout.write(`  ${selected.length} benchmark(s) in ${totalSeconds.toFixed(1)} s\n`);
}
process.stdout.write('Results: bench/results/<name>.json and bench/RESULTS.md\n');
process.exit(summaries.every((s) => s.ok) ? 0 : 1);
