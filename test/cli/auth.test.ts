import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { regionFromExecuteApiHost, sigV4 } from '../../cli/auth.js';
import type { Fetch } from '../../cli/client.js';
import { isoAt } from './fake-api.js';
import { cli } from './run-cli.js';

// AWS Signature Version 4 test suite, case "get-vanilla" (also used by @smithy/signature-v4's own tests).
const TEST_SUITE_CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

interface Captured {
  readonly url: URL;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** A fetch that records what would go over the wire and answers like the API. */
function capturingFetch(captured: Captured[]): Fetch {
  return async (input, init) => {
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    captured.push({
      url: new URL(String(input)),
      method: init?.method ?? 'GET',
      headers,
      body: typeof init?.body === 'string' ? init.body : '',
    });
    return new Response(JSON.stringify({ jobs: [], jobId: 'J1', status: 'QUEUED', createdAt: isoAt(0), attempts: [] }), {
      status: 202,
      headers: { 'content-type': 'application/json' },
    });
  };
}

const hex = (data: string): string => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/** SigV4 computed here from AWS's specification, independently of the signer under test. */
function expectedSignature(request: Captured, secretAccessKey: string, region: string, service: string): string {
  const authorization = request.headers.authorization ?? '';
  const signedHeaders = /SignedHeaders=([^,]+)/.exec(authorization)?.[1]?.split(';') ?? [];
  const amzDate = request.headers['x-amz-date'] ?? '';
  const headerValue = (name: string): string => (name === 'host' ? request.url.host : (request.headers[name] ?? '')).trim();
  const query = [...request.url.searchParams]
    .map(([key, value]) => [encodeURIComponent(key), encodeURIComponent(value)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
  const canonicalRequest = [
    request.method,
    request.url.pathname
      .split('/')
      .map((segment) => encodeURIComponent(encodeURIComponent(decodeURIComponent(segment))))
      .join('/'),
    query,
    ...signedHeaders.map((name) => `${name}:${headerValue(name)}`),
    '',
    signedHeaders.join(';'),
    hex(request.body),
  ].join('\n');
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, hex(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date), region), service), 'aws4_request');
  return createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
}

