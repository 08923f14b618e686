import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../../core/job.js';
import { aJobSpec } from '../support/jobs.js';
import { BASE_TIME, isoAt, startFakeApi, type FakeApi } from './fake-api.js';
import { cli, type CliOptions } from './run-cli.js';
import { FAILS, RECLAIMED_THEN_ON_DEMAND, SUCCEEDS } from './scenarios.js';

const ESC = '\u001b';
const now = (): number => BASE_TIME + 10 * 60_000;

let api: FakeApi;
let run: (args: readonly string[], options?: CliOptions) => ReturnType<typeof cli>;

beforeEach(async () => {
  api = await startFakeApi();
  api.scripts.set('train', SUCCEEDS);
  api.scripts.set('crash', FAILS);
  api.scripts.set('flaky-spot', RECLAIMED_THEN_ON_DEMAND);
  run = (args, options = {}) => cli(args, { now, ...options, env: { GPUJOBS_ENDPOINT: api.url, ...options.env } });
});

afterEach(async () => {
  await api.stop();
});

const submitted = (): Record<string, unknown> => {
  const post = api.requests.find((request) => request.method === 'POST' && request.url === '/v1/jobs');
  if (!post) throw new Error('no submit request reached the API');
  return JSON.parse(post.body) as Record<string, unknown>;
};

function job(overrides: Partial<Job> & Pick<Job, 'jobId'>): Job {
  return {
    ...aJobSpec({ image: 'alpine:3', command: ['true'] }),
    name: overrides.jobId.toLowerCase(),
    owner: 'local',
    status: 'QUEUED',
    createdAt: isoAt(0),
    updatedAt: isoAt(0),
    attempts: [],
    costUsd: 0,
    ...overrides,
  };
}

