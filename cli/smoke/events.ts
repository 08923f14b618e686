/**
 * Where `gpujobs smoke` reads the platform's terminal events from: local mode's
 * event log (GET /local/events), or, on AWS, a temporary SQS queue that a temporary
 * EventBridge rule on the stack's bus feeds, both removed when the run ends.
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { EVENT_SOURCE } from '../../core/events.js';
import { TERMINAL_DETAIL_TYPE } from '../../core/transitions.js';
import type { Fetch } from '../client.js';

/** The tag every smoke job carries, with the run's id as its value: the temporary rule matches on it. */
export const SMOKE_TAG_KEY = 'gpujobs-smoke';

/** The temporary resources' names start with this, so leftovers are easy to find. */
export const SMOKE_RESOURCE_PREFIX = 'gpujobs-smoke-';

const TERMINAL_DETAIL_TYPES: readonly string[] = Object.values(TERMINAL_DETAIL_TYPE);

export interface TerminalEvent {
  /** The EventBridge event id: one event delivered twice has one id. */
  readonly id: string;
  readonly detailType: string;
  readonly jobId: string;
  readonly status?: string;
}

export interface TerminalEventFeed {
  /** Where the events come from, for the report. */
  readonly description: string;
  /**
   * The distinct terminal events of `jobIds` (by job id), read until every job has
   * one and a last read found nothing new, or until `deadline` (ms since the epoch).
   */
  collect(jobIds: readonly string[], deadline: number, signal: AbortSignal): Promise<Map<string, TerminalEvent[]>>;
}

/** An event as EventBridge delivers it (and as GET /local/events lists it), when it is a gpujobs terminal event. */
export function asTerminalEvent(value: unknown): TerminalEvent | undefined {
  const event = value as { id?: unknown; source?: unknown; 'detail-type'?: unknown; detail?: { jobId?: unknown; status?: unknown } } | null;
  if (typeof event !== 'object' || event === null) return undefined;
  if (event.source !== EVENT_SOURCE || typeof event['detail-type'] !== 'string' || !TERMINAL_DETAIL_TYPES.includes(event['detail-type']))
    return undefined;
  if (typeof event.id !== 'string' || typeof event.detail?.jobId !== 'string') return undefined;
  return {
    id: event.id,
    detailType: event['detail-type'],
    jobId: event.detail.jobId,
    ...(typeof event.detail.status === 'string' ? { status: event.detail.status } : {}),
  };
}

class EventsByJob {
  readonly byJob = new Map<string, Map<string, TerminalEvent>>();

  constructor(private readonly jobIds: ReadonlySet<string>) {}

  /** Adds what is new; true when something was. */
  add(events: Iterable<TerminalEvent>): boolean {
    let added = false;
    for (const event of events) {
      if (!this.jobIds.has(event.jobId)) continue;
      const seen = this.byJob.get(event.jobId) ?? new Map<string, TerminalEvent>();
      if (!seen.has(event.id)) added = true;
      seen.set(event.id, event);
      this.byJob.set(event.jobId, seen);
    }
    return added;
  }

  get complete(): boolean {
    return [...this.jobIds].every((jobId) => (this.byJob.get(jobId)?.size ?? 0) > 0);
  }

  result(): Map<string, TerminalEvent[]> {
    return new Map([...this.byJob].map(([jobId, events]) => [jobId, [...events.values()]]));
  }
}

export interface PollingClock {
  readonly now: () => number;
  readonly sleep: (milliseconds: number) => Promise<void>;
  readonly pollIntervalMs: number;
}

/** Local mode keeps every gpujobs event in its event log and lists it over HTTP, a page at a time. */
export class LocalEventFeed implements TerminalEventFeed {
  readonly description: string;

  constructor(
    private readonly baseUrl: URL,
    private readonly fetch: Fetch,
    private readonly clock: PollingClock,
  ) {
    this.description = `${new URL('/local/events', baseUrl).href}`;
  }

  async collect(jobIds: readonly string[], deadline: number, signal: AbortSignal): Promise<Map<string, TerminalEvent[]>> {
    const seen = new EventsByJob(new Set(jobIds));
    let confirmed = false;
    while (!signal.aborted) {
      const added = seen.add(await this.list(signal));
      if (seen.complete && !added && confirmed) break;
      // One more read after everything has arrived, so a duplicate published just after the first is caught.
      confirmed = seen.complete;
      if (this.clock.now() >= deadline) break;
      await this.clock.sleep(this.clock.pollIntervalMs);
    }
    return seen.result();
  }

