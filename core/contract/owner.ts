/**
 * The names that say who owns a job, shared by the api (lambdas/api/owner.ts, which resolves
 * the owner), the stack's configuration (lib/config.ts, which checks `ownerIdentity`), local mode
 * and the CLI (which send the local owner header).
 */

/**
 * What an assumed-role caller's owner is: its session ARN (`session`), or the ARN of the role
 * behind it (`role`). Configuration `ownerIdentity`; the api reads it from OWNER_IDENTITY.
 */
export const OWNER_IDENTITIES = ['role', 'session'] as const;
export type OwnerIdentity = (typeof OWNER_IDENTITIES)[number];

/** Local mode only (no authorizer exists there): the request header that names the owner. */
export const LOCAL_OWNER_HEADER = 'x-gpujobs-owner';

/** The owner of a local-mode request without LOCAL_OWNER_HEADER. */
export const DEFAULT_LOCAL_OWNER = 'local';
