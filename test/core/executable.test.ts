import { describe, expect, it } from 'vitest';
import { checkExecutable } from '../../core/executable.js';
import { parseJobSpec } from '../../core/spec.js';

describe('checkExecutable', () => {
  const spec = (overrides: { command?: string[]; environment?: Record<string, string> }) => ({
    command: ['echo', 'hi'],
    environment: {},
    ...overrides,
  });

  it('accepts a command and environment a process can be started with, empty arguments included', () => {
    expect(checkExecutable(spec({ command: ['echo', ''], environment: { A: '', B: 'x=y' } }))).toEqual([]);
  });

  it('fails on an empty program, naming command.0', () => {
    expect(checkExecutable(spec({ command: [''] }))).toEqual([{ path: 'command.0', message: 'must name the program to run, received ""' }]);
  });

  it.each([
    ['the program', ['ec\u0000ho'], 'command.0'],
    ['an argument', ['echo', 'a', 'b\u0000c'], 'command.2'],
  ])('fails on a NUL byte in %s, naming the item', (_case, command, path) => {
    expect(checkExecutable(spec({ command }))).toEqual([{ path, message: expect.stringContaining('must not contain a NUL character') }]);
  });

  it('fails on a NUL byte in an environment value, naming the variable but not echoing its value', () => {
    const issues = checkExecutable(spec({ environment: { OK: 'fine', TOKEN: 's3cr3t\u0000tail' } }));
    expect(issues).toEqual([{ path: 'environment.TOKEN', message: expect.stringContaining('received a value of 11 characters') }]);
    expect(JSON.stringify(issues)).not.toContain('s3cr3t');
  });

  it('reports every offending item at once', () => {
    const issues = checkExecutable(spec({ command: ['', 'a\u0000'], environment: { A: '\u0000' } }));
    expect(issues.map((issue) => issue.path)).toEqual(['command.0', 'command.1', 'environment.A']);
  });

  it('leaves a NUL in an environment name to the schema, which refuses it', () => {
    const parsed = parseJobSpec({ image: 'pytorch/pytorch:2.3', command: ['python', 'train.py'], environment: { 'A\u0000B': 'x' } });
    expect(parsed.ok ? [] : parsed.errors).toEqual([{ path: 'environment.A\u0000B', message: expect.stringContaining('must match') }]);
  });
});
