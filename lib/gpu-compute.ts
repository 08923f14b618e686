import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { parseRegistryEntry } from '../core/image-reference.js';

/**
 * Minutes running jobs may keep their instances during an infrastructure update (1–360 in every
 * partition's schema: https://docs.aws.amazon.com/batch/latest/APIReference/API_UpdatePolicy.html).
 */
export const INFRASTRUCTURE_UPDATE_JOB_TIMEOUT_MINUTES = 360;

export interface GpuComputeProps {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  /** The instances' security group (no inbound rules). */
  readonly securityGroup: ec2.ISecurityGroup;
  /** EC2 instance types both compute environments may launch, e.g. `g5.xlarge`. */
  readonly instanceTypes: readonly string[];
  /** Maximum vCPUs of each compute environment; the minimum is always 0 so idle costs nothing. */
  readonly maxVcpus: number;
  /** How long a Spot job may wait RUNNABLE for capacity before Batch cancels it (600 s to 24 h). */
  readonly capacityTimeout: Duration;
  /** Retention of the job log group. */
  readonly logRetention: logs.RetentionDays;
  /**
   * Registries job images may come from; ECR registries among them get pull permissions.
   * @default - any registry; ECR pulls from this account and region
   */
  readonly allowedRegistries?: readonly string[];
  /**
   * A pinned ECS GPU AL2023 AMI id.
   * @default - the ECS_AL2023_NVIDIA image Batch currently supports
   */
  readonly gpuAmiId?: string;
  /**
   * Root volume of the instances in GiB, encrypted gp3 (images and scratch space).
   * @default 100
   */
  readonly rootVolumeGiB?: number;
  /**
   * Name prefix of the job definitions registered at run time; the grant is scoped to it.
   * @default - `<stack name>-`
   */
  readonly jobDefinitionPrefix?: string;
}

/**
 * The GPU capacity: a Spot and an On-Demand managed EC2 compute environment (both scale
 * to zero), a job queue for each, and the roles and log group of the jobs.
 *
 * Job definitions are registered at run time, one per image and resource shape, because
 * `containerOverrides` cannot change the image. Each carries the retry strategy of
 * core/retry-strategy.ts, where its rules and their order are stated and tested.
 */
export class GpuCompute extends Construct {
  readonly spotComputeEnvironment: batch.ManagedEc2EcsComputeEnvironment;
  readonly onDemandComputeEnvironment: batch.ManagedEc2EcsComputeEnvironment;
  readonly spotJobQueue: batch.JobQueue;
  readonly onDemandJobQueue: batch.JobQueue;
  readonly launchTemplate: ec2.LaunchTemplate;
  /** Role of the EC2 instances (ECS agent). */
  readonly instanceRole: iam.Role;
  /** Role ECS uses to pull the job's image and write its logs (Batch executionRoleArn). */
  readonly jobExecutionRole: iam.Role;
  /** Role the job's container runs as (Batch jobRoleArn); no permissions unless you add them. */
  readonly jobRole: iam.Role;
  /** Log group every job writes to (awslogs driver). */
  readonly jobLogGroup: logs.LogGroup;
  readonly jobDefinitionPrefix: string;
  /** ARN pattern of the job definitions registered at run time. */
  readonly jobDefinitionArnPattern: string;

