/**
 * Run as its own process by workflow-definition.ts: writes jobWorkflowAsl for the ARNs given as
 * JSON on the command line to stdout.
 *
 * Usage: build-workflow.ts '<JobWorkflowArns as JSON>'
 */
import { jobWorkflowAsl, type JobWorkflowArns } from '../lib/workflow/job-workflow.js';

const [arns] = process.argv.slice(2);
if (!arns) {
  process.stderr.write("Usage: build-workflow.ts '<JobWorkflowArns as JSON>'\n");
  process.exit(2);
}
process.stdout.write(JSON.stringify(jobWorkflowAsl(JSON.parse(arns) as JobWorkflowArns)));
