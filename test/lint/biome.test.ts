/**
 * The code is formatted and linted as biome.json says, so `npm test` fails on a change that is
 * not (run `npm run format` to apply the formatter and the safe fixes).
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const biomeBin = createRequire(import.meta.url).resolve('@biomejs/biome/bin/biome');

describe('the code base', () => {
  it('passes Biome’s formatter and linter with no finding', () => {
    const run = spawnSync(process.execPath, [biomeBin, 'ci', '--max-diagnostics=50', '.'], { encoding: 'utf8', timeout: 120_000 });
    expect(run.error).toBeUndefined();
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
  }, 130_000);
});
