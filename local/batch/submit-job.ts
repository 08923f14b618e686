/**
 * SubmitJob's request, and what the stand-in makes of it: the submission's overrides laid over
 * its job definition, as Batch merges them.
 */
import type { BatchRetryStrategy, StepFunctionsEvaluateOnExitRule } from '../../core/retry-strategy.js';
import type { BatchSubmitJobParameters } from '../../lib/workflow/batch-task.js';
import { ClientException } from './client-exception.js';
import type { JobDefinition, KeyValuePair, ResourceRequirement } from './job-definitions.js';

/**
 * SubmitJob's request in Step Functions' PascalCase. The workflow's Batch states send
 * `BatchSubmitJobParameters` (lib/workflow/batch-task.ts), which is one of these; SubmitJob itself
 * lets a caller leave out the overrides, timeout, retry strategy and tags, and also takes resource
 * requirement overrides and parameters.
 */
export interface SubmitJobParameters extends Pick<BatchSubmitJobParameters, 'JobName' | 'JobQueue' | 'JobDefinition'> {
  readonly ContainerOverrides?: Partial<BatchSubmitJobParameters['ContainerOverrides']> & {
    readonly ResourceRequirements?: readonly { readonly Type: string; readonly Value: string }[];
  };
  readonly Timeout?: Partial<BatchSubmitJobParameters['Timeout']>;
  /** Overrides the job definition's retryStrategy, as SubmitJob's does. */
  readonly RetryStrategy?: {
    readonly Attempts?: number;
    readonly EvaluateOnExit?: readonly Partial<StepFunctionsEvaluateOnExitRule>[];
  };
  readonly Tags?: BatchSubmitJobParameters['Tags'];
  readonly Parameters?: Readonly<Record<string, string>>;
}

/** What a submission runs: its definition with the submission's overrides applied. */
export interface ResolvedSubmission {
  readonly command: readonly string[];
  readonly environment: readonly KeyValuePair[];
  readonly resourceRequirements: readonly ResourceRequirement[];
  /** GPU slots each attempt needs. */
  readonly gpus: number;
  readonly timeoutSeconds?: number;
  readonly retryStrategy: BatchRetryStrategy;
  readonly tags: Record<string, string>;
  readonly parameters: Record<string, string>;
}

/** Checks the job name as Batch does and merges the submission over `definition`. */
export function resolveSubmission(parameters: SubmitJobParameters, definition: JobDefinition): ResolvedSubmission {
  if (!parameters.JobName || !/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(parameters.JobName)) {
    throw new ClientException(
      `jobName must be 1-128 letters, digits, hyphens or underscores, starting with a letter or digit. Received ${JSON.stringify(parameters.JobName)}.`,
    );
  }
  const container = definition.containerProperties ?? {};
  const overrides = parameters.ContainerOverrides ?? {};
  const resourceRequirements = mergeResources(
    container.resourceRequirements ?? [],
    (overrides.ResourceRequirements ?? []).map(({ Type, Value }) => ({ type: Type, value: Value })),
  );
  const timeoutSeconds = parameters.Timeout?.AttemptDurationSeconds ?? definition.timeout?.attemptDurationSeconds;
  return {
    command: overrides.Command ?? container.command ?? [],
    environment: mergeEnvironment(
      container.environment ?? [],
      (overrides.Environment ?? []).map(({ Name, Value }) => ({ name: Name, value: Value })),
    ),
    resourceRequirements,
    gpus: Number(resourceRequirements.find((requirement) => requirement.type === 'GPU')?.value ?? 0),
    ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}),
    retryStrategy: parameters.RetryStrategy ? retryStrategyOf(parameters.RetryStrategy) : (definition.retryStrategy ?? { attempts: 1 }),
    tags: { ...(definition.propagateTags ? definition.tags : {}), ...parameters.Tags },
    parameters: { ...definition.parameters, ...parameters.Parameters },
  };
}

/** A SubmitJob RetryStrategy in the Batch API's casing; it replaces the definition's whole. */
function retryStrategyOf(strategy: NonNullable<SubmitJobParameters['RetryStrategy']>): BatchRetryStrategy {
  return {
    attempts: strategy.Attempts ?? 1,
    evaluateOnExit: (strategy.EvaluateOnExit ?? []).map((rule) => ({
      action: rule.Action ?? 'EXIT',
      ...(rule.OnStatusReason ? { onStatusReason: rule.OnStatusReason } : {}),
      ...(rule.OnReason ? { onReason: rule.OnReason } : {}),
      ...(rule.OnExitCode ? { onExitCode: rule.OnExitCode } : {}),
    })),
  };
}

/** An override replaces the definition's variable of the same name; the definition's order is kept. */
function mergeEnvironment(base: readonly KeyValuePair[], overrides: readonly KeyValuePair[]): KeyValuePair[] {
  const merged = new Map(base.map(({ name, value }) => [name, value]));
  for (const { name, value } of overrides) merged.set(name, value);
  return [...merged].map(([name, value]) => ({ name, value }));
}

/** An override replaces the definition's requirement of the same type; the definition's order is kept. */
function mergeResources(base: readonly ResourceRequirement[], overrides: readonly ResourceRequirement[]): ResourceRequirement[] {
  const merged = new Map(base.map(({ type, value }) => [type, value]));
  for (const { type, value } of overrides) merged.set(type, value);
  return [...merged].map(([type, value]) => ({ type, value }));
}
