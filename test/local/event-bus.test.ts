import { mkdtempSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidEventsRequestError, LocalEventBus, MAX_EVENT_PAGE_BYTES, type EventLogIo } from '../../local/event-bus.js';
import type { LocalLogger } from '../../local/logger.js';

const silent: LocalLogger = { info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as LocalLogger;
let directory: string;
let buses: LocalEventBus[];

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'gpujobs-event-bus-'));
  buses = [];
});
afterEach(async () => {
  await Promise.all(buses.map((bus) => bus.close()));
  rmSync(directory, { recursive: true, force: true });
});

function aBus(io: Partial<EventLogIo> = {}): LocalEventBus {
  const bus = new LocalEventBus({
    eventLogFile: join(directory, 'events.jsonl'),
    busName: 'gpujobs',
    webhookUrls: [],
    account: '000000000000',
    region: 'us-east-1',
    logger: silent,
    io,
  });
  buses.push(bus);
  return bus;
}

function publish(bus: LocalEventBus, count: number, from = 0, size = 10) {
  const entries = Array.from({ length: count }, (_, index) => ({
    Source: 'gpujobs',
    DetailType: 'GPU Job Status Change',
    Detail: JSON.stringify({ jobId: `job-${from + index}`, padding: 'p'.repeat(size) }),
    EventBusName: 'gpujobs',
  }));
  return entries.map((entry) => bus.putEvents([entry])[0]);
}

const jobIdsOf = (events: readonly { detail: Record<string, unknown> }[]) => events.map((event) => event.detail.jobId);

describe('LocalEventBus.listEvents', () => {
  it('pages oldest first with limit and nextToken, and the last token later returns only newer events', () => {
    // GIVEN 25 events
    const bus = aBus();
    publish(bus, 25);
    // WHEN they are read 10 at a time
    const first = bus.listEvents({ limit: 10 });
    const second = bus.listEvents({ limit: 10, nextToken: first.nextToken });
    const third = bus.listEvents({ limit: 10, nextToken: second.nextToken });
    const caughtUp = bus.listEvents({ limit: 10, nextToken: third.nextToken });
    // THEN the pages hold 10, 10 and 5 events in publication order, then none
    expect(jobIdsOf(first.events)).toEqual(Array.from({ length: 10 }, (_, index) => `job-${index}`));
    expect(jobIdsOf(second.events)).toEqual(Array.from({ length: 10 }, (_, index) => `job-${10 + index}`));
    expect(jobIdsOf(third.events)).toEqual(Array.from({ length: 5 }, (_, index) => `job-${20 + index}`));
    expect(caughtUp).toEqual({ events: [], nextToken: third.nextToken });
    // AND events published afterwards are found from the same token
    publish(bus, 2, 25);
    expect(jobIdsOf(bus.listEvents({ nextToken: caughtUp.nextToken }).events)).toEqual(['job-25', 'job-26']);
  });

  it('reads a page from its token on, holding no events between calls', () => {
    // GIVEN 3,000 events, read through a counting file reader
    let bytesRead = 0;
    const bus = aBus({
      readAt: (fd, buffer, position) => {
        const read = readSync(fd, buffer, 0, buffer.length, position);
        bytesRead += read;
        return read;
      },
    });
    publish(bus, 3_000, 0, 200);
    const logBytes = readFileSync(join(directory, 'events.jsonl')).length;
    // WHEN pages of 100 are read at the start and from a token far in
    const first = bus.listEvents({ limit: 100 });
    let token = first.nextToken;
    for (let page = 0; page < 20; page++) token = bus.listEvents({ limit: 100, nextToken: token }).nextToken;
    const before = bytesRead;
    const far = bus.listEvents({ limit: 100, nextToken: token });
    // THEN that page reads about its own bytes, not the log before it
    expect(jobIdsOf(far.events)[0]).toBe('job-2100');
    const pageBytes = (logBytes / 3_000) * 100;
    expect(bytesRead - before).toBeLessThan(pageBytes + 128 * 1024);
    expect(bytesRead - before).toBeLessThan(logBytes / 4);
  });

  it('stops a page before its JSON exceeds the byte budget', () => {
    // GIVEN events of about 100 KB each
    const bus = aBus();
    publish(bus, 30, 0, 100 * 1024);
    // WHEN the largest page is read
    const page = bus.listEvents({ limit: 1_000 });
    // THEN it stays within the budget and the token goes on from there
    expect(Buffer.byteLength(JSON.stringify(page.events))).toBeLessThanOrEqual(MAX_EVENT_PAGE_BYTES);
    expect(page.events.length).toBeGreaterThan(0);
    expect(page.events.length).toBeLessThan(30);
    expect(jobIdsOf(bus.listEvents({ limit: 1_000, nextToken: page.nextToken }).events)[0]).toBe(`job-${page.events.length}`);
  });

  it.each([
    ['inside a line', '5'],
    ['past the end', '999999999'],
    ['not a number', 'abc'],
    ['negative', '-1'],
  ])('fails when the token is %s', (_case, token) => {
    const bus = aBus();
    publish(bus, 3);
    expect(() => bus.listEvents({ nextToken: token })).toThrow(InvalidEventsRequestError);
  });

  it.each([0, 1_001, 1.5])('fails when the limit is %s', (limit) => {
    const bus = aBus();
    expect(() => bus.listEvents({ limit })).toThrow(`limit must be an integer from 1 to 1000. Received ${limit}.`);
  });
});

describe('LocalEventBus event log write failures', () => {
  it('answers a failed entry naming the full disk, keeps serving, and keeps the log readable after a torn write', () => {
    // GIVEN a log whose next write stops part-way with ENOSPC
    let failNext = false;
    const bus = aBus({
      writeAt: (fd, buffer, offset) => {
        if (!failNext) return writeSync(fd, buffer, offset);
        failNext = false;
        writeSync(fd, buffer, offset, 7);
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      },
    });
    publish(bus, 1, 0);
    failNext = true;
    // WHEN an event is put on the full disk, then one after space is back
    const [failed] = publish(bus, 1, 1);
    const [accepted] = publish(bus, 1, 2);
    // THEN the first is a failed entry that says why, the second is accepted
    expect(failed).toEqual({
      ErrorCode: 'InternalFailure',
      ErrorMessage: 'writing the event log in the local data dir failed: the disk is full (ENOSPC)',
    });
    expect(accepted).toEqual({ EventId: expect.any(String) });
    // AND the log lists the events that landed, the torn line skipped
    expect(jobIdsOf(bus.allEvents())).toEqual(['job-0', 'job-2']);
  });
});
