/**
 * How an attempt's end reads in Batch's terms: the status reason, the container's reason and
 * exit code, from how its main process ended (or failed to start) and why it was stopped.
 */
import type { AttemptPlacement, AttemptStop } from './batch-job.js';
import { BATCH_STATUS_REASON } from './status-reasons.js';

/** What ended an attempt. */
export interface AttemptEndFacts {
  readonly command: readonly string[];
  readonly placement: AttemptPlacement;
  readonly stop?: AttemptStop;
  /** Whether the main process ever started. */
  readonly spawned: boolean;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly spawnError?: Error;
}

export interface AttemptEnd {
  /** The attempt's statusReason in DescribeJobs. */
  readonly statusReason: string;
  /** The container's `reason`, for a command that could not be started. */
  readonly containerReason?: string;
  /** The exit code the container reports, if any (what evaluateOnExit's onExitCode matches). */
  readonly exitCode?: number;
  /** The attempt's `container`, as DescribeJobs lists it. */
  readonly container: Record<string, unknown>;
  /** Exited 0 on its own, unstopped. */
  readonly succeeded: boolean;
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 };

export function attemptEnd(facts: AttemptEndFacts): AttemptEnd {
  const { stop, spawnError, placement } = facts;
  // A container killed by a signal exits 128 + its number, as a shell reports it.
  const exitCode = facts.code ?? (facts.signal ? 128 + (SIGNAL_NUMBERS[facts.signal] ?? 0) : undefined);
  const neverStarted = spawnError !== undefined && !facts.spawned;
  let statusReason: string;
  let containerReason: string | undefined;
  if (neverStarted) {
    statusReason = BATCH_STATUS_REASON.cannotStartContainer;
    containerReason = `CannotStartContainerError: exec: ${JSON.stringify(facts.command[0] ?? '')}: ${withoutReceivedValue(spawnError.message)}`;
  } else if (stop?.kind === 'reclaim' || stop?.kind === 'timeout') {
    statusReason = stop.statusReason;
  } else {
    statusReason = BATCH_STATUS_REASON.containerExited;
  }
  // A reclaimed host reports no exit code: the container never exited on its own.
  const reportedExitCode = stop?.kind === 'reclaim' || neverStarted ? undefined : exitCode;
  const container: Record<string, unknown> = {
    containerInstanceArn: placement.containerInstanceArn,
    taskArn: placement.taskArn,
    logStreamName: placement.logStreamName,
    networkInterfaces: [],
    ...(reportedExitCode === undefined ? {} : { exitCode: reportedExitCode }),
    ...(containerReason ? { reason: containerReason } : {}),
  };
  return {
    statusReason,
    ...(containerReason === undefined ? {} : { containerReason }),
    ...(reportedExitCode === undefined ? {} : { exitCode: reportedExitCode }),
    container,
    succeeded: !spawnError && exitCode === 0 && !stop,
  };
}

/**
 * Node's argument errors end with the offending value (`... Received 'x\x00y'`), which for the
 * environment may be a secret; the reason reaches the job record and its events, so it stops at
 * the name of what was refused.
 */
function withoutReceivedValue(message: string): string {
  return message.replace(/\.? Received [\s\S]*$/, '.');
}
