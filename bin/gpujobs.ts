#!/usr/bin/env node
// The CDK app (cdk.json "app"): the gpujobs stack plus cdk-nag and cfn-guard, which fail
// synthesis on any finding not acknowledged with a reason in lib/acknowledgments.ts.
import { createApp } from '../lib/app.js';

// The stack is environment-agnostic and deploys to the CLI's region, which the CLI passes in
// CDK_DEFAULT_REGION (https://docs.aws.amazon.com/cdk/v2/guide/configure-env.html): synthesis
// checks that it offers every configured instance type.
createApp({ region: process.env.CDK_DEFAULT_REGION }).app.synth();
