/** The first job the banner prints is the one the README shows, so that both tell the same story. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FIRST_JOB } from '../../local/first-job.js';

describe('the first job', () => {
  it('is the job the README’s first curl example submits', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const body = /\/v1\/jobs[^`]*?-d '(\{.*?\})'/s.exec(readme)?.[1];

    expect(body).toBeDefined();
    expect(JSON.parse(body!)).toEqual(FIRST_JOB);
  });

  it('names a fully qualified image, so that podman pulls it without a short-name prompt', () => {
    expect(FIRST_JOB.image).toMatch(/^[a-z0-9.-]+\.[a-z]+\/[^/]+\/[^:]+:[^:]+$/);
  });
});
