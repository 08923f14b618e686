/**
 * How a request proves who sends it: SigV4 (`execute-api`) for a deployed stack
 * with IAM auth, a bearer token for the JWT option, nothing for local mode.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

export interface OutgoingRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** Returns the headers to send: the request's own plus whatever proves the caller. */
export type RequestAuthenticator = (request: OutgoingRequest) => Promise<Record<string, string>>;

export const anonymous: RequestAuthenticator = async (request) => ({ ...request.headers });

export function bearerToken(token: string): RequestAuthenticator {
  return async (request) => ({ ...request.headers, authorization: `Bearer ${token}` });
}

/** `abc123.execute-api.eu-west-1.amazonaws.com` → `eu-west-1`. */
export function regionFromExecuteApiHost(hostname: string): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/i.exec(hostname)?.[1]?.toLowerCase();
}

export interface SigV4Options {
  readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  readonly region: string;
  /** Defaults to `execute-api` (API Gateway); other services only for AWS's published test vectors. */
  readonly service?: string;
  /** Fixed signing time, for reproducible signatures. */
  readonly signingDate?: () => Date;
  /**
   * Sends `x-amz-content-sha256`. API Gateway does not require it, but it binds the
   * body to the signature explicitly; AWS's published test vectors are computed without it.
   */
  readonly signPayloadHeader?: boolean;
}

export function sigV4(options: SigV4Options): RequestAuthenticator {
  const signer = new SignatureV4({
    service: options.service ?? 'execute-api',
    region: options.region,
    credentials: options.credentials,
    sha256: Sha256,
    applyChecksum: options.signPayloadHeader ?? true,
  });
  return async (request) => {
    const query: Record<string, string | string[]> = {};
    for (const [key, value] of request.url.searchParams) {
      const existing = query[key];
      query[key] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
    }
    const signed = await signer.sign(
      {
        method: request.method,
        protocol: request.url.protocol,
        hostname: request.url.hostname,
        ...(request.url.port ? { port: Number(request.url.port) } : {}),
        path: request.url.pathname,
        query,
        // The host header is signed; fetch sends the same value from the URL.
        headers: { ...lowercaseKeys(request.headers), host: request.url.host },
        ...(request.body !== undefined ? { body: request.body } : {}),
      },
      options.signingDate ? { signingDate: options.signingDate() } : {},
    );
    const { host: _signedHost, ...headers } = signed.headers;
    return headers;
  };
}

function lowercaseKeys(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([key, value]) => [key.toLowerCase(), value]));
}
