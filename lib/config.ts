/**
 * gpujobs configuration: read from the CDK context and checked at synth, so a bad
 * value stops `cdk synth` with a message that names the key and the value instead
 * of failing half way through a deployment.
 *
 * Sources, later wins:
 *   1. the defaults below;
 *   2. the `gpujobs` object in cdk.json's `context` (or `-c gpujobs='{"maxVcpus":64}'`);
 *   3. flat keys `gpujobs.<key>` (e.g. `-c gpujobs.maxVcpus=64`); lists are comma-separated.
 *
 * Every key, its default and meaning: docs/configuration.md.
 */
import type { Node } from 'constructs';
import { instanceTypeSpec, instanceTypesNotOffered, knownInstanceTypes, REGIONAL_OFFERINGS } from '../core/instance-catalogue.js';
import { OWNER_IDENTITIES, type OwnerIdentity } from '../core/contract/owner.js';

export type AuthType = 'iam' | 'jwt';
export type TableRemovalPolicy = 'retain' | 'destroy';

export interface GpuJobsConfig {
  /** How callers authenticate: SigV4 (`iam`) or a JWT from an OIDC issuer (`jwt`). */
  readonly authType: AuthType;
  /** JWT issuer URL (https), required when authType is `jwt`. */
  readonly jwtIssuer?: string;
  /** Accepted JWT audiences, at least one when authType is `jwt`. */
  readonly jwtAudience: readonly string[];
  /** OAuth scope every route requires, when authType is `jwt`. */
  readonly jwtRequiredScope?: string;
  /**
   * Owner of an assumed-role caller (authType `iam`): each `session` (e.g. each IAM Identity Center
   * user of a permission set) or the whole `role`. Changing it re-keys existing jobs' visibility.
   */
  readonly ownerIdentity: OwnerIdentity;
  /** API steady-state requests per second (default stage). */
  readonly throttlingRateLimit: number;
  /** API burst capacity in requests (default stage). */
  readonly throttlingBurstLimit: number;
  /** SQS messages per dispatcher invocation. */
  readonly dispatcherBatchSize: number;
  /** Concurrent dispatcher invocations (SQS event source MaximumConcurrency). */
  readonly dispatcherMaxConcurrency: number;
  /** Executions the platform starts per second at most, shared by the dispatcher invocations. */
  readonly dispatchRatePerSecond: number;
  /** EC2 instance types both compute environments may launch. */
  readonly gpuInstanceTypes: readonly string[];
  /** Maximum vCPUs of each compute environment. */
  readonly maxVcpus: number;
  /** Seconds a Spot job may wait RUNNABLE for capacity before it fails over to On-Demand. */
  readonly capacityTimeoutSeconds: number;
  /** Seconds an On-Demand job may wait in a blocked queue (no capacity, or a vCPU quota) before it is cancelled. */
  readonly onDemandCapacityTimeoutSeconds: number;
  /** Minutes between watchdog runs (capacity failover for every waiting job, lost end events). */
  readonly watchdogIntervalMinutes: number;
  /** Existing VPC to run in; a new public-only VPC when absent. */
  readonly vpcId?: string;
  /** Subnets of `vpcId` for the Batch instances (need a route to the internet). */
  readonly subnetIds: readonly string[];
  /** Retention of every log group the stack creates. */
  readonly logRetentionDays: number;
  /** Registries job images may come from; empty allows any. */
  readonly allowedRegistries: readonly string[];
  /** Email address that receives alarm notifications. */
  readonly alarmEmail?: string;
  /** Pinned ECS GPU AL2023 AMI id; Batch's current ECS_AL2023_NVIDIA image when absent. */
  readonly gpuAmiId?: string;
  /** Root volume size of the Batch instances in GiB (images and scratch space). */
  readonly rootVolumeGiB: number;
  /** What happens to the job table when the stack is deleted. */
  readonly tableRemovalPolicy: TableRemovalPolicy;
}

/** The CDK context key holding the configuration object (and the prefix of the flat keys). */
export const CONFIG_CONTEXT_KEY = 'gpujobs';

/**
 * Dispatcher defaults, chosen to stay under AWS Batch's hard limit of 50 SubmitJob
 * calls per second per account. Every execution the dispatcher starts submits its
 * first Batch job moments later (after the Prepare task), so the start rate is the
 * submission rate. Each invocation starts executions one message at a time, spaced
 * by its share of `ratePerSecond` (45/s, 90% of the limit, leaving room for the
 * workflow's own resubmissions after a reclaim); MaximumConcurrency 2 (SQS's minimum)
 * gives each invocation 22.5 starts per second. BatchSize 10 keeps the per-invocation
 * overhead low without raising that rate. A burst waits in the queue, not in Batch's
 * throttling backoff.
 */
