import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeApi, type FakeApi } from './fake-api.js';
import { cli, isolatedConfigHome } from './run-cli.js';

const cloudFormation = mockClient(CloudFormationClient);

const stackWithOutputs = (outputs: { OutputKey: string; OutputValue: string }[]) => ({
  Stacks: [{ StackName: 'GpuJobs', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE' as const, Outputs: outputs }],
});

describe('gpujobs configure', () => {
  let configHome: string;

  beforeEach(() => {
    cloudFormation.reset();
    configHome = isolatedConfigHome();
  });

  it("saves the stack's ApiUrl output and region to $XDG_CONFIG_HOME/gpujobs/config.json", async () => {
    // GIVEN
    cloudFormation.on(DescribeStacksCommand, { StackName: 'GpuJobs' }).resolves(
      stackWithOutputs([
        { OutputKey: 'EventBusName', OutputValue: 'gpujobs' },
        { OutputKey: 'ApiUrl', OutputValue: 'https://abc123.execute-api.eu-west-1.amazonaws.com/' },
      ]),
    );

    // WHEN
    const result = await cli(['configure', '--stack', 'GpuJobs', '--region', 'eu-west-1'], { env: { XDG_CONFIG_HOME: configHome } });

    // THEN
    expect(result.code).toBe(0);
    const path = join(configHome, 'gpujobs', 'config.json');
    expect(result.stdout).toContain(`Saved https://abc123.execute-api.eu-west-1.amazonaws.com/ (stack GpuJobs, eu-west-1) to ${path}`);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
      endpoint: 'https://abc123.execute-api.eu-west-1.amazonaws.com/',
      region: 'eu-west-1',
      stack: 'GpuJobs',
    });
  });

  it('falls back to ~/.config/gpujobs/config.json without XDG_CONFIG_HOME', async () => {
    cloudFormation.on(DescribeStacksCommand).resolves(stackWithOutputs([{ OutputKey: 'ApiUrl', OutputValue: 'https://api.example.com' }]));
    const home = isolatedConfigHome();

    const result = await cli(['configure', '--stack', 'GpuJobs', '--json'], {
      env: { XDG_CONFIG_HOME: '', HOME: home, AWS_REGION: 'us-east-2' },
    });

    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      endpoint: 'https://api.example.com',
      region: 'us-east-2',
      stack: 'GpuJobs',
      configFile: join(home, '.config', 'gpujobs', 'config.json'),
    });
  });

  it('explains which outputs the stack has when ApiUrl is missing', async () => {
    cloudFormation.on(DescribeStacksCommand).resolves(stackWithOutputs([{ OutputKey: 'BucketName', OutputValue: 'b' }]));

    const result = await cli(['configure', '--stack', 'Other', '--region', 'eu-west-1'], { env: { XDG_CONFIG_HOME: configHome } });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('stack Other has no output "ApiUrl" (outputs: BucketName)');
  });

  it('says the stack does not exist when CloudFormation says so', async () => {
    cloudFormation
      .on(DescribeStacksCommand)
      .rejects(Object.assign(new Error('Stack with id Missing does not exist'), { name: 'ValidationError' }));

    const result = await cli(['configure', '--stack', 'Missing', '--region', 'eu-west-1'], { env: { XDG_CONFIG_HOME: configHome } });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('stack Missing does not exist in this account and region; check --stack and --region.');
  });

  it('needs --stack', async () => {
    const result = await cli(['configure'], { env: { XDG_CONFIG_HOME: configHome } });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--stack NAME is required.');
  });
});

describe('endpoint precedence', () => {
  let api: FakeApi;
  let other: FakeApi;

  beforeEach(async () => {
    api = await startFakeApi();
    other = await startFakeApi();
  });

  afterEach(async () => {
    await api.stop();
    await other.stop();
    cloudFormation.reset();
  });

  it('uses the configured stack, unless GPUJOBS_ENDPOINT or --endpoint say otherwise', async () => {
    // GIVEN a saved configuration pointing at `api`
    const configHome = isolatedConfigHome();
    cloudFormation.on(DescribeStacksCommand).resolves(stackWithOutputs([{ OutputKey: 'ApiUrl', OutputValue: api.url }]));
    await cli(['configure', '--stack', 'Local', '--region', 'eu-west-1'], { env: { XDG_CONFIG_HOME: configHome } });

    // WHEN
    await cli(['list'], { env: { XDG_CONFIG_HOME: configHome } });
    await cli(['list'], { env: { XDG_CONFIG_HOME: configHome, GPUJOBS_ENDPOINT: other.url } });
    await cli(['list', '--endpoint', other.url], { env: { XDG_CONFIG_HOME: configHome, GPUJOBS_ENDPOINT: 'http://127.0.0.1:1' } });

    // THEN
    expect(api.requests).toHaveLength(1);
    expect(other.requests).toHaveLength(2);
  });

  it('names the config file when it is not valid JSON', async () => {
    const configHome = isolatedConfigHome();
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(join(configHome, 'gpujobs'));
    writeFileSync(join(configHome, 'gpujobs', 'config.json'), '{not json');

    const result = await cli(['list'], { env: { XDG_CONFIG_HOME: configHome } });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${join(configHome, 'gpujobs', 'config.json')} is not valid JSON`);
  });
});
