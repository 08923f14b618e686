/**
 * The simulated host of an attempt: an EC2 instance id, the ECS container instance and task
 * ARNs, and the log stream Batch's awslogs driver would write to, with the container instance
 * record DescribeContainerInstances returns (the status handler reads the instance type there).
 */
import { randomBytes } from 'node:crypto';
import type { CapacityType } from '../../core/job.js';
import type { AttemptPlacement } from './batch-job.js';
import type { JobDefinition } from './job-definitions.js';

export interface AttemptHostOptions {
  readonly account: string;
  readonly region: string;
  /** Reported as the instance type of every attempt. */
  readonly instanceType: string;
  /** Log group used when a job definition names none (Batch's default). */
  readonly defaultLogGroupName: string;
}

export interface AttemptHost extends AttemptPlacement {
  /** The compute environment's name, as AWS_BATCH_CE_NAME gives it to the job. */
  readonly clusterName: string;
  readonly containerInstance: Record<string, unknown>;
}

export function newAttemptHost(definition: JobDefinition, capacity: CapacityType, options: AttemptHostOptions): AttemptHost {
  const instanceId = `i-${randomBytes(9).toString('hex').slice(0, 17)}`;
  const clusterName = `gpujobs-local-${capacity}`;
  const containerInstanceArn = `arn:aws:ecs:${options.region}:${options.account}:container-instance/${clusterName}/${randomBytes(16).toString('hex')}`;
  const taskId = randomBytes(16).toString('hex');
  const taskArn = `arn:aws:ecs:${options.region}:${options.account}:task/${clusterName}/${taskId}`;
  const logOptions = definition.containerProperties?.logConfiguration?.options ?? {};
  const logGroupName = logOptions['awslogs-group'] ?? options.defaultLogGroupName;
  const logStreamName = `${logOptions['awslogs-stream-prefix'] ?? definition.jobDefinitionName}/default/${taskId}`;
  return {
    instanceId,
    clusterName,
    containerInstanceArn,
    taskArn,
    logGroupName,
    logStreamName,
    containerInstance: {
      containerInstanceArn,
      ec2InstanceId: instanceId,
      status: 'ACTIVE',
      agentConnected: true,
      attributes: [
        { name: 'ecs.instance-type', value: options.instanceType },
        { name: 'ecs.availability-zone', value: `${options.region}a` },
        { name: 'ecs.capability.spot', value: String(capacity === 'spot') },
      ],
    },
  };
}
