/**
 * Paging a job listing, for both stores: which index partition a query reads, and the opaque
 * nextToken that resumes it. A token is the last item's table and index keys, base64url-encoded;
 * it is checked against the query it comes back with, so it cannot read another partition.
 */
import type { JobRecord } from '../../core/job.js';
import type { ListJobsPage, ListJobsQuery } from '../../core/ports.js';
import { JOB_TABLE } from '../../core/table.js';
import { recordFromItem, type Item } from './job-item.js';

/** The nextToken of a list request is not one this store issued for this query. */
export class InvalidNextTokenError extends Error {
  override readonly name = 'InvalidNextTokenError';
  constructor(message = 'nextToken is not a token returned by a previous page of this query.', options?: ErrorOptions) {
    super(message, options);
  }
}

/** The key attributes of one of the table's list indexes. */
export interface ListIndex {
  readonly indexName: string;
  readonly partitionKey: string;
  readonly sortKey: string;
}

/** Where a listing reads: the index, its partition, and the key of the item it resumes after. */
export interface ListingStart {
  readonly index: ListIndex;
  readonly partitionValue: string;
  /** Absent on the first page. */
  readonly exclusiveStartKey?: Item;
}

/**
 * The index and partition `query` reads (all of the owner's jobs, or those in one status), and
 * where it resumes. Throws InvalidNextTokenError for a token this query did not issue.
 */
export function listingStart(query: ListJobsQuery): ListingStart {
  const index = query.status === undefined ? JOB_TABLE.indexes.byOwner : JOB_TABLE.indexes.byOwnerStatus;
  const partitionValue = query.status === undefined ? query.owner : `${query.owner}#${query.status}`;
  if (query.nextToken === undefined) return { index, partitionValue };
  return { index, partitionValue, exclusiveStartKey: decodePageToken(query.nextToken, index, partitionValue) };
}

/**
 * One page from the items read newest first, at most `limit` of them. The read asks for one item
 * more than the page holds: that extra item tells whether another page exists, so the last page
 * carries no nextToken.
 */
export function pageOf(items: readonly Item[], limit: number, index: Omit<ListIndex, 'indexName'>): ListJobsPage {
  const pageItems = items.slice(0, limit);
  const lastItem = pageItems.at(-1);
  const jobs: readonly JobRecord[] = pageItems.map(recordFromItem);
  return { jobs, nextToken: items.length > limit && lastItem ? encodePageToken(lastItem, index) : undefined };
}

export function encodePageToken(item: Item, index: { readonly partitionKey: string; readonly sortKey: string }): string {
  const key = {
    [JOB_TABLE.partitionKey]: item[JOB_TABLE.partitionKey],
    [JOB_TABLE.sortKey]: item[JOB_TABLE.sortKey],
    [index.partitionKey]: item[index.partitionKey],
    [index.sortKey]: item[index.sortKey],
  };
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

export function decodePageToken(
  token: string,
  index: { readonly partitionKey: string; readonly sortKey: string },
  partitionValue: string,
): Item {
  let decoded: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(token)) throw new Error('not base64url');
    decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch (error) {
    throw new InvalidNextTokenError(undefined, { cause: error });
  }
  const expectedKeys = [JOB_TABLE.partitionKey, JOB_TABLE.sortKey, index.partitionKey, index.sortKey].sort();
  if (
    typeof decoded !== 'object' ||
    decoded === null ||
    Array.isArray(decoded) ||
    Object.keys(decoded).sort().join() !== expectedKeys.join() ||
    // DynamoDB refuses (ValidationException, a 500 here) a sort key over 1,024 bytes of UTF-8, not characters:
    // https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
    !Object.values(decoded).every((value) => typeof value === 'string' && value.length > 0 && Buffer.byteLength(value, 'utf8') <= 1024) ||
    // A token from another caller's (or another filter's) listing would read someone else's partition.
    (decoded as Item)[index.partitionKey] !== partitionValue
  ) {
    throw new InvalidNextTokenError();
  }
  return decoded as Item;
}
