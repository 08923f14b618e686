/**
 * What keeps web pages out of local mode. Local mode has no authentication and runs each job's
 * command as the developer, so a request it answers is a command it may run. A browser lets any
 * page send requests to 127.0.0.1, and a DNS name the attacker controls can be re-pointed at
 * 127.0.0.1 (DNS rebinding) to make the page's own origin reach local mode. Three checks close
 * both ways, before a request reaches any route:
 *
 * - `Host` must name this platform by a loopback name and its port; a rebound name arrives in
 *   `Host` as the attacker's name (RFC 9110 §7.2, §15.5.20 for 421).
 * - An `Origin` other than the platform's own is refused: browsers send it with every cross-origin
 *   request but a simple GET (https://fetch.spec.whatwg.org/#origin-header); command-line clients
 *   send none. No CORS headers are ever sent, so a page cannot read an answer either.
 * - Every state-changing request, with a body or not, must be `application/json`, a type a browser
 *   sends cross-site only after a preflight that local mode never grants (see core/media-type.ts).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { describeContentType, isJsonMediaType, JSON_MEDIA_TYPE } from '../core/media-type.js';
import { PROBLEM_TYPES, problemTypeUri } from '../lambdas/api/problem.js';

export const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'] as const;

interface ProblemKind {
  readonly slug: string;
  readonly status: number;
  readonly title: string;
}

/** Local-only problem types, in the API's `urn:gpujobs:problem:` namespace. */
export const LOCAL_PROBLEM_TYPES = {
  misdirectedRequest: { slug: 'misdirected-request', status: 421, title: 'The request is not addressed to this platform' },
  crossOriginRequest: { slug: 'cross-origin-request', status: 403, title: 'Requests from other web origins are refused' },
} as const satisfies Record<string, ProblemKind>;

/** Methods that change nothing (RFC 9110 §9.2.1) and so may come without a JSON content type. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface Refusal {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
}

export interface RequestGuard {
  /** The `host:port` values a request may carry in `Host`, lowercase. */
  readonly authorities: readonly string[];
  /** The web origins allowed to call, `http://host:port`. */
  readonly origins: readonly string[];
  /** Why the request is refused, or undefined when it may proceed. */
  check(method: string, headers: IncomingHttpHeaders): Refusal | undefined;
  /** The Host and Origin checks alone, for a server whose clients send other content types. */
  checkAddress(headers: IncomingHttpHeaders): Refusal | undefined;
}

/**
 * A guard for a platform listening on `boundHost`:`port`. The bound address is accepted as a
 * name only when it is a loopback address itself: bound to a LAN or wildcard address, local mode
 * still answers only requests that name it by a loopback name.
 */
export function createRequestGuard(boundHost: string, port: number): RequestGuard {
  const names = new Set<string>(LOOPBACK_NAMES);
  if (isLoopbackAddress(boundHost)) names.add(isIP(boundHost) === 6 ? `[${boundHost.toLowerCase()}]` : boundHost);
  // Clients leave the port out of Host and Origin when it is the scheme's default (RFC 9110 §4.2.1).
  const authorities = [...names].flatMap((name) => (port === 80 ? [`${name}:80`, name] : [`${name}:${port}`]));
  const origins = authorities.filter((authority) => port !== 80 || !authority.endsWith(':80')).map((authority) => `http://${authority}`);
  const authoritySet = new Set(authorities);
  const originSet = new Set(origins);

  function checkAddress(headers: IncomingHttpHeaders): Refusal | undefined {
    const host = headers.host;
    if (host === undefined || !authoritySet.has(host.toLowerCase())) {
      return refusal(
        LOCAL_PROBLEM_TYPES.misdirectedRequest,
        `Local mode answers only requests addressed to ${authorities.join(', ')}. Received ${host === undefined ? 'no Host header' : `Host ${quote(host)}`}.`,
      );
    }
    const origin = headers.origin;
    if (origin !== undefined && !originSet.has(origin.toLowerCase())) {
      return refusal(
        LOCAL_PROBLEM_TYPES.crossOriginRequest,
        `Local mode answers browsers only from its own origin (${origins.join(', ')}); other clients send no Origin. Received Origin ${quote(origin)}.`,
      );
    }
    return undefined;
  }

  return {
    authorities,
    origins,
    checkAddress,
    check(method, headers) {
      const addressRefusal = checkAddress(headers);
      if (addressRefusal) return addressRefusal;
      const contentType = headers['content-type'];
      if (!SAFE_METHODS.has(method.toUpperCase()) && !isJsonMediaType(contentType)) {
        return refusal(
          PROBLEM_TYPES.unsupportedMediaType,
          `Local mode accepts a ${method.toUpperCase()} only with Content-Type: ${JSON_MEDIA_TYPE}, with a body or without one. Received ${describeContentType(contentType)}.`,
        );
      }
      return undefined;
    },
  };
}

/** 127.0.0.0/8 and ::1 (RFC 1122 §3.2.1.3, RFC 4291 §2.5.3), plus the name that always means them. */
export function isLoopbackAddress(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || bare === '0:0:0:0:0:0:0:1';
  return false;
}

function refusal(type: ProblemKind, detail: string): Refusal {
  return { type: problemTypeUri(type), title: type.title, status: type.status, detail };
}

/** Header values are the caller's: quoted with escapes, and cut short so a refusal stays small. */
function quote(value: string): string {
  return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
}
