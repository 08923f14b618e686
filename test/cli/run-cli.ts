/** Runs the CLI in-process with captured output, an instant clock and no waiting between polls. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { runCli } from '../../cli/run.js';
import type { Fetch } from '../../cli/client.js';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly env?: Record<string, string | undefined>;
  readonly isTTY?: boolean;
  readonly fetch?: Fetch;
  readonly now?: () => number;
  readonly cwd?: string;
  readonly credentials?: AwsCredentialIdentityProvider;
  readonly pollIntervalMs?: number;
  readonly realSleep?: boolean;
}

/** A config dir of its own, so a developer's saved stack never leaks into a test. */
export function isolatedConfigHome(): string {
  return mkdtempSync(join(tmpdir(), 'gpujobs-cli-config-'));
}

export async function cli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    env: { XDG_CONFIG_HOME: isolatedConfigHome(), ...options.env },
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    isTTY: options.isTTY ?? false,
    pollIntervalMs: options.pollIntervalMs ?? 0,
    ...(options.realSleep ? {} : { sleep: async () => {} }),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  return { code, stdout, stderr };
}
