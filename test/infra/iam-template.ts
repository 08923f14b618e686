/**
 * The synthesized template as a sample account sees it: every resource gets the ARN and name
 * it would have in account 123456789012, us-east-1, and any template value (policy documents,
 * environment variables, the workflow definition) resolves to those samples.
 */
import {
  resolveStateMachineDefinition,
  resolveTemplateValue,
  type CloudFormationTemplate,
  type ResolveOptions,
  type ResourceAttributes,
} from './template-resolver.js';

export const SAMPLE_ACCOUNT = '123456789012';
export const SAMPLE_REGION = 'us-east-1';
const PARTITION = 'aws';

export interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}

export interface PolicyDocument {
  readonly Version?: string;
  readonly Statement: readonly Record<string, unknown>[];
}

export interface NamedPolicy {
  /** The template resource (and inline policy name) the document comes from. */
  readonly name: string;
  readonly policy: PolicyDocument;
}

export class SampleAccount {
  private readonly options: ResolveOptions;

  constructor(
    readonly template: CloudFormationTemplate & { readonly Resources: Record<string, TemplateResource> },
    stackName: string,
  ) {
    this.options = {
      resources: sampleAttributes(template, stackName),
      pseudoParameters: { partition: PARTITION, region: SAMPLE_REGION, accountId: SAMPLE_ACCOUNT, stackName },
    };
  }

  arn(service: string, resource: string): string {
    return `arn:${PARTITION}:${service}:${SAMPLE_REGION}:${SAMPLE_ACCOUNT}:${resource}`;
  }

  resolve(value: unknown, owner: string): unknown {
    return resolveTemplateValue(this.template, value, this.options, owner);
  }

  /** The executable definition of a state machine of the template, resolved to the samples. */
  stateMachineDefinition(logicalId: string): unknown {
    return resolveStateMachineDefinition(this.template, logicalId, this.options);
  }

  /** What `Ref` or `Fn::GetAtt` of a resource resolves to here. */
  attribute(logicalId: string, attribute: string): string {
    const value = this.options.resources[logicalId]?.[attribute];
    if (value === undefined) throw new Error(`The sample account has no ${attribute} for ${logicalId}.`);
    return value;
  }

  resourcesOfType(type: string): [string, TemplateResource][] {
    return Object.entries(this.template.Resources).filter(([, resource]) => resource.Type === type);
  }

  /** The resource of `type` whose `Ref` or an attribute is `value` (an environment variable, say). */
  resourceWithValue(type: string, value: string): string | undefined {
    return this.resourcesOfType(type).find(([id]) => Object.values(this.options.resources[id] ?? {}).includes(value))?.[0];
  }

  /** The function's environment variables, resolved. */
  environmentOf(functionLogicalId: string): Readonly<Record<string, string>> {
    const variables = (this.template.Resources[functionLogicalId]?.Properties?.Environment as { Variables?: unknown } | undefined)
      ?.Variables;
    return (this.resolve(variables ?? {}, `${functionLogicalId}.Environment`) as Record<string, string>) ?? {};
  }

  /**
   * The identity policies of a role: inline AWS::IAM::Policy resources attached to it, its own
   * inline policies, and customer managed policies of the template. AWS managed policies have no
   * document here; they are returned by ARN so the caller can refuse to judge the role.
   */
  identityPoliciesOf(roleLogicalId: string): { policies: NamedPolicy[]; awsManagedPolicyArns: string[] } {
    const role = this.template.Resources[roleLogicalId];
    if (role?.Type !== 'AWS::IAM::Role')
      throw new Error(`${roleLogicalId} is not an AWS::IAM::Role. Received ${role?.Type ?? 'no resource'}.`);
    const policies: NamedPolicy[] = [];
    const document = (value: unknown, name: string) => this.resolve(value, name) as PolicyDocument;
    const attachedTo = (resource: TemplateResource) =>
      ((resource.Properties?.Roles as unknown[] | undefined) ?? []).some((r) => (r as { Ref?: string }).Ref === roleLogicalId);

    for (const [id, resource] of this.resourcesOfType('AWS::IAM::Policy')) {
      if (attachedTo(resource)) policies.push({ name: id, policy: document(resource.Properties?.PolicyDocument, id) });
    }
    for (const inline of (role.Properties?.Policies as { PolicyName: string; PolicyDocument: unknown }[] | undefined) ?? []) {
      const name = `${roleLogicalId}/${inline.PolicyName}`;
      policies.push({ name, policy: document(inline.PolicyDocument, name) });
    }
    const awsManagedPolicyArns: string[] = [];
    const managed = new Set<string>();
    for (const [id, resource] of this.resourcesOfType('AWS::IAM::ManagedPolicy')) {
      if (attachedTo(resource)) managed.add(id);
    }
    for (const value of (role.Properties?.ManagedPolicyArns as unknown[] | undefined) ?? []) {
      const ref = (value as { Ref?: string }).Ref;
      if (ref && this.template.Resources[ref]?.Type === 'AWS::IAM::ManagedPolicy') managed.add(ref);
      else awsManagedPolicyArns.push(String(this.resolve(value, `${roleLogicalId}.ManagedPolicyArns`)));
    }
    for (const id of managed) policies.push({ name: id, policy: document(this.template.Resources[id]!.Properties?.PolicyDocument, id) });
    return { policies, awsManagedPolicyArns };
  }
}

/**
 * `Ref` and attributes for every resource, in the shapes AWS gives them. Names default to the
 * logical id (CloudFormation would add the stack name and a suffix; any consistent name will do).
 */
