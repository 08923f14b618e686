/**
 * A job's log lines, attempt by attempt, from the CloudWatch Logs stream recorded on each attempt.
 *
 * The page token is base64url JSON `{"a": <attempt number>, "t": <CloudWatch forward token>?,
 * "s": <events to skip>?}`: where to continue. `s` counts the events of the CloudWatch page at `t`
 * already served, when a page stopped inside it to stay under the response size limit. A reader
 * moves past an attempt only once that attempt has stopped and its stream has been read to the
 * end, so polling a running job never skips lines. The last page of a finished job carries no token.
 */
import { GetLogEventsCommand, type CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { isTerminal, type JobRecord, type LogLine, type LogPage } from '../../core/job.js';
import type { StoredAttempt } from '../../core/job-change.js';

export type { LogLine, LogPage } from '../../core/job.js';

interface LogPosition {
  readonly attempt: number;
  readonly forwardToken?: string;
  /** Events at `forwardToken` already served. */
  readonly skip?: number;
}

/** Bounds the CloudWatch calls of one request: sparse streams can return empty pages with new tokens. */
const MAX_CALLS_PER_PAGE = 10;

/** GetLogEvents returns at most 10,000 events per call (API_GetLogEvents.html), so no page stops further in. */
const MAX_EVENTS_PER_CLOUDWATCH_PAGE = 10_000;

/**
 * Bytes of lines one page may carry, counted as they travel: the page is JSON inside the `body`
 * string of the Lambda response, so each line is escaped twice. A synchronous Lambda response is
 * at most 6 MB (https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html); the margin covers
 * the envelope and headers. Lines are at most 256 KB as CloudWatch stores them
 * (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html),
 * under 2 MB even when every character escapes to six, so one line always fits a page.
 */
export const MAX_LOG_PAGE_BYTES = 4 * 1024 * 1024;

/** A line's share of the response: its JSON, escaped again as part of the body string, and a comma. */
export function responseBytesOf(line: LogLine): number {
  return Buffer.byteLength(JSON.stringify(JSON.stringify(line)), 'utf8') - 2 + 1;
}

export function encodeLogToken(position: LogPosition): string {
  const payload = {
    a: position.attempt,
    ...(position.forwardToken === undefined ? {} : { t: position.forwardToken }),
    ...(position.skip === undefined || position.skip === 0 ? {} : { s: position.skip }),
  };
  return Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
}

/**
 * A page token the caller sent that no page of this job's logs could have returned (malformed,
 * forged, or a CloudWatch position CloudWatch no longer accepts): the caller's mistake, a 400.
 */
export class InvalidLogTokenError extends Error {
  override readonly name = 'InvalidLogTokenError';
}

function decodeLogToken(token: string): LogPosition {
  const invalid = () => new InvalidLogTokenError(`The logs nextToken is not valid. Received ${token.length} characters.`);
  let payload: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(token)) throw invalid();
    payload = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw invalid();
  const { a, t, s, ...rest } = payload as Record<string, unknown>;
  if (Object.keys(rest).length > 0 || !Number.isInteger(a) || (a as number) < 1) throw invalid();
  if (t !== undefined && (typeof t !== 'string' || t === '')) throw invalid();
  if (s !== undefined && (!Number.isInteger(s) || (s as number) < 1 || (s as number) >= MAX_EVENTS_PER_CLOUDWATCH_PAGE)) throw invalid();
  return {
    attempt: a as number,
    ...(t === undefined ? {} : { forwardToken: t as string }),
    ...(s === undefined ? {} : { skip: s as number }),
  };
}

const ATTEMPT_STOPPED = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

function isAttemptFinished(attempt: StoredAttempt): boolean {
  return ATTEMPT_STOPPED.has(attempt.status) || attempt.stoppedAt !== undefined;
}

export interface JobLogReader {
  readPage(job: JobRecord, request: { readonly limit: number; readonly nextToken?: string }): Promise<LogPage>;
}

