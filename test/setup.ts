// Node 20 lacks Promise.withResolvers, which aws-local-stepfunctions uses in every Task state.
import '../local/polyfills.js';

// Tests never reach AWS: fixed region and dummy credentials for every SDK client.
process.env.AWS_REGION ??= 'us-east-1';
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
