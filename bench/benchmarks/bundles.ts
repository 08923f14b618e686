/**
 * Lambda bundles exactly as the stack ships them: the assets esbuild wrote into the cloud
 * assembly during synthesis, so the bundling options are the stack's own (lib/gpujobs-function.ts)
 * and nothing is re-bundled here. For each: its size, and its cold init — importing the bundle
 * (which creates its SDK clients and checks its environment) in a fresh Node process with the
 * function's environment from the template, median of several processes, next to the same
 * measurement for an empty module.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { HANDLER_ENTRIES } from '../../lib/gpujobs-function.js';
import { ENV } from '../../core/contract/environment.js';
import { BENCH_ACCOUNT, BENCH_REGION } from '../support/aws-env.js';
import { figure, type Figure } from '../support/report.js';
import { median, summarize } from '../support/stats.js';
import { synthesizeApp, templateFromAssembly, type SynthesizedTemplate, type TemplateResource } from '../support/template.js';
import type { Benchmark, BenchmarkContext } from './types.js';

const SIZE_GOAL_KIB = 200;
const INIT_OVER_BASELINE_GOAL_MS = 50;
const PROCESSES_PER_BUNDLE = 11;

type EntryName = keyof typeof HANDLER_ENTRIES;

interface BundleUnderTest {
  readonly entry: EntryName;
  readonly entryPath: string;
  readonly logicalId: string;
  readonly file: string;
  readonly bytes: number;
  readonly gzipBytes: number;
  readonly memoryMiB: number;
  readonly environment: Record<string, string>;
}

/** Values for the variables the stack sets with Ref/GetAtt, which exist only once deployed. */
const DEPLOY_TIME_VALUES: Record<string, string> = {
  [ENV.tableName]: 'GpuJobs-JobStoreTable',
  [ENV.intakeQueueUrl]: `https://sqs.${BENCH_REGION}.amazonaws.com/${BENCH_ACCOUNT}/GpuJobs-IntakeQueue`,
  [ENV.stateMachineArn]: `arn:aws:states:${BENCH_REGION}:${BENCH_ACCOUNT}:stateMachine:JobWorkflow`,
  [ENV.eventBusName]: 'GpuJobs-Events',
  [ENV.jobLogGroupName]: '/aws/batch/job',
  [ENV.jobRoleArn]: `arn:aws:iam::${BENCH_ACCOUNT}:role/GpuJobs-JobRole`,
  [ENV.jobExecutionRoleArn]: `arn:aws:iam::${BENCH_ACCOUNT}:role/GpuJobs-JobExecutionRole`,
  [ENV.jobDefinitionPrefix]: 'GpuJobs-',
  [ENV.allowedRegistries]: '',
};

function functionEnvironment(resource: TemplateResource): Record<string, string> {
  const variables = ((resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}) as Record<
    string,
    unknown
  >;
  const environment: Record<string, string> = {};
  for (const [name, value] of Object.entries(variables)) {
    if (typeof value === 'string') environment[name] = value;
    else environment[name] = DEPLOY_TIME_VALUES[name] ?? `bench-${name.toLowerCase()}`;
  }
  return environment;
}

/** Which handler entry a bundle was built from, by the sources in its source map. */
function entryOfBundle(mapFile: string): EntryName | undefined {
  if (!existsSync(mapFile)) return undefined;
  const sources = (JSON.parse(readFileSync(mapFile, 'utf8')) as { sources?: string[] }).sources ?? [];
  let found: { entry: EntryName; position: number } | undefined;
  for (const [entry, path] of Object.entries(HANDLER_ENTRIES) as [EntryName, string][]) {
    const position = sources.findLastIndex((source) => source.replaceAll('\\', '/').endsWith(`/${path}`));
    if (position >= 0 && (!found || position > found.position)) found = { entry, position };
  }
  return found?.entry;
}

