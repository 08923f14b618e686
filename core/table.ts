/**
 * The job table's key schema: one definition used by the CDK construct that
 * creates the table, by the DynamoDB adapter and by local mode (dynalite).
 *
 * Single table:
 *   job          pk = JOB#<jobId>                     sk = JOB
 *   idempotency  pk = IDEMPOTENCY#<owner>#<key>       sk = IDEMPOTENCY   (expires after 24 h)
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
export const idempotencyKey = (owner: string, key: string) =>
  ({ pk: `IDEMPOTENCY#${owner}#${key}`, sk: 'IDEMPOTENCY' }) as const;
export const ownerIndexKey = (owner: string, createdAt: string, jobId: string) =>
  ({ gsi1pk: owner, gsi1sk: `${createdAt}#${jobId}` }) as const;
export const ownerStatusIndexKey = (owner: string, status: string, createdAt: string, jobId: string) =>
  ({ gsi2pk: `${owner}#${status}`, gsi2sk: `${createdAt}#${jobId}` }) as const;
