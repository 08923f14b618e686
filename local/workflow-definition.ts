/**
 * The job workflow local mode executes: jobWorkflowAsl (lib/workflow/job-workflow.ts), the states
 * the stack deploys, wired to the local stand-ins' ARNs. It is built on every start, in a child
 * process (local/build-workflow.ts): building loads aws-cdk-lib, which would otherwise stay in the
 * platform's memory for as long as it runs and make every job's process spawn (which copies the
 * platform's page tables) several times slower.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import type { JobWorkflowArns } from '../lib/workflow/job-workflow.js';

export interface LocalWorkflow {
  readonly definition: StateMachineDefinition;
  readonly stateMachineArn: string;
}

export interface WorkflowDefinitionOptions {
  readonly projectRoot: string;
  readonly region: string;
  readonly account: string;
}

export class WorkflowBuildError extends Error {
  override readonly name = 'WorkflowBuildError';
}

/**
 * Local mode's names for what the stack creates. The Lambda tasks and the queues are matched by
 * state name (local/platform.ts), so any ARN of the right shape will do.
 */
export function localWorkflowArns(region: string, account: string): JobWorkflowArns & { stateMachineArn: string } {
  const arn = (service: string, resource: string) => `arn:aws:${service}:${region}:${account}:${resource}`;
  return {
    stateMachineArn: arn('states', 'stateMachine:gpujobs-local-job-workflow'),
    prepareFunctionArn: arn('lambda', 'function:gpujobs-local-prepare'),
    settleAttemptFunctionArn: arn('lambda', 'function:gpujobs-local-settle-attempt'),
    finishFunctionArn: arn('lambda', 'function:gpujobs-local-finish'),
    spotJobQueueArn: arn('batch', 'job-queue/gpujobs-local-spot'),
    onDemandJobQueueArn: arn('batch', 'job-queue/gpujobs-local-on-demand'),
  };
}

export async function loadWorkflowDefinition(options: WorkflowDefinitionOptions): Promise<LocalWorkflow> {
  const { stateMachineArn, ...arns } = localWorkflowArns(options.region, options.account);
  const script = fileURLToPath(new URL('./build-workflow.ts', import.meta.url));
  // `--import tsx` resolves from the project root, where tsx is a dependency.
  const { code, stdout, stderr } = await run(process.execPath, ['--import', 'tsx', script, JSON.stringify(arns)], options.projectRoot);
  if (code !== 0) {
    throw new WorkflowBuildError(
      `Building the job workflow failed (exit code ${code}): ${stderr.trim().split('\n').slice(-20).join('\n')}`,
    );
  }
  return { definition: JSON.parse(stdout) as StateMachineDefinition, stateMachineArn };
}

function run(command: string, args: readonly string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      // Only the end is reported; a failure can print a long stack.
      stderr = (stderr + chunk).slice(-20_000);
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
