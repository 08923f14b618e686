import { describe, expect, it } from 'vitest';
import {
  type CommandOutcome,
  type ContainerEngineName,
  detectContainerEngine,
  PROJECT_CONTAINERS_CONF,
  parseDockerInfo,
  parsePodmanInfo,
  type RunCommand,
} from '../../local/container-engine.js';

const PODMAN_INFO = JSON.stringify({ host: { ociRuntime: { name: 'runc' } }, version: { APIVersion: '4.3.1', Version: '4.3.1' } });
const DOCKER_INFO = JSON.stringify({ ServerVersion: '20.10.24', Driver: 'overlay2' });

/** A fake PATH: each engine answers with the outcome given, an engine not listed is not installed. */
function fakeEngines(outcomes: Partial<Record<ContainerEngineName, CommandOutcome>>) {
  const calls: { command: string; args: readonly string[]; env: Readonly<Record<string, string | undefined>>; timeoutMs: number }[] = [];
  const exec: RunCommand = async (command, args, options) => {
    calls.push({ command, args, env: options.env, timeoutMs: options.timeoutMs });
    return outcomes[command as ContainerEngineName] ?? { kind: 'not-found' };
  };
  return { exec, calls };
}

const exited = (exitCode: number, stdout: string, stderr = ''): CommandOutcome => ({ kind: 'exited', exitCode, stdout, stderr });

describe('parsing an engine’s info', () => {
  it('reads podman’s version from `podman info --format json`', () => {
    expect(parsePodmanInfo(PODMAN_INFO)).toEqual({ version: '4.3.1' });
  });

  it('reads Docker’s server version from `docker info --format {{json .}}`', () => {
    expect(parseDockerInfo(DOCKER_INFO)).toEqual({ version: '20.10.24' });
  });

  it('fails when the output is not JSON, quoting what was printed', () => {
    expect(parsePodmanInfo('Error: database is locked')).toEqual({ reason: 'printed no JSON object: Error: database is locked' });
  });

  it('fails when podman’s document has no version', () => {
    expect(parsePodmanInfo('{"host":{}}')).toEqual({ reason: 'printed no version.Version: {"host":{}}' });
  });

  it('fails when Docker reports server errors, naming them', () => {
    const output = JSON.stringify({
      ServerVersion: '',
      ServerErrors: ['Cannot connect to the Docker daemon at unix:///var/run/docker.sock.'],
    });
    expect(parseDockerInfo(output)).toEqual({
      reason: 'reported server errors: Cannot connect to the Docker daemon at unix:///var/run/docker.sock.',
    });
  });
});

describe('detecting a container engine', () => {
  it('picks podman when it answers, running it with the project’s containers.conf', async () => {
    // GIVEN podman and docker both answer, and the user set no CONTAINERS_CONF
    const { exec, calls } = fakeEngines({ podman: exited(0, PODMAN_INFO), docker: exited(0, DOCKER_INFO) });
    // WHEN
    const detected = await detectContainerEngine({ env: { PATH: '/usr/bin' }, exec });
    // THEN
    expect(detected).toEqual({
      engine: 'podman',
      version: '4.3.1',
      configPath: PROJECT_CONTAINERS_CONF,
      env: { PATH: '/usr/bin', CONTAINERS_CONF: PROJECT_CONTAINERS_CONF },
    });
    expect(calls).toEqual([
      {
        command: 'podman',
        args: ['info', '--format', 'json'],
        env: { PATH: '/usr/bin', CONTAINERS_CONF: PROJECT_CONTAINERS_CONF },
        timeoutMs: 10_000,
      },
    ]);
    expect(PROJECT_CONTAINERS_CONF).toMatch(/local\/containers\.conf$/);
  });

  it('honours a CONTAINERS_CONF the user set', async () => {
    const { exec, calls } = fakeEngines({ podman: exited(0, PODMAN_INFO) });
    const detected = await detectContainerEngine({ env: { CONTAINERS_CONF: '/home/me/containers.conf' }, exec });
    expect(detected).toMatchObject({ engine: 'podman', configPath: '/home/me/containers.conf' });
    expect(calls[0]?.env.CONTAINERS_CONF).toBe('/home/me/containers.conf');
  });

  it('treats an empty CONTAINERS_CONF as unset', async () => {
    const { exec } = fakeEngines({ podman: exited(0, PODMAN_INFO) });
    const detected = await detectContainerEngine({ env: { CONTAINERS_CONF: '' }, exec });
    expect(detected).toMatchObject({ configPath: PROJECT_CONTAINERS_CONF });
  });

  it('falls back to Docker when podman is not installed, with no containers.conf', async () => {
    const { exec, calls } = fakeEngines({ docker: exited(0, DOCKER_INFO) });
    const detected = await detectContainerEngine({ env: { PATH: '/usr/bin', CONTAINERS_CONF: '/home/me/c.conf' }, exec });
    expect(detected).toEqual({
      engine: 'docker',
      version: '20.10.24',
      configPath: undefined,
      env: { PATH: '/usr/bin', CONTAINERS_CONF: '/home/me/c.conf' },
    });
    expect(calls.map((call) => call.command)).toEqual(['podman', 'docker']);
    expect(calls[1]?.args).toEqual(['info', '--format', '{{json .}}']);
  });

  it('tries only the candidates asked for', async () => {
    const { exec, calls } = fakeEngines({ podman: exited(0, PODMAN_INFO), docker: exited(0, DOCKER_INFO) });
    const detected = await detectContainerEngine({ env: {}, exec, candidates: ['docker'] });
    expect(detected).toMatchObject({ engine: 'docker' });
    expect(calls.map((call) => call.command)).toEqual(['docker']);
  });

  it('finds no engine when neither is on PATH, saying so for each', async () => {
    const { exec } = fakeEngines({});
    await expect(detectContainerEngine({ env: {}, exec })).resolves.toEqual({
      engine: undefined,
      reason: 'podman: not found on PATH; docker: not found on PATH',
    });
  });

  it('finds no engine when the installed ones do not answer, naming each command and what it printed', async () => {
    // GIVEN a Docker client with no daemon, and a podman whose info hangs
    const { exec } = fakeEngines({
      podman: { kind: 'timed-out', stdout: '', stderr: '' },
      docker: exited(1, '', 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n'),
    });
    // WHEN
    const detected = await detectContainerEngine({ env: {}, exec, timeoutMs: 2_000 });
    // THEN
    expect(detected).toEqual({
      engine: undefined,
      reason:
        'podman: `podman info --format json` gave no answer within 2000 ms and printed nothing; ' +
        'docker: `docker info --format {{json .}}` exited 1: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?',
    });
  });

  it('skips an engine whose info cannot be read and says what it printed', async () => {
    const { exec } = fakeEngines({ podman: exited(0, 'not json') });
    const detected = await detectContainerEngine({ env: {}, exec, candidates: ['podman'] });
    expect(detected).toEqual({ engine: undefined, reason: 'podman: `podman info --format json` printed no JSON object: not json' });
  });

  it('runs the real engines through execFile when no exec is given, finding none on an empty PATH', async () => {
    await expect(detectContainerEngine({ env: { PATH: '/nonexistent' } })).resolves.toEqual({
      engine: undefined,
      reason: 'podman: not found on PATH; docker: not found on PATH',
    });
  });
});
