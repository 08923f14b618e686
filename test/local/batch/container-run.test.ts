/**
 * How an attempt becomes `podman run`, and how podman's end reads in Batch's terms: the
 * flags from the job (name, labels, environment, mount, limits capped to the machine, pull
 * policy, GPUs only when real), and podman's own failures told from the container's exit codes.
 */
import { describe, expect, it } from 'vitest';
import {
  type AttemptContainerSpec,
  ContainerStartError,
  containerStartFailure,
  containerRunArgs,
  engineErrorIn,
  removeContainerArgs,
  requestedLimits,
  sharedMemoryOf,
} from '../../../local/batch/container-runner.js';
import type { LogStore } from '../../../local/log-store.js';

const spec = (overrides: Partial<AttemptContainerSpec> = {}): AttemptContainerSpec => ({
  logStore: undefined as unknown as LogStore,
  logGroupName: 'group',
  logStreamName: 'stream',
  onLogFailure: () => {},
  runtime: { engine: 'podman', env: { PATH: '/usr/bin', CONTAINERS_CONF: '/conf' }, pull: 'missing', realGpus: false },
  owner: { jobName: 'gpujobs-abc-1', jobId: '12345678-aaaa-bbbb', attempt: 2, platformToken: 'token' },
  image: 'localhost/img:1',
  command: ['python', 'train.py'],
  sandbox: '/data/sandboxes/x',
  variables: { MINE: 'secret', CUDA_VISIBLE_DEVICES: '2,3' },
  slots: [2, 3],
  machine: { vcpus: 4, memoryMiB: 8192 },
  ...overrides,
});

describe('podman run arguments', () => {
  it('names and labels the container, mounts the sandbox, keeps the entrypoint and passes the command after the image', () => {
    const { args } = containerRunArgs(spec());

    expect(args.slice(0, 4)).toEqual(['run', '--rm', '--name', 'gpujobs-gpujobs-abc-1-12345678-2']);
    expect(args).toEqual(expect.arrayContaining(['gpujobs.job-id=12345678-aaaa-bbbb', 'gpujobs.attempt=2', 'gpujobs.platform=token']));
    expect(args).toEqual(expect.arrayContaining(['--volume', '/data/sandboxes/x:/gpujobs/work', '--pull', 'missing']));
    expect(args).not.toContain('--entrypoint');
    expect(args.slice(-3)).toEqual(['localhost/img:1', 'python', 'train.py']);
  });

  it('names job variables on the command line and passes their values through the client environment, out of ps', () => {
    const { args, env } = containerRunArgs(spec());

    expect(args).toEqual(expect.arrayContaining(['--env', 'MINE']));
    expect(args.join(' ')).not.toContain('secret');
    expect(env).toMatchObject({ MINE: 'secret', CONTAINERS_CONF: '/conf', PATH: '/usr/bin' });
  });

  it('passes a variable podman reads itself on the command line, so that it does not change how podman runs', () => {
    const { args, env } = containerRunArgs(spec({ variables: { PATH: '/opt/bin' } }));

    expect(args).toEqual(expect.arrayContaining(['--env', 'PATH=/opt/bin']));
    expect(env.PATH).toBe('/usr/bin');
  });

  it('gives vcpus and memory as limits, capped to the machine and said so', () => {
    expect(containerRunArgs(spec({ vcpus: 2, memoryMiB: 1024 }))).toMatchObject({
      args: expect.arrayContaining(['--cpus', '2', '--memory', '1024m']),
    });
    const capped = containerRunArgs(spec({ vcpus: 8, memoryMiB: 16384 }));
    expect(capped.args).toEqual(expect.arrayContaining(['--cpus', '4', '--memory', '8192m']));
    expect(capped.note).toBe("vcpus 8 capped to this machine's 4; memoryMiB 16384 capped to this machine's 8192");
    expect(containerRunArgs(spec({ vcpus: 2 })).note).toBeUndefined();
  });

  it('gives no GPU device for virtual slots, and keeps their slot numbers', () => {
    const { args, env } = containerRunArgs(spec());

    expect(args).not.toContain('--device');
    expect(env.CUDA_VISIBLE_DEVICES).toBe('2,3');
  });

  it('gives each assigned real GPU as a CDI device, numbered from 0 inside the container', () => {
    const { args, env } = containerRunArgs(spec({ runtime: { ...spec().runtime, realGpus: true } }));

    expect(args).toEqual(expect.arrayContaining(['--device', 'nvidia.com/gpu=2', '--device', 'nvidia.com/gpu=3']));
    expect(env.CUDA_VISIBLE_DEVICES).toBe('0,1');
  });
});

