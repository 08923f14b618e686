/**
 * Local mode's runtime and sandbox options: read from the environment, defaulted, and refused
 * with an error that names the variable, the value and what is accepted.
 */
import { describe, expect, it } from 'vitest';
import { InvalidLocalOptionError, resolveLocalOptions } from '../../local/options.js';
import { consoleLogger } from '../../local/logger.js';

const logger = consoleLogger({ quiet: true });
const resolve = (env: NodeJS.ProcessEnv) => resolveLocalOptions({ env, logger });

describe('GPUJOBS_LOCAL_RUNTIME', () => {
  it('defaults to auto, decided at start by which engine answers', () => {
    expect(resolve({}).requestedRuntime).toBe('auto');
  });

  it.each(['process', 'podman', 'docker'])('accepts %s', (runtime) => {
    expect(resolve({ GPUJOBS_LOCAL_RUNTIME: runtime }).requestedRuntime).toBe(runtime);
  });

  it('fails when the value is none of the runtimes, naming it and the accepted ones', () => {
    expect(() => resolve({ GPUJOBS_LOCAL_RUNTIME: 'kubernetes' })).toThrow(InvalidLocalOptionError);
    expect(() => resolve({ GPUJOBS_LOCAL_RUNTIME: 'kubernetes' })).toThrow(
      'GPUJOBS_LOCAL_RUNTIME must be one of auto, podman, docker, process. Received "kubernetes".',
    );
  });

  it('takes the option over the environment', () => {
    expect(resolveLocalOptions({ env: { GPUJOBS_LOCAL_RUNTIME: 'docker' }, runtime: 'process', logger }).requestedRuntime).toBe('process');
  });
});

describe('GPUJOBS_LOCAL_PULL', () => {
  it('defaults to missing', () => {
    expect(resolve({}).pullPolicy).toBe('missing');
  });

  it.each(['never', 'always'])('accepts %s', (policy) => {
    expect(resolve({ GPUJOBS_LOCAL_PULL: policy }).pullPolicy).toBe(policy);
  });

  it('fails when the value is none of the policies, naming it and the accepted ones', () => {
    expect(() => resolve({ GPUJOBS_LOCAL_PULL: 'sometimes' })).toThrow(
      'GPUJOBS_LOCAL_PULL must be one of missing, never, always. Received "sometimes".',
    );
  });
});

describe('GPUJOBS_LOCAL_KEEP_FAILED_SECONDS', () => {
  it('defaults to an hour', () => {
    expect(resolve({}).keepFailedSandboxSeconds).toBe(3600);
  });

  it('accepts 0, which removes a failed attempt’s sandbox at once', () => {
    expect(resolve({ GPUJOBS_LOCAL_KEEP_FAILED_SECONDS: '0' }).keepFailedSandboxSeconds).toBe(0);
  });

  it.each(['-1', 'soon', '2592001'])('fails when the value is %s, naming it', (value) => {
    expect(() => resolve({ GPUJOBS_LOCAL_KEEP_FAILED_SECONDS: value })).toThrow(
      `GPUJOBS_LOCAL_KEEP_FAILED_SECONDS must be a number from 0 to 2592000. Received ${JSON.stringify(value)}.`,
    );
  });
});
