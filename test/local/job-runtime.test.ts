/**
 * Which runtime local jobs get: `auto` takes the first of podman and Docker that answers, else
 * host processes with the reason; an engine asked for by name must answer or the start fails.
 * The engines' answers are given, so the rules hold whatever this machine has installed.
 */
import { describe, expect, it } from 'vitest';
import type { CommandOutcome, RunCommand } from '../../local/container-engine.js';
import { chooseJobRuntime } from '../../local/job-runtime.js';
import { RuntimeUnavailableError } from '../../local/options.js';

const PODMAN_INFO: CommandOutcome = { kind: 'exited', exitCode: 0, stdout: '{"version":{"Version":"4.3.1"}}', stderr: '' };
const DOCKER_INFO: CommandOutcome = { kind: 'exited', exitCode: 0, stdout: '{"ServerVersion":"20.10.24"}', stderr: '' };

/** Answers `<engine> info` from `answers`; an engine not in it is not on PATH. Records who was asked. */
function engines(answers: Partial<Record<string, CommandOutcome>>): { exec: RunCommand; asked: string[] } {
  const asked: string[] = [];
  const exec: RunCommand = async (command) => {
    asked.push(command);
    return answers[command] ?? { kind: 'not-found' };
  };
  return { exec, asked };
}

describe('chooseJobRuntime', () => {
  it('runs auto with podman when podman answers, without asking Docker', async () => {
    const { exec, asked } = engines({ podman: PODMAN_INFO, docker: DOCKER_INFO });

    const chosen = await chooseJobRuntime('auto', { env: {}, exec });

    expect(chosen).toMatchObject({ used: 'podman', engine: { version: '4.3.1' } });
    expect(asked).toEqual(['podman']);
  });

  it('runs auto with Docker when podman is missing and Docker answers', async () => {
    const { exec } = engines({ docker: DOCKER_INFO });

    expect(await chooseJobRuntime('auto', { env: {}, exec })).toMatchObject({ used: 'docker', engine: { version: '20.10.24' } });
  });

  it('runs auto as host processes when no engine answers, saying why for each', async () => {
    const { exec } = engines({ docker: { kind: 'exited', exitCode: 1, stdout: '', stderr: 'Cannot connect to the Docker daemon' } });

    const chosen = await chooseJobRuntime('auto', { env: {}, exec });

    expect(chosen.used).toBe('process');
    expect(chosen).toMatchObject({
      noEngineReason: expect.stringMatching(/podman: not found on PATH; docker: .*exited 1: Cannot connect to the Docker daemon/),
    });
  });

  it('asks no engine for process', async () => {
    const { exec, asked } = engines({ podman: PODMAN_INFO });

    expect(await chooseJobRuntime('process', { env: {}, exec })).toEqual({ used: 'process' });
    expect(asked).toEqual([]);
  });

  it('runs docker when asked for by name even where podman answers', async () => {
    const { exec, asked } = engines({ podman: PODMAN_INFO, docker: DOCKER_INFO });

    expect((await chooseJobRuntime('docker', { env: {}, exec })).used).toBe('docker');
    expect(asked).toEqual(['docker']);
  });

  it('fails the start when the engine asked for does not answer, naming it and why', async () => {
    const { exec } = engines({ podman: PODMAN_INFO });

    const choice = chooseJobRuntime('docker', { env: {}, exec });

    await expect(choice).rejects.toThrow(RuntimeUnavailableError);
    await expect(choice).rejects.toThrow('GPUJOBS_LOCAL_RUNTIME=docker, but docker cannot run containers here: docker: not found on PATH');
  });
});
