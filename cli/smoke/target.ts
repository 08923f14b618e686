/**
 * Where `gpujobs smoke` runs: a deployed stack (its API URL and event bus read from the
 * stack's outputs), local mode (a loopback endpoint that answers GET /local/info), or a
 * plain endpoint whose bus is unknown.
 */
import type { LocalInfo } from '../../local/http-api.js';
import { regionFromExecuteApiHost } from '../auth.js';
import { awsAccess, clientRegion, type AwsAccess } from '../aws-setup.js';
import { EndpointUnreachableError, type GpuJobsClient } from '../client.js';
import type { CommandContext } from '../command.js';
import { isLoopback, readSavedConfig, type ResolvedEndpoint } from '../config.js';
import { describeStackOutputs, findApiUrl } from '../commands/configure.js';

/** The stack output that holds the event bus name (the CfnOutput id in the stack). */
export const EVENT_BUS_NAME_OUTPUT_KEY = 'EventBusName';

export type SmokeMode = 'local' | 'aws';

/** What the run talks to, and what it knows of the platform behind it. */
export interface SmokeTarget {
  readonly mode: SmokeMode;
  readonly client: GpuJobsClient;
  /** Local mode only: what GET /local/info said (how many GPU slots, and whether they are real). */
  readonly localInfo?: LocalInfo;
  /** The stack's name, when the target was found through one. */
  readonly stack?: string;
  /** The stack's "EventBusName" output, when it has one. */
  readonly eventBusName?: string;
  /** Credentials and the stack's region, for the temporary rule and queue; only with a stack. */
  readonly aws?: AwsAccess & { readonly region: string };
}

/**
 * `--stack NAME` wins; else the usual endpoint: local mode when it answers GET /local/info,
 * otherwise a deployed API, whose bus is known when the saved configuration names its stack.
 */
export async function resolveTarget(context: CommandContext, stackName: string | undefined): Promise<SmokeTarget> {
  if (stackName) {
    const stack = await readStack(context, stackName);
    const client = await context.clientAt({
      url: new URL(stack.apiUrl),
      source: 'stack',
      region: regionFromExecuteApiHost(new URL(stack.apiUrl).hostname) ?? stack.aws.region,
    });
    return { mode: 'aws', client, stack: stackName, aws: stack.aws, ...(stack.eventBusName ? { eventBusName: stack.eventBusName } : {}) };
  }
  const client = await context.client();
  const localInfo = isLoopback(client.endpoint.url) ? await probeLocalMode(context, client.endpoint) : undefined;
  if (localInfo) return { mode: 'local', client, localInfo };
  // A deployed API reached through the saved configuration: its stack names the bus.
  const saved = client.endpoint.source === 'config' ? await readSavedConfig(context.env) : undefined;
  if (saved?.stack) {
    const stack = await readStack(context, saved.stack, saved.region);
    return { mode: 'aws', client, stack: saved.stack, aws: stack.aws, ...(stack.eventBusName ? { eventBusName: stack.eventBusName } : {}) };
  }
  return { mode: 'aws', client };
}

async function readStack(
  context: CommandContext,
  stackName: string,
  savedRegion?: string,
): Promise<{ apiUrl: string; eventBusName?: string; aws: AwsAccess & { region: string } }> {
  const access = await awsAccess(context, `read stack ${stackName}`, savedRegion);
  // Loaded here so that every other command starts without the AWS clients.
  const { CloudFormationClient } = await import('@aws-sdk/client-cloudformation');
  const cloudFormation = new CloudFormationClient(access);
  // The stack's region: where its bus is, so where the temporary rule and queue go.
  const region = await clientRegion(cloudFormation);
  const outputs = await describeStackOutputs(cloudFormation, stackName);
  const apiUrl = findApiUrl(outputs, stackName);
  const eventBusName = outputs.find((output) => output.OutputKey === EVENT_BUS_NAME_OUTPUT_KEY)?.OutputValue;
  return { apiUrl, ...(eventBusName ? { eventBusName } : {}), aws: { ...access, region } };
}

/** Local mode answers GET /local/info; a loopback endpoint that does not is something else (a tunnel, a proxy). */
async function probeLocalMode(context: CommandContext, endpoint: ResolvedEndpoint): Promise<LocalInfo | undefined> {
  let response: Response;
  try {
    response = await context.fetch(new URL('/local/info', endpoint.url), { signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    throw new EndpointUnreachableError(endpoint, cause?.code ?? (error instanceof Error ? error.message : String(error)), { cause: error });
  }
  if (!response.ok) {
    await response.body?.cancel();
    return undefined;
  }
  const body = (await response.json().catch(() => undefined)) as Partial<LocalInfo> | undefined;
  return typeof body?.gpus?.real === 'boolean' ? (body as LocalInfo) : undefined;
}
