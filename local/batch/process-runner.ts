/**
 * An attempt's processes: the main one spawned with the job's environment and its output
 * piped line by line into the attempt's log stream, the stop (SIGTERM, then SIGKILL after the
 * grace period) and the wind-up that reaps everything the attempt started. process-tree.ts
 * finds those processes, whatever group or session they moved to.
 */
import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { ENV } from '../../core/contract/environment.js';
import type { LocalLogger } from '../logger.js';
import type { LogStore } from '../log-store.js';
import { ATTEMPT_TOKEN_VARIABLE, newAttemptToken, PLATFORM_TOKEN_VARIABLE, ProcessTree } from '../process-tree.js';

/**
 * How long SIGKILLed processes may take to die before the attempt ends without them (one in
 * uninterruptible sleep, such as a GPU driver call, can take seconds); they are logged.
 */
const KILL_TIMEOUT_MS = 5_000;
/** How long the output may take to drain once every process is gone (a pipe held by an escaped process never closes). */
const OUTPUT_DRAIN_TIMEOUT_MS = 2_000;

export interface AttemptProcess {
  readonly child: ChildProcess;
  /** Every process the attempt started, whatever group or session it moved to. */
  readonly tree: ProcessTree;
  /** Resolves on the main process's 'close': every holder of its output pipes has let go. */
  readonly outputClosed: Promise<void>;
}

export interface AttemptProcessSpec {
  /** The program and its arguments. */
  readonly command: readonly string[];
  /** The attempt's sandbox (sandbox.ts). */
  readonly cwd: string;
  /** The job's own variables (its definition's, its submission's, Batch's); they come after what the process inherits. */
  readonly variables: Readonly<Record<string, string>>;
  /** Put in the environment of everything the attempt starts, so that a later start of local mode finds what is left (process-tree.ts). */
  readonly platformToken: string;
  readonly logStore: LogStore;
  readonly logGroupName: string;
  readonly logStreamName: string;
  /** The log store could not take the output (ENOSPC, EIO). */
  readonly onLogFailure: (failure: Error) => void;
}

export interface AttemptProcessEvents {
  /** The main process is running. */
  readonly onSpawn: () => void;
  /**
   * The main process ended, reported once: on 'exit', as a container stops when its PID 1 exits
   * rather than when the last holder of its output lets go; or on 'close' alone when it could
   * not be spawned (then with the spawn error).
   */
  readonly onEnd: (code: number | null, signal: NodeJS.Signals | null, spawnError: Error | undefined) => void;
}

/**
 * Creates the log stream and spawns the main process in its own process group. Throws, rather
 * than reporting an end, for what spawn refuses before trying (an empty program, a NUL byte in
 * an argument or the environment, E2BIG) and for a log stream that cannot be created.
 */
export function startAttemptProcess(spec: AttemptProcessSpec, events: AttemptProcessEvents): AttemptProcess {
  const attemptToken = newAttemptToken();
  const environment = {
    ...inheritedEnvironment(),
    ...spec.variables,
    // Inherited by everything the attempt starts: how its processes are found (process-tree.ts).
    [ATTEMPT_TOKEN_VARIABLE]: attemptToken,
    [PLATFORM_TOKEN_VARIABLE]: spec.platformToken,
  };
  spec.logStore.createStream(spec.logGroupName, spec.logStreamName, spec.onLogFailure);
  const [file, ...args] = spec.command;
  // Its own process group, and the tokens in its environment: a reclaim or cancel reaches
  // everything the job started, even what left the group (process-tree.ts).
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(file ?? '', args, {
    cwd: spec.cwd,
    env: environment,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const outputClosed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) =>
      spec.logStore.append(spec.logGroupName, spec.logStreamName, line),
    );
  }
  child.once('spawn', events.onSpawn);
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  let ended = false;
  const end = (code: number | null, signal: NodeJS.Signals | null) => {
    if (ended) return;
    ended = true;
    events.onEnd(code, signal, spawnError);
  };
  // A command that could not be spawned emits no 'exit', only 'error' and 'close'.
  child.once('exit', end);
  child.once('close', end);
  return { child, tree: new ProcessTree(child.pid, attemptToken), outputClosed };
}

/** SIGTERM to everything the attempt started now, SIGKILL after the grace period; returns the SIGKILL's timer. */
export function stopAttemptProcess(attempt: AttemptProcess | undefined, gracePeriodSeconds: number): NodeJS.Timeout {
  attempt?.tree.signal('SIGTERM');
  return setTimeout(() => attempt?.tree.signal('SIGKILL'), gracePeriodSeconds * 1000);
}

/**
 * What a container's end does to what its main process left: SIGKILLed (a PID namespace ends
 * when its init does), then its output drained, so that no process of it outlives the attempt.
 */
export async function reapAttemptProcess(attempt: AttemptProcess | undefined, logger: LocalLogger, jobName: string): Promise<void> {
  if (!attempt) return;
  const survivors = await attempt.tree.kill(KILL_TIMEOUT_MS);
  if (survivors.length > 0) {
    logger.warn(
      `job ${jobName}: processes ${survivors.join(', ')} did not die within ${KILL_TIMEOUT_MS} ms of SIGKILL; the attempt ends without them`,
    );
  }
  await drainOutput(attempt.child, attempt.outputClosed, OUTPUT_DRAIN_TIMEOUT_MS);
}

/** The longest a stopped attempt takes to end: the grace period, the kill and drain timeouts, and a second's slack. */
export function stoppedAttemptEndBoundMs(gracePeriodSeconds: number): number {
  return gracePeriodSeconds * 1000 + KILL_TIMEOUT_MS + OUTPUT_DRAIN_TIMEOUT_MS + 1_000;
}

/**
 * A job sees this machine's environment (PATH, HOME, an activated virtualenv), but not
 * the developer's AWS credentials or the platform's own settings (its `PORT` included): in AWS
 * a job has only what its job role and definition give it.
 */
const PLATFORM_VARIABLES = new Set<string>([...Object.values(ENV), 'CUDA_VISIBLE_DEVICES', 'NODE_OPTIONS', 'PORT']);

function inheritedEnvironment(): Record<string, string> {
  const inherited: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    if (/^(AWS_|GPUJOBS_|POWERTOOLS_)/.test(name) || PLATFORM_VARIABLES.has(name)) continue;
    inherited[name] = value;
  }
  return inherited;
}

/**
 * Waits for the main process's output to reach the log ('close': every holder of its pipes let
 * go) for at most `timeoutMs`; past that the pipes are closed from this end, because a process
 * that escaped the kill may hold them for good.
 */
function drainOutput(child: ChildProcess, closed: Promise<void>, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve();
    }, timeoutMs);
    void closed.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
