/**
 * The HTTP API contract (v1): its routes and its request body limit. The api handler routes by
 * them (lambdas/api/job-api.ts), the stack deploys them (lib/http-job-api.ts), local mode serves
 * them (local/http-api.ts), the CLI calls them (cli/client.ts), and openapi/openapi.yaml documents
 * them (a test keeps it equal).
 */

/** The routes, as API Gateway route keys: `<METHOD> <path template>`. */
export const ROUTES = {
  submitJob: 'POST /v1/jobs',
  listJobs: 'GET /v1/jobs',
  getJob: 'GET /v1/jobs/{jobId}',
  cancelJob: 'POST /v1/jobs/{jobId}/cancel',
  getJobLogs: 'GET /v1/jobs/{jobId}/logs',
} as const;

export type RouteName = keyof typeof ROUTES;
export type RouteKey = (typeof ROUTES)[RouteName];

/** The methods the routes use. */
export type RouteMethod = 'GET' | 'POST';

/** One route, its key taken apart. */
export interface Route {
  readonly name: RouteName;
  /** The API Gateway route key, e.g. `GET /v1/jobs/{jobId}`. */
  readonly key: RouteKey;
  readonly method: RouteMethod;
  /** The path template, e.g. `/v1/jobs/{jobId}`. */
  readonly path: string;
  /** The template's `{name}` segments, in order. */
  readonly parameters: readonly string[];
}

/** The request body limit, in bytes of the body as received (API Gateway's own is larger). */
export const MAX_BODY_BYTES = 64 * 1024;

const ROUTE_KEY = /^(GET|POST) (\/[^ ]*)$/;
const PARAMETER = /^\{([A-Za-z][A-Za-z0-9]*)\}$/;

function routeOf(name: RouteName, key: RouteKey): Route {
  const parsed = ROUTE_KEY.exec(key);
  if (!parsed) throw new Error(`Route ${name} must be "<GET|POST> /<path>". Received ${JSON.stringify(key)}.`);
  const path = parsed[2]!;
  const parameters = path.split('/').flatMap((segment) => {
    const parameter = PARAMETER.exec(segment);
    return parameter ? [parameter[1]!] : [];
  });
  return { name, key, method: parsed[1] as RouteMethod, path, parameters };
}

/** Every route, in the order of ROUTES. */
export const ROUTE_LIST: readonly Route[] = (Object.entries(ROUTES) as [RouteName, RouteKey][]).map(([name, key]) => routeOf(name, key));

/** The route called `name`. */
export function routeNamed(name: RouteName): Route {
  const route = ROUTE_LIST.find((candidate) => candidate.name === name);
  if (!route) throw new RangeError(`No route is named ${JSON.stringify(name)}. Known: ${Object.keys(ROUTES).join(', ')}.`);
  return route;
}

export interface PathPatternOptions {
  /**
   * Whether a path may end in one `/` more than the template.
   * @default false
   */
  readonly trailingSlash?: boolean;
}

/**
 * A regular expression for the paths of a template: one capture group per parameter, holding the
 * segment as received (still percent-encoded; a parameter never spans a `/`).
 */
export function pathPattern(path: string, options: PathPatternOptions = {}): RegExp {
  const source = path
    .split('/')
    .map((segment) => (PARAMETER.test(segment) ? '([^/]+)' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('\\/');
  return new RegExp(`^${source}${options.trailingSlash ? '\\/?' : ''}$`);
}

/**
 * The path segments of a route for the given parameters, not yet percent-encoded (the caller
 * encodes each one), e.g. `getJob`, `{jobId: 'a'}` → `['v1', 'jobs', 'a']`.
 */
export function pathSegments(route: Route, parameters: Readonly<Record<string, string>> = {}): string[] {
  return route.path
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) => {
      const parameter = PARAMETER.exec(segment)?.[1];
      if (parameter === undefined) return segment;
      const value = parameters[parameter];
      if (value === undefined)
        throw new RangeError(`Route ${route.key} needs the path parameter ${parameter}. Received ${JSON.stringify(parameters)}.`);
      return value;
    });
}
