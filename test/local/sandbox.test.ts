/**
 * Each attempt runs in its own scratch directory under the sandboxes directory: created before
 * the process starts, its working directory, removed when the attempt succeeds, kept for a while
 * when it fails and then swept.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type JobDetail, LocalBatch, type LocalBatchOptions } from '../../local/batch/index.js';
import { AttemptSandboxes } from '../../local/batch/sandbox.js';
import { DataDirError } from '../../local/data-dir.js';
import { LogStore } from '../../local/log-store.js';
import { consoleLogger } from '../../local/logger.js';
import { lastAttemptLogLines } from '../support/batch-logs.js';

let directory: string;
let sandboxesDirectory: string;
let logStore: LogStore;
const logger = consoleLogger({ quiet: true });

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'gpujobs-sandbox-'));
  sandboxesDirectory = join(directory, 'sandboxes');
  logStore = new LogStore(join(directory, 'logs'));
});
afterEach(async () => {
  await logStore.close();
  rmSync(directory, { recursive: true, force: true });
});

function localBatch(overrides: Partial<LocalBatchOptions> = {}): LocalBatch {
  return new LocalBatch({
    account: '000000000000',
    region: 'us-east-1',
    gpus: [{ index: 0, name: 'virtual GPU' }],
    logStore,
    defaultLogGroupName: '/aws/batch/job',
    jobDefinitionsFile: join(directory, 'job-definitions.json'),
    capacityTimeoutSeconds: 600,
    stopGracePeriodSeconds: 1,
    sandboxesDirectory,
    instanceType: 'local',
    logger,
    onStateChange: () => {},
    ...overrides,
  });
}

function run(batch: LocalBatch, script: string): Promise<JobDetail> {
  const definition = batch.registerJobDefinition({
    jobDefinitionName: 'gpujobs-test',
    type: 'container',
    containerProperties: { image: 'busybox', command: ['true'], resourceRequirements: [{ type: 'GPU', value: '1' }] },
  }).jobDefinitionArn;
  return batch.submitJob(
    {
      JobName: 'gpujobs-job-1',
      JobQueue: 'arn:aws:batch:us-east-1:000000000000:job-queue/spot',
      JobDefinition: definition,
      ContainerOverrides: { Command: ['sh', '-c', script] },
    },
    'spot',
  ).completion;
}

const logLines = (detail: JobDetail) => lastAttemptLogLines(logStore, detail);

describe("an attempt's sandbox in the Batch stand-in", () => {
  it('is the empty working directory of the attempt, mode 0700, under the sandboxes directory, and is removed when it succeeds', async () => {
    // GIVEN the Batch stand-in
    const batch = localBatch();

    // WHEN a job prints its working directory, its contents and its mode, and writes a relative file
    const detail = await run(batch, 'pwd; ls -A | wc -l; ls -ld . | cut -c1-10; echo data > out.txt');

    // THEN it ran in its own directory under the sandboxes directory, empty at start, and nothing is left of it
    expect(detail.status).toBe('SUCCEEDED');
    const [cwd, entries, mode] = logLines(detail);
    expect(cwd).toMatch(new RegExp(`^${sandboxesDirectory}/gpujobs-job-1-[0-9a-f]{8}-1$`));
    expect(entries?.trim()).toBe('0');
    expect(mode).toBe('drwx------');
    expect(existsSync(cwd!)).toBe(false);
    expect(readdirSync(sandboxesDirectory)).toEqual([]);
  });

  it("keeps a failed attempt's directory with what the job left in it", async () => {
    // GIVEN the Batch stand-in keeping failed sandboxes (default: an hour)
    const batch = localBatch();

    // WHEN a job writes a file and fails
    const detail = await run(batch, 'pwd; echo partial > out.txt; exit 3');

    // THEN its directory is still there, with the file
    expect(detail.status).toBe('FAILED');
    const [cwd] = logLines(detail);
    expect(existsSync(join(cwd!, 'out.txt'))).toBe(true);
  });

  it("removes a failed attempt's directory at once when nothing is to be kept", async () => {
    const batch = localBatch({ keepFailedSandboxSeconds: 0 });

    const detail = await run(batch, 'pwd; exit 3');

    expect(detail.status).toBe('FAILED');
    expect(existsSync(logLines(detail)[0]!)).toBe(false);
  });
});

describe('AttemptSandboxes', () => {
  const owner = { jobName: 'gpujobs-job-1', jobId: '0123456789abcdef', attempt: 2 };

  it('sweeps a failed sandbox once its keep time has passed, and never one in use', () => {
    // GIVEN a failed sandbox kept 60 s and a sandbox in use, both created at t=0
    let now = 1_000_000;
    const sandboxes = new AttemptSandboxes({ directory: sandboxesDirectory, keepFailedSeconds: 60, logger, now: () => now });
    const failed = sandboxes.create(owner);
    const inUse = sandboxes.create({ ...owner, attempt: 3 });
    sandboxes.release(failed, 'failed');
    utimesSync(inUse, new Date(now), new Date(now));

    // WHEN a sweep runs before, then after, the keep time
    now += 59_000;
    sandboxes.sweep();
    const keptBefore = existsSync(failed);
    now += 2_000;
    sandboxes.sweep();

    // THEN the failed one was kept, then removed; the one in use stays
    expect(keptBefore).toBe(true);
    expect(existsSync(failed)).toBe(false);
    expect(existsSync(inUse)).toBe(true);
    expect(failed).toBe(join(sandboxesDirectory, 'gpujobs-job-1-01234567-2'));
  });

  it('sweeps at start what an earlier run left past its time, and keeps what is recent', () => {
    // GIVEN an old and a recent directory left in the sandboxes directory
    mkdirSync(join(sandboxesDirectory, 'old'), { recursive: true });
    mkdirSync(join(sandboxesDirectory, 'recent'));
    writeFileSync(join(sandboxesDirectory, 'old', 'out.txt'), 'x');
    const hourAndMore = new Date(Date.now() - 3_601_000);
    utimesSync(join(sandboxesDirectory, 'old'), hourAndMore, hourAndMore);

    // WHEN the sandboxes are set up at start
    new AttemptSandboxes({ directory: sandboxesDirectory, logger });

    // THEN the old one is gone, the recent one is kept, and the directory is private
    expect(readdirSync(sandboxesDirectory)).toEqual(['recent']);
    expect(statSync(sandboxesDirectory).mode & 0o777).toBe(0o700);
  });

  it('fails when the sandboxes directory cannot be created, naming it and the cause', () => {
    // GIVEN a file where the data dir's directory would be
    const blocked = join(directory, 'blocked');
    writeFileSync(blocked, '');

    // WHEN / THEN
    expect(() => new AttemptSandboxes({ directory: join(blocked, 'sandboxes'), logger })).toThrow(DataDirError);
    expect(() => new AttemptSandboxes({ directory: join(blocked, 'sandboxes'), logger })).toThrow(
      `The sandboxes directory ${join(blocked, 'sandboxes')} cannot be created: a part of the path is a file, not a directory (ENOTDIR).`,
    );
  });

  it('fails when the keep time is negative, naming the value', () => {
    expect(() => new AttemptSandboxes({ directory: sandboxesDirectory, keepFailedSeconds: -1, logger })).toThrow(
      'keepFailedSeconds must be a number of seconds, 0 or more. Received -1.',
    );
  });
});
