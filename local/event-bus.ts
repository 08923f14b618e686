/**
 * The EventBridge stand-in: one in-process bus with the stack's rules.
 * - gpujobs events (PutEvents on the platform's bus) are appended to the event log
 *   under the data dir and POSTed to the configured webhooks;
 * - AWS service events (Batch job state changes, Step Functions execution status
 *   changes) go to the handlers the stack's rules target.
 * Delivery to a target is ordered per key (one Batch job, one execution) and
 * concurrent across keys, like independent EventBridge invocations.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { EventPattern } from '../core/contract/event-rules.js';
import { describeWriteFailure } from './data-dir.js';
import { checkEventPattern, matchesEventPattern } from './event-pattern.js';
import { JsonLinesReader } from './json-lines-reader.js';
import type { LocalLogger } from './logger.js';

/** An event as EventBridge delivers it to a target. */
export interface EventEnvelope {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: Record<string, unknown>;
}

/** The shape GET /local/events lists. */
export interface ListedEvent {
  readonly id: string;
  readonly time: string;
  readonly source: string;
  readonly 'detail-type': string;
  readonly detail: Record<string, unknown>;
}

/**
 * A page of GET /local/events, oldest first. `nextToken` is where the next page starts: an empty
 * page means every event so far was read, and the same token later returns the events published since.
 */
export interface EventPage {
  readonly events: ListedEvent[];
  readonly nextToken: string;
}

/** At most this many events per page, and the default. */
export const MAX_EVENTS_PER_PAGE = 1_000;
/** A page stops before the event that would take its JSON over this (its first event is always served). */
export const MAX_EVENT_PAGE_BYTES = 1_048_576;

/** A nextToken that no page of this event log handed out: the caller's mistake, a 400. */
export class InvalidEventsRequestError extends Error {
  override readonly name = 'InvalidEventsRequestError';
}

export interface EventRule {
  readonly name: string;
  /** The rule's EventBridge pattern, the stack's own (core/contract/event-rules.ts). */
  readonly pattern: EventPattern;
  /** Events with the same key reach the target one at a time, in publication order. */
  orderingKey(event: EventEnvelope): string;
  deliver(event: EventEnvelope): Promise<unknown>;
}

/** PutEvents request entry, as the SDK sends it. */
export interface PutEventsEntry {
  readonly Source?: string;
  readonly DetailType?: string;
  readonly Detail?: string;
  readonly EventBusName?: string;
  readonly Resources?: readonly string[];
  readonly Time?: number | string;
}

export type PutEventsResultEntry = { readonly EventId: string } | { readonly ErrorCode: string; readonly ErrorMessage: string };

export interface LocalEventBusOptions {
  readonly eventLogFile: string;
  /** Names (or ARNs) of the custom bus whose events are kept and sent to webhooks. */
  readonly busName: string;
  readonly webhookUrls: readonly string[];
  readonly account: string;
  readonly region: string;
  readonly logger: LocalLogger;
  /** Attempts per target delivery before the event is given up (EventBridge would send it to the rule's DLQ). */
  readonly deliveryAttempts?: number;
  /** The file operations on the event log, so a test can count reads or fail writes as a full disk would. */
  readonly io?: Partial<EventLogIo>;
}

export interface EventLogIo {
  /** Writes `buffer` from `offset` to the open file; returns the bytes written. */
  writeAt(fd: number, buffer: Buffer, offset: number): number;
  /** Reads into `buffer` from `position` of the open file; returns the bytes read. */
  readAt(fd: number, buffer: Buffer, position: number): number;
}

const nodeEventLogIo: EventLogIo = {
  writeAt: (fd, buffer, offset) => writeSync(fd, buffer, offset),
  readAt: (fd, buffer, position) => readSync(fd, buffer, 0, buffer.length, position),
};

export class LocalEventBus {
  private readonly rules: EventRule[] = [];
  private readonly tails = new Map<string, Promise<void>>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;
  /** The event log, opened once: each event is one synchronous append, as durable as before, without an open and close per event. */
  private eventLog: number | undefined;
  /**
   * A failed write may have left part of its line (even a write that reports nothing written):
   * the next event starts on a line of its own, and the torn one is skipped as unreadable.
   */
  private tornLine = false;
  private readonly io: EventLogIo;

