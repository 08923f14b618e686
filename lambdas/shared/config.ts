/**
 * Reading handler configuration when a module loads, so a missing or bad value fails the
 * first cold start with its name instead of the thousandth request with a vague error.
 */
import type { EnvName } from '../../core/contract/environment.js';

export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

/** The variable's value; throws naming the variable when it is unset or empty. */
export function requireEnv(name: EnvName, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new ConfigurationError(
      `Environment variable ${name} must be set. Received ${value === undefined ? 'nothing' : 'an empty value'}.`,
    );
  }
  return value;
}

/** A comma-separated list; unset or empty gives an empty list. */
export function listEnv(name: EnvName, env: NodeJS.ProcessEnv = process.env): string[] {
  return (env[name] ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

/** True only for the exact value `1`, so a typo never switches a flag on silently. */
export function flagEnv(name: EnvName, env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env[name];
  if (value === undefined || value === '' || value === '0') return false;
  if (value === '1') return true;
  throw new ConfigurationError(`Environment variable ${name} must be 1 or 0. Received ${JSON.stringify(value)}.`);
}

/** One of `allowed`; throws naming the variable, the value and the allowed values otherwise. */
export function oneOfEnv<T extends string>(name: EnvName, allowed: readonly T[], env: NodeJS.ProcessEnv = process.env): T {
  const value = requireEnv(name, env);
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigurationError(`Environment variable ${name} must be one of ${allowed.join(', ')}. Received ${JSON.stringify(value)}.`);
  }
  return value as T;
}
