import { execFile } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../cli/run.js';
import { cli } from './run-cli.js';

const run = promisify(execFile);
const BIN = resolve('cli/bin.js');

describe('help', () => {
  it.each(COMMANDS.map((command) => command.name))('shows the same help for `help %s` and `%s --help`, with examples', async (name) => {
    const viaHelp = await cli(['help', name]);
    const viaFlag = await cli([name, '--help']);

    expect(viaHelp.code).toBe(0);
    expect(viaFlag).toEqual(viaHelp);
    expect(viaHelp.stdout).toMatch(new RegExp(`^Usage: gpujobs ${name}`));
    expect(viaHelp.stdout).toContain('Examples:\n  gpujobs ');
    expect(viaHelp.stdout).toContain('--endpoint <url>');
  });

  it("describes a global option in the command's own words where it has them", async () => {
    const logs = await cli(['help', 'logs']);
    const doctor = await cli(['doctor', '--help']);

    expect(logs.stdout).toMatch(/^ {2}--json +one JSON object per line: \{"attempt", "timestamp", "message"\}$/m);
    expect(doctor.stdout).toMatch(/^ {2}--region <region> +the region to check \(quotas are per region/m);
    expect(doctor.stdout).toMatch(/^ {2}--endpoint <url> +API URL/m);
  });

  it('lists every command in the overview', async () => {
    const result = await cli(['--help']);

    expect(result.code).toBe(0);
    for (const command of COMMANDS) expect(result.stdout).toMatch(new RegExp(`^  ${command.name} +\\S`, 'm'));
  });

  it('prints the overview on stderr and exits 2 when no command is given', async () => {
    const result = await cli([]);

    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('Usage: gpujobs <command>');
  });

  it('exits 2 for an unknown command, naming the known ones', async () => {
    const result = await cli(['lunch']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown command 'lunch'");
    expect(result.stderr).toContain('Commands: submit, get, list, cancel, logs, watch, configure, smoke, doctor.');
  });

  it('exits 2 naming the topic when `help` is asked about an unknown command', async () => {
    const result = await cli(['help', 'lunch']);

    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain("unknown command 'lunch'");
    expect(result.stderr).toContain('Commands: submit, get, list, cancel, logs, watch, configure, smoke, doctor.');
  });

  it('suggests the command meant when one is mistyped, and exits 2', async () => {
    const result = await cli(['sumbit', '--image', 'alpine']);

    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain("unknown command 'sumbit'\n(Did you mean submit?)");
  });

  it("suggests the option meant when one is mistyped, and points to the command's help", async () => {
    const result = await cli(['list', '--stauts', 'FAILED']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown option '--stauts'\n(Did you mean --status?)");
    expect(result.stderr).toContain('See `gpujobs help list`.');
  });

  it('exits 2 naming the option when its value is missing', async () => {
    const result = await cli(['logs', 'J1', '--attempt']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain("option '--attempt <n>' argument missing");
    expect(result.stderr).toContain('See `gpujobs help logs`.');
  });

  it('exits 2 when a job id is missing', async () => {
    const result = await cli(['get']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('a job id is required.');
    expect(result.stderr).toContain('gpujobs help get');
  });
});

describe('the gpujobs executable', () => {
  it('runs from another working directory, and through a node_modules/.bin style symlink', async () => {
    // GIVEN a directory outside the project with a symlink to the bin, as npm installs it
    const elsewhere = mkdtempSync(join(tmpdir(), 'gpujobs-cli-cwd-'));
    const link = join(elsewhere, 'gpujobs');
    symlinkSync(BIN, link);

    // WHEN
    const direct = await run(process.execPath, [BIN, 'help', 'logs'], { cwd: elsewhere });
    const linked = await run(link, ['--version'], { cwd: elsewhere });

    // THEN
    expect(direct.stdout).toMatch(/^Usage: gpujobs logs JOB_ID/);
    expect(linked.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('exits 1 with the endpoint named when nothing listens there', async () => {
    // GIVEN a port that nothing listens on
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));

    // WHEN
    const failure = await run(process.execPath, [BIN, 'list', '--endpoint', `http://127.0.0.1:${port}`], { cwd: tmpdir() }).catch(
      (error: { code: number; stderr: string }) => error,
    );

    // THEN
    expect(failure).toMatchObject({ code: 1 });
    expect((failure as { stderr: string }).stderr).toContain(`cannot reach gpujobs at http://127.0.0.1:${port} (ECONNREFUSED)`);
  });
});
