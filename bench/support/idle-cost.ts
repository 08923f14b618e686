/**
 * What a deployment costs a month with no jobs, itemized from the template's resources: what
 * bills by the hour or month (NAT gateways, public IPv4, interface endpoints, dashboards, alarms,
 * keys, secrets), what runs on a schedule, and the event source's polling of an empty queue.
 * Per-use services are listed at $0 so the reader sees they were considered. No I/O.
 */
import { HOURS_PER_MONTH, type PriceBook } from './cost-model.js';
import { referencedLogicalIds, resourcesOfType } from './stack-settings.js';
import type { SynthesizedTemplate } from './template.js';
import { LAMBDA_PLATFORM_LOG_BYTES } from './usage-model.js';

export interface IdleItem {
  readonly item: string;
  readonly priceKey?: string;
  readonly quantity: number;
  readonly usd: number;
  readonly basis: string;
  /** Units of this item the always-free tier covers. */
  readonly freeQuantity?: number;
}

/** Assumed billed duration of a scheduled run with nothing to do (the watchdog: a few list calls). */
export const IDLE_SCHEDULED_RUN_BILLED_MS = 100;
/** Lambda's SQS event source long-polls with this many pollers while the queue is empty (20 s waits). */
export const IDLE_SQS_POLLERS = 5;
/** Long polls a poller makes an hour: one 20 s wait after another. */
const LONG_POLLS_PER_HOUR = 3 * 60;

