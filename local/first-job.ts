/**
 * The first job the banner and the README suggest: a small public image that podman or Docker
 * pulls in seconds (with glibc, so that the NVIDIA toolkit's injected `nvidia-smi` runs in it on
 * a GPU machine), and a command whose output shows the job's id and its GPUs.
 */
export const FIRST_JOB = {
  image: 'docker.io/library/ubuntu:24.04',
  command: ['sh', '-c', 'echo hello from $GPUJOBS_JOB_ID; nvidia-smi -L || true'],
} as const;
