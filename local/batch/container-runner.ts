/**
 * An attempt run as a container, as Batch runs it: `podman run` in the foreground, the image's
 * ENTRYPOINT kept and the job's command in place of its CMD, only the job's and the platform's
 * job variables in its environment, the attempt's sandbox mounted at SANDBOX_MOUNT_PATH, vcpus and
 * memory as limits, and the assigned GPUs given by device when they are real. The container is
 * named and labelled for its job and attempt, so that `podman ps --filter label=…` finds it.
 *
 * The podman client is the attempt's main process: its stdout and stderr carry the container's,
 * into the same log stream as a host process's, and it exits with the container's exit code.
 * A stop is `podman stop --time <grace>` (SIGTERM, then SIGKILL), so the codes are the ones
 * Batch reports (137 after SIGKILL). Podman's own failures (exit 125, or 126/127 with an OCI
 * runtime error) end the attempt as a container that could not start, a missing image with
 * Batch's `CannotPullContainerError`.
 */
import { execFile } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import type { ContainerEngineName } from '../container-engine.js';
import type { AttemptEnd } from './attempt-end.js';
import type { AttemptPlacement } from './batch-job.js';
import type { RegisterJobDefinitionRequest, ResourceRequirement } from './job-definitions.js';
import {
  type AttemptOutput,
  type AttemptProcess,
  type AttemptProcessEvents,
  drainOutput,
  OUTPUT_DRAIN_TIMEOUT_MS,
  spawnAttemptMain,
} from './process-runner.js';
import { BATCH_STATUS_REASON } from './status-reasons.js';

/** Where the attempt's sandbox is mounted in the container; the image's own working directory is kept. */
export const SANDBOX_MOUNT_PATH = '/gpujobs/work';

/** When the image is pulled: `missing` only when it is not in the local store, `never`, or `always`. */
export const PULL_POLICIES = ['missing', 'never', 'always'] as const;
export type PullPolicy = (typeof PULL_POLICIES)[number];

/** The container engine that runs attempts, as detected at start (container-engine.ts). */
export interface ContainerRuntime {
  /** Podman and Docker take the same run arguments but for GPUs, and word their errors differently. */
  readonly engine: ContainerEngineName;
  /** The environment the engine's commands run with (CONTAINERS_CONF set). */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly pull: PullPolicy;
  /** The slots are real GPUs (nvidia-smi): each assigned one is given as a CDI device. Virtual slots give no device. */
  readonly realGpus: boolean;
}

/** Who the attempt is, for its container's name and labels. */
export interface ContainerOwner {
  readonly jobName: string;
  readonly jobId: string;
  /** 1 for the first (AWS_BATCH_JOB_ATTEMPT). */
  readonly attempt: number;
  /** The platform's token (process-tree.ts), so that a later start on the same data dir can find what this one left. */
  readonly platformToken: string;
}

export interface AttemptContainerSpec extends AttemptOutput {
  readonly runtime: ContainerRuntime;
  readonly owner: ContainerOwner;
  readonly image: string;
  /** Replaces the image's CMD; empty keeps it. */
  readonly command: readonly string[];
  /** The attempt's sandbox directory on the host (sandbox.ts), mounted at SANDBOX_MOUNT_PATH. */
  readonly sandbox: string;
  /** The job's variables (its definition's, its submission's, Batch's): all the container gets besides the image's own. */
  readonly variables: Readonly<Record<string, string>>;
  /** The GPU slots assigned to the attempt. */
  readonly slots: readonly number[];
  readonly vcpus?: number;
  readonly memoryMiB?: number;
  /** The size of /dev/shm: the job definition's `linuxParameters.sharedMemorySize`. @default the engine's (64 MiB) */
  readonly sharedMemoryMiB?: number;
  /** What this machine has. @default os.cpus().length and os.totalmem() */
  readonly machine?: { readonly vcpus: number; readonly memoryMiB: number };
}

/** Labels every attempt's container carries. */
export const CONTAINER_LABELS = { jobId: 'gpujobs.job-id', attempt: 'gpujobs.attempt', platform: 'gpujobs.platform' } as const;

/** How long one `podman stop` or `podman rm` may take beyond the grace period. */
const ENGINE_COMMAND_TIMEOUT_MS = 15_000;
/** Between tries of `podman stop` while the client has not created the container yet. */
const STOP_RETRY_MS = 200;