describe('gpujobs submit', () => {
  it('passes everything after `--` to the job verbatim, even flags gpujobs has itself', async () => {
    // WHEN the job's command carries --wait, --json, -e and --help of its own
    const result = await run([
      'submit',
      '--image',
      'alpine:3',
      '--',
      'python',
      'train.py',
      '--wait',
      '--json',
      '-e',
      'X=1',
      '--help',
      '--',
      'tail',
    ]);

    // THEN gpujobs neither waits, prints JSON nor shows help: the job gets them as argv
    expect(result).toMatchObject({ code: 0, stdout: 'JOB0001\n' });
    expect(submitted().command).toEqual(['python', 'train.py', '--wait', '--json', '-e', 'X=1', '--help', '--', 'tail']);
  });

  it('prints only the new job id and sends the spec built from the flags', async () => {
    // WHEN
    const result = await run([
      'submit',
      '--image',
      'ghcr.io/acme/train:1',
      '--gpus',
      '2',
      '--vcpus',
      '8',
      '--memory',
      '16GiB',
      '--capacity',
      'on-demand',
      '--max-spot-attempts',
      '2',
      '--timeout',
      '1h30m',
      '--env',
      'EPOCHS=3',
      '-e',
      'URL=http://x?a=b',
      '--tag',
      'team=vision',
      '--name',
      'resnet',
      '--idempotency-key',
      'key-1',
      '--',
      'python',
      'train.py',
      '--lr',
      '3e-4',
    ]);

    // THEN
    expect(result).toMatchObject({ code: 0, stdout: 'JOB0001\n' });
    expect(submitted()).toEqual({
      image: 'ghcr.io/acme/train:1',
      gpus: 2,
      vcpus: 8,
      memoryMiB: 16384,
      capacity: 'on-demand',
      maxSpotAttempts: 2,
      timeoutSeconds: 5400,
      environment: { EPOCHS: '3', URL: 'http://x?a=b' },
      tags: { team: 'vision' },
      name: 'resnet',
      command: ['python', 'train.py', '--lr', '3e-4'],
    });
    expect(api.requests[0]?.headers['idempotency-key']).toBe('key-1');
    expect(api.requests[0]?.headers.authorization).toBeUndefined();
  });

  it('reads the spec from a YAML file and lets flags override it', async () => {
    // GIVEN
    const dir = mkdtempSync(join(tmpdir(), 'gpujobs-cli-spec-'));
    writeFileSync(join(dir, 'job.yaml'), 'image: alpine:3\ncommand: [echo, from-file]\ngpus: 2\nenvironment:\n  A: "1"\n  B: "2"\n');

    // WHEN
    const result = await run(['submit', '--file', 'job.yaml', '--gpus', '4', '--env', 'B=3'], { cwd: dir });

    // THEN
    expect(result.code).toBe(0);
    expect(submitted()).toEqual({ image: 'alpine:3', command: ['echo', 'from-file'], gpus: 4, environment: { A: '1', B: '3' } });
  });

  it('prints the submitted job as JSON with --json', async () => {
    const result = await run(['submit', '--json', '--image', 'alpine:3', '--', 'true']);

    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ jobId: 'JOB0001', status: 'QUEUED', command: ['true'] });
  });

  it('follows the job with --wait and exits 0 with the exit code shown when it SUCCEEDS', async () => {
    const result = await run(['submit', '--wait', '--image', 'alpine:3', '--', 'train']);

    expect(result.code).toBe(0);
    expect(result.stdout).toBe('JOB0001\n');
    expect(result.stderr).toContain('QUEUED → PENDING');
    expect(result.stderr).toContain('PENDING → RUNNING (attempt 1 on spot, g5.xlarge)');
    expect(result.stderr).toMatch(/SUCCEEDED after \S+ · exit code 0 · cost \$0\.42/);
  });

  it('exits 1 with --wait when the job FAILS, showing its exit code and reason', async () => {
    const result = await run(['submit', '--wait', '--image', 'alpine:3', '--', 'crash']);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('attempt 1 on spot failed with exit code 3');
    expect(result.stderr).toMatch(/FAILED after \S+ · exit code 3 · Essential container in task exited/);
  });

  it('shows each field error of the local check and sends nothing', async () => {
    const result = await run(['submit', '--image', 'not an image!', '--gpus', '12', '--env', '1BAD=x', '--', 'true']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('the job spec is not valid');
    expect(result.stderr).toMatch(/^ {2}image: .+/m);
    expect(result.stderr).toMatch(/^ {2}gpus: .+/m);
    expect(result.stderr).toMatch(/^ {2}environment\.1BAD: .+/m);
    expect(api.requests).toHaveLength(0);
  });

  it('reports the local check as JSON on stderr with --json', async () => {
    const result = await run(['submit', '--json', '--image', 'alpine:3', '--vcpus', '0', '--', 'true']);

    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(JSON.parse(result.stderr)).toMatchObject({ errors: [{ path: 'vcpus' }] });
  });

  it('sends --shm-size as sharedMemoryMiB, in the units --memory takes', async () => {
    const result = await run(['submit', '--image', 'alpine:3', '--memory', '32GiB', '--shm-size', '8GiB', '--', 'python', 'train.py']);

    expect(result.code).toBe(0);
    expect(submitted()).toMatchObject({ memoryMiB: 32_768, sharedMemoryMiB: 8_192 });
  });

  it('refuses a --shm-size over the memory before calling the API, naming sharedMemoryMiB', async () => {
    const result = await run(['submit', '--image', 'alpine:3', '--memory', '4GiB', '--shm-size', '6GiB', '--', 'true']);

    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/sharedMemoryMiB.*memoryMiB \(4096\).*received 6144/);
    expect(api.requests).toHaveLength(0);
  });

  it("prints the API's problem details with each field error when the server refuses the spec", async () => {
    const result = await run(['submit', '--image', 'forbidden.example/team/app:1', '--', 'true']);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('error: Invalid job spec (HTTP 400)');
    expect(result.stderr).toContain('The request body breaks the rules below.');
    expect(result.stderr).toContain('image: registry forbidden.example is not allowed by this deployment');
  });

  it.each([
    [['--image', 'alpine', '--memory', '16GB', '--', 'x'], 'memory must be a size like 16GiB'],
    [['--image', 'alpine', '--shm-size', '2GB', '--', 'x'], 'memory must be a size like 16GiB'],
    [['--image', 'alpine', '--timeout', 'soon', '--', 'x'], 'duration must look like 2h'],
    [['--image', 'alpine', '--gpus', 'two', '--', 'x'], '--gpus must be a whole number. Received "two"'],
    [['--image', 'alpine', '--env', 'NOVALUE', '--', 'x'], '--env takes KEY=VALUE. Received "NOVALUE"'],
    [['--image', 'alpine', 'python', 'train.py'], "put the job's command after `--`"],
    [['--', 'echo'], '--image is required'],
    [['--image', 'alpine'], 'needs a command after `--`'],
    [['--image', 'alpine', '--bogus', '--', 'x'], "unknown option '--bogus'"],
  ])('fails with a usage error (exit 2) for %j', async (args, message) => {
    const result = await run(['submit', ...args]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr).toContain('gpujobs help submit');
    expect(api.requests).toHaveLength(0);
  });
});

