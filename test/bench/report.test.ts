import { describe, expect, it } from 'vitest';
import { figure, formatFigureLine, meetsGoal, resultsRow, upsertResultsRow, type BenchmarkResult } from '../../bench/support/report.js';

const machine = {
  cpuModel: 'AMD EPYC',
  cores: 2,
  memoryGiB: 8,
  loadAverage1m: 0.5,
  platform: 'linux-x64',
  node: 'v20.20.2',
  date: '2026-11-22T03:00:00Z',
  commit: 'abc1234',
};

function result(benchmark: string, value: number): BenchmarkResult {
  return {
    benchmark,
    title: 't',
    machine,
    durationSeconds: 1,
    figures: [figure({ id: 'rate', label: 'rate', value, unit: '/s', goal: { comparison: '>=', value: 45 } })],
    notes: [],
    details: {},
  };
}

describe('verdicts', () => {
  it('passes a figure that meets its goal and misses one that does not', () => {
    expect(figure({ id: 'a', label: 'a', value: 45, unit: '/s', goal: { comparison: '>=', value: 45 } }).verdict).toBe('PASS');
    expect(figure({ id: 'a', label: 'a', value: 44.9, unit: '/s', goal: { comparison: '>=', value: 45 } }).verdict).toBe('MISS');
    expect(figure({ id: 'b', label: 'b', value: 26, unit: 'ms', goal: { comparison: '<=', value: 25 } }).verdict).toBe('MISS');
    expect(figure({ id: 'c', label: 'c', value: 0, unit: 'jobs', goal: { comparison: '==', value: 0 } }).verdict).toBe('PASS');
  });

  it('misses a figure that could not be measured', () => {
    expect(meetsGoal(null, { comparison: '<=', value: 1 })).toBe(false);
    expect(figure({ id: 'a', label: 'a', value: null, unit: 's', goal: { comparison: '<=', value: 1 } }).verdict).toBe('MISS');
  });

  it('marks a figure without a goal as information only', () => {
    expect(figure({ id: 'a', label: 'a', value: 3, unit: 's' }).verdict).toBe('INFO');
  });

  it('prints the value next to its goal and verdict', () => {
    const line = formatFigureLine(
      figure({ id: 'a', label: 'submit p99', value: 31.25, unit: 'ms', goal: { comparison: '<=', value: 25 } }),
    );
    expect(line).toMatch(/submit p99\s+31\.3 ms\s+goal ≤ 25\.0 ms\s+MISS/);
  });
});

describe('RESULTS.md rows', () => {
  it('adds a table with the first row to an empty file', () => {
    const markdown = upsertResultsRow('', 'dispatch-rate', resultsRow(result('dispatch-rate', 48)));
    expect(markdown).toContain('| benchmark | verdicts |');
    expect(markdown).toContain(
      '| dispatch-rate | 1 PASS, 0 MISS | rate 48.0/s (≥ 45.0/s: PASS) | AMD EPYC, 2 cores (load 0.5) | v20.20.2 | 2026-11-22T03:00:00Z | abc1234 |',
    );
  });

  it('replaces the row of a benchmark that ran again and keeps the others', () => {
    // GIVEN rows for two benchmarks
    let markdown = upsertResultsRow('', 'bundles', resultsRow(result('bundles', 50)));
    markdown = upsertResultsRow(markdown, 'dispatch-rate', resultsRow(result('dispatch-rate', 48)));
    // WHEN dispatch-rate runs again with a miss
    markdown = upsertResultsRow(markdown, 'dispatch-rate', resultsRow(result('dispatch-rate', 30)));
    // THEN one row each, the new one in place
    const rows = markdown.split('\n').filter((line) => line.startsWith('| dispatch-rate |'));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toContain('rate 30.0/s (≥ 45.0/s: MISS)');
    expect(markdown).toContain('| bundles |');
  });
});
