/**
 * Creates the job table from the one key schema in core/table.ts. Used where no
 * CloudFormation creates it: local mode and tests (both against dynalite).
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { JOB_TABLE } from '../core/table.js';

export function jobTableDefinition(tableName: string): CreateTableCommandInput {
  const { byOwner, byOwnerStatus } = JOB_TABLE.indexes;
  const stringAttribute = (AttributeName: string) => ({ AttributeName, AttributeType: 'S' as const });
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      stringAttribute(JOB_TABLE.partitionKey),
      stringAttribute(JOB_TABLE.sortKey),
      stringAttribute(byOwner.partitionKey),
      stringAttribute(byOwner.sortKey),
      stringAttribute(byOwnerStatus.partitionKey),
      stringAttribute(byOwnerStatus.sortKey),
    ],
    KeySchema: [
      { AttributeName: JOB_TABLE.partitionKey, KeyType: 'HASH' },
      { AttributeName: JOB_TABLE.sortKey, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [byOwner, byOwnerStatus].map((index) => ({
      IndexName: index.indexName,
      KeySchema: [
        { AttributeName: index.partitionKey, KeyType: 'HASH' as const },
        { AttributeName: index.sortKey, KeyType: 'RANGE' as const },
      ],
      Projection: { ProjectionType: 'ALL' as const },
    })),
  };
}

/** Creates the table (an existing one is kept) and waits until it is ACTIVE. */
export async function createJobTable(
  client: DynamoDBClient,
  tableName: string,
  options: { readonly timeoutMs?: number } = {},
): Promise<void> {
  try {
    await client.send(new CreateTableCommand(jobTableDefinition(tableName)));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const indexesActive = (Table?.GlobalSecondaryIndexes ?? []).every((index) => index.IndexStatus === 'ACTIVE');
    if (Table?.TableStatus === 'ACTIVE' && indexesActive) return;
    if (Date.now() > deadline) {
      throw new Error(`Table ${tableName} did not become ACTIVE within ${options.timeoutMs ?? 30_000} ms (status ${Table?.TableStatus}).`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
