/**
 * Local mode's options: each one given to startLocalPlatform, else read from the environment,
 * else its default; checked before anything starts, with errors that name the variable and value.
 */
import { resolve as resolvePath } from 'node:path';
import { DEFAULT_CONFIG } from '../lib/config.js';
import { PULL_POLICIES, type PullPolicy } from './batch/container-runner.js';
import { DEFAULT_KEEP_FAILED_SANDBOX_SECONDS } from './batch/sandbox.js';
import type { LogStoreIo } from './log-store.js';
import { consoleLogger, type LocalLogger } from './logger.js';

export const DEFAULT_PORT = 8787;
export const DEFAULT_DATA_DIR = '.gpujobs';
export const DEFAULT_CAPACITY_TIMEOUT_SECONDS = 600;
export const DEFAULT_STOP_GRACE_SECONDS = 5;
/** The stack's schedule runs the watchdog every minute (`watchdogIntervalMinutes`). */
export const DEFAULT_WATCHDOG_INTERVAL_SECONDS = DEFAULT_CONFIG.watchdogIntervalMinutes * 60;
/** The longest a failed attempt's sandbox may be kept: 30 days. */
const MAX_KEEP_FAILED_SECONDS = 30 * 86_400;

/**
 * What runs a job's attempt: `podman` or `docker` runs its image in a container; `process` runs
 * its command as a host process (the image is recorded, not run); `auto` is the first of podman
 * and Docker that answers, else `process` (job-runtime.ts decides at start).
 */
export const LOCAL_RUNTIMES = ['auto', 'podman', 'docker', 'process'] as const;
export type LocalRuntime = (typeof LOCAL_RUNTIMES)[number];
/** What runs jobs once `auto` is decided. */
export type JobRuntime = Exclude<LocalRuntime, 'auto'>;

export interface LocalPlatformOptions {
  /** HTTP port; 0 picks a free one. @default PORT, else 8787 */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Database, job logs, event log and caches. @default GPUJOBS_DATA_DIR, else `.gpujobs` in the working directory */
  readonly dataDir?: string;
  /** GPU slots to use (virtual ones when there is no nvidia-smi). @default GPUJOBS_LOCAL_GPUS, else all GPUs or 4 virtual */
  readonly gpus?: number;
  /** Seconds a Spot job waits for capacity before it is cancelled (and fails over). @default GPUJOBS_CAPACITY_TIMEOUT_SECONDS, else 600 */
  readonly capacityTimeoutSeconds?: number;
  /**
   * Seconds between watchdog runs (capacity failover for every waiting job, ends whose event was
   * lost); 0 runs no watchdog. @default GPUJOBS_WATCHDOG_INTERVAL_SECONDS, else 60
   */
  readonly watchdogIntervalSeconds?: number;
  /** Seconds between SIGTERM and SIGKILL on a reclaim or cancel. @default GPUJOBS_SPOT_GRACE_SECONDS, else 5 */
  readonly stopGracePeriodSeconds?: number;
  /** URLs every gpujobs event is POSTed to. @default GPUJOBS_WEBHOOK_URLS (comma-separated), else none */
  readonly webhookUrls?: readonly string[];
  /** What runs jobs. @default GPUJOBS_LOCAL_RUNTIME, else `auto` */
  readonly runtime?: LocalRuntime;
  /** When a container runtime pulls a job's image. @default GPUJOBS_LOCAL_PULL, else `missing` */
  readonly pull?: PullPolicy;
  /**
   * Seconds a failed attempt's sandbox directory (`<dataDir>/sandboxes/…`) is kept for debugging;
   * 0 removes it at once. @default GPUJOBS_LOCAL_KEEP_FAILED_SECONDS, else 3600
   */
  readonly keepFailedSandboxSeconds?: number;
  /** Concurrent dispatcher invocations. @default the stack's `dispatcherMaxConcurrency` default (2) */
  readonly dispatcherConcurrency?: number;
  /** Messages per dispatcher invocation. @default the stack's `dispatcherBatchSize` default (10) */
  readonly dispatcherBatchSize?: number;
  /** Finished jobs the Batch stand-in keeps for DescribeJobs and ListJobs (their records stay in DynamoDB). @default 1000 */
  readonly retainedBatchJobs?: number;
  /** Suppresses informational lines (warnings and errors still print). @default false */
  readonly quiet?: boolean;
  readonly logger?: LocalLogger;
  /** Where defaults are read from. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** File operations of the job log store, replaced by tests that make the disk fail. @default node:fs */
  readonly logStoreIo?: Partial<LogStoreIo>;
}

/** Every option with its value decided. */
export interface ResolvedLocalOptions {
  readonly port: number;
  readonly host: string;
  /** Absolute. */
  readonly dataDir: string;
  /** Undefined: every GPU nvidia-smi finds, else the virtual default. */
  readonly gpuCount: number | undefined;
  readonly capacityTimeoutSeconds: number;
  readonly watchdogIntervalSeconds: number;
  readonly stopGracePeriodSeconds: number;
  readonly webhookUrls: readonly string[];
  /** What was asked for (option or GPUJOBS_LOCAL_RUNTIME); `auto` is decided at start, by which engine answers. */
  readonly requestedRuntime: LocalRuntime;
  /** When a container runtime pulls a job's image (unused by `process`). */
  readonly pullPolicy: PullPolicy;
  readonly keepFailedSandboxSeconds: number;
  readonly dispatcherConcurrency: number;
  readonly dispatcherBatchSize: number;
  readonly retainedBatchJobs: number | undefined;
  readonly region: string;
  readonly logger: LocalLogger;
  readonly logStoreIo: Partial<LogStoreIo> | undefined;
}

