/**
 * The command line as a function: arguments and streams in, exit code out.
 * cli/main.ts calls it with the process's streams; tests call it directly.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { anonymous, bearerToken, regionFromExecuteApiHost, sigV4, type RequestAuthenticator } from './auth.js';
import { GpuJobsClient, type Fetch } from './client.js';
import {
  EXIT,
  UsageError,
  stringOption,
  type Command,
  type CommandContext,
  type OptionSpecs,
  type OptionValues,
  type ParsedCommandLine,
} from './command.js';
import { configureCommand } from './commands/configure.js';
import { doctorCommand } from './commands/doctor.js';
import { cancelCommand, getCommand, listCommand, watchCommand } from './commands/jobs.js';
import { logsCommand } from './commands/logs.js';
import { smokeCommand } from './commands/smoke.js';
import { submitCommand } from './commands/submit.js';
import { describeSource, isLoopback, readSavedConfig, resolveEndpoint, type ResolvedEndpoint } from './config.js';
import { commandHelp, rootHelp } from './help.js';
import { reportError } from './problems.js';
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

const GLOBAL_OPTIONS: OptionSpecs = {
  endpoint: { type: 'string' },
  token: { type: 'string' },
  owner: { type: 'string' },
  region: { type: 'string' },
  json: { type: 'boolean' },
  'no-color': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
};

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
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export async function runCli(argv: readonly string[], options: RunCliOptions): Promise<number> {
  const firstPass = parseArgs({ args: [...argv], options: GLOBAL_OPTIONS, strict: false, allowPositionals: true, tokens: true });
  const noColor = firstPass.values['no-color'] === true;
  const term = new Terminal({
    stdout: options.stdout,
    stderr: options.stderr,
    isTTY: options.isTTY,
    color: shouldUseColor(options.isTTY, options.env, noColor),
  });
  const json = firstPass.values.json === true;

  try {
    const terminatorIndex = firstPass.tokens.find((token) => token.kind === 'option-terminator')?.index ?? Infinity;
    const commandToken = firstPass.tokens.find((token) => token.kind === 'positional' && token.index < terminatorIndex);
    const commandName = commandToken?.kind === 'positional' ? commandToken.value : undefined;

    if (commandName === undefined) {
      if (firstPass.values.version === true) {
        term.out(await packageVersion());
        return EXIT.ok;
      }
      if (firstPass.values.help === true) {
        options.stdout.write(rootHelp(COMMANDS));
        return EXIT.ok;
      }
      options.stderr.write(rootHelp(COMMANDS));
      return EXIT.usage;
    }

    const remaining = argv.filter((_, index) => index !== commandToken?.index);
    if (commandName === 'help') return showHelp(remaining.filter((arg) => !arg.startsWith('-')), options);

    const command = COMMANDS.find((candidate) => candidate.name === commandName);
    if (!command) {
      throw new UsageError(`unknown command "${commandName}". Commands: ${COMMANDS.map((c) => c.name).join(', ')}.`);
    }
    const commandLine = parseCommandLine(command, remaining);
    if (commandLine.values.help === true) {
      options.stdout.write(commandHelp(command));
      return EXIT.ok;
    }
    const context = buildContext(term, json, commandLine.values, options);
    return await command.run(context, commandLine);
  } catch (error) {
    return reportError(term, error, json);
  }
}

function showHelp(topics: readonly string[], options: RunCliOptions): number {
  const [topic] = topics;
  if (topic === undefined) {
    options.stdout.write(rootHelp(COMMANDS));
    return EXIT.ok;
  }
  const command = COMMANDS.find((candidate) => candidate.name === topic);
  if (!command) {
    options.stderr.write(`error: no command "${topic}". Commands: ${COMMANDS.map((c) => c.name).join(', ')}.\n`);
    return EXIT.usage;
  }
  options.stdout.write(commandHelp(command));
  return EXIT.ok;
}

function parseCommandLine(command: Command, args: readonly string[]): ParsedCommandLine {
  let parsed: ReturnType<typeof parseArgs<{ options: OptionSpecs; strict: true; allowPositionals: true; tokens: true }>>;
  try {
    parsed = parseArgs({
      args: [...args],
      options: { ...GLOBAL_OPTIONS, ...command.options },
      strict: true,
      allowPositionals: true,
      tokens: true,
    });
  } catch (error) {
    throw new UsageError(simplifyParseError(error), command.name, { cause: error });
  }
  const terminatorIndex = parsed.tokens.find((token) => token.kind === 'option-terminator')?.index ?? Infinity;
  const positionals: string[] = [];
  const rest: string[] = [];
  for (const token of parsed.tokens) {
    if (token.kind !== 'positional') continue;
    (token.index > terminatorIndex ? rest : positionals).push(token.value);
  }
  return { values: parsed.values as OptionValues, positionals, rest };
}

/** Node's parseArgs messages explain its own API; say what the user typed wrong instead. */
function simplifyParseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string }).code;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = /'([^']+)'/.exec(message)?.[1];
    return `unknown option ${option ?? message}. (A job command with options goes after \`--\`.)`;
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const option = /'([^']+)'/.exec(message)?.[1];
    return option ? `option ${option.split(',').at(-1)?.trim()} ${message.includes('argument missing') ? 'needs a value' : 'takes no value'}.` : message;
  }
  return message;
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
async function chooseAuthenticator(values: OptionValues, options: RunCliOptions, endpoint: ResolvedEndpoint): Promise<RequestAuthenticator> {
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

async function packageVersion(): Promise<string> {
  const manifest = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return manifest.version ?? 'unknown';
}
