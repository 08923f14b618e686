import { describe, expect, it } from 'vitest';
import { attemptEnd, type AttemptEndFacts } from '../../../local/batch/attempt-end.js';
import { BATCH_STATUS_REASON } from '../../../local/batch/status-reasons.js';

const placement = {
  instanceId: 'i-0123456789abcdef0',
  taskArn: 'arn:aws:ecs:us-east-1:000000000000:task/gpujobs-local-spot/abc',
  containerInstanceArn: 'arn:aws:ecs:us-east-1:000000000000:container-instance/gpujobs-local-spot/def',
  logStreamName: 'gpujobs-test/default/abc',
  logGroupName: '/aws/batch/job',
};
const ended = (facts: Partial<AttemptEndFacts>) =>
  attemptEnd({ command: ['python'], placement, spawned: true, code: null, signal: null, ...facts });

describe('how an attempt ends in Batch terms', () => {
  it('succeeds only on exit 0 without a stop', () => {
    expect(ended({ code: 0 })).toMatchObject({ succeeded: true, statusReason: BATCH_STATUS_REASON.containerExited, exitCode: 0 });
    expect(ended({ code: 0, stop: { statusReason: 'cancelled', kind: 'terminate' } }).succeeded).toBe(false);
  });

  it('reports a process killed by a signal as exit 128 + the signal number, as a container does', () => {
    expect(ended({ signal: 'SIGKILL' }).exitCode).toBe(137);
    expect(ended({ signal: 'SIGTERM' }).container.exitCode).toBe(143);
  });

  it('gives a reclaimed attempt the reclaim reason and no exit code', () => {
    const end = ended({
      signal: 'SIGTERM',
      stop: { statusReason: BATCH_STATUS_REASON.hostTerminated(placement.instanceId), kind: 'reclaim' },
    });
    expect(end.statusReason).toBe('Host EC2 (instance i-0123456789abcdef0) terminated.');
    expect(end.exitCode).toBeUndefined();
    expect(end.container).not.toHaveProperty('exitCode');
  });

  it('reports a command that could not start as CannotStartContainerError, without the refused value', () => {
    const end = ended({
      spawned: false,
      code: -2,
      spawnError: new Error("The argument 'args[0]' must be without null bytes. Received 'sec\\u0000ret'"),
    });
    expect(end.statusReason).toBe(BATCH_STATUS_REASON.cannotStartContainer);
    expect(end.containerReason).toBe(`CannotStartContainerError: exec: "python": The argument 'args[0]' must be without null bytes.`);
    expect(end.container).not.toHaveProperty('exitCode');
    expect(JSON.stringify(end)).not.toContain('Received');
  });
});
