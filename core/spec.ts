/**
 * Input validation for the HTTP API contract (v1): the job spec, the list and logs
 * queries and the Idempotency-Key header. The API, local mode and the CLI all call
 * these, so a request is judged the same way everywhere.
 *
 * Every parser returns `{ ok: true, ... }` or `{ ok: false, errors }` with one entry
 * per offending field, `path` in dotted form (`environment.MY_VAR`, `command.0`;
 * `''` for the body itself) and a message that names what was received. Environment
 * and tag values are never echoed back (they may hold secrets): only their length.
 */
import { createHash } from 'node:crypto';
import { configure } from 'safe-stable-stringify';
import * as z from 'zod/mini';
import { ON_DEMAND_ATTEMPT_LIMIT } from './capacity.js';
import { CAPACITY_POLICIES, JOB_STATUSES, type CapacityPolicy, type JobSpec, type JobStatus } from './job.js';
import { newJobId } from './job-view.js';
import { attemptEnvironment } from './plan.js';
import { BATCH_MAX_ATTEMPTS, batchRetryStrategy } from './retry-strategy.js';
import { batchJobName } from './contract/workflow.js';

export interface ValidationIssue {
  readonly path: string;
  readonly message: string;
}

export type ValidationResult<K extends string, T> =
  | ({ readonly ok: true } & { readonly [P in K]: T })
  | { readonly ok: false; readonly errors: readonly ValidationIssue[] };

export const JOB_SPEC_LIMITS = {
  name: { minLength: 1, maxLength: 128, pattern: /^[A-Za-z0-9._-]+$/ },
  image: { maxLength: 512 },
  command: { minItems: 1, maxItems: 256, maxItemLength: 4096 },
  environment: { maxEntries: 64, namePattern: /^[A-Za-z_][A-Za-z0-9_]*$/, reservedPrefix: 'AWS_BATCH', maxValueLength: 4096 },
  gpus: { min: 1, max: 8 },
  vcpus: { min: 1, max: 192 },
  memoryMiB: { min: 512, max: 2_000_000 },
  maxSpotAttempts: { min: 1, max: 10 },
  timeoutSeconds: { min: 60, max: 1_209_600 },
  tags: { maxEntries: 32, maxKeyLength: 128, maxValueLength: 256 },
} as const;

export const JOB_SPEC_DEFAULTS = {
  environment: {},
  tags: {},
  gpus: 1,
  vcpus: 4,
  // Fits the smallest default instance types (16 GiB installed, of which Batch can give a job
  // less; see core/instance-catalogue.ts usableMemoryMiB): 16,384 would make Batch launch a type
  // twice the size and price for every job that keeps the default.
  memoryMiB: 15_360,
  capacity: 'spot-first',
  maxSpotAttempts: 3,
  timeoutSeconds: 86_400,
} as const satisfies Omit<JobSpec, 'name' | 'image' | 'command'>;

export const LIST_QUERY_LIMITS = { limit: { min: 1, max: 100, default: 20 } } as const;
export const LOGS_QUERY_LIMITS = { limit: { min: 1, max: 1000, default: 200 } } as const;
export const PAGE_TOKEN_MAX_LENGTH = 4096;
export const IDEMPOTENCY_KEY_MAX_LENGTH = 128;

// ---------------------------------------------------------------------------
// Messages

/** How a received value is shown in a message: short, and never a whole payload. */
export function describeReceived(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return value.length > 64 ? `${JSON.stringify(value.slice(0, 64))}… (${value.length} characters)` : JSON.stringify(value);
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'object':
      return 'an object';
    default:
      return `a ${typeof value}`;
  }
}

type IssueInput = { readonly input?: unknown; readonly code?: string };

const required = (message: (issue: IssueInput) => string) => (issue: IssueInput) =>
  issue.input === undefined && issue.code === 'invalid_type' ? 'is required' : message(issue);

