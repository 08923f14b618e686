/**
 * The route contract's helpers, which the api handler, local mode, the stack and the CLI all
 * route by: the route keys taken apart, the path patterns, and the paths built from parameters.
 */
import { describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES, pathPattern, pathSegments, ROUTE_LIST, ROUTES, routeNamed } from '../../core/contract/routes.js';

describe('the route list', () => {
  it('takes every route key apart into method, path template and path parameters', () => {
    expect(ROUTE_LIST.map(({ name, method, path, parameters }) => ({ name, method, path, parameters }))).toEqual([
      { name: 'submitJob', method: 'POST', path: '/v1/jobs', parameters: [] },
      { name: 'listJobs', method: 'GET', path: '/v1/jobs', parameters: [] },
      { name: 'getJob', method: 'GET', path: '/v1/jobs/{jobId}', parameters: ['jobId'] },
      { name: 'cancelJob', method: 'POST', path: '/v1/jobs/{jobId}/cancel', parameters: ['jobId'] },
      { name: 'getJobLogs', method: 'GET', path: '/v1/jobs/{jobId}/logs', parameters: ['jobId'] },
    ]);
    expect(ROUTE_LIST.map((route) => route.key)).toEqual(Object.values(ROUTES));
  });

  it('limits request bodies to 64 KiB', () => {
    expect(MAX_BODY_BYTES).toBe(65_536);
  });

  it('fails when asked for a route that does not exist, naming it', () => {
    expect(() => routeNamed('deleteJob' as never)).toThrow(/"deleteJob"/);
  });
});

describe('pathPattern', () => {
  it('matches a template exactly and captures each parameter as received', () => {
    const pattern = pathPattern('/v1/jobs/{jobId}/logs');

    expect(pattern.exec('/v1/jobs/abc%20d/logs')?.slice(1)).toEqual(['abc%20d']);
    expect(pattern.test('/v1/jobs/abc/logs/')).toBe(false);
    expect(pattern.test('/v1/jobs//logs')).toBe(false);
    expect(pattern.test('/v1/jobs/a/b/logs')).toBe(false);
  });

  it('takes one trailing slash when asked to', () => {
    const pattern = pathPattern('/v1/jobs', { trailingSlash: true });

    expect(pattern.test('/v1/jobs')).toBe(true);
    expect(pattern.test('/v1/jobs/')).toBe(true);
    expect(pattern.test('/v1/jobs//')).toBe(false);
  });
});

describe('pathSegments', () => {
  it("puts the parameters into the route's template, unencoded", () => {
    expect(pathSegments(routeNamed('cancelJob'), { jobId: 'a/b' })).toEqual(['v1', 'jobs', 'a/b', 'cancel']);
    expect(pathSegments(routeNamed('listJobs'))).toEqual(['v1', 'jobs']);
  });

  it('fails when a parameter is missing, naming it', () => {
    expect(() => pathSegments(routeNamed('getJob'), {})).toThrow(/jobId/);
  });
});