describe('gpujobs list', () => {
  beforeEach(() => {
    api.addJob(
      job({
        jobId: 'OLD',
        name: 'old-run',
        createdAt: isoAt(0),
        status: 'SUCCEEDED',
        startedAt: isoAt(30),
        finishedAt: isoAt(30 + 272),
        costUsd: 1.5,
        attempts: [{ attempt: 1, capacity: 'on-demand', status: 'SUCCEEDED' }],
      }),
    );
    api.addJob(
      job({
        jobId: 'NEW',
        name: 'new-run',
        createdAt: isoAt(400),
        status: 'RUNNING',
        startedAt: isoAt(420),
        attempts: [{ attempt: 1, capacity: 'spot', status: 'RUNNING' }],
      }),
    );
  });

  it('prints a table of id, name, status, capacity, age, duration and cost, newest first', async () => {
    const result = await run(['list']);

    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+STATUS\s+CAPACITY\s+AGE\s+DURATION\s+COST$/);
    expect(lines[1]?.split(/\s+/)).toEqual(['NEW', 'new-run', 'RUNNING', 'spot', '3m20s', '3m', '$0.00']);
    expect(lines[2]?.split(/\s+/)).toEqual(['OLD', 'old-run', 'SUCCEEDED', 'on-demand', '10m', '4m32s', '$1.50']);
    expect(result.stdout).not.toContain(ESC);
  });

  it('passes --status and --limit to the API and prints raw JSON with --json', async () => {
    const result = await run(['list', '--status', 'running', '--limit', '5', '--json']);

    expect(result.code).toBe(0);
    expect(api.requests.at(-1)?.url).toBe('/v1/jobs?status=RUNNING&limit=5');
    expect(JSON.parse(result.stdout).jobs.map((listed: Job) => listed.jobId)).toEqual(['NEW']);
  });

  it('follows nextToken through every page with --all, and only the first page without it', async () => {
    for (let index = 0; index < 7; index += 1) api.addJob(job({ jobId: `BULK${index}`, createdAt: isoAt(500 + index) }));

    const all = await run(['list', '--limit', '3', '--all', '--json']);
    const first = await run(['list', '--limit', '3']);

    expect(JSON.parse(all.stdout).jobs).toHaveLength(9);
    expect(api.requests.filter((request) => request.url.includes('nextToken'))).toHaveLength(2);
    expect(first.stdout.trimEnd().split('\n')).toHaveLength(4);
    expect(first.stderr).toContain('--all shows every page');
  });

  it('refuses an unknown status before calling the API', async () => {
    const result = await run(['list', '--status', 'DONE']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--status must be one of QUEUED, PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED. Received "DONE"');
    expect(api.requests).toHaveLength(0);
  });
});

