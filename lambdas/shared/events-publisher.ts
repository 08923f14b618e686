/**
 * Sends gpujobs events to the EventBridge bus. PutEvents can accept a call and still reject
 * some entries (throttling, internal errors): only those entries are sent again, with
 * exponential backoff, so a consumer never receives an accepted event twice from one publish.
 */
import {
  PutEventsCommand,
  type EventBridgeClient,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { EVENT_SOURCE } from '../../core/events.js';
import type { GpuJobEvent } from '../../core/ports.js';

/** PutEvents takes at most 10 entries per call. */
const MAX_ENTRIES_PER_CALL = 10;

export class EventPublishError extends Error {
  override readonly name = 'EventPublishError';
  constructor(
    message: string,
    /** `ErrorCode: ErrorMessage` of each entry still rejected on the last try. */
    readonly failures: readonly string[],
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface EventPublisherOptions {
  /** Tries per entry, the first included. @default 4 */
  readonly maxAttempts?: number;
  /** Delay before the first retry; doubles each retry, with full jitter. @default 100 */
  readonly baseDelayMs?: number;
  /** @default setTimeout-based sleep */
  readonly sleep?: (milliseconds: number) => Promise<void>;
}

export class EventPublisher {
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly sleep: (milliseconds: number) => Promise<void>;

  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
    options: EventPublisherOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 4;
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1) {
      throw new RangeError(`maxAttempts must be a positive integer. Received ${this.maxAttempts}.`);
    }
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.sleep = options.sleep ?? ((milliseconds) => new Promise((resolve) => setTimeout(resolve, milliseconds)));
  }

  /** Resolves once every event was accepted; throws EventPublishError naming what was not. */
  async publish(events: readonly GpuJobEvent[]): Promise<void> {
    const entries = events.map((event) => this.toEntry(event));
    for (let start = 0; start < entries.length; start += MAX_ENTRIES_PER_CALL) {
      await this.putWithRetries(entries.slice(start, start + MAX_ENTRIES_PER_CALL));
    }
  }

  private toEntry(event: GpuJobEvent): PutEventsRequestEntry {
    return {
      EventBusName: this.eventBusName,
      Source: EVENT_SOURCE,
      DetailType: event.detailType,
      Detail: JSON.stringify(event.detail),
    };
  }

  private async putWithRetries(entries: readonly PutEventsRequestEntry[]): Promise<void> {
    let pending = [...entries];
    let failures: string[] = [];
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      if (attempt > 1) await this.sleep(Math.random() * this.baseDelayMs * 2 ** (attempt - 2));
      const response = await this.client.send(new PutEventsCommand({ Entries: pending }));
      if (!response.FailedEntryCount) return;
      // Result entries are positional: the i-th result belongs to the i-th entry sent.
      const results = response.Entries ?? [];
      const rejected = pending.flatMap((entry, position) => {
        const result = results[position];
        return result === undefined || result.ErrorCode !== undefined
          ? [{ entry, reason: `${result?.ErrorCode ?? 'NoResult'}: ${result?.ErrorMessage ?? 'no result for this entry'}` }]
          : [];
      });
      failures = rejected.map(({ reason }) => reason);
      pending = rejected.map(({ entry }) => entry);
      if (pending.length === 0) return;
    }
    throw new EventPublishError(
      `EventBridge rejected ${pending.length} of ${entries.length} events after ${this.maxAttempts} tries: ${failures.join('; ')}.`,
      failures,
    );
  }
}
