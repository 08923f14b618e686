import { describe, expect, it } from 'vitest';
import { batchRetryStrategy } from '../../../core/retry-strategy.js';
import { BATCH_STATUS_REASON } from '../../../local/batch/status-reasons.js';
import { globMatches, retriesInPlace } from '../../../local/batch/retry-strategy.js';

describe("the stand-in's evaluation of a retryStrategy", () => {
  const workflowStrategy = batchRetryStrategy(3);

  it('retries a lost host in place while attempts remain, and not once they are spent', () => {
    const reclaimed = { statusReason: BATCH_STATUS_REASON.hostTerminated('i-0123456789abcdef0') };
    expect(retriesInPlace(workflowStrategy, 1, reclaimed)).toBe(true);
    expect(retriesInPlace(workflowStrategy, 3, reclaimed)).toBe(false);
  });

  it("does not retry an application error or a timed-out attempt under the workflow's rules", () => {
    expect(retriesInPlace(workflowStrategy, 1, { statusReason: BATCH_STATUS_REASON.containerExited, exitCode: 1 })).toBe(false);
    expect(retriesInPlace(workflowStrategy, 1, { statusReason: BATCH_STATUS_REASON.attemptTimeout })).toBe(false);
  });

  it('retries when no rule matches, as Batch does, and makes one attempt when none are given', () => {
    expect(
      retriesInPlace({ attempts: 2, evaluateOnExit: [{ onExitCode: '137', action: 'EXIT' }] }, 1, { statusReason: 'x', exitCode: 1 }),
    ).toBe(true);
    expect(retriesInPlace({}, 1, { statusReason: 'x' })).toBe(false);
  });

  it('matches onExitCode and reads the action case-insensitively, as Batch does', () => {
    const strategy = {
      attempts: 2,
      evaluateOnExit: [
        { onExitCode: '13*', action: 'retry' as 'RETRY' },
        { onReason: '*', action: 'EXIT' as const },
      ],
    };
    expect(retriesInPlace(strategy, 1, { statusReason: 'x', exitCode: 137 })).toBe(true);
    expect(retriesInPlace(strategy, 1, { statusReason: 'x', exitCode: 1 })).toBe(false);
  });

  it('matches a pattern exactly, or by prefix when it ends in *', () => {
    expect(globMatches('Host EC2*', 'Host EC2 (instance i-1) terminated.')).toBe(true);
    expect(globMatches('Host EC2', 'Host EC2 (instance i-1) terminated.')).toBe(false);
    expect(globMatches('*', '')).toBe(true);
  });
});
