/**
 * The EC2 instance type behind an ECS container instance, which is what an attempt's
 * cost is priced by. Batch's job detail names only the container instance.
 */
import { DescribeContainerInstancesCommand, type ECSClient } from '@aws-sdk/client-ecs';

/**
 * `arn:aws:ecs:<region>:<account>:container-instance/<cluster>/<id>` → `<cluster>`.
 * Older ARNs without the cluster segment give undefined.
 */
export function clusterOfContainerInstance(containerInstanceArn: string): string | undefined {
  const match = /:container-instance\/([^/]+)\/[^/]+$/.exec(containerInstanceArn);
  return match?.[1];
}

export class InstanceTypeLookup {
  // An instance's type never changes, and Batch reuses instances across many jobs.
  private readonly typesByContainerInstance = new Map<string, string>();

  constructor(private readonly ecs: ECSClient) {}

  /** The instance type, or undefined when ECS no longer knows the instance. AWS errors propagate (the event is retried). */
  async instanceTypeOf(containerInstanceArn: string): Promise<string | undefined> {
    const cached = this.typesByContainerInstance.get(containerInstanceArn);
    if (cached) return cached;
    const cluster = clusterOfContainerInstance(containerInstanceArn);
    if (!cluster) return undefined;
    const { containerInstances = [] } = await this.ecs.send(
      new DescribeContainerInstancesCommand({ cluster, containerInstances: [containerInstanceArn] }),
    );
    const instanceType = containerInstances[0]?.attributes?.find((attribute) => attribute.name === 'ecs.instance-type')?.value;
    if (instanceType) this.typesByContainerInstance.set(containerInstanceArn, instanceType);
    return instanceType;
  }
}
