import { describe, expect, it } from 'vitest';
import { ON_DEMAND_ATTEMPT_LIMIT } from '../../core/capacity.js';
import type { Attempt } from '../../core/job.js';
import { attemptEnvironment, interruptedAttemptWrites, planAfterAttempt, planFirstAttempt } from '../../core/plan.js';
import { anAttempt, aJobRecord } from '../support/jobs.js';

const JOB_ID = '01JD7ZK6E8Q6V0YF3W4H2Z9X1M';
const reclaimed = (n: number, capacity: Attempt['capacity'] = 'spot'): Attempt =>
  anAttempt({ attempt: n, capacity, failureClass: 'SPOT_RECLAIM', statusReason: 'Host EC2 (instance i-0abc123) terminated.' });

describe('attemptEnvironment', () => {
  it("adds GPUJOBS_JOB_ID and GPUJOBS_ATTEMPT after the job's own variables", () => {
    expect(attemptEnvironment({ environment: { EPOCHS: '10', LR: '0.1' } }, JOB_ID, 2)).toEqual([
      { Name: 'EPOCHS', Value: '10' },
      { Name: 'LR', Value: '0.1' },
      { Name: 'GPUJOBS_JOB_ID', Value: JOB_ID },
      { Name: 'GPUJOBS_ATTEMPT', Value: '2' },
    ]);
  });

  it('lets the platform values win over a job that sets them itself', () => {
    const environment = attemptEnvironment({ environment: { GPUJOBS_ATTEMPT: '99', GPUJOBS_JOB_ID: 'fake' } }, JOB_ID, 1);
    expect(environment).toEqual([
      { Name: 'GPUJOBS_JOB_ID', Value: JOB_ID },
      { Name: 'GPUJOBS_ATTEMPT', Value: '1' },
    ]);
  });
});

describe('planFirstAttempt', () => {
  it('starts a spot-first job on Spot as attempt 1', () => {
    expect(planFirstAttempt(aJobRecord({ status: 'QUEUED' }))).toEqual({
      next: 'spot',
      attempt: 1,
      jobName: `gpujobs-${JOB_ID}-1`,
      environment: [
        { Name: 'EPOCHS', Value: '10' },
        { Name: 'GPUJOBS_JOB_ID', Value: JOB_ID },
        { Name: 'GPUJOBS_ATTEMPT', Value: '1' },
      ],
      // Batch may retry a reclaimed host in place as often as the whole Spot budget allows.
      batchAttempts: 3,
    });
  });

  it('starts an on-demand job on On-Demand, with no retry by Batch', () => {
    expect(planFirstAttempt(aJobRecord({ status: 'QUEUED', capacity: 'on-demand' }))).toMatchObject({
      next: 'on-demand',
      attempt: 1,
      batchAttempts: 1,
    });
  });

  it.each(['SUCCEEDED', 'FAILED', 'CANCELLED'] as const)('skips a job that is already %s', (status) => {
    expect(planFirstAttempt(aJobRecord({ status }))).toEqual({ next: 'skip' });
  });

  it('finishes a job whose cancel arrived before the first attempt as CANCELLED', () => {
    expect(planFirstAttempt(aJobRecord({ status: 'PENDING', cancelRequested: true }))).toEqual({
      next: 'finish',
      outcome: { status: 'CANCELLED', statusReason: 'Cancelled by its owner', failureClass: 'CANCELLED' },
    });
  });
});

