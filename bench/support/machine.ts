/** Where and when a benchmark ran: the figures mean little without it. */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  /** 1-minute load average when the benchmark finished: other work on the machine skews timings. */
  readonly loadAverage1m: number;
  readonly platform: string;
  readonly node: string;
  /** ISO date-time (UTC). */
  readonly date: string;
  /** `git rev-parse --short HEAD`, plus `-dirty` when the working tree has changes. */
  readonly commit: string;
}

export function gitCommit(cwd: string): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return dirty ? `${commit}-dirty` : commit;
  } catch {
    return 'unknown';
  }
}

export function machineInfo(cwd: string): MachineInfo {
  const cpuList = cpus();
  return {
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown CPU',
    cores: cpuList.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadAverage1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    platform: `${process.platform}-${process.arch}`,
    node: process.version,
    date: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    commit: gitCommit(cwd),
  };
}