describe('gpujobs get', () => {
  it('shows the /dev/shm size among the resources when the job set one', async () => {
    const id = (await run(['submit', '--image', 'alpine:3', '--shm-size', '2GiB', '--', 'true'])).stdout.trim();

    const result = await run(['get', id]);

    expect(result.stdout).toMatch(/resources +1 GPU · 4 vCPU · 15 GiB · 2 GiB \/dev\/shm/);
  });

  it('summarises the job with each attempt, its reason and the cost', async () => {
    // GIVEN a job that was reclaimed on Spot and finished on On-Demand
    const id = (await run(['submit', '--image', 'alpine:3', '--name', 'flaky', '--', 'flaky-spot'])).stdout.trim();
    for (let poll = 0; poll < 5; poll += 1) await run(['get', id, '--json']);

    // WHEN
    const result = await run(['get', id]);

    // THEN
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^JOB0001 {2}flaky$/m);
    expect(result.stdout).toMatch(/status +SUCCEEDED/);
    expect(result.stdout).toMatch(/resources +1 GPU · 4 vCPU · 15 GiB/);
    expect(result.stdout).not.toContain('/dev/shm');
    expect(result.stdout).toMatch(/exit code +0/);
    expect(result.stdout).toContain('$0.90 ($0.10 on interrupted attempts)');
    expect(result.stdout).toMatch(
      /^1 +spot +FAILED +g5\.xlarge +3m12s +- +\$0\.10 +SPOT_RECLAIM: Host EC2 \(instance i-0abc\) terminated\.$/m,
    );
    expect(result.stdout).toMatch(/^2 +on-demand +SUCCEEDED +g5\.2xlarge +4m +0 +\$0\.80 +-$/m);
  });

  it('reads the global options before the command name as after it', async () => {
    // GIVEN
    api.addJob(job({ jobId: 'J1' }));

    // WHEN --json comes before `get`
    const result = await run(['--json', 'get', 'J1']);

    // THEN
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(api.jobs.get('J1'));
  });

  it('prints the job object exactly as the API returned it with --json', async () => {
    api.addJob(job({ jobId: 'J1', tags: { team: 'a' } }));

    const result = await run(['get', 'J1', '--json']);

    expect(JSON.parse(result.stdout)).toEqual(api.jobs.get('J1'));
  });

  it('reports an unknown job as the API does (404) and exits 1', async () => {
    const result = await run(['get', 'NOPE']);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('error: Job not found (HTTP 404)');
  });

  it('sends X-Gpujobs-Owner from --owner, so another owner cannot see the job', async () => {
    api.addJob(job({ jobId: 'MINE', owner: 'alice' }));

    const asAlice = await run(['get', 'MINE', '--owner', 'alice']);
    const asBobFromEnv = await run(['get', 'MINE'], { env: { GPUJOBS_OWNER: 'bob' } });

    expect(asAlice.code).toBe(0);
    expect(asBobFromEnv.code).toBe(1);
    expect(api.requests.map((request) => request.headers['x-gpujobs-owner'])).toEqual(['alice', 'bob']);
  });
});

describe('gpujobs cancel', () => {
  it('cancels a queued job at once', async () => {
    api.addJob(job({ jobId: 'Q1' }));

    const result = await run(['cancel', 'Q1']);

    expect(result).toMatchObject({ code: 0, stdout: 'Q1 CANCELLED\n' });
    expect(api.requests[0]).toMatchObject({ method: 'POST', url: '/v1/jobs/Q1/cancel' });
  });

  it('says a running job will end CANCELLED once its attempt stops', async () => {
    api.addJob(job({ jobId: 'R1', status: 'RUNNING' }));

    const result = await run(['cancel', 'R1']);

    expect(result.code).toBe(0);
    expect(result.stdout).toContain('R1 cancel requested (was RUNNING)');
  });

  it('exits 1 with the conflict explained when the job already finished', async () => {
    api.addJob(job({ jobId: 'S1', status: 'SUCCEEDED' }));

    const result = await run(['cancel', 'S1']);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('error: Job already finished (HTTP 409)');
    expect(result.stderr).toContain('Job S1 is SUCCEEDED; it cannot be cancelled.');
  });
});

describe('gpujobs logs', () => {
  it('follows the logs until the job ends, each line once, then exits with the job outcome', async () => {
    const id = (await run(['submit', '--image', 'alpine:3', '--', 'train'])).stdout.trim();

    const result = await run(['logs', id, '--follow']);

    expect(result.code).toBe(0);
    expect(result.stdout).toBe('epoch 1\nepoch 2\nepoch 3\ndone\n');
    expect(result.stderr).toContain('── attempt 1 ──');
    expect(result.stderr).toMatch(/SUCCEEDED after \S+ · exit code 0/);
  });

  it('shows only the lines of one attempt with --attempt, as JSON lines with --json', async () => {
    const id = (await run(['submit', '--image', 'alpine:3', '--', 'flaky-spot'])).stdout.trim();

    const result = await run(['logs', id, '--follow', '--attempt', '2', '--json']);

    expect(result.code).toBe(0);
    const lines = result.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { attempt: number; message: string });
    expect(lines.map((line) => [line.attempt, line.message])).toEqual([
      [2, 'on-demand says hi'],
      [2, 'finished'],
    ]);
  });

  it('prints what is there so far without --follow', async () => {
    const id = (await run(['submit', '--image', 'alpine:3', '--', 'train'])).stdout.trim();
    await run(['get', id]);
    await run(['get', id]);
    await run(['get', id]);

    const result = await run(['logs', id]);

    expect(result).toMatchObject({ code: 0, stdout: 'epoch 1\n' });
  });
});

