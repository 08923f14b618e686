#!/usr/bin/env node
// The CDK app (cdk.json "app"): the gpujobs stack plus cdk-nag and cfn-guard, which fail
// synthesis on any finding not acknowledged with a reason in lib/acknowledgments.ts.
import { createApp } from '../lib/app.js';

createApp().app.synth();
