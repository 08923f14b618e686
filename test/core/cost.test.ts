import { describe, expect, it } from 'vitest';
import { attemptCostUsd, isLocalInstanceType, jobCostUsd, lostToReclaimsUsd } from '../../core/cost.js';
import { ON_DEMAND_PRICES, SPOT_PRICE_ESTIMATE_FRACTION } from '../../core/prices.js';

const start = '2026-11-01T10:00:00.000Z';
const plus = (seconds: number) => new Date(Date.parse(start) + seconds * 1000).toISOString();

describe('the price table', () => {
  it('covers every default GPU instance type with a positive hourly price', () => {
    const expected = [
      'g4dn.xlarge',
      'g4dn.2xlarge',
      'g4dn.4xlarge',
      'g4dn.8xlarge',
      'g4dn.12xlarge',
      'g5.xlarge',
      'g5.2xlarge',
      'g5.4xlarge',
      'g5.8xlarge',
      'g5.12xlarge',
      'g5.48xlarge',
      'g6.xlarge',
      'g6.2xlarge',
      'g6.4xlarge',
      'g6.8xlarge',
      'g6.12xlarge',
    ];
    expect(Object.keys(ON_DEMAND_PRICES.usdPerHour).sort()).toEqual([...expected].sort());
    for (const price of Object.values(ON_DEMAND_PRICES.usdPerHour)) expect(price).toBeGreaterThan(0);
  });

  it('states its region, date and source', () => {
    expect(ON_DEMAND_PRICES).toMatchObject({
      region: 'us-east-1',
      operatingSystem: 'Linux',
      asOf: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
    });
    expect(ON_DEMAND_PRICES.source).toMatch(/^https:\/\/aws\.amazon\.com\/ec2\/pricing\/on-demand/);
  });

  it('prices a bigger size of a family higher than a smaller one', () => {
    const p = ON_DEMAND_PRICES.usdPerHour;
    expect(p['g5.xlarge']!).toBeLessThan(p['g5.2xlarge']!);
    expect(p['g5.12xlarge']!).toBeLessThan(p['g5.48xlarge']!);
    expect(p['g4dn.xlarge']!).toBeLessThan(p['g4dn.12xlarge']!);
  });
});

describe('attemptCostUsd', () => {
  it('bills an On-Demand hour at the list price', () => {
    expect(attemptCostUsd({ instanceType: 'g5.xlarge', capacity: 'on-demand', startedAt: start, stoppedAt: plus(3600) })).toEqual({
      costUsd: 1.006,
      estimated: false,
      billedSeconds: 3600,
      usdPerHour: 1.006,
    });
  });

  it('bills per second', () => {
    const cost = attemptCostUsd({ instanceType: 'g4dn.xlarge', capacity: 'on-demand', startedAt: start, stoppedAt: plus(90) });
    expect(cost?.billedSeconds).toBe(90);
    expect(cost?.costUsd).toBeCloseTo((0.526 * 90) / 3600, 6);
  });

  it('rounds a partial second up', () => {
    const cost = attemptCostUsd({
      instanceType: 'g4dn.xlarge',
      capacity: 'on-demand',
      startedAt: start,
      stoppedAt: '2026-11-01T10:01:30.200Z',
    });
    expect(cost?.billedSeconds).toBe(91);
  });

  it('bills at least 60 seconds', () => {
    const cost = attemptCostUsd({ instanceType: 'g6.xlarge', capacity: 'on-demand', startedAt: start, stoppedAt: plus(5) });
    expect(cost?.billedSeconds).toBe(60);
    expect(cost?.costUsd).toBeCloseTo(0.8048 / 60, 6);
  });

  it('uses the known Spot price, not estimated', () => {
    expect(
      attemptCostUsd({ instanceType: 'g5.xlarge', capacity: 'spot', startedAt: start, stoppedAt: plus(1800), spotPriceUsdPerHour: 0.4 }),
    ).toEqual({
      costUsd: 0.2,
      estimated: false,
      billedSeconds: 1800,
      usdPerHour: 0.4,
    });
  });

  it('estimates an unknown Spot price as a fraction of On-Demand and says so', () => {
    const cost = attemptCostUsd({ instanceType: 'g5.xlarge', capacity: 'spot', startedAt: start, stoppedAt: plus(3600) });
    expect(cost?.estimated).toBe(true);
    expect(cost?.usdPerHour).toBeCloseTo(1.006 * SPOT_PRICE_ESTIMATE_FRACTION, 9);
  });

  it('costs undefined (not 0) for an instance type missing from the table', () => {
    expect(attemptCostUsd({ instanceType: 'p5.48xlarge', capacity: 'on-demand', startedAt: start, stoppedAt: plus(60) })).toBeUndefined();
    expect(attemptCostUsd({ instanceType: 'p5.48xlarge', capacity: 'spot', startedAt: start, stoppedAt: plus(60) })).toBeUndefined();
  });

  it('costs undefined when the instance type is not known yet', () => {
    expect(attemptCostUsd({ capacity: 'spot', startedAt: start, stoppedAt: plus(60) })).toBeUndefined();
  });

  it('costs 0 in local mode', () => {
    expect(attemptCostUsd({ instanceType: 'local', capacity: 'spot', startedAt: start, stoppedAt: plus(3600) })).toMatchObject({
      costUsd: 0,
      estimated: false,
    });
    expect(attemptCostUsd({ instanceType: 'local-gpu', capacity: 'on-demand', startedAt: start, stoppedAt: plus(3600) })?.costUsd).toBe(0);
  });

  it('costs 0 for an attempt whose container never started', () => {
    expect(attemptCostUsd({ capacity: 'spot' })).toMatchObject({ costUsd: 0, billedSeconds: 0 });
  });

  it('prices a running attempt up to now, or not at all without now', () => {
    expect(attemptCostUsd({ instanceType: 'g5.xlarge', capacity: 'on-demand', startedAt: start })).toBeUndefined();
    expect(attemptCostUsd({ instanceType: 'g5.xlarge', capacity: 'on-demand', startedAt: start, now: plus(7200) })?.costUsd).toBeCloseTo(
      2.012,
      6,
    );
  });
});

describe('isLocalInstanceType', () => {
  it.each([
    ['local', true],
    ['local-gpu', true],
    ['local.cpu', true],
    ['localhost', false],
    ['g5.xlarge', false],
  ] as const)('%s → %s', (type, expected) => {
    expect(isLocalInstanceType(type)).toBe(expected);
  });
});

describe('job totals', () => {
  const attempts = [
    { costUsd: 0.1, failureClass: 'SPOT_RECLAIM' as const },
    { costUsd: 0.2, failureClass: 'SPOT_RECLAIM' as const },
    { failureClass: 'NO_CAPACITY' as const },
    { costUsd: 1.5 },
  ];

  it('sums the known attempt costs', () => {
    expect(jobCostUsd(attempts)).toBe(1.8);
  });

  it('counts what reclaimed attempts cost as lost', () => {
    expect(lostToReclaimsUsd(attempts)).toBe(0.3);
  });

  it('is 0 for a job without attempts', () => {
    expect(jobCostUsd([])).toBe(0);
    expect(lostToReclaimsUsd([])).toBe(0);
  });
});
