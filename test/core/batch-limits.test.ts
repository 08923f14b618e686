import { beforeAll, describe, expect, it } from 'vitest';
import { ATTEMPT_VARIABLE, JOB_ID_VARIABLE } from '../../core/plan.js';
import { checkBatchLimits, longestSubmitJobRequest } from '../../core/batch-limits.js';
import { parseJobSpec } from '../../core/spec.js';
import { STATE } from '../../core/contract/workflow.js';
import type { JobSpec } from '../../core/job.js';
import { workflowUnderTest } from '../workflow/workflow-under-test.js';

function specWith(fields: Record<string, unknown>): JobSpec {
  const parsed = parseJobSpec({ image: 'ghcr.io/acme/trainer:1', command: ['train'], ...fields });
  if (!parsed.ok) throw new Error(`not a valid spec: ${JSON.stringify(parsed.errors)}`);
  return parsed.spec;
}

// The overrides of a job with the default maxSpotAttempts (3, so attempt numbers up to 5) take
// 137 characters besides the two command items: `{"command":["",""],"environment":[` … `]}` and the
// platform's two variables, GPUJOBS_JOB_ID (26 characters) and GPUJOBS_ATTEMPT ("5").
const twoItems = (total: number) => ['x'.repeat(4096), 'x'.repeat(total - 4096)];

describe('checkBatchLimits', () => {
  it('accepts command and environment that take up to 7,168 characters (8,192 less the reserve)', () => {
    expect(checkBatchLimits(specWith({ command: twoItems(7168 - 137) }))).toEqual([]);
  });

  it('fails on command when command and environment take one character more', () => {
    const issues = checkBatchLimits(specWith({ command: twoItems(7168 - 136) }));

    expect(issues).toEqual([{ path: 'command', message: expect.stringContaining('must take at most 7168 characters') }]);
    expect(issues[0]!.message).toContain('container overrides limit of 8192');
    expect(issues[0]!.message).toContain('but take 7169');
    expect(issues[0]!.message).toContain('received 7039 characters of command and 103 of environment');
  });

  it('counts the highest attempt number the job can reach (maxSpotAttempts + 2 On-Demand)', () => {
    expect(checkBatchLimits(specWith({ command: twoItems(7168 - 137), maxSpotAttempts: 10 }))).toEqual([
      { path: 'command', message: expect.stringContaining('but take 7169') },
    ]);
  });

  it('fails on environment when the environment takes more of the room', () => {
    const issues = checkBatchLimits(specWith({ environment: { WEIGHTS: 'w'.repeat(4096), CONFIG: 'c'.repeat(3000) } }));

    expect(issues).toEqual([{ path: 'environment', message: expect.stringContaining('must take at most 7168 characters') }]);
    expect(issues[0]!.message).not.toContain('30 KiB');
  });

  it('names the 30 KiB SubmitJob limit too when the submission would exceed it', () => {
    const environment = Object.fromEntries(Array.from({ length: 8 }, (_, index) => [`VALUE_${index}`, 'v'.repeat(4096)]));

    const issues = checkBatchLimits(specWith({ environment }));

    expect(issues).toEqual([
      { path: 'environment', message: expect.stringContaining("over AWS Batch's SubmitJob limit of 30720 bytes (30 KiB)") },
    ]);
    expect(issues[0]!.message).toContain('must take at most 7168 characters');
  });

  it('counts characters as JSON writes them (a quote is two)', () => {
    expect(checkBatchLimits(specWith({ command: twoItems(7168 - 137).map((item) => item.replace(/x$/, '"')) }))).toEqual([
      { path: 'command', message: expect.stringContaining('but take 7170') },
    ]);
  });
});

describe('longestSubmitJobRequest', () => {
  it("gives the container the job's environment and then the platform's variables", () => {
    const request = longestSubmitJobRequest(specWith({ environment: { EPOCHS: '3' } }));

    expect(request.containerOverrides.environment.map((variable) => variable.name)).toEqual(['EPOCHS', JOB_ID_VARIABLE, ATTEMPT_VARIABLE]);
    expect(request.containerOverrides.environment.at(-1)?.value).toBe('5');
  });

  describe('against the workflow the stack deploys', () => {
    let parameters: Record<string, unknown>;
    beforeAll(() => {
      const state = workflowUnderTest().definition.States[STATE.runOnSpot] as { Parameters: Record<string, unknown> };
      parameters = state.Parameters;
    });
    // Step Functions sends the state's PascalCase Parameters to Batch in the API's lowerCamel casing.
    const apiName = (key: string) => key.replace(/\.\$$/, '').replace(/^./, (first) => first.toLowerCase());

    it('has every parameter of the Batch states, and no other', () => {
      const request = longestSubmitJobRequest(specWith({}));

      expect(Object.keys(parameters).map(apiName).sort()).toEqual(Object.keys(request).sort());
      expect(
        Object.keys(parameters.ContainerOverrides as object)
          .map(apiName)
          .sort(),
      ).toEqual(Object.keys(request.containerOverrides).sort());
      expect(Object.keys(parameters.Tags as object)).toHaveLength(Object.keys(request.tags).length);
      expect((parameters.RetryStrategy as { EvaluateOnExit: unknown[] }).EvaluateOnExit).toHaveLength(
        request.retryStrategy.evaluateOnExit.length,
      );
    });
  });
});
