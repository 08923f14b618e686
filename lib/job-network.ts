import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Fn, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Construct } from 'constructs';

export interface JobNetworkProps {
  /**
   * An existing VPC to launch the Batch instances in.
   * @default - a new VPC with public subnets only
   */
  readonly vpcId?: string;
  /**
   * Subnets of `vpcId`; they need a route to the internet (to pull images and reach Batch and ECS).
   * Required with `vpcId`.
   * @default - the new VPC's public subnets
   */
  readonly subnetIds?: readonly string[];
  /** Retention of the new VPC's flow log (rejected traffic). */
  readonly logRetention: logs.RetentionDays;
}

/**
 * Where the GPU instances run. The new VPC has public subnets only and no NAT gateway,
 * so the network costs nothing while idle; the instances are reachable from nowhere
 * because their security group has no inbound rule.
 */
export class JobNetwork extends Construct {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly securityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: JobNetworkProps) {
    super(scope, id);
    const subnetIds = props.subnetIds ?? [];

    if (props.vpcId !== undefined) {
      if (subnetIds.length === 0) {
        throw new Error(`subnetIds must name at least one subnet of ${props.vpcId}. Received [].`);
      }
      // Attributes instead of Vpc.fromLookup: synth stays offline and needs no account. The
      // subnets are selected explicitly below, so the VPC's zone list is never consulted.
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', { vpcId: props.vpcId, availabilityZones: Fn.getAzs() });
      this.subnets = { subnets: subnetIds.map((subnetId, i) => ec2.Subnet.fromSubnetId(this, `Subnet${i}`, subnetId)) };
      Validations.of(this).acknowledge(
        {
          id: 'Annotation::@aws-cdk/aws-ec2:vpcAttributeIsListTokenavailabilityZones',
          reason:
            'Only the security group (VPC id) and the compute environments (explicit subnet ids) use the imported VPC; nothing selects its subnets by zone.',
        },
        {
          id: 'Annotation::@aws-cdk/aws-ec2:noSubnetRouteTableId',
          reason: 'The subnets are passed to Batch by id only; no route table of theirs is read or changed.',
        },
      );
    } else {
      const flowLogGroup = new logs.LogGroup(this, 'FlowLogGroup', {
        retention: props.logRetention,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const vpc = new ec2.Vpc(this, 'Vpc', {
        // An environment-agnostic stack gets two zones, which every region has.
        natGateways: 0,
        subnetConfiguration: [{ name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 20 }],
        flowLogs: {
          Rejected: {
            destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
            trafficType: ec2.FlowLogTrafficType.REJECT,
          },
        },
      });
      this.vpc = vpc;
      this.subnets = { subnetType: ec2.SubnetType.PUBLIC };
    }

    this.securityGroup = new ec2.SecurityGroup(this, 'InstanceSecurityGroup', {
      vpc: this.vpc,
      description: 'gpujobs Batch instances: no inbound, outbound for images, Batch and ECS',
      allowAllOutbound: true,
    });
  }
}