const integerBetween = (min: number, max: number) => {
  const error = required((issue) => `must be an integer between ${min} and ${max}, received ${describeReceived(issue.input)}`);
  return z.int({ error }).check(z.minimum(min, { error }), z.maximum(max, { error }));
};

const textLength = (input: unknown) =>
  typeof input === 'string' ? `${input.length} characters` : describeReceived(input);

// ---------------------------------------------------------------------------
// Image references

export interface ImageReference {
  /** Registry host (and port), lower case; `docker.io` for Docker Hub. */
  readonly registry: string;
  /** Repository path within the registry (`library/ubuntu` for the short Docker Hub form). */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

// The grammar of github.com/distribution/reference, restricted to sha256 digests.
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9A-Fa-f:]+\\])(?::[0-9]+)?$`);
const REPOSITORY = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const DOCKER_HUB = 'docker.io';

/** Parses `registry/repository[:tag][@sha256:digest]`; undefined when it is not a valid reference. */
export function parseImageReference(reference: string): ImageReference | undefined {
  if (reference.length === 0 || reference.length > JOB_SPEC_LIMITS.image.maxLength) return undefined;
  let remainder = reference;
  let digest: string | undefined;
  const at = remainder.indexOf('@');
  if (at !== -1) {
    digest = remainder.slice(at + 1);
    remainder = remainder.slice(0, at);
    if (!DIGEST.test(digest)) return undefined;
  }
  let tag: string | undefined;
  const lastColon = remainder.lastIndexOf(':');
  if (lastColon > remainder.lastIndexOf('/')) {
    tag = remainder.slice(lastColon + 1);
    remainder = remainder.slice(0, lastColon);
    if (!TAG.test(tag)) return undefined;
  }
  // As Docker decides: the first component is a registry when it looks like a host
  // (has a dot or a port, is localhost, or has upper case); otherwise it is Docker Hub.
  const slash = remainder.indexOf('/');
  const first = slash === -1 ? '' : remainder.slice(0, slash);
  const firstIsRegistry =
    slash !== -1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
  let registry = DOCKER_HUB;
  let repository = remainder;
  if (firstIsRegistry) {
    if (!DOMAIN.test(first)) return undefined;
    registry = first.toLowerCase();
    repository = remainder.slice(slash + 1);
  }
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (!REPOSITORY.test(repository)) return undefined;
  return { registry, repository, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

/**
 * One entry of a registry allow list (`allowedRegistries`): a registry host (`ghcr.io`,
 * `localhost:5000`) or a `*.` host suffix (`*.dkr.ecr.us-east-1.amazonaws.com`, every account's
 * private ECR in that region), optionally followed by a repository path (`ghcr.io/acme`,
 * `123456789012.dkr.ecr.us-east-1.amazonaws.com/team`). `index.docker.io` and `docker.io` are the
 * same registry.
 */
export interface RegistryEntry {
  /** Lower case; `docker.io` for Docker Hub; a leading `*.` for a suffix. */
  readonly host: string;
  /** The repository path the entry is limited to, lower case, no leading or trailing `/`. */
  readonly path?: string;
}

export function parseRegistryEntry(entry: string): RegistryEntry {
  const normalized = entry.trim().toLowerCase().replace(/\/+$/, '');
  const slash = normalized.indexOf('/');
  const host = slash === -1 ? normalized : normalized.slice(0, slash);
  const path = slash === -1 ? '' : normalized.slice(slash + 1);
  return { host: host === 'index.docker.io' ? DOCKER_HUB : host, ...(path === '' ? {} : { path }) };
}

/**
 * Hosts compare whole: the deployment's configuration (lib/config.ts) accepts no wildcard hosts,
 * because the ECR pull grant could not honour one, so neither does the match.
 */
function hostMatches(entry: RegistryEntry, registry: string): boolean {
  return registry.toLowerCase() === entry.host;
}

/**
 * A bare host allows every image of that registry; an entry with a path allows the repository
 * of that name and every repository under it, by whole path segments: `ghcr.io/acme` allows
 * `ghcr.io/acme/x` and `ghcr.io/acme/x/y`, never `ghcr.io/acmecorp/x`. Short Docker Hub names
 * are compared in full (`ubuntu` is `docker.io/library/ubuntu`). The ECR pull grant
 * (lib/gpu-compute.ts ecrRepositoryPatterns) reads the entries with parseRegistryEntry to give
 * the same repositories.
 */
export function isImageAllowed(image: ImageReference, allowedRegistries: readonly string[]): boolean {
  // An empty list is the deployment's "no restriction" (the default, documented with its consequence).
  if (allowedRegistries.length === 0) return true;
  return allowedRegistries.some((raw) => {
    const entry = parseRegistryEntry(raw);
    if (!hostMatches(entry, image.registry)) return false;
    return entry.path === undefined || image.repository === entry.path || image.repository.startsWith(`${entry.path}/`);
  });
}

/** Why an allow list refuses an image, naming the registry or repository; undefined when it allows it. */
export function describeImageRefusal(image: ImageReference, allowedRegistries: readonly string[]): string | undefined {
  if (isImageAllowed(image, allowedRegistries)) return undefined;
  const allowed = allowedRegistries.join(', ');
  const hostListed = allowedRegistries.some((raw) => hostMatches(parseRegistryEntry(raw), image.registry));
  return hostListed
    ? `repository ${JSON.stringify(image.repository)} of registry ${JSON.stringify(image.registry)} is not under an allowed path; allowed registries: ${allowed}`
    : `registry ${JSON.stringify(image.registry)} is not allowed; allowed registries: ${allowed}`;
}

// ---------------------------------------------------------------------------
// The job spec

function imageSchema(allowedRegistries: readonly string[] | undefined) {
  const L = JOB_SPEC_LIMITS.image;
  return z.string({ error: required((issue) => `must be a string, received ${describeReceived(issue.input)}`) }).check(
    z.maxLength(L.maxLength, { error: (issue) => `must be at most ${L.maxLength} characters, received ${textLength(issue.input)}` }),
    z.superRefine((image, context) => {
      if (image.length > L.maxLength) return;
      const parsed = parseImageReference(image);
      if (!parsed) {
        context.addIssue({
          code: 'custom',
          input: image,
          message: `must be a container image reference (registry/repository[:tag][@sha256:digest]), received ${describeReceived(image)}`,
        });
        return;
      }
      const refusal = allowedRegistries && describeImageRefusal(parsed, allowedRegistries);
      if (refusal) context.addIssue({ code: 'custom', input: image, message: refusal });
    }),
  );
}

function buildJobSpecSchema(allowedRegistries: readonly string[] | undefined) {
  const N = JOB_SPEC_LIMITS.name;
  const C = JOB_SPEC_LIMITS.command;
  const E = JOB_SPEC_LIMITS.environment;
  const T = JOB_SPEC_LIMITS.tags;
  const D = JOB_SPEC_DEFAULTS;
  const nameError = (issue: IssueInput) =>
    `must be 1 to ${N.maxLength} characters of letters, digits, '.', '_' or '-', received ${describeReceived(issue.input)}`;
  const commandError = required(
    (issue) => `must be an array of 1 to ${C.maxItems} strings, received ${Array.isArray(issue.input) ? `${issue.input.length} items` : describeReceived(issue.input)}`,
  );
  const environmentNameError = (issue: IssueInput) =>
    `environment variable names must match ^[A-Za-z_][A-Za-z0-9_]*$ and not start with ${E.reservedPrefix}, received ${describeReceived(issue.input)}`;
  const objectError = (what: string) => (issue: IssueInput) => `must be an object of ${what}, received ${describeReceived(issue.input)}`;
  const entryCount = (max: number) =>
    z.refine<Record<string, string>>((record) => Object.keys(record).length <= max, {
      // Counted even when some entries are invalid, so the caller learns every problem at once.
      when: (payload) => typeof payload.value === 'object' && payload.value !== null,
      error: (issue) =>
        `must have at most ${max} entries, received ${typeof issue.input === 'object' && issue.input !== null ? Object.keys(issue.input).length : describeReceived(issue.input)}`,
    });

  return z.strictObject(
    {
      name: z.optional(
        z.string({ error: nameError }).check(
          z.minLength(N.minLength, { error: nameError }),
          z.maxLength(N.maxLength, { error: nameError }),
          z.regex(N.pattern, { error: nameError }),
        ),
      ),
      image: imageSchema(allowedRegistries),
      command: z
        .array(
          z.string({ error: (issue) => `must be a string, received ${describeReceived(issue.input)}` }).check(
            z.maxLength(C.maxItemLength, { error: (issue) => `must be at most ${C.maxItemLength} characters, received ${textLength(issue.input)}` }),
          ),
          { error: commandError },
        )
        .check(z.minLength(C.minItems, { error: commandError }), z.maxLength(C.maxItems, { error: commandError })),
      environment: z._default(
        z
          .record(
            z.string().check(
              z.regex(E.namePattern, { error: environmentNameError }),
              z.refine((name) => !name.startsWith(E.reservedPrefix), { error: environmentNameError }),
            ),
            z.string({ error: (issue) => `must be a string, received ${describeReceived(issue.input)}` }).check(
              z.maxLength(E.maxValueLength, { error: (issue) => `must be at most ${E.maxValueLength} characters, received ${textLength(issue.input)}` }),
            ),
            { error: objectError('environment variable names to string values') },
          )
          .check(entryCount(E.maxEntries)),
        () => ({ ...D.environment }),
      ),
      gpus: z._default(integerBetween(JOB_SPEC_LIMITS.gpus.min, JOB_SPEC_LIMITS.gpus.max), D.gpus),
      vcpus: z._default(integerBetween(JOB_SPEC_LIMITS.vcpus.min, JOB_SPEC_LIMITS.vcpus.max), D.vcpus),
      memoryMiB: z._default(integerBetween(JOB_SPEC_LIMITS.memoryMiB.min, JOB_SPEC_LIMITS.memoryMiB.max), D.memoryMiB),
      capacity: z._default(
        z.enum(CAPACITY_POLICIES, {
          error: (issue) => `must be one of ${CAPACITY_POLICIES.join(', ')}, received ${describeReceived(issue.input)}`,
        }),
        D.capacity as CapacityPolicy,
      ),
      maxSpotAttempts: z._default(integerBetween(JOB_SPEC_LIMITS.maxSpotAttempts.min, JOB_SPEC_LIMITS.maxSpotAttempts.max), D.maxSpotAttempts),
      timeoutSeconds: z._default(integerBetween(JOB_SPEC_LIMITS.timeoutSeconds.min, JOB_SPEC_LIMITS.timeoutSeconds.max), D.timeoutSeconds),
      tags: z._default(
        z
          .record(
            z.string().check(
              z.minLength(1, { error: () => `tag keys must be 1 to ${T.maxKeyLength} characters, received an empty key` }),
              z.maxLength(T.maxKeyLength, { error: (issue) => `tag keys must be 1 to ${T.maxKeyLength} characters, received ${textLength(issue.input)}` }),
            ),
            z.string({ error: (issue) => `must be a string, received ${describeReceived(issue.input)}` }).check(
              z.maxLength(T.maxValueLength, { error: (issue) => `must be at most ${T.maxValueLength} characters, received ${textLength(issue.input)}` }),
            ),
            { error: objectError('tag keys to string values') },
          )
          .check(entryCount(T.maxEntries)),
        () => ({ ...D.tags }),
      ),
    },
    { error: (issue) => `the request body must be a JSON object, received ${describeReceived(issue.input)}` },
  );
}

const defaultSchema = buildJobSpecSchema(undefined);
const schemasByAllowList = new Map<string, ReturnType<typeof buildJobSpecSchema>>();

function jobSpecSchemaFor(allowedRegistries: readonly string[] | undefined) {
  if (!allowedRegistries || allowedRegistries.length === 0) return defaultSchema;
  const key = JSON.stringify(allowedRegistries);
  let schema = schemasByAllowList.get(key);
  if (!schema) {
    schema = buildJobSpecSchema(allowedRegistries);
    schemasByAllowList.set(key, schema);
  }
  return schema;
}

const KNOWN_FIELDS = [
  'name',
  'image',
  'command',
  'environment',
  'gpus',
  'vcpus',
  'memoryMiB',
  'capacity',
  'maxSpotAttempts',
  'timeoutSeconds',
  'tags',
] as const;

interface ZodIssueLike {
  readonly code?: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly keys?: readonly string[];
  readonly issues?: readonly { readonly message: string }[];
}

const dottedPath = (path: readonly PropertyKey[]) => path.map(String).join('.');

/** Zod issues → one entry per offending field, first message wins. */
function toValidationIssues(issues: readonly ZodIssueLike[]): ValidationIssue[] {
  const byPath = new Map<string, string>();
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys' && issue.keys) {
      for (const key of issue.keys) {
        const path = dottedPath([...issue.path, key]);
        if (!byPath.has(path)) byPath.set(path, `is not a known field; known fields: ${KNOWN_FIELDS.join(', ')}`);
      }
      continue;
    }
    const path = dottedPath(issue.path);
    if (byPath.has(path)) continue;
    const message = issue.code === 'invalid_key' && issue.issues?.[0] ? issue.issues[0].message : issue.message;
    byPath.set(path, message);
  }
  return [...byPath].map(([path, message]) => ({ path, message }));
}

export interface ParseJobSpecOptions {
  /** Registries images may come from (deployment config); every registry when absent. */
  readonly allowedRegistries?: readonly string[];
}

/**
 * zod builds a record by assignment and skips a `__proto__` key (assigning it would replace the
 * object's prototype), so an environment variable or tag of that name would vanish from the job
 * without a word. It is refused instead, from the body as received, since the parsed record no
 * longer holds it. A name rule like the others of these fields, so a 400 with them.
 */
const DROPPED_RECORD_KEY = '__proto__';
const RECORD_FIELDS = { environment: 'an environment variable name', tags: 'a tag key' } as const;

function droppedRecordKeyIssues(input: unknown): ValidationIssue[] {
  if (typeof input !== 'object' || input === null) return [];
  const issues: ValidationIssue[] = [];
  for (const [field, what] of Object.entries(RECORD_FIELDS)) {
    const record: unknown = Object.hasOwn(input, field) ? (input as Record<string, unknown>)[field] : undefined;
    if (typeof record !== 'object' || record === null || Array.isArray(record) || !Object.hasOwn(record, DROPPED_RECORD_KEY)) continue;
    issues.push({
      path: `${field}.${DROPPED_RECORD_KEY}`,
      message: `cannot be ${what}: a JSON object member named ${DROPPED_RECORD_KEY} is not kept, so the job would silently lose it; received ${JSON.stringify(DROPPED_RECORD_KEY)}`,
    });
  }
  return issues;
}

/** Validates a submitted job body and applies the contract's defaults. */
export function parseJobSpec(input: unknown, options?: ParseJobSpecOptions): ValidationResult<'spec', JobSpec> {
  const result = jobSpecSchemaFor(options?.allowedRegistries).safeParse(input);
  const dropped = droppedRecordKeyIssues(input);
  if (!result.success) return { ok: false, errors: [...toValidationIssues(result.error.issues as readonly ZodIssueLike[]), ...dropped] };
  if (dropped.length > 0) return { ok: false, errors: dropped };
  const { name, ...rest } = result.data;
  const spec: JobSpec = name === undefined ? rest : { name, ...rest };
  return { ok: true, spec };
}

// ---------------------------------------------------------------------------
// What a process can be started with

const NUL = '\u0000';

/**
 * A valid spec whose command or environment no executor can start: a process is started with
 * execve(2), whose program path, arguments and `NAME=value` environment entries are NUL-terminated
 * C strings (https://man7.org/linux/man-pages/man2/execve.2.html), so a NUL byte cannot be passed
 * and an empty program names no file. Such a job could only fail once its attempt starts, so the
 * API refuses it at submit (422, like the other checks of a valid spec against what runs it).
 * Environment names cannot hold a NUL: the schema's name pattern refuses it. Values are never
 * echoed, only their length.
 */
export function checkExecutable(spec: Pick<JobSpec, 'command' | 'environment'>): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  spec.command.forEach((item, index) => {
    if (index === 0 && item.length === 0) {
      issues.push({ path: 'command.0', message: 'must name the program to run, received ""' });
    } else if (item.includes(NUL)) {
      issues.push({
        path: `command.${index}`,
        message: `must not contain a NUL character (U+0000), which cannot be passed to a process; received ${describeReceived(item)}`,
      });
    }
  });
  for (const [name, value] of Object.entries(spec.environment)) {
    if (!value.includes(NUL)) continue;
    issues.push({
      path: `environment.${name}`,
      message: `must not contain a NUL character (U+0000), which cannot be passed to a process; received a value of ${value.length} characters`,
    });
  }
  return issues;
}

// ---------------------------------------------------------------------------
// What AWS Batch accepts of one submission

/**
 * A valid spec can still be more than Batch takes, and Batch says so only when the attempt
 * starts (the job ends FAILED), so the API checks these at submit:
 *
 * - ECS allows 8,192 characters of RunTask container overrides, JSON formatting included
 *   (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html, `overrides`);
 *   Batch passes the job's command and environment on in them (its error: `Container Overrides
 *   length must be at most 8192`). It adds its own AWS_BATCH_* variables there too, naming the
 *   job, attempt, queue and compute environment
 *   (https://docs.aws.amazon.com/batch/latest/userguide/job_env_vars.html), and the container's
 *   resources: about 600 characters with 128-character queue and environment names, which the
 *   reserve covers.
 * - SubmitJob takes at most 30 KiB (https://docs.aws.amazon.com/batch/latest/userguide/service_limits.html).
 */
export const BATCH_SUBMISSION_LIMITS = {
  containerOverridesCharacters: 8192,
  batchOverridesReserveCharacters: 1024,
  submitJobBytes: 30 * 1024,
} as const;

// Parts of a submission decided after submit, at the longest they can be.
const LONGEST_BATCH_NAME = 'x'.repeat(128);
const longestArn = (resource: string) => `arn:aws-us-gov:batch:ap-southeast-7:123456789012:${resource}/${LONGEST_BATCH_NAME}`;
// Batch allows tag keys of 128 and values of 256 characters; the workflow puts two tags on a job.
const LONGEST_TAGS = Object.fromEntries(['a', 'b'].map((key) => [key.repeat(128), 'v'.repeat(256)]));

/**
 * The SubmitJob request of the job's last possible attempt, as the workflow's Batch states send
 * it (lib/workflow/job-workflow.ts: Step Functions passes the Parameters to the Batch API in its
 * JSON casing), with what is decided later at its longest: the job id, the highest attempt number
 * the job can reach, the queue and job definition ARNs, Batch's retry rules and the tags.
 */
export function longestSubmitJobRequest(spec: Pick<JobSpec, 'command' | 'environment' | 'maxSpotAttempts' | 'timeoutSeconds'>) {
  const jobId = newJobId(new Date(0));
  const lastAttempt = spec.maxSpotAttempts + ON_DEMAND_ATTEMPT_LIMIT;
  return {
    jobName: batchJobName(jobId, lastAttempt),
    jobQueue: longestArn('job-queue'),
    jobDefinition: `${longestArn('job-definition')}:${Number.MAX_SAFE_INTEGER}`,
    containerOverrides: {
      command: [...spec.command],
      environment: attemptEnvironment(spec, jobId, lastAttempt).map(({ Name, Value }) => ({ name: Name, value: Value })),
    },
    timeout: { attemptDurationSeconds: spec.timeoutSeconds },
    retryStrategy: batchRetryStrategy(BATCH_MAX_ATTEMPTS),
    tags: LONGEST_TAGS,
  };
}

/**
 * What Batch would refuse of a valid spec: at most one issue, on `command` or `environment`
 * (whichever takes more room, since shortening it helps most), naming the limit and the sizes.
 */
export function checkBatchLimits(spec: Pick<JobSpec, 'command' | 'environment' | 'maxSpotAttempts' | 'timeoutSeconds'>): ValidationIssue[] {
  const L = BATCH_SUBMISSION_LIMITS;
  const request = longestSubmitJobRequest(spec);
  const commandCharacters = JSON.stringify(request.containerOverrides.command).length;
  const environmentCharacters = JSON.stringify(request.containerOverrides.environment).length;
  const path = commandCharacters >= environmentCharacters ? 'command' : 'environment';
  const sizes = `${commandCharacters} characters of command and ${environmentCharacters} of environment, the platform's variables included`;

  const overrides = JSON.stringify(request.containerOverrides).length;
  const budget = L.containerOverridesCharacters - L.batchOverridesReserveCharacters;
  const bytes = Buffer.byteLength(JSON.stringify(request), 'utf8');
  const exceeded = [
    ...(overrides > budget
      ? [`command and environment together must take at most ${budget} characters as JSON (AWS Batch's container overrides limit of ${L.containerOverridesCharacters}, less ${L.batchOverridesReserveCharacters} for Batch's own variables) but take ${overrides}`]
      : []),
    // Within the overrides budget a submission stays far below 30 KiB; past it, the owner learns both.
    ...(bytes > L.submitJobBytes ? [`the submission would be ${bytes} bytes, over AWS Batch's SubmitJob limit of ${L.submitJobBytes} bytes (30 KiB)`] : []),
  ];
  if (exceeded.length === 0) return [];
  return [{ path, message: `${exceeded.join('; ')}; received ${sizes}` }];
}

