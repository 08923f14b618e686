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
export const KILL_TIMEOUT_MS = 5_000;
/** How long the output may take to drain once every process is gone (a pipe held by an escaped process never closes). */
export const OUTPUT_DRAIN_TIMEOUT_MS = 2_000;

/**
 * A running attempt as the Batch stand-in drives it, whatever runs it: a host process here, a
 * container in container-runner.ts.
 */
export interface AttemptProcess {
  /** The main process: the job's own command, or the container engine's client that runs it. */
  readonly child: ChildProcess;
  /** Resolves on the main process's 'close': every holder of its output pipes has let go. */
  readonly outputClosed: Promise<void>;
  /** Said on the attempt's status reason when set (a limit capped to this machine). */
  readonly note?: string;
  /** SIGTERM now, SIGKILL after the grace period; returns the timer of the later step, cleared when the attempt ends first. */
  stop(gracePeriodSeconds: number): NodeJS.Timeout;
  /** What a container's end does to what the main process left: nothing of the attempt outlives it. */
  reap(logger: LocalLogger, jobName: string): Promise<void>;
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
  const [file, ...args] = spec.command;
  // Its own process group, and the tokens in its environment: a reclaim or cancel reaches
  // everything the job started, even what left the group (process-tree.ts).
  const main = spawnAttemptMain(file ?? '', args, { cwd: spec.cwd, env: environment }, spec, events);
  const tree = new ProcessTree(main.child.pid, attemptToken);
  return {
    ...main,
    stop: (gracePeriodSeconds) => {
      tree.signal('SIGTERM');
      return setTimeout(() => tree.signal('SIGKILL'), gracePeriodSeconds * 1000);
    },
    // SIGKILLed (a PID namespace ends when its init does), then its output drained.
    reap: async (logger, jobName) => {
      const survivors = await tree.kill(KILL_TIMEOUT_MS);
      if (survivors.length > 0) {
        logger.warn(
          `job ${jobName}: processes ${survivors.join(', ')} did not die within ${KILL_TIMEOUT_MS} ms of SIGKILL; the attempt ends without them`,
        );
      }
      await drainOutput(main.child, main.outputClosed, OUTPUT_DRAIN_TIMEOUT_MS);
    },
  };
}

/** Where the log goes and who hears of the main process's start and end: what every runner shares. */
export type AttemptOutput = Pick<AttemptProcessSpec, 'logStore' | 'logGroupName' | 'logStreamName' | 'onLogFailure'>;

/**
 * Creates the log stream and spawns an attempt's main process in its own process group, its
 * stdout and stderr piped line by line into the stream; reports its start and its end once.
 * Throws for what spawn refuses before trying and for a log stream that cannot be created.
 */
export function spawnAttemptMain(
  file: string,
  args: readonly string[],
  options: { readonly cwd: string; readonly env: NodeJS.ProcessEnv },
  output: AttemptOutput,
  events: AttemptProcessEvents,
  onStderrLine?: (line: string) => void,
): { readonly child: ChildProcess; readonly outputClosed: Promise<void> } {
  output.logStore.createStream(output.logGroupName, output.logStreamName, output.onLogFailure);
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(file, [...args], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const outputClosed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      output.logStore.append(output.logGroupName, output.logStreamName, line);
      if (stream === child.stderr) onStderrLine?.(line);
    });
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
  return { child, outputClosed };
}

/** Starts the attempt's stop (see AttemptProcess.stop); returns the timer of its later step. */
export function stopAttemptProcess(attempt: AttemptProcess | undefined, gracePeriodSeconds: number): NodeJS.Timeout {
  return attempt ? attempt.stop(gracePeriodSeconds) : setTimeout(() => {}, gracePeriodSeconds * 1000);
}

/** What a container's end does to what its main process left (see AttemptProcess.reap). */
export async function reapAttemptProcess(attempt: AttemptProcess | undefined, logger: LocalLogger, jobName: string): Promise<void> {
  await attempt?.reap(logger, jobName);
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
export function drainOutput(child: ChildProcess, closed: Promise<void>, timeoutMs: number): Promise<void> {
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
