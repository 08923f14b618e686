/**
 * What every command is made of (options, help, a run function) and what it is
 * given to run with: parsed options, the API client, the terminal, the clock.
 */
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import type { GpuJobsClient, Fetch } from './client.js';
import type { ResolvedEndpoint } from './config.js';
import type { Terminal } from './terminal.js';

/** Option values by long name without the dashes (`max-spot-attempts`), as typed on the command line. */
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  /** The shell's code for an interrupted command; a cancelled job reads the same to scripts. */
  cancelled: 130,
} as const;

/** A mistake in how the command was called: exit code 2 and the command's usage line. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    readonly command?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface CommandContext {
  readonly term: Terminal;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly json: boolean;
  readonly cwd: string;
  readonly now: () => number;
  readonly sleep: (milliseconds: number) => Promise<void>;
  readonly pollIntervalMs: number;
  readonly fetch: Fetch;
  readonly credentials?: AwsCredentialIdentityProvider;
  /** Global option values (endpoint, token, owner, region). */
  readonly global: OptionValues;
  /** The API client for the resolved endpoint; built on first use so `help` and `configure` need none. */
  client(): Promise<GpuJobsClient>;
  /** A client for an endpoint the command found itself (a stack's ApiUrl), authenticated as `client()` would be. */
  clientAt(endpoint: ResolvedEndpoint): Promise<GpuJobsClient>;
}

export interface ParsedCommandLine {
  readonly values: OptionValues;
  /** Arguments before `--`. */
  readonly positionals: readonly string[];
  /** Arguments after `--`, verbatim. */
  readonly rest: readonly string[];
}

/**
 * One option, declared once: commander parses the command line from it and help prints it.
 * A `<value>` placeholder in the flags makes it take a value; without one it is a switch.
 */
export interface OptionDeclaration {
  /** Commander flags, e.g. `-e, --env <KEY=VALUE>`. */
  readonly flags: string;
  readonly description: string;
  /** Given more than once, the values collect into a list (`--env A=1 --env B=2`). */
  readonly repeatable?: boolean;
}

/** The global options a command may describe in its own words in its help (what `--json` prints there). */
export type GlobalOptionName = 'endpoint' | 'token' | 'region' | 'owner' | 'json';

export interface Command {
  readonly name: string;
  readonly summary: string;
  /** What follows `gpujobs NAME` on the usage line. */
  readonly usage: string;
  readonly description: string;
  /** The command's own options, in the order help shows them. */
  readonly options: readonly OptionDeclaration[];
  /** What a global option does for this command, where that says more than the general text. */
  readonly globalOptionHelp?: Partial<Record<GlobalOptionName, string>>;
  /** A line shown with every usage error of this command, before the pointer to its help. */
  readonly usageHint?: string;
  readonly examples: readonly string[];
  run(context: CommandContext, commandLine: ParsedCommandLine): Promise<number>;
}

export function stringOption(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function stringListOption(values: OptionValues, name: string): string[] {
  const value = values[name];
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string');
  return typeof value === 'string' ? [value] : [];
}

export function integerOption(
  values: OptionValues,
  name: string,
  command: string,
  range?: { min: number; max: number },
): number | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  if (!/^-?\d+$/.test(text.trim())) {
    throw new UsageError(`--${name} must be a whole number. Received "${text}".`, command);
  }
  const value = Number(text);
  if (range && (value < range.min || value > range.max)) {
    throw new UsageError(`--${name} must be between ${range.min} and ${range.max}. Received ${value}.`, command);
  }
  return value;
}

/** Exactly one job id, or a usage error saying what is missing. */
/** For a command that takes options only: a usage error naming what else was given. */
export function noArguments(commandLine: ParsedCommandLine, command: string): void {
  if (commandLine.positionals.length > 0 || commandLine.rest.length > 0) {
    throw new UsageError(
      `${command} takes no arguments. Received: ${[...commandLine.positionals, ...commandLine.rest].join(' ')}`,
      command,
    );
  }
}

export function singleJobId(commandLine: ParsedCommandLine, command: string): string {
  const [jobId, ...extra] = commandLine.positionals;
  if (jobId === undefined || jobId.length === 0) throw new UsageError('a job id is required.', command);
  if (extra.length > 0 || commandLine.rest.length > 0) {
    throw new UsageError(`expected one job id. Received: ${[...commandLine.positionals, ...commandLine.rest].join(' ')}`, command);
  }
  return jobId;
}
