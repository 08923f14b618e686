import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CAPACITY_POLICIES } from '../../core/job.js';
import { checkBatchLimits } from '../../core/batch-limits.js';
import { checkExecutable } from '../../core/executable.js';
import { IDEMPOTENCY_KEY_MAX_LENGTH, validateIdempotencyKey } from '../../core/queries.js';
import { JOB_SPEC_DEFAULTS, JOB_SPEC_LIMITS, parseJobSpec } from '../../core/spec.js';
import { EXIT, UsageError, integerOption, stringListOption, stringOption, type Command, type OptionValues } from '../command.js';
import { exitCodeForStatus, followJob } from '../follow.js';
import { printFieldErrors } from '../problems.js';
import { UnitParseError, parseDurationSeconds, parseKeyValue, parseMemoryMiB } from '../units.js';

const NAME = 'submit';

// Help states the contract's limits and defaults from core/spec.ts, so it cannot drift from what
// the API enforces. Sizes and durations are written the way the flags take them.
const L = JOB_SPEC_LIMITS;
const D = JOB_SPEC_DEFAULTS;
const range = (bounds: { readonly min: number; readonly max: number }) => `${bounds.min}-${bounds.max}`;
const memoryFlag = (mib: number) => (mib % 1024 === 0 ? `${mib / 1024}GiB` : `${mib}MiB`);
const durationFlag = (seconds: number) =>
  seconds % 3600 === 0 ? `${seconds / 3600}h` : seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;
// The characters the name pattern allows, as written in it (`^[...]+$`).
const nameCharacters = L.name.pattern.source.replace(/^\^|\+\$$/g, '');

export const submitCommand: Command = {
  name: NAME,
  summary: 'Submit a job; prints its id (--wait follows it to the end)',
  usage: '--image IMAGE [options] -- COMMAND [ARGS...]',
  description: [
    'Submits a containerized GPU job and prints its id on stdout. The command after `--`',
    'is passed as argv, never through a shell. The spec is checked before it is sent,',
    'so mistakes show at once; the API has the final say.',
    '',
    'With --wait the job is followed to the end (progress on stderr) and the exit code',
    'says how it ended: 0 SUCCEEDED, 1 FAILED, 130 CANCELLED.',
  ].join('\n'),
  options: [
    { flags: '--image <image>', description: 'container image (registry/repository[:tag][@sha256:digest])' },
    { flags: '--gpus <n>', description: `GPUs, ${range(L.gpus)} (default ${D.gpus})` },
    { flags: '--vcpus <n>', description: `vCPUs, ${range(L.vcpus)} (default ${D.vcpus})` },
    { flags: '--memory <size>', description: `memory: 16GiB, 512MiB, 1.5GiB or MiB as a number (default ${memoryFlag(D.memoryMiB)})` },
    {
      flags: '--shm-size <size>',
      description: `/dev/shm (e.g. for PyTorch data loader workers), as --memory and at most it (default: the engine's 64MiB)`,
    },
    { flags: '--capacity <policy>', description: `${CAPACITY_POLICIES.join(' | ')} (default ${D.capacity})` },
    {
      flags: '--max-spot-attempts <n>',
      description: `Spot attempts before failing over or giving up, ${range(L.maxSpotAttempts)} (default ${D.maxSpotAttempts})`,
    },
    {
      flags: '--timeout <duration>',
      description: `per attempt: 2h, 90m, 1h30m, 45s or seconds (default ${durationFlag(D.timeoutSeconds)})`,
    },
    { flags: '-e, --env <KEY=VALUE>', description: 'environment variable for the job (repeatable)', repeatable: true },
    { flags: '--tag <KEY=VALUE>', description: 'tag (repeatable)', repeatable: true },
    { flags: '--name <name>', description: `job name, ${nameCharacters}, up to ${L.name.maxLength} characters` },
    { flags: '--idempotency-key <key>', description: 'the same key and spec return the same job instead of a new one' },
    { flags: '-f, --file <file>', description: 'job spec as JSON or YAML (the API body); flags override its fields' },
    { flags: '-w, --wait', description: 'follow the job to the end; exit 0 SUCCEEDED, 1 FAILED, 130 CANCELLED' },
  ],
  // An option meant for the job but typed before `--` reads as an unknown option of submit.
  usageHint: 'A job command with options goes after `--`.',
  examples: [
    'gpujobs submit --image nvidia/cuda:12.4.1-base-ubuntu22.04 -- nvidia-smi',
    'gpujobs submit --image ghcr.io/acme/train:1.2 --gpus 4 --memory 64GiB --timeout 6h \\\n    --env EPOCHS=10 --tag team=vision --wait -- python train.py --lr 3e-4',
    'gpujobs submit --file job.yaml --capacity on-demand',
    'JOB=$(gpujobs submit --image alpine -- echo hello) && gpujobs logs "$JOB" --follow',
  ],

  async run(context, commandLine) {
    const { values } = commandLine;
    if (commandLine.positionals.length > 0) {
      throw new UsageError(
        `unexpected argument "${commandLine.positionals[0]}": put the job's command after \`--\`, e.g. gpujobs submit --image IMG -- python train.py`,
        NAME,
      );
    }
    const body = await buildSubmitBody(context.cwd, values, commandLine.rest);
    const idempotencyKey = stringOption(values, 'idempotency-key');
    if (idempotencyKey !== undefined && !validateIdempotencyKey(idempotencyKey).ok) {
      throw new UsageError(`--idempotency-key must be 1-${IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters.`, NAME);
    }

    // The API's checks that need no deployment: the contract, what a process can be started with,
    // then what AWS Batch accepts. Whether an instance can hold the job only the deployment knows;
    // the API answers that one.
    const checked = parseJobSpec(body);
    const notExecutable = checked.ok ? checkExecutable(checked.spec) : [];
    const errors = !checked.ok ? checked.errors : notExecutable.length > 0 ? notExecutable : checkBatchLimits(checked.spec);
    if (errors.length > 0) {
      if (context.json) {
        context.term.err(JSON.stringify({ title: 'Invalid job spec', errors }, null, 2));
      } else {
        context.term.err(`${context.term.red('error:')} the job spec is not valid`);
        printFieldErrors(context.term, errors);
      }
      return EXIT.usage;
    }

    const client = await context.client();
    const job = await client.submit(body, idempotencyKey);
    if (values.wait !== true) {
      if (context.json) context.term.out(JSON.stringify(job, null, 2));
      else context.term.out(job.jobId);
      return EXIT.ok;
    }

    if (!context.json) context.term.out(job.jobId);
    if (context.term.isTTY) {
      context.term.err(context.term.dim(`Following ${job.jobId}; Ctrl-C stops following, not the job (gpujobs cancel ${job.jobId}).`));
    }
    const final = await followJob(context, client, job.jobId, 'stderr');
    if (context.json) context.term.out(JSON.stringify(final, null, 2));
    return exitCodeForStatus(final.status);
  },
};

