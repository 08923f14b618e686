/**
 * Cost arithmetic: published unit prices (bench/prices.json) times counted usage. Kept free of
 * I/O so the arithmetic itself is tested (test/bench/cost-model.test.ts).
 */
import { readFileSync } from 'node:fs';

export interface UnitPrice {
  readonly usd: number;
  readonly unit: string;
  readonly source: string;
}

export interface PriceBook {
  readonly region: string;
  readonly currency: 'USD';
  readonly asOf: string;
  readonly note: string;
  readonly prices: Readonly<Record<string, UnitPrice>>;
}

export class UnknownPriceError extends Error {
  override readonly name = 'UnknownPriceError';
}

export function loadPriceBook(file: string): PriceBook {
  const book = JSON.parse(readFileSync(file, 'utf8')) as PriceBook;
  for (const [key, price] of Object.entries(book.prices)) {
    if (!(typeof price.usd === 'number' && price.usd >= 0))
      throw new Error(`Price ${key} in ${file} must be a non-negative number. Received ${JSON.stringify(price.usd)}.`);
  }
  return book;
}

export interface CostLine {
  readonly item: string;
  readonly priceKey: string;
  readonly quantity: number;
  readonly unitUsd: number;
  readonly usd: number;
  readonly basis: string;
}

export interface UsageLine {
  readonly item: string;
  readonly priceKey: string;
  readonly quantity: number;
  /** Where the quantity comes from: measured, from the template, or an assumption. */
  readonly basis: string;
}

export function priceUsage(usage: readonly UsageLine[], book: PriceBook): { lines: CostLine[]; totalUsd: number } {
  const lines = usage.map((line) => {
    const price = book.prices[line.priceKey];
    if (!price)
      throw new UnknownPriceError(
        `No price ${JSON.stringify(line.priceKey)} in the price book. Known: ${Object.keys(book.prices).join(', ')}.`,
      );
    return { ...line, unitUsd: price.usd, usd: line.quantity * price.usd };
  });
  return { lines, totalUsd: lines.reduce((sum, line) => sum + line.usd, 0) };
}

/** Lambda bills memory × duration, memory in GB of 1,024 MB and duration in seconds (1 ms granularity). */
export function lambdaGbSeconds(memoryMiB: number, billedDurationMs: number): number {
  return (memoryMiB / 1024) * (Math.ceil(billedDurationMs) / 1000);
}

/**
 * DynamoDB's item size: attribute names plus values (strings as UTF-8 bytes, numbers about one byte
 * per two significant digits plus one, booleans and nulls one byte, lists and maps 3 bytes plus one
 * per element plus their contents).
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
 */
export function dynamoItemSizeBytes(item: Readonly<Record<string, unknown>>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) {
    if (value === undefined) continue;
    size += Buffer.byteLength(name, 'utf8') + dynamoValueSize(value);
  }
  return size;
}

function dynamoValueSize(value: unknown): number {
  if (value === null || typeof value === 'boolean') return 1;
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  if (typeof value === 'number' || typeof value === 'bigint') {
    const digits = String(value).replace(/^-/, '').replace('.', '').replace(/^0+/, '').replace(/e.*$/i, '');
    return Math.ceil(Math.max(1, digits.length) / 2) + 1;
  }
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value)) return 3 + value.reduce<number>((sum, element) => sum + 1 + dynamoValueSize(element), 0);
  if (value instanceof Set) return [...value].reduce<number>((sum, element) => sum + dynamoValueSize(element), 0);
  if (typeof value === 'object') {
    return (
      3 +
      Object.entries(value as Record<string, unknown>).reduce(
        (sum, [key, element]) => sum + 1 + Buffer.byteLength(key, 'utf8') + dynamoValueSize(element),
        0,
      )
    );
  }
  return 0;
}

/** On-demand write request units for one standard write of an item of `bytes` (1 per started KB). */
export function writeRequestUnits(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / 1024));
}

/** On-demand read request units for one read of `bytes` (1 per started 4 KB; half for eventually consistent reads). */
export function readRequestUnits(bytes: number, consistent: boolean): number {
  const units = Math.max(1, Math.ceil(bytes / 4096));
  return consistent ? units : units / 2;
}

export const HOURS_PER_MONTH = 730;
