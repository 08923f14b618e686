/**
 * The containers a platform on the same data dir left behind: killed with SIGKILL (or its machine
 * slept through its stop), it could not stop its attempts' containers, which run on under podman's
 * monitor (or Docker's daemon) and hold their GPUs. A start finds them by the platform label every attempt's container
 * carries (container-runner.ts) and removes them, running or not, before restart recovery settles
 * their jobs, so that an interrupted attempt never runs beside its own next attempt.
 */
import { execFile } from 'node:child_process';
import { CONTAINER_LABELS, type ContainerRuntime, removeContainerArgs } from './container-runner.js';

/** How long `podman ps` and `podman rm` may each take: `rm --time 0` kills at once, but a busy store answers slowly. */
const ENGINE_COMMAND_TIMEOUT_MS = 30_000;

/** The engine's command failed: it names the command line and what the engine printed. */
export class LeftoverContainersError extends Error {
  override readonly name = 'LeftoverContainersError';
}

/**
 * Removes (`rm --force`: SIGKILL, no grace) every container labelled with `platformToken`;
 * resolves to how many there were. Throws LeftoverContainersError when the engine fails.
 */
export async function removeLeftoverContainers(
  runtime: Pick<ContainerRuntime, 'engine' | 'env'>,
  platformToken: string,
): Promise<{ readonly removed: number }> {
  const listed = await engineCommand(runtime, [
    'ps',
    '--all',
    '--filter',
    `label=${CONTAINER_LABELS.platform}=${platformToken}`,
    '--format',
    '{{.ID}}',
  ]);
  const ids = listed
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  if (ids.length === 0) return { removed: 0 };
  // A container whose own `--rm` removed it between the listing and this is no failure.
  await engineCommand(runtime, removeContainerArgs(runtime.engine, ids));
  return { removed: ids.length };
}

function engineCommand(runtime: Pick<ContainerRuntime, 'engine' | 'env'>, args: readonly string[]): Promise<string> {
  const commandLine = `${runtime.engine} ${args.join(' ')}`;
  return new Promise((resolve, reject) => {
    execFile(runtime.engine, [...args], { env: runtime.env, timeout: ENGINE_COMMAND_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      const failure = error as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
      const how = failure.killed
        ? `gave no answer within ${ENGINE_COMMAND_TIMEOUT_MS} ms`
        : `exited ${typeof failure.code === 'number' ? failure.code : (failure.code ?? 'with an error')}`;
      const printed = (stderr || stdout).trim().split('\n').slice(0, 3).join(' ').slice(0, 300);
      reject(
        new LeftoverContainersError(
          `cannot remove the containers an earlier run left: \`${commandLine}\` ${how}${printed === '' ? ' and printed nothing' : `: ${printed}`}`,
        ),
      );
    });
  });
}