  /** Where the next read of the event log starts: each poll reads only what was published since the last. */
  private nextToken: string | undefined;

  private async list(signal: AbortSignal): Promise<TerminalEvent[]> {
    const found: TerminalEvent[] = [];
    for (;;) {
      const url = new URL('/local/events', this.baseUrl);
      if (this.nextToken !== undefined) url.searchParams.set('nextToken', this.nextToken);
      const response = await this.fetch(url, { signal });
      if (!response.ok) throw new Error(`GET /local/events answered ${response.status}`);
      const body = (await response.json()) as { events?: unknown[]; nextToken?: unknown };
      const events = body.events ?? [];
      found.push(...events.map(asTerminalEvent).filter((event): event is TerminalEvent => event !== undefined));
      // An empty page: every event so far is read. No token: a server that lists everything at once.
      if (events.length === 0 || typeof body.nextToken !== 'string' || body.nextToken === this.nextToken) {
        if (typeof body.nextToken === 'string') this.nextToken = body.nextToken;
        return found;
      }
      this.nextToken = body.nextToken;
    }
  }
}

export interface TemporaryEventQueueOptions {
  readonly sqs: SQSClient;
  readonly eventBridge: EventBridgeClient;
  readonly eventBusName: string;
  readonly runId: string;
  readonly region: string;
  /** Milliseconds since the epoch, the clock the deadlines are on. */
  readonly now: () => number;
}

/** What could not be removed, with the commands that remove it. */
export class LeftoverResourcesError extends Error {
  override readonly name = 'LeftoverResourcesError';
  constructor(
    message: string,
    readonly commands: readonly string[],
  ) {
    super(message);
  }
}

const TARGET_ID = 'smoke-queue';
/** SQS's longest long poll. */
const MAX_WAIT_SECONDS = 20;

/**
 * A queue and a rule that sends it the run's terminal events. setUp() may fail part
 * way; remove() removes whatever exists by then, in the order EventBridge requires
 * (targets before the rule).
 */
export class TemporaryEventQueue implements TerminalEventFeed {
  readonly name: string;
  private queueUrl: string | undefined;
  private ruleCreated = false;
  private targetPut = false;

  constructor(private readonly options: TemporaryEventQueueOptions) {
    this.name = `${SMOKE_RESOURCE_PREFIX}${options.runId}`;
  }

  get description(): string {
    return `rule ${this.name} on bus ${this.options.eventBusName} → queue ${this.queueUrl ?? this.name}`;
  }

  /** The rule's pattern: terminal gpujobs events of this run's jobs only. */
  static eventPattern(runId: string): Record<string, unknown> {
    return {
      source: [EVENT_SOURCE],
      'detail-type': [...TERMINAL_DETAIL_TYPES],
      detail: { tags: { [SMOKE_TAG_KEY]: [runId] } },
    };
  }

