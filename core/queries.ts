/**
 * The list and logs queries and the Idempotency-Key header of the HTTP API contract (v1). The API,
 * local mode and the CLI all call these, so a request is judged the same way everywhere; results
 * and messages follow the job spec's (see ValidationResult in ./spec.ts).
 */
import { JOB_STATUSES, type JobStatus } from './job.js';
import { describeReceived, type ValidationIssue, type ValidationResult } from './spec.js';

export const LIST_QUERY_LIMITS = { limit: { min: 1, max: 100, default: 20 } } as const;
export const LOGS_QUERY_LIMITS = { limit: { min: 1, max: 1000, default: 200 } } as const;
export const PAGE_TOKEN_MAX_LENGTH = 4096;
export const IDEMPOTENCY_KEY_MAX_LENGTH = 128;

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
    errors.push({
      path: 'limit',
      message: `must be an integer between ${bounds.min} and ${bounds.max}, received ${describeReceived(raw)}`,
    });
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