// ---------------------------------------------------------------------------
// Queries and headers

/** Query-string parameters as API Gateway hands them over. */
export type QueryParameters = Readonly<Record<string, string | undefined>> | null | undefined;

export interface ListQuery {
  readonly status?: JobStatus;
  readonly limit: number;
  readonly nextToken?: string;
}

export interface LogsQuery {
  readonly limit: number;
  readonly nextToken?: string;
}

const DECIMAL_INTEGER = /^[0-9]{1,10}$/;
// Page tokens are opaque but printable: anything else cannot have come from us.
const PAGE_TOKEN = /^[\x21-\x7e]+$/;

function parseLimit(raw: string | undefined, bounds: { min: number; max: number; default: number }, errors: ValidationIssue[]): number {
  if (raw === undefined) return bounds.default;
  const value = DECIMAL_INTEGER.test(raw) ? Number(raw) : Number.NaN;
  if (!(value >= bounds.min && value <= bounds.max)) {
    errors.push({ path: 'limit', message: `must be an integer between ${bounds.min} and ${bounds.max}, received ${describeReceived(raw)}` });
  }
  return value;
}

function parseNextToken(raw: string | undefined, errors: ValidationIssue[]): string | undefined {
  if (raw === undefined) return undefined;
  if (raw.length === 0 || raw.length > PAGE_TOKEN_MAX_LENGTH || !PAGE_TOKEN.test(raw)) {
    errors.push({ path: 'nextToken', message: `must be a token returned by a previous page, received ${describeReceived(raw)}` });
  }
  return raw;
}

