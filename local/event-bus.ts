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
import { appendFileSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
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

export interface EventRule {
  readonly name: string;
  matches(event: EventEnvelope): boolean;
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
}

export class LocalEventBus {
  private readonly rules: EventRule[] = [];
  private readonly tails = new Map<string, Promise<void>>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;
  /** The event log, opened once: each event is one synchronous append, as durable as before, without an open and close per event. */
  private eventLog: number | undefined;
  /** What listEvents has parsed so far: the log is only ever appended to, so later calls read just the new bytes. */
  private readonly listed: { events: ListedEvent[]; bytesRead: number; partialLine: string } = { events: [], bytesRead: 0, partialLine: '' };

  constructor(private readonly options: LocalEventBusOptions) {
    mkdirSync(dirname(options.eventLogFile), { recursive: true });
  }

  addRule(rule: EventRule): void {
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
      this.appendToEventLog(`${JSON.stringify(event)}\n`);
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

  /** The platform's events, oldest first. */
  listEvents(): ListedEvent[] {
    if (!existsSync(this.options.eventLogFile)) return [];
    const file = openSync(this.options.eventLogFile, 'r');
    try {
      const size = fstatSync(file).size;
      if (size < this.listed.bytesRead) Object.assign(this.listed, { events: [], bytesRead: 0, partialLine: '' });
      if (size > this.listed.bytesRead) {
        const fresh = Buffer.alloc(size - this.listed.bytesRead);
        const read = readSync(file, fresh, 0, fresh.length, this.listed.bytesRead);
        this.listed.bytesRead += read;
        const lines = (this.listed.partialLine + fresh.subarray(0, read).toString('utf8')).split('\n');
        // The last piece is a line still being written (or empty after a complete one).
        this.listed.partialLine = lines.pop() ?? '';
        for (const line of lines) {
          const event = parseEventLine(line);
          if (event) this.listed.events.push(event);
        }
      }
    } finally {
      closeSync(file);
    }
    return [...this.listed.events];
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
    if (this.closed) {
      appendFileSync(this.options.eventLogFile, line);
      return;
    }
    this.eventLog ??= openSync(this.options.eventLogFile, 'a');
    const bytes = Buffer.from(line, 'utf8');
    for (let written = 0; written < bytes.length; ) written += writeSync(this.eventLog, bytes, written);
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
      if (!rule.matches(event)) continue;
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

function parseEventLine(line: string): ListedEvent | undefined {
  if (!line) return undefined;
  try {
    const event = JSON.parse(line) as EventEnvelope;
    return { id: event.id, time: event.time, source: event.source, 'detail-type': event['detail-type'], detail: event.detail };
  } catch {
    // A line cut short by a crash mid-write is not an event.
    return undefined;
  }
}

function timeOf(time: number | string | undefined): Date {
  if (time === undefined) return new Date();
  // The SDK sends timestamps as epoch seconds.
  const date = typeof time === 'number' ? new Date(time * 1000) : new Date(time);
  return Number.isNaN(date.getTime()) ? new Date() : date;
}
