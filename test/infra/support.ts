import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { createApp } from '../../lib/app.js';
import type { GpuJobsStack } from '../../lib/gpujobs-stack.js';

export interface SynthResult {
  readonly stack: GpuJobsStack;
  readonly template: Template;
  readonly outdir: string;
  /** The policy validation report (cdk-nag and cfn-guard) of this synthesis. */
  readonly report: ValidationReport;
  readonly dispose: () => void;
}

export interface ValidationReport {
  readonly pluginReports: readonly {
    readonly pluginName: string;
    readonly conclusion: string;
    readonly violations: readonly Violation[];
    readonly suppressedViolations?: readonly Violation[];
  }[];
}

interface Violation {
  readonly ruleName: string;
  readonly violatingConstructs: readonly { readonly constructPath: string }[];
}

/**
 * Synthesizes the real app (cdk.json's feature flags, cdk-nag and cfn-guard) into a
 * temporary directory. `bundle: false` skips esbuild, for tests that only look at configuration.
 */
export function synthesize(
  options: { gpujobs?: Record<string, unknown>; context?: Record<string, unknown>; bundle?: boolean } = {},
): SynthResult {
  const outdir = mkdtempSync(join(tmpdir(), 'gpujobs-infra-'));
  const context: Record<string, unknown> = { ...options.context };
  if (options.gpujobs) context.gpujobs = options.gpujobs;
  if (options.bundle === false) context['aws:cdk:bundling-stacks'] = [];
  const { app, stack } = createApp({ context, outdir });
  try {
    app.synth();
  } catch (error) {
    rmSync(outdir, { recursive: true, force: true });
    throw error;
  }
  const template = Template.fromStack(stack);
  const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as ValidationReport;
  return { stack, template, outdir, report, dispose: () => rmSync(outdir, { recursive: true, force: true }) };
}

/** The logical id of the single resource of `type` whose properties match. */
export function logicalIdOf(template: Template, type: string, props: Record<string, unknown> = {}): string {
  const found = Object.keys(template.findResources(type, { Properties: props }));
  if (found.length !== 1) throw new Error(`expected one ${type} matching, found ${found.length}: ${found.join(', ')}`);
  return found[0]!;
}
