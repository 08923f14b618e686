import { describe, expect, it } from 'vitest';
import {
  batchAttemptsFor,
  ON_DEMAND_ATTEMPT_LIMIT,
  planNextCapacity,
  remainingSpotAttempts,
  type CapacityHistoryEntry,
} from '../../core/capacity.js';
import { FAILURE_CLASSES } from '../../core/job.js';

const reclaimedSpot = (count: number): CapacityHistoryEntry[] =>
  Array.from({ length: count }, () => ({ capacity: 'spot', failureClass: 'SPOT_RECLAIM' }));

describe('planNextCapacity', () => {
  it.each([
    ['spot-first', 'spot'],
    ['spot-only', 'spot'],
    ['on-demand', 'on-demand'],
  ] as const)('starts a %s job on %s', (policy, expected) => {
    expect(planNextCapacity({ policy, maxSpotAttempts: 3, attempts: [] })).toBe(expected);
  });

  it('retries on Spot after a reclaim while the Spot budget lasts', () => {
    expect(planNextCapacity({ policy: 'spot-first', maxSpotAttempts: 3, attempts: reclaimedSpot(1) })).toBe('spot');
    expect(planNextCapacity({ policy: 'spot-first', maxSpotAttempts: 3, attempts: reclaimedSpot(2) })).toBe('spot');
  });

  it('fails over to On-Demand when a spot-first job has used its Spot attempts', () => {
    expect(planNextCapacity({ policy: 'spot-first', maxSpotAttempts: 3, attempts: reclaimedSpot(3) })).toBe('on-demand');
  });

  it('gives up when a spot-only job has used its Spot attempts', () => {
    expect(planNextCapacity({ policy: 'spot-only', maxSpotAttempts: 3, attempts: reclaimedSpot(3) })).toBe('none');
  });

  it('with maxSpotAttempts 1, fails over after the first reclaim', () => {
    expect(planNextCapacity({ policy: 'spot-first', maxSpotAttempts: 1, attempts: reclaimedSpot(1) })).toBe('on-demand');
  });

  it('goes to On-Demand at once when Spot has no capacity (spot-first)', () => {
    const attempts: CapacityHistoryEntry[] = [{ capacity: 'spot', failureClass: 'NO_CAPACITY' }];
    expect(planNextCapacity({ policy: 'spot-first', maxSpotAttempts: 3, attempts })).toBe('on-demand');
  });

  it('gives up when Spot has no capacity (spot-only)', () => {
    const attempts: CapacityHistoryEntry[] = [{ capacity: 'spot', failureClass: 'NO_CAPACITY' }];
    expect(planNextCapacity({ policy: 'spot-only', maxSpotAttempts: 3, attempts })).toBe('none');
  });

  it('counts only Spot attempts against the Spot budget', () => {
    const attempts: CapacityHistoryEntry[] = [
      { capacity: 'spot', failureClass: 'NO_CAPACITY' },
      { capacity: 'spot', failureClass: 'SPOT_RECLAIM' },
    ];
    expect(planNextCapacity({ policy: 'spot-first', maxSpotAttempts: 3, attempts })).toBe('spot');
  });

  it.each(['SPOT_RECLAIM', 'NO_CAPACITY'] as const)(
    'retries On-Demand after %s on On-Demand, up to the On-Demand limit',
    (failureClass) => {
      const once: CapacityHistoryEntry[] = [...reclaimedSpot(3), { capacity: 'on-demand', failureClass }];
      expect(planNextCapacity({ policy: 'spot-first', maxSpotAttempts: 3, attempts: once })).toBe('on-demand');
      const limit: CapacityHistoryEntry[] = [
        ...reclaimedSpot(3),
        ...Array.from({ length: ON_DEMAND_ATTEMPT_LIMIT }, () => ({ capacity: 'on-demand' as const, failureClass })),
      ];
      expect(planNextCapacity({ policy: 'spot-first', maxSpotAttempts: 3, attempts: limit })).toBe('none');
    },
  );

  it('keeps an on-demand job on On-Demand within the same limit', () => {
    const attempts: CapacityHistoryEntry[] = [{ capacity: 'on-demand', failureClass: 'SPOT_RECLAIM' }];
    expect(planNextCapacity({ policy: 'on-demand', maxSpotAttempts: 3, attempts })).toBe('on-demand');
  });

  it.each(FAILURE_CLASSES.filter((failureClass) => failureClass !== 'SPOT_RECLAIM' && failureClass !== 'NO_CAPACITY'))(
    'stops after %s, on any capacity and policy',
    (failureClass) => {
      for (const policy of ['spot-first', 'spot-only', 'on-demand'] as const) {
        for (const capacity of ['spot', 'on-demand'] as const) {
          expect(planNextCapacity({ policy, maxSpotAttempts: 10, attempts: [{ capacity, failureClass }] })).toBe('none');
        }
      }
    },
  );

  it('stops after an attempt that ended without a failure class (it succeeded)', () => {
    expect(planNextCapacity({ policy: 'spot-first', maxSpotAttempts: 3, attempts: [{ capacity: 'spot' }] })).toBe('none');
  });

  it('never plans more than maxSpotAttempts + the On-Demand limit attempts in total', () => {
    for (const policy of ['spot-first', 'spot-only', 'on-demand'] as const) {
      for (let maxSpotAttempts = 1; maxSpotAttempts <= 10; maxSpotAttempts++) {
        const attempts: CapacityHistoryEntry[] = [];
        let next = planNextCapacity({ policy, maxSpotAttempts, attempts });
        while (next !== 'none' && attempts.length < 100) {
          attempts.push({ capacity: next, failureClass: 'SPOT_RECLAIM' });
          next = planNextCapacity({ policy, maxSpotAttempts, attempts });
        }
        const spot = attempts.filter((attempt) => attempt.capacity === 'spot').length;
        const onDemand = attempts.length - spot;
        expect(spot).toBe(policy === 'on-demand' ? 0 : maxSpotAttempts);
        expect(onDemand).toBe(policy === 'spot-only' ? 0 : ON_DEMAND_ATTEMPT_LIMIT);
      }
    }
  });
});

