/**
 * A command the local Batch executor cannot start ends only its own attempt, as a container that
 * cannot start does in Batch; the executor goes on running the other jobs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { classifyAttemptFailure } from '../../../core/failure.js';
import { batchRetryStrategy, BATCH_MAX_ATTEMPTS } from '../../../core/retry-strategy.js';
import { LocalBatch, type JobDetail } from '../../../local/batch/index.js';
import { LogStore } from '../../../local/log-store.js';
import { consoleLogger } from '../../../local/logger.js';

const GPU_COUNT = 4;

let directory: string;
let logStore: LogStore;
let batch: LocalBatch;
let definition: string;

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'gpujobs-batch-spawn-'));
  logStore = new LogStore(join(directory, 'logs'));
  batch = new LocalBatch({
    account: '000000000000',
    region: 'us-east-1',
    gpus: Array.from({ length: GPU_COUNT }, (_, index) => ({ index, name: 'virtual GPU' })),
    logStore,
    defaultLogGroupName: '/aws/batch/job',
    jobDefinitionsFile: join(directory, 'job-definitions.json'),
    capacityTimeoutSeconds: 600,
    stopGracePeriodSeconds: 1,
    sandboxesDirectory: join(directory, 'sandboxes'),
    instanceType: 'local',
    logger: consoleLogger({ quiet: true }),
    onStateChange: () => {},
  });
  definition = batch.registerJobDefinition({
    jobDefinitionName: 'gpujobs-test',
    type: 'container',
    containerProperties: { image: 'busybox', command: ['true'], resourceRequirements: [{ type: 'GPU', value: String(GPU_COUNT) }] },
    // The platform's own strategy: retry in place only when the host went away.
    retryStrategy: batchRetryStrategy(BATCH_MAX_ATTEMPTS),
  }).jobDefinitionArn;
});
afterEach(async () => {
  await batch.shutdown();
  await logStore.close();
  rmSync(directory, { recursive: true, force: true });
});

function submit(command: string[], environment: Record<string, string> = {}, name = 'gpujobs-job-1') {
  return batch.submitJob(
    {
      JobName: name,
      JobQueue: 'arn:aws:batch:us-east-1:000000000000:job-queue/spot',
      JobDefinition: definition,
      ContainerOverrides: { Command: command, Environment: Object.entries(environment).map(([Name, Value]) => ({ Name, Value })) },
    },
    'spot',
  );
}

const containerOf = (detail: JobDetail) => (detail.attempts as { container: { reason?: string; exitCode?: number } }[]).at(-1)!.container;

describe('the local Batch executor, given a command it cannot start', () => {
  // Each takes every GPU slot, so the next one can start only once the slots are back.
  const crashInputs: [string, string[], Record<string, string>, string][] = [
    ['an empty program (spawn throws)', [''], {}, "The argument 'file' cannot be empty"],
    ['a NUL byte in an argument (spawn throws)', ['echo', 'a\u0000b'], {}, "The argument 'args[0]' must be a string without null bytes"],
    [
      'a NUL byte in an environment value (spawn throws)',
      ['true'],
      { SECRET: 's3cr3t\u0000tail' },
      "options.env['SECRET']' must be a string without null bytes",
    ],
    ['a program that does not exist (spawn emits error)', ['gpujobs-no-such-program'], {}, 'ENOENT'],
  ];

  it.each(crashInputs)(
    'ends the attempt FAILED as CannotStartContainerError for %s, frees its slots and runs the next job',
    async (_case, command, environment, cause) => {
      const failed = await submit(command, environment).completion;
      const next = await submit(['true'], {}, 'gpujobs-next-1').completion;

      expect(failed.status).toBe('FAILED');
      expect(failed.attempts).toHaveLength(1);
      expect(containerOf(failed).reason).toMatch(/^CannotStartContainerError: exec: /);
      expect(containerOf(failed).reason).toContain(cause);
      expect(containerOf(failed)).not.toHaveProperty('exitCode');
      // A configuration error: FAILED without another attempt, on Spot or On-Demand.
      expect(classifyAttemptFailure({ statusReason: String(failed.statusReason), containerReason: containerOf(failed).reason })).toBe(
        'MISCONFIGURATION',
      );
      expect(next.status).toBe('SUCCEEDED');
    },
  );

  it('never puts an environment value it refused into the reason, which reaches the job record and events', async () => {
    const failed = await submit(['true'], { SECRET: 's3cr3t\u0000tail' }).completion;

    expect(JSON.stringify({ statusReason: failed.statusReason, reason: containerOf(failed).reason })).not.toContain('s3cr3t');
  });
});