/** `gpujobs-<jobName>-<first 8 of the Batch job id>-<attempt>`: unique per attempt, and a failed-over job's new Batch job gets its own. */
export function containerName(owner: ContainerOwner): string {
  const name = owner.jobName.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 128);
  return `gpujobs-${name}-${owner.jobId.slice(0, 8)}-${owner.attempt}`;
}

/** The job's VCPU and MEMORY requirements (Batch's resourceRequirements), as a container's limits. */
export function requestedLimits(requirements: readonly ResourceRequirement[]): { vcpus?: number; memoryMiB?: number } {
  const value = (type: string) => {
    const raw = requirements.find((requirement) => requirement.type === type)?.value;
    const parsed = raw === undefined ? Number.NaN : Number(raw);
    return Number.isFinite(parsed) && parsed > 0 ? parsed : undefined;
  };
  const vcpus = value('VCPU');
  const memoryMiB = value('MEMORY');
  return { ...(vcpus !== undefined ? { vcpus } : {}), ...(memoryMiB !== undefined ? { memoryMiB } : {}) };
}

/** The definition's /dev/shm size (Batch's `linuxParameters.sharedMemorySize`, MiB), when it sets one. */
export function sharedMemoryOf(definition: Pick<RegisterJobDefinitionRequest, 'containerProperties'>): { sharedMemoryMiB?: number } {
  const size = definition.containerProperties?.linuxParameters?.sharedMemorySize;
  return typeof size === 'number' && Number.isInteger(size) && size > 0 ? { sharedMemoryMiB: size } : {};
}

/** The vcpus and memory the container is limited to: the job's, capped to this machine so that the default shape runs on a laptop. */
export function containerLimits(
  requested: { readonly vcpus?: number; readonly memoryMiB?: number },
  machine: { readonly vcpus: number; readonly memoryMiB: number },
): { readonly vcpus?: number; readonly memoryMiB?: number; readonly note?: string } {
  const capped: string[] = [];
  let vcpus = requested.vcpus;
  if (vcpus !== undefined && vcpus > machine.vcpus) {
    capped.push(`vcpus ${vcpus} capped to this machine's ${machine.vcpus}`);
    vcpus = machine.vcpus;
  }
  let memoryMiB = requested.memoryMiB;
  if (memoryMiB !== undefined && memoryMiB > machine.memoryMiB) {
    capped.push(`memoryMiB ${memoryMiB} capped to this machine's ${machine.memoryMiB}`);
    memoryMiB = machine.memoryMiB;
  }
  return {
    ...(vcpus !== undefined ? { vcpus } : {}),
    ...(memoryMiB !== undefined ? { memoryMiB } : {}),
    ...(capped.length > 0 ? { note: capped.join('; ') } : {}),
  };
}

/**
 * Variables the podman client reads itself: a job's value for one of them must not change how
 * podman runs, so it goes on the command line; every other variable is named there and its
 * value passed through the client's environment, so that a secret is not in `ps`.
 */
const CLIENT_VARIABLES =
  /^(PATH|HOME|TMPDIR|USER|LANG|LC_[A-Z]+|TZ|(CONTAINERS|XDG|BUILDAH|PODMAN|STORAGE|REGISTRY|CONTAINER|CDI|DOCKER|BUILDKIT|COMPOSE)_.*)$/;

/**
 * The assigned GPUs as the engine takes them: podman by CDI device, one flag each; Docker in one
 * `--gpus` whose value is a CSV field, so a list of devices must be quoted inside it
 * (https://docs.docker.com/engine/containers/resource_constraints/#gpu).
 */
export function gpuArgs(engine: ContainerEngineName, slots: readonly number[]): string[] {
  if (slots.length === 0) return [];
  if (engine === 'podman') return slots.flatMap((slot) => ['--device', `nvidia.com/gpu=${slot}`]);
  return ['--gpus', `"device=${slots.join(',')}"`];
}

/** The engine's command that removes a container at once, running or not, and is no failure when it is gone already. */
export function removeContainerArgs(engine: ContainerEngineName, names: readonly string[]): string[] {
  // Docker's rm has no --ignore nor --time: --force kills at once and a missing container is no error.
  return engine === 'podman' ? ['rm', '--force', '--ignore', '--time', '0', ...names] : ['rm', '--force', ...names];
}

