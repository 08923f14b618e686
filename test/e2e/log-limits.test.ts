/**
 * Local mode under large output and a failing disk: lines over CloudWatch's event limit come back
 * split and marked, pages stay within their byte budget, bad tokens are 400s, and a log the disk
 * cannot take fails that job only.
 */
import { createWriteStream } from 'node:fs';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTINUATION_MARKER } from '../../local/log-store.js';
import { startTestPlatform, type TestPlatform } from './support.js';

/** The next log stream opened is on a disk that is full. */
let nextLogDiskIsFull = false;
/** ... and reports it only after this long (a slow device), when set. */
let fullDiskReportsAfterMs = 0;

let local: TestPlatform;
beforeAll(async () => {
  local = await startTestPlatform({
    logStoreIo: {
      createWriter: (file) => {
        if (!nextLogDiskIsFull) return createWriteStream(file, { flags: 'a' });
        nextLogDiskIsFull = false;
        return new Writable({
          write: (_chunk, _encoding, callback) => {
            const full = () => callback(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
            if (fullDiskReportsAfterMs > 0) setTimeout(full, fullDiskReportsAfterMs);
            else full();
          },
        });
      },
    },
  });
});
afterAll(async () => {
  await local?.dispose();
});

type LogsPage = { lines: { attempt: number; message: string }[]; nextToken?: string };

async function logPages(jobId: string, limit = 1000): Promise<{ pages: LogsPage[]; bytes: number[] }> {
  const pages: LogsPage[] = [];
  const bytes: number[] = [];
  let nextToken: string | undefined;
  do {
    const query = new URLSearchParams({ limit: String(limit), ...(nextToken ? { nextToken } : {}) });
    const response = await fetch(`${local.platform.url}/v1/jobs/${jobId}/logs?${query}`, {
      headers: { 'x-gpujobs-owner': 'limits-owner' },
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    bytes.push(Buffer.byteLength(text));
    const page = JSON.parse(text) as LogsPage;
    pages.push(page);
    nextToken = page.lines.length > 0 ? page.nextToken : undefined;
  } while (nextToken && pages.length < 100);
  return { pages, bytes };
}

const joinPieces = (messages: readonly string[]) =>
  messages.reduce<string[]>((lines, message) => {
    if (message.startsWith(CONTINUATION_MARKER) && lines.length > 0) lines[lines.length - 1] += message.slice(CONTINUATION_MARKER.length);
    else lines.push(message);
    return lines;
  }, []);

describe('local mode job logs, large output', () => {
  it('serves a 300 KB line as two marked pieces and 8 lines of 1 MB in pages of at most 4 MiB', async () => {
    // GIVEN a job that prints one 300 KB line, then 8 lines of 1 MB
    const script = "const o=process.stdout;o.write('a'.repeat(300000)+'\\n');for(let i=0;i<8;i++)o.write(String(i).repeat(1048576)+'\\n');";
    const job = await local.api.submit({ image: 'busybox', command: [process.execPath, '-e', script] }, { owner: 'limits-owner' });
    await local.api.waitForStatus(job.jobId, ['SUCCEEDED'], { owner: 'limits-owner', timeoutMs: 30_000 });
    // WHEN its logs are read page by page
    const { pages, bytes } = await logPages(job.jobId);
    const messages = pages.flatMap((page) => page.lines.map((line) => line.message));
    // THEN the 300 KB line is two events, the second marked, and every line rejoins whole
    expect(messages[0]?.length).toBeLessThan(300_000);
    expect(messages[1]?.startsWith(CONTINUATION_MARKER)).toBe(true);
    expect(joinPieces(messages)).toEqual([
      'a'.repeat(300_000),
      ...Array.from({ length: 8 }, (_, index) => String(index).repeat(1_048_576)),
    ]);
    // AND no page is over the budget, so more than one page was needed
    expect(pages.length).toBeGreaterThan(2);
    for (const size of bytes) expect(size).toBeLessThanOrEqual(4 * 1024 * 1024 + 1024);
  });

  it('answers 400 to a logs token whose CloudWatch offset falls inside a line', async () => {
    // GIVEN a finished job with output
    const job = await local.api.submit({ image: 'busybox', command: ['sh', '-c', 'echo first; echo second'] }, { owner: 'limits-owner' });
    await local.api.waitForStatus(job.jobId, ['SUCCEEDED'], { owner: 'limits-owner' });
    // WHEN a token is forged at byte 3 of its stream
    const forged = Buffer.from(JSON.stringify({ a: 1, t: 'f/00000000000000000003/s' })).toString('base64url');
    const response = await local.api.request<{ status: number; errors: { path: string }[] }>(
      'GET',
      `/v1/jobs/${job.jobId}/logs?nextToken=${forged}`,
      {
        owner: 'limits-owner',
      },
    );
    // THEN it is the caller's mistake, not a 500
    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([{ path: 'nextToken', message: expect.any(String) }]);
  });
});

describe('local mode, a log the disk cannot take', () => {
  it('fails that job with the disk error while another job runs on and the platform answers', async () => {
    // GIVEN a job running, then a job whose log stream lands on a full disk
    const healthy = await local.api.submit(
      { image: 'busybox', command: ['sh', '-c', 'echo still fine; exec sleep 2'] },
      { owner: 'limits-owner' },
    );
    await local.api.waitForStatus(healthy.jobId, ['RUNNING'], { owner: 'limits-owner' });
    nextLogDiskIsFull = true;
    const doomed = await local.api.submit(
      { image: 'busybox', command: ['sh', '-c', 'echo hello; exec sleep 30'] },
      { owner: 'limits-owner' },
    );
    // WHEN it writes its first line THEN it ends FAILED, naming the full disk
    const failed = await local.api.waitForStatus(doomed.jobId, ['FAILED', 'SUCCEEDED'], { owner: 'limits-owner', timeoutMs: 20_000 });
    expect(failed.status).toBe('FAILED');
    expect(failed.statusReason).toMatch(/writing the log stream \S+ in the local data dir failed: the disk is full \(ENOSPC\)/);
    expect(failed.attempts[0]?.statusReason).toMatch(
      /^MISCONFIGURATION:HOST_STORAGE - writing the log stream \S+ in the local data dir failed: the disk is full \(ENOSPC\)$/,
    );
    // AND it is the machine's fault, not the job's: no retry, and not blamed on an exit code
    expect(failed.attempts).toHaveLength(1);
    expect(failed.attempts[0]?.failureClass).toBe('MISCONFIGURATION');
    // AND the running job goes on to succeed, and its logs are read
    await local.api.waitForStatus(healthy.jobId, ['SUCCEEDED'], { owner: 'limits-owner' });
    expect(await local.api.logs(healthy.jobId, 'limits-owner')).toEqual(['still fine']);
  });
});

describe('local mode, a job that exits before its lost output is noticed', () => {
  it('fails instead of passing for complete', async () => {
    // GIVEN a job that exits 0 at once, whose log stream is on a full disk that reports it only later
    nextLogDiskIsFull = true;
    fullDiskReportsAfterMs = 500;
    const quick = await local.api.submit({ image: 'busybox', command: ['sh', '-c', 'echo lost; exit 0'] }, { owner: 'limits-owner' });
    // WHEN it ends THEN it is FAILED naming the disk, not SUCCEEDED with its output gone
    const ended = await local.api.waitForStatus(quick.jobId, ['FAILED', 'SUCCEEDED'], { owner: 'limits-owner', timeoutMs: 20_000 });
    fullDiskReportsAfterMs = 0;
    expect(ended.status).toBe('FAILED');
    expect(ended.statusReason).toMatch(/the disk is full \(ENOSPC\)/);
  });
});

describe('GET /local/events', () => {
  it('pages with limit and nextToken, and refuses a forged token with 400', async () => {
    // GIVEN the events the jobs above published
    const all = await local.api.events();
    expect(all.length).toBeGreaterThan(4);
    // WHEN they are read two at a time
    const paged: string[] = [];
    let nextToken: string | undefined;
    for (;;) {
      const response = await local.api.request<{ events: { id: string }[]; nextToken: string }>(
        'GET',
        `/local/events?limit=2${nextToken ? `&nextToken=${nextToken}` : ''}`,
      );
      expect(response.status).toBe(200);
      expect(response.body.events.length).toBeLessThanOrEqual(2);
      if (response.body.events.length === 0) break;
      paged.push(...response.body.events.map((event) => event.id));
      nextToken = response.body.nextToken;
    }
    // THEN the pages hold the same events in the same order
    expect(paged.slice(0, all.length)).toEqual(all.map((event) => event.id));
    // AND a token inside a line, or a bad limit, is a 400 naming the value
    const forged = await local.api.request<{ status: number; detail: string }>('GET', '/local/events?nextToken=3');
    expect(forged.status).toBe(400);
    expect(forged.body.detail).toContain('Received "3"');
    const badLimit = await local.api.request<{ status: number; detail: string }>('GET', '/local/events?limit=lots');
    expect(badLimit.status).toBe(400);
    expect(badLimit.body.detail).toContain('Received "lots"');
  });
});
