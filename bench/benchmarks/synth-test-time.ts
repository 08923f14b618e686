/**
 * How long a developer waits: `npx cdk synth --quiet` (bundling, cdk-nag and cfn-guard included)
 * and `npm test`. The test suite takes minutes, so it runs only with --with-tests; otherwise the
 * last recorded test time is reported, with the date and commit it was measured at.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { benchCacheDir } from '../support/template.js';
import { figure, RESULTS_DIR, type BenchmarkResult } from '../support/report.js';
import type { Benchmark, BenchmarkContext } from './types.js';

/** `.ci/run` must finish "well under 10 minutes"; the test suite is most of it. */
const TEST_SECONDS_GOAL = 600;

interface TimedCommand {
  readonly seconds: number;
  readonly exitCode: number | null;
  readonly outputTail: string;
}

function timeCommand(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<TimedCommand> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('exit', (code) => resolve({ seconds: (performance.now() - started) / 1000, exitCode: code, outputTail: output }));
  });
}

interface RecordedTestTime {
  readonly seconds: number;
  readonly date: string;
  readonly commit: string;
  readonly summaryLine?: string;
}

function lastRecordedTestTime(): RecordedTestTime | undefined {
  const file = join(RESULTS_DIR, 'synth-test-time.json');
  if (!existsSync(file)) return undefined;
  const previous = JSON.parse(readFileSync(file, 'utf8')) as BenchmarkResult;
  const recorded = (previous.details as { test?: RecordedTestTime }).test;
  return recorded && typeof recorded.seconds === 'number' ? recorded : undefined;
}

async function run(context: BenchmarkContext) {
  const { projectRoot } = context;
  const withTests = context.args.includes('--with-tests');
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.BENCH_ASSEMBLY_DIR;
  const notes: string[] = [];

  const assemblyDir = join(benchCacheDir(projectRoot), 'cdk.out');
  rmSync(assemblyDir, { recursive: true, force: true });
  context.log('npx cdk synth --quiet …');
  const synth = await timeCommand('npx', ['cdk', 'synth', '--quiet', '--output', assemblyDir], projectRoot, env);
  const synthOk = synth.exitCode === 0;
  if (!synthOk) notes.push(`cdk synth failed (exit ${synth.exitCode}): ${synth.outputTail.trim().split('\n').slice(-5).join(' / ')}`);
  notes.push(
    'cdk synth: the CLI runs bin/gpujobs.ts through tsx, bundles the 7 handlers with esbuild and runs cdk-nag and cfn-guard; output to .cache/bench/cdk.out.',
  );

  let test: RecordedTestTime | undefined;
  let testMeasuredNow = false;
  if (withTests) {
    context.log('npm test …');
    const tests = await timeCommand('npm', ['test'], projectRoot, env);
    const summaryLine = tests.outputTail
      .trim()
      .split('\n')
      .reverse()
      .find((line) => /\d+ passed, \d+ failed/.test(line));
    test = { seconds: tests.seconds, date: new Date().toISOString(), commit: 'this run', ...(summaryLine ? { summaryLine } : {}) };
    testMeasuredNow = true;
    if (tests.exitCode !== 0)
      notes.push(
        `npm test exited with ${tests.exitCode}${summaryLine ? ` (${summaryLine})` : ''}: its time still counts, the failures are the test suite's to fix.`,
      );
  } else {
    const previous = lastRecordedTestTime();
    if (previous) {
      test = previous;
      notes.push(
        `npm test was NOT run (pass --with-tests to run it): the test time shown is the last recorded one, measured ${previous.date} at ${previous.commit}.`,
      );
    } else {
      notes.push('npm test was NOT run and no earlier test time is recorded: run `npm run bench -- synth-test-time --with-tests`.');
    }
  }
  if (test && testMeasuredNow) {
    const { gitCommit } = await import('../support/machine.js');
    test = { ...test, commit: gitCommit(projectRoot) };
  }

  return {
    figures: [
      figure({
        id: 'synthSeconds',
        label: 'cdk synth --quiet',
        value: synthOk ? synth.seconds : null,
        unit: 's',
        note: synthOk ? undefined : 'synth failed',
      }),
      figure({
        id: 'testSeconds',
        label: testMeasuredNow ? 'npm test' : 'npm test (last recorded, not run now)',
        value: test?.seconds ?? null,
        unit: 's',
        // Nothing measured and nothing recorded: no verdict rather than a MISS for a figure that does not exist.
        ...(test ? { goal: { comparison: '<=' as const, value: TEST_SECONDS_GOAL } } : {}),
        note: test ? test.summaryLine : 'not measured: run with --with-tests',
      }),
    ],
    notes,
    details: {
      synth: { seconds: synth.seconds, exitCode: synth.exitCode, ok: synthOk },
      ...(synthOk ? { assemblyDir } : {}),
      ...(test ? { test } : {}),
      testRunNow: testMeasuredNow,
    },
  };
}

export const benchmark: Benchmark = { title: 'cdk synth and npm test wall time', run };
