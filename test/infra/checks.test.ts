import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cdkJsonContext } from '../../lib/app.js';
import { loadConfig } from '../../lib/config.js';
import { GpuJobsStack } from '../../lib/gpujobs-stack.js';
import type { ValidationReport } from './support.js';

describe('guardrails without acknowledgments', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'gpujobs-checks-'));
  afterEach(() => {
    vi.restoreAllMocks();
    rmSync(outdir, { recursive: true, force: true });
  });

  it('fails synthesis with the cdk-nag and cfn-guard findings the acknowledgments answer', () => {
    // GIVEN the stack with both rule packs but none of lib/acknowledgments.ts
    const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] }, outdir });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new CfnGuardValidator());
    new GpuJobsStack(app, 'GpuJobs', { config: loadConfig(app.node) });
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    vi.spyOn(console, 'log').mockImplementation(() => undefined);

    // WHEN it is synthesized THEN synthesis fails
    expect(() => app.synth()).toThrow();

    // AND the report names findings of both packs
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as ValidationReport;
    const rules = report.pluginReports.flatMap((r) => r.violations.map((v) => v.ruleName));
    expect(rules).toEqual(
      expect.arrayContaining(['AwsSolutions-L1', 'AwsSolutions-SQS3', 'lambda_inside_vpc_check', 'cloudwatch_log_group_encrypted_check']),
    );
    expect(rules.some((rule) => rule.startsWith('AwsSolutions-IAM5['))).toBe(true);
  });
});
