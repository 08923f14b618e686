/**
 * Attack report rows 3 and 16 (A28–A30): a data dir on a full or read-only disk, and a disk that
 * fills while the platform runs. These mount small tmpfs file systems, which needs root (as in CI
 * here); elsewhere the suite is skipped and test/local/data-dir.test.ts covers the messages.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalPlatform } from '../../local/platform.js';
import { startTestPlatform, waitFor, type TestPlatform } from './support.js';

const root = mkdtempSync(join(tmpdir(), 'gpujobs-disk-'));
const mounted: string[] = [];

/** Mounts a tmpfs of `size` at a fresh directory; undefined where mounting is not permitted. */
function tmpfs(name: string, size: string, readOnly = false): string | undefined {
  const point = join(root, name);
  mkdirSync(point, { recursive: true });
  const result = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}${readOnly ? ',ro' : ''}`, 'tmpfs', point], { stdio: 'ignore' });
  if (result.status !== 0) return undefined;
  mounted.push(point);
  return point;
}

const canMount = (() => {
  const probe = tmpfs('probe', '1m');
  if (probe) spawnSync('umount', [probe]);
  mounted.length = 0;
  return probe !== undefined;
})();

const fill = (point: string) => spawnSync('dd', ['if=/dev/zero', `of=${join(point, 'filler')}`, 'bs=1M', 'count=512'], { stdio: 'ignore' });

let local: TestPlatform | undefined;

afterAll(async () => {
  await local?.platform.stop();
  for (const point of mounted) spawnSync('umount', ['-l', point]);
  rmSync(root, { recursive: true, force: true });
});

describe.skipIf(!canMount)('the data dir on a sick disk', () => {
  it('refuses to start on a full disk, saying the disk is full', async () => {
    // GIVEN a data dir on a disk with no space left
    const point = tmpfs('full', '2m')!;
    fill(point);
    // WHEN the platform starts there THEN it refuses, naming the cause instead of ECONNREFUSED
    await expect(startLocalPlatform({ dataDir: join(point, 'data'), port: 0, quiet: true })).rejects.toThrow(
      /The data dir .*full\/data cannot be used: the disk is full/,
    );
  });

  it('refuses to start on a read-only file system, saying so', async () => {
    // GIVEN a data dir on a read-only file system
    const point = tmpfs('read-only', '2m', true)!;
    // WHEN the platform starts there THEN it names the read-only file system instead of ENOENT
    await expect(startLocalPlatform({ dataDir: join(point, 'data'), port: 0, quiet: true })).rejects.toThrow(
      /cannot be used: the file system is read-only \(EROFS\) while creating it/,
    );
  });

  it('answers 503 naming the full disk while it lasts, then serves and runs jobs again once space is freed', async () => {
    // GIVEN a running platform whose data disk then fills up
    const point = tmpfs('fills', '96m')!;
    local = await startTestPlatform({ dataDir: join(point, 'data') });
    const before = await local.api.submit({ command: ['true'] });
    await local.api.waitForStatus(before.jobId, ['SUCCEEDED']);
    fill(point);

    // WHEN requests arrive
    const submit = await local.api.request<{ status: number; detail: string }>('POST', '/v1/jobs', {
      body: { image: 'local', command: ['true'] },
    });
    const list = await waitFor(async () => {
      const response = await local!.api.request<{ detail: string }>('GET', '/v1/jobs');
      return response.status === 503 ? response : undefined;
    }, 'a 503 while the disk is full');

    // THEN they get 503 problem details naming the disk, never a bare 500, and the platform stays up
    expect(submit.status).toBe(503);
    expect(submit.headers.get('content-type')).toBe('application/problem+json');
    expect(submit.body.detail).toMatch(/the disk is full \(ENOSPC\)/);
    expect(list.body.detail).toMatch(/the disk is full/);

    // AND once space is freed it serves again by itself, and runs new jobs
    execFileSync('rm', ['-f', join(point, 'filler')]);
    await waitFor(async () => ((await local!.api.request('GET', '/v1/jobs')).status === 200 ? true : undefined), 'the api serving again');
    const after = await local.api.submit({ command: ['true'] });
    expect((await local.api.waitForStatus(after.jobId, ['SUCCEEDED', 'FAILED'])).status).toBe('SUCCEEDED');
    expect((await local.api.get(before.jobId)).status).toBe('SUCCEEDED');
  });
});
