/**
 * Find-or-register of the Batch job definition a job runs with. SubmitJob's
 * container overrides cannot change the image, so each image (with its GPU, vCPU,
 * memory and /dev/shm requirements) needs a definition of its own; it is registered the
 * first time that image and those resources are seen and reused afterwards.
 */
import { createHash } from 'node:crypto';
import {
  DescribeJobDefinitionsCommand,
  RegisterJobDefinitionCommand,
  type BatchClient,
  type RegisterJobDefinitionCommandInput,
} from '@aws-sdk/client-batch';
import type { JobSpec } from '../../core/job.js';
import { batchRetryStrategy, JOB_DEFINITION_BATCH_ATTEMPTS } from '../../core/retry-strategy.js';
import { canonicalJson } from '../../core/canonical-json.js';

/** What of a job decides its job definition. */
export type JobDefinitionSpec = Pick<JobSpec, 'image' | 'gpus' | 'vcpus' | 'memoryMiB' | 'sharedMemoryMiB'>;

/** Deployment settings every registered definition carries. */
export interface JobDefinitionSettings {
  /** Name prefix; the stack lets the workflow submit only definitions named `<prefix>*`. */
  readonly namePrefix: string;
  readonly jobRoleArn: string;
  readonly executionRoleArn: string;
  readonly logGroupName: string;
}

/** Log stream names become `gpujobs/<container>/<ECS task id>`. */
export const JOB_LOG_STREAM_PREFIX = 'gpujobs';

/** The registration request, without its name. */
export function jobDefinitionContent(
  spec: JobDefinitionSpec,
  settings: JobDefinitionSettings,
): Omit<RegisterJobDefinitionCommandInput, 'jobDefinitionName'> {
  return {
    type: 'container',
    platformCapabilities: ['EC2'],
    containerProperties: {
      image: spec.image,
      resourceRequirements: [
        { type: 'GPU', value: String(spec.gpus) },
        { type: 'VCPU', value: String(spec.vcpus) },
        { type: 'MEMORY', value: String(spec.memoryMiB) },
      ],
      // SubmitJob's container overrides cannot size /dev/shm, so the definition carries it:
      // LinuxParameters.sharedMemorySize, in MiB, maps to `docker run --shm-size` (EC2 only, not
      // Fargate; https://docs.aws.amazon.com/batch/latest/APIReference/API_LinuxParameters.html).
      // Left out when unset, so a job without it keeps the definition (and name) it had before.
      ...(spec.sharedMemoryMiB === undefined ? {} : { linuxParameters: { sharedMemorySize: spec.sharedMemoryMiB } }),
      jobRoleArn: settings.jobRoleArn,
      executionRoleArn: settings.executionRoleArn,
      logConfiguration: {
        logDriver: 'awslogs',
        options: {
          'awslogs-group': settings.logGroupName,
          'awslogs-stream-prefix': JOB_LOG_STREAM_PREFIX,
        },
      },
    },
    // The workflow overrides the number of attempts per submission (the job's Spot budget left), never the rules.
    retryStrategy: batchRetryStrategy(JOB_DEFINITION_BATCH_ATTEMPTS),
    // The workflow tags each submission with the job id and attempt; propagation puts them on the ECS task.
    propagateTags: true,
  };
}

/**
 * `<prefix>-<hash>` where the hash covers the whole registration content: the image
 * and resources, and also the roles, log group and retry rules, so a redeployed
 * stack with new roles or a changed definition shape never reuses a stale one.
 * Within one deployment that is exactly one definition per image and resources.
 */
export function jobDefinitionName(spec: JobDefinitionSpec, settings: JobDefinitionSettings): string {
  const content = jobDefinitionContent(spec, settings);
  const hash = createHash('sha256').update(canonicalJson(content)).digest('hex').slice(0, 32);
  const separator = /[-_]$/.test(settings.namePrefix) ? '' : '-';
  return `${settings.namePrefix}${separator}${hash}`;
}

/**
 * Why a registration Batch refused failed the job, in words for its owner; undefined for errors
 * worth retrying (throttling, outages), which fail the task instead.
 *  - ClientException: Batch refused the definition itself (a malformed image reference).
 *  - AccessDeniedException: the deployment's own permissions are wrong (a PassRole or tagging
 *    grant), which no retry will fix. The message AWS returns names the action and resource; the
 *    reason keeps it so an operator knows which grant is missing.
 */
export function explainRegistrationFailure(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error.name === 'ClientException') return `The job definition for the job's image could not be registered: ${error.message}`;
  if (error.name === 'AccessDeniedException') {
    const action = /not authorized to perform:?\s*([a-z0-9-]+:[A-Za-z0-9]+)/.exec(error.message)?.[1];
    return (
      `The platform is not allowed to register the job's job definition${action ? ` (missing permission ${action})` : ''}: ` +
      `${error.message} This is a deployment misconfiguration, not a problem with the job; grant the permission to the prepare function's role.`
    );
  }
  return undefined;
}

export class JobDefinitionRegistrationError extends Error {
  override readonly name = 'JobDefinitionRegistrationError';
}

/**
 * Resolves job definitions by name: module-scope cache, then ACTIVE definitions in
 * Batch, then registration. Two executions racing for a new image may both
 * register; Batch then holds two identical revisions, and either works.
 */
export class JobDefinitionResolver {
  private readonly arnsByName = new Map<string, string>();

  constructor(
    private readonly batch: BatchClient,
    private readonly settings: JobDefinitionSettings,
  ) {}

  async resolve(spec: JobDefinitionSpec): Promise<string> {
    const name = jobDefinitionName(spec, this.settings);
    const cached = this.arnsByName.get(name);
    if (cached) return cached;
    const arn = (await this.findActive(name)) ?? (await this.register(name, spec));
    this.arnsByName.set(name, arn);
    return arn;
  }

  private async findActive(name: string): Promise<string | undefined> {
    let latest: { revision: number; arn: string } | undefined;
    let nextToken: string | undefined;
    do {
      const page = await this.batch.send(new DescribeJobDefinitionsCommand({ jobDefinitionName: name, status: 'ACTIVE', nextToken }));
      for (const definition of page.jobDefinitions ?? []) {
        if (definition.jobDefinitionArn && (latest === undefined || (definition.revision ?? 0) > latest.revision)) {
          latest = { revision: definition.revision ?? 0, arn: definition.jobDefinitionArn };
        }
      }
      nextToken = page.nextToken;
    } while (nextToken);
    return latest?.arn;
  }

  private async register(name: string, spec: JobDefinitionSpec): Promise<string> {
    const { jobDefinitionArn } = await this.batch.send(
      new RegisterJobDefinitionCommand({ jobDefinitionName: name, ...jobDefinitionContent(spec, this.settings) }),
    );
    if (!jobDefinitionArn) {
      throw new JobDefinitionRegistrationError(`RegisterJobDefinition for ${name} returned no jobDefinitionArn.`);
    }
    return jobDefinitionArn;
  }
}