function bundlesOf(template: SynthesizedTemplate, assemblyDir: string): BundleUnderTest[] {
  const bundles: BundleUnderTest[] = [];
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const s3Key = (resource.Properties?.Code as { S3Key?: unknown } | undefined)?.S3Key;
    const assetPath =
      typeof resource.Metadata?.['aws:asset:path'] === 'string'
        ? (resource.Metadata['aws:asset:path'] as string)
        : typeof s3Key === 'string'
          ? `asset.${s3Key.replace(/\.zip$/, '')}`
          : undefined;
    if (!assetPath) continue;
    const directory = join(assemblyDir, assetPath);
    const file = ['index.mjs', 'index.js'].map((name) => join(directory, name)).find((candidate) => existsSync(candidate));
    if (!file) continue;
    const entry = entryOfBundle(`${file}.map`);
    // CDK's own helper functions (custom resource providers) are not ours to measure.
    if (!entry) continue;
    const content = readFileSync(file);
    bundles.push({
      entry,
      entryPath: HANDLER_ENTRIES[entry],
      logicalId,
      file,
      bytes: content.length,
      gzipBytes: gzipSync(content, { level: 9 }).length,
      memoryMiB: Number(resource.Properties?.MemorySize ?? 128),
      environment: functionEnvironment(resource),
    });
  }
  const order = Object.keys(HANDLER_ENTRIES);
  return bundles.sort((a, b) => order.indexOf(a.entry) - order.indexOf(b.entry));
}

interface InitSample {
  readonly importMs: number;
  readonly processMs: number;
}

const PROBE = `const started = performance.now();
await import(process.argv[2]);
process.stdout.write(JSON.stringify({ importMs: performance.now() - started }));
process.exit(0);
`;

function measureInit(probe: string, moduleUrl: string, environment: Record<string, string>): Promise<InitSample> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    // A clean environment: the function's variables, region and dummy credentials, nothing of this shell's.
    const child = spawn(process.execPath, [probe, moduleUrl], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        AWS_REGION: BENCH_REGION,
        AWS_ACCESS_KEY_ID: 'bench',
        AWS_SECRET_ACCESS_KEY: 'bench',
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE: '1',
        AWS_LAMBDA_FUNCTION_NAME: 'bench',
        ...environment,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) => {
      const processMs = performance.now() - started;
      if (code !== 0) {
        // Minified bundles print a whole source line before the error: keep only the error's own line.
        const errorLine = stderr
          .split('\n')
          .reverse()
          .find((line) => /^[A-Za-z]*Error\b/.test(line.trim()));
        return reject(new Error(`import failed (exit ${code}): ${(errorLine ?? stderr.trim().slice(-300)).trim()}`));
      }
      try {
        resolve({ importMs: (JSON.parse(stdout) as { importMs: number }).importMs, processMs });
      } catch (error) {
        reject(new Error(`Unreadable probe output for ${moduleUrl}: ${JSON.stringify(stdout)}`, { cause: error }));
      }
    });
  });
}