/** `<engine> run`'s arguments for the attempt (the engine's own environment comes with them). */
export function containerRunArgs(spec: AttemptContainerSpec): {
  readonly args: readonly string[];
  readonly env: Record<string, string | undefined>;
  readonly note?: string;
} {
  const { owner, runtime } = spec;
  const machine = spec.machine ?? { vcpus: cpus().length, memoryMiB: Math.floor(totalmem() / 1024 / 1024) };
  const limits = containerLimits(
    { ...(spec.vcpus !== undefined ? { vcpus: spec.vcpus } : {}), ...(spec.memoryMiB !== undefined ? { memoryMiB: spec.memoryMiB } : {}) },
    machine,
  );
  const env: Record<string, string | undefined> = { ...runtime.env };
  const environmentArgs: string[] = [];
  // A container given CDI devices sees only those, numbered from 0: the host's indices would hide them.
  const variables = runtime.realGpus
    ? { ...spec.variables, CUDA_VISIBLE_DEVICES: spec.slots.map((_, index) => index).join(',') }
    : spec.variables;
  for (const [name, value] of Object.entries(variables)) {
    if (CLIENT_VARIABLES.test(name)) {
      environmentArgs.push('--env', `${name}=${value}`);
    } else {
      env[name] = value;
      environmentArgs.push('--env', name);
    }
  }
  const args = [
    'run',
    '--rm',
    '--name',
    containerName(owner),
    '--label',
    `${CONTAINER_LABELS.jobId}=${owner.jobId}`,
    '--label',
    `${CONTAINER_LABELS.attempt}=${owner.attempt}`,
    '--label',
    `${CONTAINER_LABELS.platform}=${owner.platformToken}`,
    '--pull',
    runtime.pull,
    // The image's own variables stay; the host's never reach the container.
    ...environmentArgs,
    '--volume',
    `${spec.sandbox}:${SANDBOX_MOUNT_PATH}`,
    ...(limits.vcpus !== undefined ? ['--cpus', String(limits.vcpus)] : []),
    ...(limits.memoryMiB !== undefined ? ['--memory', `${limits.memoryMiB}m`] : []),
    ...(spec.sharedMemoryMiB !== undefined ? ['--shm-size', `${spec.sharedMemoryMiB}m`] : []),
    // Virtual slots are no devices: a container given none sees no GPU, as on a CPU host.
    ...(runtime.realGpus ? gpuArgs(runtime.engine, spec.slots) : []),
    spec.image,
    ...spec.command,
  ];
  return { args, env, ...(limits.note !== undefined ? { note: limits.note } : {}) };
}

/**
 * A container that never ran because podman could not create or start it: why, in Batch's words.
 * Carried as the attempt's spawn error so that the attempt ends as one that could not start.
 */
export class ContainerStartError extends Error {
  override readonly name = 'ContainerStartError';
  constructor(
    /** Batch's container reason (`CannotPullContainerError: …`, `CannotStartContainerError: …`). */
    readonly containerReason: string,
    /** The attempt's status reason. */
    readonly statusReason: string,
  ) {
    super(containerReason);
  }
}

// The engines' wording when the image is not in the store (pull never), or a registry refuses or cannot be
// reached (Docker names the registry's /v2/ endpoint it could not get).
const PULL_FAILURES =
  /image not known|pull access denied|manifest unknown|name unknown|repository does not exist|requested access to the resource is denied|initializing source|pinging container registry|reading manifest|unable to pull|short-name|no such image|Get "https?:\/\/[^"]*\/v2\//i;
// 126 and 127 are also a job's own codes (a shell's "not executable", "not found"): podman's only with its OCI runtime's error.
const OCI_START_FAILURE = /OCI runtime|executable file not found|CDI devices?/i;

/**
 * Reads how the podman client ended: a start failure when podman itself failed (125, its own
 * error, by podman's documented contract; 126 or 127 with an OCI runtime error), else undefined:
 * the container ran and the code is its own.
 */