describe('SigV4 request signing', () => {
  it("matches AWS's published get-vanilla test vector", async () => {
    // GIVEN the test suite's credentials, time, region and service
    const authenticate = sigV4({
      credentials: TEST_SUITE_CREDENTIALS,
      region: 'us-east-1',
      service: 'service',
      signingDate: () => new Date('2015-08-30T12:36:00Z'),
      signPayloadHeader: false,
    });

    // WHEN
    const headers = await authenticate({ method: 'GET', url: new URL('https://example.amazonaws.com/'), headers: {} });

    // THEN
    expect(headers).toEqual({
      'x-amz-date': '20150830T123600Z',
      authorization:
        'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    });
  });

  it('signs CLI requests to a deployed stack for execute-api in the region named by the URL', async () => {
    // GIVEN a deployed endpoint (with a stage path) and temporary credentials
    const captured: Captured[] = [];
    const credentials = { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret/example+key', sessionToken: 'session-token-1' };

    // WHEN
    const result = await cli(['submit', '--image', 'alpine:3', '--idempotency-key', 'k 1', '--', 'echo', 'hi'], {
      env: { GPUJOBS_ENDPOINT: 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod', AWS_REGION: 'us-east-1' },
      fetch: capturingFetch(captured),
      credentials: async () => credentials,
    });

    // THEN
    expect(result.code).toBe(0);
    const [request] = captured;
    if (!request) throw new Error('no request was sent');
    expect(request.url.pathname).toBe('/prod/v1/jobs');
    const amzDate = request.headers['x-amz-date'] ?? '';
    expect(amzDate).toMatch(/^\d{8}T\d{6}Z$/);
    expect(request.headers.authorization).toMatch(
      new RegExp(
        `^AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/${amzDate.slice(0, 8)}/eu-west-1/execute-api/aws4_request, SignedHeaders=([a-z0-9-]+;)*host;([a-z0-9-]+;)*x-amz-date(;[a-z0-9-]+)*, Signature=[0-9a-f]{64}$`,
      ),
    );
    expect(request.headers.authorization).toContain('x-amz-security-token');
    expect(request.headers.authorization).toContain('idempotency-key');
    expect(request.headers['x-amz-security-token']).toBe('session-token-1');
    expect(request.headers['x-amz-content-sha256']).toBe(hex(request.body));
    const signature = /Signature=([0-9a-f]+)/.exec(request.headers.authorization ?? '')?.[1];
    expect(signature).toBe(expectedSignature(request, credentials.secretAccessKey, 'eu-west-1', 'execute-api'));
  });

  it('signs the query string exactly as it is sent', async () => {
    const captured: Captured[] = [];
    const credentials = { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'another-secret' };

    await cli(['list', '--status', 'FAILED', '--limit', '7', '--region', 'ap-south-1'], {
      env: { GPUJOBS_ENDPOINT: 'https://jobs.example.com' },
      fetch: capturingFetch(captured),
      credentials: async () => credentials,
    });

    const [request] = captured;
    if (!request) throw new Error('no request was sent');
    expect(request.url.search).toBe('?status=FAILED&limit=7');
    expect(request.headers.authorization).toContain('/ap-south-1/execute-api/aws4_request');
    expect(request.headers['x-amz-security-token']).toBeUndefined();
    const signature = /Signature=([0-9a-f]+)/.exec(request.headers.authorization ?? '')?.[1];
    expect(signature).toBe(expectedSignature(request, credentials.secretAccessKey, 'ap-south-1', 'execute-api'));
  });

  it('fails with a usage error naming --region when a custom domain gives no region', async () => {
    const captured: Captured[] = [];

    const result = await cli(['list'], {
      env: { GPUJOBS_ENDPOINT: 'https://jobs.example.com', AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined },
      fetch: capturingFetch(captured),
      credentials: async () => TEST_SUITE_CREDENTIALS,
    });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('pass --region or set AWS_REGION');
    expect(captured).toHaveLength(0);
  });

  it('explains how to get credentials when none can be found', async () => {
    const result = await cli(['list'], {
      env: { GPUJOBS_ENDPOINT: 'https://abc123.execute-api.us-west-2.amazonaws.com' },
      fetch: capturingFetch([]),
      credentials: async () => {
        throw new Error('Could not load credentials from any providers');
      },
    });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no AWS credentials to sign requests to abc123.execute-api.us-west-2.amazonaws.com');
    expect(result.stderr).toContain('--token');
  });

  it('reads the region from execute-api host names only', () => {
    expect(regionFromExecuteApiHost('abc123.execute-api.eu-central-1.amazonaws.com')).toBe('eu-central-1');
    expect(regionFromExecuteApiHost('abc123.execute-api.cn-north-1.amazonaws.com.cn')).toBe('cn-north-1');
    expect(regionFromExecuteApiHost('jobs.example.com')).toBeUndefined();
  });
});

describe('token and local-mode authentication', () => {
  it('sends --token as a bearer token instead of signing', async () => {
    const captured: Captured[] = [];

    await cli(['get', 'J1', '--token', 'eyJ.test.token'], {
      env: { GPUJOBS_ENDPOINT: 'https://abc123.execute-api.eu-west-1.amazonaws.com' },
      fetch: capturingFetch(captured),
      credentials: async () => TEST_SUITE_CREDENTIALS,
    });

    expect(captured[0]?.headers.authorization).toBe('Bearer eyJ.test.token');
    expect(captured[0]?.headers['x-amz-date']).toBeUndefined();
  });

  it('takes the token from GPUJOBS_TOKEN', async () => {
    const captured: Captured[] = [];

    await cli(['get', 'J1'], {
      env: { GPUJOBS_ENDPOINT: 'https://jobs.example.com', GPUJOBS_TOKEN: 'from-env' },
      fetch: capturingFetch(captured),
    });

    expect(captured[0]?.headers.authorization).toBe('Bearer from-env');
  });

  it('sends no credentials to a loopback endpoint', async () => {
    const captured: Captured[] = [];

    await cli(['get', 'J1'], {
      env: { GPUJOBS_ENDPOINT: 'http://localhost:9999' },
      fetch: capturingFetch(captured),
      credentials: async () => TEST_SUITE_CREDENTIALS,
    });

    expect(captured[0]?.headers.authorization).toBeUndefined();
    expect(captured[0]?.headers['x-amz-date']).toBeUndefined();
  });
});
