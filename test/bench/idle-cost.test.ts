import { describe, expect, it } from 'vitest';
import { HOURS_PER_MONTH, type PriceBook } from '../../bench/support/cost-model.js';
import { idleMonthlyCost, idleTotals, IDLE_SQS_POLLERS, type IdleItem } from '../../bench/support/idle-cost.js';
import type { SynthesizedTemplate } from '../../bench/support/template.js';

const price = (usd: number) => ({ usd, unit: 'u', source: 'test' });
const book = {
  region: 'us-east-1',
  currency: 'USD',
  asOf: '2026-06',
  note: 'test',
  prices: {
    'vpc.natGatewayHour': price(0.045),
    'sqs.standardRequest': price(0.0000004),
    'scheduler.invocation': price(0.000001),
    'lambda.armRequest': price(0.0000002),
    'lambda.armGbSecond': price(0.0000133334),
    'cloudwatchLogs.ingestionGb': price(0.5),
  },
  freeTier: { 'sqs.standardRequest': 1_000_000 },
} as PriceBook;

const itemNamed = (items: readonly IdleItem[], prefix: string) => items.find((item) => item.item.startsWith(prefix));

describe('idleMonthlyCost', () => {
  it('prices a NAT gateway for every hour of the month', () => {
    const template: SynthesizedTemplate = { Resources: { Nat: { Type: 'AWS::EC2::NatGateway' } } };
    expect(itemNamed(idleMonthlyCost(template, book), 'NAT gateways')).toMatchObject({ quantity: 1, usd: HOURS_PER_MONTH * 0.045 });
  });

  it('counts the long polls of an SQS event source on an empty queue, with the free tier alongside', () => {
    const template: SynthesizedTemplate = {
      Resources: {
        Queue: { Type: 'AWS::SQS::Queue' },
        Mapping: { Type: 'AWS::Lambda::EventSourceMapping', Properties: { EventSourceArn: { 'Fn::GetAtt': ['Queue', 'Arn'] } } },
      },
    };
    const polling = itemNamed(idleMonthlyCost(template, book), 'SQS requests');
    expect(polling).toMatchObject({ quantity: IDLE_SQS_POLLERS * 180 * HOURS_PER_MONTH, freeQuantity: 1_000_000 });
  });

  it('prices a rate schedule: its invocations, the Lambda runs and their platform log lines', () => {
    const template: SynthesizedTemplate = {
      Resources: {
        Watchdog: { Type: 'AWS::Lambda::Function', Properties: { MemorySize: 256 } },
        Every5: {
          Type: 'AWS::Scheduler::Schedule',
          Properties: { ScheduleExpression: 'rate(5 minutes)', Target: { Arn: { 'Fn::GetAtt': ['Watchdog', 'Arn'] } } },
        },
      },
    };
    const items = idleMonthlyCost(template, book);
    const runs = 12 * HOURS_PER_MONTH;
    expect(itemNamed(items, 'EventBridge Scheduler invocations (Every5)')?.quantity).toBe(runs);
    expect(itemNamed(items, 'Lambda requests of the scheduled runs (Watchdog)')?.quantity).toBe(runs);
    expect(itemNamed(items, 'Lambda compute of the scheduled runs')?.quantity).toBeCloseTo(runs * 0.1 * 0.25, 9);
  });

  it('says so instead of guessing when a schedule is not a rate in minutes', () => {
    const template: SynthesizedTemplate = {
      Resources: { Nightly: { Type: 'AWS::Scheduler::Schedule', Properties: { ScheduleExpression: 'cron(0 3 * * ? *)' } } },
    };
    expect(itemNamed(idleMonthlyCost(template, book), 'Schedule Nightly')).toMatchObject({
      usd: 0,
      basis: expect.stringContaining('NOT PRICED'),
    });
  });

  it('flags compute environments that keep instances running', () => {
    const template: SynthesizedTemplate = {
      Resources: { Ce: { Type: 'AWS::Batch::ComputeEnvironment', Properties: { ComputeResources: { MinvCpus: 4 } } } },
    };
    expect(itemNamed(idleMonthlyCost(template, book), 'Batch compute environments')?.basis).toContain('INSTANCES RUN WHILE IDLE');
  });
});

describe('idleTotals', () => {
  it('adds the items up, and deducts the free share of each item that has a free tier', () => {
    const items: IdleItem[] = [
      { item: 'a', quantity: 1, usd: 2, basis: '' },
      { item: 'b', quantity: 4, usd: 8, basis: '', freeQuantity: 3 },
      { item: 'c', quantity: 2, usd: 1, basis: '', freeQuantity: 5 },
    ];
    expect(idleTotals(items)).toEqual({ totalUsd: 11, beyondFreeTierUsd: 4 });
  });
});
