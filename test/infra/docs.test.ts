import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS } from '../../lib/config.js';

/** Keys named in the first column of a markdown table (`key` or `key` / `key`). */
function documentedKeys(markdown: string): string[] {
  return markdown
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .flatMap((line) => [...line.split('|')[1]!.matchAll(/`([A-Za-z]+)`/g)].map((match) => match[1]!));
}

describe('configuration docs', () => {
  it.each(['README.md', 'docs/configuration.md'])('%s documents exactly the keys the stack accepts', (file) => {
    const keys = documentedKeys(readFileSync(file, 'utf8'));
    expect(new Set(keys)).toEqual(new Set(CONFIG_KEYS));
  });
});