const DISPATCHER_DEFAULTS = { batchSize: 10, maxConcurrency: 2, ratePerSecond: 45 } as const;

export const DEFAULT_CONFIG: GpuJobsConfig = {
  authType: 'iam',
  jwtAudience: [],
  ownerIdentity: 'session',
  throttlingRateLimit: 50,
  throttlingBurstLimit: 100,
  dispatcherBatchSize: DISPATCHER_DEFAULTS.batchSize,
  dispatcherMaxConcurrency: DISPATCHER_DEFAULTS.maxConcurrency,
  dispatchRatePerSecond: DISPATCHER_DEFAULTS.ratePerSecond,
  // Three NVIDIA families (T4, A10G, L4) in several sizes: Spot price-capacity-optimized needs many
  // pools. The 12xlarge sizes (4 GPUs) make jobs of 2 to 4 GPUs placeable.
  gpuInstanceTypes: [
    'g4dn.xlarge',
    'g4dn.2xlarge',
    'g4dn.4xlarge',
    'g4dn.8xlarge',
    'g4dn.12xlarge',
    'g5.xlarge',
    'g5.2xlarge',
    'g5.4xlarge',
    'g5.8xlarge',
    'g5.12xlarge',
    'g6.xlarge',
    'g6.2xlarge',
    'g6.4xlarge',
    'g6.8xlarge',
    'g6.12xlarge',
  ],
  maxVcpus: 256,
  capacityTimeoutSeconds: 600,
  onDemandCapacityTimeoutSeconds: 3600,
  watchdogIntervalMinutes: 1,
  subnetIds: [],
  logRetentionDays: 365,
  allowedRegistries: [],
  rootVolumeGiB: 100,
  tableRemovalPolicy: 'retain',
};

/** Retention values CloudWatch Logs accepts. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** Families the ECS_AL2023_NVIDIA image does not support (g3/p3), or that are not x86 NVIDIA (g5g is Graviton). */
const UNSUPPORTED_GPU_FAMILIES = new Set(['g3', 'g3s', 'p3', 'p3dn', 'g5g']);

/** Every configuration key, optional ones included (an unknown key is an error). */
export const CONFIG_KEYS: ReadonlySet<string> = new Set<string>(
  Object.keys(DEFAULT_CONFIG).concat(['jwtIssuer', 'jwtRequiredScope', 'vpcId', 'alarmEmail', 'gpuAmiId']),
);

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Raw = Record<string, unknown>;

/** Reads and validates the configuration from a construct tree's context. */
export function loadConfig(node: Node): GpuJobsConfig {
  const raw: Raw = {};
  const fromObject = node.tryGetContext(CONFIG_CONTEXT_KEY) as unknown;
  if (fromObject !== undefined) Object.assign(raw, parseObjectContext(fromObject));
  for (const key of CONFIG_KEYS) {
    const flat = node.tryGetContext(`${CONFIG_CONTEXT_KEY}.${key}`) as unknown;
    if (flat !== undefined) raw[key] = flat;
  }
  return parseConfig(raw);
}

function parseObjectContext(value: unknown): Raw {
  let parsed = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch (cause) {
      throw new ConfigError(`${CONFIG_CONTEXT_KEY} must be a JSON object. Received ${quote(value)}.`, { cause });
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`${CONFIG_CONTEXT_KEY} must be an object. Received ${quote(value)}.`);
  }
  return parsed as Raw;
}

