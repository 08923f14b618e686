import { describe, expect, it } from 'vitest';
import {
  batchRetryStrategy,
  BATCH_MAX_ATTEMPTS,
  clampBatchAttempts,
  EVALUATE_ON_EXIT,
  stepFunctionsEvaluateOnExit,
} from '../../core/retry-strategy.js';

/** Batch's matching: exact, or a prefix when the pattern ends in `*`; the first matching rule wins, none matching retries. */
function batchDecision(statusReason: string, reason = ''): string {
  const glob = (pattern: string, value: string) => (pattern.endsWith('*') ? value.startsWith(pattern.slice(0, -1)) : pattern === value);
  const rule = EVALUATE_ON_EXIT.find(
    (candidate) =>
      (candidate.onStatusReason === undefined || glob(candidate.onStatusReason, statusReason)) &&
      (candidate.onReason === undefined || glob(candidate.onReason, reason)),
  );
  return rule?.action ?? 'RETRY';
}

describe('the Batch retry rules', () => {
  it('are, in order: attempt timeout → EXIT, Host EC2* → RETRY, anything else → EXIT', () => {
    expect(EVALUATE_ON_EXIT).toEqual([
      { onStatusReason: 'Job attempt duration exceeded timeout', action: 'EXIT' },
      { onStatusReason: 'Host EC2*', action: 'RETRY' },
      { onReason: '*', action: 'EXIT' },
    ]);
  });

  it('retry only a lost host, and never an application error, a timeout or a misconfiguration', () => {
    expect(batchDecision('Host EC2 (instance i-0abc) terminated.')).toBe('RETRY');
    expect(batchDecision('Job attempt duration exceeded timeout')).toBe('EXIT');
    expect(batchDecision('Essential container in task exited', 'Essential container in task exited')).toBe('EXIT');
    expect(batchDecision('Task failed to start', 'CannotPullContainerError: not found')).toBe('EXIT');
  });

  it("have the same rules in the API casing and in Step Functions' casing", () => {
    expect(batchRetryStrategy(2).evaluateOnExit).toEqual(EVALUATE_ON_EXIT);
    expect(stepFunctionsEvaluateOnExit()).toEqual([
      { OnStatusReason: 'Job attempt duration exceeded timeout', Action: 'EXIT' },
      { OnStatusReason: 'Host EC2*', Action: 'RETRY' },
      { OnReason: '*', Action: 'EXIT' },
    ]);
  });

  it("keep attempts within Batch's 1 to 10", () => {
    expect([0, 1, 3, 10, 11, Number.NaN].map(clampBatchAttempts)).toEqual([1, 1, 3, 10, BATCH_MAX_ATTEMPTS, 1]);
    expect(batchRetryStrategy(25).attempts).toBe(10);
  });
});
