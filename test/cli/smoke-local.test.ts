/**
 * `gpujobs smoke` against the real local platform (same handlers and workflow as AWS),
 * started in-process on a random port with a temporary data directory.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMOKE_STEPS } from '../../cli/smoke/steps.js';
import { startLocalPlatform, type LocalPlatform } from '../../local/platform.js';
import { cli } from './run-cli.js';

/** Forwards everything to the platform, but lists every terminal event twice (as a buggy publisher would). */
async function startDuplicatingProxy(target: string): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const headers: Record<string, string> = {};
        for (const name of ['content-type', 'x-gpujobs-owner', 'idempotency-key']) {
          const value = request.headers[name];
          if (typeof value === 'string') headers[name] = value;
        }
        const upstream = await fetch(new URL(request.url ?? '/', target), {
          method: request.method ?? 'GET',
          headers,
          ...(body.length > 0 ? { body } : {}),
        });
        let text = await upstream.text();
        if (request.url?.split('?')[0] === '/local/events') {
          const listed = JSON.parse(text) as { events: { id: string; 'detail-type': string }[] };
          const terminal = listed.events.filter((event) => event['detail-type'] !== 'GPU Job Status Change');
          text = JSON.stringify({
            ...listed,
            events: [...listed.events, ...terminal.map((event) => ({ ...event, id: `${event.id}-again` }))],
          });
        }
        response.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
        response.end(text);
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('gpujobs smoke against the local platform', () => {
  let platform: LocalPlatform;
  const smoke = (endpoint: string) =>
    cli(['smoke', '--timeout', '60s'], { realSleep: true, pollIntervalMs: 100, env: { GPUJOBS_ENDPOINT: endpoint } });

  beforeAll(async () => {
    platform = await startLocalPlatform({
      port: 0,
      dataDir: mkdtempSync(join(tmpdir(), 'gpujobs-smoke-local-')),
      gpus: 4,
      capacityTimeoutSeconds: 5,
      stopGracePeriodSeconds: 0.5,
      quiet: true,
      // Host commands, whatever engine this machine has: the container runtimes have their own suite.
      runtime: 'process',
    });
  });

  afterAll(async () => {
    await platform?.stop();
  });

  it('passes every step, one PASS line each, and exits 0', async () => {
    // WHEN
    const result = await smoke(platform.url);

    // THEN
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines.map((line) => line.split(' ').slice(0, 2).join(' '))).toEqual(SMOKE_STEPS.map((step) => `PASS ${step}`));
    for (const line of lines) expect(line).toMatch(/^PASS \w+ \(\d+\.\d+s\): \S/);
    const gpuCheck = platform.gpus.real ? /^PASS gpu .*GPU \d+: /m : /^PASS gpu .*no real GPU.*CUDA_VISIBLE_DEVICES=\d/m;
    expect(result.stdout).toMatch(gpuCheck);
    expect(result.stdout).toMatch(/^PASS failure .*FAILED with exit code 3/m);
    expect(result.stdout).toMatch(/^PASS cancel .*cancelled while RUNNING, CANCELLED/m);
    expect(result.stdout).toMatch(/^PASS failover .*spot attempt reclaimed, then SUCCEEDED on on-demand/m);
    expect(result.stdout).toMatch(/^PASS events .*GPU Job Succeeded ×2, GPU Job Failed ×1, GPU Job Cancelled ×1/m);
    expect(result.stderr).toContain('5 passed, 0 failed, 0 skipped');
  });

  it('FAILs the events step and exits 1 when a job has two terminal events', async () => {
    // GIVEN the same platform behind a proxy that lists each terminal event twice
    const proxy = await startDuplicatingProxy(platform.url);
    try {
      // WHEN
      const result = await smoke(proxy.url);

      // THEN the job steps still pass; the events step names the job and what it saw
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/^PASS gpu /m);
      expect(result.stdout).toMatch(/^PASS failover /m);
      expect(result.stdout).toMatch(
        /^FAIL events: 2 terminal events for job \w+ \(gpu\): GPU Job Succeeded, GPU Job Succeeded; expected exactly one/m,
      );
      expect(result.stderr).toContain('4 passed, 1 failed, 0 skipped');
    } finally {
      proxy.server.closeAllConnections();
      await new Promise<void>((resolve) => proxy.server.close(() => resolve()));
    }
  });
});