describe('in-place attempts (Batch retrying a reclaimed host inside one submission)', () => {
  it('count against the Spot budget like any other Spot attempt', () => {
    // GIVEN one submission that Batch ran twice on Spot, both runs reclaimed, of a budget of 2
    const attempts = reclaimedSpot(2);

    // THEN nothing is left on Spot, and the job fails over
    expect(remainingSpotAttempts(2, attempts)).toBe(0);
    expect(planNextCapacity({ policy: 'spot-first', maxSpotAttempts: 2, attempts })).toBe('on-demand');
  });

  it('are bounded by the budget left: Batch gets the remaining Spot attempts as its retry attempts', () => {
    expect(batchAttemptsFor('spot', { maxSpotAttempts: 3, attempts: [] })).toBe(3);
    expect(batchAttemptsFor('spot', { maxSpotAttempts: 3, attempts: reclaimedSpot(2) })).toBe(1);
  });

  it('are never asked of Batch beyond its own limit of 10', () => {
    expect(batchAttemptsFor('spot', { maxSpotAttempts: 25, attempts: [] })).toBe(10);
  });

  it('are not allowed On-Demand: an On-Demand submission is one attempt', () => {
    expect(batchAttemptsFor('on-demand', { maxSpotAttempts: 3, attempts: [] })).toBe(1);
    expect(batchAttemptsFor('on-demand', { maxSpotAttempts: 3, attempts: reclaimedSpot(3) })).toBe(1);
  });

  it('ignore On-Demand attempts when counting what is left of the Spot budget', () => {
    const attempts: CapacityHistoryEntry[] = [...reclaimedSpot(1), { capacity: 'on-demand', failureClass: 'SPOT_RECLAIM' }];
    expect(remainingSpotAttempts(3, attempts)).toBe(2);
  });
});
