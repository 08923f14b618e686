import { describe, expect, it } from 'vitest';
import { createRequestGuard, isLoopbackAddress } from '../../local/request-guard.js';

const PORT = 8787;
const guard = createRequestGuard('127.0.0.1', PORT);
const json = { 'content-type': 'application/json' };

describe('the local request guard', () => {
  describe('Host', () => {
    it.each(['127.0.0.1:8787', 'localhost:8787', 'LOCALHOST:8787', '[::1]:8787'])('lets %j through', (host) => {
      expect(guard.check('GET', { host })).toBeUndefined();
    });

    it.each([
      ['attacker.example:8787', 'Host "attacker.example:8787"'],
      ['127.0.0.1:9999', 'Host "127.0.0.1:9999"'],
      ['127.0.0.1', 'Host "127.0.0.1"'],
      ['localhost.:8787', 'Host "localhost.:8787"'],
      ['192.168.1.5:8787', 'Host "192.168.1.5:8787"'],
    ])('refuses %j with 421 naming it', (host, named) => {
      const refusal = guard.check('GET', { host });

      expect(refusal).toMatchObject({ status: 421, type: 'urn:gpujobs:problem:misdirected-request' });
      expect(refusal?.detail).toContain(`Received ${named}.`);
    });

    it('refuses a request with no Host', () => {
      expect(guard.check('GET', {})?.detail).toContain('Received no Host header.');
    });

    it('accepts the bound address when it is a loopback one, and only loopback names otherwise', () => {
      expect(createRequestGuard('127.0.0.2', PORT).check('GET', { host: '127.0.0.2:8787' })).toBeUndefined();
      expect(createRequestGuard('::1', PORT).check('GET', { host: '[::1]:8787' })).toBeUndefined();
      const wildcard = createRequestGuard('0.0.0.0', PORT);
      expect(wildcard.check('GET', { host: '0.0.0.0:8787' })?.status).toBe(421);
      expect(wildcard.check('GET', { host: 'localhost:8787' })).toBeUndefined();
    });

    it('accepts a Host without the port only on port 80, where clients leave it out', () => {
      expect(createRequestGuard('127.0.0.1', 80).check('GET', { host: 'localhost' })).toBeUndefined();
      expect(createRequestGuard('127.0.0.1', 80).check('GET', { host: 'localhost:80' })).toBeUndefined();
      expect(createRequestGuard('127.0.0.1', 80).origins).toContain('http://localhost');
    });
  });

  describe('Origin', () => {
    it.each(['http://127.0.0.1:8787', 'http://localhost:8787', 'http://[::1]:8787'])('lets the own origin %j through', (origin) => {
      expect(guard.check('POST', { host: 'localhost:8787', origin, ...json })).toBeUndefined();
    });

    it.each(['http://evil.example', 'null', 'http://localhost:3000', 'https://localhost:8787', 'http://attacker.example:8787'])(
      'refuses %j with 403 naming it',
      (origin) => {
        const refusal = guard.check('GET', { host: 'localhost:8787', origin });

        expect(refusal).toMatchObject({ status: 403, type: 'urn:gpujobs:problem:cross-origin-request' });
        expect(refusal?.detail).toContain(`Received Origin ${JSON.stringify(origin)}.`);
      },
    );
  });

  describe('content type', () => {
    it.each([
      ['POST', undefined, 'no Content-Type'],
      ['POST', 'text/plain;charset=UTF-8', 'Content-Type "text/plain;charset=UTF-8"'],
      ['POST', 'application/x-www-form-urlencoded', 'Content-Type "application/x-www-form-urlencoded"'],
      ['DELETE', undefined, 'no Content-Type'],
    ])('refuses a %s sent with %j with 415, body or not', (method, contentType, named) => {
      const refusal = guard.check(method, { host: '127.0.0.1:8787', ...(contentType ? { 'content-type': contentType } : {}) });

      expect(refusal).toMatchObject({ status: 415, type: 'urn:gpujobs:problem:unsupported-media-type' });
      expect(refusal?.detail).toContain(`Received ${named}.`);
    });

    it('lets a JSON POST and a GET without a type through', () => {
      expect(guard.check('POST', { host: '127.0.0.1:8787', 'content-type': 'application/json; charset=utf-8' })).toBeUndefined();
      expect(guard.check('GET', { host: '127.0.0.1:8787' })).toBeUndefined();
    });
  });

  it('quotes and cuts a long header value in its detail', () => {
    const detail = guard.check('GET', { host: `${'a'.repeat(5000)}\u0000` })?.detail ?? '';

    expect(detail.length).toBeLessThan(500);
    expect(detail).not.toContain('\u0000');
  });
});

describe('isLoopbackAddress', () => {
  it.each(['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost'])('is true for %j', (host) => expect(isLoopbackAddress(host)).toBe(true));
  it.each(['0.0.0.0', '::', '192.168.1.5', 'example.com', '128.0.0.1'])('is false for %j', (host) =>
    expect(isLoopbackAddress(host)).toBe(false),
  );
});
