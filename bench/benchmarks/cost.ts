/**
 * Control-plane cost per job, priced with the published us-east-1 prices in bench/prices.json.
 *
 * - State transitions: the workflow definition the stack deploys (jobWorkflowAsl), executed
 *   with aws-local-stepfunctions with stubbed task results, for a happy-path job and for a job
 *   whose Spot attempt is reclaimed and which fails over to On-Demand (bench/support/workflow-path.ts).
 * - DynamoDB, SQS and EventBridge calls: MEASURED, by counting the SDK calls the real handlers
 *   make in local mode for the same two paths, jobs submitted over HTTP one at a time
 *   (bench/support/sdk-calls.ts).
 * - Lambda invocations from the paths (memory from the template, billed durations assumed and
 *   stated), API requests, X-Ray traces and CloudWatch Logs bytes (handler log bytes measured at
 *   INFO, Lambda platform and Step Functions log lines estimated): bench/support/usage-model.ts.
 * - Idle monthly cost, itemized from the template's resources (bench/support/idle-cost.ts).
 *
 * This file runs the measurements and reports them.
 */
import { join } from 'node:path';
import { STATE } from '../../core/contract/workflow.js';
import { loadPriceBook, priceUsage } from '../support/cost-model.js';
import { idleMonthlyCost, idleTotals, IDLE_SQS_POLLERS } from '../support/idle-cost.js';
import { startBenchPlatform } from '../support/local-platform.js';
import { HandlerLogMeter } from '../support/log-meter.js';
import { BENCH_DIR, figure } from '../support/report.js';
import { countByCommand } from '../support/sdk-call-counter.js';
import { handlerCallCounter, measurePath, type MeasuredPath } from '../support/sdk-calls.js';
import { benchWorkflow, resourcesOfType, stackFunctions, workflowTaskFunctions } from '../support/stack-settings.js';
import { loadTemplate } from '../support/template.js';
import {
  ASSUMED_BILLED_MS,
  BATCH_EVENT_STATUSES_PER_ATTEMPT,
  dynamoUsage,
  EVENT_SOURCE_REQUESTS_PER_JOB,
  LAMBDA_PLATFORM_LOG_BYTES,
  perJobCount,
  perJobUsage,
  SFN_LOG_EVENT_BYTES,
} from '../support/usage-model.js';
import { countTransitions } from '../support/workflow-path.js';
import type { Benchmark, BenchmarkContext } from './types.js';

const GOAL_USD_PER_1000_JOBS = 0.1;
/** An idle deployment should cost about nothing; read here as at most $1 a month at list prices. */
const IDLE_GOAL_USD_PER_MONTH = 1;
/** DynamoDB requests (reads and writes together) one happy-path job may take over its whole life. */
const GOAL_DYNAMO_REQUESTS_PER_JOB = 12;
const HAPPY_JOBS = 10;
const FAILOVER_JOBS = 3;

const WORKFLOW_TASKS = { [STATE.prepare]: 'prepare', [STATE.settleAttempt]: 'settleAttempt', [STATE.finish]: 'finish' } as const;

