/**
 * `gpujobs doctor`: whether this account may launch the GPU instances the stack
 * asks Batch for. New accounts often have 0 vCPUs of GPU quota, and a queue blocked
 * by quota is not one of the reasons Batch's jobStateTimeLimitActions act on, so a
 * job would wait RUNNABLE until its workflow times out instead of failing over.
 * https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable.html
 */
import type { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { instanceTypeSpec } from '../../core/instance-catalogue.js';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import { awsAccess, clientRegion } from '../aws-setup.js';
import { EXIT, UsageError, integerOption, stringOption, type Command, type CommandContext, noArguments } from '../command.js';
import { readSavedConfig } from '../config.js';
import type { Terminal } from '../terminal.js';

const NAME = 'doctor';

export type QuotaCapacity = 'spot' | 'on-demand';

export interface VcpuQuota {
  readonly code: string;
  readonly name: string;
  readonly capacity: QuotaCapacity;
}

/**
 * EC2 counts GPU instances in vCPUs per instance family group, separately for Spot
 * requests and running On-Demand instances:
 * https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-instance-quotas.html
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-spot-limits.html
 */
export const GPU_VCPU_QUOTAS: Readonly<Record<'G' | 'P', Readonly<Record<QuotaCapacity, VcpuQuota>>>> = {
  G: {
    spot: { code: 'L-3819A6DF', name: 'All G and VT Spot Instance Requests', capacity: 'spot' },
    'on-demand': { code: 'L-DB2E81BA', name: 'Running On-Demand G and VT instances', capacity: 'on-demand' },
  },
  P: {
    spot: { code: 'L-7212CCBC', name: 'All P Spot Instance Requests', capacity: 'spot' },
    'on-demand': { code: 'L-417A185B', name: 'Running On-Demand P instances', capacity: 'on-demand' },
  },
};

const SERVICE_CODE = 'ec2';

export const QUOTA_CONSOLE_URL = (code: string): string =>
  `https://console.aws.amazon.com/servicequotas/home/services/${SERVICE_CODE}/quotas/${code}`;

export class InstanceTypeError extends Error {
  override readonly name = 'InstanceTypeError';
}

function quotaGroup(instanceType: string): 'G' | 'P' | undefined {
  const family = instanceType[0]?.toLowerCase();
  return family === 'g' ? 'G' : family === 'p' ? 'P' : undefined;
}

/** The instance types each compute environment may launch, and where that list came from. */
export interface InstanceTypesByCapacity {
  readonly spot: readonly string[];
  readonly 'on-demand': readonly string[];
  readonly source: string;
}

export interface QuotaNeed {
  readonly quota: VcpuQuota;
  readonly vcpus: number;
  /** The instance type that sets the need, or `--vcpus`. */
  readonly reason: string;
}

/** One need per quota that the configured types touch: the vCPUs of the largest type, or `vcpus` when given. */
export function quotaNeeds(types: InstanceTypesByCapacity, vcpus: number | undefined): QuotaNeed[] {
  const needs: QuotaNeed[] = [];
  for (const capacity of ['spot', 'on-demand'] as const) {
    for (const group of ['G', 'P'] as const) {
      const inGroup = types[capacity].filter((type) => quotaGroup(type) === group);
      if (inGroup.length === 0) continue;
      const quota = GPU_VCPU_QUOTAS[group][capacity];
      if (vcpus !== undefined) {
        needs.push({ quota, vcpus, reason: '--vcpus' });
        continue;
      }
      let largest: { type: string; vcpus: number } | undefined;
      for (const type of inGroup) {
        const count = instanceTypeSpec(type)?.vcpus;
        if (count === undefined) {
          throw new InstanceTypeError(
            `${type} (from ${types.source}) is not in the instance catalogue (core/instance-catalogue.ts), so its vCPUs are unknown; pass --vcpus N.`,
          );
        }
        if (!largest || count > largest.vcpus) largest = { type, vcpus: count };
      }
      if (largest)
        needs.push({
          quota,
          vcpus: largest.vcpus,
          reason: `${largest.type}, the largest ${capacity === 'spot' ? 'Spot' : 'On-Demand'} type`,
        });
    }
  }
  return needs;
}

export interface QuotaReading extends QuotaNeed {
  readonly value: number;
  /** `applied`: the account's value; `AWS default`: Service Quotas has no applied value for this account. */
  readonly valueSource: 'applied' | 'AWS default';
  readonly enough: boolean;
}

export const doctorCommand: Command = {
  name: NAME,
  summary: "Check the account's GPU vCPU quotas (Service Quotas) and say what to request",
  usage: '[--stack NAME] [--vcpus N] [--region REGION] [--json]',
  description: [
    'Reads the EC2 vCPU quotas for GPU instances through the Service Quotas API with your AWS',
    `credentials: ${GPU_VCPU_QUOTAS.G.spot.code} (${GPU_VCPU_QUOTAS.G.spot.name}) and ${GPU_VCPU_QUOTAS.G['on-demand'].code}`,
    `(${GPU_VCPU_QUOTAS.G['on-demand'].name}), and the P-family ones when P types are configured.`,
    'Each must hold at least the vCPUs of the largest instance type its compute environment may',
    "launch (read from the stack's template with --stack or the stack saved by `gpujobs configure`;",
    'otherwise the default gpuInstanceTypes). New accounts often have 0, and a job then waits',
    'RUNNABLE without ever starting. For each quota that is too low it prints the console page',
    'and the `aws service-quotas request-service-quota-increase` command. Exits 1 when one is.',
  ].join('\n'),
  options: [
    {
      flags: '--stack <name>',
      description: 'read the instance types from this deployed stack (default: the saved stack, else the defaults)',
    },
    { flags: '--vcpus <n>', description: "the vCPUs each quota must allow, instead of the largest instance type's" },
  ],
  globalOptionHelp: {
    region: "the region to check (quotas are per region; default AWS_REGION or your profile's)",
    json: 'print the quotas, what is needed and the requests to make as JSON',
  },
  examples: [
    'gpujobs doctor --region us-east-1',
    'gpujobs doctor --stack GpuJobs',
    'gpujobs doctor --vcpus 64   # room for 16 g4dn.xlarge jobs at once',
  ],

  async run(context, commandLine) {
    noArguments(commandLine, NAME);
    const vcpus = integerOption(commandLine.values, 'vcpus', NAME, { min: 1, max: 100_000 });
    const flagStack = stringOption(commandLine.values, 'stack');
    const saved = flagStack ? undefined : await readSavedConfig(context.env);
    const stackName = flagStack ?? saved?.stack;
    const access = await awsAccess(context, 'read the Service Quotas', saved?.region);

    const { ServiceQuotasClient } = await import('@aws-sdk/client-service-quotas');
    const serviceQuotas = new ServiceQuotasClient({ ...access });
    const region = await clientRegion(serviceQuotas);
    const types = stackName
      ? await stackInstanceTypes(stackName, { ...access, region })
      : {
          spot: DEFAULT_CONFIG.gpuInstanceTypes,
          'on-demand': DEFAULT_CONFIG.gpuInstanceTypes,
          source: 'the default gpuInstanceTypes (lib/config.ts)',
        };
    let needs: QuotaNeed[];
    try {
      needs = quotaNeeds(types, vcpus);
    } catch (error) {
      if (error instanceof InstanceTypeError) throw new UsageError(error.message, NAME, { cause: error });
      throw error;
    }
    const readings: QuotaReading[] = [];
    for (const need of needs) {
      const { value, valueSource } = await readVcpuQuota(serviceQuotas, need.quota);
      readings.push({ ...need, value, valueSource, enough: value >= need.vcpus });
    }
    const low = readings.filter((reading) => !reading.enough);

    if (context.json) {
      context.term.out(
        JSON.stringify(
          {
            region,
            instanceTypesFrom: types.source,
            quotas: readings.map((reading) => ({
              code: reading.quota.code,
              name: reading.quota.name,
              capacity: reading.quota.capacity,
              vcpus: reading.value,
              valueSource: reading.valueSource,
              neededVcpus: reading.vcpus,
              neededFor: reading.reason,
              enough: reading.enough,
              ...(reading.enough ? {} : { request: increaseRequest(reading, region) }),
            })),
            ok: low.length === 0,
          },
          null,
          2,
        ),
      );
    } else {
      printReadings(context, readings, region, types.source);
    }
    return low.length === 0 ? EXIT.ok : EXIT.failure;
  },
};

function increaseRequest(reading: QuotaReading, region: string): { consoleUrl: string; command: string } {
  return {
    consoleUrl: QUOTA_CONSOLE_URL(reading.quota.code),
    command: `aws service-quotas request-service-quota-increase --service-code ${SERVICE_CODE} --quota-code ${reading.quota.code} --desired-value ${reading.vcpus} --region ${region}`,
  };
}

function printReadings(context: CommandContext, readings: readonly QuotaReading[], region: string, source: string): void {
  const { term } = context;
  term.out(`GPU vCPU quotas in ${region}, for the instance types of ${source}:`);
  for (const reading of readings) term.out(readingLine(term, reading));
  const low = readings.filter((reading) => !reading.enough);
  for (const reading of low) {
    const request = increaseRequest(reading, region);
    term.out('');
    term.out(`Request ${reading.quota.code} (${reading.quota.name}) = ${reading.vcpus} vCPUs or more in ${region}:`);
    term.out(`  ${request.consoleUrl}  (choose ${region} at the top right)`);
    term.out(`  ${request.command}`);
  }
  if (low.length > 0) {
    term.err(
      term.dim(
        'Increases are usually granted within hours, sometimes after a support case. Until then jobs wait RUNNABLE. Run `gpujobs doctor` again to see the new values.',
      ),
    );
  }
}

function readingLine(term: Terminal, reading: QuotaReading): string {
  const verdict = reading.enough ? term.green('PASS') : term.red('FAIL');
  const capacity = reading.quota.capacity === 'spot' ? 'Spot' : 'On-Demand';
  return `${verdict} ${reading.quota.code} ${reading.quota.name} (${capacity}): ${reading.value} vCPUs (${reading.valueSource}), needs ${reading.vcpus} (${reading.reason})`;
}

/**
 * The applied value, else AWS's default: GetServiceQuota returns only applied values
 * and answers NoSuchResourceException for a quota the account has none for.
 * https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_GetServiceQuota.html
 * https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_GetAWSDefaultServiceQuota.html
 */
async function readVcpuQuota(
  client: ServiceQuotasClient,
  quota: VcpuQuota,
): Promise<{ value: number; valueSource: QuotaReading['valueSource'] }> {
  const { GetServiceQuotaCommand, GetAWSDefaultServiceQuotaCommand } = await import('@aws-sdk/client-service-quotas');
  try {
    const applied = await client.send(new GetServiceQuotaCommand({ ServiceCode: SERVICE_CODE, QuotaCode: quota.code }));
    if (applied.Quota?.Value !== undefined) return { value: applied.Quota.Value, valueSource: 'applied' };
  } catch (error) {
    if ((error as { name?: string }).name !== 'NoSuchResourceException') throw quotaReadError(quota, error);
  }
  try {
    const byDefault = await client.send(new GetAWSDefaultServiceQuotaCommand({ ServiceCode: SERVICE_CODE, QuotaCode: quota.code }));
    return { value: byDefault.Quota?.Value ?? 0, valueSource: 'AWS default' };
  } catch (error) {
    throw quotaReadError(quota, error);
  }
}

export class QuotaReadError extends Error {
  override readonly name = 'QuotaReadError';
}

function quotaReadError(quota: VcpuQuota, error: unknown): QuotaReadError {
  const message = error instanceof Error ? error.message : String(error);
  const denied = (error as { name?: string }).name === 'AccessDeniedException';
  return new QuotaReadError(
    `cannot read quota ${quota.code} (${quota.name}): ${message}${denied ? ' The caller needs servicequotas:GetServiceQuota and servicequotas:GetAWSDefaultServiceQuota.' : ''}`,
    { cause: error },
  );
}

/** The InstanceTypes of the stack's two Batch compute environments, from its deployed template. */
async function stackInstanceTypes(
  stackName: string,
  access: { credentials: NonNullable<CommandContext['credentials']>; region: string },
): Promise<InstanceTypesByCapacity> {
  const { CloudFormationClient, GetTemplateCommand } = await import('@aws-sdk/client-cloudformation');
  const cloudFormation = new CloudFormationClient(access);
  let body: string | undefined;
  try {
    body = (await cloudFormation.send(new GetTemplateCommand({ StackName: stackName }))).TemplateBody;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new QuotaReadError(
      /does not exist/i.test(message)
        ? `stack ${stackName} does not exist in ${access.region}; check --stack and --region, or pass --vcpus N.`
        : `cannot read the template of stack ${stackName}: ${message}`,
      { cause: error },
    );
  }
  return computeEnvironmentTypes(body ?? '', stackName);
}

interface TemplateResource {
  readonly Type?: string;
  readonly Properties?: { readonly ComputeResources?: { readonly Type?: string; readonly InstanceTypes?: unknown } };
}

export function computeEnvironmentTypes(templateBody: string, stackName: string): InstanceTypesByCapacity {
  let template: { Resources?: Record<string, TemplateResource> };
  try {
    template = JSON.parse(templateBody) as typeof template;
  } catch (error) {
    throw new QuotaReadError(`the template of stack ${stackName} is not JSON (is it a gpujobs stack?); pass --vcpus N instead.`, {
      cause: error,
    });
  }
  const types = { spot: [] as string[], 'on-demand': [] as string[] };
  for (const resource of Object.values(template.Resources ?? {})) {
    if (resource.Type !== 'AWS::Batch::ComputeEnvironment') continue;
    const compute = resource.Properties?.ComputeResources;
    const listed = Array.isArray(compute?.InstanceTypes)
      ? compute.InstanceTypes.filter((type): type is string => typeof type === 'string')
      : [];
    // Batch's ComputeResources.Type: SPOT, or EC2 for On-Demand.
    (compute?.Type === 'SPOT' ? types.spot : types['on-demand']).push(...listed);
  }
  if (types.spot.length + types['on-demand'].length === 0) {
    throw new QuotaReadError(
      `stack ${stackName} has no Batch compute environment with instance types; is it a gpujobs stack? Pass --vcpus N instead.`,
    );
  }
  return { ...types, source: `stack ${stackName}` };
}
