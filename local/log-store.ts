/**
 * The CloudWatch Logs stand-in's storage: one append-only file per log stream
 * (one JSON line per event), so a job's output survives a restart and can be read
 * while the job still writes it.
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync, type WriteStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

export interface LogEvent {
  readonly timestamp: number;
  readonly message: string;
  readonly ingestionTime: number;
}

export interface GetLogEventsRequest {
  readonly logGroupName?: string;
  readonly logStreamName: string;
  readonly nextToken?: string;
  readonly startFromHead?: boolean;
  readonly limit?: number;
  readonly startTime?: number;
  readonly endTime?: number;
}

export interface GetLogEventsResponse {
  readonly events: LogEvent[];
  readonly nextForwardToken: string;
  readonly nextBackwardToken: string;
}

export class LogStreamNotFoundError extends Error {
  override readonly name = 'ResourceNotFoundException';
}

export class InvalidLogTokenError extends Error {
  override readonly name = 'InvalidParameterException';
}

/** GetLogEvents returns at most 10,000 events per call, like CloudWatch Logs. */
const MAX_EVENTS_PER_PAGE = 10_000;

export class LogStore {
  private readonly writers = new Map<string, WriteStream>();

  constructor(private readonly directory: string) {
    mkdirSync(directory, { recursive: true });
  }

  /** A stream's file: stream names contain slashes, so the file is named by a readable part and a hash. */
  private fileOf(logGroupName: string, logStreamName: string): string {
    const digest = createHash('sha256').update(`${logGroupName}\n${logStreamName}`).digest('hex').slice(0, 16);
    const readable = logStreamName.replace(/[^A-Za-z0-9._-]+/g, '_').slice(-80);
    return join(this.directory, `${readable}.${digest}.jsonl`);
  }

  /** Creates the stream's file so a read before the first line finds an empty stream, not a missing one. */
  createStream(logGroupName: string, logStreamName: string): void {
    this.writerOf(logGroupName, logStreamName);
  }

  append(logGroupName: string, logStreamName: string, message: string, timestamp = Date.now()): void {
    const event: LogEvent = { timestamp, message, ingestionTime: Date.now() };
    this.writerOf(logGroupName, logStreamName).write(`${JSON.stringify(event)}\n`);
  }

  /** Flushes and closes the stream's file; later appends reopen it. */
  async closeStream(logGroupName: string, logStreamName: string): Promise<void> {
    const file = this.fileOf(logGroupName, logStreamName);
    const writer = this.writers.get(file);
    if (!writer) return;
    this.writers.delete(file);
    await new Promise<void>((resolve) => writer.end(resolve));
  }

  async close(): Promise<void> {
    const writers = [...this.writers.values()];
    this.writers.clear();
    await Promise.all(writers.map((writer) => new Promise<void>((resolve) => writer.end(resolve))));
  }

  private writerOf(logGroupName: string, logStreamName: string): WriteStream {
    const file = this.fileOf(logGroupName, logStreamName);
    let writer = this.writers.get(file);
    if (!writer) {
      writer = createWriteStream(file, { flags: 'a' });
      this.writers.set(file, writer);
    }
    return writer;
  }

  /** Same paging model as CloudWatch Logs: `f/<n>` tokens; at the end the forward token stays the same. */
  getLogEvents(request: GetLogEventsRequest): GetLogEventsResponse {
    const logGroupName = request.logGroupName ?? '';
    const file = this.fileOf(logGroupName, request.logStreamName);
    if (!existsSync(file) && !this.writers.has(file)) {
      throw new LogStreamNotFoundError('The specified log stream does not exist.');
    }
    const all = existsSync(file) ? parseEvents(readFileSync(file, 'utf8')) : [];
    const inWindow = all.filter(
      (event) =>
        (request.startTime === undefined || event.timestamp >= request.startTime) &&
        (request.endTime === undefined || event.timestamp < request.endTime),
    );
    const limit = Math.min(request.limit ?? MAX_EVENTS_PER_PAGE, MAX_EVENTS_PER_PAGE);
    const token = request.nextToken ? parseToken(request.nextToken) : undefined;
    const fromHead = token ? token.direction === 'f' : request.startFromHead === true;

    let start: number;
    let end: number;
    if (fromHead) {
      start = token?.position ?? 0;
      end = Math.min(start + limit, inWindow.length);
    } else {
      end = token?.position ?? inWindow.length;
      start = Math.max(0, end - limit);
    }
    return {
      events: inWindow.slice(start, end),
      nextForwardToken: `f/${String(end).padStart(20, '0')}/s`,
      nextBackwardToken: `b/${String(start).padStart(20, '0')}/s`,
    };
  }
}

function parseEvents(text: string): LogEvent[] {
  const events: LogEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      events.push(JSON.parse(line) as LogEvent);
    } catch {
      // A line cut short by a crash mid-write is skipped; the rest of the stream stays readable.
    }
  }
  return events;
}

function parseToken(token: string): { direction: 'f' | 'b'; position: number } {
  const match = /^([fb])\/(\d+)\/s$/.exec(token);
  if (!match) throw new InvalidLogTokenError(`The specified nextToken is invalid. Received ${JSON.stringify(token)}.`);
  return { direction: match[1] as 'f' | 'b', position: Number(match[2]) };
}
