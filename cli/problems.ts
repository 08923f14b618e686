/**
 * Turns every error a command can end with into readable lines and an exit code:
 * the API's problem details, an unreachable endpoint, a usage mistake.
 */
import { ApiProblemError, EndpointUnreachableError, UnexpectedResponseError, type FieldError } from './client.js';
import { EXIT, UsageError } from './command.js';
import { ConfigFileError, InvalidEndpointError } from './config.js';
import type { Terminal } from './terminal.js';

export function printFieldErrors(term: Terminal, errors: readonly FieldError[]): void {
  for (const error of errors) term.err(`  ${term.bold(error.path === '' ? '(body)' : error.path)}: ${error.message}`);
}

/** Prints the error for a person (or as JSON with --json) and says which exit code it means. */
export function reportError(term: Terminal, error: unknown, json: boolean): number {
  if (error instanceof ApiProblemError) {
    const { problem } = error;
    if (json) {
      term.err(JSON.stringify(problem, null, 2));
      return EXIT.failure;
    }
    term.err(`${term.red('error:')} ${problem.title} (HTTP ${problem.status})`);
    if (problem.detail) term.err(`  ${problem.detail}`);
    if (problem.errors) printFieldErrors(term, problem.errors);
    if (problem.requestId) term.err(term.dim(`  request id: ${problem.requestId}`));
    return EXIT.failure;
  }
  if (error instanceof EndpointUnreachableError) {
    term.err(`${term.red('error:')} ${error.message}`);
    term.err(`  ${error.hint}`);
    return EXIT.failure;
  }
  if (error instanceof UsageError) {
    term.err(`${term.red('error:')} ${error.message}`);
    term.err(term.dim(`  See \`gpujobs help${error.command ? ` ${error.command}` : ''}\`.`));
    return EXIT.usage;
  }
  if (error instanceof InvalidEndpointError || error instanceof ConfigFileError || error instanceof UnexpectedResponseError) {
    term.err(`${term.red('error:')} ${error.message}`);
    return EXIT.failure;
  }
  // Anything else is a bug or an environment problem: say what, keep the stack for debugging.
  const message = error instanceof Error ? error.message : String(error);
  term.err(`${term.red('error:')} ${message}`);
  return EXIT.failure;
}
