/**
 * Which container engine local mode and the tests can use: podman or Docker, found on PATH
 * and answering. Being installed is not enough: a Docker client with no daemon, or a podman
 * that cannot read its storage, would fail every job, so each candidate is asked for its
 * `info` with a short timeout. Parsing that answer is separate from running the command, so
 * the rules are tested without an engine.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export type ContainerEngineName = 'podman' | 'docker';

/** An engine that answered. */
export interface DetectedContainerEngine {
  readonly engine: ContainerEngineName;
  /** The server's version as the engine reports it (`4.3.1`). */
  readonly version: string;
  /**
   * The containers.conf podman runs with: the user's CONTAINERS_CONF when set, else the
   * project's `local/containers.conf`. Undefined for Docker, which reads no such file.
   */
  readonly configPath: string | undefined;
  /** The environment to run the engine's commands with (CONTAINERS_CONF set for podman). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** No engine answered. */
export interface NoContainerEngine {
  readonly engine: undefined;
  /** Why each candidate was rejected, in the order tried. */
  readonly reason: string;
}

export type ContainerEngineDetection = DetectedContainerEngine | NoContainerEngine;

/** What running a command gave: it exited, it was not found on PATH, or it ran past its timeout. */
export type CommandOutcome =
  | { readonly kind: 'exited'; readonly exitCode: number; readonly stdout: string; readonly stderr: string }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'timed-out'; readonly stdout: string; readonly stderr: string };

export type RunCommand = (
  command: string,
  args: readonly string[],
  options: { readonly env: Readonly<Record<string, string | undefined>>; readonly timeoutMs: number },
) => Promise<CommandOutcome>;

export interface DetectContainerEngineOptions {
  /** The environment the engine will run with; PATH and CONTAINERS_CONF are read from it. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Runs a command; defaults to child_process.execFile. */
  readonly exec?: RunCommand;
  /**
   * The engines to try, in order.
   * @default ['podman', 'docker'] (podman first: it needs no daemon and starts containers faster)
   */
  readonly candidates?: readonly ContainerEngineName[];
  /**
   * How long each `info` may take. A daemon that is not running answers at once; one that
   * hangs (a stale socket, storage being migrated) must not hold up the platform's start.
   * @default 10000
   */
  readonly timeoutMs?: number;
}

/** The project's containers.conf, next to this module. */
export const PROJECT_CONTAINERS_CONF = fileURLToPath(new URL('./containers.conf', import.meta.url));

const DEFAULT_CANDIDATES: readonly ContainerEngineName[] = ['podman', 'docker'];
const DEFAULT_TIMEOUT_MS = 10_000;

/** The arguments that make each engine describe its server as one JSON document. */
export const INFO_ARGS: Readonly<Record<ContainerEngineName, readonly string[]>> = {
  podman: ['info', '--format', 'json'],
  docker: ['info', '--format', '{{json .}}'],
};

export async function detectContainerEngine(options: DetectContainerEngineOptions): Promise<ContainerEngineDetection> {
  const exec = options.exec ?? runWithExecFile;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const reasons: string[] = [];
  for (const engine of options.candidates ?? DEFAULT_CANDIDATES) {
    const configPath = engine === 'podman' ? containersConfFor(options.env) : undefined;
    const env = configPath === undefined ? { ...options.env } : { ...options.env, CONTAINERS_CONF: configPath };
    const args = INFO_ARGS[engine];
    const outcome = await exec(engine, args, { env, timeoutMs });
    const answer = interpretInfo(engine, `${engine} ${args.join(' ')}`, outcome, timeoutMs);
    if ('version' in answer) return { engine, version: answer.version, configPath, env };
    reasons.push(answer.reason);
  }
  return { engine: undefined, reason: reasons.join('; ') || 'no container engine was tried' };
}

/** The user's CONTAINERS_CONF when set (their machine, their settings), else the project's file. */
export function containersConfFor(env: Readonly<Record<string, string | undefined>>): string {
  const own = env.CONTAINERS_CONF;
  return own !== undefined && own !== '' ? own : PROJECT_CONTAINERS_CONF;
}

/** Turns the outcome of `<engine> info` into the server's version, or a reason naming the command and what it printed. */
export function interpretInfo(
  engine: ContainerEngineName,
  commandLine: string,
  outcome: CommandOutcome,
  timeoutMs: number,
): { readonly version: string } | { readonly reason: string } {
  switch (outcome.kind) {
    case 'not-found':
      return { reason: `${engine}: not found on PATH` };
    case 'timed-out':
      return { reason: `${engine}: \`${commandLine}\` gave no answer within ${timeoutMs} ms${printed(outcome.stderr || outcome.stdout)}` };
    case 'exited': {
      if (outcome.exitCode !== 0) {
        return { reason: `${engine}: \`${commandLine}\` exited ${outcome.exitCode}${printed(outcome.stderr || outcome.stdout)}` };
      }
      const parsed = engine === 'podman' ? parsePodmanInfo(outcome.stdout) : parseDockerInfo(outcome.stdout);
      return 'version' in parsed ? parsed : { reason: `${engine}: \`${commandLine}\` ${parsed.reason}` };
    }
  }
}

/** `podman info --format json`: the version is at `version.Version`. */
export function parsePodmanInfo(stdout: string): { readonly version: string } | { readonly reason: string } {
  const info = parseJsonObject(stdout);
  if (!info) return { reason: `printed no JSON object${printed(stdout)}` };
  const version = (info.version as Record<string, unknown> | undefined)?.Version;
  if (typeof version !== 'string' || version === '') return { reason: `printed no version.Version${printed(stdout)}` };
  return { version };
}

/**
 * `docker info --format '{{json .}}'`: the version is `ServerVersion`. A client whose daemon
 * is unreachable may still print the document, with `ServerErrors` and no version.
 */
export function parseDockerInfo(stdout: string): { readonly version: string } | { readonly reason: string } {
  const info = parseJsonObject(stdout);
  if (!info) return { reason: `printed no JSON object${printed(stdout)}` };
  const errors = info.ServerErrors;
  if (Array.isArray(errors) && errors.length > 0) return { reason: `reported server errors: ${errors.map(String).join('; ')}` };
  const version = info.ServerVersion;
  if (typeof version !== 'string' || version === '') return { reason: `printed no ServerVersion${printed(stdout)}` };
  return { version };
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** What a command printed, trimmed to its first lines so that a reason stays one readable sentence. */
function printed(output: string): string {
  const text = output.trim().split('\n').slice(0, 3).join(' ').slice(0, 300);
  return text === '' ? ' and printed nothing' : `: ${text}`;
}

const runWithExecFile: RunCommand = (command, args, options) =>
  new Promise((resolve) => {
    execFile(command, [...args], { env: options.env, timeout: options.timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) return resolve({ kind: 'exited', exitCode: 0, stdout, stderr });
      const failure = error as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
      if (failure.code === 'ENOENT') return resolve({ kind: 'not-found' });
      if (failure.killed) return resolve({ kind: 'timed-out', stdout, stderr });
      resolve({ kind: 'exited', exitCode: typeof failure.code === 'number' ? failure.code : 1, stdout, stderr });
    });
  });
