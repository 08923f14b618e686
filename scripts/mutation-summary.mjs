#!/usr/bin/env node
// Writes bench/results/mutation.json from Stryker's JSON report (reports/mutation/mutation.json):
// the mutation score and the count of each outcome, in total and per mutated file, and every
// surviving mutant by place, so bench/results/mutation.md can give each one its reason.
// Usage: node scripts/mutation-summary.mjs [--out=bench/results/mutation.json] [report ...]
// Several reports (e.g. a full run and a later run on some files) merge file by file, the later
// report's results for a file replacing the earlier's.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, relative, resolve } from 'node:path';

const args = process.argv.slice(2);
const outputPath = resolve(args.find((arg) => arg.startsWith('--out='))?.slice('--out='.length) ?? 'bench/results/mutation.json');
const reportPaths = args.filter((arg) => !arg.startsWith('--out=')).map((path) => resolve(path));
if (reportPaths.length === 0) reportPaths.push(resolve('reports/mutation/mutation.json'));
const reportFiles = {};
for (const reportPath of reportPaths) {
  if (!existsSync(reportPath)) {
    console.error(`No Stryker report at ${reportPath}; run \`npm run mutation\` first.`);
    process.exit(1);
  }
  const report = JSON.parse(readFileSync(reportPath, 'utf8'));
  if (typeof report.files !== 'object' || report.files === null) {
    throw new Error(`${reportPath} is not a Stryker mutation report: it has no "files". Received keys ${Object.keys(report).join(', ')}.`);
  }
  for (const [path, file] of Object.entries(report.files)) reportFiles[relative(process.cwd(), resolve(path))] = file;
}

/** Stryker's statuses, as the summary names them. */
const OUTCOMES = {
  Killed: 'killed',
  Survived: 'survived',
  Timeout: 'timeout',
  NoCoverage: 'noCoverage',
  CompileError: 'errors',
  RuntimeError: 'errors',
  Ignored: 'ignored',
  Pending: 'pending',
};

function emptyCounts() {
  return { score: null, killed: 0, survived: 0, timeout: 0, noCoverage: 0, errors: 0, ignored: 0, pending: 0 };
}

/** Stryker's score: detected (killed or timed out) over valid mutants (detected, survived, no coverage). */
function withScore(counts) {
  const detected = counts.killed + counts.timeout;
  const valid = detected + counts.survived + counts.noCoverage;
  return { ...counts, score: valid === 0 ? null : Math.round((10_000 * detected) / valid) / 100 };
}

const total = emptyCounts();
const files = {};
const survivors = [];
for (const [path, file] of Object.entries(reportFiles)) {
  const counts = emptyCounts();
  for (const mutant of file.mutants ?? []) {
    const outcome = OUTCOMES[mutant.status];
    if (!outcome) throw new Error(`Mutant ${mutant.id} in ${path} has a status this script does not know. Received ${mutant.status}.`);
    counts[outcome] += 1;
    total[outcome] += 1;
    if (mutant.status === 'Survived' || mutant.status === 'NoCoverage') {
      survivors.push({
        file: path,
        line: mutant.location?.start?.line,
        status: mutant.status,
        mutator: mutant.mutatorName,
        replacement: mutant.replacement,
      });
    }
  }
  files[path] = withScore(counts);
}

function commit() {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${sha}-dirty` : sha;
  } catch {
    return 'unknown';
  }
}

const strykerVersion = JSON.parse(readFileSync('node_modules/@stryker-mutator/core/package.json', 'utf8')).version;
const summary = {
  benchmark: 'mutation',
  title: 'Stryker mutation score of core/ and the job stores against the fast tests (vitest.mutation.config.ts)',
  machine: {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((10 * totalmem()) / 2 ** 30) / 10,
    node: process.version,
    date: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    commit: commit(),
  },
  stryker: strykerVersion,
  reports: reportPaths.map((path) => relative(process.cwd(), path)),
  files: Object.keys(files).length,
  total: withScore(total),
  perFile: Object.fromEntries(Object.entries(files).sort(([left], [right]) => left.localeCompare(right))),
  survivors: survivors.sort((left, right) => left.file.localeCompare(right.file) || left.line - right.line),
};
mkdirSync(dirname(outputPath), { recursive: true });
writeFileSync(outputPath, `${JSON.stringify(summary, null, 2)}\n`);
console.log(
  `Mutation score ${summary.total.score}% (${total.killed} killed, ${total.timeout} timed out, ${total.survived} survived, ${total.noCoverage} without coverage) over ${summary.files} files: ${relative(process.cwd(), outputPath)}`,
);