async function run(context: BenchmarkContext) {
  const notes: string[] = [];
  let assemblyDir = context.assemblyDir;
  let synthSeconds: number | undefined;
  if (!assemblyDir) {
    context.log('synthesizing the app with bundling (no cloud assembly from this run) …');
    const synthesized = await synthesizeApp({ bundle: true });
    assemblyDir = synthesized.assemblyDir;
    synthSeconds = synthesized.seconds;
  }
  const template = templateFromAssembly(assemblyDir);
  const bundles = bundlesOf(template, assemblyDir);
  const missing = (Object.keys(HANDLER_ENTRIES) as EntryName[]).filter((entry) => !bundles.some((b) => b.entry === entry));
  if (missing.length > 0) notes.push(`No bundle found in the assembly for: ${missing.join(', ')} (MISS for each).`);

  const workDir = mkdtempSync(join(tmpdir(), 'gpujobs-bench-init-'));
  const probe = join(workDir, 'probe.mjs');
  const emptyModule = join(workDir, 'empty.mjs');
  writeFileSync(probe, PROBE);
  writeFileSync(emptyModule, 'export {};\n');
  const nodeOptions = bundles[0]?.environment.NODE_OPTIONS ?? '';
  const baselineEnvironment: Record<string, string> = nodeOptions ? { NODE_OPTIONS: nodeOptions } : {};

  const subjects = [
    { key: 'baseline', url: `file://${emptyModule}`, environment: baselineEnvironment },
    ...bundles.map((b) => ({ key: b.entry as string, url: `file://${b.file}`, environment: b.environment })),
  ];
  const samples = new Map<string, InitSample[]>(subjects.map((s) => [s.key, []]));
  const failures = new Map<string, string>();
  // One unmeasured round warms the file cache; rounds then interleave the subjects so load on the machine hits all alike.
  for (let round = 0; round <= PROCESSES_PER_BUNDLE; round++) {
    for (const subject of subjects) {
      if (failures.has(subject.key)) continue;
      try {
        const sample = await measureInit(probe, subject.url, subject.environment);
        if (round > 0) samples.get(subject.key)!.push(sample);
      } catch (error) {
        failures.set(subject.key, (error as Error).message);
      }
    }
    context.log(`cold-init round ${round}/${PROCESSES_PER_BUNDLE} done`);
  }

  rmSync(workDir, { recursive: true, force: true });
  // An assembly synthesized here is nobody else's: remove it (one from `cdk synth` in this run stays).
  if (!context.assemblyDir) rmSync(assemblyDir, { recursive: true, force: true });

  const baselineSamples = samples.get('baseline') ?? [];
  const baselineImportMs = baselineSamples.length > 0 ? median(baselineSamples.map((s) => s.importMs)) : null;
  const baselineProcessMs = baselineSamples.length > 0 ? median(baselineSamples.map((s) => s.processMs)) : null;

  const figures: (Figure & { digits?: number })[] = [];
  const perBundle: Record<string, unknown>[] = [];
  for (const entry of Object.keys(HANDLER_ENTRIES) as EntryName[]) {
    const bundle = bundles.find((b) => b.entry === entry);
    const label = HANDLER_ENTRIES[entry];
    const sizeKiB = bundle ? bundle.bytes / 1024 : null;
    figures.push(
      figure({
        id: `${entry}.sizeKiB`,
        label: `${label} size`,
        value: sizeKiB,
        unit: 'KB',
        goal: { comparison: '<=', value: SIZE_GOAL_KIB },
      }),
    );
    const own = samples.get(entry) ?? [];
    const importMs = own.length > 0 ? median(own.map((s) => s.importMs)) : null;
    const overBaseline = importMs !== null && baselineImportMs !== null ? importMs - baselineImportMs : null;
    const failure = failures.get(entry);
    figures.push(
      figure({
        id: `${entry}.initOverBaselineMs`,
        label: `${label} cold init over baseline`,
        value: overBaseline,
        unit: 'ms',
        goal: { comparison: '<=', value: INIT_OVER_BASELINE_GOAL_MS },
        ...(failure ? { note: failure } : {}),
      }),
    );
    perBundle.push({
      entry,
      entryPath: label,
      logicalId: bundle?.logicalId,
      bytes: bundle?.bytes,
      gzipBytes: bundle?.gzipBytes,
      memoryMiB: bundle?.memoryMiB,
      importMs: own.length > 0 ? summarize(own.map((s) => s.importMs)) : null,
      processMs: own.length > 0 ? summarize(own.map((s) => s.processMs)) : null,
      failure,
    });
  }
  figures.push(figure({ id: 'baselineImportMs', label: 'empty-module import (baseline)', value: baselineImportMs, unit: 'ms' }));
  figures.push(figure({ id: 'baselineProcessMs', label: 'empty-module whole process (baseline)', value: baselineProcessMs, unit: 'ms' }));

  notes.push(
    "Sizes: index.mjs as esbuild wrote it into the cloud assembly during `cdk synth`, i.e. with the stack's own bundling options (lib/gpujobs-function.ts); KB = 1,024 bytes; source maps excluded (the gzip size is in the JSON).",
    `Cold init: time to import the bundle (module evaluation, SDK client construction, environment checks) in a fresh \`node\` process, median of ${PROCESSES_PER_BUNDLE} processes after one unmeasured round, minus the same for an empty module; each process gets the function's environment from the template (NODE_OPTIONS=${nodeOptions || 'none'} included), deploy-time Ref/GetAtt values replaced by stand-ins.`,
    `Measured on this x86-64 machine with ${process.version}; Lambda runs Node 22 on arm64 with ${bundles[0]?.memoryMiB ?? '?'} MB (a fraction of a vCPU), where init takes several times longer: compare bundles with each other and over time, not with Lambda's Init Duration.`,
  );
  return {
    figures,
    notes,
    details: {
      assemblySource: context.assemblyDir ? 'cdk synth in this run' : 'synthesized by this benchmark',
      synthSeconds,
      processesPerBundle: PROCESSES_PER_BUNDLE,
      baseline:
        baselineSamples.length > 0
          ? { importMs: summarize(baselineSamples.map((s) => s.importMs)), processMs: summarize(baselineSamples.map((s) => s.processMs)) }
          : null,
      bundles: perBundle,
    },
  };
}

export const benchmark: Benchmark = { title: 'Lambda bundle size and cold init', run };
