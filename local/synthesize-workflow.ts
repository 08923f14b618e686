/**
 * Run as its own process by workflow-definition.ts: synthesizes the app and writes the resolved
 * job workflow to the file named on the command line. Synthesis loads aws-cdk-lib, which would
 * otherwise stay in the platform's memory for as long as it runs and make every job's process
 * spawn (which copies the platform's page tables) several times slower.
 *
 * Usage: synthesize-workflow.ts <output file> <region> <account>
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../lib/app.js';
import {
  resolveJobWorkflowDefinition,
  standInResourceAttributes,
  type CloudFormationTemplate,
} from '../lib/workflow/resolve-definition.js';

const [outputFile, region, accountId] = process.argv.slice(2);
if (!outputFile || !region || !accountId) {
  process.stderr.write('Usage: synthesize-workflow.ts <output file> <region> <account>\n');
  process.exit(2);
}

const outdir = mkdtempSync(join(tmpdir(), 'gpujobs-local-synth-'));
try {
  // Without bundling the handlers: the definition does not need their assets.
  const { app, stack } = createApp({ context: { 'aws:cdk:bundling-stacks': [] }, outdir });
  const template = app.synth().getStackArtifact(stack.artifactId).template as CloudFormationTemplate;
  const pseudoParameters = { region, accountId };
  const { logicalId, definition } = resolveJobWorkflowDefinition(template, {
    resources: standInResourceAttributes(template, pseudoParameters),
    pseudoParameters,
  });
  writeFileSync(outputFile, JSON.stringify({ definition, logicalId }));
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
