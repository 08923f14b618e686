/**
 * The job workflow local mode executes: the state machine of the synthesized app,
 * resolved into plain ASL by lib/workflow/resolve-definition.ts. Synthesis takes
 * seconds, so the result is cached under the data dir, keyed by a hash of every
 * source it depends on; it is rebuilt only when one of them changes.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StateMachineDefinition } from 'aws-local-stepfunctions';

export interface ResolvedWorkflow {
  readonly definition: StateMachineDefinition;
  /** The state machine's logical id in the template. */
  readonly logicalId: string;
  /** Whether this start synthesized (false: read from the cache). */
  readonly synthesized: boolean;
}

export interface WorkflowDefinitionOptions {
  readonly projectRoot: string;
  readonly cacheDirectory: string;
  readonly region: string;
  readonly account: string;
}

/**
 * What the definition is built from; a change in any of them invalidates the cache.
 * lib/ imports from core/ (limits, table schema) and the handlers' environment names.
 */
const SOURCES = ['lib', 'core', 'lambdas/shared/environment.ts', 'package-lock.json', 'cdk.json'];
const CACHE_FORMAT = 1;

export function workflowSourceHash(projectRoot: string): string {
  const hash = createHash('sha256').update(`format ${CACHE_FORMAT}\n`);
  for (const file of SOURCES.flatMap((source) => filesUnder(join(projectRoot, source)))) {
    hash.update(`${relative(projectRoot, file)}\n`).update(readFileSync(file)).update('\n');
  }
  return hash.digest('hex').slice(0, 32);
}

export async function loadWorkflowDefinition(options: WorkflowDefinitionOptions): Promise<ResolvedWorkflow> {
  const key = workflowSourceHash(options.projectRoot);
  const cacheFile = join(options.cacheDirectory, `job-workflow-${options.region}-${options.account}-${key}.json`);
  if (existsSync(cacheFile)) {
    try {
      const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as { definition: StateMachineDefinition; logicalId: string };
      return { ...cached, synthesized: false };
    } catch {
      // A cache file cut short by a crash is rebuilt below.
    }
  }
  const resolved = await synthesizeWorkflowDefinition(options);
  mkdirSync(options.cacheDirectory, { recursive: true });
  for (const stale of readdirSync(options.cacheDirectory).filter((name) => name.startsWith('job-workflow-'))) {
    rmSync(join(options.cacheDirectory, stale), { force: true });
  }
  const temporary = `${cacheFile}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(resolved));
  renameSync(temporary, cacheFile);
  return { ...resolved, synthesized: true };
}

export class WorkflowSynthesisError extends Error {
  override readonly name = 'WorkflowSynthesisError';
}

/**
 * Synthesizes the real app in a child process (local/synthesize-workflow.ts), so that aws-cdk-lib is
 * never loaded into the process that runs the platform.
 */
async function synthesizeWorkflowDefinition(
  options: WorkflowDefinitionOptions,
): Promise<{ definition: StateMachineDefinition; logicalId: string }> {
  const workDirectory = mkdtempSync(join(tmpdir(), 'gpujobs-local-workflow-'));
  const outputFile = join(workDirectory, 'workflow.json');
  try {
    const script = fileURLToPath(new URL('./synthesize-workflow.ts', import.meta.url));
    // `--import tsx` resolves from the project root, where tsx is a dependency.
    const { code, stderr } = await run(process.execPath, ['--import', 'tsx', script, outputFile, options.region, options.account], options.projectRoot);
    if (code !== 0 || !existsSync(outputFile)) {
      throw new WorkflowSynthesisError(`Synthesizing the job workflow failed (exit code ${code}): ${stderr.trim().split('\n').slice(-20).join('\n')}`);
    }
    return JSON.parse(readFileSync(outputFile, 'utf8')) as { definition: StateMachineDefinition; logicalId: string };
  } finally {
    rmSync(workDirectory, { recursive: true, force: true });
  }
}

function run(command: string, args: readonly string[], cwd: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      // Only the end is reported; synthesis can warn at length.
      stderr = (stderr + chunk).slice(-20_000);
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stderr }));
  });
}

function filesUnder(path: string): string[] {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => filesUnder(join(path, entry.name)));
}
