/**
 * Where the CLI sends requests and how it authenticates, from (highest first):
 * flags, environment, the config file written by `gpujobs configure`, local mode's default.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export const LOCAL_DEFAULT_ENDPOINT = 'http://127.0.0.1:8787';

export interface SavedConfig {
  readonly endpoint: string;
  readonly region?: string;
  readonly stack?: string;
}

export class ConfigFileError extends Error {
  override readonly name = 'ConfigFileError';
}

type Env = Readonly<Record<string, string | undefined>>;

/** `$XDG_CONFIG_HOME/gpujobs/config.json`, else `~/.config/gpujobs/config.json` (HOME from env first). */
export function configFilePath(env: Env): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && xdg.length > 0 ? xdg : join(env.HOME ?? homedir(), '.config');
  return join(base, 'gpujobs', 'config.json');
}

export async function readSavedConfig(env: Env): Promise<SavedConfig | undefined> {
  const path = configFilePath(env);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigFileError(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigFileError(`${path} is not valid JSON; fix it or run \`gpujobs configure\` again.`, {
      cause: error,
    });
  }
  const candidate = parsed as Partial<SavedConfig> | null;
  if (typeof candidate !== 'object' || candidate === null || typeof candidate.endpoint !== 'string') {
    throw new ConfigFileError(`${path} has no "endpoint"; run \`gpujobs configure --stack NAME\` again.`);
  }
  return {
    endpoint: candidate.endpoint,
    ...(typeof candidate.region === 'string' ? { region: candidate.region } : {}),
    ...(typeof candidate.stack === 'string' ? { stack: candidate.stack } : {}),
  };
}

export async function writeSavedConfig(env: Env, config: SavedConfig): Promise<string> {
  const path = configFilePath(env);
  await mkdir(dirname(path), { recursive: true });
  // Write then rename, so a crash never leaves half a config behind.
  const partial = `${path}.${process.pid}.tmp`;
  await writeFile(partial, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await rename(partial, path);
  return path;
}

/** `stack`: the ApiUrl output of the stack named by a command's --stack. */
export type EndpointSource = 'flag' | 'env' | 'config' | 'default' | 'stack';

export interface ResolvedEndpoint {
  readonly url: URL;
  readonly source: EndpointSource;
  readonly region?: string;
}

export class InvalidEndpointError extends Error {
  override readonly name = 'InvalidEndpointError';
}

export function resolveEndpoint(flag: string | undefined, env: Env, saved: SavedConfig | undefined): ResolvedEndpoint {
  const [text, source]: [string, EndpointSource] = flag
    ? [flag, 'flag']
    : env.GPUJOBS_ENDPOINT
      ? [env.GPUJOBS_ENDPOINT, 'env']
      : saved
        ? [saved.endpoint, 'config']
        : [LOCAL_DEFAULT_ENDPOINT, 'default'];
  let url: URL;
  try {
    url = new URL(text);
  } catch (error) {
    throw new InvalidEndpointError(`endpoint must be an http(s) URL. Received "${text}" (from ${describeSource(source)}).`, {
      cause: error,
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidEndpointError(`endpoint must be an http(s) URL. Received "${text}" (from ${describeSource(source)}).`);
  }
  return { url, source, ...(source === 'config' && saved?.region ? { region: saved.region } : {}) };
}

export function describeSource(source: EndpointSource): string {
  switch (source) {
    case 'flag':
      return '--endpoint';
    case 'env':
      return 'GPUJOBS_ENDPOINT';
    case 'config':
      return 'the config saved by `gpujobs configure`';
    case 'default':
      return "local mode's default";
    case 'stack':
      return 'the ApiUrl output of the stack given to --stack';
  }
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** Local mode listens on loopback and has no authentication. */
export function isLoopback(url: URL): boolean {
  const host = url.hostname.toLowerCase();
  return LOOPBACK_HOSTS.has(host) || host.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(host);
}
