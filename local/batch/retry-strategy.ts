/**
 * Batch's retry in place, as the stand-in evaluates a job's retryStrategy after each attempt.
 * The rules themselves (what the workflow submits) are core/retry-strategy.ts's.
 */
import type { BatchRetryStrategy } from '../../core/retry-strategy.js';

/** What evaluateOnExit's patterns are matched against. */
export interface EndedAttempt {
  readonly statusReason: string;
  /** The container's reason. */
  readonly reason?: string;
  readonly exitCode?: number;
}

/**
 * Batch's retryStrategy: no retry once `attempts` are spent; otherwise the first matching
 * evaluateOnExit rule decides (Batch reads its action case-insensitively), and with none
 * matching, Batch retries.
 */
export function retriesInPlace(strategy: BatchRetryStrategy, attemptsMade: number, attempt: EndedAttempt): boolean {
  if (attemptsMade >= (strategy.attempts ?? 1)) return false;
  for (const rule of strategy.evaluateOnExit ?? []) {
    const matches =
      (rule.onStatusReason === undefined || globMatches(rule.onStatusReason, attempt.statusReason)) &&
      (rule.onReason === undefined || globMatches(rule.onReason, attempt.reason ?? '')) &&
      (rule.onExitCode === undefined || globMatches(rule.onExitCode, attempt.exitCode === undefined ? '' : String(attempt.exitCode)));
    if (matches) return rule.action.toUpperCase() === 'RETRY';
  }
  return true;
}

/** Batch matches evaluateOnExit patterns exactly, or by prefix when they end in `*`. */
export function globMatches(pattern: string, value: string): boolean {
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  return pattern === value;
}