export function idleMonthlyCost(template: SynthesizedTemplate, book: PriceBook): IdleItem[] {
  const price = (key: string) => book.prices[key]?.usd ?? 0;
  const free = (key: string) => Number((book as unknown as { freeTier?: Record<string, unknown> }).freeTier?.[key] ?? 0);
  const count = (type: string) => resourcesOfType(template, type).length;
  const hourly = (key: string, units: number) => units * HOURS_PER_MONTH * price(key);
  const items: IdleItem[] = [];
  /** A line billed per unit a month (`usd` = quantity × the unit price), with its free tier when it has one. */
  const perUnit = (item: string, priceKey: string, quantity: number, basis: string, freeTier = false) =>
    items.push({ item, priceKey, quantity, usd: quantity * price(priceKey), basis, ...(freeTier ? { freeQuantity: free(priceKey) } : {}) });

  const nat = count('AWS::EC2::NatGateway');
  items.push({
    item: 'NAT gateways',
    priceKey: 'vpc.natGatewayHour',
    quantity: nat,
    usd: hourly('vpc.natGatewayHour', nat),
    basis: `${nat} in the template`,
  });
  const eips = count('AWS::EC2::EIP');
  items.push({
    item: 'Elastic IPs (public IPv4 while idle)',
    priceKey: 'vpc.publicIpv4AddressHour',
    quantity: eips,
    usd: hourly('vpc.publicIpv4AddressHour', eips),
    basis: `${eips} in the template`,
  });
  const endpoints = resourcesOfType(template, 'AWS::EC2::VPCEndpoint').filter(([, r]) => r.Properties?.VpcEndpointType === 'Interface');
  // An interface endpoint bills per Availability Zone it is placed in: one per subnet.
  const endpointAzHours = endpoints.reduce(
    (sum, [, r]) => sum + Math.max(1, (r.Properties?.SubnetIds as unknown[] | undefined)?.length ?? 1),
    0,
  );
  items.push({
    item: 'Interface VPC endpoints',
    priceKey: 'vpc.interfaceEndpointHour',
    quantity: endpoints.length,
    usd: hourly('vpc.interfaceEndpointHour', endpointAzHours),
    basis: `${endpoints.length} in the template`,
  });

  const computeEnvironments = resourcesOfType(template, 'AWS::Batch::ComputeEnvironment');
  const minVcpus = computeEnvironments.map(([, r]) =>
    Number((r.Properties?.ComputeResources as { MinvCpus?: unknown } | undefined)?.MinvCpus ?? 0),
  );
  const idleInstances = minVcpus.every((v) => v === 0) ? 'no instance runs while idle' : 'INSTANCES RUN WHILE IDLE (not priced here)';
  items.push({
    item: 'Batch compute environments',
    quantity: computeEnvironments.length,
    usd: 0,
    basis: `min vCPUs ${minVcpus.join(', ') || 'none'}: ${idleInstances}`,
  });
  const tables = resourcesOfType(template, 'AWS::DynamoDB::Table');
  const onDemand = tables.every(([, r]) => r.Properties?.BillingMode === 'PAY_PER_REQUEST');
  items.push({
    item: 'DynamoDB tables',
    quantity: tables.length,
    usd: 0,
    basis: `${onDemand ? 'on-demand: no charge without requests' : 'PROVISIONED capacity bills while idle (not priced here)'}; storage and PITR of an empty table ≈ $0`,
  });

  const dashboards = count('AWS::CloudWatch::Dashboard');
  perUnit('CloudWatch dashboards', 'cloudwatch.dashboardMonth', dashboards, `${dashboards} in the template`, true);
  // A metric-math alarm bills per metric it reads.
  const alarmMetrics = resourcesOfType(template, 'AWS::CloudWatch::Alarm').reduce((sum, [, r]) => {
    const metrics = r.Properties?.Metrics as { MetricStat?: unknown }[] | undefined;
    return sum + (Array.isArray(metrics) ? Math.max(1, metrics.filter((m) => m.MetricStat).length) : 1);
  }, 0);
  perUnit(
    'CloudWatch alarm metrics',
    'cloudwatch.standardAlarmMetricMonth',
    alarmMetrics,
    `${count('AWS::CloudWatch::Alarm')} alarms, ${alarmMetrics} metrics`,
    true,
  );
  const keys = count('AWS::KMS::Key');
  perUnit('KMS customer managed keys', 'kms.customerManagedKeyMonth', keys, `${keys} in the template`);
  const secrets = count('AWS::SecretsManager::Secret');
  perUnit('Secrets Manager secrets', 'secretsManager.secretMonth', secrets, `${secrets} in the template`);

  const sqsMappings = resourcesOfType(template, 'AWS::Lambda::EventSourceMapping').filter(([, r]) =>
    [...referencedLogicalIds(r.Properties?.EventSourceArn)].some((id) => template.Resources[id]?.Type === 'AWS::SQS::Queue'),
  ).length;
  const pollRequests = sqsMappings * IDLE_SQS_POLLERS * LONG_POLLS_PER_HOUR * HOURS_PER_MONTH;
  perUnit(
    'SQS requests from the event source polling an empty queue',
    'sqs.standardRequest',
    pollRequests,
    `${sqsMappings} SQS event source(s) × ${IDLE_SQS_POLLERS} pollers (assumed) × one 20 s long poll each`,
    true,
  );

  // A schedule runs its function while nothing else does: the invocations, the runs and their platform log lines.
  for (const [scheduleId, schedule] of resourcesOfType(template, 'AWS::Scheduler::Schedule')) {
    const rate = /^rate\((\d+) minutes?\)$/.exec(String(schedule.Properties?.ScheduleExpression ?? ''));
    if (!rate) {
      items.push({
        item: `Schedule ${scheduleId}`,
        quantity: 0,
        usd: 0,
        basis: `NOT PRICED: expression ${JSON.stringify(schedule.Properties?.ScheduleExpression)} is not a rate in minutes`,
      });
      continue;
    }
    const runs = (60 / Number(rate[1])) * HOURS_PER_MONTH;
    const target = [...referencedLogicalIds((schedule.Properties?.Target as { Arn?: unknown } | undefined)?.Arn)].find(
      (id) => template.Resources[id]?.Type === 'AWS::Lambda::Function',
    );
    const memoryMiB = Number(template.Resources[target ?? '']?.Properties?.MemorySize ?? 128);
    const gbSeconds = runs * (IDLE_SCHEDULED_RUN_BILLED_MS / 1000) * (memoryMiB / 1024);
    const logGb = (runs * LAMBDA_PLATFORM_LOG_BYTES) / 1e9;
    items.push(
      {
        item: `EventBridge Scheduler invocations (${scheduleId})`,
        priceKey: 'scheduler.invocation',
        quantity: runs,
        usd: runs * price('scheduler.invocation'),
        basis: `one every ${rate[1]} min, ${HOURS_PER_MONTH} h a month`,
        freeQuantity: free('scheduler.invocation'),
      },
      {
        item: `Lambda requests of the scheduled runs (${target ?? 'unknown target'})`,
        priceKey: 'lambda.armRequest',
        quantity: runs,
        usd: runs * price('lambda.armRequest'),
        basis: 'one per invocation',
        freeQuantity: free('lambda.armRequest'),
      },
      {
        item: 'Lambda compute of the scheduled runs (GB-s)',
        priceKey: 'lambda.armGbSecond',
        quantity: gbSeconds,
        usd: gbSeconds * price('lambda.armGbSecond'),
        basis: `${memoryMiB} MiB from the template × ${IDLE_SCHEDULED_RUN_BILLED_MS} ms billed (assumed: an idle run's list calls)`,
        freeQuantity: free('lambda.armGbSecond'),
      },
      {
        item: 'CloudWatch Logs ingestion of the scheduled runs (GB)',
        priceKey: 'cloudwatchLogs.ingestionGb',
        quantity: logGb,
        usd: logGb * price('cloudwatchLogs.ingestionGb'),
        basis: `Lambda platform lines ${LAMBDA_PLATFORM_LOG_BYTES} B a run; an idle run logs nothing itself`,
        freeQuantity: free('cloudwatchLogs.ingestionGb'),
      },
    );
  }
  items.push({
    item: 'Lambda, Step Functions, API Gateway, EventBridge, SNS, CloudWatch Logs',
    quantity: 0,
    usd: 0,
    basis: 'billed per use: $0 while idle, the scheduled runs above aside (log storage of past logs aside)',
  });
  return items;
}

/** The month's total at list prices, and what remains of it once the always-free tiers are deducted. */
export function idleTotals(items: readonly IdleItem[]): { readonly totalUsd: number; readonly beyondFreeTierUsd: number } {
  const totalUsd = items.reduce((sum, item) => sum + item.usd, 0);
  const beyondFreeTierUsd = items.reduce((sum, item) => {
    if (item.freeQuantity === undefined || item.quantity === 0) return sum + item.usd;
    return sum + item.usd * (Math.max(0, item.quantity - item.freeQuantity) / item.quantity);
  }, 0);
  return { totalUsd, beyondFreeTierUsd };
}
