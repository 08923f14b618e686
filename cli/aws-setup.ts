/**
 * What `smoke` and `doctor` need before they call AWS themselves: credentials from the
 * SDK's default chain (checked once, up front, so a missing profile is one clear
 * message instead of an SDK stack trace half way through) and a region.
 */
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import type { CommandContext } from './command.js';
import { stringOption } from './command.js';

/** AWS is not set up on this machine (no credentials, no region): the message says what to do. */
export class AwsSetupError extends Error {
  override readonly name = 'AwsSetupError';
}

export interface AwsAccess {
  /** Checked to yield credentials; the chain itself refreshes them when they expire. */
  readonly credentials: AwsCredentialIdentityProvider;
  /** Undefined: the SDK's own lookup (the profile's region) decides. */
  readonly region?: string;
}

/**
 * `--region`, else `fallbackRegion` (e.g. the one in an execute-api URL), else AWS_REGION /
 * AWS_DEFAULT_REGION, else the profile's. Credentials come from the context (tests) or the
 * SDK's default provider chain, and are resolved here so that their absence stops the
 * command before it changes anything.
 */
export async function awsAccess(context: CommandContext, purpose: string, fallbackRegion?: string): Promise<AwsAccess> {
  const region =
    stringOption(context.global, 'region') ??
    fallbackRegion ??
    nonEmpty(context.env.AWS_REGION) ??
    nonEmpty(context.env.AWS_DEFAULT_REGION);
  const provider = context.credentials ?? (await import('@aws-sdk/credential-providers')).fromNodeProviderChain();
  try {
    await provider();
  } catch (error) {
    throw new AwsSetupError(
      `no AWS credentials to ${purpose}: the SDK's default chain (environment variables, AWS_PROFILE and ~/.aws, SSO, an instance role) found none. ` +
        'Run `aws configure` or `aws sso login`, or set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).',
      { cause: error },
    );
  }
  return { credentials: provider, ...(region ? { region } : {}) };
}

/** The region a client ended up with; a clear error when neither flags, environment nor profile name one. */
export async function clientRegion(client: { config: { region: () => Promise<string> } }): Promise<string> {
  try {
    return await client.config.region();
  } catch (error) {
    throw new AwsSetupError('no AWS region: pass --region, set AWS_REGION, or set a region in your AWS profile.', { cause: error });
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
