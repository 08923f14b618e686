/**
 * Who is calling: the owner of every job the request creates or touches.
 *
 * - IAM (SigV4): the caller's ARN. An assumed-role session
 *   `arn:aws:sts::<account>:assumed-role/<role>/<session>` becomes the role,
 *   `arn:aws:iam::<account>:role/<role>`: whoever may assume a role may pick any session name,
 *   so the session name separates nothing, and a CI pipeline whose session names change every
 *   run must still see its own jobs. IAM users, root and federated users keep their ARN.
 *   (An assumed-role ARN carries no role path, so the owner has none either.)
 * - JWT: the token's `sub` claim.
 * - Local mode only (no authorizer exists there): the `x-gpujobs-owner` header, else `local`.
 * Anything else is unauthenticated: in AWS the authorizer always supplies a principal, so a
 * request without one means the route was deployed without an authorizer, and is refused.
 */
import { HttpProblem, PROBLEM_TYPES } from './problem.js';

export const LOCAL_OWNER_HEADER = 'x-gpujobs-owner';
export const DEFAULT_LOCAL_OWNER = 'local';

/** Printable, no `#` (the store's key separator), bounded. */
const LOCAL_OWNER = /^[\x21-\x22\x24-\x7e]{1,256}$/;
const ASSUMED_ROLE = /^arn:([^:]+):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/;

export interface AuthorizerContext {
  readonly iam?: { readonly userArn?: string | null } | null;
  readonly jwt?: { readonly claims?: Readonly<Record<string, unknown>> | null } | null;
}

export interface OwnerSource {
  readonly headers?: Readonly<Record<string, string | undefined>>;
  readonly requestContext?: { readonly authorizer?: AuthorizerContext | null };
}

export function ownerFromPrincipalArn(arn: string): string {
  const assumedRole = ASSUMED_ROLE.exec(arn);
  if (!assumedRole) return arn;
  const [, partition, account, role] = assumedRole;
  return `arn:${partition}:iam::${account}:role/${role}`;
}

export function resolveOwner(event: OwnerSource, options: { readonly localMode: boolean }): string {
  const authorizer = event.requestContext?.authorizer;
  const userArn = authorizer?.iam?.userArn;
  if (typeof userArn === 'string' && userArn !== '') return ownerFromPrincipalArn(userArn);
  const subject = authorizer?.jwt?.claims?.sub;
  if (typeof subject === 'string' && subject !== '') return subject;
  if (options.localMode) {
    const header = event.headers?.[LOCAL_OWNER_HEADER];
    if (header === undefined || header === '') return DEFAULT_LOCAL_OWNER;
    if (!LOCAL_OWNER.test(header)) {
      throw new HttpProblem(
        PROBLEM_TYPES.unauthenticated,
        `The ${LOCAL_OWNER_HEADER} header must be 1 to 256 printable characters without '#'.`,
      );
    }
    return header;
  }
  throw new HttpProblem(PROBLEM_TYPES.unauthenticated, 'The request carries no authenticated principal.');
}