describe('planFirstAttempt for a job taken up again with settled attempts', () => {
  const interrupted = (n: number, capacity: Attempt['capacity']): Attempt =>
    anAttempt({
      attempt: n,
      capacity,
      failureClass: 'SPOT_RECLAIM',
      startedAt: '2026-11-01T10:00:00.000Z',
      statusReason: 'The local platform stopped while the attempt ran',
    });

  it('fails over to On-Demand when the interrupted Spot attempt was the whole Spot budget', () => {
    // GIVEN a spot-first job allowed one Spot attempt, interrupted on it
    const record = aJobRecord({ maxSpotAttempts: 1, attempts: [interrupted(1, 'spot')] });

    // WHEN prepare plans it again
    const plan = planFirstAttempt(record);

    // THEN attempt 2 runs On-Demand, once
    expect(plan).toMatchObject({ next: 'on-demand', attempt: 2, jobName: `gpujobs-${JOB_ID}-2`, batchAttempts: 1 });
  });

  it('gives Batch only the Spot budget the interrupted attempts left', () => {
    const record = aJobRecord({ maxSpotAttempts: 3, attempts: [reclaimed(1), interrupted(2, 'spot')] });
    expect(planFirstAttempt(record)).toMatchObject({ next: 'spot', attempt: 3, batchAttempts: 1 });
  });

  it('gives an On-Demand attempt that lost its host one more On-Demand attempt', () => {
    const record = aJobRecord({ capacity: 'on-demand', attempts: [interrupted(1, 'on-demand')] });
    expect(planFirstAttempt(record)).toMatchObject({ next: 'on-demand', attempt: 2, batchAttempts: 1 });
  });

  it('finishes FAILED with the usual final reason when the settled attempts used up the policy', () => {
    // GIVEN an on-demand job that lost its host on both On-Demand attempts it is allowed
    const lostHosts = Array.from({ length: ON_DEMAND_ATTEMPT_LIMIT }, (_, index) => interrupted(index + 1, 'on-demand'));
    const record = aJobRecord({ capacity: 'on-demand', attempts: lostHosts.reverse() });

    // WHEN
    const plan = planFirstAttempt(record);

    // THEN
    expect(plan).toEqual({
      next: 'finish',
      outcome: {
        status: 'FAILED',
        failureClass: 'SPOT_RECLAIM',
        statusReason: `On-Demand attempts failed for lack of capacity ${ON_DEMAND_ATTEMPT_LIMIT} times; giving up. Last: The instance running the attempt was reclaimed (The local platform stopped while the attempt ran)`,
      },
    });
  });

  it('finishes FAILED without another attempt when the last settled attempt failed on its own', () => {
    const record = aJobRecord({ attempts: [anAttempt({ attempt: 1, failureClass: 'APP_ERROR', exitCode: 2 })] });
    expect(planFirstAttempt(record)).toEqual({
      next: 'finish',
      outcome: { status: 'FAILED', failureClass: 'APP_ERROR', exitCode: 2, statusReason: 'The container exited with code 2' },
    });
  });

  it('finishes SUCCEEDED when the last attempt succeeded before the job was finished', () => {
    const record = aJobRecord({ attempts: [reclaimed(1), anAttempt({ attempt: 2, status: 'SUCCEEDED', exitCode: 0 })] });
    expect(planFirstAttempt(record)).toEqual({
      next: 'finish',
      outcome: { status: 'SUCCEEDED', statusReason: 'Completed on attempt 2 (Spot) after 1 Spot reclaim', exitCode: 0 },
    });
  });

  it('finishes CANCELLED when a cancel was requested before the interruption', () => {
    const record = aJobRecord({ cancelRequested: true, attempts: [interrupted(1, 'spot')] });
    expect(planFirstAttempt(record)).toEqual({
      next: 'finish',
      outcome: { status: 'CANCELLED', statusReason: 'Cancelled by its owner', failureClass: 'CANCELLED' },
    });
  });

  it('numbers the attempt after the settled ones, whatever open attempt was planned', () => {
    // GIVEN attempt 2 planned on Spot after a reclaim, never started
    const record = aJobRecord({ attempts: [reclaimed(1), anAttempt({ attempt: 2, status: 'PENDING' })] });

    // THEN prepare plans attempt 2 again (and reuses the planned one), not attempt 3
    expect(planFirstAttempt(record)).toMatchObject({ next: 'spot', attempt: 2, batchAttempts: 2 });
  });

  it('plans a job whose only attempt never started as a fresh one', () => {
    const record = aJobRecord({ attempts: [anAttempt({ attempt: 1, status: 'PENDING' })] });
    expect(planFirstAttempt(record)).toEqual(planFirstAttempt(aJobRecord()));
  });
});

describe('interruptedAttemptWrites', () => {
  const interruption = { stoppedAt: '2026-11-01T11:00:00.000Z', statusReason: 'The local platform stopped while the attempt ran' };

  it('settles a running attempt as an infrastructure failure, keeping what is known of it', () => {
    const running = anAttempt({
      attempt: 1,
      status: 'RUNNING',
      startedAt: '2026-11-01T10:00:00.000Z',
      batchJobId: 'b-1',
      instanceType: 'g5.xlarge',
    });
    expect(interruptedAttemptWrites(aJobRecord({ attempts: [running] }), interruption)).toEqual([
      {
        ...running,
        status: 'FAILED',
        failureClass: 'SPOT_RECLAIM',
        stoppedAt: interruption.stoppedAt,
        statusReason: interruption.statusReason,
      },
    ]);
  });

  it('settles an attempt that started though its status still says PENDING', () => {
    const started = anAttempt({ attempt: 1, status: 'PENDING', capacity: 'on-demand', startedAt: '2026-11-01T10:00:00.000Z' });
    expect(interruptedAttemptWrites(aJobRecord({ attempts: [started] }), interruption)).toMatchObject([
      { attempt: 1, capacity: 'on-demand', status: 'FAILED', failureClass: 'SPOT_RECLAIM' },
    ]);
  });

  it('settles it CANCELLED when the owner had asked to cancel the job', () => {
    const running = anAttempt({ attempt: 1, status: 'RUNNING', startedAt: '2026-11-01T10:00:00.000Z' });
    expect(interruptedAttemptWrites(aJobRecord({ cancelRequested: true, attempts: [running] }), interruption)).toMatchObject([
      { attempt: 1, status: 'CANCELLED', failureClass: 'CANCELLED' },
    ]);
  });

  it('leaves attempts that never started, and settled ones, as they are', () => {
    const attempts = [reclaimed(1), anAttempt({ attempt: 2, status: 'PENDING' })];
    expect(interruptedAttemptWrites(aJobRecord({ attempts }), interruption)).toEqual([]);
  });
});

