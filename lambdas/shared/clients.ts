/**
 * Client construction shared by the handlers. Each handler calls these once at module scope,
 * with the SDK's default configuration: region, credentials and endpoints (local mode's
 * AWS_ENDPOINT_URL_<SERVICE>) all come from the environment.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** Optional fields of a record are simply absent, never stored as NULL. */
export function createDocumentClient(client: DynamoDBClient = new DynamoDBClient({})): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}
