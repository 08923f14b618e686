/**
 * What a process can be started with: checked at submit, after the spec is valid, so a job that
 * no executor could start is refused before it is queued.
 */
import type { JobSpec } from './job.js';
import { describeReceived, type ValidationIssue } from './spec.js';

const NUL = '\u0000';

/**
 * A valid spec whose command or environment no executor can start: a process is started with
 * execve(2), whose program path, arguments and `NAME=value` environment entries are NUL-terminated
 * C strings (https://man7.org/linux/man-pages/man2/execve.2.html), so a NUL byte cannot be passed
 * and an empty program names no file. Such a job could only fail once its attempt starts, so the
 * API refuses it at submit (422, like the other checks of a valid spec against what runs it).
 * Environment names cannot hold a NUL: the schema's name pattern refuses it. Values are never
 * echoed, only their length.
 */
export function checkExecutable(spec: Pick<JobSpec, 'command' | 'environment'>): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  spec.command.forEach((item, index) => {
    if (index === 0 && item.length === 0) {
      issues.push({ path: 'command.0', message: 'must name the program to run, received ""' });
    } else if (item.includes(NUL)) {
      issues.push({
        path: `command.${index}`,
        message: `must not contain a NUL character (U+0000), which cannot be passed to a process; received ${describeReceived(item)}`,
      });
    }
  });
  for (const [name, value] of Object.entries(spec.environment)) {
    if (!value.includes(NUL)) continue;
    issues.push({
      path: `environment.${name}`,
      message: `must not contain a NUL character (U+0000), which cannot be passed to a process; received a value of ${value.length} characters`,
    });
  }
  return issues;
}
