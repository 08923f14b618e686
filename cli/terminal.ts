/**
 * Output that suits where it goes: colours and a redrawn status line on a
 * terminal, plain lines when piped or when NO_COLOR is set.
 */
import { styleText } from 'node:util';
import type { JobStatus } from '../core/job.js';

export interface TextSink {
  write(text: string): unknown;
}

export interface TerminalOptions {
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  readonly isTTY: boolean;
  readonly color: boolean;
}

type Paint = (text: string) => string;

/**
 * Whether to colour is decided once, by shouldUseColor, for the streams this terminal writes to
 * (which are not process.stdout in tests); styleText must not second-guess it from process.stdout.
 */
const style =
  (format: Parameters<typeof styleText>[0]): Paint =>
  (text) =>
    styleText(format, text, { validateStream: false });

const plain: Paint = (text) => text;

// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC is what an ANSI sequence starts with
const ANSI_PATTERN = /\u001b\[[0-9;]*[A-Za-z]/g;

export function visibleLength(text: string): number {
  return text.replace(ANSI_PATTERN, '').length;
}

export class Terminal {
  readonly bold: Paint;
  readonly dim: Paint;
  readonly red: Paint;
  readonly green: Paint;
  readonly yellow: Paint;
  readonly cyan: Paint;
  private statusShown = false;

  constructor(private readonly options: TerminalOptions) {
    const on = options.color;
    this.bold = on ? style('bold') : plain;
    this.dim = on ? style('dim') : plain;
    this.red = on ? style('red') : plain;
    this.green = on ? style('green') : plain;
    this.yellow = on ? style('yellow') : plain;
    this.cyan = on ? style('cyan') : plain;
  }

  get isTTY(): boolean {
    return this.options.isTTY;
  }

  /** Data: what a script reads. */
  out(line = ''): void {
    this.clearStatus(this.options.stdout);
    this.options.stdout.write(`${line}\n`);
  }

  /** Messages for the person: progress, hints, errors. */
  err(line = ''): void {
    this.clearStatus(this.options.stderr);
    this.options.stderr.write(`${line}\n`);
  }

  /**
   * A line redrawn in place on a terminal (elapsed time, current status).
   * Piped output gets no such line: the event lines already tell the story.
   */
  status(sink: 'stdout' | 'stderr', text: string): void {
    if (!this.options.isTTY) return;
    this.options[sink].write(`\r\u001b[2K${text}`);
    this.statusShown = true;
  }

  endStatus(sink: 'stdout' | 'stderr'): void {
    this.clearStatus(this.options[sink]);
  }

  paintStatus(status: JobStatus | string): string {
    switch (status) {
      case 'SUCCEEDED':
        return this.green(status);
      case 'FAILED':
        return this.red(status);
      case 'CANCELLED':
        return this.yellow(status);
      case 'RUNNING':
        return this.cyan(status);
      case 'PENDING':
        return this.yellow(status);
      default:
        return this.dim(status);
    }
  }

  /** Left-aligned columns sized to their widest cell, two spaces apart. */
  table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
    const widths = header.map((title, column) => Math.max(visibleLength(title), ...rows.map((row) => visibleLength(row[column] ?? ''))));
    const render = (cells: readonly string[]): string =>
      cells
        .map((cell, column) => (column === cells.length - 1 ? cell : cell + ' '.repeat((widths[column] ?? 0) - visibleLength(cell))))
        .join('  ')
        .trimEnd();
    return [this.bold(render(header)), ...rows.map(render)];
  }

  private clearStatus(sink: TextSink): void {
    if (!this.statusShown) return;
    sink.write('\r\u001b[2K');
    this.statusShown = false;
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** https://no-color.org: any non-empty NO_COLOR turns colours off; so does a dumb terminal. */
export function shouldUseColor(isTTY: boolean, env: Env, noColorFlag: boolean): boolean {
  if (!isTTY || noColorFlag) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return env.TERM !== 'dumb';
}
