/**
 * Benchmarks never reach AWS: every client they or the handlers create signs with dummy
 * credentials and talks to loopback stand-ins. Credentials are forced, not defaulted, so a
 * developer's real ones are never used by accident.
 */
export const BENCH_REGION = 'us-east-1';
export const BENCH_ACCOUNT = '000000000000';

export function useOfflineAwsEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  env.AWS_REGION = BENCH_REGION;
  env.AWS_DEFAULT_REGION = BENCH_REGION;
  env.AWS_ACCESS_KEY_ID = 'bench';
  env.AWS_SECRET_ACCESS_KEY = 'bench';
  delete env.AWS_SESSION_TOKEN;
  delete env.AWS_PROFILE;
  env.AWS_EC2_METADATA_DISABLED = 'true';
  // The SDK's warning about Node 20 would print once per process and clutter the figures.
  env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = '1';
}
