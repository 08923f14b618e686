/**
 * The HTTP API (API Gateway HTTP API, payload v2): the five routes of the v1 contract.
 * Wiring only: configuration and clients at module scope, routes in job-api.ts.
 */
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { ENV } from '../../core/contract/environment.js';
import { OWNER_IDENTITIES } from '../../core/contract/owner.js';
import { parseJobShapes } from '../../core/instance-catalogue.js';
import { newJobId } from '../../core/job-id.js';
import { flagEnv, listEnv, oneOfEnv, requireEnv } from '../shared/config.js';
import { publisherFromEnvironment, terminalEventsFor } from '../shared/event-wiring.js';
import { metricsFromEnvironment } from '../shared/metrics.js';
import { functionLogger, handlerWith, isoNow, jobStoreFromEnvironment } from '../shared/wiring.js';
import { createJobApi, type ApiRequest, type ApiResponse } from './job-api.js';
import { createJobLogReader } from './job-logs.js';
import { problemDetails } from './problem.js';

const logger = functionLogger('gpujobs-api');
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

const publisher = publisherFromEnvironment(config.eventBusName);
const metrics = metricsFromEnvironment(logger);
const store = jobStoreFromEnvironment(config.tableName);
const jobApi = createJobApi({
  store,
  sqs: new SQSClient({}),
  sfn: new SFNClient({}),
  logs: createJobLogReader(new CloudWatchLogsClient({}), config.jobLogGroupName),
  terminalEvents: terminalEventsFor(store, publisher),
  metrics,
  config,
  newJobId: () => newJobId(),
  now: isoNow,
  logger,
});

export const handler = handlerWith((event: ApiRequest): Promise<ApiResponse> => jobApi.handle(event), {
  logger,
  metrics,
  middlewares: [problemDetails({ logger })],
});