export function containerStartFailure(exitCode: number | null, engineError: string | undefined): ContainerStartError | undefined {
  if (engineError === undefined) return undefined;
  if (exitCode !== 125 && !((exitCode === 126 || exitCode === 127) && OCI_START_FAILURE.test(engineError))) return undefined;
  if (exitCode === 125 && PULL_FAILURES.test(engineError)) {
    const reason = `CannotPullContainerError: ${engineError}`;
    return new ContainerStartError(reason, reason);
  }
  return new ContainerStartError(`CannotStartContainerError: ${engineError}`, BATCH_STATUS_REASON.cannotStartContainer);
}

/** The attempt's end when its container never ran (no exit code: nothing of the job ran). */
export function containerStartFailureEnd(placement: AttemptPlacement, failure: ContainerStartError): AttemptEnd {
  return {
    statusReason: failure.statusReason,
    containerReason: failure.containerReason,
    container: {
      containerInstanceArn: placement.containerInstanceArn,
      taskArn: placement.taskArn,
      logStreamName: placement.logStreamName,
      networkInterfaces: [],
      reason: failure.containerReason,
    },
    succeeded: false,
  };
}

/**
 * The engine's own error in a line its client printed, or undefined: podman's `Error: …`, Docker's
 * `docker: Error response from daemon: …` (or `docker: …` for what the client itself refused).
 */
export function engineErrorIn(engine: ContainerEngineName, line: string): string | undefined {
  if (engine === 'podman') return line.startsWith('Error: ') ? line.slice('Error: '.length).trim() : undefined;
  const docker = /^docker: (?:Error response from daemon: )?(.+)$/.exec(line);
  // Docker ends its message with a period, and follows it with a pointer to --help.
  return docker ? docker[1]!.trim().replace(/\.$/, '') : undefined;
}

/** Starts the attempt's container; throws what spawnAttemptMain throws. */
export function startAttemptContainer(spec: AttemptContainerSpec, events: AttemptProcessEvents): AttemptProcess {
  const { args, env, note } = containerRunArgs(spec);
  const name = containerName(spec.owner);
  const engine = spec.runtime.engine;
  // The engine's own error, the last one its client printed: what a failed start is reported as.
  let engineError: string | undefined;
  let exited = false;
  const main = spawnAttemptMain(
    engine,
    args,
    { cwd: spec.sandbox, env },
    spec,
    {
      onSpawn: events.onSpawn,
      onEnd: (code, signal, spawnError) => {
        exited = true;
        events.onEnd(code, signal, spawnError ?? containerStartFailure(code, engineError));
      },
    },
    (line) => {
      engineError = engineErrorIn(engine, line) ?? engineError;
    },
  );
  const engineCommand = (commandArgs: readonly string[], timeoutMs: number) =>
    new Promise<number>((resolve) => {
      execFile(engine, [...commandArgs], { env, timeout: timeoutMs }, (error) =>
        resolve(error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0),
      );
    });
  return {
    ...main,
    ...(note !== undefined ? { note } : {}),
    stop: (gracePeriodSeconds) => {
      const seconds = Math.ceil(gracePeriodSeconds);
      const deadline = Date.now() + gracePeriodSeconds * 1000 + ENGINE_COMMAND_TIMEOUT_MS;
      // The client may not have created the container yet: `podman stop` answers "no such
      // container" until it has, so it is tried again until it stops it or the client is gone.
      const tryStop = async (): Promise<void> => {
        while (!exited && Date.now() < deadline) {
          if ((await engineCommand(['stop', '--time', String(seconds), name], seconds * 1000 + ENGINE_COMMAND_TIMEOUT_MS)) === 0) return;
          await new Promise((resolve) => setTimeout(resolve, STOP_RETRY_MS));
        }
      };
      void tryStop();
      // Past every try, the client itself: its container is removed when the attempt is reaped.
      return setTimeout(() => main.child.kill('SIGKILL'), gracePeriodSeconds * 1000 + ENGINE_COMMAND_TIMEOUT_MS);
    },
    // `--rm` removes the container when it exits; a client that died first leaves it, so it is removed here.
    reap: async (logger, jobName) => {
      const code = await engineCommand(removeContainerArgs(engine, [name]), ENGINE_COMMAND_TIMEOUT_MS);
      if (code !== 0) logger.warn(`job ${jobName}: \`${engine} rm --force ${name}\` exited ${code}; the container may still exist`);
      await drainOutput(main.child, main.outputClosed, OUTPUT_DRAIN_TIMEOUT_MS);
    },
  };
}