export function createJobLogReader(client: CloudWatchLogsClient, logGroupName: string): JobLogReader {
  return {
    async readPage(job, request) {
      let position: LogPosition = request.nextToken === undefined ? { attempt: 1 } : decodeLogToken(request.nextToken);
      const callerToken = position.forwardToken;
      const attempts = [...(job.attempts as readonly StoredAttempt[])].sort((left, right) => left.attempt - right.attempt);
      const lines: LogLine[] = [];
      let bytes = 0;
      let full = false;
      for (let calls = 0; calls < MAX_CALLS_PER_PAGE && lines.length < request.limit && !full; ) {
        const attempt = attempts.find((candidate) => candidate.attempt >= position.attempt);
        if (!attempt) break;
        if (attempt.attempt !== position.attempt) position = { attempt: attempt.attempt };
        let reachedEnd = true;
        if (attempt.logStreamName !== undefined) {
          calls++;
          const skip = position.skip ?? 0;
          const wanted = Math.min(request.limit - lines.length + skip, MAX_EVENTS_PER_CLOUDWATCH_PAGE);
          const page = await readStream(client, logGroupName, attempt.logStreamName, position.forwardToken, wanted, {
            fromCaller: position.forwardToken !== undefined && position.forwardToken === callerToken,
          });
          const events = page.events.slice(skip);
          let served = 0;
          for (const event of events) {
            const line: LogLine = { attempt: attempt.attempt, timestamp: new Date(event.timestamp).toISOString(), message: event.message };
            const cost = responseBytesOf(line);
            if (lines.length > 0 && bytes + cost > MAX_LOG_PAGE_BYTES) break;
            lines.push(line);
            bytes += cost;
            served++;
          }
          if (served < events.length) {
            // The page is full: the next one asks CloudWatch for the same events again and skips those served.
            position = { ...position, skip: skip + served };
            full = true;
            break;
          }
          reachedEnd = events.length === 0;
          position = { attempt: attempt.attempt, ...(page.forwardToken === undefined ? {} : { forwardToken: page.forwardToken }) };
        }
        if (!reachedEnd) continue;
        // Nothing more in this stream now: move on only if the attempt can write no more.
        if (!isAttemptFinished(attempt)) break;
        position = { attempt: attempt.attempt + 1 };
      }
      const finishedReading =
        isTerminal(job.status) &&
        position.forwardToken === undefined &&
        !position.skip &&
        !attempts.some((candidate) => candidate.attempt >= position.attempt);
      return { lines, ...(finishedReading ? {} : { nextToken: encodeLogToken(position) }) };
    },
  };
}

async function readStream(
  client: CloudWatchLogsClient,
  logGroupName: string,
  logStreamName: string,
  forwardToken: string | undefined,
  limit: number,
  token: { readonly fromCaller: boolean },
): Promise<{ events: { timestamp: number; message: string }[]; forwardToken?: string }> {
  try {
    const response = await client.send(
      new GetLogEventsCommand({
        logGroupName,
        logStreamName,
        startFromHead: true,
        limit,
        ...(forwardToken === undefined ? {} : { nextToken: forwardToken }),
      }),
    );
    return {
      events: (response.events ?? []).map((event) => ({ timestamp: event.timestamp ?? 0, message: event.message ?? '' })),
      ...(response.nextForwardToken === undefined ? {} : { forwardToken: response.nextForwardToken }),
    };
  } catch (error) {
    // The stream appears only when the container starts; an attempt that never started has none.
    if (error instanceof Error && error.name === 'ResourceNotFoundException') return { events: [] };
    // CloudWatch answers a forward token it did not issue for this stream, or one past its
    // 24 hours, with InvalidParameterException; only the caller's token can be such a one:
    // https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetLogEvents.html
    if (token.fromCaller && error instanceof Error && error.name === 'InvalidParameterException') {
      throw new InvalidLogTokenError('CloudWatch Logs refused the position in the logs nextToken.', { cause: error });
    }
    throw error;
  }
}