/** `GET /v1/jobs?status=&limit=&nextToken=`; other parameters are ignored. */
export function parseListQuery(query: QueryParameters): ValidationResult<'query', ListQuery> {
  const errors: ValidationIssue[] = [];
  const rawStatus = query?.status;
  if (rawStatus !== undefined && !(JOB_STATUSES as readonly string[]).includes(rawStatus)) {
    errors.push({ path: 'status', message: `must be one of ${JOB_STATUSES.join(', ')}, received ${describeReceived(rawStatus)}` });
  }
  const limit = parseLimit(query?.limit, LIST_QUERY_LIMITS.limit, errors);
  const nextToken = parseNextToken(query?.nextToken, errors);
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    query: {
      ...(rawStatus === undefined ? {} : { status: rawStatus as JobStatus }),
      limit,
      ...(nextToken === undefined ? {} : { nextToken }),
    },
  };
}

/** `GET /v1/jobs/{jobId}/logs?limit=&nextToken=`; other parameters are ignored. */
export function parseLogsQuery(query: QueryParameters): ValidationResult<'query', LogsQuery> {
  const errors: ValidationIssue[] = [];
  const limit = parseLimit(query?.limit, LOGS_QUERY_LIMITS.limit, errors);
  const nextToken = parseNextToken(query?.nextToken, errors);
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, query: { limit, ...(nextToken === undefined ? {} : { nextToken }) } };
}