  constructor(private readonly options: LocalEventBusOptions) {
    mkdirSync(dirname(options.eventLogFile), { recursive: true });
    this.io = { ...nodeEventLogIo, ...options.io };
  }

  /** Throws when the rule's pattern uses more of the pattern language than local mode matches. */
  addRule(rule: EventRule): void {
    checkEventPattern(rule.pattern);
    this.rules.push(rule);
  }

  /** The EventBridge stand-in's PutEvents. */
  putEvents(entries: readonly PutEventsEntry[]): PutEventsResultEntry[] {
    return entries.map((entry) => {
      if (!entry.Source || !entry.DetailType || entry.Detail === undefined) {
        return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameters Source, DetailType and Detail are required.' };
      }
      let detail: Record<string, unknown>;
      try {
        detail = JSON.parse(entry.Detail) as Record<string, unknown>;
      } catch {
        return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
      }
      const busName = entry.EventBusName ?? 'default';
      if (!this.isPlatformBus(busName)) {
        return { ErrorCode: 'ResourceNotFoundException', ErrorMessage: `Event bus ${busName} does not exist.` };
      }
      const event = this.envelope(entry.Source, entry.DetailType, detail, entry.Resources ?? [], timeOf(entry.Time));
      try {
        this.appendToEventLog(`${JSON.stringify(event)}\n`);
      } catch (error) {
        // EventBridge reports a failed entry in the answer; the caller retries it, and the platform keeps serving.
        const reason = describeWriteFailure(error, 'the event log');
        this.options.logger.error(`PutEvents: ${reason}`, error);
        return { ErrorCode: 'InternalFailure', ErrorMessage: reason };
      }
      this.sendToWebhooks(event);
      this.route(event);
      return { EventId: event.id };
    });
  }

  /** Events from AWS services (Batch, Step Functions) on the default bus. */
  publishServiceEvent(source: string, detailType: string, detail: Record<string, unknown>, resources: readonly string[]): EventEnvelope {
    const event = this.envelope(source, detailType, detail, resources, new Date());
    this.route(event);
    return event;
  }