  async setUp(): Promise<void> {
    const { sqs, eventBridge, eventBusName, runId } = this.options;
    const { CreateQueueCommand, GetQueueAttributesCommand, SetQueueAttributesCommand } = await import('@aws-sdk/client-sqs');
    const { PutRuleCommand, PutTargetsCommand } = await import('@aws-sdk/client-eventbridge');

    // SSE-SQS: encrypted at rest with keys SQS manages, so EventBridge needs no KMS grant to send (a KMS key would):
    // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-server-side-encryption.html
    const created = await sqs.send(
      new CreateQueueCommand({ QueueName: this.name, Attributes: { SqsManagedSseEnabled: 'true', MessageRetentionPeriod: '86400' } }),
    );
    if (!created.QueueUrl) throw new Error(`CreateQueue ${this.name} returned no QueueUrl`);
    this.queueUrl = created.QueueUrl;
    const attributes = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: this.queueUrl, AttributeNames: ['QueueArn'] }));
    const queueArn = attributes.Attributes?.QueueArn;
    if (!queueArn) throw new Error(`GetQueueAttributes ${this.queueUrl} returned no QueueArn`);

    // Incoming events may take a short while to match a new rule (PutRule's documentation); the first
    // smoke job ends minutes later on AWS, well after that.
    // https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html
    const rule = await eventBridge.send(
      new PutRuleCommand({
        Name: this.name,
        EventBusName: eventBusName,
        EventPattern: JSON.stringify(TemporaryEventQueue.eventPattern(runId)),
        State: 'ENABLED',
        Description: `gpujobs smoke run ${runId}: terminal events to a temporary queue; removed when the run ends`,
      }),
    );
    this.ruleCreated = true;
    if (!rule.RuleArn) throw new Error(`PutRule ${this.name} returned no RuleArn`);

    // EventBridge delivers to SQS under the queue's resource policy, limited here to this rule:
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sqs-permissions
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: this.queueUrl,
        Attributes: { Policy: JSON.stringify(queuePolicy(queueArn, rule.RuleArn)) },
      }),
    );
    const targets = await eventBridge.send(
      new PutTargetsCommand({ Rule: this.name, EventBusName: eventBusName, Targets: [{ Id: TARGET_ID, Arn: queueArn }] }),
    );
    if ((targets.FailedEntryCount ?? 0) > 0) {
      const entry = targets.FailedEntries?.[0];
      throw new Error(`PutTargets on rule ${this.name} failed: ${entry?.ErrorCode ?? 'error'} ${entry?.ErrorMessage ?? ''}`.trim());
    }
    this.targetPut = true;
  }

  async collect(jobIds: readonly string[], deadline: number, signal: AbortSignal): Promise<Map<string, TerminalEvent[]>> {
    const { ReceiveMessageCommand } = await import('@aws-sdk/client-sqs');
    const seen = new EventsByJob(new Set(jobIds));
    if (!this.queueUrl) return seen.result();
    let confirmed = false;
    for (;;) {
      const remainingSeconds = Math.floor((deadline - this.options.now()) / 1000);
      // Once every job has its event, one more short long-poll looks for a second one.
      const waitSeconds = seen.complete ? 1 : Math.max(1, Math.min(MAX_WAIT_SECONDS, remainingSeconds));
      const received = await this.options.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: this.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: waitSeconds }),
        { abortSignal: signal },
      );
      const events = (received.Messages ?? []).map((message) => asTerminalEvent(parseJson(message.Body)));
      const added = seen.add(events.filter((event): event is TerminalEvent => event !== undefined));
      // Redeliveries of what was already seen (same event id) are not news: at-least-once delivery.
      if ((seen.complete && !added && confirmed) || this.options.now() >= deadline || signal.aborted) break;
      confirmed = seen.complete;
    }
    return seen.result();
  }

  /** Removes what setUp created; throws LeftoverResourcesError naming what is left and how to remove it. */
  async remove(): Promise<void> {
    const { sqs, eventBridge, eventBusName, region } = this.options;
    const { DeleteQueueCommand } = await import('@aws-sdk/client-sqs');
    const { DeleteRuleCommand, RemoveTargetsCommand } = await import('@aws-sdk/client-eventbridge');
    const failures: string[] = [];
    const commands: string[] = [];
    if (this.targetPut) {
      try {
        await eventBridge.send(new RemoveTargetsCommand({ Rule: this.name, EventBusName: eventBusName, Ids: [TARGET_ID] }));
        this.targetPut = false;
      } catch (error) {
        failures.push(`targets of rule ${this.name}: ${messageOf(error)}`);
        commands.push(
          `aws events remove-targets --rule ${this.name} --event-bus-name ${eventBusName} --ids ${TARGET_ID} --region ${region}`,
        );
      }
    }
    if (this.ruleCreated) {
      try {
        await eventBridge.send(new DeleteRuleCommand({ Name: this.name, EventBusName: eventBusName }));
        this.ruleCreated = false;
      } catch (error) {
        failures.push(`rule ${this.name} on bus ${eventBusName}: ${messageOf(error)}`);
        commands.push(`aws events delete-rule --name ${this.name} --event-bus-name ${eventBusName} --region ${region}`);
      }
    }
    if (this.queueUrl) {
      try {
        await sqs.send(new DeleteQueueCommand({ QueueUrl: this.queueUrl }));
        this.queueUrl = undefined;
      } catch (error) {
        failures.push(`queue ${this.queueUrl}: ${messageOf(error)}`);
        commands.push(`aws sqs delete-queue --queue-url ${this.queueUrl} --region ${region}`);
      }
    }
    if (failures.length > 0) throw new LeftoverResourcesError(`could not remove ${failures.join('; ')}`, commands);
  }
}

export function queuePolicy(queueArn: string, ruleArn: string): Record<string, unknown> {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'SmokeRuleSendsEvents',
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: queueArn,
        Condition: { ArnEquals: { 'aws:SourceArn': ruleArn } },
      },
    ],
  };
}

function parseJson(text: string | undefined): unknown {
  try {
    return text === undefined ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
