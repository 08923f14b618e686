/**
 * Starting local mode for a benchmark: a fresh temporary data dir, so startupSeconds is a first
 * start (local mode builds the workflow definition on every start; nothing is cached).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalPlatform, type LocalPlatform, type LocalPlatformOptions } from '../../local/platform.js';

export interface BenchPlatform {
  readonly platform: LocalPlatform;
  /** From the call to ready, on an empty data dir. */
  readonly startupSeconds: number;
  /** Stops the platform and removes its data dir. */
  close(): Promise<void>;
}

export async function startBenchPlatform(options: Omit<LocalPlatformOptions, 'dataDir' | 'port'>): Promise<BenchPlatform> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gpujobs-bench-local-'));
  const started = performance.now();
  // Host processes unless asked: the benchmark measures the platform, not an engine's container start.
  const platform = await startLocalPlatform({ runtime: 'process', ...options, port: 0, dataDir });
  return {
    platform,
    startupSeconds: (performance.now() - started) / 1000,
    close: async () => {
      await platform.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const TERMINAL_DETAIL_TYPES = new Set(['GPU Job Succeeded', 'GPU Job Failed', 'GPU Job Cancelled']);

/** Terminal events per job id, from local mode's event log. */
export function terminalEventCounts(platform: LocalPlatform): Map<string, number> {
  const counts = new Map<string, number>();
  for (const event of platform.events()) {
    if (!TERMINAL_DETAIL_TYPES.has(event['detail-type'])) continue;
    const jobId = String((event.detail as { jobId?: unknown }).jobId);
    counts.set(jobId, (counts.get(jobId) ?? 0) + 1);
  }
  return counts;
}

/** True when every job has a terminal event before the deadline. */
export async function waitForTerminalEvents(
  platform: LocalPlatform,
  jobIds: readonly string[],
  deadline: number,
  pollMs: number,
): Promise<boolean> {
  for (;;) {
    const counts = terminalEventCounts(platform);
    if (jobIds.every((id) => counts.has(id))) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

export async function submitJob(
  url: string,
  body: Record<string, unknown>,
): Promise<{ status: number; jobId?: string; startedAt: number; latencyMs: number }> {
  const startedAt = Date.now();
  const started = performance.now();
  const response = await fetch(`${url}/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const parsed = (await response.json()) as { jobId?: string };
  return { status: response.status, ...(parsed.jobId ? { jobId: parsed.jobId } : {}), startedAt, latencyMs: performance.now() - started };
}
