import 'aws-sdk-client-mock-vitest/extend';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { GpuJobEvent } from '../../core/ports.js';
import { EventPublishError } from '../../core/ports.js';
import { EventPublisher } from '../../lambdas/shared/events-publisher.js';

const eventBridge = mockClient(EventBridgeClient);
const noWait = async () => {};

function anEvent(jobId: string): GpuJobEvent {
  return { detailType: 'GPU Job Succeeded', detail: { schemaVersion: '1', jobId, status: 'SUCCEEDED' } };
}

const entryFor = (jobId: string) => ({
  EventBusName: 'gpujobs-bus',
  Source: 'gpujobs',
  DetailType: 'GPU Job Succeeded',
  Detail: JSON.stringify(anEvent(jobId).detail),
});

beforeEach(() => {
  eventBridge.reset();
});

describe('EventPublisher', () => {
  it('sends every event to the bus with source gpujobs', async () => {
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }, { EventId: '2' }] });
    const publisher = new EventPublisher(new EventBridgeClient({}), 'gpujobs-bus', { sleep: noWait });

    await publisher.publish([anEvent('a'), anEvent('b')]);

    expect(eventBridge).toHaveReceivedCommandExactlyOnceWith(PutEventsCommand, { Entries: [entryFor('a'), entryFor('b')] });
  });

  it('sends again only the entries EventBridge rejected', async () => {
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({
        FailedEntryCount: 1,
        Entries: [{ EventId: '1' }, { ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' }, { EventId: '3' }],
      })
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: '2' }] });
    const publisher = new EventPublisher(new EventBridgeClient({}), 'gpujobs-bus', { sleep: noWait });

    await publisher.publish([anEvent('a'), anEvent('b'), anEvent('c')]);

    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 2);
    expect(eventBridge).toHaveReceivedNthCommandWith(PutEventsCommand, 2, { Entries: [entryFor('b')] });
  });

  it('gives up after the bound, naming the rejection', async () => {
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'boom' }] });
    const delays: number[] = [];
    const publisher = new EventPublisher(new EventBridgeClient({}), 'gpujobs-bus', {
      maxAttempts: 3,
      baseDelayMs: 100,
      sleep: async (milliseconds) => {
        delays.push(milliseconds);
      },
    });

    const failure = await publisher.publish([anEvent('a')]).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(EventPublishError);
    expect((failure as EventPublishError).failures).toEqual(['InternalFailure: boom']);
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 3);
    expect(delays).toHaveLength(2);
    expect(delays[1]).toBeLessThanOrEqual(200);
  });

  it('says which events did not go out when it gives up, so a caller can tell what was accepted', async () => {
    // GIVEN EventBridge accepting the second entry and rejecting the first on every try
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'boom' }, { EventId: '2' }] })
      .resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'boom' }] });
    const publisher = new EventPublisher(new EventBridgeClient({}), 'gpujobs-bus', { maxAttempts: 2, sleep: noWait });

    // WHEN two events are published
    const failure = await publisher.publish([anEvent('a'), anEvent('b')]).catch((error: unknown) => error);

    // THEN the error names only the first as not published
    expect(failure).toBeInstanceOf(EventPublishError);
    expect((failure as EventPublishError).unpublished).toEqual([anEvent('a')]);
  });

  it('counts every event of a later call as not published when an earlier call gave up', async () => {
    // GIVEN 12 events (two calls) and EventBridge rejecting the first call's last entry on every try
    const events = Array.from({ length: 12 }, (_, index) => anEvent(`job-${index}`));
    eventBridge.on(PutEventsCommand).callsFake(({ Entries }: { Entries: unknown[] }) => ({
      FailedEntryCount: 1,
      Entries: Entries.map((_, position) =>
        position === Entries.length - 1 ? { ErrorCode: 'InternalFailure', ErrorMessage: 'boom' } : { EventId: String(position) },
      ),
    }));
    const publisher = new EventPublisher(new EventBridgeClient({}), 'gpujobs-bus', { maxAttempts: 2, sleep: noWait });

    // WHEN they are published
    const failure = await publisher.publish(events).catch((error: unknown) => error);

    // THEN the rejected one and the two never sent are named
    expect((failure as EventPublishError).unpublished).toEqual([events[9], events[10], events[11]]);
  });

  it('splits more than ten events into calls of at most ten', async () => {
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => ({
      FailedEntryCount: 0,
      Entries: input.Entries.map((_, position) => ({ EventId: String(position) })),
    }));
    const publisher = new EventPublisher(new EventBridgeClient({}), 'gpujobs-bus', { sleep: noWait });

    await publisher.publish(Array.from({ length: 23 }, (_, position) => anEvent(`job-${position}`)));

    const sizes = eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input.Entries?.length);
    expect(sizes).toEqual([10, 10, 3]);
  });
});
