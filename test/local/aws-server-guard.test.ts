/**
 * The AWS stand-in server answers only the SDK: its Batch routes can cancel and terminate jobs, so
 * a web page's cross-site POST or a rebound Host is refused before any operation runs.
 */
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startAwsServer, type RunningAwsServer } from '../../local/aws-server.js';

const terminateJob = vi.fn();
let server: RunningAwsServer;

beforeAll(async () => {
  const services = { stepFunctions: () => ({}), batch: { terminateJob }, eventBus: {}, logStore: {}, logger: { error: () => {} } };
  server = await startAwsServer(services as never);
});
afterAll(async () => server?.close());
beforeEach(() => terminateJob.mockReset());

function post(headers: OutgoingHttpHeaders): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      {
        host: '127.0.0.1',
        port: server.port,
        method: 'POST',
        path: '/v1/terminatejob',
        headers: { host: `127.0.0.1:${server.port}`, ...headers },
        setHost: false,
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    outgoing.on('error', reject);
    outgoing.end(JSON.stringify({ jobId: 'job-1', reason: 'pwned' }));
  });
}

describe('the AWS stand-in server', () => {
  it.each([
    ['a text/plain POST', { 'content-type': 'text/plain' }],
    ['a POST with no content type', {}],
    ['a cross-origin JSON POST', { 'content-type': 'application/json', origin: 'http://evil.example' }],
    ['a rebound Host', { 'content-type': 'application/json', host: 'attacker.example:1234' }],
  ])('refuses %s, and the operation does not run', async (_, headers) => {
    expect(await post(headers)).toBe(403);
    expect(terminateJob).not.toHaveBeenCalled();
  });

  it('serves the SDK-shaped request', async () => {
    expect(await post({ 'content-type': 'application/json' })).toBe(200);
    expect(terminateJob).toHaveBeenCalledWith('job-1', 'pwned');
  });
});
