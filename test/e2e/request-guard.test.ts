/**
 * Local mode answers only requests meant for it: the attacks of a web page on the developer's
 * machine (a cross-site form or text/plain POST, DNS rebinding, a bodiless cross-site POST to a
 * control endpoint) are refused before anything runs, and the CLI and JSON clients still work.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anonymous } from '../../cli/auth.js';
import { GpuJobsClient } from '../../cli/client.js';
import type { Job } from '../../core/job.js';
import { startTestPlatform, waitFor, type TestPlatform } from './support.js';

let local: TestPlatform;
let port: number;
let scratch: string;

beforeAll(async () => {
  local = await startTestPlatform();
  port = local.platform.port;
  scratch = mkdtempSync(join(tmpdir(), 'gpujobs-guard-'));
});
afterAll(async () => {
  await local?.dispose();
  rmSync(scratch, { recursive: true, force: true });
});

interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: tests read the parsed JSON body field by field
  readonly body: any;
}

/** A request with exactly the given headers (fetch would set Host itself), as a browser or curl sends it. */
function raw(method: string, path: string, headers: OutgoingHttpHeaders, body?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      { host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...headers }, setHost: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text ? JSON.parse(text) : undefined });
        });
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

const jobsOf = async (owner: string) => (await local.api.request<{ jobs: Job[] }>('GET', '/v1/jobs', { owner })).body.jobs;

async function runningSpotJob(owner: string): Promise<Job> {
  const job = await local.api.submit({ command: ['sleep', '30'] }, { owner });
  return local.api.waitForStatus(job.jobId, ['RUNNING'], { owner });
}

describe('local mode refuses requests from web pages', () => {
  it('refuses the cross-origin text/plain POST of a drive-by page (A2), and the command never runs', async () => {
    const owner = 'victim-a2';
    const marker = join(scratch, 'a2-ran');
    const body = JSON.stringify({ image: 'busybox', command: ['sh', '-c', `echo ran > ${marker}`] });

    const response = await raw(
      'POST',
      '/v1/jobs',
      { origin: 'http://evil.example', 'content-type': 'text/plain;charset=UTF-8', 'x-gpujobs-owner': owner },
      body,
    );

    expect(response.status).toBe(403);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(response.body.type).toBe('urn:gpujobs:problem:cross-origin-request');
    expect(response.body.detail).toContain('Received Origin "http://evil.example".');
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
    expect(await jobsOf(owner)).toEqual([]);
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses a cross-origin POST even when it is typed JSON', async () => {
    const owner = 'victim-json';
    const body = JSON.stringify({ image: 'busybox', command: ['true'] });

    const response = await raw('POST', '/v1/jobs', { origin: 'null', 'content-type': 'application/json', 'x-gpujobs-owner': owner }, body);

    expect(response.status).toBe(403);
    expect(await jobsOf(owner)).toEqual([]);
  });

  it('refuses a text/plain POST that comes without an Origin, with 415 naming the type', async () => {
    const owner = 'victim-plain';
    const body = JSON.stringify({ image: 'busybox', command: ['true'] });

    const response = await raw('POST', '/v1/jobs', { 'content-type': 'text/plain', 'x-gpujobs-owner': owner }, body);

    expect(response.status).toBe(415);
    expect(response.body.detail).toContain('Received Content-Type "text/plain".');
    expect(await jobsOf(owner)).toEqual([]);
  });

  it('refuses a rebound Host (A3), for reads and for submissions', async () => {
    const owner = 'victim-a3';
    const host = `attacker.example:${port}`;

    const read = await raw('GET', '/v1/jobs', { host });
    const submit = await raw(
      'POST',
      '/v1/jobs',
      { host, 'content-type': 'application/json', 'x-gpujobs-owner': owner },
      JSON.stringify({ image: 'busybox', command: ['true'] }),
    );
    const events = await raw('GET', '/local/events', { host });

    expect(read.status).toBe(421);
    expect(read.body).toMatchObject({ type: 'urn:gpujobs:problem:misdirected-request', status: 421 });
    expect(read.body.detail).toContain(`Received Host "${host}".`);
    expect(submit.status).toBe(421);
    expect(events.status).toBe(421);
    expect(await jobsOf(owner)).toEqual([]);
  });

  it('refuses a bodiless cross-site POST to cancel, and the job keeps running', async () => {
    const owner = 'victim-cancel';
    const job = await runningSpotJob(owner);
    const path = `/v1/jobs/${job.jobId}/cancel`;

    const noType = await raw('POST', path, { 'x-gpujobs-owner': owner });
    const form = await raw('POST', path, {
      origin: 'http://evil.example',
      'content-type': 'application/x-www-form-urlencoded',
      'x-gpujobs-owner': owner,
    });

    expect(noType.status).toBe(415);
    expect(noType.body.detail).toContain('Received no Content-Type.');
    expect(form.status).toBe(403);
    const after = await local.api.get(job.jobId, owner);
    expect(after.status).toBe('RUNNING');
    expect(after).not.toHaveProperty('cancelRequested', true);
    await local.api.request('POST', path, { owner });
    await local.api.waitForStatus(job.jobId, ['CANCELLED'], { owner });
  });

  it('refuses bodiless and text/plain POSTs to the /local controls, and nothing is reclaimed', async () => {
    const owner = 'victim-spot';
    const job = await runningSpotJob(owner);

    const interrupt = await raw('POST', '/local/spot/interrupt', {});
    const capacity = await raw('POST', '/local/spot/capacity', { 'content-type': 'text/plain' }, '{"available": false}');

    expect(interrupt.status).toBe(415);
    expect(capacity.status).toBe(415);
    const after = await local.api.get(job.jobId, owner);
    expect(after.status).toBe('RUNNING');
    expect(after.attempts).toHaveLength(1);
    expect(after.attempts[0]?.status).toBe('RUNNING');
    const reclaimed = await local.api.request<{ interrupted: number }>('POST', '/local/spot/interrupt');
    expect(reclaimed.body.interrupted).toBe(1);
    await local.api.request('POST', `/v1/jobs/${job.jobId}/cancel`, { owner });
    await local.api.waitForStatus(job.jobId, ['CANCELLED', 'FAILED'], { owner });
  });
});

