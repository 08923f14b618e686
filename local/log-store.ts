/**
 * The CloudWatch Logs stand-in's storage: one append-only file per log stream
 * (one JSON line per event), so a job's output survives a restart and can be read
 * while the job still writes it.
 *
 * Limits, as CloudWatch Logs has them:
 * - an event holds at most MAX_EVENT_MESSAGE_BYTES of message; a longer line is stored as
 *   several events, every one after the first starting with CONTINUATION_MARKER;
 * - a GetLogEvents page holds at most 10,000 events and 1 MB (message bytes plus 26 per event).
 * Pages are read by byte offset (the tokens carry it), so a page costs what it returns, however
 * long the file has grown.
 */
import { closeSync, createWriteStream, existsSync, fstatSync, mkdirSync, openSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { describeWriteFailure } from './data-dir.js';
import { JsonLinesReader } from './json-lines-reader.js';

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

/** A stream's file could not be written; its message says why in words (e.g. the disk is full). */
export class LogWriteError extends Error {
  override readonly name = 'LogWriteError';
}

/**
 * CloudWatch counts 26 bytes per event on top of the UTF-8 message, and an event may be at most
 * 256 KB (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html),
 * so a message may hold 262,144 - 26 bytes. The awslogs log driver splits longer lines at the same size.
 */
export const EVENT_OVERHEAD_BYTES = 26;
export const MAX_EVENT_MESSAGE_BYTES = 256 * 1024 - EVENT_OVERHEAD_BYTES;

/**
 * Starts every event after the first of a line longer than MAX_EVENT_MESSAGE_BYTES: a reader
 * that wants the line whole appends such an event's text, without the marker, to the previous one.
 */
export const CONTINUATION_MARKER = '[gpujobs:continued] ';

/** GetLogEvents returns at most 10,000 events and 1 MB per call, like CloudWatch Logs (API_GetLogEvents.html). */
const MAX_EVENTS_PER_PAGE = 10_000;
export const MAX_PAGE_BYTES = 1_048_576;
/**
 * Bytes of file one call looks through at most: a startTime/endTime window that matches little
 * answers an empty page with a token to go on from, as CloudWatch does for sparse streams.
 */
const MAX_SCAN_BYTES = 16 * MAX_PAGE_BYTES;

/** The file operations the store uses, so a test can count reads or make writes fail as a full disk would. */
export interface LogStoreIo {
  /** Opens a stream's file for appending; an 'error' it emits fails that stream only. */
  createWriter(file: string): Writable;
  /** Reads into `buffer` from `position` of an open file; returns the bytes read. */
  readAt(fd: number, buffer: Buffer, position: number): number;
}

const nodeIo: LogStoreIo = {
  createWriter: (file) => createWriteStream(file, { flags: 'a' }),
  readAt: (fd, buffer, position) => readSync(fd, buffer, 0, buffer.length, position),
};

/** Told once, when a stream's file cannot be written; the stream's later lines are dropped. */
export type LogWriteFailureHandler = (failure: LogWriteError) => void;

interface StreamWriter {
  readonly writer: Writable;
  onFailure?: LogWriteFailureHandler;
  failure?: LogWriteError;
}

/** Splits a line into events of at most MAX_EVENT_MESSAGE_BYTES, never inside a UTF-8 character. */
export function splitLogLine(message: string): string[] {
  if (Buffer.byteLength(message, 'utf8') <= MAX_EVENT_MESSAGE_BYTES) return [message];
  const bytes = Buffer.from(message, 'utf8');
  const pieces: string[] = [];
  const markerBytes = Buffer.byteLength(CONTINUATION_MARKER, 'utf8');
  for (let start = 0; start < bytes.length; ) {
    const room = pieces.length === 0 ? MAX_EVENT_MESSAGE_BYTES : MAX_EVENT_MESSAGE_BYTES - markerBytes;
    let end = Math.min(start + room, bytes.length);
    // Back off continuation bytes (10xxxxxx) so the cut falls before a character's first byte.
    while (end < bytes.length && end > start && ((bytes[end] as number) & 0xc0) === 0x80) end -= 1;
    const text = bytes.toString('utf8', start, end);
    pieces.push(pieces.length === 0 ? text : `${CONTINUATION_MARKER}${text}`);
    start = end;
  }
  return pieces;
}

export class LogStore {
  private readonly writers = new Map<string, StreamWriter>();
  private readonly io: LogStoreIo;

  constructor(
    private readonly directory: string,
    options: { readonly io?: Partial<LogStoreIo> } = {},
  ) {
    mkdirSync(directory, { recursive: true });
    this.io = { ...nodeIo, ...options.io };
  }

  /** A stream's file: stream names contain slashes, so the file is named by a readable part and a hash. */
  private fileOf(logGroupName: string, logStreamName: string): string {
    const digest = createHash('sha256').update(`${logGroupName}\n${logStreamName}`).digest('hex').slice(0, 16);
    const readable = logStreamName.replace(/[^A-Za-z0-9._-]+/g, '_').slice(-80);
    return join(this.directory, `${readable}.${digest}.jsonl`);
  }

  /**
   * Creates the stream's file so a read before the first line finds an empty stream, not a
   * missing one. `onFailure` hears of a write that fails (a full disk), which ends the stream's lines.
   */
  createStream(logGroupName: string, logStreamName: string, onFailure?: LogWriteFailureHandler): void {
    this.writerOf(logGroupName, logStreamName, onFailure);
  }

  /** Appends one line of output, split into several events when it is longer than an event may be. */
  append(logGroupName: string, logStreamName: string, message: string, timestamp = Date.now()): void {
    const stream = this.writerOf(logGroupName, logStreamName);
    if (stream.failure) return;
    const ingestionTime = Date.now();
    for (const piece of splitLogLine(message)) {
      const event: LogEvent = { timestamp, message: piece, ingestionTime };
      stream.writer.write(`${JSON.stringify(event)}\n`);
    }
  }

  /**
   * Flushes and closes the stream's file; later appends reopen it. Returns the write failure that
   * lost some of its lines, if one did (a job that exited before its failure was reported must
   * not pass for complete).
   */
  async closeStream(logGroupName: string, logStreamName: string): Promise<LogWriteError | undefined> {
    const file = this.fileOf(logGroupName, logStreamName);
    const stream = this.writers.get(file);
    if (!stream) return undefined;
    this.writers.delete(file);
    await endWriter(stream);
    return stream.failure;
  }

  async close(): Promise<void> {
    const streams = [...this.writers.values()];
    this.writers.clear();
    await Promise.all(streams.map(endWriter));
  }

  private writerOf(logGroupName: string, logStreamName: string, onFailure?: LogWriteFailureHandler): StreamWriter {
    const file = this.fileOf(logGroupName, logStreamName);
    let stream = this.writers.get(file);
    if (!stream) {
      const created: StreamWriter = { writer: this.io.createWriter(file), ...(onFailure ? { onFailure } : {}) };
      // Without a listener a write error (ENOSPC, EIO) would be thrown from the event loop and end the process.
      created.writer.on('error', (error: unknown) => {
        if (created.failure) return;
        created.failure = new LogWriteError(describeWriteFailure(error, `the log stream ${logStreamName}`), { cause: error });
        created.onFailure?.(created.failure);
      });
      this.writers.set(file, created);
      stream = created;
    } else if (onFailure && !stream.onFailure) {
      stream.onFailure = onFailure;
      if (stream.failure) onFailure(stream.failure);
    }
    return stream;
  }

  /** Same paging model as CloudWatch Logs: `f/<byte offset>/s` and `b/<byte offset>/s` tokens; at the end the forward token stays the same. */
  getLogEvents(request: GetLogEventsRequest): GetLogEventsResponse {
    const logGroupName = request.logGroupName ?? '';
    const file = this.fileOf(logGroupName, request.logStreamName);
    if (!existsSync(file) && !this.writers.has(file)) {
      throw new LogStreamNotFoundError('The specified log stream does not exist.');
    }
    const token = request.nextToken ? parseToken(request.nextToken) : undefined;
    const fromHead = token ? token.direction === 'f' : request.startFromHead === true;
    const limit = Math.min(request.limit ?? MAX_EVENTS_PER_PAGE, MAX_EVENTS_PER_PAGE);
    if (!existsSync(file)) {
      if (token && token.offset !== 0) throw invalidToken(request.nextToken as string);
      return { events: [], nextForwardToken: tokenOf('f', 0), nextBackwardToken: tokenOf('b', 0) };
    }
    const fd = openSync(file, 'r');
    try {
      const reader = new JsonLinesReader<LogEvent>(fd, fstatSync(fd).size, {
        readAt: this.io.readAt,
        costOf: (event) => Buffer.byteLength(event.message, 'utf8') + EVENT_OVERHEAD_BYTES,
        maxPageBytes: MAX_PAGE_BYTES,
        maxScanBytes: MAX_SCAN_BYTES,
      });
      if (token && !reader.isLineStart(token.offset)) throw invalidToken(request.nextToken as string);
      const inWindow = (event: LogEvent) =>
        (request.startTime === undefined || event.timestamp >= request.startTime) &&
        (request.endTime === undefined || event.timestamp < request.endTime);
      if (fromHead) {
        const start = token?.offset ?? 0;
        const { records: events, end } = reader.forward(start, limit, inWindow);
        return { events, nextForwardToken: tokenOf('f', end), nextBackwardToken: tokenOf('b', start) };
      }
      const end = token?.offset ?? reader.lastLineEnd();
      const { records: events, start } = reader.backward(end, limit, inWindow);
      return { events, nextForwardToken: tokenOf('f', end), nextBackwardToken: tokenOf('b', start) };
    } finally {
      closeSync(fd);
    }
  }
}

function endWriter(stream: StreamWriter): Promise<void> {
  // A stream that failed is already destroyed: ending it would only report the failure again.
  if (stream.failure || stream.writer.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => stream.writer.end(() => resolve()));
}

function tokenOf(direction: 'f' | 'b', offset: number): string {
  return `${direction}/${String(offset).padStart(20, '0')}/s`;
}

function invalidToken(token: string): InvalidLogTokenError {
  return new InvalidLogTokenError(`The specified nextToken is invalid. Received ${JSON.stringify(token.slice(0, 100))}.`);
}

function parseToken(token: string): { direction: 'f' | 'b'; offset: number } {
  const match = /^([fb])\/(\d{1,20})\/s$/.exec(token);
  const offset = match ? Number(match[2]) : Number.NaN;
  if (!match || !Number.isSafeInteger(offset)) throw invalidToken(token);
  return { direction: match[1] as 'f' | 'b', offset };
}
