import { describe, expect, it } from 'vitest';
import { describeContentType, isJsonMediaType } from '../../core/media-type.js';

describe('isJsonMediaType', () => {
  it.each([
    'application/json',
    'APPLICATION/JSON',
    ' application/json ',
    'application/json; charset=utf-8',
    'application/json;charset="UTF-8"',
    'application/json; foo=bar',
  ])('accepts %j', (value) => expect(isJsonMediaType(value)).toBe(true));

  it.each([
    undefined,
    '',
    'text/plain',
    'text/plain;charset=UTF-8',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/jsonp',
    'application/problem+json',
    'application/json; charset=latin1',
    'application/json,text/plain',
  ])('refuses %j', (value) => expect(isJsonMediaType(value)).toBe(false));
});

describe('describeContentType', () => {
  it('names the type received, quoted, or says there was none', () => {
    expect(describeContentType('text/plain')).toBe('Content-Type "text/plain"');
    expect(describeContentType(undefined)).toBe('no Content-Type');
    expect(describeContentType('  ')).toBe('no Content-Type');
  });
});