function sampleAttributes(
  template: { Resources: Record<string, TemplateResource> },
  stackName: string,
): Record<string, ResourceAttributes> {
  const arn = (service: string, resource: string) => `arn:${PARTITION}:${service}:${SAMPLE_REGION}:${SAMPLE_ACCOUNT}:${resource}`;
  const attributes: Record<string, ResourceAttributes> = {};
  const plain = (id: string, property: string, resource: TemplateResource): string => {
    const value = resource.Properties?.[property];
    if (typeof value === 'string') return value;
    if (value === undefined) return id;
    // A name built from pseudo parameters only (the state machine's log group, say).
    const resolved = resolveTemplateValue(
      template,
      value,
      {
        resources: {},
        pseudoParameters: { partition: PARTITION, region: SAMPLE_REGION, accountId: SAMPLE_ACCOUNT, stackName },
      },
      `${id}.${property}`,
    );
    return typeof resolved === 'string' ? resolved : id;
  };
  for (const [id, resource] of Object.entries(template.Resources)) {
    switch (resource.Type) {
      case 'AWS::DynamoDB::Table': {
        const name = plain(id, 'TableName', resource);
        attributes[id] = {
          Ref: name,
          Arn: arn('dynamodb', `table/${name}`),
          StreamArn: arn('dynamodb', `table/${name}/stream/2025-01-01T00:00:00.000`),
        };
        break;
      }
      case 'AWS::SQS::Queue': {
        const name = plain(id, 'QueueName', resource);
        const url = `https://sqs.${SAMPLE_REGION}.amazonaws.com/${SAMPLE_ACCOUNT}/${name}`;
        attributes[id] = { Ref: url, QueueUrl: url, QueueName: name, Arn: arn('sqs', name) };
        break;
      }
      case 'AWS::SNS::Topic': {
        const name = plain(id, 'TopicName', resource);
        attributes[id] = { Ref: arn('sns', name), TopicArn: arn('sns', name), TopicName: name };
        break;
      }
      case 'AWS::StepFunctions::StateMachine': {
        const name = plain(id, 'StateMachineName', resource);
        attributes[id] = { Ref: arn('states', `stateMachine:${name}`), Arn: arn('states', `stateMachine:${name}`), Name: name };
        break;
      }
      case 'AWS::Events::EventBus': {
        const name = plain(id, 'Name', resource);
        attributes[id] = { Ref: name, Name: name, Arn: arn('events', `event-bus/${name}`) };
        break;
      }
      case 'AWS::Events::Rule': {
        const name = plain(id, 'Name', resource);
        attributes[id] = { Ref: name, Arn: arn('events', `rule/${name}`) };
        break;
      }
      case 'AWS::Logs::LogGroup': {
        const name = plain(id, 'LogGroupName', resource);
        attributes[id] = { Ref: name, Arn: arn('logs', `log-group:${name}:*`) };
        break;
      }
      case 'AWS::Lambda::Function': {
        const name = plain(id, 'FunctionName', resource);
        attributes[id] = { Ref: name, Arn: arn('lambda', `function:${name}`) };
        break;
      }
      case 'AWS::IAM::Role': {
        const name = plain(id, 'RoleName', resource);
        const path = typeof resource.Properties?.Path === 'string' ? resource.Properties.Path : '/';
        attributes[id] = {
          Ref: name,
          Arn: `arn:${PARTITION}:iam::${SAMPLE_ACCOUNT}:role${path}${name}`,
          RoleId: `AROA${id.toUpperCase()}`,
        };
        break;
      }
      case 'AWS::IAM::ManagedPolicy': {
        const name = plain(id, 'ManagedPolicyName', resource);
        const policyArn = `arn:${PARTITION}:iam::${SAMPLE_ACCOUNT}:policy/${name}`;
        attributes[id] = { Ref: policyArn, PolicyArn: policyArn };
        break;
      }
      case 'AWS::IAM::InstanceProfile': {
        const name = plain(id, 'InstanceProfileName', resource);
        attributes[id] = { Ref: name, Arn: `arn:${PARTITION}:iam::${SAMPLE_ACCOUNT}:instance-profile/${name}` };
        break;
      }
      case 'AWS::Batch::JobQueue': {
        const queueArn = arn('batch', `job-queue/${plain(id, 'JobQueueName', resource)}`);
        attributes[id] = { Ref: queueArn, JobQueueArn: queueArn };
        break;
      }
      case 'AWS::Batch::ComputeEnvironment': {
        const environmentArn = arn('batch', `compute-environment/${plain(id, 'ComputeEnvironmentName', resource)}`);
        attributes[id] = { Ref: environmentArn, ComputeEnvironmentArn: environmentArn };
        break;
      }
      case 'AWS::EC2::VPC':
        attributes[id] = { Ref: `vpc-${id.toLowerCase()}`, DefaultSecurityGroup: `sg-${id.toLowerCase()}`, CidrBlock: '10.0.0.0/16' };
        break;
      case 'AWS::EC2::SecurityGroup':
        attributes[id] = { Ref: `sg-${id.toLowerCase()}`, GroupId: `sg-${id.toLowerCase()}` };
        break;
      case 'AWS::EC2::LaunchTemplate':
        attributes[id] = {
          Ref: `lt-${id.toLowerCase()}`,
          LaunchTemplateId: `lt-${id.toLowerCase()}`,
          LatestVersionNumber: '1',
          DefaultVersionNumber: '1',
        };
        break;
      default:
        attributes[id] = { Ref: id };
    }
  }
  return attributes;
}