  /**
   * The platform's events, oldest first, a page at a time from the event log: a page reads the
   * file from its token on, so neither the answer nor memory grows with the log.
   */
  listEvents(request: { readonly limit?: number; readonly nextToken?: string } = {}): EventPage {
    const limit = request.limit ?? MAX_EVENTS_PER_PAGE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EVENTS_PER_PAGE) {
      throw new InvalidEventsRequestError(`limit must be an integer from 1 to ${MAX_EVENTS_PER_PAGE}. Received ${String(request.limit)}.`);
    }
    const start = request.nextToken === undefined ? 0 : offsetOf(request.nextToken);
    if (!existsSync(this.options.eventLogFile)) {
      if (start !== 0) throw invalidEventToken(request.nextToken as string);
      return { events: [], nextToken: String(start) };
    }
    const file = openSync(this.options.eventLogFile, 'r');
    try {
      const reader = new JsonLinesReader<EventEnvelope>(file, fstatSync(file).size, {
        readAt: this.io.readAt,
        costOf: (event) => Buffer.byteLength(JSON.stringify(listedOf(event)), 'utf8') + 1,
        maxPageBytes: MAX_EVENT_PAGE_BYTES,
        maxScanBytes: Number.MAX_SAFE_INTEGER,
      });
      if (!reader.isLineStart(start)) throw invalidEventToken(request.nextToken as string);
      const { records, end } = reader.forward(start, limit, isEventRecord);
      return { events: records.map(listedOf), nextToken: String(end) };
    } finally {
      closeSync(file);
    }
  }

  /** Every event in the log, page by page: for tests and tools on small logs, not for the HTTP API. */
  allEvents(): ListedEvent[] {
    const events: ListedEvent[] = [];
    for (let page = this.listEvents(); page.events.length > 0; page = this.listEvents({ nextToken: page.nextToken })) {
      events.push(...page.events);
    }
    return events;
  }

  /** Resolves once the events already routed to `ruleName` under `key` have been delivered. */
  async delivered(ruleName: string, key: string): Promise<void> {
    await this.tails.get(`${ruleName}\n${key}`);
  }

  /** Resolves once every delivery started so far (and those they caused) has finished. */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  async close(): Promise<void> {
    await this.drain();
    this.closed = true;
    if (this.eventLog !== undefined) closeSync(this.eventLog);
    this.eventLog = undefined;
  }

  private appendToEventLog(line: string): void {
    // Handlers still finishing while the platform stops may publish after close: those land too.
    if (!this.closed) this.eventLog ??= openSync(this.options.eventLogFile, 'a');
    const file = this.closed ? openSync(this.options.eventLogFile, 'a') : this.eventLog!;
    try {
      const bytes = Buffer.from(this.tornLine ? `\n${line}` : line, 'utf8');
      try {
        for (let written = 0; written < bytes.length; ) written += this.io.writeAt(file, bytes, written);
        this.tornLine = false;
      } catch (error) {
        this.tornLine = true;
        throw error;
      }
    } finally {
      if (this.closed) closeSync(file);
    }
  }

  private isPlatformBus(busName: string): boolean {
    return busName === this.options.busName || busName.endsWith(`:event-bus/${this.options.busName}`);
  }

  private envelope(
    source: string,
    detailType: string,
    detail: Record<string, unknown>,
    resources: readonly string[],
    time: Date,
  ): EventEnvelope {
    return {
      version: '0',
      id: randomUUID(),
      'detail-type': detailType,
      source,
      account: this.options.account,
      // EventBridge event times have second precision.
      time: `${time.toISOString().slice(0, 19)}Z`,
      region: this.options.region,
      resources: [...resources],
      detail,
    };
  }

  private route(event: EventEnvelope): void {
    if (this.closed) {
      this.options.logger.warn(`event ${event['detail-type']} from ${event.source} arrived after the bus closed; dropped`);
      return;
    }
    for (const rule of this.rules) {
      if (!matchesEventPattern(rule.pattern, event)) continue;
      const key = `${rule.name}\n${rule.orderingKey(event)}`;
      const previous = this.tails.get(key) ?? Promise.resolve();
      const delivery = previous.then(() => this.deliverWithRetries(rule, event));
      this.tails.set(key, delivery);
      this.inFlight.add(delivery);
      void delivery.finally(() => {
        this.inFlight.delete(delivery);
        if (this.tails.get(key) === delivery) this.tails.delete(key);
      });
    }
  }

  private async deliverWithRetries(rule: EventRule, event: EventEnvelope): Promise<void> {
    const attempts = this.options.deliveryAttempts ?? 3;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await rule.deliver(event);
        return;
      } catch (error) {
        if (attempt >= attempts) {
          this.options.logger.error(
            `rule ${rule.name}: ${event['detail-type']} ${event.id} not delivered after ${attempts} attempts`,
            error,
          );
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
      }
    }
  }

  private sendToWebhooks(event: EventEnvelope): void {
    for (const url of this.options.webhookUrls) {
      const delivery = fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(10_000),
      })
        .then((response) => {
          if (!response.ok) this.options.logger.warn(`webhook ${url} answered ${response.status} to event ${event.id}`);
          return response.body?.cancel();
        })
        .catch((error: unknown) => this.options.logger.warn(`webhook ${url} failed for event ${event.id}`, error))
        .then(() => undefined);
      this.inFlight.add(delivery);
      void delivery.finally(() => this.inFlight.delete(delivery));
    }
  }
}

function isEventRecord(record: EventEnvelope): boolean {
  return typeof record === 'object' && record !== null && typeof record.id === 'string';
}

function listedOf(event: EventEnvelope): ListedEvent {
  return { id: event.id, time: event.time, source: event.source, 'detail-type': event['detail-type'], detail: event.detail };
}

function invalidEventToken(token: string): InvalidEventsRequestError {
  return new InvalidEventsRequestError(
    `The events nextToken is not one this event log handed out. Received ${JSON.stringify(token.slice(0, 100))}.`,
  );
}

/** Tokens are byte offsets of the event log, at the start of a line. */
function offsetOf(token: string): number {
  const offset = /^\d{1,16}$/.test(token) ? Number(token) : Number.NaN;
  if (!Number.isSafeInteger(offset)) throw invalidEventToken(token);
  return offset;
}

function timeOf(time: number | string | undefined): Date {
  if (time === undefined) return new Date();
  // The SDK sends timestamps as epoch seconds.
  const date = typeof time === 'number' ? new Date(time * 1000) : new Date(time);
  return Number.isNaN(date.getTime()) ? new Date() : date;
}
