/**
 * The command line as a function: arguments and streams in, exit code out.
 * cli/main.ts calls it with the process's streams; tests call it directly.
 */
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { CommanderError } from 'commander';
import { anonymous, bearerToken, regionFromExecuteApiHost, sigV4, type RequestAuthenticator } from './auth.js';
import { GpuJobsClient, type Fetch } from './client.js';
import { EXIT, UsageError, stringOption, type Command, type CommandContext, type OptionValues } from './command.js';
import { configureCommand } from './commands/configure.js';
import { doctorCommand } from './commands/doctor.js';
import { cancelCommand, getCommand, listCommand, watchCommand } from './commands/jobs.js';
import { logsCommand } from './commands/logs.js';
import { smokeCommand } from './commands/smoke.js';
import { submitCommand } from './commands/submit.js';
import { describeSource, isLoopback, readSavedConfig, resolveEndpoint, type ResolvedEndpoint } from './config.js';
import { reportError } from './problems.js';
import { buildProgram } from './program.js';
import { Terminal, shouldUseColor, type TextSink } from './terminal.js';

export const COMMANDS: readonly Command[] = [
  submitCommand,
  getCommand,
  listCommand,
  cancelCommand,
  logsCommand,
  watchCommand,
  configureCommand,
  smokeCommand,
  doctorCommand,
];

export interface RunCliOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  readonly isTTY: boolean;
  readonly fetch?: Fetch;
  /** Milliseconds since the epoch. */
  readonly now?: () => number;
  readonly sleep?: (milliseconds: number) => Promise<void>;
  /** How often `watch`, `--wait` and `logs --follow` poll (default 2 s). */
  readonly pollIntervalMs?: number;
  /** AWS credentials for SigV4 and `configure` (default: the SDK's standard provider chain). */
  readonly credentials?: AwsCredentialIdentityProvider;
  /** Where relative paths (--file) resolve (default: the process's working directory). */
  readonly cwd?: string;
}

export class MissingCredentialsError extends Error {
  override readonly name = 'MissingCredentialsError';
}

export async function runCli(argv: readonly string[], options: RunCliOptions): Promise<number> {
  // Everything after the first `--` is the job's command, verbatim. Commander would fold it into
  // the operands; kept apart, `submit --image IMG python train.py` can still be told from
  // `submit --image IMG -- python train.py`, and no option of the job's is read as one of ours.
  const terminator = argv.indexOf('--');
  const args = terminator === -1 ? [...argv] : argv.slice(0, terminator);
  const rest = terminator === -1 ? [] : argv.slice(terminator + 1);
  // Commander writes its usage errors while it parses, so the colour choice cannot wait for its result.
  const color = shouldUseColor(options.isTTY, options.env, args.includes('--no-color'));
  const term = new Terminal({ stdout: options.stdout, stderr: options.stderr, isTTY: options.isTTY, color });

  let json = false;
  let exitCode: number = EXIT.ok;
  const program = buildProgram({
    commands: COMMANDS,
    term,
    stdout: options.stdout,
    stderr: options.stderr,
    color,
    action: async ({ command, global, values, positionals }) => {
      json = global.json === true;
      exitCode = await command.run(buildContext(term, json, global, options), { values, positionals, rest });
    },
  });
  try {
    await program.parseAsync(args, { from: 'user' });
    return exitCode;
  } catch (error) {
    // Commander has already written the help, the version or the usage error.
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    return reportError(term, error, json);
  }
}

function buildContext(term: Terminal, json: boolean, values: OptionValues, options: RunCliOptions): CommandContext {
  let client: Promise<GpuJobsClient> | undefined;
  return {
    term,
    env: options.env,
    json,
    cwd: options.cwd ?? process.cwd(),
    now: options.now ?? Date.now,
    sleep: options.sleep ?? ((milliseconds) => new Promise((resolve) => setTimeout(resolve, milliseconds))),
    pollIntervalMs: options.pollIntervalMs ?? 2000,
    fetch: options.fetch ?? globalThis.fetch,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    global: values,
    client() {
      client ??= createClient(values, options);
      return client;
    },
    clientAt: (endpoint) => createClient(values, options, endpoint),
  };
}

async function createClient(values: OptionValues, options: RunCliOptions, found?: ResolvedEndpoint): Promise<GpuJobsClient> {
  const { env } = options;
  const flagEndpoint = stringOption(values, 'endpoint');
  const saved = found || flagEndpoint || env.GPUJOBS_ENDPOINT ? undefined : await readSavedConfig(env);
  const endpoint = found ?? resolveEndpoint(flagEndpoint, env, saved);
  const owner = stringOption(values, 'owner') ?? nonEmpty(env.GPUJOBS_OWNER);
  return new GpuJobsClient({
    endpoint,
    authenticate: await chooseAuthenticator(values, options, endpoint),
    ...(owner ? { owner } : {}),
    fetch: options.fetch ?? globalThis.fetch,
  });
}

/** A token when given; nothing for local mode; SigV4 for anything else. */
async function chooseAuthenticator(
  values: OptionValues,
  options: RunCliOptions,
  endpoint: ResolvedEndpoint,
): Promise<RequestAuthenticator> {
  const { env } = options;
  const token = stringOption(values, 'token') ?? nonEmpty(env.GPUJOBS_TOKEN);
  if (token) return bearerToken(token);
  if (isLoopback(endpoint.url)) return anonymous;

  const region =
    stringOption(values, 'region') ??
    regionFromExecuteApiHost(endpoint.url.hostname) ??
    endpoint.region ??
    nonEmpty(env.AWS_REGION) ??
    nonEmpty(env.AWS_DEFAULT_REGION);
  if (!region) {
    throw new UsageError(
      `cannot tell which AWS region to sign requests to ${endpoint.url.host} for (endpoint from ${describeSource(endpoint.source)}): pass --region or set AWS_REGION.`,
    );
  }
  const provider = options.credentials ?? (await import('@aws-sdk/credential-providers')).fromNodeProviderChain();
  const credentials: AwsCredentialIdentityProvider = async (identityProperties) => {
    try {
      return await provider(identityProperties);
    } catch (error) {
      throw new MissingCredentialsError(
        `no AWS credentials to sign requests to ${endpoint.url.host}: set AWS_PROFILE, run \`aws sso login\` or \`aws configure\`, or pass --token for JWT auth.`,
        { cause: error },
      );
    }
  };
  return sigV4({ credentials, region });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
