/**
 * A pure core test of the transition table (core/transitions.ts): whether `allowedFrom` as the
 * only guard, applied by a toy single-item store, is enough to keep any interleaving of status
 * writes legal. The store here is a model, not an implementation, and catches no store bug;
 * the lifecycle properties on the real stores (the in-memory JobStore and the DynamoJobStore on
 * dynalite, driven by the real handlers) are in test/handlers/interleavings.property.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildJobEvent } from '../../core/events.js';
import { isTerminal, type JobRecord, type JobStatus } from '../../core/job.js';
import type { GpuJobEvent } from '../../core/ports.js';
import { allowedFrom, applyTransition, canTransition } from '../../core/transitions.js';
import { aJobRecord } from '../support/jobs.js';

/**
 * Everything that writes a job's status, as the handlers do: Batch state changes
 * (PENDING, RUNNING), an interrupted attempt waiting again (PENDING), the
 * workflow's finish (SUCCEEDED, FAILED), the workflow failing to start (FAILED),
 * and cancels (CANCELLED, from the API or the reconcile handler).
 */
const SIGNALS = {
  batchPending: 'PENDING',
  batchRunning: 'RUNNING',
  attemptInterrupted: 'PENDING',
  finishSucceeded: 'SUCCEEDED',
  finishFailed: 'FAILED',
  cancel: 'CANCELLED',
  reconcileCancelled: 'CANCELLED',
} as const satisfies Record<string, JobStatus>;
type Signal = keyof typeof SIGNALS;

/**
 * A store with DynamoDB's semantics for one item: a write is applied only when its
 * condition holds at the moment of the write (status in the allowed-from set, and
 * the version read earlier when the writer asks for it).
 */
class ConditionalStore {
  /** `guarded: false` drops the allowed-from condition: the mutant the properties must catch. */
  constructor(private readonly guarded = true) {}
  record: JobRecord = aJobRecord({ status: 'QUEUED', version: 1, attempts: [] });
  readonly history: JobStatus[] = ['QUEUED'];
  readonly events: GpuJobEvent[] = [];

  read(): JobRecord {
    return this.record;
  }

  /** The guard every handler uses: allowedFrom(to) as the condition, version when known. */
  write(to: JobStatus, expectedVersion: number | undefined): boolean {
    const current = this.record;
    if (this.guarded && !allowedFrom(to).includes(current.status)) return false;
    if (expectedVersion !== undefined && current.version !== expectedVersion) return false;
    if (!this.guarded) {
      this.record = { ...current, status: to, version: current.version + 1 };
      this.history.push(to);
      return true;
    }
    const next = applyTransition(current, to, new Date(1_700_000_000_000 + current.version * 1000).toISOString());
    this.record = next;
    this.history.push(to);
    // The writer that won the conditional write, and only it, announces the change.
    this.events.push(...buildJobEvent(next, current.status));
    return true;
  }
}

interface Delivery {
  readonly signal: Signal;
  /** Whether the writer conditions on the version it read (optimistic locking) or on status alone. */
  readonly versioned: boolean;
}

/**
 * Runs deliveries concurrently: each one reads, then later writes; `picks` decides
 * which ready step runs next, so reads and writes of different deliveries
 * interleave in any order. A versioned writer that loses on version alone reads
 * again and retries, as the handlers do.
 */
function run(deliveries: readonly Delivery[], picks: readonly number[], guarded = true): ConditionalStore {
  const store = new ConditionalStore(guarded);
  const snapshots = new Map<number, JobRecord>();
  const done = new Set<number>();
  let step = 0;
  while (done.size < deliveries.length) {
    const ready = deliveries.map((_, index) => index).filter((index) => !done.has(index));
    const index = ready[(picks[step % Math.max(1, picks.length)] ?? 0) % ready.length]!;
    step++;
    const delivery = deliveries[index]!;
    const snapshot = snapshots.get(index);
    if (!snapshot) {
      snapshots.set(index, store.read());
      continue;
    }
    const to = SIGNALS[delivery.signal];
    let expected = delivery.versioned ? snapshot.version : undefined;
    for (let tries = 0; tries < 3; tries++) {
      if (store.write(to, expected)) break;
      const fresh = store.read();
      if (guarded && !allowedFrom(to).includes(fresh.status)) break;
      expected = delivery.versioned ? fresh.version : undefined;
    }
    done.add(index);
  }
  return store;
}

const deliveryArbitrary = fc.record({
  signal: fc.constantFrom(...(Object.keys(SIGNALS) as Signal[])),
  versioned: fc.boolean(),
});

// Duplicates come from the same signal appearing several times; reordering from the array order and the schedule.
const scenario = fc.record({
  deliveries: fc.array(deliveryArbitrary, { minLength: 1, maxLength: 24 }),
  picks: fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 64 }),
});

const terminalEventsOf = (events: readonly GpuJobEvent[]) => events.filter((event) => event.detailType !== 'GPU Job Status Change');

describe('any interleaving of duplicated and reordered status writes', () => {
  it('yields a history the transition table allows, step by step', () => {
    fc.assert(
      fc.property(scenario, ({ deliveries, picks }) => {
        const { history } = run(deliveries, picks);
        for (let i = 1; i < history.length; i++) expect(canTransition(history[i - 1]!, history[i]!)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('reaches at most one terminal status and never changes it afterwards', () => {
    fc.assert(
      fc.property(scenario, ({ deliveries, picks }) => {
        const { history, record } = run(deliveries, picks);
        const terminalAt = history.findIndex(isTerminal);
        expect(history.filter(isTerminal).length).toBeLessThanOrEqual(1);
        if (terminalAt !== -1) {
          expect(terminalAt).toBe(history.length - 1);
          expect(record.status).toBe(history[terminalAt]);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('ends terminal whenever a cancel or a failure was delivered', () => {
    fc.assert(
      fc.property(scenario, ({ deliveries, picks }) => {
        const { record } = run(deliveries, picks);
        const decisive = deliveries.some((delivery) => ['FAILED', 'CANCELLED'].includes(SIGNALS[delivery.signal]));
        if (decisive) expect(isTerminal(record.status)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('emits exactly one terminal event for a terminal job, none otherwise, matching its status', () => {
    fc.assert(
      fc.property(scenario, ({ deliveries, picks }) => {
        const { events, history, record } = run(deliveries, picks);
        const terminalEvents = terminalEventsOf(events);
        expect(terminalEvents).toHaveLength(isTerminal(record.status) ? 1 : 0);
        if (terminalEvents[0]) {
          expect(terminalEvents[0].detail.status).toBe(record.status);
          expect(terminalEvents[0].detail.jobId).toBe(record.jobId);
        }
        // One status-change event per applied transition, no more.
        expect(events.filter((event) => event.detailType === 'GPU Job Status Change')).toHaveLength(history.length - 1);
      }),
      { numRuns: 500 },
    );
  });

  it('catches a store without the allowed-from condition (the properties can fail)', () => {
    const legalHistory = fc.property(scenario, ({ deliveries, picks }) => {
      const { history } = run(deliveries, picks, false);
      return history.every((to, i) => i === 0 || canTransition(history[i - 1]!, to));
    });
    expect(fc.check(legalHistory, { numRuns: 500, seed: 42 }).failed).toBe(true);
  });
});