async function run(context: BenchmarkContext) {
  const notes: string[] = [];
  const book = loadPriceBook(join(BENCH_DIR, 'prices.json'));
  const { template, source } = await loadTemplate(context.projectRoot, context.assemblyDir ? { assemblyDir: context.assemblyDir } : {});
  const { definition } = benchWorkflow();

  // Which function each Lambda task state invokes, from the template's state machine.
  const functionOfState = workflowTaskFunctions(template, Object.keys(WORKFLOW_TASKS));
  const taskFunctions: Record<string, 'prepare' | 'settleAttempt' | 'finish'> = {};
  for (const [state, role] of Object.entries(WORKFLOW_TASKS)) taskFunctions[functionOfState[state]!] = role;
  const functions = stackFunctions(template, taskFunctions);
  const table = resourcesOfType(template, 'AWS::DynamoDB::Table')[0]?.[1];
  const gsiCount = ((table?.Properties?.GlobalSecondaryIndexes as unknown[] | undefined) ?? []).length;

  context.log('running the workflow definition for both paths …');
  const happyPath = await countTransitions(definition, 'happy');
  const failoverPath = await countTransitions(definition, 'reclaim-failover');

  context.log('measuring handler calls in local mode …');
  // The event source's own polling is priced apart (EVENT_SOURCE_REQUESTS_PER_JOB), so it is not counted.
  const counter = handlerCallCounter();
  const meter = new HandlerLogMeter();
  counter.install();
  // Deployed functions log at Powertools' default level (the template sets none).
  process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
  meter.install();
  const bench = await startBenchPlatform({ gpus: 4, quiet: true, stopGracePeriodSeconds: 0.2 });
  let happy: MeasuredPath;
  let failover: MeasuredPath;
  try {
    // The first job per image registers its Batch job definition: a one-time cost, kept out of the per-job figures.
    await measurePath(bench.platform, counter, meter, 'happy', 2);
    happy = await measurePath(bench.platform, counter, meter, 'happy', HAPPY_JOBS);
    failover = await measurePath(bench.platform, counter, meter, 'reclaim-failover', FAILOVER_JOBS);
  } finally {
    await bench.close();
    meter.uninstall();
    counter.uninstall();
  }
  const failoverShapes = failover.jobRecords.map(
    (job) => job?.attempts.map((a) => `${a.capacity}:${a.failureClass ?? a.status}`).join('→') ?? 'missing',
  );
  const unexpected = failoverShapes.filter((shape) => shape !== 'spot:SPOT_RECLAIM→on-demand:SUCCEEDED');
  if (unexpected.length > 0) {
    notes.push(
      `Reclaim + failover jobs in local mode took other paths than Spot reclaimed → On-Demand succeeded: ${unexpected.join('; ')}.`,
    );
  }
  if (happy.jobRecords.some((job) => job?.status !== 'SUCCEEDED'))
    notes.push('Some happy-path jobs in local mode did not succeed; their calls are still counted.');

  const usageOf = (path: typeof happyPath, measured: MeasuredPath) =>
    priceUsage(perJobUsage({ path, measured, functions, definition, template, gsiCount }), book);
  const happyUsage = usageOf(happyPath, happy);
  const failoverUsage = usageOf(failoverPath, failover);
  const idle = idleMonthlyCost(template, book);
  const { totalUsd: idleTotal, beyondFreeTierUsd: idleBeyondFreeTier } = idleTotals(idle);
  const happyDynamo = dynamoUsage(happy.calls, happy.itemBytes, gsiCount, happy.jobs);

  const perThousand = (usd: number) => usd * 1000;
  const sfnLine = happyUsage.lines.find((l) => l.priceKey === 'stepFunctions.standardStateTransition');
  const largest = [...happyUsage.lines].sort((a, b) => b.usd - a.usd)[0];
  if (perThousand(happyUsage.totalUsd) > GOAL_USD_PER_1000_JOBS && sfnLine) {
    notes.push(
      `Step Functions Standard alone costs $${perThousand(sfnLine.usd).toFixed(3)} per 1,000 happy-path jobs ` +
        `(${happyPath.transitions} transitions × $0.025/1,000): the goal of $${GOAL_USD_PER_1000_JOBS.toFixed(2)} allows at most ` +
        `${Math.floor(GOAL_USD_PER_1000_JOBS / 1000 / 0.000025)} transitions per job with nothing else.`,
    );
  }
  notes.push(
    `Prices: bench/prices.json (${book.region}, ${book.asOf}; free tiers not deducted). Template: ${source}.`,
    `Measured in local mode with the real handlers (one job at a time, after 2 warm-up jobs that register the job definition): ` +
      `${HAPPY_JOBS} happy-path jobs and ${FAILOVER_JOBS} jobs whose Spot attempt was reclaimed (maxSpotAttempts 1) and which finished on On-Demand.`,
    "Not included: the GPU instances and EBS volumes themselves, data transfer, and the caller's own GET/list requests.",
  );

  const round = (value: number) => Math.round(value * 1e9) / 1e9;
  const roundedLines = (lines: typeof happyUsage.lines) => lines.map((l) => ({ ...l, quantity: round(l.quantity), usd: round(l.usd) }));
  return {
    figures: [
      figure({
        id: 'happyUsdPer1000Jobs',
        label: 'happy path, per 1,000 jobs',
        value: perThousand(happyUsage.totalUsd),
        unit: 'USD',
        goal: { comparison: '<=', value: GOAL_USD_PER_1000_JOBS },
        digits: 4,
        ...(largest ? { note: `largest: ${largest.item} $${perThousand(largest.usd).toFixed(4)}` } : {}),
      }),
      figure({
        id: 'failoverUsdPer1000Jobs',
        label: 'reclaim + failover, per 1,000 jobs',
        value: perThousand(failoverUsage.totalUsd),
        unit: 'USD',
        digits: 4,
      }),
      figure({ id: 'happyTransitions', label: 'happy path: state transitions per job', value: happyPath.transitions, unit: '', digits: 0 }),
      figure({
        id: 'failoverTransitions',
        label: 'reclaim + failover: state transitions per job',
        value: failoverPath.transitions,
        unit: '',
        digits: 0,
      }),
      figure({
        id: 'happyDynamoWrites',
        label: 'happy path: DynamoDB writes per job (measured)',
        value: happyDynamo.writesPerJob,
        unit: '',
        digits: 1,
      }),
      figure({
        id: 'happyDynamoReads',
        label: 'happy path: DynamoDB reads per job (measured)',
        value: happyDynamo.readsPerJob,
        unit: '',
        digits: 1,
      }),
      figure({
        id: 'happyDynamoRequests',
        label: 'happy path: DynamoDB requests per job (measured)',
        value: happyDynamo.readsPerJob + happyDynamo.writesPerJob,
        unit: '',
        goal: { comparison: '<=', value: GOAL_DYNAMO_REQUESTS_PER_JOB },
        digits: 1,
      }),
      figure({
        id: 'happyCustomEvents',
        label: 'happy path: EventBridge events per job (measured)',
        value: perJobCount(happy.calls, 'EventBridgeClient', ['PutEventsCommand'], happy.jobs, 'Entries'),
        unit: '',
        digits: 1,
      }),
      figure({
        id: 'idleUsdPerMonth',
        label: 'idle deployment, per month (list prices)',
        value: idleTotal,
        unit: 'USD',
        goal: { comparison: '<=', value: IDLE_GOAL_USD_PER_MONTH },
        digits: 2,
      }),
      figure({
        id: 'idleUsdPerMonthBeyondFreeTier',
        label: 'idle deployment, per month beyond always-free tiers',
        value: idleBeyondFreeTier,
        unit: 'USD',
        digits: 2,
      }),
    ],
    notes,
    details: {
      prices: { file: 'bench/prices.json', asOf: book.asOf, region: book.region },
      happy: {
        path: happyPath,
        perJob: roundedLines(happyUsage.lines),
        totalUsdPerJob: round(happyUsage.totalUsd),
        sdkCalls: countByCommand(happy.calls),
        itemBytes: happy.itemBytes,
      },
      reclaimFailover: {
        path: failoverPath,
        perJob: roundedLines(failoverUsage.lines),
        totalUsdPerJob: round(failoverUsage.totalUsd),
        sdkCalls: countByCommand(failover.calls),
        attempts: failoverShapes,
      },
      idleMonthly: idle.map((item) => ({ ...item, usd: Math.round(item.usd * 100) / 100 })),
      functions,
      assumptions: {
        billedMs: ASSUMED_BILLED_MS,
        lambdaPlatformLogBytes: LAMBDA_PLATFORM_LOG_BYTES,
        sfnLogEventBytes: SFN_LOG_EVENT_BYTES,
        eventSourceRequestsPerJob: EVENT_SOURCE_REQUESTS_PER_JOB,
        idleSqsPollers: IDLE_SQS_POLLERS,
        batchEventStatusesPerAttempt: BATCH_EVENT_STATUSES_PER_ATTEMPT,
      },
    },
  };
}

export const benchmark: Benchmark = { title: 'control-plane cost per job and idle monthly cost', run };
