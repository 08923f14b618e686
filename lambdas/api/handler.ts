/**
 * The HTTP API (API Gateway HTTP API, payload v2): the five routes of the v1 contract.
 * Wiring only: configuration and clients at module scope, routes in job-api.ts.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import { parseJobShapes } from '../../core/instance-catalogue.js';
import { newJobId } from '../../core/job-id.js';
import { createDocumentClient } from '../shared/clients.js';
import { flagEnv, listEnv, oneOfEnv, requireEnv } from '../shared/config.js';
import { ENV } from '../../core/contract/environment.js';
import { EventPublisher } from '../shared/events-publisher.js';
import { DynamoJobStore } from '../shared/job-store.js';
import { terminalEventDependencies } from '../../app/terminal-event.js';
import { metricsFromEnvironment } from '../shared/metrics.js';
import { createJobApi, type ApiRequest, type ApiResponse } from './job-api.js';
import { createJobLogReader } from './job-logs.js';
import { OWNER_IDENTITIES } from '../../core/contract/owner.js';
import { problemDetails } from './problem.js';

const logger = new Logger({ serviceName: 'gpujobs-api' });
const config = {
  tableName: requireEnv(ENV.tableName),
  intakeQueueUrl: requireEnv(ENV.intakeQueueUrl),
  stateMachineArn: requireEnv(ENV.stateMachineArn),
  eventBusName: requireEnv(ENV.eventBusName),
  jobLogGroupName: requireEnv(ENV.jobLogGroupName),
  allowedRegistries: listEnv(ENV.allowedRegistries),
  jobShapes: parseJobShapes(requireEnv(ENV.jobShapes), `Environment variable ${ENV.jobShapes}`),
  localMode: flagEnv(ENV.localMode),
  ownerIdentity: oneOfEnv(ENV.ownerIdentity, OWNER_IDENTITIES),
};

const publisher = new EventPublisher(new EventBridgeClient({}), config.eventBusName);
const metrics = metricsFromEnvironment(logger);
const store = new DynamoJobStore(createDocumentClient(), config.tableName);
const jobApi = createJobApi({
  store,
  sqs: new SQSClient({}),
  sfn: new SFNClient({}),
  logs: createJobLogReader(new CloudWatchLogsClient({}), config.jobLogGroupName),
  terminalEvents: terminalEventDependencies(store, publisher),
  metrics,
  config,
  newJobId: () => newJobId(),
  now: () => new Date().toISOString(),
  logger,
});

export const handler = middy<ApiRequest, ApiResponse>()
  .handler((event: ApiRequest) => jobApi.handle(event))
  .use(injectLambdaContext(logger))
  .use(problemDetails({ logger }))
  .use(logMetrics(metrics));
