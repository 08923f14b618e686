/**
 * The api handler as deployed: configuration from the environment, read when the module loads;
 * DynamoDB is a real dynalite; every other AWS service is an aws-sdk-client-mock stub.
 */
import 'aws-sdk-client-mock-vitest/extend';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { vi } from 'vitest';
import { formatJobShapes, placeableShapes, shapesOf } from '../../core/instance-catalogue.js';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import { DynamoJobStore } from '../../lambdas/shared/job-store.js';
import { apiEvent, lambdaContext, parseResponse, type ApiEventOptions, type ParsedResponse } from '../support/api-gateway.js';
import { documentClientFor, startDynalite } from '../support/dynalite.js';

export const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:gpujobs-jobs';
export const INTAKE_QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/gpujobs-intake';
export const EVENT_BUS_NAME = 'gpujobs';
export const JOB_LOG_GROUP_NAME = '/gpujobs/jobs';
/** What the stack gives the api for the default instance types. */
export const DEFAULT_JOB_SHAPES = formatJobShapes(placeableShapes(shapesOf(DEFAULT_CONFIG.gpuInstanceTypes)));

export const sqsMock = mockClient(SQSClient);
export const sfnMock = mockClient(SFNClient);
export const eventBridgeMock = mockClient(EventBridgeClient);
export const logsMock = mockClient(CloudWatchLogsClient);

/** Every stub answers success unless a test says otherwise. */
export function resetAwsMocks(): void {
  for (const mock of [sqsMock, sfnMock, eventBridgeMock, logsMock]) mock.reset();
  sqsMock.on(SendMessageCommand).resolves({ MessageId: 'message-1' });
  sfnMock.on(StopExecutionCommand).resolves({ stopDate: new Date() });
  eventBridgeMock.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => ({
    FailedEntryCount: 0,
    Entries: input.Entries.map((_, position) => ({ EventId: `event-${position}` })),
  }));
}

export interface ApiHarness {
  call(options: ApiEventOptions): Promise<ParsedResponse>;
  /** The same store the handler uses, for arranging jobs in given statuses. */
  readonly store: DynamoJobStore;
  stop(): Promise<void>;
}

export async function startApi(extraEnv: Record<string, string> = {}): Promise<ApiHarness> {
  const dynamo = await startDynalite();
  const env = {
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    TABLE_NAME: dynamo.tableName,
    INTAKE_QUEUE_URL,
    STATE_MACHINE_ARN,
    EVENT_BUS_NAME,
    JOB_LOG_GROUP_NAME,
    ALLOWED_REGISTRIES: '',
    JOB_SHAPES: DEFAULT_JOB_SHAPES,
    GPUJOBS_LOCAL_MODE: '',
    OWNER_IDENTITY: DEFAULT_CONFIG.ownerIdentity,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    ...extraEnv,
  };
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  vi.resetModules();
  const { handler } = await import('../../lambdas/api/handler.js');
  const documentClient = documentClientFor(dynamo.endpoint);
  resetAwsMocks();
  return {
    call: async (options) => parseResponse((await handler(apiEvent(options) as never, lambdaContext())) as never),
    store: new DynamoJobStore(documentClient, dynamo.tableName),
    stop: async () => {
      vi.unstubAllEnvs();
      documentClient.destroy();
      await dynamo.stop();
    },
  };
}
