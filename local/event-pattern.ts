/**
 * EventBridge event-pattern matching for local mode's bus, so that its rules filter with the
 * very patterns the stack deploys (core/contract/event-rules.ts).
 *
 * Only the part of the pattern language those patterns use is implemented: lists of exact
 * values (a field matches when it equals one of them, or, for an array field, when any of its
 * elements does) and nested objects for nested fields. A field the event lacks never matches.
 * Content filters (`prefix`, `anything-but`, `numeric`, `exists`, …) are objects inside a list;
 * they are refused when the rule is added rather than matched wrongly.
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html
 */
import type { EventPattern, EventPatternValue } from '../core/contract/event-rules.js';

export class UnsupportedEventPatternError extends Error {
  override readonly name = 'UnsupportedEventPatternError';
}

/** Throws when the pattern uses anything besides exact-value lists and nested objects. */
export function checkEventPattern(pattern: EventPattern, path = ''): void {
  if (pattern === null || typeof pattern !== 'object' || Array.isArray(pattern)) {
    throw new UnsupportedEventPatternError(`An event pattern${at(path)} must be an object. Received ${JSON.stringify(pattern)}.`);
  }
  for (const [field, condition] of Object.entries(pattern)) {
    const fieldPath = path ? `${path}.${field}` : field;
    if (Array.isArray(condition)) {
      for (const value of condition as readonly unknown[]) {
        if (value !== null && typeof value === 'object') {
          throw new UnsupportedEventPatternError(
            `Local mode matches only exact values; the pattern's ${fieldPath} holds a content filter. Received ${JSON.stringify(value)}.`,
          );
        }
      }
    } else if (condition !== null && typeof condition === 'object') {
      checkEventPattern(condition as EventPattern, fieldPath);
    } else {
      throw new UnsupportedEventPatternError(
        `The pattern's ${fieldPath} must be a list of values or an object. Received ${JSON.stringify(condition)}.`,
      );
    }
  }
}

/** Whether the event (or the part of it under a nested pattern) matches every field of the pattern. */
export function matchesEventPattern(pattern: EventPattern, event: unknown): boolean {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) return false;
  const fields = event as Record<string, unknown>;
  return Object.entries(pattern).every(([field, condition]) =>
    Array.isArray(condition)
      ? matchesValues(condition as readonly EventPatternValue[], fields[field])
      : matchesEventPattern(condition as EventPattern, fields[field]),
  );
}

function matchesValues(allowed: readonly EventPatternValue[], value: unknown): boolean {
  if (value === undefined) return false;
  if (Array.isArray(value)) return value.some((element) => allowed.includes(element as EventPatternValue));
  return allowed.includes(value as EventPatternValue);
}

function at(path: string): string {
  return path ? ` at ${path}` : '';
}
