/**
 * A job's attempt runs in its own sandbox under the data dir, end to end: what it writes with a
 * relative path never lands in the platform's working directory, and the platform's own
 * variables (PORT) are not in its environment while the job's and the platform's job variables are.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from './support.js';

let local: TestPlatform;
const portBefore = process.env.PORT;

beforeAll(async () => {
  // What `PORT=… npm start` leaves in the platform's environment.
  process.env.PORT = '18787';
  local = await startTestPlatform();
});
afterAll(async () => {
  await local?.dispose();
  if (portBefore === undefined) delete process.env.PORT;
  else process.env.PORT = portBefore;
});

describe("a job's sandbox in local mode", () => {
  it("keeps a job's relative output out of the platform's working directory, and the platform's PORT out of its environment", async () => {
    // GIVEN the platform's working directory without an out.txt
    const platformDirectory = process.cwd();
    expect(existsSync(join(platformDirectory, 'out.txt'))).toBe(false);

    // WHEN a job writes out.txt with a relative path and prints where it ran and its environment
    const job = await local.api.submit({
      command: ['sh', '-c', 'echo data > out.txt; pwd; echo "port=$PORT mine=$MINE job=$GPUJOBS_JOB_ID attempt=$AWS_BATCH_JOB_ATTEMPT"'],
      environment: { MINE: 'yes' },
    });
    const finished = await local.api.waitForStatus(job.jobId, ['SUCCEEDED', 'FAILED', 'CANCELLED']);

    // THEN it succeeded in a directory under the data dir's sandboxes, now removed, and left nothing in the platform's directory
    expect(finished.status).toBe('SUCCEEDED');
    const [cwd, variables] = await local.api.logs(job.jobId);
    expect(cwd?.startsWith(`${join(local.dataDir, 'sandboxes')}/`)).toBe(true);
    expect(existsSync(cwd!)).toBe(false);
    expect(existsSync(join(platformDirectory, 'out.txt'))).toBe(false);
    expect(variables).toBe(`port= mine=yes job=${job.jobId} attempt=1`);
  });
});
