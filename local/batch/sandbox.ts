/**
 * Each attempt's scratch working directory, under the data dir's `sandboxes/`: a job's relative
 * output lands there, never in the platform's checkout, as a container's writes land in its own
 * file system. A succeeded attempt's directory is removed when it ends; a failed one's is kept
 * for a while, so that what the job left can be read, then removed by a sweep at start-up and
 * after each attempt (no timer: nothing keeps the process alive for it).
 */
import { chmodSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { DataDirError, storageFaultOf } from '../data-dir.js';
import type { LocalLogger } from '../logger.js';

export const DEFAULT_KEEP_FAILED_SANDBOX_SECONDS = 3600;

export interface AttemptSandboxesOptions {
  /** Holds the sandboxes and nothing else: the sweep removes any entry in it past its time. */
  readonly directory: string;
  /**
   * Seconds a failed attempt's directory is kept, counted from the attempt's end; 0 removes it at once.
   * @default DEFAULT_KEEP_FAILED_SANDBOX_SECONDS
   */
  readonly keepFailedSeconds?: number;
  readonly logger: LocalLogger;
  /** @default Date.now */
  readonly now?: () => number;
}

/** Who an attempt's sandbox belongs to; the directory's name says it. */
export interface SandboxOwner {
  readonly jobName: string;
  readonly jobId: string;
  /** The Batch attempt's number, 1 for the first (AWS_BATCH_JOB_ATTEMPT). */
  readonly attempt: number;
}

export class AttemptSandboxes {
  readonly directory: string;
  private readonly keepFailedMs: number;
  private readonly logger: LocalLogger;
  private readonly now: () => number;
  /** Sandboxes of attempts still running: never swept. */
  private readonly inUse = new Set<string>();

  /**
   * Creates the sandboxes directory (mode 0700) and sweeps what an earlier run left past its
   * time. Throws DataDirError naming the directory and the cause when it cannot be created.
   */
  constructor(options: AttemptSandboxesOptions) {
    const keep = options.keepFailedSeconds ?? DEFAULT_KEEP_FAILED_SANDBOX_SECONDS;
    if (!Number.isFinite(keep) || keep < 0) {
      throw new RangeError(`keepFailedSeconds must be a number of seconds, 0 or more. Received ${keep}.`);
    }
    this.directory = options.directory;
    this.keepFailedMs = keep * 1000;
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
    try {
      mkdirSync(this.directory, { recursive: true, mode: 0o700 });
      // Private even when an earlier version or the user made it: jobs' files may hold secrets.
      chmodSync(this.directory, 0o700);
    } catch (error) {
      throw new DataDirError(
        `The sandboxes directory ${this.directory} cannot be created: ${causeOf(error)}. Remove what is in the way, free space or fix its permissions, or set GPUJOBS_DATA_DIR to another directory.`,
        (error as NodeJS.ErrnoException).code,
        { cause: error },
      );
    }
    this.sweep();
  }

  /** Creates the attempt's empty directory (mode 0700) and returns its path; throws when it cannot. */
  create(owner: SandboxOwner): string {
    const path = join(this.directory, sandboxName(owner));
    // A directory of the same name is what a crashed run left of this very attempt: start clean.
    rmSync(path, { recursive: true, force: true });
    mkdirSync(path, { mode: 0o700 });
    this.inUse.add(path);
    return path;
  }

  /**
   * The attempt has ended and its processes are gone: a succeeded attempt's directory is removed
   * now, a failed one's is kept for the configured time; then whatever is past its time is swept.
   */
  release(path: string, outcome: 'succeeded' | 'failed'): void {
    this.inUse.delete(path);
    if (outcome === 'succeeded' || this.keepFailedMs === 0) {
      this.remove(path);
    } else {
      // The sweep counts the keep time from the directory's mtime: set it to the attempt's end.
      try {
        const at = new Date(this.now());
        utimesSync(path, at, at);
      } catch (error) {
        this.logger.warn(`could not mark the failed attempt's sandbox ${path} for keeping`, error);
      }
    }
    this.sweep();
  }

  /** Removes every sandbox not in use whose keep time has passed. */
  sweep(): void {
    let entries: string[];
    try {
      entries = readdirSync(this.directory);
    } catch (error) {
      this.logger.warn(`could not list the sandboxes in ${this.directory}`, error);
      return;
    }
    const now = this.now();
    for (const entry of entries) {
      const path = join(this.directory, entry);
      if (this.inUse.has(path)) continue;
      let modifiedMs: number;
      try {
        modifiedMs = statSync(path).mtimeMs;
      } catch {
        continue; // Gone already.
      }
      if (modifiedMs + this.keepFailedMs <= now) this.remove(path);
    }
  }

  private remove(path: string): void {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch (error) {
      // A job can leave what its owner cannot delete (a directory it made read-only); the next sweep tries again.
      this.logger.warn(`could not remove the sandbox ${path}`, error);
    }
  }
}

function causeOf(error: unknown): string {
  if ((error as NodeJS.ErrnoException).code === 'EEXIST') return 'a file of that name is in the way (EEXIST)';
  return storageFaultOf(error) ?? (error instanceof Error ? error.message : String(error));
}

/** `<jobName>-<first 8 of the Batch job id>-<attempt>`: a failed-over job's new Batch job, same name, gets its own. */
function sandboxName(owner: SandboxOwner): string {
  const name = owner.jobName.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 128);
  return `${name}-${owner.jobId.slice(0, 8)}-${owner.attempt}`;
}
