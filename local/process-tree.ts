/**
 * Containment of a job attempt's processes, which a container gives on AWS: when the attempt
 * ends, everything it started ends with it, including processes that left its process group
 * (`setsid`, a double fork, a daemon), and nothing outlives the platform into its next start.
 *
 * How: every process of an attempt carries two variables in its environment, which children
 * inherit whatever group or session they move to: a random token for the attempt and a token
 * for the platform (derived from its data dir). On Linux the attempt's processes are found by
 * reading `/proc/<pid>/environ` (entries that cannot be read are skipped: another user's, gone,
 * or a zombie) and signalled, then looked for again until none is left, so that a process that
 * forks while it is being killed is caught by the next look. The attempt's process group is
 * signalled as well, which also reaches a member that cleared its environment.
 *
 * Why not a PID namespace (`unshare --pid --fork --kill-child`), which the kernel enforces:
 * it needs CAP_SYS_ADMIN or an unprivileged user namespace, which distributions switch off
 * (Ubuntu 24.04 through AppArmor, hardened kernels through `user.max_user_namespaces=0`); it
 * needs its own mount namespace for `/proc` to match, so that `ps`, `nvidia-smi` and
 * `/proc/self` tell the truth inside; it runs the job as a mapped user; and it exists on Linux
 * only. The environment tag works for every user on every Linux, and costs one read per
 * process when an attempt stops.
 *
 * Limits: a process that removes both variables from its environment and leaves the process
 * group escapes (the containment is against accidents, not against the job, which runs as you
 * anyway). Where there is no `/proc` (macOS), only the process group is reached: a `setsid`
 * child survives its attempt there, and processes left by a killed platform are not found
 * when it starts again.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';

/** Random per attempt: finds every process of one attempt. */
export const ATTEMPT_TOKEN_VARIABLE = 'GPUJOBS_ATTEMPT_TOKEN';
/** Derived from the data dir: finds every job process a platform on that data dir started. */
export const PLATFORM_TOKEN_VARIABLE = 'GPUJOBS_PLATFORM_TOKEN';

const PROC_AVAILABLE = existsSync('/proc/self/environ');

/** Whether processes can be found by their environment here; where not, only process groups are reached. */
export function canFindProcessesByEnvironment(): boolean {
  return PROC_AVAILABLE;
}

/** The same for every start on one data dir, and different for another data dir. */
export function platformTokenFor(dataDir: string): string {
  let canonical = dataDir;
  try {
    canonical = realpathSync(dataDir);
  } catch {
    // Not created yet: the path as given names it.
  }
  return createHash('sha256').update(canonical).digest('hex').slice(0, 32);
}

export function newAttemptToken(): string {
  return randomBytes(16).toString('hex');
}

/** Ids of the live processes whose environment holds `name=value` (this process excepted); undefined without /proc. */
export function processesCarrying(name: string, value: string): number[] | undefined {
  if (!PROC_AVAILABLE) return undefined;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const entry = Buffer.from(`${name}=${value}\0`);
  const found: number[] = [];
  for (const directory of entries) {
    const first = directory.charCodeAt(0);
    if (first < 48 || first > 57) continue;
    const pid = Number(directory);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let environ: Buffer;
    try {
      environ = readFileSync(`/proc/${directory}/environ`);
    } catch {
      continue;
    }
    if (holdsEntry(environ, entry)) found.push(pid);
  }
  return found;
}

/** `entry` (`NAME=value\0`) at the start of the block or right after another entry's NUL. */
function holdsEntry(environ: Buffer, entry: Buffer): boolean {
  for (let index = environ.indexOf(entry); index !== -1; index = environ.indexOf(entry, index + 1)) {
    if (index === 0 || environ[index - 1] === 0) return true;
  }
  return false;
}

/** Whether `pid` is a live process (a zombie is not: it has ended and only waits to be reaped). */
export function isRunning(pid: number): boolean {
  if (PROC_AVAILABLE) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // The state follows the command name, which is in parentheses and may itself hold ") ".
      const state = stat.charAt(stat.lastIndexOf(')') + 2);
      return state !== 'Z' && state !== 'X';
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The processes of one attempt: its process group and everything carrying its token. */
export class ProcessTree {
  constructor(
    /** The main process's id, which is also its group's (it is spawned detached). */
    private readonly groupId: number | undefined,
    private readonly attemptToken: string,
  ) {}

  /** The tree's live processes; undefined where they cannot be found by environment. */
  members(): number[] | undefined {
    return processesCarrying(ATTEMPT_TOKEN_VARIABLE, this.attemptToken);
  }

  signal(signal: NodeJS.Signals): void {
    signalGroup(this.groupId, signal);
    for (const pid of this.members() ?? []) signalProcess(pid, signal);
  }

  /**
   * SIGKILLs the tree until none of it is left or `timeoutMs` has passed; returns the ids of what
   * still lives (without /proc: the group's id while the group has members).
   */
  kill(timeoutMs: number): Promise<number[]> {
    return killUntilGone(() => this.members() ?? [], this.groupId, timeoutMs);
  }
}

/**
 * Kills the job processes a platform on the same data dir left behind (it was killed, or its
 * machine slept through its stop), so that they share no GPU slot with the new platform's jobs.
 */
export async function killLeftoverProcesses(
  platformToken: string,
  timeoutMs: number,
): Promise<{ killed: number; survivors: number[]; searched: boolean }> {
  if (!PROC_AVAILABLE) return { killed: 0, survivors: [], searched: false };
  const seen = new Set<number>();
  const survivors = await killUntilGone(
    () => {
      const found = processesCarrying(PLATFORM_TOKEN_VARIABLE, platformToken) ?? [];
      for (const pid of found) seen.add(pid);
      return found;
    },
    undefined,
    timeoutMs,
  );
  return { killed: seen.size - survivors.length, survivors, searched: true };
}

async function killUntilGone(find: () => number[], groupId: number | undefined, timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let pause = 1;
  for (;;) {
    signalGroup(groupId, 'SIGKILL');
    const alive = find();
    // Without /proc the group is all there is to wait for. (With it, the group may hold zombies
    // forever where no init reaps orphans, as in some containers; they are not waited for.)
    const groupLeft = !PROC_AVAILABLE && groupExists(groupId);
    if (alive.length === 0 && !groupLeft) return [];
    for (const pid of alive) signalProcess(pid, 'SIGKILL');
    if (Date.now() >= deadline) return groupLeft ? [groupId!] : alive;
    // A killed process takes a moment to die (longer in uninterruptible sleep, e.g. in a GPU driver call).
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, 50);
  }
}

function signalGroup(groupId: number | undefined, signal: NodeJS.Signals): void {
  if (groupId === undefined) return;
  try {
    process.kill(-groupId, signal);
  } catch {
    // The group is gone.
  }
}

function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // It ended meanwhile.
  }
}

function groupExists(groupId: number | undefined): boolean {
  if (groupId === undefined) return false;
  try {
    process.kill(-groupId, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
