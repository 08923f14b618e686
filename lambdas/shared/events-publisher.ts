/**
 * Sends gpujobs events to the EventBridge bus. PutEvents can accept a call and still reject
 * some entries (throttling, internal errors): only those entries are sent again, with
 * exponential backoff, so a consumer never receives an accepted event twice from one publish.
 */
import { PutEventsCommand, type EventBridgeClient, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { EVENT_SOURCE } from '../../core/events.js';
import { EventPublishError, type GpuJobEvent } from '../../core/ports.js';

/** PutEvents takes at most 10 entries per call. */
const MAX_ENTRIES_PER_CALL = 10;

/** One PutEvents batch's failure, by position in the batch; publish() turns it into events. */
class BatchPublishError extends EventPublishError {
  constructor(
    message: string,
    failures: readonly string[],
    readonly unpublishedPositions: readonly number[],
  ) {
    super(message, failures);
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
      try {
        await this.putWithRetries(entries.slice(start, start + MAX_ENTRIES_PER_CALL));
      } catch (error) {
        if (!(error instanceof BatchPublishError)) throw error;
        // Positions in this batch of what stayed rejected, and every later batch, never sent.
        const rejected = error.unpublishedPositions.map((position) => events[start + position]!);
        throw new EventPublishError(error.message, error.failures, [...rejected, ...events.slice(start + MAX_ENTRIES_PER_CALL)]);
      }
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
    let pending = entries.map((entry, position) => ({ entry, position }));
    let failures: string[] = [];
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      if (attempt > 1) await this.sleep(Math.random() * this.baseDelayMs * 2 ** (attempt - 2));
      const response = await this.client.send(new PutEventsCommand({ Entries: pending.map(({ entry }) => entry) }));
      if (!response.FailedEntryCount) return;
      // Result entries are positional: the i-th result belongs to the i-th entry sent.
      const results = response.Entries ?? [];
      const rejected = pending.flatMap((sent, index) => {
        const result = results[index];
        return result === undefined || result.ErrorCode !== undefined
          ? [{ ...sent, reason: `${result?.ErrorCode ?? 'NoResult'}: ${result?.ErrorMessage ?? 'no result for this entry'}` }]
          : [];
      });
      failures = rejected.map(({ reason }) => reason);
      pending = rejected.map(({ entry, position }) => ({ entry, position }));
      if (pending.length === 0) return;
    }
    throw new BatchPublishError(
      `EventBridge rejected ${pending.length} of ${entries.length} events after ${this.maxAttempts} tries: ${failures.join('; ')}.`,
      failures,
      pending.map(({ position }) => position),
    );
  }
}