/** The API body from `--file` (if any), then flags over it, then the command after `--`. */
export async function buildSubmitBody(cwd: string, values: OptionValues, command: readonly string[]): Promise<Record<string, unknown>> {
  const text = (name: string): string | undefined => stringOption(values, name);
  const file = text('file');
  const body: Record<string, unknown> = file ? await readSpecFile(resolve(cwd, file)) : {};
  try {
    const image = text('image');
    if (image !== undefined) body.image = image;
    const name = text('name');
    if (name !== undefined) body.name = name;
    const gpus = integerOption(values, 'gpus', NAME);
    if (gpus !== undefined) body.gpus = gpus;
    const vcpus = integerOption(values, 'vcpus', NAME);
    if (vcpus !== undefined) body.vcpus = vcpus;
    const memory = text('memory');
    if (memory !== undefined) body.memoryMiB = parseMemoryMiB(memory);
    const sharedMemory = text('shm-size');
    if (sharedMemory !== undefined) body.sharedMemoryMiB = parseMemoryMiB(sharedMemory);
    const capacity = text('capacity');
    if (capacity !== undefined) body.capacity = capacity;
    const maxSpotAttempts = integerOption(values, 'max-spot-attempts', NAME);
    if (maxSpotAttempts !== undefined) body.maxSpotAttempts = maxSpotAttempts;
    const timeout = text('timeout');
    if (timeout !== undefined) body.timeoutSeconds = parseDurationSeconds(timeout);
    const environment = stringListOption(values, 'env');
    if (environment.length > 0) body.environment = { ...asRecord(body.environment), ...pairs(environment, '--env') };
    const tags = stringListOption(values, 'tag');
    if (tags.length > 0) body.tags = { ...asRecord(body.tags), ...pairs(tags, '--tag') };
  } catch (error) {
    if (error instanceof UnitParseError) throw new UsageError(error.message, NAME, { cause: error });
    throw error;
  }
  if (command.length > 0) body.command = [...command];
  if (body.image === undefined && !file) throw new UsageError('--image is required (or a --file that names the image).', NAME);
  if (body.command === undefined && !file) throw new UsageError('the job needs a command after `--`, e.g. -- python train.py', NAME);
  return body;
}

function pairs(items: readonly string[], flag: string): Record<string, string> {
  return Object.fromEntries(items.map((item) => parseKeyValue(item, flag)));
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

async function readSpecFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read --file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, NAME, {
      cause: error,
    });
  }
  let parsed: unknown;
  try {
    // YAML is a superset of JSON, so anything not named .json is read as YAML.
    parsed = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new UsageError(
      `--file ${path} is not valid ${extname(path).toLowerCase() === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message}`,
      NAME,
      {
        cause: error,
      },
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`--file ${path} must hold an object with the job's fields (image, command, ...).`, NAME);
  }
  return parsed as Record<string, unknown>;
}
