import { describe, expect, it } from 'vitest';
import { createPacer, InvalidDispatchRateError, pacerFromEnvironment } from '../../lambdas/dispatcher/pacer.js';

/** A clock that only moves when the pacer sleeps, so start times are exact. */
function fakeClock() {
  let now = 1_000;
  return {
    now: () => now,
    sleep: async (ms: number) => {
      now += ms;
    },
    advance: (ms: number) => {
      now += ms;
    },
    get time() {
      return now;
    },
  };
}

describe('dispatch pacing', () => {
  it('spaces starts 1/rate seconds apart', async () => {
    // GIVEN a pacer at 20 starts per second
    const clock = fakeClock();
    const pace = createPacer(20, clock);
    // WHEN five starts ask for a slot back to back
    const startTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      await pace();
      startTimes.push(clock.time);
    }
    // THEN they are 50 ms apart, the first without waiting
    expect(startTimes).toEqual([1_000, 1_050, 1_100, 1_150, 1_200]);
  });

  it('does not wait when the previous start is already far enough in the past', async () => {
    const clock = fakeClock();
    const pace = createPacer(10, clock);
    await pace();
    clock.advance(500);
    const before = clock.time;
    await pace();
    expect(clock.time).toBe(before);
  });

  it('queues concurrent callers one interval apart', async () => {
    const sleeps: number[] = [];
    const pace = createPacer(4, { now: () => 0, sleep: async (ms) => void sleeps.push(ms) });
    await Promise.all([pace(), pace(), pace()]);
    expect(sleeps).toEqual([250, 500]);
  });

  it('fails when the rate is not a positive number, naming the value', () => {
    expect(() => createPacer(0)).toThrow(InvalidDispatchRateError);
    expect(() => pacerFromEnvironment('fast', 'DISPATCH_RATE_PER_SECOND')).toThrow(
      'DISPATCH_RATE_PER_SECOND must be a positive number of executions per second. Received "fast".',
    );
  });

  it('does not pace when the variable is unset (local mode)', () => {
    expect(pacerFromEnvironment(undefined, 'DISPATCH_RATE_PER_SECOND')).toBeUndefined();
  });
});

describe('the dispatcher with pacing', () => {
  it('waits for a start slot before each StartExecution, and only when it starts one', async () => {
    const { SFNClient, StartExecutionCommand } = await import('@aws-sdk/client-sfn');
    const { mockClient } = await import('aws-sdk-client-mock');
    const { createJobDispatcher } = await import('../../lambdas/dispatcher/dispatch-job.js');
    const sfn = new SFNClient({});
    const sfnMock = mockClient(sfn);
    const order: string[] = [];
    sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => {
      order.push(`start ${input.name}`);
      return { executionArn: `arn:aws:states:us-east-1:123456789012:execution:jobs:${input.name}`, startDate: new Date() };
    });
    const statuses: Record<string, string> = { queued: 'QUEUED', cancelled: 'CANCELLED' };
    const dispatch = createJobDispatcher({
      store: { getJob: async (jobId: string) => ({ jobId, status: statuses[jobId] }) as never },
      sfn,
      stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:jobs',
      pace: async () => void order.push('pace'),
    });

    await dispatch({ jobId: 'queued' });
    await dispatch({ jobId: 'cancelled' });

    expect(order).toEqual(['pace', 'start queued']);
  });
});
