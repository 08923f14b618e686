/**
 * The watchdog's configuration, read and checked when its module loads. The stack sets every
 * variable together with the grant it implies; local mode sets the same names.
 */
import { ConfigurationError, requireEnv } from '../shared/config.js';
import { ENV, type EnvName } from '../../core/contract/environment.js';

export interface WatchdogSettings {
  readonly tableName: string;
  readonly eventBusName: string;
  readonly stateMachineArn: string;
  readonly spotJobQueueArn: string;
  readonly onDemandJobQueueArn: string;
  readonly capacityTimeoutSeconds: number;
  readonly onDemandCapacityTimeoutSeconds: number;
  readonly executionTimeoutSeconds: number;
}

/** A positive number of seconds; local mode uses fractions of a second, the stack whole ones. */
function seconds(name: EnvName, env: NodeJS.ProcessEnv): number {
  const raw = requireEnv(name, env);
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new ConfigurationError(`Environment variable ${name} must be a positive number of seconds. Received ${JSON.stringify(raw)}.`);
  }
  return value;
}

export function watchdogSettingsFrom(env: NodeJS.ProcessEnv = process.env): WatchdogSettings {
  return {
    tableName: requireEnv(ENV.tableName, env),
    eventBusName: requireEnv(ENV.eventBusName, env),
    stateMachineArn: requireEnv(ENV.stateMachineArn, env),
    spotJobQueueArn: requireEnv(ENV.spotJobQueueArn, env),
    onDemandJobQueueArn: requireEnv(ENV.onDemandJobQueueArn, env),
    capacityTimeoutSeconds: seconds(ENV.capacityTimeoutSeconds, env),
    onDemandCapacityTimeoutSeconds: seconds(ENV.onDemandCapacityTimeoutSeconds, env),
    executionTimeoutSeconds: seconds(ENV.executionTimeoutSeconds, env),
  };
}