describe('local mode still serves its own clients', () => {
  it('serves the CLI client: submit, get and a bodiless cancel', async () => {
    const client = new GpuJobsClient({
      endpoint: { url: new URL(local.platform.url), source: 'flag' },
      authenticate: anonymous,
      owner: 'cli-user',
      fetch: globalThis.fetch,
    });

    const submitted = await client.submit({ image: 'busybox', command: ['sleep', '30'] });
    await waitFor(async () => ((await client.get(submitted.jobId)).status === 'RUNNING' ? true : undefined), 'the CLI job to run');
    await client.cancel(submitted.jobId);

    expect((await local.api.waitForStatus(submitted.jobId, ['CANCELLED'], { owner: 'cli-user' })).status).toBe('CANCELLED');
  });

  it.each([
    ['localhost', (p: number) => ({ host: `localhost:${p}` })],
    ['[::1]', (p: number) => ({ host: `[::1]:${p}` })],
    ['its own origin', (p: number) => ({ host: `127.0.0.1:${p}`, origin: `http://127.0.0.1:${p}` })],
  ])('serves a JSON client that addresses it as %s', async (_, headersFor) => {
    const owner = `json-${Math.random().toString(36).slice(2)}`;

    const response = await raw(
      'POST',
      '/v1/jobs',
      { ...headersFor(port), 'content-type': 'application/json; charset=utf-8', 'x-gpujobs-owner': owner },
      JSON.stringify({ image: 'busybox', command: ['true'] }),
    );

    expect(response.status).toBe(202);
    await local.api.waitForStatus(response.body.jobId as string, ['SUCCEEDED'], { owner });
  });
});
