/**
 * Names a failed write to the data dir in words a person can act on: a full disk or a failing
 * device must read as such in a job's failure reason or a request's error, not as a bare errno.
 */
import { storageFaultOf } from './data-dir.js';

/** `what` says what was being written, e.g. "the log stream …". */
export function describeWriteFailure(error: unknown, what: string): string {
  const cause = storageFaultOf(error) ?? (error instanceof Error ? error.message : String(error));
  return `writing ${what} in the local data dir failed: ${cause}`;
}
