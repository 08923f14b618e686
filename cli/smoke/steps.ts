/**
 * What a `gpujobs smoke` run is made of: its steps in the order they run, the ways a step
 * can end, and the result line each one reports.
 */

export const SMOKE_STEPS = ['gpu', 'failure', 'cancel', 'failover', 'events'] as const;
export type SmokeStep = (typeof SMOKE_STEPS)[number];

/** The exit code of the failure step's job; the step checks the job ends FAILED with it. */
export const SMOKE_FAILURE_EXIT_CODE = 3;

/** PASS: the platform did what the step expects; FAIL: it did not; SKIP: the step cannot be checked here. */
export type StepOutcome = 'PASS' | 'FAIL' | 'SKIP';

/** One step's verdict, as printed and as listed by --json; `cleanup` reports leftovers the run could not remove. */
export interface StepResult {
  readonly step: SmokeStep | 'cleanup';
  readonly outcome: StepOutcome;
  /** Seconds the step took; on PASS only. */
  readonly seconds?: number;
  readonly detail: string;
}

/** The platform did something other than what the step expects; the message says what was seen. */
export class StepFailure extends Error {
  override readonly name = 'StepFailure';
}

/** The step cannot be checked against this target; the message says why. */
export class StepSkipped extends Error {
  override readonly name = 'StepSkipped';
}

/** Ctrl-C or SIGTERM: the run stops at the next wait, then cleans up. */
export class SmokeInterrupted extends Error {
  override readonly name = 'SmokeInterrupted';
}
