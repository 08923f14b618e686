/**
 * The stack's watchdog schedule (lib/watchdog-schedule.ts), as a timer: a tick that finds the
 * previous run still going is skipped, as the stand-in for a run that only overlaps the next.
 */
import type { LocalLogger } from './logger.js';

export interface RunningSchedule {
  /** No run starts after this; resolves once the run in progress (if any) has ended. */
  stop(): Promise<void>;
}

/** Runs `run` every `intervalSeconds`; 0 schedules nothing. */
export function startWatchdogSchedule(intervalSeconds: number, run: () => Promise<unknown>, logger: LocalLogger): RunningSchedule {
  let current: Promise<unknown> | undefined;
  const timer =
    intervalSeconds > 0
      ? setInterval(() => {
          current ??= run()
            .catch((error: unknown) => logger.warn('watchdog run failed', error))
            .finally(() => {
              current = undefined;
            });
        }, intervalSeconds * 1000)
      : undefined;
  return {
    stop: async () => {
      clearInterval(timer);
      await current;
    },
  };
}
