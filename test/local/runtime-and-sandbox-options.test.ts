/**
 * Local mode's runtime and sandbox options: read from the environment, defaulted, and refused
 * with an error that names the variable, the value and what is accepted.
 */
import { describe, expect, it } from 'vitest';
import { InvalidLocalOptionError, resolveLocalOptions, RuntimeUnavailableError } from '../../local/options.js';
import { consoleLogger } from '../../local/logger.js';

const logger = consoleLogger({ quiet: true });
const resolve = (env: NodeJS.ProcessEnv) => resolveLocalOptions({ env, logger });

describe('GPUJOBS_LOCAL_RUNTIME', () => {
  it('defaults to auto, which runs jobs as host processes in this version', () => {
    const resolved = resolve({});

    expect(resolved.requestedRuntime).toBe('auto');
    expect(resolved.jobRuntime).toBe('process');
  });

  it('accepts process', () => {
    expect(resolve({ GPUJOBS_LOCAL_RUNTIME: 'process' })).toMatchObject({ requestedRuntime: 'process', jobRuntime: 'process' });
  });

  it('accepts podman, which runs the job’s image', () => {
    expect(resolve({ GPUJOBS_LOCAL_RUNTIME: 'podman' })).toMatchObject({ requestedRuntime: 'podman', jobRuntime: 'podman' });
  });

  it('fails when docker is asked for, saying it is not available yet and what runs jobs instead', () => {
    expect(() => resolve({ GPUJOBS_LOCAL_RUNTIME: 'docker' })).toThrow(RuntimeUnavailableError);
    expect(() => resolve({ GPUJOBS_LOCAL_RUNTIME: 'docker' })).toThrow(
      'GPUJOBS_LOCAL_RUNTIME=docker is not available yet in this version: local mode runs jobs with podman (GPUJOBS_LOCAL_RUNTIME=podman) or as host processes (GPUJOBS_LOCAL_RUNTIME=process)',
    );
  });

  it('fails when the value is none of the runtimes, naming it and the accepted ones', () => {
    expect(() => resolve({ GPUJOBS_LOCAL_RUNTIME: 'kubernetes' })).toThrow(InvalidLocalOptionError);
    expect(() => resolve({ GPUJOBS_LOCAL_RUNTIME: 'kubernetes' })).toThrow(
      'GPUJOBS_LOCAL_RUNTIME must be one of auto, podman, docker, process. Received "kubernetes".',
    );
  });

  it('takes the option over the environment', () => {
    expect(resolveLocalOptions({ env: { GPUJOBS_LOCAL_RUNTIME: 'docker' }, runtime: 'process', logger }).jobRuntime).toBe('process');
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
