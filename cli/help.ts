import type { Command } from './command.js';
import { LOCAL_DEFAULT_ENDPOINT } from './config.js';

export const GLOBAL_OPTION_HELP: readonly (readonly [string, string])[] = [
  ['--endpoint URL', `API URL (else GPUJOBS_ENDPOINT, else \`gpujobs configure\`, else ${LOCAL_DEFAULT_ENDPOINT})`],
  ['--token TOKEN', 'send a bearer token (JWT auth) instead of SigV4; also GPUJOBS_TOKEN'],
  ['--region REGION', 'region for SigV4 signing when the URL does not name one; also AWS_REGION'],
  ['--owner OWNER', 'act as this owner in local mode (X-Gpujobs-Owner); also GPUJOBS_OWNER'],
  ['--json', 'machine-readable output'],
  ['--no-color', 'no colours (also NO_COLOR=1; colours are only used on a terminal)'],
  ['-h, --help', 'show help'],
];

function optionLines(options: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(...options.map(([flag]) => flag.length));
  return options.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`);
}

export function commandHelp(command: Command): string {
  const ownOptions = command.optionHelp.filter(([flag]) => flag !== '--json');
  const json = command.optionHelp.find(([flag]) => flag === '--json');
  const globals = GLOBAL_OPTION_HELP.map(([flag, text]): readonly [string, string] => (flag === '--json' && json ? json : [flag, text]));
  return [
    `Usage: ${command.usage}`,
    '',
    command.description,
    '',
    ...(ownOptions.length > 0 ? ['Options:', ...optionLines(ownOptions), ''] : []),
    'Global options:',
    ...optionLines(globals),
    '',
    'Examples:',
    ...command.examples.map((example) => `  ${example}`),
    '',
  ].join('\n');
}

export function rootHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((command) => command.name.length), 'help'.length);
  return [
    'gpujobs: submit and follow GPU jobs on your gpujobs platform (a deployed stack, or local mode).',
    '',
    'Usage: gpujobs <command> [options]',
    '',
    'Commands:',
    ...commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    `  ${'help'.padEnd(width)}  Show help for a command (gpujobs help submit)`,
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTION_HELP),
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
    '',
  ].join('\n');
}