describe('docker run arguments', () => {
  const docker = (overrides: Partial<AttemptContainerSpec> = {}) =>
    spec({ runtime: { engine: 'docker', env: { PATH: '/usr/bin' }, pull: 'never', realGpus: true }, ...overrides });

  it('gives the assigned real GPUs in one --gpus, the device list quoted inside its CSV value, numbered from 0 inside', () => {
    const { args, env } = containerRunArgs(docker());

    expect(args).toEqual(expect.arrayContaining(['--gpus', '"device=2,3"']));
    expect(args).not.toContain('--device');
    expect(env.CUDA_VISIBLE_DEVICES).toBe('0,1');
  });

  it('takes the same pull policy, labels, mount and limits as podman', () => {
    const { args } = containerRunArgs(docker({ vcpus: 2, memoryMiB: 1024 }));

    expect(args).toEqual(
      expect.arrayContaining(['--pull', 'never', '--volume', '/data/sandboxes/x:/gpujobs/work', '--cpus', '2', '--memory', '1024m']),
    );
    expect(args).toEqual(expect.arrayContaining(['gpujobs.job-id=12345678-aaaa-bbbb']));
  });

  it('passes a job variable Docker’s client reads on the command line, so that it cannot redirect the client', () => {
    const { args, env } = containerRunArgs(docker({ variables: { DOCKER_HOST: 'tcp://elsewhere:2375' } }));

    expect(args).toEqual(expect.arrayContaining(['--env', 'DOCKER_HOST=tcp://elsewhere:2375']));
    expect(env.DOCKER_HOST).toBeUndefined();
  });

  it('removes a container with rm --force alone, which Docker takes and podman extends', () => {
    expect(removeContainerArgs('docker', ['a', 'b'])).toEqual(['rm', '--force', 'a', 'b']);
    expect(removeContainerArgs('podman', ['a'])).toEqual(['rm', '--force', '--ignore', '--time', '0', 'a']);
  });
});

describe('/dev/shm', () => {
  it('is sized by the job definition’s linuxParameters.sharedMemorySize, in both engines', () => {
    const sized = sharedMemoryOf({ containerProperties: { linuxParameters: { sharedMemorySize: 2048 } } });

    expect(sized).toEqual({ sharedMemoryMiB: 2048 });
    expect(containerRunArgs(spec(sized)).args).toEqual(expect.arrayContaining(['--shm-size', '2048m']));
    expect(containerRunArgs(spec({ ...sized, runtime: { ...spec().runtime, engine: 'docker' } })).args).toEqual(
      expect.arrayContaining(['--shm-size', '2048m']),
    );
  });

  it('keeps the engine’s default when the definition sets none', () => {
    expect(sharedMemoryOf({ containerProperties: {} })).toEqual({});
    expect(containerRunArgs(spec()).args).not.toContain('--shm-size');
  });
});

describe("the engine's error lines", () => {
  it('reads podman’s Error: line and Docker’s daemon error, without Docker’s closing period', () => {
    expect(engineErrorIn('podman', 'Error: localhost/x:1: image not known')).toBe('localhost/x:1: image not known');
    expect(engineErrorIn('docker', 'docker: Error response from daemon: No such image: localhost/x:1.')).toBe(
      'No such image: localhost/x:1',
    );
    expect(engineErrorIn('docker', "Unable to find image 'localhost/x:1' locally")).toBeUndefined();
    expect(engineErrorIn('podman', 'docker: Error response from daemon: x')).toBeUndefined();
  });

  it('reads Docker’s missing image as CannotPullContainerError', () => {
    const failure = containerStartFailure(
      125,
      engineErrorIn('docker', 'docker: Error response from daemon: No such image: localhost/x:1.'),
    );

    expect(failure?.containerReason).toBe('CannotPullContainerError: No such image: localhost/x:1');
  });
});

describe("the job's limits", () => {
  it('reads VCPU and MEMORY from the resource requirements, leaving out what is absent or not a positive number', () => {
    expect(
      requestedLimits([
        { type: 'VCPU', value: '2' },
        { type: 'MEMORY', value: '2048' },
        { type: 'GPU', value: '1' },
      ]),
    ).toEqual({
      vcpus: 2,
      memoryMiB: 2048,
    });
    expect(requestedLimits([{ type: 'VCPU', value: 'many' }])).toEqual({});
  });
});

describe("podman's end", () => {
  it('reads a missing image as CannotPullContainerError', () => {
    const failure = containerStartFailure(125, 'localhost/does-not-exist:1: image not known');

    expect(failure).toBeInstanceOf(ContainerStartError);
    expect(failure?.containerReason).toBe('CannotPullContainerError: localhost/does-not-exist:1: image not known');
    expect(failure?.statusReason).toBe(failure?.containerReason);
  });

  it('reads a command the OCI runtime cannot find as CannotStartContainerError', () => {
    const message =
      'runc: runc create failed: unable to start container process: exec: "nosuch": executable file not found in $PATH: OCI runtime attempted to invoke a command that was not found';

    expect(containerStartFailure(127, message)?.containerReason).toBe(`CannotStartContainerError: ${message}`);
  });

  it("keeps a container's own 126 or 127 and any code without podman's error as the container's exit", () => {
    expect(containerStartFailure(127, 'sh: nosuch: not found')).toBeUndefined();
    expect(containerStartFailure(3, undefined)).toBeUndefined();
    expect(containerStartFailure(137, undefined)).toBeUndefined();
  });
});
