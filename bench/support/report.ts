/**
 * How a benchmark states its figures: each with its unit and, where the project sets one, its goal
 * and a PASS or MISS. The JSON goes to bench/results/<name>.json; one row per benchmark is
 * kept in bench/RESULTS.md.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MachineInfo } from './machine.js';

export const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));
export const RESULTS_DIR = join(BENCH_DIR, 'results');
export const RESULTS_MARKDOWN = join(BENCH_DIR, 'RESULTS.md');

export type Comparison = '<=' | '>=' | '==';

export interface Goal {
  readonly comparison: Comparison;
  readonly value: number;
}

export type Verdict = 'PASS' | 'MISS' | 'INFO';

export interface Figure {
  readonly id: string;
  readonly label: string;
  /** null when the figure could not be measured (that is a MISS when it has a goal). */
  readonly value: number | null;
  readonly unit: string;
  readonly goal?: Goal;
  readonly verdict: Verdict;
  /** What the number includes or why it missed. */
  readonly note?: string;
}

export interface FigureInput {
  readonly id: string;
  readonly label: string;
  readonly value: number | null;
  readonly unit: string;
  readonly goal?: Goal;
  readonly note?: string;
  /** Decimal places when printed. @default 1 */
  readonly digits?: number;
}

export function meetsGoal(value: number | null, goal: Goal): boolean {
  if (value === null || Number.isNaN(value)) return false;
  switch (goal.comparison) {
    case '<=':
      return value <= goal.value;
    case '>=':
      return value >= goal.value;
    case '==':
      return value === goal.value;
  }
}

export function figure(input: FigureInput): Figure & { readonly digits: number } {
  const verdict: Verdict = input.goal ? (meetsGoal(input.value, input.goal) ? 'PASS' : 'MISS') : 'INFO';
  return { ...input, verdict, digits: input.digits ?? 1 };
}

const COMPARISON_TEXT: Record<Comparison, string> = { '<=': '≤', '>=': '≥', '==': '=' };

export function formatNumber(value: number | null, digits = 1): string {
  if (value === null || Number.isNaN(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function unitSuffix(unit: string): string {
  return unit === '' ? '' : unit.startsWith('/') || unit === '%' ? unit : ` ${unit}`;
}

export function formatGoal(goal: Goal, unit: string, digits = 1): string {
  return `${COMPARISON_TEXT[goal.comparison]} ${formatNumber(goal.value, digits)}${unitSuffix(unit)}`;
}

/** One line per figure: label, value, goal, verdict. */
export function formatFigureLine(f: Figure & { readonly digits?: number }): string {
  const digits = f.digits ?? 1;
  const value = `${formatNumber(f.value, digits)}${f.value === null ? '' : unitSuffix(f.unit)}`;
  const goal = f.goal ? `goal ${formatGoal(f.goal, f.unit, digits)}` : '';
  const verdict = f.verdict === 'INFO' ? '' : f.verdict;
  return `  ${f.label.padEnd(46)} ${value.padStart(16)}  ${goal.padEnd(22)} ${verdict}${f.note ? `  (${f.note})` : ''}`.trimEnd();
}

export interface BenchmarkResult {
  readonly benchmark: string;
  readonly title: string;
  readonly machine: MachineInfo;
  readonly durationSeconds: number;
  readonly figures: readonly (Figure & { readonly digits?: number })[];
  /** Conditions, assumptions and explanations of misses. */
  readonly notes: readonly string[];
  /** Raw measurements behind the figures. */
  readonly details: Record<string, unknown>;
}

export function countVerdicts(figures: readonly Figure[]): { pass: number; miss: number } {
  return {
    pass: figures.filter((f) => f.verdict === 'PASS').length,
    miss: figures.filter((f) => f.verdict === 'MISS').length,
  };
}

export function formatResult(result: BenchmarkResult): string {
  const { pass, miss } = countVerdicts(result.figures);
  return [
    `${result.benchmark}: ${result.title}`,
    ...result.figures.map(formatFigureLine),
    ...result.notes.map((note) => `  - ${note}`),
    `  ${pass} PASS, ${miss} MISS in ${result.durationSeconds.toFixed(1)} s`,
  ].join('\n');
}

export function writeResultJson(result: BenchmarkResult, directory = RESULTS_DIR): string {
  mkdirSync(directory, { recursive: true });
  const file = join(directory, `${result.benchmark}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

const TABLE_HEADER = [
  '| benchmark | verdicts | figures (value, goal, verdict) | machine | Node | date | commit |',
  '|---|---|---|---|---|---|---|',
];

const MARKDOWN_PREAMBLE = [
  '# Benchmark results',
  '',
  'Latest run of each benchmark (`npm run bench`, or `npm run bench -- <name>` for one). Each row is',
  'replaced when its benchmark runs again; the full figures, conditions and raw measurements are in',
  '`bench/results/<name>.json`. What each benchmark does and how to read it: docs/performance.md.',
  '',
];

/** The RESULTS.md row of one result: every figure with its goal and verdict, then where and when it ran. */
export function resultsRow(result: BenchmarkResult): string {
  const { pass, miss } = countVerdicts(result.figures);
  const figures = result.figures
    .map((f) => {
      const value = `${formatNumber(f.value, f.digits ?? 1)}${f.value === null ? '' : unitSuffix(f.unit)}`;
      return f.goal ? `${f.label} ${value} (${formatGoal(f.goal, f.unit, f.digits ?? 1)}: ${f.verdict})` : `${f.label} ${value}`;
    })
    .join('; ')
    .replaceAll('|', '\\|');
  const m = result.machine;
  return `| ${result.benchmark} | ${pass} PASS, ${miss} MISS | ${figures} | ${m.cpuModel}, ${m.cores} cores (load ${m.loadAverage1m.toFixed(1)}) | ${m.node} | ${m.date} | ${m.commit} |`;
}

/** Replaces the benchmark's row (or appends it), keeping the other rows as they are. */
export function upsertResultsRow(markdown: string, benchmark: string, row: string): string {
  const lines = markdown.trim() === '' ? [...MARKDOWN_PREAMBLE, ...TABLE_HEADER] : markdown.replace(/\n+$/, '').split('\n');
  if (!lines.some((line) => line.startsWith('| benchmark |'))) lines.push('', ...TABLE_HEADER);
  const prefix = `| ${benchmark} |`;
  const index = lines.findIndex((line) => line.startsWith(prefix));
  if (index >= 0) lines[index] = row;
  else lines.push(row);
  return `${lines.join('\n')}\n`;
}

export function recordResult(result: BenchmarkResult): { json: string; markdown: string } {
  const json = writeResultJson(result);
  const current = existsSync(RESULTS_MARKDOWN) ? readFileSync(RESULTS_MARKDOWN, 'utf8') : '';
  mkdirSync(dirname(RESULTS_MARKDOWN), { recursive: true });
  writeFileSync(RESULTS_MARKDOWN, upsertResultsRow(current, result.benchmark, resultsRow(result)));
  return { json, markdown: RESULTS_MARKDOWN };
}
