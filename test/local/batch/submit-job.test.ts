import { describe, expect, it } from 'vitest';
import { batchRetryStrategy, stepFunctionsEvaluateOnExit } from '../../../core/retry-strategy.js';
import type { BatchSubmitJobParameters } from '../../../lib/workflow/batch-task.js';
import { ClientException } from '../../../local/batch/client-exception.js';
import type { JobDefinition } from '../../../local/batch/job-definitions.js';
import { resolveSubmission } from '../../../local/batch/submit-job.js';

const definition: JobDefinition = {
  jobDefinitionName: 'gpujobs-test',
  jobDefinitionArn: 'arn:aws:batch:us-east-1:000000000000:job-definition/gpujobs-test:1',
  revision: 1,
  status: 'ACTIVE',
  type: 'container',
  parameters: { fromDefinition: 'yes' },
  containerProperties: {
    image: 'busybox',
    command: ['true'],
    environment: [
      { name: 'KEPT', value: 'definition' },
      { name: 'OVERRIDDEN', value: 'definition' },
    ],
    resourceRequirements: [
      { type: 'GPU', value: '1' },
      { type: 'VCPU', value: '4' },
    ],
  },
  retryStrategy: batchRetryStrategy(2),
  timeout: { attemptDurationSeconds: 600 },
  tags: { team: 'ml' },
  propagateTags: true,
};

describe("the stand-in's SubmitJob", () => {
  it("takes the workflow's Batch-state parameters as they are, overriding the definition's retry strategy and timeout", () => {
    // GIVEN what RunOnSpot sends (typed as the workflow's contract: this compiles only while the stand-in accepts it)
    const workflowParameters: BatchSubmitJobParameters = {
      JobQueue: 'arn:aws:batch:us-east-1:000000000000:job-queue/spot',
      JobName: 'gpujobs-0123-1',
      JobDefinition: definition.jobDefinitionArn,
      ContainerOverrides: { Command: ['python', 'train.py'], Environment: [{ Name: 'OVERRIDDEN', Value: 'submission' }] },
      Timeout: { AttemptDurationSeconds: 60 },
      RetryStrategy: { Attempts: 1, EvaluateOnExit: stepFunctionsEvaluateOnExit() },
      Tags: { 'gpujobs:job-id': '0123', 'gpujobs:attempt': '1' },
    };
    // WHEN it is resolved against the definition
    const resolved = resolveSubmission(workflowParameters, definition);
    // THEN the submission's values win, the definition's fill in the rest
    expect(resolved.command).toEqual(['python', 'train.py']);
    expect(resolved.environment).toEqual([
      { name: 'KEPT', value: 'definition' },
      { name: 'OVERRIDDEN', value: 'submission' },
    ]);
    expect(resolved.timeoutSeconds).toBe(60);
    expect(resolved.retryStrategy).toEqual(batchRetryStrategy(1));
    expect(resolved.tags).toEqual({ team: 'ml', 'gpujobs:job-id': '0123', 'gpujobs:attempt': '1' });
    expect(resolved.gpus).toBe(1);
  });

  it("keeps the definition's command, timeout and retry strategy when a submission leaves them out, as Batch does", () => {
    const resolved = resolveSubmission({ JobQueue: 'q', JobName: 'plain-1', JobDefinition: definition.jobDefinitionArn }, definition);
    expect(resolved.command).toEqual(['true']);
    expect(resolved.timeoutSeconds).toBe(600);
    expect(resolved.retryStrategy).toBe(definition.retryStrategy);
    expect(resolved.parameters).toEqual({ fromDefinition: 'yes' });
  });

  it('overrides resource requirements by type, so a submission can ask for more GPUs', () => {
    const resolved = resolveSubmission(
      {
        JobQueue: 'q',
        JobName: 'big-1',
        JobDefinition: definition.jobDefinitionArn,
        ContainerOverrides: { ResourceRequirements: [{ Type: 'GPU', Value: '4' }] },
      },
      definition,
    );
    expect(resolved.gpus).toBe(4);
    expect(resolved.resourceRequirements).toEqual([
      { type: 'GPU', value: '4' },
      { type: 'VCPU', value: '4' },
    ]);
  });

  it('fails when the job name is not one Batch accepts, naming it', () => {
    expect(() =>
      resolveSubmission({ JobQueue: 'q', JobName: '-bad name', JobDefinition: definition.jobDefinitionArn }, definition),
    ).toThrow(
      new ClientException(
        'jobName must be 1-128 letters, digits, hyphens or underscores, starting with a letter or digit. Received "-bad name".',
      ),
    );
  });
});
