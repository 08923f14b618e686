/** The GPUs local jobs are given: the ones nvidia-smi reports, or virtual slots where there are none. */
import { execFile } from 'node:child_process';

export interface GpuSlot {
  readonly index: number;
  readonly name: string;
  readonly memoryMiB?: number;
}

export interface GpuPool {
  readonly slots: readonly GpuSlot[];
  /** True when the slots are real devices from nvidia-smi. */
  readonly real: boolean;
}

export const DEFAULT_VIRTUAL_GPU_COUNT = 4;

export class InvalidGpuCountError extends Error {
  override readonly name = 'InvalidGpuCountError';
}

/**
 * `count` (GPUJOBS_LOCAL_GPUS) overrides: with real GPUs it keeps the first `count`
 * devices, without them it sets the number of virtual slots.
 */
export async function detectGpus(options: { readonly count?: number; readonly nvidiaSmi?: string } = {}): Promise<GpuPool> {
  if (options.count !== undefined && (!Number.isInteger(options.count) || options.count < 1 || options.count > 64)) {
    throw new InvalidGpuCountError(`GPUJOBS_LOCAL_GPUS must be an integer from 1 to 64. Received ${options.count}.`);
  }
  const real = await queryNvidiaSmi(options.nvidiaSmi ?? 'nvidia-smi');
  if (real.length > 0) {
    return { slots: options.count === undefined ? real : real.slice(0, options.count), real: true };
  }
  const count = options.count ?? DEFAULT_VIRTUAL_GPU_COUNT;
  return {
    slots: Array.from({ length: count }, (_, index) => ({ index, name: 'virtual GPU' })),
    real: false,
  };
}

export function parseNvidiaSmiCsv(output: string): GpuSlot[] {
  const slots: GpuSlot[] = [];
  for (const line of output.split('\n')) {
    const [index, name, memory] = line.split(',').map((field) => field.trim());
    if (index === undefined || !/^\d+$/.test(index) || !name) continue;
    const memoryMiB = memory ? Number.parseInt(memory, 10) : Number.NaN;
    slots.push({ index: Number(index), name, ...(Number.isNaN(memoryMiB) ? {} : { memoryMiB }) });
  }
  return slots;
}

function queryNvidiaSmi(command: string): Promise<GpuSlot[]> {
  return new Promise((resolve) => {
    execFile(command, ['--query-gpu=index,name,memory.total', '--format=csv,noheader,nounits'], { timeout: 5_000 }, (error, stdout) =>
      resolve(error ? [] : parseNvidiaSmiCsv(stdout)),
    );
  });
}