  constructor(scope: Construct, id: string, props: GpuComputeProps) {
    super(scope, id);
    const stack = Stack.of(this);
    if (props.instanceTypes.length === 0) {
      throw new Error('instanceTypes must name at least one instance type. Received [].');
    }
    const capacitySeconds = props.capacityTimeout.toSeconds();
    if (capacitySeconds < 600 || capacitySeconds > 86_400) {
      throw new Error(`capacityTimeout must be between 600 and 86400 seconds. Received ${capacitySeconds}.`);
    }
    this.jobDefinitionPrefix = props.jobDefinitionPrefix ?? `${stack.stackName}-`;
    this.jobDefinitionArnPattern = stack.formatArn({
      service: 'batch',
      resource: 'job-definition',
      resourceName: `${this.jobDefinitionPrefix}*`,
    });

    this.jobLogGroup = new logs.LogGroup(this, 'JobLogGroup', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.instanceRole = new iam.Role(this, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'gpujobs Batch instances: ECS container agent',
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonEC2ContainerServiceforEC2Role')],
    });
    this.jobExecutionRole = new iam.Role(this, 'JobExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'gpujobs jobs: pull the image and write the job log',
    });
    this.jobLogGroup.grantWrite(this.jobExecutionRole);
    this.grantImagePull(this.jobExecutionRole, props.allowedRegistries ?? []);
    this.jobRole = new iam.Role(this, 'JobRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'gpujobs jobs: the container identity, no permissions by default',
    });

    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      // Hop limit 1: the instance role's credentials stay out of reach of the containers.
      requireImdsv2: true,
      httpTokens: ec2.LaunchTemplateHttpTokens.REQUIRED,
      httpPutResponseHopLimit: 1,
      httpEndpoint: true,
      // Per-minute instance metrics; billed only while an instance runs.
      detailedMonitoring: true,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(props.rootVolumeGiB ?? 100, {
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            encrypted: true,
            deleteOnTermination: true,
          }),
        },
      ],
    });

    const image: batch.EcsMachineImage = {
      imageType: batch.EcsMachineImageType.ECS_AL2023_NVIDIA,
      ...(props.gpuAmiId !== undefined && { image: pinnedImage(props.gpuAmiId) }),
    };
    const common = {
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      securityGroups: [props.securityGroup],
      instanceTypes: props.instanceTypes.map((type) => new ec2.InstanceType(type)),
      useOptimalInstanceClasses: false,
      images: [image],
      minvCpus: 0,
      maxvCpus: props.maxVcpus,
      instanceRole: this.instanceRole,
      launchTemplate: this.launchTemplate,
      // Each infrastructure update (a launch-template or configuration change) moves the
      // instances to the newest GPU AMI Batch supports, with the NVIDIA driver and security fixes:
      // https://docs.aws.amazon.com/batch/latest/APIReference/API_ComputeResourceUpdate.html
      updateToLatestImageVersion: true,
      // Running jobs get up to 6 hours to finish before their instances are replaced; a job still
      // running then ends as a lost host, which the workflow retries like a reclaim.
      updateTimeout: Duration.minutes(INFRASTRUCTURE_UPDATE_JOB_TIMEOUT_MINUTES),
    };
    this.spotComputeEnvironment = new batch.ManagedEc2EcsComputeEnvironment(this, 'SpotComputeEnvironment', {
      ...common,
      spot: true,
      allocationStrategy: batch.AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED,
    });
    this.onDemandComputeEnvironment = new batch.ManagedEc2EcsComputeEnvironment(this, 'OnDemandComputeEnvironment', {
      ...common,
      spot: false,
      allocationStrategy: batch.AllocationStrategy.BEST_FIT_PROGRESSIVE,
    });
    for (const computeEnvironment of [this.spotComputeEnvironment, this.onDemandComputeEnvironment]) {
      pinLaunchTemplateVersion(computeEnvironment, this.launchTemplate);
    }

    // A job no compute environment can ever run would otherwise wait RUNNABLE forever.
    const misconfigurationActions: batch.JobStateTimeLimitAction[] = [
      batch.JobStateTimeLimitActionsReason.COMPUTE_ENVIRONMENT_MAX_RESOURCE,
      batch.JobStateTimeLimitActionsReason.JOB_RESOURCE_REQUIREMENT,
    ].map((reason) => ({
      reason,
      action: batch.JobStateTimeLimitActionsAction.CANCEL,
      state: batch.JobStateTimeLimitActionsState.RUNNABLE,
      maxTime: Duration.minutes(10),
    }));

    this.spotJobQueue = new batch.JobQueue(this, 'SpotJobQueue', {
      priority: 1,
      computeEnvironments: [{ computeEnvironment: this.spotComputeEnvironment, order: 1 }],
      jobStateTimeLimitActions: [
        {
          // The workflow reads this cancellation as "no Spot capacity" and fails over to On-Demand.
          reason: batch.JobStateTimeLimitActionsReason.INSUFFICIENT_INSTANCE_CAPACITY,
          action: batch.JobStateTimeLimitActionsAction.CANCEL,
          state: batch.JobStateTimeLimitActionsState.RUNNABLE,
          maxTime: props.capacityTimeout,
        },
        ...misconfigurationActions,
      ],
    });
    this.onDemandJobQueue = new batch.JobQueue(this, 'OnDemandJobQueue', {
      priority: 1,
      computeEnvironments: [{ computeEnvironment: this.onDemandComputeEnvironment, order: 1 }],
      jobStateTimeLimitActions: misconfigurationActions,
    });
  }

  /**
   * Registering the job definitions the workflow submits: only names under the prefix,
   * and passing only the two job roles, only to Batch and ECS tasks.
   */
  grantRegisterJobDefinitions(grantee: iam.IGrantable): iam.Grant {
    // No batch:TagResource: the registration carries no tags (the submissions do), and
    // tag-on-create is authorized only for tags in the request.
    const register = iam.Grant.addToPrincipal({
      grantee,
      actions: ['batch:RegisterJobDefinition'],
      resourceArns: [this.jobDefinitionArnPattern],
    });
    // DescribeJobDefinitions supports no resource-level permissions: "*" is the only valid resource.
    iam.Grant.addToPrincipal({ grantee, actions: ['batch:DescribeJobDefinitions'], resourceArns: ['*'] });
    // Batch checks iam:PassRole for jobRoleArn and executionRoleArn at RegisterJobDefinition
    // (https://docs.aws.amazon.com/batch/latest/userguide/iam-example-job-def.html), but no AWS page
    // says which iam:PassedToService value it sends. The Service Authorization Reference shows Batch
    // sending one value per consumer elsewhere (CreateComputeEnvironment: batch, ec2, spotfleet;
    // https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsbatch.html), and
    // published Batch policies (Seqera's PassRolesToBatch) use batch.amazonaws.com. If the one
    // value allowed were the wrong one, every registration would be denied, so both are allowed;
    // the resources still limit the grant to the two job roles.
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.jobRole.roleArn, this.jobExecutionRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': ['batch.amazonaws.com', 'ecs-tasks.amazonaws.com'] } },
      }),
    );
    return register;
  }

  private grantImagePull(role: iam.Role, allowedRegistries: readonly string[]): void {
    const stack = Stack.of(this);
    const repositoryArns =
      allowedRegistries.length === 0
        ? [stack.formatArn({ service: 'ecr', resource: 'repository', resourceName: '*' })]
        : ecrRepositoryPatterns(allowedRegistries).flatMap(({ region, account, repository, repositoryPrefix }) => [
            ...(repository === undefined ? [] : [`arn:${stack.partition}:ecr:${region}:${account}:repository/${repository}`]),
            `arn:${stack.partition}:ecr:${region}:${account}:repository/${repositoryPrefix}*`,
          ]);
    if (repositoryArns.length === 0) return;
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
        resources: repositoryArns,
      }),
    );
    // GetAuthorizationToken is account-wide and supports no resource-level permissions.
    role.addToPolicy(new iam.PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }));
  }
}

