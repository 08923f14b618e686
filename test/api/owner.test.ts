/**
 * Who owns a job on AWS: the api handler as deployed, fed the authorizer context API Gateway
 * writes (payload 2.0 `requestContext.authorizer`), with `ownerIdentity` as the stack passes it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import { LOCAL_OWNER_HEADER, type OwnerIdentity } from '../../core/contract/owner.js';
import { startApi, type ApiHarness } from './harness.js';

let api: ApiHarness | undefined;

afterEach(async () => {
  await api?.stop();
  api = undefined;
});

const validBody = { image: 'ghcr.io/acme/trainer:1.0', command: ['train'] };

/** Two IAM Identity Center users of one permission set: one role, the user as the session name. */
const SSO_ROLE = 'AWSReservedSSO_DataScience_0123456789abcdef';
const ALICE = `arn:aws:sts::123456789012:assumed-role/${SSO_ROLE}/alice@example.com`;
const BOB = `arn:aws:sts::123456789012:assumed-role/${SSO_ROLE}/bob@example.com`;

async function withOwnerIdentity(ownerIdentity: OwnerIdentity): Promise<ApiHarness> {
  api = await startApi({ OWNER_IDENTITY: ownerIdentity });
  return api;
}

async function submitAs(harness: ApiHarness, principalArn: string): Promise<{ jobId: string; owner: string }> {
  const response = await harness.call({ method: 'POST', path: '/v1/jobs', body: validBody, principalArn });
  expect(response.statusCode).toBe(202);
  return { jobId: response.body.jobId as string, owner: response.body.owner as string };
}

/** What the other caller gets on each route that touches one job. */
async function touchAs(harness: ApiHarness, principalArn: string, jobId: string) {
  const get = await harness.call({ method: 'GET', path: `/v1/jobs/${jobId}`, principalArn });
  const logs = await harness.call({ method: 'GET', path: `/v1/jobs/${jobId}/logs`, principalArn });
  const list = await harness.call({ method: 'GET', path: '/v1/jobs', principalArn });
  const cancel = await harness.call({ method: 'POST', path: `/v1/jobs/${jobId}/cancel`, principalArn });
  const listed = (list.body.jobs as { jobId: string }[]).map((job) => job.jobId);
  return { get: get.statusCode, logs: logs.statusCode, listed: listed.includes(jobId), cancel: cancel.statusCode };
}

describe('owners of assumed-role callers', () => {
  it('separates the sessions of one role by default', () => {
    expect(DEFAULT_CONFIG.ownerIdentity).toBe('session');
  });

  describe('with ownerIdentity "session"', () => {
    it("makes two SSO users of one permission set different owners: neither reads, lists or cancels the other's job", async () => {
      const harness = await withOwnerIdentity('session');
      const alices = await submitAs(harness, ALICE);

      const bob = await touchAs(harness, BOB, alices.jobId);
      const job = await harness.store.getJob(alices.jobId);

      expect(alices.owner).toBe(ALICE);
      expect(bob).toEqual({ get: 404, logs: 404, listed: false, cancel: 404 });
      expect(job?.status).toBe('QUEUED');
    });

    it('gives a user the same owner in every session, so a new sign-in still sees its jobs', async () => {
      const harness = await withOwnerIdentity('session');
      const alices = await submitAs(harness, ALICE);

      const alice = await touchAs(harness, ALICE, alices.jobId);

      expect(alice).toEqual({ get: 200, logs: 200, listed: true, cancel: 202 });
    });

    it('scopes idempotency keys per session: the same key from another user makes another job', async () => {
      const harness = await withOwnerIdentity('session');
      const headers = { 'idempotency-key': 'nightly-run' };

      const first = await harness.call({ method: 'POST', path: '/v1/jobs', body: validBody, principalArn: ALICE, headers });
      const second = await harness.call({ method: 'POST', path: '/v1/jobs', body: validBody, principalArn: BOB, headers });

      expect(second.statusCode).toBe(202);
      expect(second.body.jobId).not.toBe(first.body.jobId);
      expect(second.body.owner).toBe(BOB);
    });

    it('keeps IAM users their ARN', async () => {
      const harness = await withOwnerIdentity('session');
      const user = 'arn:aws:iam::123456789012:user/carol';

      expect((await submitAs(harness, user)).owner).toBe(user);
    });
  });

  describe('with ownerIdentity "role"', () => {
    it('makes all sessions of one role one owner, named by the role ARN', async () => {
      const harness = await withOwnerIdentity('role');
      const alices = await submitAs(harness, ALICE);

      const bob = await touchAs(harness, BOB, alices.jobId);

      expect(alices.owner).toBe(`arn:aws:iam::123456789012:role/${SSO_ROLE}`);
      expect(bob).toEqual({ get: 200, logs: 200, listed: true, cancel: 202 });
    });

    it('keeps IAM users their ARN', async () => {
      const harness = await withOwnerIdentity('role');
      const user = 'arn:aws:iam::123456789012:user/carol';

      expect((await submitAs(harness, user)).owner).toBe(user);
    });
  });

  it('refuses to load with an ownerIdentity it does not know, naming the variable and the value', async () => {
    await expect(startApi({ OWNER_IDENTITY: 'user' })).rejects.toThrow(
      'Environment variable OWNER_IDENTITY must be one of role, session. Received "user".',
    );
  });
});

describe('owners cannot be spoofed', () => {
  it.each(['session', 'role'] as const)('ignores the local owner header outside local mode (ownerIdentity %s)', async (ownerIdentity) => {
    const harness = await withOwnerIdentity(ownerIdentity);
    const alices = await submitAs(harness, ALICE);

    const asBobClaimingAlice = await harness.call({
      method: 'GET',
      path: `/v1/jobs/${alices.jobId}`,
      principalArn: ownerIdentity === 'session' ? BOB : 'arn:aws:iam::123456789012:user/mallory',
      headers: { [LOCAL_OWNER_HEADER]: alices.owner },
    });
    const noPrincipal = await harness.call({
      method: 'GET',
      path: '/v1/jobs',
      principalArn: null,
      headers: { [LOCAL_OWNER_HEADER]: alices.owner },
    });

    expect(asBobClaimingAlice.statusCode).toBe(404);
    expect(noPrincipal.statusCode).toBe(401);
  });

  it('keeps the JWT sub as the owner, whatever the headers say', async () => {
    const harness = await withOwnerIdentity('session');

    const response = await harness.call({
      method: 'POST',
      path: '/v1/jobs',
      body: validBody,
      jwtSubject: 'user-1234',
      headers: { [LOCAL_OWNER_HEADER]: ALICE },
    });

    expect(response.body.owner).toBe('user-1234');
  });
});
