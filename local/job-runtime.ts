/**
 * What runs local jobs, decided once at start from GPUJOBS_LOCAL_RUNTIME and the engines that
 * answer: `auto` takes podman, then Docker, then host processes; an engine asked for by name
 * must answer, or the start fails naming why (every job would fail later otherwise).
 */
import { type ContainerEngineName, type DetectContainerEngineOptions, detectContainerEngine } from './container-engine.js';
import { type JobRuntime, type LocalRuntime, RuntimeUnavailableError } from './options.js';

/** The runtime decided, with the engine that runs containers, or why none does. */
export type ChosenJobRuntime =
  | {
      readonly used: ContainerEngineName;
      readonly engine: {
        readonly version: string;
        /** The environment the engine's commands run with (CONTAINERS_CONF set for podman). */
        readonly env: Readonly<Record<string, string | undefined>>;
      };
    }
  | {
      readonly used: 'process';
      /** Why `auto` found no engine; undefined when `process` was asked for. */
      readonly noEngineReason?: string;
    };

export async function chooseJobRuntime(
  requested: LocalRuntime,
  detection: Omit<DetectContainerEngineOptions, 'candidates'>,
): Promise<ChosenJobRuntime> {
  if (requested === 'process') return { used: 'process' };
  const detected = await detectContainerEngine({ ...detection, candidates: requested === 'auto' ? ['podman', 'docker'] : [requested] });
  if (detected.engine !== undefined) return { used: detected.engine, engine: { version: detected.version, env: detected.env } };
  if (requested === 'auto') return { used: 'process', noEngineReason: detected.reason };
  throw new RuntimeUnavailableError(`GPUJOBS_LOCAL_RUNTIME=${requested}, but ${requested} cannot run containers here: ${detected.reason}`);
}

/** True when jobs run their image in a container. */
export const runsContainers = (runtime: JobRuntime): runtime is ContainerEngineName => runtime !== 'process';
