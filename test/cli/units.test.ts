import { describe, expect, it } from 'vitest';
import { formatDuration, formatMemory, parseDurationSeconds, parseKeyValue, parseMemoryMiB } from '../../cli/units.js';

describe('--memory sizes', () => {
  it.each([
    ['16GiB', 16_384],
    ['16Gi', 16_384],
    ['16g', 16_384],
    ['1.5GiB', 1_536],
    ['512MiB', 512],
    ['512M', 512],
    ['2048', 2_048],
    ['1TiB', 1_048_576],
    [' 8 GiB ', 8_192],
  ])('reads %s as %i MiB', (text, mib) => {
    expect(parseMemoryMiB(text)).toBe(mib);
  });

  it.each(['16GB', 'lots', '', '-1GiB', '1.0001GiB', '16 KiB'])('refuses %j, naming what it received', (text) => {
    expect(() => parseMemoryMiB(text)).toThrow(`Received "${text}"`);
  });

  it('prints sizes in GiB when whole or halves', () => {
    expect([formatMemory(16_384), formatMemory(1_536), formatMemory(512)]).toEqual(['16 GiB', '1.5 GiB', '512 MiB']);
  });
});

describe('--timeout durations', () => {
  it.each([
    ['2h', 7_200],
    ['90m', 5_400],
    ['1h30m', 5_400],
    ['45s', 45],
    ['1d', 86_400],
    ['1d2h3m4s', 93_784],
    ['1.5h', 5_400],
    ['3600', 3_600],
  ])('reads %s as %i seconds', (text, seconds) => {
    expect(parseDurationSeconds(text)).toBe(seconds);
  });

  it.each(['', 'soon', '2 hours', 'h2', '2h-', '1.0001s', '-5m'])('refuses %j, naming what it received', (text) => {
    expect(() => parseDurationSeconds(text)).toThrow(`Received "${text}"`);
  });

  it.each([
    [0, '0s'],
    [999, '0s'],
    [192_000, '3m12s'],
    [240_000, '4m'],
    [3_725_000, '1h2m5s'],
    [7_200_000, '2h'],
    [90_000_000, '1d1h'],
  ])('prints %i ms as %s', (milliseconds, text) => {
    expect(formatDuration(milliseconds)).toBe(text);
  });
});

describe('KEY=VALUE flags', () => {
  it('splits at the first = so values may contain =', () => {
    expect(parseKeyValue('URL=http://x?a=b', '--env')).toEqual(['URL', 'http://x?a=b']);
    expect(parseKeyValue('EMPTY=', '--env')).toEqual(['EMPTY', '']);
  });

  it.each(['NOVALUE', '=value'])('refuses %j', (text) => {
    expect(() => parseKeyValue(text, '--tag')).toThrow(`--tag takes KEY=VALUE. Received "${text}"`);
  });
});
