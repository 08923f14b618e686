/**
 * Canonical JSON, for idempotent replays and job-definition names: two bodies that mean the same
 * thing serialize, and so hash, the same. Stored request hashes and registered job-definition
 * names were computed from this output, so it must not change byte for byte.
 */
import { createHash } from 'node:crypto';
import { configure } from 'safe-stable-stringify';

/**
 * The order of an object's members in canonical JSON: array-index keys ("0", "10") ascending by
 * value, then every other key by UTF-16 code unit. It is the order JSON.stringify gives an object
 * whose keys were added sorted (JavaScript lists array indices first, by value), which is how
 * stored request hashes and job-definition names were computed; keeping it keeps them valid, and
 * the output reads back through JSON.parse and JSON.stringify unchanged.
 */
function memberOrder(a: string, b: string): number {
  const indexA = arrayIndexOf(a);
  const indexB = arrayIndexOf(b);
  if (indexA !== undefined && indexB !== undefined) return indexA - indexB;
  if (indexA !== undefined) return -1;
  if (indexB !== undefined) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The key's value when JavaScript treats it as an array index (0 to 2^32 - 2, written canonically). */
function arrayIndexOf(key: string): number | undefined {
  const index = Number(key) >>> 0;
  return String(index) === key && index !== 2 ** 32 - 1 ? index : undefined;
}

/**
 * JSON.stringify with members in memberOrder. As JSON.stringify: undefined and function members
 * are dropped, toJSON is honoured, a cycle throws a TypeError. A `__proto__` member (JSON.parse
 * makes it an own member) is kept like any other, so two bodies that differ only there hash
 * differently; the spec refuses the name in environment and tags before anything is stored.
 * BigInt, which no JSON body holds, is dropped rather than throwing.
 */
const stringifyCanonically = configure({ deterministic: memberOrder, bigint: false, circularValue: TypeError });

/**
 * JSON with object keys sorted at every depth, so two bodies that mean the same
 * thing serialize (and hash) the same. Arrays keep their order.
 */
export function canonicalJson(value: unknown): string {
  const json = stringifyCanonically(value);
  if (json === undefined) throw new TypeError(`canonicalJson takes a JSON value; received ${typeof value}`);
  return json;
}

/** SHA-256 (hex) of the canonical JSON: what JobRecord.requestHash holds. */
export function canonicalRequestHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}
