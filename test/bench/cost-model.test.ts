import { describe, expect, it } from 'vitest';
import {
  dynamoItemSizeBytes,
  lambdaGbSeconds,
  priceUsage,
  readRequestUnits,
  UnknownPriceError,
  writeRequestUnits,
  type PriceBook,
} from '../../bench/support/cost-model.js';

const book: PriceBook = {
  region: 'us-east-1',
  currency: 'USD',
  asOf: '2026-06',
  note: 'test',
  prices: {
    transition: { usd: 0.000025, unit: 'state transition', source: 'test' },
    gbSecond: { usd: 0.0000133334, unit: 'GB-second', source: 'test' },
  },
};

describe('priceUsage', () => {
  it('multiplies each quantity by its unit price and adds the lines up', () => {
    // GIVEN 7 transitions and 0.25 GB-s
    const { lines, totalUsd } = priceUsage(
      [
        { item: 'transitions', priceKey: 'transition', quantity: 7, basis: 'path' },
        { item: 'compute', priceKey: 'gbSecond', quantity: 0.25, basis: 'assumed' },
      ],
      book,
    );
    // THEN
    expect(lines.map((l) => l.usd)).toEqual([0.000175, 0.00000333335]);
    expect(totalUsd).toBeCloseTo(0.00017833335, 12);
    expect(lines[0]).toMatchObject({ unitUsd: 0.000025, basis: 'path' });
  });

  it('fails naming the price key it does not know', () => {
    expect(() => priceUsage([{ item: 'x', priceKey: 'nope', quantity: 1, basis: '' }], book)).toThrow(UnknownPriceError);
    expect(() => priceUsage([{ item: 'x', priceKey: 'nope', quantity: 1, basis: '' }], book)).toThrow('"nope"');
  });
});

describe('lambdaGbSeconds', () => {
  it('is memory in GB (1,024 MB) times duration in seconds, rounded up to the millisecond', () => {
    expect(lambdaGbSeconds(512, 100)).toBe(0.05);
    expect(lambdaGbSeconds(1024, 1.2)).toBe(0.002);
  });
});

describe('DynamoDB request units', () => {
  it('charges one write unit per started KB, at least one', () => {
    expect(writeRequestUnits(0)).toBe(1);
    expect(writeRequestUnits(1024)).toBe(1);
    expect(writeRequestUnits(1025)).toBe(2);
  });

  it('charges one read unit per started 4 KB, half for eventually consistent reads', () => {
    expect(readRequestUnits(100, true)).toBe(1);
    expect(readRequestUnits(100, false)).toBe(0.5);
    expect(readRequestUnits(4097, true)).toBe(2);
    expect(readRequestUnits(4097, false)).toBe(1);
  });
});

describe('dynamoItemSizeBytes', () => {
  it('counts attribute names and string values as UTF-8 bytes', () => {
    // "pk" (2) + "JOB#1" (5) + "name" (4) + "é" (2 bytes)
    expect(dynamoItemSizeBytes({ pk: 'JOB#1', name: 'é' })).toBe(13);
  });

  it('counts numbers by significant digits: 1 byte per two digits plus one', () => {
    // "n" (1) + 12345 → ceil(5/2)+1 = 4
    expect(dynamoItemSizeBytes({ n: 12345 })).toBe(5);
    expect(dynamoItemSizeBytes({ n: 7 })).toBe(3);
  });

  it('counts maps and lists with their overhead, and booleans and nulls as one byte', () => {
    // "m" (1) + map: 3 + (1 + "a"(1) + true(1)) = 6 → 7; "l" (1) + list: 3 + (1 + null(1)) = 5 → 6
    expect(dynamoItemSizeBytes({ m: { a: true } })).toBe(7);
    expect(dynamoItemSizeBytes({ l: [null] })).toBe(6);
  });

  it('ignores attributes that are undefined (the document client removes them)', () => {
    expect(dynamoItemSizeBytes({ a: 'x', b: undefined })).toBe(2);
  });
});
