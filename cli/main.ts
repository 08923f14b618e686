/** The process edge: real streams, real environment, exit code to the shell. */
import { runCli } from './run.js';

// The SDK warns on Node 20 about its releases from 2027 on; the project supports Node 20, and the
// warning would otherwise land in the middle of `configure` output on every run.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  isTTY: Boolean(process.stdout.isTTY),
});
process.exitCode = exitCode;
