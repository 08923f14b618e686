import { readFileSync } from 'node:fs';
import { Annotations, App, Validations } from 'aws-cdk-lib';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { AwsSolutionsChecks } from 'cdk-nag';
import { checkInstanceTypesOffered, loadConfig } from './config.js';
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
  /**
   * The region the stack will be deployed to, for the check that it offers every configured
   * instance type. The stack itself stays environment-agnostic.
   * @default - no check (bin/gpujobs.ts passes the CLI's target region)
   */
  readonly region?: string;
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
  const region = options.region;
  const checked = region === undefined ? 'no-region' : checkInstanceTypesOffered(config, region);
  const stack = new GpuJobsStack(app, options.stackName ?? 'GpuJobs', {
    config,
    description: 'gpujobs: GPU jobs on AWS Batch, Spot first with On-Demand failover',
  });
  if (checked !== 'checked') {
    // Info, not a warning: the guardrails treat every warning as a finding to acknowledge.
    Annotations.of(stack).addInfo(
      checked === 'no-region'
        ? 'gpuInstanceTypes were not checked against a region: none is known (the CDK CLI sets CDK_DEFAULT_REGION from the AWS profile or AWS_REGION).'
        : `gpuInstanceTypes were not checked against ${region}: the instance catalogue has no data for that region.`,
    );
  }
  acknowledgeFindings(stack, config);
  return { app, stack };
}
