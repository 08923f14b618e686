/**
 * The names and settings of the resources local mode creates. The stack leaves names to
 * CloudFormation, so local mode picks its own; the settings the stack does choose (the intake
 * queue's) come from core/contract, which the stack's constructs read too.
 */
import { DISPATCHER_TIMEOUT_SECONDS, INTAKE_MAX_RECEIVE_COUNT, intakeVisibilityTimeoutSeconds } from '../core/contract/intake-queue.js';
import type { IntakeQueueSettings } from './sqs.js';

export const LOCAL_ACCOUNT = '000000000000';
export const TABLE_NAME = 'gpujobs-jobs';
export const EVENT_BUS_NAME = 'gpujobs';
export const JOB_LOG_GROUP_NAME = '/aws/batch/job';

export const INTAKE_QUEUE: IntakeQueueSettings = {
  queueName: 'gpujobs-intake',
  deadLetterQueueName: 'gpujobs-intake-dlq',
  visibilityTimeoutSeconds: intakeVisibilityTimeoutSeconds(DISPATCHER_TIMEOUT_SECONDS),
  maxReceiveCount: INTAKE_MAX_RECEIVE_COUNT,
};
