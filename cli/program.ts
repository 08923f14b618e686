/**
 * The command line as commander declares it: every command's options and help come from its
 * one declaration (cli/commands/*), the global options from GLOBAL_OPTIONS below.
 */
import { readFileSync } from 'node:fs';
import { Command as Program, Help, Option } from 'commander';
import type { Command, GlobalOptionName, OptionDeclaration, OptionValues } from './command.js';
import { LOCAL_DEFAULT_ENDPOINT } from './config.js';
import type { Terminal, TextSink } from './terminal.js';

const GLOBAL_OPTIONS: readonly OptionDeclaration[] = [
  {
    flags: '--endpoint <url>',
    description: `API URL (else GPUJOBS_ENDPOINT, else \`gpujobs configure\`, else ${LOCAL_DEFAULT_ENDPOINT})`,
  },
  { flags: '--token <token>', description: 'send a bearer token (JWT auth) instead of SigV4; also GPUJOBS_TOKEN' },
  { flags: '--region <region>', description: 'region for SigV4 signing when the URL does not name one; also AWS_REGION' },
  { flags: '--owner <owner>', description: 'act as this owner in local mode (X-Gpujobs-Owner); also GPUJOBS_OWNER' },
  { flags: '--json', description: 'machine-readable output' },
  { flags: '--no-color', description: 'no colours (also NO_COLOR=1; colours are only used on a terminal)' },
];

/** The descriptions are laid out by hand within 100 columns; a fixed width keeps help the same in a terminal, a pipe and a test. */
const HELP_WIDTH = 100;

const VERSION =
  (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';

const ROOT_HELP_AFTER = [
  '',
  'Where requests go: --endpoint, else GPUJOBS_ENDPOINT, else the stack saved by',
  `\`gpujobs configure --stack NAME\`, else local mode at ${LOCAL_DEFAULT_ENDPOINT} (\`npm start\`).`,
  'Deployed stacks are called with SigV4 and your AWS credentials (AWS_PROFILE, SSO, env),',
  'or with --token for JWT auth; local mode needs neither.',
  '',
  'Examples:',
  '  gpujobs submit --image alpine --wait -- echo hello',
  '  gpujobs list --status RUNNING',
  '  gpujobs logs JOB_ID --follow',
  '  gpujobs configure --stack GpuJobs',
].join('\n');

/** What a command's action is handed once commander has parsed its part of the command line. */
export interface ParsedInvocation {
  readonly command: Command;
  /** Global options, wherever they were typed (before or after the command name). */
  readonly global: OptionValues;
  /** The command's own options, with the global ones merged in. */
  readonly values: OptionValues;
  readonly positionals: readonly string[];
}

export interface ProgramOptions {
  readonly commands: readonly Command[];
  readonly term: Terminal;
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  readonly color: boolean;
  readonly action: (invocation: ParsedInvocation) => Promise<void>;
}

/**
 * A commander program for one run. Usage errors, help and --version end in a thrown
 * CommanderError (exitOverride) after commander has written them, so the caller picks the exit code.
 */
export function buildProgram(options: ProgramOptions): Program {
  const { term, commands } = options;
  const program = new Program('gpujobs')
    .description('gpujobs: submit and follow GPU jobs on your gpujobs platform (a deployed stack, or local mode).')
    .usage('<command> [options]')
    // Set before the commands are added: each command copies these settings when it is created.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => options.stdout.write(text),
      writeErr: (text) => options.stderr.write(text),
      outputError: (text, write) => write(text.replace(/^error:/, term.red('error:'))),
      getOutHelpWidth: () => HELP_WIDTH,
      getErrHelpWidth: () => HELP_WIDTH,
      getOutHasColors: () => options.color,
      getErrHasColors: () => options.color,
    })
    .configureHelp({ showGlobalOptions: true, subcommandTerm: (command) => command.name() })
    .helpOption('-h, --help', 'show help')
    // The help command is declared below, so that `help lunch` names what was not found.
    .helpCommand(false)
    .allowExcessArguments()
    .showSuggestionAfterError()
    .showHelpAfterError(`Commands: ${commands.map((command) => command.name).join(', ')}.\n${term.dim('  See `gpujobs help`.')}`)
    .version(VERSION, '--version', 'print the version')
    .addHelpText('after', ROOT_HELP_AFTER);
  for (const declaration of GLOBAL_OPTIONS) program.addOption(toOption(declaration));

  for (const declaration of commands) {
    const command = program
      .command(declaration.name)
      .summary(declaration.summary)
      .description(declaration.description)
      .usage(declaration.usage)
      .showHelpAfterError(
        [declaration.usageHint, term.dim(`  See \`gpujobs help ${declaration.name}\`.`)].filter((line) => line !== undefined).join('\n'),
      )
      .addHelpText('after', ['', 'Examples:', ...declaration.examples.map((example) => `  ${example}`)].join('\n'));
    for (const option of declaration.options) command.addOption(toOption(option));
    const ownWords = declaration.globalOptionHelp ?? {};
    command.configureHelp({
      ...program.configureHelp(),
      // --version belongs to gpujobs itself, not to any one command.
      visibleGlobalOptions(cmd) {
        return Help.prototype.visibleGlobalOptions.call(this, cmd).filter((option) => option.long !== '--version');
      },
      optionDescription(option) {
        const text = program.options.includes(option) ? ownWords[option.attributeName() as GlobalOptionName] : undefined;
        return text ?? Help.prototype.optionDescription.call(this, option);
      },
    });
    command.action(async (_values, parsed: Program) => {
      const global = optionValues(program);
      await options.action({
        command: declaration,
        global,
        values: { ...global, ...optionValues(parsed) },
        positionals: parsed.args,
      });
    });
  }
  program
    .command('help')
    .argument('[command]')
    .description('Show help for a command (gpujobs help submit)')
    .action((topic: string | undefined) => {
      if (topic === undefined) return program.help();
      const command = program.commands.find((candidate) => candidate.name() === topic);
      if (command === undefined) return program.error(`error: unknown command '${topic}'`, { code: 'commander.unknownCommand' });
      return command.help();
    });
  return program;
}

function toOption(declaration: OptionDeclaration): Option {
  const option = new Option(declaration.flags, declaration.description);
  return declaration.repeatable
    ? option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value])
    : option;
}

/** Commander keys values by camelCase attribute; the commands read them by the long flag as typed. */
function optionValues(command: Program): OptionValues {
  const values: OptionValues = {};
  for (const option of command.options) {
    if (option.long === undefined) continue;
    const value: unknown = command.getOptionValue(option.attributeName());
    // `--no-color` is stored as color=false; the commands ask whether `no-color` was given.
    if (option.negate) values[option.long.slice(2)] = value === false ? true : undefined;
    else values[option.long.slice(2)] = value as OptionValues[string];
  }
  return values;
}