/** Validates a raw configuration (values as they come from JSON or the command line). */
export function parseConfig(raw: Raw): GpuJobsConfig {
  for (const key of Object.keys(raw)) {
    if (!CONFIG_KEYS.has(key)) {
      throw new ConfigError(`${name(key)} is not a gpujobs configuration key. Known keys: ${[...CONFIG_KEYS].sort().join(', ')}.`);
    }
  }
  const d = DEFAULT_CONFIG;
  const authType = oneOf(raw, 'authType', ['iam', 'jwt'] as const, d.authType);
  const jwtIssuer = optionalString(raw, 'jwtIssuer', /^https:\/\/[^\s]+$/, 'an https URL');
  const jwtAudience = stringList(raw, 'jwtAudience', /^\S+$/, 'non-empty strings without spaces', d.jwtAudience);
  const jwtRequiredScope = optionalString(raw, 'jwtRequiredScope', /^[\x21\x23-\x5b\x5d-\x7e]+$/, 'an OAuth scope token');
  if (authType === 'jwt') {
    if (jwtIssuer === undefined) throw new ConfigError(`${name('jwtIssuer')} is required when ${name('authType')} is "jwt".`);
    if (jwtAudience.length === 0)
      throw new ConfigError(`${name('jwtAudience')} needs at least one audience when ${name('authType')} is "jwt".`);
  }

  const vpcId = optionalString(raw, 'vpcId', /^vpc-[0-9a-f]{8,17}$/, 'a VPC id (vpc-…)');
  const subnetIds = stringList(raw, 'subnetIds', /^subnet-[0-9a-f]{8,17}$/, 'subnet ids (subnet-…)', d.subnetIds);
  if (vpcId !== undefined && subnetIds.length === 0) {
    throw new ConfigError(`${name('subnetIds')} needs at least one subnet when ${name('vpcId')} is set.`);
  }
  if (vpcId === undefined && subnetIds.length > 0) {
    throw new ConfigError(`${name('subnetIds')} can only be used with ${name('vpcId')}. Received ${quote(subnetIds.join(','))}.`);
  }

  const gpuInstanceTypes = stringList(
    raw,
    'gpuInstanceTypes',
    /^[gp]\d+[a-z]*\.\d*[a-z]+$/,
    'NVIDIA GPU instance types such as g5.xlarge',
    d.gpuInstanceTypes,
  );
  if (gpuInstanceTypes.length === 0) throw new ConfigError(`${name('gpuInstanceTypes')} needs at least one instance type.`);
  for (const type of gpuInstanceTypes) {
    const family = type.split('.')[0] ?? type;
    if (UNSUPPORTED_GPU_FAMILIES.has(family)) {
      throw new ConfigError(
        `${name('gpuInstanceTypes')} contains ${quote(type)}: the ECS AL2023 NVIDIA image does not run on the ${family} family.`,
      );
    }
    if (!instanceTypeSpec(type)) {
      throw new ConfigError(
        `${name('gpuInstanceTypes')} contains ${quote(type)}, which is not in gpujobs' instance catalogue (core/instance-catalogue.ts). Known types: ${knownInstanceTypes().join(', ')}.`,
      );
    }
  }
  // A compute environment capped below one instance of a type can never launch that type.
  const largest = gpuInstanceTypes.reduce((most, type) => (instanceTypeSpec(type)!.vcpus > instanceTypeSpec(most)!.vcpus ? type : most));
  const maxVcpus = integer(raw, 'maxVcpus', 1, 10_000, d.maxVcpus);
  if (maxVcpus < instanceTypeSpec(largest)!.vcpus) {
    throw new ConfigError(
      `${name('maxVcpus')} must be at least ${instanceTypeSpec(largest)!.vcpus}, the vCPUs of ${quote(largest)}, the largest of ${name('gpuInstanceTypes')}. Received ${maxVcpus}.`,
    );
  }

  const logRetentionDays = integer(raw, 'logRetentionDays', 1, 3653, d.logRetentionDays);
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(logRetentionDays)) {
    throw new ConfigError(
      `${name('logRetentionDays')} must be one of ${LOG_RETENTION_DAYS.join(', ')}. Received ${quote(raw.logRetentionDays)}.`,
    );
  }

  const throttlingRateLimit = number(raw, 'throttlingRateLimit', 1, 10_000, d.throttlingRateLimit);
  const throttlingBurstLimit = integer(raw, 'throttlingBurstLimit', 1, 5_000, d.throttlingBurstLimit);

  return {
    authType,
    ...(jwtIssuer !== undefined && { jwtIssuer }),
    jwtAudience,
    ...(jwtRequiredScope !== undefined && { jwtRequiredScope }),
    ownerIdentity: oneOf(raw, 'ownerIdentity', OWNER_IDENTITIES, d.ownerIdentity),
    throttlingRateLimit,
    throttlingBurstLimit,
    dispatcherBatchSize: integer(raw, 'dispatcherBatchSize', 1, 10, d.dispatcherBatchSize),
    // SQS event sources accept MaximumConcurrency from 2 to 1000.
    dispatcherMaxConcurrency: integer(raw, 'dispatcherMaxConcurrency', 2, 1000, d.dispatcherMaxConcurrency),
    // Batch's SubmitJob limit is 50/s per account; more would only be throttled.
    dispatchRatePerSecond: integer(raw, 'dispatchRatePerSecond', 1, 50, d.dispatchRatePerSecond),
    gpuInstanceTypes,
    maxVcpus,
    // Batch rejects jobStateTimeLimitActions shorter than 10 minutes or longer than 24 hours.
    capacityTimeoutSeconds: integer(raw, 'capacityTimeoutSeconds', 600, 86_400, d.capacityTimeoutSeconds),
    onDemandCapacityTimeoutSeconds: integer(raw, 'onDemandCapacityTimeoutSeconds', 600, 604_800, d.onDemandCapacityTimeoutSeconds),
    // A job fails over within its timeout plus one interval; more than an hour defeats the purpose.
    watchdogIntervalMinutes: integer(raw, 'watchdogIntervalMinutes', 1, 60, d.watchdogIntervalMinutes),
    ...(vpcId !== undefined && { vpcId }),
    subnetIds,
    logRetentionDays,
    allowedRegistries: stringList(
      raw,
      'allowedRegistries',
      /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?(\/[a-z0-9._-]+)*$/,
      'registry hosts such as 123456789012.dkr.ecr.us-east-1.amazonaws.com or ghcr.io/my-org',
      d.allowedRegistries,
    ),
    ...optionalField('alarmEmail', optionalString(raw, 'alarmEmail', /^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'an email address')),
    ...optionalField('gpuAmiId', optionalString(raw, 'gpuAmiId', /^ami-[0-9a-f]{8,17}$/, 'an AMI id (ami-…)')),
    rootVolumeGiB: integer(raw, 'rootVolumeGiB', 30, 16_384, d.rootVolumeGiB),
    tableRemovalPolicy: oneOf(raw, 'tableRemovalPolicy', ['retain', 'destroy'] as const, d.tableRemovalPolicy),
  };
}

