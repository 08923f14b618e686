/**
 * An EventBridge stand-in for the mock: records which entries PutEvents accepted,
 * and can reject chosen entries, the way PutEvents reports partial failures.
 */
import {
  PutEventsCommand,
  type EventBridgeClient,
  type PutEventsCommandInput,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import type { AwsClientStub } from 'aws-sdk-client-mock';

export interface AcceptedEvent {
  readonly detailType: string;
  readonly detail: Record<string, unknown>;
}

export const TERMINAL_DETAIL_TYPES = ['GPU Job Succeeded', 'GPU Job Failed', 'GPU Job Cancelled'];

export function recordingEventBus(
  mock: AwsClientStub<EventBridgeClient>,
  options: { readonly rejectOnce?: (entry: PutEventsRequestEntry) => boolean } = {},
) {
  const accepted: AcceptedEvent[] = [];
  const rejected = new Set<string>();
  mock.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => {
    const results = (input.Entries ?? []).map((entry) => {
      const key = `${entry.DetailType}|${entry.Detail}`;
      if (options.rejectOnce?.(entry) && !rejected.has(key)) {
        rejected.add(key);
        return { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal failure' };
      }
      accepted.push({ detailType: entry.DetailType ?? '', detail: JSON.parse(entry.Detail ?? '{}') as Record<string, unknown> });
      return { EventId: `event-${accepted.length}` };
    });
    return { FailedEntryCount: results.filter((result) => 'ErrorCode' in result).length, Entries: results };
  });
  return {
    accepted,
    terminal: () => accepted.filter((event) => TERMINAL_DETAIL_TYPES.includes(event.detailType)),
  };
}
