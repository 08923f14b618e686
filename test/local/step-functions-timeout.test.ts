/**
 * The machine's TimeoutSeconds runs on one Node timer, which fires at once past 2^31-1 ms: the job
 * workflow's timeout stays below that, and a longer one is refused instead of ending every
 * execution TIMED_OUT as soon as it starts.
 */
import { describe, expect, it } from 'vitest';
import { EXECUTION_TIMEOUT_SECONDS } from '../../lib/workflow/job-workflow.js';
import type { LocalLogger } from '../../local/logger.js';
import { LocalStepFunctions } from '../../local/step-functions.js';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as LocalLogger;

const machine = (TimeoutSeconds: number) =>
  new LocalStepFunctions({
    stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:timeout',
    definition: { StartAt: 'Done', TimeoutSeconds, States: { Done: { Type: 'Succeed' } } },
    createTaskHandlers: () => ({}),
    onStatusChange: () => undefined,
    logger: silent,
  });

describe('the local state machine timeout', () => {
  it("accepts the job workflow's execution timeout", () => {
    expect(() => machine(EXECUTION_TIMEOUT_SECONDS)).not.toThrow();
  });

  it('fails when TimeoutSeconds is longer than a Node timer can wait, naming the value', () => {
    expect(() => machine(25 * 24 * 3600)).toThrow(`Received ${25 * 24 * 3600}.`);
  });
});
