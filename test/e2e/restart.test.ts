import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive, startTestPlatform, terminalEventsOf, waitFor, type TestPlatform } from './support.js';

const dataDir = mkdtempSync(join(tmpdir(), 'gpujobs-restart-'));
let local: TestPlatform | undefined;

afterAll(async () => {
  await local?.platform.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('restarting the local platform', () => {
  it('keeps finished jobs and their logs, and ends the job that was running with a clear reason', async () => {
    // GIVEN a finished job and a running one
    local = await startTestPlatform({ dataDir });
    const finished = await local.api.submit({ command: ['sh', '-c', 'echo kept across restarts'] });
    await local.api.waitForStatus(finished.jobId, ['SUCCEEDED']);
    const running = await local.api.submit({ command: ['sh', '-c', 'echo pid=$$; sleep 60'] });
    await local.api.waitForStatus(running.jobId, ['RUNNING']);
    const pidLine = await waitFor(async () => (await local!.api.logs(running.jobId)).find((line) => line.startsWith('pid=')), 'the pid line');

    // WHEN the platform stops and starts again on the same data dir
    await local.platform.stop();
    const pid = Number(pidLine.slice(4));
    const stoppedProcess = isAlive(pid);
    local = await startTestPlatform({ dataDir });

    // THEN the finished job and its logs are still there, and the interrupted one ended FAILED, once
    const kept = await local.api.get(finished.jobId);
    const interrupted = await local.api.waitForStatus(running.jobId, ['FAILED', 'SUCCEEDED', 'CANCELLED']);
    expect(stoppedProcess).toBe(false);
    expect(kept.status).toBe('SUCCEEDED');
    expect(await local.api.logs(finished.jobId)).toEqual(['kept across restarts']);
    expect(interrupted.status).toBe('FAILED');
    expect(interrupted.statusReason).toContain('local platform stopped');
    expect(interrupted.attempts.every((attempt) => attempt.status !== 'RUNNING' && attempt.status !== 'PENDING')).toBe(true);
    expect(await local.api.logs(running.jobId)).toContain(pidLine);
    expect(local.platform.recovered.ended).toEqual([running.jobId]);
    expect(await terminalEventsOf(local.api, finished.jobId)).toEqual(['GPU Job Succeeded']);
    expect(await terminalEventsOf(local.api, running.jobId)).toEqual(['GPU Job Failed']);

    // AND the restarted platform runs new jobs
    const next = await local.api.submit({ command: ['true'] });
    expect((await local.api.waitForStatus(next.jobId, ['SUCCEEDED', 'FAILED'])).status).toBe('SUCCEEDED');
  });
});
