import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { JOB_TABLE } from '../core/table.js';

export interface JobTableProps {
  /**
   * What happens to the table (and every job record) when the stack is deleted.
   * With RETAIN the table also gets deletion protection.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The job table, the record of truth for jobs (Batch forgets finished jobs): on-demand
 * capacity so an idle table costs nothing, point-in-time recovery, encryption with the
 * AWS managed KMS key, and a TTL that expires idempotency records. Keys and indexes
 * come from core/table.ts, which the handlers and local mode use too.
 */
export class JobTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: JobTableProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const key = (name: string): dynamodb.Attribute => ({ name, type: dynamodb.AttributeType.STRING });

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: key(JOB_TABLE.partitionKey),
      sortKey: key(JOB_TABLE.sortKey),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: JOB_TABLE.timeToLiveAttribute,
      deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
      removalPolicy,
    });
    for (const index of Object.values(JOB_TABLE.indexes)) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: key(index.partitionKey),
        sortKey: key(index.sortKey),
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }
  }

  /** Reading jobs (GetItem, Query on the indexes). */
  grantRead(grantee: iam.IGrantable): iam.Grant {
    return this.table.grantReadData(grantee);
  }

  /** Reading and conditionally writing jobs and idempotency records. */
  grantReadWrite(grantee: iam.IGrantable): iam.Grant {
    return this.table.grantReadWriteData(grantee);
  }
}