describe('gpujobs watch', () => {
  it('shows a Spot reclaim and the failover to On-Demand as one line, then the outcome', async () => {
    const id = (await run(['submit', '--image', 'alpine:3', '--', 'flaky-spot'])).stdout.trim();

    const result = await run(['watch', id]);

    expect(result.code).toBe(0);
    expect(result.stdout).toContain('attempt 1 on spot reclaimed after 3m12s → attempt 2 on on-demand');
    expect(result.stdout).toContain('PENDING → RUNNING (attempt 2 on on-demand, g5.2xlarge)');
    expect(result.stdout).toMatch(/attempt 2 on on-demand succeeded after 4m\n.*SUCCEEDED after/);
    expect(result.stdout).not.toContain(ESC);
  });

  it('exits 130 when the job ends CANCELLED', async () => {
    api.addJob(job({ jobId: 'C1', status: 'CANCELLED', finishedAt: isoAt(20) }));

    const result = await run(['watch', 'C1']);

    expect(result.code).toBe(130);
    expect(result.stdout).toMatch(/CANCELLED after 20s · no exit code/);
  });

  it('keeps following through a short network blip, and gives up after five failed polls in a row', async () => {
    // GIVEN a connection that drops for `outage` requests after the first poll
    const id = (await run(['submit', '--image', 'alpine:3', '--', 'train'])).stdout.trim();
    let calls = 0;
    let outage = 0;
    const flaky: CliOptions['fetch'] = async (input, init) => {
      calls += 1;
      if (calls > 1 && outage > 0) {
        outage -= 1;
        throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
      }
      return fetch(input, init);
    };

    // WHEN
    outage = 4;
    const survived = await run(['watch', id], { fetch: flaky });
    const second = (await run(['submit', '--image', 'alpine:3', '--', 'train'])).stdout.trim();
    calls = 0;
    outage = 5;
    const gaveUp = await run(['watch', second], { fetch: flaky });

    // THEN
    expect(survived.code).toBe(0);
    expect(survived.stdout).toContain('SUCCEEDED');
    expect(gaveUp.code).toBe(1);
    expect(gaveUp.stderr).toContain('(ECONNRESET)');
  });

  it('redraws a live status line and uses colour on a terminal', async () => {
    const id = (await run(['submit', '--image', 'alpine:3', '--', 'train'])).stdout.trim();

    const result = await run(['watch', id], { isTTY: true });

    expect(result.stdout).toContain(`\r${ESC}[2K`);
    expect(result.stdout).toMatch(/RUNNING.*attempt 1 on spot.*g5\.xlarge.*elapsed/);
    expect(result.stdout).toContain(`${ESC}[32mSUCCEEDED`);
  });

  it('keeps the live line but drops colours when NO_COLOR is set', async () => {
    const id = (await run(['submit', '--image', 'alpine:3', '--', 'train'])).stdout.trim();

    const result = await run(['watch', id], { isTTY: true, env: { NO_COLOR: '1' } });

    expect(result.stdout).toContain(`\r${ESC}[2K`);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: ESC is what a colour sequence starts with
    expect(result.stdout).not.toMatch(/\u001b\[\d+m/);
  });
});

describe('an endpoint that does not answer', () => {
  it('names the endpoint and the flag to check', async () => {
    // GIVEN a port that nothing listens on
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));

    // WHEN
    const result = await run(['list', '--endpoint', `http://127.0.0.1:${port}`]);

    // THEN
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot reach gpujobs at http://127.0.0.1:${port} (ECONNREFUSED)`);
    expect(result.stderr).toContain('Check the URL given to --endpoint.');
  });

  it('suggests `npm start` when the local default is down', async () => {
    const refused: CliOptions['fetch'] = async () => {
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8787'), { code: 'ECONNREFUSED' }),
      });
    };

    const result = await cli(['list'], { fetch: refused });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cannot reach gpujobs at http://127.0.0.1:8787 (ECONNREFUSED)');
    expect(result.stderr).toContain('`npm start`');
  });
});