/**
 * Fails when a configured instance type is not offered in the region the stack deploys to: Batch
 * would refuse both compute environments and the deployment would roll back
 * (`ClientException: Instance type can only be one of [...]`). A region the catalogue has no data
 * for cannot be checked, which the result says so the caller can tell the user.
 */
export function checkInstanceTypesOffered(config: Pick<GpuJobsConfig, 'gpuInstanceTypes'>, region: string): 'checked' | 'region-unknown' {
  const missing = instanceTypesNotOffered(config.gpuInstanceTypes, region);
  if (missing === undefined) return 'region-unknown';
  if (missing.length > 0) {
    throw new ConfigError(
      `${name('gpuInstanceTypes')} contains ${missing.map(quote).join(', ')}, not offered in ${region} (per ${REGIONAL_OFFERINGS.source}, as of ${REGIONAL_OFFERINGS.asOf}). Remove ${missing.length === 1 ? 'it' : 'them'} or deploy to another region; README "Regions" lists where the defaults are offered.`,
    );
  }
  return 'checked';
}

function optionalField<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

const name = (key: string) => `${CONFIG_CONTEXT_KEY}.${key}`;

function quote(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
}

function number(raw: Raw, key: string, min: number, max: number, fallback: number): number {
  const value = raw[key];
  if (value === undefined) return fallback;
  const parsed = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
    throw new ConfigError(`${name(key)} must be a number between ${min} and ${max}. Received ${quote(value)}.`);
  }
  return parsed;
}

function integer(raw: Raw, key: string, min: number, max: number, fallback: number): number {
  const value = raw[key];
  if (value === undefined) return fallback;
  const parsed = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new ConfigError(`${name(key)} must be an integer between ${min} and ${max}. Received ${quote(value)}.`);
  }
  return parsed;
}

function oneOf<T extends string>(raw: Raw, key: string, allowed: readonly T[], fallback: T): T {
  const value = raw[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(`${name(key)} must be one of ${allowed.map((a) => `"${a}"`).join(', ')}. Received ${quote(value)}.`);
  }
  return value as T;
}

function optionalString(raw: Raw, key: string, pattern: RegExp, expected: string): string | undefined {
  const value = raw[key];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new ConfigError(`${name(key)} must be ${expected}. Received ${quote(value)}.`);
  }
  return value;
}

function stringList(raw: Raw, key: string, itemPattern: RegExp, expected: string, fallback: readonly string[]): readonly string[] {
  const value = raw[key];
  if (value === undefined) return fallback;
  const items =
    typeof value === 'string'
      ? value
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
      : value;
  if (!Array.isArray(items)) {
    throw new ConfigError(`${name(key)} must be a list of ${expected}. Received ${quote(value)}.`);
  }
  for (const item of items) {
    if (typeof item !== 'string' || !itemPattern.test(item)) {
      throw new ConfigError(`${name(key)} must be a list of ${expected}. Received ${quote(item)}.`);
    }
  }
  return [...new Set(items as string[])];
}
