import { JOB_STATUSES, type Job, type JobStatus } from '../../core/job.js';
import { LIST_QUERY_LIMITS } from '../../core/queries.js';
import { EXIT, UsageError, integerOption, singleJobId, stringOption, type Command, noArguments } from '../command.js';
import { LIST_HEADER, jobSummary, listRow } from '../format.js';
import { exitCodeForStatus, followJob, waitForJobEnd } from '../follow.js';

export const getCommand: Command = {
  name: 'get',
  summary: 'Show one job: status, attempts, reasons, cost',
  usage: 'JOB_ID [--json]',
  description: 'Shows a job with each of its attempts (capacity, instance, duration, exit code, reason) and its cost.',
  options: [],
  globalOptionHelp: { json: 'print the job object as the API returns it' },
  examples: ['gpujobs get 01JD3K2T9X8Y7Z6W5V4U3S2R1Q', "gpujobs get 01JD3K2T9X8Y7Z6W5V4U3S2R1Q --json | jq '.attempts[].failureClass'"],

  async run(context, commandLine) {
    const jobId = singleJobId(commandLine, 'get');
    const job = await (await context.client()).get(jobId);
    if (context.json) context.term.out(JSON.stringify(job, null, 2));
    else for (const line of jobSummary(job, context.now(), context.term)) context.term.out(line);
    return EXIT.ok;
  },
};

export const listCommand: Command = {
  name: 'list',
  summary: 'List your jobs, newest first',
  usage: '[--status STATUS] [--limit N] [--all] [--json]',
  description: 'Lists your jobs, newest first, one page at a time (--all follows every page).',
  options: [
    { flags: '-s, --status <status>', description: `only jobs in this status: ${JOB_STATUSES.join(', ')}` },
    {
      flags: '-n, --limit <n>',
      description: `jobs per page, ${LIST_QUERY_LIMITS.limit.min}-${LIST_QUERY_LIMITS.limit.max} (default ${LIST_QUERY_LIMITS.limit.default})`,
    },
    { flags: '-a, --all', description: 'follow every page instead of stopping after the first' },
  ],
  globalOptionHelp: { json: 'print {"jobs": [...], "nextToken"} as the API returns it (all pages merged with --all)' },
  examples: [
    'gpujobs list',
    'gpujobs list --status RUNNING',
    'gpujobs list --all --json | jq -r \'.jobs[] | select(.status=="FAILED") | .jobId\'',
  ],

  async run(context, commandLine) {
    const { values } = commandLine;
    noArguments(commandLine, 'list');
    const statusText = stringOption(values, 'status');
    const status = statusText?.toUpperCase() as JobStatus | undefined;
    if (status !== undefined && !JOB_STATUSES.includes(status)) {
      throw new UsageError(`--status must be one of ${JOB_STATUSES.join(', ')}. Received "${statusText}".`, 'list');
    }
    const limit = integerOption(values, 'limit', 'list', LIST_QUERY_LIMITS.limit);
    const client = await context.client();

    const jobs: Job[] = [];
    let nextToken: string | undefined;
    do {
      const page = await client.list({
        ...(status ? { status } : {}),
        ...(limit !== undefined ? { limit } : {}),
        ...(nextToken ? { nextToken } : {}),
      });
      jobs.push(...page.jobs);
      nextToken = page.nextToken;
    } while (values.all === true && nextToken);

    if (context.json) {
      context.term.out(JSON.stringify({ jobs, ...(nextToken ? { nextToken } : {}) }, null, 2));
      return EXIT.ok;
    }
    if (jobs.length === 0) {
      context.term.err(status ? `No ${status} jobs.` : 'No jobs yet. Submit one with `gpujobs submit`.');
      return EXIT.ok;
    }
    const now = context.now();
    for (const line of context.term.table(
      LIST_HEADER,
      jobs.map((job) => listRow(job, now, context.term)),
    )) {
      context.term.out(line);
    }
    if (nextToken) context.term.err(context.term.dim('More jobs exist: --all shows every page.'));
    return EXIT.ok;
  },
};

export const cancelCommand: Command = {
  name: 'cancel',
  summary: 'Cancel a job',
  usage: 'JOB_ID [--json]',
  description: [
    'Cancels a job. A queued job is cancelled at once and never starts; a running one is',
    'stopped and ends CANCELLED shortly after. Cancelling twice is fine; cancelling a job',
    'that already SUCCEEDED or FAILED is an error.',
  ].join('\n'),
  options: [],
  globalOptionHelp: { json: 'print the job object returned by the API' },
  examples: [
    'gpujobs cancel 01JD3K2T9X8Y7Z6W5V4U3S2R1Q',
    "gpujobs list --status PENDING --json | jq -r '.jobs[].jobId' | xargs -n1 gpujobs cancel",
  ],

  async run(context, commandLine) {
    const jobId = singleJobId(commandLine, 'cancel');
    const job = await (await context.client()).cancel(jobId);
    if (context.json) {
      context.term.out(JSON.stringify(job, null, 2));
    } else if (job.status === 'CANCELLED') {
      context.term.out(`${job.jobId} ${context.term.paintStatus('CANCELLED')}`);
    } else {
      context.term.out(
        `${job.jobId} cancel requested (was ${context.term.paintStatus(job.status)}); it ends CANCELLED once its attempt stops`,
      );
    }
    return EXIT.ok;
  },
};

export const watchCommand: Command = {
  name: 'watch',
  summary: 'Follow a job live until it ends',
  usage: 'JOB_ID',
  description: [
    'Follows a job until it ends: each status change and each attempt as it happens',
    '(e.g. "attempt 1 on spot reclaimed after 3m12s → attempt 2 on on-demand"), with a',
    'live status line on a terminal. Exits 0 SUCCEEDED, 1 FAILED, 130 CANCELLED.',
  ].join('\n'),
  options: [],
  globalOptionHelp: { json: 'print only the final job object when it ends' },
  examples: ['gpujobs watch 01JD3K2T9X8Y7Z6W5V4U3S2R1Q', 'gpujobs watch "$JOB" && echo done'],

  async run(context, commandLine) {
    const jobId = singleJobId(commandLine, 'watch');
    const client = await context.client();
    if (context.json) {
      const final = await waitForJobEnd(context, client, jobId);
      context.term.out(JSON.stringify(final, null, 2));
      return exitCodeForStatus(final.status);
    }
    const final = await followJob(context, client, jobId, 'stdout');
    return exitCodeForStatus(final.status);
  },
};
