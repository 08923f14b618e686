/**
 * The job table's key schema: one definition used by the CDK construct that
 * creates the table, by the DynamoDB adapter and by local mode (dynalite).
 *
 * Single table:
 *   job          pk = JOB#<jobId>                     sk = JOB
 *   idempotency  pk = IDEMPOTENCY#<owner>#<key>       sk = IDEMPOTENCY   (expires after 24 h;
 *                owner and key each percent-encoded, so a `#` in either cannot move the boundary)
 * Indexes (both sorted by `<createdAt>#<jobId>`, read newest first):
 *   byOwner        gsi1pk = <owner>
 *   byOwnerStatus  gsi2pk = <owner>#<status>
 */
export const JOB_TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  timeToLiveAttribute: 'expiresAt',
  indexes: {
    byOwner: { indexName: 'byOwner', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
    byOwnerStatus: { indexName: 'byOwnerStatus', partitionKey: 'gsi2pk', sortKey: 'gsi2sk' },
  },
} as const;

export const jobKey = (jobId: string) => ({ pk: `JOB#${jobId}`, sk: 'JOB' }) as const;
/**
 * Owners (a JWT `sub`) and Idempotency-Keys may both contain `#`: joined raw, owner `a#b` with key
 * `c` and owner `a` with key `b#c` would share a record and replay each other's jobs.
 * encodeURIComponent escapes `#` (and `%`), so the pair is recoverable and distinct pairs never meet.
 */
export const idempotencyKey = (owner: string, key: string) =>
  ({ pk: `IDEMPOTENCY#${encodeURIComponent(owner)}#${encodeURIComponent(key)}`, sk: 'IDEMPOTENCY' }) as const;
export const ownerIndexKey = (owner: string, createdAt: string, jobId: string) =>
  ({ gsi1pk: owner, gsi1sk: `${createdAt}#${jobId}` }) as const;
export const ownerStatusIndexKey = (owner: string, status: string, createdAt: string, jobId: string) =>
  ({ gsi2pk: `${owner}#${status}`, gsi2sk: `${createdAt}#${jobId}` }) as const;
