import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import type { CapacityType } from '../../core/job.js';
import { cdkJsonContext } from '../../lib/app.js';
import { loadConfig } from '../../lib/config.js';
import { GpuJobsStack } from '../../lib/gpujobs-stack.js';
import {
  resolveJobWorkflowDefinition,
  standInResourceAttributes,
  type CloudFormationTemplate,
  type ResourceAttributes,
} from '../../lib/workflow/resolve-definition.js';

export interface WorkflowUnderTest {
  readonly template: CloudFormationTemplate;
  readonly logicalId: string;
  readonly definition: StateMachineDefinition;
  /** Job queue ARN (as resolved into the definition) → the capacity of the compute environment behind it. */
  readonly queueCapacity: ReadonlyMap<string, CapacityType>;
}

/**
 * The gpujobs stack as `cdk synth` builds it from cdk.json (the cdk-nag and cfn-guard checks
 * are left to the infrastructure tests), and its job workflow resolved for execution.
 */
export function synthesizeWorkflowUnderTest(): WorkflowUnderTest {
  // The definition refers to the functions by ARN only: their bundled code is not needed.
  const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
  const stack = new GpuJobsStack(app, 'GpuJobs', { config: loadConfig(app.node) });
  const template = Template.fromStack(stack).toJSON() as CloudFormationTemplate;
  return resolveWorkflowUnderTest(template);
}

export function resolveWorkflowUnderTest(template: CloudFormationTemplate): WorkflowUnderTest {
  const resources = standInResourceAttributes(template, { region: 'us-east-1', accountId: '123456789012' });
  const { logicalId, definition } = resolveJobWorkflowDefinition(template, {
    resources,
    pseudoParameters: { region: 'us-east-1', accountId: '123456789012' },
  });
  return { template, logicalId, definition, queueCapacity: queueCapacities(template, resources) };
}

/** Which queue is Spot is read from its compute environments, not from its name. */
function queueCapacities(
  template: CloudFormationTemplate,
  resources: Record<string, ResourceAttributes>,
): Map<string, CapacityType> {
  const all = template.Resources ?? {};
  const capacities = new Map<string, CapacityType>();
  for (const [queueId, queue] of Object.entries(all)) {
    if (queue.Type !== 'AWS::Batch::JobQueue') continue;
    const order = (queue.Properties?.ComputeEnvironmentOrder ?? []) as { ComputeEnvironment: unknown }[];
    const types = new Set(
      order.map(({ ComputeEnvironment }) => {
        const environmentId = referencedLogicalId(ComputeEnvironment);
        const computeResources = all[environmentId ?? '']?.Properties?.ComputeResources as { Type?: string } | undefined;
        return computeResources?.Type;
      }),
    );
    const [type] = [...types];
    if (types.size !== 1 || (type !== 'SPOT' && type !== 'EC2')) {
      throw new Error(`Job queue ${queueId} is not backed by only Spot or only On-Demand EC2 compute: ${[...types].join(', ')}`);
    }
    capacities.set(resources[queueId]!.Ref!, type === 'SPOT' ? 'spot' : 'on-demand');
  }
  return capacities;
}

function referencedLogicalId(value: unknown): string | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const { Ref, 'Fn::GetAtt': getAtt } = value as { Ref?: unknown; 'Fn::GetAtt'?: unknown };
  if (typeof Ref === 'string') return Ref;
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  return undefined;
}