const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/** The `Idempotency-Key` header: 1–128 printable ASCII characters. */
export function validateIdempotencyKey(value: string): ValidationResult<'key', string> {
  if (value.length === 0 || value.length > IDEMPOTENCY_KEY_MAX_LENGTH || !PRINTABLE_ASCII.test(value)) {
    return {
      ok: false,
      errors: [
        {
          path: 'Idempotency-Key',
          message: `must be 1 to ${IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters, received ${
            value.length > IDEMPOTENCY_KEY_MAX_LENGTH ? `${value.length} characters` : describeReceived(value)
          }`,
        },
      ],
    };
  }
  return { ok: true, key: value };
}

// ---------------------------------------------------------------------------
// Canonical form, for idempotent replays and job-definition names

/**
 * The order of an object's members in canonical JSON: array-index keys ("0", "10") ascending by
 * value, then every other key by UTF-16 code unit. It is the order JSON.stringify gives an object
 * whose keys were added sorted (JavaScript lists array indices first, by value), which is how
 * stored request hashes and job-definition names were computed; keeping it keeps them valid, and
 * the output reads back through JSON.parse and JSON.stringify unchanged.
 */
function memberOrder(a: string, b: string): number {
  const indexA = arrayIndexOf(a);
  const indexB = arrayIndexOf(b);
  if (indexA !== undefined && indexB !== undefined) return indexA - indexB;
  if (indexA !== undefined) return -1;
  if (indexB !== undefined) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The key's value when JavaScript treats it as an array index (0 to 2^32 - 2, written canonically). */
function arrayIndexOf(key: string): number | undefined {
  const index = Number(key) >>> 0;
  return String(index) === key && index !== 2 ** 32 - 1 ? index : undefined;
}

/**
 * JSON.stringify with members in memberOrder. As JSON.stringify: undefined and function members
 * are dropped, toJSON is honoured, a cycle throws a TypeError. A `__proto__` member (JSON.parse
 * makes it an own member) is kept like any other, so two bodies that differ only there hash
 * differently; the spec refuses the name in environment and tags before anything is stored.
 * BigInt, which no JSON body holds, is dropped rather than throwing.
 */
const stringifyCanonically = configure({ deterministic: memberOrder, bigint: false, circularValue: TypeError });

/**
 * JSON with object keys sorted at every depth, so two bodies that mean the same
 * thing serialize (and hash) the same. Arrays keep their order.
 */
export function canonicalJson(value: unknown): string {
  const json = stringifyCanonically(value);
  if (json === undefined) throw new TypeError(`canonicalJson takes a JSON value; received ${typeof value}`);
  return json;
}

/** SHA-256 (hex) of the canonical JSON: what JobRecord.requestHash holds. */
export function canonicalRequestHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}
