/**
 * How jobs read in a terminal: the `get` summary, the `list` table and the
 * lines `watch` prints as a job moves.
 */
import { isTerminal, type Attempt, type Job } from '../core/job.js';
import type { Terminal } from './terminal.js';
import { formatDuration, formatMemory, formatUsd } from './units.js';

function millisBetween(from: string | undefined, to: string | number | undefined): number | undefined {
  if (from === undefined || to === undefined) return undefined;
  const start = Date.parse(from);
  const end = typeof to === 'number' ? to : Date.parse(to);
  return Number.isNaN(start) || Number.isNaN(end) ? undefined : end - start;
}

/** `00:03:12`: fixed width, so event lines line up when piped. */
export function formatClock(milliseconds: number): string {
  const total = Math.max(0, Math.floor(milliseconds / 1000));
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${pad(Math.floor(total / 3600))}:${pad(Math.floor((total % 3600) / 60))}:${pad(total % 60)}`;
}

export function lastAttempt(job: Job): Attempt | undefined {
  return job.attempts.at(-1);
}

/** How long the job has run (first start to finish, or to now while it runs). */
export function jobRunDuration(job: Job, now: number): number | undefined {
  if (!job.startedAt) return undefined;
  return millisBetween(job.startedAt, job.finishedAt ?? (isTerminal(job.status) ? undefined : now));
}

export function attemptDuration(attempt: Attempt, now: number): number | undefined {
  return millisBetween(attempt.startedAt, attempt.stoppedAt ?? (attempt.status === 'RUNNING' ? now : undefined));
}

/** `1 GPU · 4 vCPU · 16 GiB`, then `· 8 GiB /dev/shm` when the job sized it. */
export function describeResources(job: Pick<Job, 'gpus' | 'vcpus' | 'memoryMiB' | 'sharedMemoryMiB'>): string {
  const sharedMemory = job.sharedMemoryMiB === undefined ? '' : ` · ${formatMemory(job.sharedMemoryMiB)} /dev/shm`;
  return `${job.gpus} GPU${job.gpus === 1 ? '' : 's'} · ${job.vcpus} vCPU · ${formatMemory(job.memoryMiB)}${sharedMemory}`;
}

/** `attempt 1 on spot`. */
export function attemptLabel(attempt: Attempt): string {
  return `attempt ${attempt.attempt} on ${attempt.capacity}`;
}

/** What became of an ended attempt: `reclaimed after 3m12s`, `failed with exit code 2 after 40s`. */
export function attemptOutcome(attempt: Attempt): string {
  const duration = millisBetween(attempt.startedAt, attempt.stoppedAt);
  const after = duration === undefined ? '' : ` after ${formatDuration(duration)}`;
  if (attempt.status === 'SUCCEEDED') return `succeeded${after}`;
  if (attempt.status === 'CANCELLED' || attempt.failureClass === 'CANCELLED') return `cancelled${after}`;
  const reason = attempt.statusReason ? `: ${attempt.statusReason}` : '';
  switch (attempt.failureClass) {
    case 'SPOT_RECLAIM':
      return `reclaimed${after}`;
    case 'NO_CAPACITY':
      return `found no capacity${after}`;
    case 'TIMEOUT':
      return `timed out${after}`;
    case 'MISCONFIGURATION':
      return `was misconfigured${reason}`;
    case 'APP_ERROR':
      return `failed${attempt.exitCode === undefined ? '' : ` with exit code ${attempt.exitCode}`}${after}${reason}`;
    default:
      return `failed${after}${reason}`;
  }
}

function attemptEnded(attempt: Attempt): boolean {
  return attempt.status === 'SUCCEEDED' || attempt.status === 'FAILED' || attempt.status === 'CANCELLED';
}

/**
 * What changed between two snapshots of a job, as lines a person can follow:
 * `QUEUED → PENDING`, `attempt 1 on spot reclaimed after 3m12s → attempt 2 on on-demand`.
 * The terminal status itself is left to the final summary.
 */
export function describeChanges(previous: Job | undefined, current: Job, term: Terminal): string[] {
  const seen = new Map((previous?.attempts ?? []).map((attempt) => [attempt.attempt, attempt]));
  const newlyRunning = current.status === 'RUNNING' ? lastAttempt(current) : undefined;
  // The status line names the attempt that just started running; no separate line for it.
  const announcedByStatus =
    newlyRunning && (previous === undefined || previous.status !== 'RUNNING') && !seen.has(newlyRunning.attempt)
      ? newlyRunning.attempt
      : undefined;

  const attemptLines: string[] = [];
  let pendingEnd: string | undefined;
  for (const attempt of current.attempts) {
    const before = seen.get(attempt.attempt);
    const isNew = before === undefined;
    const justEnded = attemptEnded(attempt) && (isNew || !attemptEnded(before));
    if (isNew) {
      // A failover reads as one line: what ended, then where the job went next.
      const started = term.bold(attemptLabel(attempt));
      if (pendingEnd !== undefined) {
        attemptLines.push(`${pendingEnd} → ${started}`);
        pendingEnd = undefined;
      } else if (!justEnded && attempt.attempt !== announcedByStatus) {
        attemptLines.push(started);
      }
    }
    if (justEnded) {
      if (pendingEnd !== undefined) attemptLines.push(pendingEnd);
      pendingEnd = `${attemptLabel(attempt)} ${paintOutcome(attempt, term)}`;
    }
  }
  if (pendingEnd !== undefined) attemptLines.push(pendingEnd);

  const where = current.status === 'RUNNING' ? runningWhere(lastAttempt(current)) : '';
  if (previous === undefined) {
    const name = current.name ? ` (${current.name})` : '';
    return [`${term.bold(current.jobId)}${name} is ${term.paintStatus(current.status)}${where}`, ...attemptLines];
  }
  if (previous.status !== current.status && !isTerminal(current.status)) {
    // Say why a job went back to waiting (e.g. its host was reclaimed and Batch retries it).
    const why =
      current.status === 'PENDING' && current.statusReason && current.statusReason !== previous.statusReason
        ? `: ${current.statusReason}`
        : '';
    return [...attemptLines, `${term.paintStatus(previous.status)} → ${term.paintStatus(current.status)}${where}${why}`];
  }
  return attemptLines;
}

function runningWhere(attempt: Attempt | undefined): string {
  if (!attempt) return '';
  return ` (${attemptLabel(attempt)}${attempt.instanceType ? `, ${attempt.instanceType}` : ''})`;
}

function paintOutcome(attempt: Attempt, term: Terminal): string {
  const outcome = attemptOutcome(attempt);
  if (attempt.status === 'SUCCEEDED') return term.green(outcome);
  if (attempt.failureClass === 'SPOT_RECLAIM' || attempt.failureClass === 'NO_CAPACITY') return term.yellow(outcome);
  return attempt.status === 'CANCELLED' ? term.yellow(outcome) : term.red(outcome);
}

/** `RUNNING · attempt 2 on on-demand · g5.xlarge · 3m12s elapsed`. */
export function liveStatus(job: Job, now: number, term: Terminal): string {
  const attempt = lastAttempt(job);
  const parts = [term.paintStatus(job.status)];
  if (attempt) parts.push(attemptLabel(attempt));
  if (attempt?.instanceType) parts.push(attempt.instanceType);
  const elapsed = millisBetween(job.createdAt, now);
  if (elapsed !== undefined) parts.push(`${formatDuration(elapsed)} elapsed`);
  return parts.join(term.dim(' · '));
}

/** `SUCCEEDED after 4m3s · exit code 0 · cost $0.42`. */
export function finalSummary(job: Job, term: Terminal): string {
  const parts = [term.paintStatus(job.status)];
  const total = millisBetween(job.createdAt, job.finishedAt);
  if (total !== undefined) parts[0] += ` after ${formatDuration(total)}`;
  parts.push(job.exitCode === undefined ? 'no exit code' : `exit code ${job.exitCode}`);
  if (job.statusReason && job.status !== 'SUCCEEDED') parts.push(job.statusReason);
  parts.push(`cost ${formatUsd(job.costUsd)}`);
  return parts.join(term.dim(' · '));
}

/** The readable form of `gpujobs get`. */
export function jobSummary(job: Job, now: number, term: Terminal): string[] {
  const field = (label: string, value: string): string => `  ${term.dim(label.padEnd(10))} ${value}`;
  const when = (iso: string | undefined): string => {
    if (!iso) return '-';
    const ago = millisBetween(iso, now);
    return ago === undefined ? iso : `${iso} (${formatDuration(ago)} ago)`;
  };
  const lines = [`${term.bold(job.jobId)}${job.name ? `  ${job.name}` : ''}`];
  lines.push(field('status', `${term.paintStatus(job.status)}${job.statusReason ? `  ${job.statusReason}` : ''}`));
  lines.push(field('image', job.image));
  lines.push(field('command', job.command.map(quoteArgument).join(' ')));
  lines.push(field('resources', describeResources(job)));
  const spot = job.capacity === 'on-demand' ? '' : `, up to ${job.maxSpotAttempts} Spot attempt${job.maxSpotAttempts === 1 ? '' : 's'}`;
  lines.push(field('capacity', `${job.capacity}${spot}`));
  lines.push(field('timeout', `${formatDuration(job.timeoutSeconds * 1000)} per attempt`));
  lines.push(field('created', when(job.createdAt)));
  if (job.startedAt) lines.push(field('started', when(job.startedAt)));
  if (job.finishedAt) lines.push(field('finished', when(job.finishedAt)));
  const ran = jobRunDuration(job, now);
  if (ran !== undefined) lines.push(field('ran', formatDuration(ran)));
  if (job.exitCode !== undefined) lines.push(field('exit code', String(job.exitCode)));
  lines.push(field('cost', costLine(job)));
  const environment = Object.keys(job.environment ?? {});
  if (environment.length > 0) lines.push(field('env', environment.join(', ')));
  const tags = Object.entries(job.tags ?? {});
  if (tags.length > 0) lines.push(field('tags', tags.map(([key, value]) => `${key}=${value}`).join(', ')));

  lines.push('');
  if (job.attempts.length === 0) {
    lines.push(term.dim('No attempts yet.'));
    return lines;
  }
  const showCost = job.attempts.some((attempt) => attempt.costUsd !== undefined);
  const header = ['#', 'CAPACITY', 'STATUS', 'INSTANCE', 'DURATION', 'EXIT', ...(showCost ? ['COST'] : []), 'REASON'];
  const rows = job.attempts.map((attempt) => {
    const duration = attemptDuration(attempt, now);
    const reason = [attempt.failureClass, attempt.statusReason].filter(Boolean).join(': ');
    return [
      String(attempt.attempt),
      attempt.capacity,
      term.paintStatus(attempt.status),
      attempt.instanceType ?? '-',
      duration === undefined ? '-' : formatDuration(duration),
      attempt.exitCode === undefined ? '-' : String(attempt.exitCode),
      ...(showCost ? [formatUsd(attempt.costUsd)] : []),
      reason || '-',
    ];
  });
  lines.push(...term.table(header, rows));
  return lines;
}

function costLine(job: Job): string {
  const lost = job.attempts
    .filter((attempt) => attempt.failureClass === 'SPOT_RECLAIM' || attempt.failureClass === 'NO_CAPACITY')
    .reduce((sum, attempt) => sum + (attempt.costUsd ?? 0), 0);
  return lost > 0 ? `${formatUsd(job.costUsd)} (${formatUsd(lost)} on interrupted attempts)` : formatUsd(job.costUsd);
}

/** Shows argv the way a shell would need it typed. */
export function quoteArgument(argument: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(argument) ? argument : `'${argument.replace(/'/g, `'\\''`)}'`;
}

/** One row of `gpujobs list`. */
export function listRow(job: Job, now: number, term: Terminal): string[] {
  const age = millisBetween(job.createdAt, now);
  const ran = jobRunDuration(job, now);
  return [
    job.jobId,
    job.name ?? '-',
    term.paintStatus(job.status),
    lastAttempt(job)?.capacity ?? '-',
    age === undefined ? '-' : formatDuration(age),
    ran === undefined ? '-' : formatDuration(ran),
    formatUsd(job.costUsd),
  ];
}

export const LIST_HEADER = ['ID', 'NAME', 'STATUS', 'CAPACITY', 'AGE', 'DURATION', 'COST'] as const;
