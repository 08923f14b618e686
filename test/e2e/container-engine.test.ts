/**
 * Proves the container recipe on this machine: the detected engine, with the project's
 * containers.conf, runs the test image built with no registry. Without an engine the test
 * skips saying why; in CI (CI=true) a missing engine fails the run instead, because CI
 * installs one and its absence means the install step broke.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { detectContainerEngine } from '../../local/container-engine.js';
import { ensureTestImage, TEST_IMAGE } from '../support/test-image.js';

const run = promisify(execFile);
const detected = await detectContainerEngine({ env: process.env });
const inCi = process.env.CI === 'true';

const RUNS_THE_TEST_IMAGE = 'runs the test image, built with no registry, and passes its output through';

if (detected.engine !== undefined) {
  const engine = detected;
  describe('the detected container engine', () => {
    beforeAll(async () => {
      await ensureTestImage(engine);
    });

    it(RUNS_THE_TEST_IMAGE, async () => {
      const args = ['run', '--rm', '--pull', 'never', '--network', 'none', TEST_IMAGE, 'echo', 'hello'];
      const { stdout } = await run(engine.engine, args, { env: engine.env, timeout: 30_000 });
      expect(stdout).toBe('hello\n');
    });
  });
} else if (inCi) {
  describe('the container engine CI installs', () => {
    it(`fails when no container engine answers: ${detected.reason}`, () => {
      throw new Error(`CI installs a container engine, but none answers: ${detected.reason}`);
    });
  });
} else {
  console.warn(`Skipping the container engine tests: no container engine answers (${detected.reason}).`);
  describe('the detected container engine', () => {
    it.skip(`${RUNS_THE_TEST_IMAGE} (skipped: no container engine answers: ${detected.reason})`, () => {});
  });
}