export class InvalidLocalOptionError extends Error {
  override readonly name = 'InvalidLocalOptionError';
}

/** A container runtime asked for by name whose engine does not answer. */
export class RuntimeUnavailableError extends Error {
  override readonly name = 'RuntimeUnavailableError';
}

export function resolveLocalOptions(options: LocalPlatformOptions): ResolvedLocalOptions {
  const env = options.env ?? process.env;
  const logger = options.logger ?? consoleLogger({ quiet: options.quiet ?? false });
  const port = options.port ?? integerEnv(env, 'PORT', DEFAULT_PORT, 0, 65535);
  const dataDir = resolvePath(options.dataDir ?? env.GPUJOBS_DATA_DIR ?? DEFAULT_DATA_DIR);
  const capacityTimeoutSeconds =
    options.capacityTimeoutSeconds ?? integerEnv(env, 'GPUJOBS_CAPACITY_TIMEOUT_SECONDS', DEFAULT_CAPACITY_TIMEOUT_SECONDS, 1, 86_400);
  const watchdogIntervalSeconds =
    options.watchdogIntervalSeconds ?? numberEnv(env, 'GPUJOBS_WATCHDOG_INTERVAL_SECONDS', DEFAULT_WATCHDOG_INTERVAL_SECONDS, 0, 3600);
  const stopGracePeriodSeconds =
    options.stopGracePeriodSeconds ?? numberEnv(env, 'GPUJOBS_SPOT_GRACE_SECONDS', DEFAULT_STOP_GRACE_SECONDS, 0, 120);
  const webhookUrls = options.webhookUrls ?? listOf(env.GPUJOBS_WEBHOOK_URLS);
  for (const url of webhookUrls) {
    if (!/^https?:\/\//.test(url))
      throw new InvalidLocalOptionError(`GPUJOBS_WEBHOOK_URLS entries must be http(s) URLs. Received ${JSON.stringify(url)}.`);
  }
  const requestedRuntime = options.runtime ?? runtimeEnv(env);
  const keepFailedSandboxSeconds =
    options.keepFailedSandboxSeconds ??
    numberEnv(env, 'GPUJOBS_LOCAL_KEEP_FAILED_SECONDS', DEFAULT_KEEP_FAILED_SANDBOX_SECONDS, 0, MAX_KEEP_FAILED_SECONDS);
  const gpuCount = options.gpus ?? (env.GPUJOBS_LOCAL_GPUS ? integerEnv(env, 'GPUJOBS_LOCAL_GPUS', 4, 1, 64) : undefined);
  return {
    port,
    host: options.host ?? '127.0.0.1',
    dataDir,
    gpuCount,
    capacityTimeoutSeconds,
    watchdogIntervalSeconds,
    stopGracePeriodSeconds,
    webhookUrls,
    requestedRuntime,
    pullPolicy: options.pull ?? pullEnv(env),
    keepFailedSandboxSeconds,
    dispatcherConcurrency: options.dispatcherConcurrency ?? DEFAULT_CONFIG.dispatcherMaxConcurrency,
    dispatcherBatchSize: options.dispatcherBatchSize ?? DEFAULT_CONFIG.dispatcherBatchSize,
    retainedBatchJobs: options.retainedBatchJobs,
    region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    logger,
    logStoreIo: options.logStoreIo,
  };
}

function runtimeEnv(env: NodeJS.ProcessEnv): LocalRuntime {
  const raw = env.GPUJOBS_LOCAL_RUNTIME;
  if (raw === undefined || raw.trim() === '') return 'auto';
  const value = raw.trim();
  if (!(LOCAL_RUNTIMES as readonly string[]).includes(value)) {
    throw new InvalidLocalOptionError(
      `GPUJOBS_LOCAL_RUNTIME must be one of ${LOCAL_RUNTIMES.join(', ')}. Received ${JSON.stringify(raw)}.`,
    );
  }
  return value as LocalRuntime;
}

function pullEnv(env: NodeJS.ProcessEnv): PullPolicy {
  const raw = env.GPUJOBS_LOCAL_PULL;
  if (raw === undefined || raw.trim() === '') return 'missing';
  const value = raw.trim();
  if (!(PULL_POLICIES as readonly string[]).includes(value)) {
    throw new InvalidLocalOptionError(`GPUJOBS_LOCAL_PULL must be one of ${PULL_POLICIES.join(', ')}. Received ${JSON.stringify(raw)}.`);
  }
  return value as PullPolicy;
}

function integerEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const value = numberEnv(env, name, fallback, min, max);
  if (!Number.isInteger(value))
    throw new InvalidLocalOptionError(`${name} must be an integer from ${min} to ${max}. Received ${JSON.stringify(env[name])}.`);
  return value;
}

function numberEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new InvalidLocalOptionError(`${name} must be a number from ${min} to ${max}. Received ${JSON.stringify(raw)}.`);
  }
  return value;
}

function listOf(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
}
