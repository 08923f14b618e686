import { isTerminal } from '../../core/job.js';
import type { GpuJobsClient, LogLine } from '../client.js';
import { EXIT, integerOption, singleJobId, type Command, type CommandContext } from '../command.js';
import { finalSummary } from '../format.js';
import { exitCodeForStatus, withPollRetries } from '../follow.js';

const NAME = 'logs';

export const logsCommand: Command = {
  name: NAME,
  summary: "Print a job's logs (--follow until it ends)",
  usage: 'JOB_ID [--follow] [--attempt N] [--json]',
  description: [
    "Prints the job's log lines on stdout, attempt by attempt (a line on stderr marks",
    'where each attempt begins). --follow keeps printing new lines until the job has ended',
    'and its logs are drained, then exits 0 SUCCEEDED, 1 FAILED, 130 CANCELLED.',
  ].join('\n'),
  options: [
    { flags: '-f, --follow', description: 'keep printing new lines until the job ends' },
    { flags: '--attempt <n>', description: 'only the lines of attempt N' },
  ],
  globalOptionHelp: { json: 'one JSON object per line: {"attempt", "timestamp", "message"}' },
  examples: [
    'gpujobs logs 01JD3K2T9X8Y7Z6W5V4U3S2R1Q',
    'gpujobs logs 01JD3K2T9X8Y7Z6W5V4U3S2R1Q --follow',
    'gpujobs logs 01JD3K2T9X8Y7Z6W5V4U3S2R1Q --attempt 2 | grep loss',
  ],

  async run(context, commandLine) {
    const jobId = singleJobId(commandLine, NAME);
    const attempt = integerOption(commandLine.values, 'attempt', NAME, { min: 1, max: Number.MAX_SAFE_INTEGER });
    const client = await context.client();
    const reader = new LogReader(context, client, jobId, attempt);

    if (commandLine.values.follow !== true) {
      await reader.drain();
      return EXIT.ok;
    }
    for (;;) {
      const job = await withPollRetries(context, () => client.get(jobId));
      await reader.drain();
      if (isTerminal(job.status)) {
        // Log delivery can trail the job's end by a moment (CloudWatch ingestion): one last look.
        await context.sleep(context.pollIntervalMs);
        await reader.drain();
        context.term.err(finalSummary(job, context.term));
        return exitCodeForStatus(job.status);
      }
      await context.sleep(context.pollIntervalMs);
    }
  },
};

/**
 * Reads pages from where it left off. When the API leaves `nextToken` out on the
 * last page, the next read starts again from the last token and skips what was printed.
 */
class LogReader {
  private token: string | undefined;
  private printedFromToken = 0;
  private lastAttemptShown: number | undefined;

  constructor(
    private readonly context: CommandContext,
    private readonly client: GpuJobsClient,
    private readonly jobId: string,
    private readonly onlyAttempt: number | undefined,
  ) {}

  async drain(): Promise<void> {
    for (;;) {
      const requestedWith = this.token;
      const page = await withPollRetries(this.context, () =>
        this.client.logs(this.jobId, requestedWith ? { nextToken: requestedWith } : {}),
      );
      for (const line of page.lines.slice(this.printedFromToken)) this.print(line);
      if (page.nextToken && page.nextToken !== requestedWith) {
        this.token = page.nextToken;
        this.printedFromToken = 0;
        if (page.lines.length === 0) return;
        continue;
      }
      this.printedFromToken = Math.max(this.printedFromToken, page.lines.length);
      return;
    }
  }

  private print(line: LogLine): void {
    if (this.onlyAttempt !== undefined && line.attempt !== this.onlyAttempt) return;
    const { term } = this.context;
    if (this.context.json) {
      term.out(JSON.stringify(line));
      return;
    }
    if (line.attempt !== this.lastAttemptShown) {
      term.err(term.dim(`── attempt ${line.attempt} ──`));
      this.lastAttemptShown = line.attempt;
    }
    term.out(line.message.replace(/\n$/, ''));
  }
}
