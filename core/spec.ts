/**
 * The job spec of the HTTP API contract (v1): its schema, limits and defaults, and the shape of
 * validation results and messages that the other input checks (./queries.ts, ./executable.ts,
 * ./batch-limits.ts) share. The API, local mode and the CLI all call these, so a request is
 * judged the same way everywhere.
 *
 * Every parser returns `{ ok: true, ... }` or `{ ok: false, errors }` with one entry
 * per offending field, `path` in dotted form (`environment.MY_VAR`, `command.0`;
 * `''` for the body itself) and a message that names what was received. Environment
 * and tag values are never echoed back (they may hold secrets): only their length.
 */
import * as z from 'zod/mini';
import { describeImageRefusal, IMAGE_REFERENCE_MAX_LENGTH, parseImageReference } from './image-reference.js';
import { CAPACITY_POLICIES, type CapacityPolicy, type JobSpec } from './job.js';

export interface ValidationIssue {
  readonly path: string;
  readonly message: string;
}

export type ValidationResult<K extends string, T> =
  | ({ readonly ok: true } & { readonly [P in K]: T })
  | { readonly ok: false; readonly errors: readonly ValidationIssue[] };

export const JOB_SPEC_LIMITS = {
  name: { minLength: 1, maxLength: 128, pattern: /^[A-Za-z0-9._-]+$/ },
  image: { maxLength: IMAGE_REFERENCE_MAX_LENGTH },
  command: { minItems: 1, maxItems: 256, maxItemLength: 4096 },
  environment: { maxEntries: 64, namePattern: /^[A-Za-z_][A-Za-z0-9_]*$/, reservedPrefix: 'AWS_BATCH', maxValueLength: 4096 },
  gpus: { min: 1, max: 8 },
  vcpus: { min: 1, max: 192 },
  memoryMiB: { min: 512, max: 2_000_000 },
  // The engines' default /dev/shm is 64 MiB, so less would shrink it; the tmpfs counts against the
  // container's memory, so more than memoryMiB is refused (see sharedMemoryWithinMemory).
  sharedMemoryMiB: { min: 64, max: 2_000_000 },
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

const textLength = (input: unknown) => (typeof input === 'string' ? `${input.length} characters` : describeReceived(input));

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
    (issue) =>
      `must be an array of 1 to ${C.maxItems} strings, received ${Array.isArray(issue.input) ? `${issue.input.length} items` : describeReceived(issue.input)}`,
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

  const spec = z.strictObject(
    {
      name: z.optional(
        z
          .string({ error: nameError })
          .check(
            z.minLength(N.minLength, { error: nameError }),
            z.maxLength(N.maxLength, { error: nameError }),
            z.regex(N.pattern, { error: nameError }),
          ),
      ),
      image: imageSchema(allowedRegistries),
      command: z
        .array(
          z.string({ error: (issue) => `must be a string, received ${describeReceived(issue.input)}` }).check(
            z.maxLength(C.maxItemLength, {
              error: (issue) => `must be at most ${C.maxItemLength} characters, received ${textLength(issue.input)}`,
            }),
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
              z.maxLength(E.maxValueLength, {
                error: (issue) => `must be at most ${E.maxValueLength} characters, received ${textLength(issue.input)}`,
              }),
            ),
            { error: objectError('environment variable names to string values') },
          )
          .check(entryCount(E.maxEntries)),
        () => ({ ...D.environment }),
      ),
      gpus: z._default(integerBetween(JOB_SPEC_LIMITS.gpus.min, JOB_SPEC_LIMITS.gpus.max), D.gpus),
      vcpus: z._default(integerBetween(JOB_SPEC_LIMITS.vcpus.min, JOB_SPEC_LIMITS.vcpus.max), D.vcpus),
      memoryMiB: z._default(integerBetween(JOB_SPEC_LIMITS.memoryMiB.min, JOB_SPEC_LIMITS.memoryMiB.max), D.memoryMiB),
      // No default: absent leaves the engine's own /dev/shm (64 MiB), and the job definition unchanged.
      sharedMemoryMiB: z.optional(integerBetween(JOB_SPEC_LIMITS.sharedMemoryMiB.min, JOB_SPEC_LIMITS.sharedMemoryMiB.max)),
      capacity: z._default(
        z.enum(CAPACITY_POLICIES, {
          error: (issue) => `must be one of ${CAPACITY_POLICIES.join(', ')}, received ${describeReceived(issue.input)}`,
        }),
        D.capacity as CapacityPolicy,
      ),
      maxSpotAttempts: z._default(
        integerBetween(JOB_SPEC_LIMITS.maxSpotAttempts.min, JOB_SPEC_LIMITS.maxSpotAttempts.max),
        D.maxSpotAttempts,
      ),
      timeoutSeconds: z._default(integerBetween(JOB_SPEC_LIMITS.timeoutSeconds.min, JOB_SPEC_LIMITS.timeoutSeconds.max), D.timeoutSeconds),
      tags: z._default(
        z
          .record(
            z.string().check(
              z.minLength(1, { error: () => `tag keys must be 1 to ${T.maxKeyLength} characters, received an empty key` }),
              z.maxLength(T.maxKeyLength, {
                error: (issue) => `tag keys must be 1 to ${T.maxKeyLength} characters, received ${textLength(issue.input)}`,
              }),
            ),
            z.string({ error: (issue) => `must be a string, received ${describeReceived(issue.input)}` }).check(
              z.maxLength(T.maxValueLength, {
                error: (issue) => `must be at most ${T.maxValueLength} characters, received ${textLength(issue.input)}`,
              }),
            ),
            { error: objectError('tag keys to string values') },
          )
          .check(entryCount(T.maxEntries)),
        () => ({ ...D.tags }),
      ),
    },
    { error: (issue) => `the request body must be a JSON object, received ${describeReceived(issue.input)}` },
  );
  return spec.check(sharedMemoryWithinMemory);
}

/**
 * /dev/shm is a tmpfs whose pages are charged to the container's memory cgroup, so a job that
 * filled a larger one would be killed for memory it was never given. Checked whenever both
 * fields are valid integers, so the caller learns it together with any other field's problem.
 */
const sharedMemoryWithinMemory = z.superRefine<{ readonly memoryMiB: number; readonly sharedMemoryMiB?: number | undefined }>(
  (spec, context) => {
    if (spec.sharedMemoryMiB === undefined || spec.sharedMemoryMiB <= spec.memoryMiB) return;
    context.addIssue({
      code: 'custom',
      path: ['sharedMemoryMiB'],
      input: spec.sharedMemoryMiB,
      message: `must not exceed memoryMiB (${spec.memoryMiB}), since /dev/shm counts against the job's memory, received ${spec.sharedMemoryMiB}`,
    });
  },
  {
    when: (payload) => {
      const value = payload.value as Record<string, unknown> | null;
      return (
        typeof value === 'object' &&
        value !== null &&
        Number.isInteger(value.memoryMiB) &&
        Number.isInteger(value.sharedMemoryMiB) &&
        !payload.issues.some((issue) => issue.path?.[0] === 'memoryMiB' || issue.path?.[0] === 'sharedMemoryMiB')
      );
    },
  },
);

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

// Every allow list builds the same shape, so the default schema names the fields for all of them.
const KNOWN_FIELDS = Object.keys(defaultSchema.shape);

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