/**
 * The ECR registries among the allowed ones, as the repositories they allow: the ones the API
 * admits (core/image-reference.ts isImageAllowed), that is the repository named by the entry's path and
 * every one under it (`<path>/` prefix), or all of the registry for a bare host. In an IAM
 * resource ARN `*` also matches `/`, so `repository/team/*` covers `team/x/y`:
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
 */
export function ecrRepositoryPatterns(
  allowedRegistries: readonly string[],
): { readonly region: string; readonly account: string; readonly repository?: string; readonly repositoryPrefix: string }[] {
  const ecrHost = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/;
  return allowedRegistries.flatMap((raw) => {
    const { host, path } = parseRegistryEntry(raw);
    const match = ecrHost.exec(host);
    if (!match) return [];
    const [, account, region] = match;
    return [
      {
        account: account!,
        region: region!,
        ...(path === undefined ? {} : { repository: path }),
        repositoryPrefix: path === undefined ? '' : `${path}/`,
      },
    ];
  });
}

/**
 * The compute environment names the launch template's current version instead of leaving it
 * implicit: with no version, Batch resolves `$Default` once, at creation, so a later template
 * change (root volume size) never reaches the instances. A version number that changes with the
 * template makes CloudFormation update the compute environment, which Batch carries out as an
 * infrastructure update:
 * https://docs.aws.amazon.com/batch/latest/APIReference/API_LaunchTemplateSpecification.html
 */
function pinLaunchTemplateVersion(computeEnvironment: batch.ManagedEc2EcsComputeEnvironment, launchTemplate: ec2.LaunchTemplate): void {
  const resource = computeEnvironment.node.defaultChild as batch.CfnComputeEnvironment;
  resource.addPropertyOverride('ComputeResources.LaunchTemplate.Version', launchTemplate.versionNumber);
}

/** A fixed AMI id; Batch only reads the id (imageIdOverride), never user data. */
function pinnedImage(amiId: string): ec2.IMachineImage {
  return {
    getImage: () => ({ imageId: amiId, osType: ec2.OperatingSystemType.LINUX, userData: ec2.UserData.forLinux() }),
  };
}
