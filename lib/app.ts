import { readFileSync } from 'node:fs';
import { App, Validations } from 'aws-cdk-lib';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadConfig } from './config.js';
import { acknowledgeFindings } from './acknowledgments.js';
import { PROJECT_ROOT } from './gpujobs-function.js';
import { GpuJobsStack } from './gpujobs-stack.js';

export interface CreateAppOptions {
  /** Context on top of cdk.json's (the CLI's `-c` values take precedence over both). */
  readonly context?: Record<string, unknown>;
  /** Cloud assembly directory. @default - the CLI's, or a temporary directory */
  readonly outdir?: string;
  /** @default 'GpuJobs' */
  readonly stackName?: string;
}

/** cdk.json's context: the feature flags and the gpujobs configuration, so tests synthesize what `cdk synth` does. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(`${PROJECT_ROOT}cdk.json`, 'utf8')) as { context?: Record<string, unknown> };
  return cdkJson.context ?? {};
}

/**
 * The gpujobs app: configuration from the context, the stack, and the checks that
 * fail synthesis — cdk-nag's AwsSolutions pack and the cfn-guard Control Tower rules.
 */
export function createApp(options: CreateAppOptions = {}): { app: App; stack: GpuJobsStack } {
  const app = new App({
    context: { ...cdkJsonContext(), ...options.context },
    ...(options.outdir !== undefined && { outdir: options.outdir }),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new CfnGuardValidator());
  const config = loadConfig(app.node);
  const stack = new GpuJobsStack(app, options.stackName ?? 'GpuJobs', {
    config,
    description: 'gpujobs: GPU jobs on AWS Batch, Spot first with On-Demand failover',
  });
  acknowledgeFindings(stack, config);
  return { app, stack };
}
