import type { CloudFormationClient, Output } from '@aws-sdk/client-cloudformation';
import { EXIT, UsageError, stringOption, type Command } from '../command.js';
import { writeSavedConfig } from '../config.js';
import { regionFromExecuteApiHost } from '../auth.js';

const NAME = 'configure';

/** The stack output that holds the HTTP API's URL (the CfnOutput id in the stack). */
export const API_URL_OUTPUT_KEY = 'ApiUrl';

export class StackOutputError extends Error {
  override readonly name = 'StackOutputError';
}

export const configureCommand: Command = {
  name: NAME,
  summary: 'Point the CLI at a deployed stack (reads its API URL output)',
  usage: '--stack NAME [--region REGION]',
  description: [
    `Reads the CloudFormation outputs of a deployed gpujobs stack (output "${API_URL_OUTPUT_KEY}")`,
    'with your AWS credentials and saves the API URL and region, so later commands use',
    'them without --endpoint. Saved to $XDG_CONFIG_HOME/gpujobs/config.json',
    '(~/.config/gpujobs/config.json when XDG_CONFIG_HOME is unset).',
    '--endpoint and GPUJOBS_ENDPOINT still take precedence over the saved URL.',
  ].join('\n'),
  options: [{ flags: '--stack <name>', description: 'the CloudFormation stack name given to `cdk deploy`' }],
  globalOptionHelp: {
    region: "the stack's region (default: AWS_REGION or your profile's region)",
    json: 'print the saved configuration as JSON',
  },
  examples: ['gpujobs configure --stack GpuJobs', 'AWS_PROFILE=ml gpujobs configure --stack GpuJobs --region eu-west-1'],

  async run(context, commandLine) {
    const stackName = stringOption(commandLine.values, 'stack');
    if (!stackName) throw new UsageError('--stack NAME is required.', NAME);
    if (commandLine.positionals.length > 0) {
      throw new UsageError(`configure takes no arguments. Received: ${commandLine.positionals.join(' ')}`, NAME);
    }
    const requestedRegion = stringOption(context.global, 'region') ?? context.env.AWS_REGION ?? context.env.AWS_DEFAULT_REGION;
    // Loaded here so that every other command starts without the CloudFormation client.
    const { CloudFormationClient } = await import('@aws-sdk/client-cloudformation');
    const cloudFormation = new CloudFormationClient({
      ...(requestedRegion ? { region: requestedRegion } : {}),
      ...(context.credentials ? { credentials: context.credentials } : {}),
    });
    const outputs = await describeStackOutputs(cloudFormation, stackName);
    const endpoint = findApiUrl(outputs, stackName);
    const region = regionFromExecuteApiHost(new URL(endpoint).hostname) ?? (await cloudFormation.config.region());
    const saved = { endpoint, region, stack: stackName };
    const path = await writeSavedConfig(context.env, saved);
    if (context.json) context.term.out(JSON.stringify({ ...saved, configFile: path }, null, 2));
    else context.term.out(`Saved ${endpoint} (stack ${stackName}, ${region}) to ${path}`);
    return EXIT.ok;
  },
};

export async function describeStackOutputs(client: CloudFormationClient, stackName: string): Promise<readonly Output[]> {
  const { DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  try {
    const response = await client.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = response.Stacks?.[0];
    if (!stack) throw new StackOutputError(`stack ${stackName} was not found.`);
    return stack.Outputs ?? [];
  } catch (error) {
    if (error instanceof StackOutputError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    if (/does not exist/i.test(message)) {
      throw new StackOutputError(`stack ${stackName} does not exist in this account and region; check --stack and --region.`, {
        cause: error,
      });
    }
    throw new StackOutputError(
      `cannot read stack ${stackName}: ${message}. Check your AWS credentials (AWS_PROFILE, \`aws sso login\`) and --region.`,
      {
        cause: error,
      },
    );
  }
}

/** The output named `ApiUrl`; failing that, one output whose key mentions the API URL (CDK may prefix ids). */
export function findApiUrl(outputs: readonly Output[], stackName: string): string {
  const exact = outputs.find((output) => output.OutputKey === API_URL_OUTPUT_KEY);
  const candidates = exact ? [exact] : outputs.filter((output) => /api.*url/i.test(output.OutputKey ?? ''));
  const [match, ...others] = candidates;
  if (!match?.OutputValue || others.length > 0) {
    const keys =
      outputs
        .map((output) => output.OutputKey)
        .filter(Boolean)
        .join(', ') || 'none';
    throw new StackOutputError(
      `stack ${stackName} has ${others.length > 0 ? 'several outputs that could be' : 'no output'} "${API_URL_OUTPUT_KEY}" (outputs: ${keys}); is it a gpujobs stack?`,
    );
  }
  return match.OutputValue;
}
