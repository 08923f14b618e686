/**
 * Who is calling: the owner of every job the request creates or touches. Every job, event and
 * idempotency key carries this string, and a caller sees only the jobs whose owner it equals.
 *
 * - IAM (SigV4): the caller's ARN as API Gateway verified it (`requestContext.authorizer.iam.userArn`;
 *   https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html).
 *   IAM users, root and federated users keep their ARN. An assumed-role session
 *   `arn:aws:sts::<account>:assumed-role/<role>/<session>` depends on `ownerIdentity`:
 *   - `session` (the default): the session ARN unchanged, the value `aws sts get-caller-identity`
 *     prints. Every IAM Identity Center user of one permission set is a separate owner, because
 *     Identity Center names the session after the user and only it can start sessions of its
 *     `AWSReservedSSO_*` roles. For a role that principals assume themselves, the caller picks the
 *     session name, so a session owner is only as strong as the role's trust policy
 *     (`sts:RoleSessionName`; docs/configuration.md says how to pin it).
 *   - `role`: the role, `arn:aws:iam::<account>:role/<role>`; every session of a role is one owner
 *     (a CI pipeline whose session names change every run still sees its own jobs). An assumed-role
 *     ARN carries no role path, so the owner has none either.
 * - JWT: the token's `sub` claim.
 * - Local mode only (no authorizer exists there): the `x-gpujobs-owner` header, else `local`.
 * No header is read anywhere else: `requestContext` is written by API Gateway, a header by the caller.
 * Anything else is unauthenticated: in AWS the authorizer always supplies a principal, so a
 * request without one means the route was deployed without an authorizer, and is refused.
 */
import { DEFAULT_LOCAL_OWNER, LOCAL_OWNER_HEADER, type OwnerIdentity } from '../../core/contract/owner.js';
import { HttpProblem, PROBLEM_TYPES } from './problem.js';

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

export interface OwnerOptions {
  readonly localMode: boolean;
  readonly ownerIdentity: OwnerIdentity;
}

export function ownerFromPrincipalArn(arn: string, ownerIdentity: OwnerIdentity): string {
  if (ownerIdentity === 'session') return arn;
  const assumedRole = ASSUMED_ROLE.exec(arn);
  if (!assumedRole) return arn;
  const [, partition, account, role] = assumedRole;
  return `arn:${partition}:iam::${account}:role/${role}`;
}

export function resolveOwner(event: OwnerSource, options: OwnerOptions): string {
  const authorizer = event.requestContext?.authorizer;
  const userArn = authorizer?.iam?.userArn;
  if (typeof userArn === 'string' && userArn !== '') return ownerFromPrincipalArn(userArn, options.ownerIdentity);
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
