/** The log lines of a local Batch job's last attempt, as the stand-in's log store holds them. */
import type { JobDetail } from '../../local/batch/index.js';
import type { LogStore } from '../../local/log-store.js';

export function lastAttemptLogLines(logStore: LogStore, detail: JobDetail): string[] {
  return logStore
    .getLogEvents({
      logGroupName: '/aws/batch/job',
      logStreamName: String((detail.attempts as { container: { logStreamName: string } }[]).at(-1)!.container.logStreamName),
      startFromHead: true,
    })
    .events.map((event) => event.message);
}
