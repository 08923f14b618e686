/**
 * `gpujobs smoke`: the first thing to run after `cdk deploy` (or `npm start`). It submits
 * a few tiny jobs through the API as any user would, waits for each outcome by polling
 * its status, checks each terminal event, and prints one PASS/FAIL/SKIP line per step.
 * Everything it creates (jobs still running, the temporary rule and queue) is removed
 * when it ends, also after a failure or Ctrl-C. This file is the command line; the run
 * itself is in cli/smoke/.
 */
import { randomBytes } from 'node:crypto';
import { UsageError, stringOption, type Command, noArguments } from '../command.js';
import { SmokeRun } from '../smoke/run.js';
import { SMOKE_FAILURE_EXIT_CODE } from '../smoke/steps.js';
import { EVENT_BUS_NAME_OUTPUT_KEY, resolveTarget } from '../smoke/target.js';
import { UnitParseError, parseDurationSeconds } from '../units.js';
import { API_URL_OUTPUT_KEY } from './configure.js';

const NAME = 'smoke';

/** Has nvidia-smi (the NVIDIA runtime mounts it into GPU containers), sh and sleep. */
export const DEFAULT_SMOKE_IMAGE = 'nvidia/cuda:12.4.1-base-ubuntu22.04';

/** Per wait: on AWS the first job also waits for an instance to launch and pull the image. */
export const DEFAULT_SMOKE_TIMEOUT_SECONDS = { aws: 30 * 60, local: 2 * 60 } as const;

export const smokeCommand: Command = {
  name: NAME,
  summary: 'Check a deployment end to end: a GPU job, a failure, a cancel, failover, events',
  usage: '[--stack NAME] [--timeout DURATION] [--image IMAGE] [--failover] [--json]',
  description: [
    'Submits tiny jobs and checks what the platform does with them, printing one line per step:',
    '`PASS <step> (<seconds>s): <what was seen>`, `FAIL <step>: <reason>` or `SKIP <step>: <reason>`.',
    `  gpu       \`nvidia-smi -L\` succeeds and its log names a GPU (local mode without a real GPU:`,
    '            the job sees CUDA_VISIBLE_DEVICES instead)',
    `  failure   a job exiting ${SMOKE_FAILURE_EXIT_CODE} ends FAILED with exit code ${SMOKE_FAILURE_EXIT_CODE}`,
    '  cancel    a running job is cancelled and ends CANCELLED',
    '  failover  local mode: a Spot attempt is reclaimed (POST /local/spot/interrupt) and the job',
    '            succeeds On-Demand; AWS: skipped (a reclaim cannot be forced), or with --failover a',
    '            job runs on the On-Demand queue to show the failover target works',
    '  events    each job above has exactly one terminal event (GPU Job Succeeded/Failed/Cancelled)',
    '',
    'Against a stack (--stack NAME, or the stack saved by `gpujobs configure`) the events are read',
    `through a temporary EventBridge rule on the stack's bus (output "${EVENT_BUS_NAME_OUTPUT_KEY}") and a temporary`,
    'SQS queue, both removed at the end, also on failure or Ctrl-C. In local mode they come from',
    'GET /local/events. Every wait ends at --timeout. Exits 0 when no step FAILED, 1 otherwise,',
    '130 when interrupted. On AWS the jobs run on real GPU instances: a few cents per run.',
  ].join('\n'),
  options: [
    {
      flags: '--stack <name>',
      description: `the deployed stack: its "${API_URL_OUTPUT_KEY}" and "${EVENT_BUS_NAME_OUTPUT_KEY}" outputs (else the usual endpoint)`,
    },
    {
      flags: '--timeout <duration>',
      description: `longest wait for each outcome (default ${DEFAULT_SMOKE_TIMEOUT_SECONDS.aws / 60}m on AWS, ${DEFAULT_SMOKE_TIMEOUT_SECONDS.local / 60}m locally)`,
    },
    { flags: '--image <image>', description: `image of the smoke jobs (default ${DEFAULT_SMOKE_IMAGE}); it needs sh and sleep` },
    { flags: '--failover', description: 'on AWS, also run a job on the On-Demand queue (the failover target)' },
  ],
  globalOptionHelp: { json: 'print the results as JSON on stdout (the lines go to stderr)' },
  examples: [
    'gpujobs smoke                      # local mode (npm start)',
    'gpujobs smoke --stack GpuJobs --region eu-west-1',
    'npm run smoke -- --stack GpuJobs --failover',
  ],

  async run(context, commandLine) {
    const { values } = commandLine;
    noArguments(commandLine, NAME);
    const timeoutText = stringOption(values, 'timeout');
    let timeoutSeconds: number | undefined;
    try {
      timeoutSeconds = timeoutText === undefined ? undefined : parseDurationSeconds(timeoutText);
    } catch (error) {
      if (error instanceof UnitParseError) throw new UsageError(`--timeout: ${error.message}`, NAME, { cause: error });
      throw error;
    }
    if (timeoutSeconds === 0) throw new UsageError('--timeout must be more than 0 seconds. Received 0.', NAME);

    const target = await resolveTarget(context, stringOption(values, 'stack'));
    const run = new SmokeRun(context, target, {
      runId: randomBytes(4).toString('hex'),
      image: stringOption(values, 'image') ?? DEFAULT_SMOKE_IMAGE,
      timeoutSeconds: timeoutSeconds ?? DEFAULT_SMOKE_TIMEOUT_SECONDS[target.mode],
      failover: values.failover === true,
    });
    return run.execute();
  },
};