describe('planAfterAttempt', () => {
  it('finishes SUCCEEDED with the exit code after a successful attempt', () => {
    const record = aJobRecord({
      status: 'RUNNING',
      attempts: [anAttempt({ attempt: 2, capacity: 'on-demand', status: 'SUCCEEDED' }), reclaimed(1)],
    });
    expect(planAfterAttempt(record, { succeeded: true, exitCode: 0 })).toEqual({
      next: 'finish',
      outcome: { status: 'SUCCEEDED', statusReason: 'Completed on attempt 2 (On-Demand) after 1 Spot reclaim', exitCode: 0 },
    });
  });

  it('names the attempt that completed without interruptions when there were none', () => {
    const record = aJobRecord({ status: 'RUNNING', attempts: [anAttempt({ attempt: 1, status: 'SUCCEEDED' })] });
    expect(planAfterAttempt(record, { succeeded: true, exitCode: 0 })).toMatchObject({
      outcome: { statusReason: 'Completed on attempt 1 (Spot)' },
    });
  });

  it('counts every reclaim and capacity wait before the attempt that completed', () => {
    const noCapacity = anAttempt({ attempt: 3, failureClass: 'NO_CAPACITY' });
    const record = aJobRecord({
      status: 'RUNNING',
      attempts: [reclaimed(1), reclaimed(2), noCapacity, anAttempt({ attempt: 4, capacity: 'on-demand', status: 'SUCCEEDED' })],
    });
    expect(planAfterAttempt(record, { succeeded: true, exitCode: 0 })).toMatchObject({
      outcome: { statusReason: 'Completed on attempt 4 (On-Demand) after 2 Spot reclaims and 1 wait for capacity that timed out' },
    });
  });

  it('plans attempt 2 on Spot after the first reclaim', () => {
    const record = aJobRecord({ status: 'RUNNING', attempts: [reclaimed(1)] });
    expect(planAfterAttempt(record, { succeeded: false, failureClass: 'SPOT_RECLAIM' })).toEqual({
      next: 'spot',
      attempt: 2,
      jobName: `gpujobs-${JOB_ID}-2`,
      environment: [
        { Name: 'EPOCHS', Value: '10' },
        { Name: 'GPUJOBS_JOB_ID', Value: JOB_ID },
        { Name: 'GPUJOBS_ATTEMPT', Value: '2' },
      ],
      batchAttempts: 2,
    });
  });

  it('numbers the next attempt after every attempt Batch ran in place, and gives Batch only the Spot budget left', () => {
    // GIVEN a submission as attempt 1 that Batch ran twice (attempts 1 and 2), both reclaimed, of a budget of 3
    const record = aJobRecord({ status: 'RUNNING', maxSpotAttempts: 3, attempts: [reclaimed(1), reclaimed(2)] });

    // WHEN the workflow plans what follows
    const plan = planAfterAttempt(record, { succeeded: false, failureClass: 'SPOT_RECLAIM' });

    // THEN the next submission is attempt 3, on Spot, and Batch may run it only once
    expect(plan).toMatchObject({ next: 'spot', attempt: 3, jobName: `gpujobs-${JOB_ID}-3`, batchAttempts: 1 });
  });

  it('fails over once in-place retries used up the Spot budget', () => {
    const record = aJobRecord({ status: 'RUNNING', maxSpotAttempts: 2, attempts: [reclaimed(1), reclaimed(2)] });
    expect(planAfterAttempt(record, { succeeded: false, failureClass: 'SPOT_RECLAIM' })).toMatchObject({
      next: 'on-demand',
      attempt: 3,
      batchAttempts: 1,
    });
  });

  it('fails over to On-Demand after the third reclaim of a spot-first job', () => {
    const record = aJobRecord({ attempts: [reclaimed(3), reclaimed(1), reclaimed(2)] });
    expect(planAfterAttempt(record, { succeeded: false, failureClass: 'SPOT_RECLAIM' })).toMatchObject({
      next: 'on-demand',
      attempt: 4,
      jobName: `gpujobs-${JOB_ID}-4`,
    });
  });

  it('fails a spot-only job after its third reclaim, saying why', () => {
    const record = aJobRecord({ capacity: 'spot-only', attempts: [reclaimed(1), reclaimed(2), reclaimed(3)] });
    expect(
      planAfterAttempt(record, {
        succeeded: false,
        failureClass: 'SPOT_RECLAIM',
        statusReason: 'Host EC2 (instance i-0abc123) terminated.',
      }),
    ).toEqual({
      next: 'finish',
      outcome: {
        status: 'FAILED',
        failureClass: 'SPOT_RECLAIM',
        statusReason: 'Spot capacity was reclaimed 3 times and spot-only allows no On-Demand attempt',
      },
    });
  });

  it("fails a spot-only job that found no Spot capacity, with Batch's reason", () => {
    const reason = 'Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY';
    const record = aJobRecord({ capacity: 'spot-only', attempts: [anAttempt({ attempt: 1, failureClass: 'NO_CAPACITY' })] });
    const plan = planAfterAttempt(record, { succeeded: false, failureClass: 'NO_CAPACITY', statusReason: reason });
    expect(plan).toEqual({
      next: 'finish',
      outcome: {
        status: 'FAILED',
        failureClass: 'NO_CAPACITY',
        statusReason: `No Spot capacity was available and spot-only allows no On-Demand attempt (${reason})`,
      },
    });
  });

  it('goes to On-Demand at once when a spot-first job found no Spot capacity', () => {
    const record = aJobRecord({ attempts: [anAttempt({ attempt: 1 })] });
    expect(planAfterAttempt(record, { succeeded: false, failureClass: 'NO_CAPACITY' })).toMatchObject({ next: 'on-demand', attempt: 2 });
  });

  it('gives up after the On-Demand limit, naming the count', () => {
    const onDemand = Array.from({ length: ON_DEMAND_ATTEMPT_LIMIT }, (_, i) => reclaimed(4 + i, 'on-demand'));
    const record = aJobRecord({ attempts: [reclaimed(1), reclaimed(2), reclaimed(3), ...onDemand] });
    const plan = planAfterAttempt(record, { succeeded: false, failureClass: 'SPOT_RECLAIM' });
    expect(plan).toMatchObject({ next: 'finish', outcome: { status: 'FAILED', failureClass: 'SPOT_RECLAIM' } });
    if (plan.next === 'finish') expect(plan.outcome.statusReason).toMatch(/On-Demand attempts failed for lack of capacity 2 times/);
  });

  it('fails an application error at once, with exit code and reason, without failover', () => {
    const record = aJobRecord({ attempts: [anAttempt({ attempt: 1 })] });
    expect(
      planAfterAttempt(record, {
        succeeded: false,
        failureClass: 'APP_ERROR',
        exitCode: 1,
        statusReason: 'Essential container in task exited',
      }),
    ).toEqual({
      next: 'finish',
      outcome: {
        status: 'FAILED',
        failureClass: 'APP_ERROR',
        exitCode: 1,
        statusReason: 'The container exited with code 1 (Essential container in task exited)',
      },
    });
  });

  it.each(['MISCONFIGURATION', 'TIMEOUT'] as const)('fails %s at once', (failureClass) => {
    const record = aJobRecord({ attempts: [anAttempt({ attempt: 1 })] });
    expect(planAfterAttempt(record, { succeeded: false, failureClass })).toMatchObject({
      next: 'finish',
      outcome: { status: 'FAILED', failureClass },
    });
  });

  it('treats a failure without a class as APP_ERROR (no On-Demand spend on the unknown)', () => {
    const record = aJobRecord({ attempts: [anAttempt({ attempt: 1 })] });
    expect(planAfterAttempt(record, { succeeded: false })).toMatchObject({ next: 'finish', outcome: { failureClass: 'APP_ERROR' } });
  });

  it('finishes CANCELLED when the owner asked to cancel, whatever Batch reported', () => {
    const record = aJobRecord({ cancelRequested: true, attempts: [reclaimed(1)] });
    expect(planAfterAttempt(record, { succeeded: false, failureClass: 'SPOT_RECLAIM' })).toEqual({
      next: 'finish',
      outcome: { status: 'CANCELLED', statusReason: 'Cancelled by its owner', failureClass: 'CANCELLED' },
    });
  });

  it('skips when the job already became terminal (a cancel won)', () => {
    const record = aJobRecord({ status: 'CANCELLED', attempts: [reclaimed(1)] });
    expect(planAfterAttempt(record, { succeeded: false, failureClass: 'SPOT_RECLAIM' })).toEqual({ next: 'skip' });
  });

  it('uses the settled class over a stale one on the record', () => {
    const record = aJobRecord({ attempts: [anAttempt({ attempt: 1, failureClass: 'APP_ERROR' })] });
    expect(planAfterAttempt(record, { succeeded: false, failureClass: 'SPOT_RECLAIM' })).toMatchObject({ next: 'spot', attempt: 2 });
  });
});
